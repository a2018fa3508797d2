use durable_runtime::prelude::*;

#[orchestrator]
async fn generic<T: serde::Serialize>(_ctx: OrchestrationContext, input: T) -> Result<(), OrchestrationError> {
    let _ = input;
    Ok(())
}

fn main() {}
