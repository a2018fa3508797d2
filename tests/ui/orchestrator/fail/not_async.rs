use durable_runtime::prelude::*;

#[orchestrator]
fn not_async(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Ok(())
}

fn main() {}
