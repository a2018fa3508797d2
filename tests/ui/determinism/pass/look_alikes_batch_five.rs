#![deny(warnings)]

use durable_runtime::prelude::*;

#[activity]
async fn record(n: u64) -> Result<bool, ActivityError> {
    Ok(n > 3)
}

struct Inventory(Vec<String>);

impl Inventory {
    fn exists(&self, sku: &str) -> bool {
        self.0.iter().any(|s| s == sku)
    }
}

/// Deterministic code that looks like the kinds of issue #17's fifth batch.
#[orchestrator]
async fn look_alikes_batch_five(ctx: OrchestrationContext, skus: Vec<String>) -> Result<(), OrchestrationError> {
    // A lookup that takes a key is not the file system's `exists`; a method of a local
    // called through its type is not global state.
    let inventory = Inventory(skus.clone());
    if inventory.exists("a-1") {
        ctx.call_activity(Record, Vec::len(&skus) as u64).await?;
    }
    // A `break` behind a constant that is true can run.
    const STOP_ON_IDLE: bool = true;
    loop {
        let idle = ctx.call_activity(Record, 2).await?;
        if STOP_ON_IDLE && idle {
            break;
        }
    }
    Ok(())
}

fn main() {}
