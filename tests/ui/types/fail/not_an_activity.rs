use durable_runtime::prelude::*;

async fn plain(input: u32) -> u32 {
    input
}

#[orchestrator]
async fn calls_plain(ctx: OrchestrationContext) -> Result<u32, OrchestrationError> {
    let _ = plain;
    Ok(ctx.call_activity(plain, 1).await?)
}

fn main() {}
