use durable_runtime::prelude::*;

#[orchestrator]
async fn two_inputs(_ctx: OrchestrationContext, a: u32, b: u32) -> Result<u32, OrchestrationError> {
    Ok(a + b)
}

fn main() {}
