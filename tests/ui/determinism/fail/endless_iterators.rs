use std::time::Duration;

use durable_runtime::prelude::*;

#[activity]
async fn probe(n: u64) -> Result<bool, ActivityError> {
    Ok(n > 0)
}

#[orchestrator]
async fn endless_iterators(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    // A successor closure that always says `Some`.
    for delay in std::iter::successors(Some(1u64), |d| Some(d * 2)) {
        ctx.create_timer(Duration::from_secs(delay)).await;
    }
    // `from_fn` that never says `None`.
    let mut n = 0;
    for k in std::iter::from_fn(|| {
        n += 1;
        Some(n)
    }) {
        ctx.call_activity(Probe, k).await?;
    }
    // A `break` behind a condition that is always false.
    let mut polls = 0u64;
    loop {
        polls += 1;
        if polls > 10 && false {
            break;
        }
        ctx.call_activity(Probe, polls).await?;
    }
    Ok(())
}

fn main() {}
