use durable_runtime::prelude::*;

#[orchestrator(name = "first", name = "second")]
async fn named_twice(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Ok(())
}

fn main() {}
