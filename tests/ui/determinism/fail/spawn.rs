use durable_runtime::prelude::*;

#[orchestrator]
async fn spawns(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _handle = tokio::spawn(async { 1 });
    Ok(())
}

fn main() {}
