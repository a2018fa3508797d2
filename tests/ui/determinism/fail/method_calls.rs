use std::sync::LazyLock;
use std::time::{Instant, UNIX_EPOCH};

use durable_runtime::prelude::*;

static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

#[activity]
async fn record(n: u64) -> u64 {
    n
}

#[orchestrator]
async fn through_methods(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let secs = UNIX_EPOCH.elapsed().map(|d| d.as_secs()).unwrap_or(0);
    if STARTED.elapsed().as_secs() > 3600 {
        ctx.call_activity(Record, secs).await?;
    }
    let worker = std::thread::Builder::new().name("export".into()).spawn(|| 1u64);
    let _ = worker.map(|handle| handle.join());
    let task = tokio::runtime::Handle::current().spawn(async { 2u64 });
    drop(task);
    let mut set = tokio::task::JoinSet::new();
    set.spawn(async { 3u64 });
    Ok(())
}

fn main() {}
