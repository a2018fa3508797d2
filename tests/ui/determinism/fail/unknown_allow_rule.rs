use durable_runtime::prelude::*;

#[orchestrator(allow(wallclock))]
async fn misspelled(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Ok(())
}

fn main() {}
