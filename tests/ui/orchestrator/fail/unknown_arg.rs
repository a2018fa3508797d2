use durable_runtime::prelude::*;

#[orchestrator(timeout = 30)]
async fn unknown_arg(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Ok(())
}

fn main() {}
