//! The README's quick start (`examples/quickstart.rs`), compiled into this test as is: its
//! functions are private to that file, so the test starts `hello_cities` by its registered
//! name and lets `say_hello` run for real.

use durable_runtime::Payload;
use durable_runtime::testing::{DurableCall, TestEnvironment};

#[allow(dead_code)]
#[path = "../../quickstart.rs"]
mod example;

#[tokio::test]
async fn hello_cities_greets_each_city_in_turn() {
    let env = TestEnvironment::start().await.unwrap();
    let cities = ["Tokyo", "Seattle", "London"];
    let id = env
        .client()
        .start_orchestration_by_name(
            "hello_cities",
            None,
            None,
            Payload::encode(&cities).unwrap(),
        )
        .await
        .unwrap();
    let status = env.wait_for_completion(&id).await.unwrap();
    let greetings: Vec<String> = status.output.unwrap().decode().unwrap();
    assert_eq!(
        greetings,
        ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    );
    // One activity after another: three calls, in order.
    let expected: Vec<DurableCall> = cities
        .iter()
        .map(|city| DurableCall::Activity {
            name: "say_hello".into(),
            input: serde_json::json!(city),
        })
        .collect();
    env.assert_durable_calls(&id, &expected).await;
    env.shutdown().await;
}
