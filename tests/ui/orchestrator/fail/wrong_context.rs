use durable_runtime::prelude::*;

#[orchestrator]
async fn wrong_context(ctx: ActivityContext) -> Result<(), OrchestrationError> {
    let _ = ctx;
    Ok(())
}

fn main() {}
