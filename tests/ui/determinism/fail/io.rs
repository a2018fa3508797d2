use durable_runtime::prelude::*;

#[orchestrator]
async fn reads(_ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    Ok(std::fs::read_to_string("orders.csv")?)
}

fn main() {}
