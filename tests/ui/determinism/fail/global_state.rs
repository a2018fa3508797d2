use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use durable_runtime::prelude::*;

static ENABLED: AtomicBool = AtomicBool::new(true);
static IN_FLIGHT: LazyLock<Mutex<HashSet<u64>>> = LazyLock::new(Default::default);
thread_local! {
    static CACHE: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

#[activity]
async fn run(job: u64) -> u64 {
    job
}

#[orchestrator]
async fn reads_globals(ctx: OrchestrationContext, job: u64) -> Result<(), OrchestrationError> {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    thread_local!(static THREAD_ID: u64 = 7);
    let ticket = COUNTER.fetch_add(1, Ordering::Relaxed) + THREAD_ID.with(|id| *id);
    if ENABLED.load(Ordering::SeqCst) && IN_FLIGHT.lock().is_ok_and(|mut jobs| jobs.insert(job)) {
        ctx.call_activity(Run, ticket).await?;
    }
    let cached = CACHE.with(|cache| cache.borrow().len());
    ctx.call_activity(Run, cached as u64).await?;
    Ok(())
}

fn main() {}
