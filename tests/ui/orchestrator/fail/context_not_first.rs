use durable_runtime::prelude::*;

#[orchestrator]
async fn context_second(input: u32, ctx: OrchestrationContext) -> Result<u32, OrchestrationError> {
    let _ = ctx;
    Ok(input)
}

fn main() {}
