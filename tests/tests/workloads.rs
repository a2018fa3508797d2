//! The benchmark workloads W1 and W2 as correctness tests: every output checked, on the
//! memory store and on SQLite, with every speed optimisation on. Timing is the bench's
//! job (`examples/bench.rs`); nothing here asserts on it.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::future::IntoFuture;
use std::time::Duration;

use durable_runtime::prelude::*;

const WAIT: Duration = Duration::from_secs(120);

#[activity]
async fn increment(value: u64) -> u64 {
    value + 1
}

#[orchestrator]
async fn chain(ctx: OrchestrationContext, steps: u64) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for _ in 0..steps {
        value = ctx.call_activity(Increment, value).await?;
    }
    Ok(value)
}

#[orchestrator]
async fn fan_out(ctx: OrchestrationContext, count: u64) -> Result<Vec<u64>, OrchestrationError> {
    let calls: Vec<_> = (0..count)
        .map(|i| ctx.call_activity(Increment, i))
        .collect();
    Ok(try_join_all(calls).await?)
}

async fn check_workloads(runtime: Runtime) {
    let client = runtime.client();
    // W1: 200 ten-step chains started at once.
    let starts = (0..200).map(|_| Chain::start(&client, 10).into_future());
    let chains = futures::future::try_join_all(starts).await.unwrap();
    let outputs =
        futures::future::join_all(chains.iter().map(|h| h.wait_for_completion(WAIT))).await;
    for (index, output) in outputs.into_iter().enumerate() {
        assert_eq!(output.unwrap(), 10, "chain {index}");
    }
    // W2: a fan-out of 1,000; every element checked, in order.
    let fan = FanOut::start(&client, 1000).await.unwrap();
    let results = fan.wait_for_completion(WAIT).await.unwrap();
    assert_eq!(results, (1..=1000).collect::<Vec<u64>>());
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w1_and_w2_on_the_memory_store() {
    check_workloads(Runtime::builder().in_memory().start().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w1_and_w2_on_sqlite() {
    let path = durable_tests::temp_dir("workloads").join("durable.db");
    check_workloads(Runtime::builder().sqlite(path).start().await.unwrap()).await;
}
