use durable_runtime::prelude::*;

#[activity]
async fn fetch(n: u32) -> u32 {
    n
}

#[orchestrator]
async fn races(ctx: OrchestrationContext) -> Result<u32, OrchestrationError> {
    let a = ctx.call_activity(Fetch, 1);
    let b = ctx.call_activity(Fetch, 2);
    let winner = tokio::select! {
        a = a => a?,
        b = b => b?,
    };
    Ok(winner)
}

fn main() {}
