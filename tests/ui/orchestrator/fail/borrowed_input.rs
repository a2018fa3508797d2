use durable_runtime::prelude::*;

#[orchestrator]
async fn borrowed(_ctx: OrchestrationContext, name: &str) -> Result<String, OrchestrationError> {
    Ok(name.to_owned())
}

fn main() {}
