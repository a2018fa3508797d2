//! A worker process for the crash tests: runs orchestrations on a SQLite file until every
//! instance in it has finished, and is meant to be killed with SIGKILL half-way.
//!
//! Usage: `crash_worker <db-path or postgres URL> [start <kind> <instance-id> <size>]... [wait tally <key>
//! <count>]` where kind is `chain` (size sequential activities), `fanout` (size parallel
//! activities) or `signals` (an orchestration that signals the `Tally` entity `<instance-id>`
//! size times). Prints `ready` once started and `done` when nothing is left running (and,
//! with `wait tally`, once that entity has counted to `<count>`).

use std::time::Duration;

use durable_runtime::prelude::*;
use durable_runtime::store::InstanceQuery;
use durable_tests::{LongChain, SignalTally, Tally, WideFanOut};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let db = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: crash_worker <db-path> [start <kind> <id> <size>]...")
    })?;
    // A `postgres://` URL runs on that database, in the task hub `DURABLE_TASK_HUB`.
    let builder = if db.starts_with("postgres://") {
        Runtime::builder().postgres_with(
            db,
            durable_runtime::store::postgres::PostgresOptions::default()
                .task_hub(std::env::var("DURABLE_TASK_HUB").unwrap_or_else(|_| "durable".into())),
        )
    } else {
        Runtime::builder().sqlite(db)
    };
    let runtime = builder
        // Small entity batches: many commits, so a kill lands between and inside them.
        .options(durable_runtime::WorkerOptions::default().entity_batch_size(100))
        .leases(Duration::from_millis(500), Duration::from_millis(500))
        .max_concurrent_activities(8)
        .start()
        .await?;
    let client = runtime.client();
    let rest: Vec<String> = args.collect();
    let mut wait_for_tally = None;
    for chunk in rest.chunks(4) {
        let [verb, kind, id, size] = chunk else {
            anyhow::bail!("expected `start <kind> <id> <size>`, got {chunk:?}");
        };
        if verb == "wait" && kind == "tally" {
            wait_for_tally = Some((id.clone(), size.parse::<u64>()?));
            continue;
        }
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
            "signals" => drop(
                client
                    .start_orchestration(SignalTally, (id.clone(), size))
                    .await?,
            ),
            other => anyhow::bail!("unknown kind {other}"),
        }
    }
    println!("ready");
    loop {
        let running = client
            .list_instances(
                &InstanceQuery::default()
                    .statuses(vec![RuntimeStatus::Pending, RuntimeStatus::Running])
                    .page_size(1),
            )
            .await?;
        let tally_done = match &wait_for_tally {
            Some((key, count)) => Tally::read(&client, key.as_str())
                .await?
                .is_some_and(|t| t.count >= *count),
            None => true,
        };
        if running.instances.is_empty() && tally_done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("done");
    runtime.shutdown().await;
    Ok(())
}
