//! A worker process for the crash tests: runs orchestrations on a SQLite file until every
//! instance in it has finished, and is meant to be killed with SIGKILL half-way.
//!
//! Usage: `crash_worker <db-path> [start <kind> <instance-id> <size>]...` where kind is
//! `chain` (size sequential activities) or `fanout` (size parallel activities). Prints
//! `ready` once started and `done` when nothing is left running.

use std::time::Duration;

use durable_runtime::prelude::*;
use durable_runtime::store::InstanceQuery;

/// Adds one, slowly enough that a test can kill the worker in the middle.
#[activity]
async fn step(value: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(15)).await;
    value + 1
}

/// Calls `step` `steps` times in sequence, passing the value along.
#[orchestrator]
async fn long_chain(ctx: OrchestrationContext, steps: u64) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for _ in 0..steps {
        value = ctx.call_activity(Step, value).await?;
    }
    Ok(value)
}

/// Calls `step` for 0..count in parallel and sums the results.
#[orchestrator]
async fn wide_fan_out(ctx: OrchestrationContext, count: u64) -> Result<u64, OrchestrationError> {
    let calls: Vec<_> = (0..count).map(|i| ctx.call_activity(Step, i)).collect();
    Ok(try_join_all(calls).await?.into_iter().sum())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let db = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: crash_worker <db-path> [start <kind> <id> <size>]...")
    })?;
    let runtime = Runtime::builder()
        .sqlite(db)
        .leases(Duration::from_millis(500), Duration::from_millis(500))
        .max_concurrent_activities(8)
        .start()
        .await?;
    let client = runtime.client();
    let rest: Vec<String> = args.collect();
    for chunk in rest.chunks(4) {
        let [verb, kind, id, size] = chunk else {
            anyhow::bail!("expected `start <kind> <id> <size>`, got {chunk:?}");
        };
        anyhow::ensure!(verb == "start", "unknown command {verb}");
        let size: u64 = size.parse()?;
        match kind.as_str() {
            "chain" => drop(
                client
                    .start_orchestration(LongChain, size)
                    .instance_id(id)
                    .await?,
            ),
            "fanout" => drop(
                client
                    .start_orchestration(WideFanOut, size)
                    .instance_id(id)
                    .await?,
            ),
            other => anyhow::bail!("unknown kind {other}"),
        }
    }
    println!("ready");
    loop {
        let running = client
            .list_instances(&InstanceQuery {
                statuses: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
                page_size: 1,
                ..InstanceQuery::default()
            })
            .await?;
        if running.instances.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("done");
    runtime.shutdown().await;
    Ok(())
}
