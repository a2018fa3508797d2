use durable_runtime::prelude::*;

#[orchestrator]
async fn configured(_ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    Ok(std::env::var("REGION").unwrap_or_default())
}

fn main() {}
