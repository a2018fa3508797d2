#![deny(warnings)]

use std::collections::HashMap;

use durable_runtime::prelude::*;

const DEFAULT_REGION: &str = "eu-west-1";
const RETRY_DELAYS: [u64; 3] = [1, 5, 30];

#[activity]
async fn record(n: u64) -> Result<(), ActivityError> {
    let _ = n;
    Ok(())
}

/// Deterministic code that looks like the kinds of issue #17's fourth batch.
#[orchestrator]
async fn look_alikes_batch_four(ctx: OrchestrationContext, quotas: HashMap<String, u64>) -> Result<(), OrchestrationError> {
    // A glob of `std::env` does not make locals, prelude names or markers env reads.
    #[allow(unused_imports)]
    use std::env::*;
    let region: Result<&str, ()> = Ok(DEFAULT_REGION);
    ctx.call_activity(Record, region.map_or(0, str::len) as u64).await?;
    // `tokio::time::Duration` is std's `Duration`.
    ctx.create_timer(tokio::time::Duration::from_secs(RETRY_DELAYS[0])).await;
    // Keys carried into a `Vec`, then sorted.
    let mut tenants = Vec::new();
    tenants.extend(quotas.keys().cloned());
    tenants.sort();
    for t in &tenants {
        ctx.call_activity(Record, quotas[t]).await?;
    }
    // A `while` whose condition the body changes, a range up to `u8::MAX`.
    let mut i = 0;
    while i < 3 {
        ctx.call_activity(Record, i).await?;
        i += 1;
    }
    for b in 0..=u8::MAX {
        if b > 2 {
            break;
        }
        ctx.call_activity(Record, u64::from(b)).await?;
    }
    // A `{:?}` and an escaped `{{:p}}` are not addresses; a local closure named `now`.
    let now = || ctx.current_time();
    let label = format!("{:?} {{:p}}", now());
    ctx.call_activity(Record, label.len() as u64).await?;
    Ok(())
}

fn main() {}
