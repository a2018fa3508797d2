use durable_runtime::prelude::*;

#[orchestrator]
async fn no_context(input: u32) -> Result<u32, OrchestrationError> {
    Ok(input)
}

fn main() {}
