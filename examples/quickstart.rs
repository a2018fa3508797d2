//! The Durable Functions hello sequence: greet Tokyo, Seattle and London one activity
//! after another, on the embedded SQLite store. Run it with
//! `cargo run --release --example quickstart`.

use std::time::Duration;

use durable_runtime::prelude::*;

#[activity]
async fn say_hello(city: String) -> Result<String, ActivityError> {
    Ok(format!("Hello {city}!"))
}

#[orchestrator]
async fn hello_cities(
    ctx: OrchestrationContext,
    cities: Vec<String>,
) -> Result<Vec<String>, OrchestrationError> {
    let mut greetings = Vec::new();
    for city in cities {
        greetings.push(ctx.call_activity(SayHello, city).await?);
    }
    Ok(greetings)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runtime = Runtime::builder().sqlite("quickstart.db").start().await?;
    let client = runtime.client();

    let cities = vec!["Tokyo".into(), "Seattle".into(), "London".into()];
    let instance = HelloCities::start(&client, cities).await?;
    for greeting in instance
        .wait_for_completion(Duration::from_secs(30))
        .await?
    {
        println!("{greeting}");
    }

    let status = instance.status().await?;
    println!(
        "instance {} is {} (created {}, output {})",
        status.instance_id,
        status.runtime_status,
        status.created_time,
        status.output.map(|o| o.to_string()).unwrap_or_default(),
    );
    runtime.shutdown().await;
    Ok(())
}
