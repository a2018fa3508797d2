use std::time::Duration;

use durable_runtime::prelude::*;

#[activity]
async fn tick(n: u64) -> u64 {
    n
}

#[orchestrator]
async fn open_range(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for n in 0.. {
        ctx.call_activity(Tick, n).await?;
    }
    Ok(())
}

#[orchestrator]
#[allow(while_true)]
async fn while_true(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    while true {
        ctx.create_timer(Duration::from_secs(60)).await;
    }
    Ok(())
}

#[orchestrator]
async fn dead_break(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    loop {
        ctx.call_activity(Tick, 1).await?;
        if false {
            break;
        }
    }
    Ok(())
}

#[orchestrator]
async fn repeated(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for page in std::iter::repeat(7u64).map(|p| p + 1) {
        ctx.call_activity(Tick, page).await?;
    }
    Ok(())
}

fn main() {}
