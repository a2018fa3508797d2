use durable_runtime::prelude::*;

#[derive(Serialize)]
struct Receipt {
    id: u32,
}

#[orchestrator]
async fn buy(_ctx: OrchestrationContext) -> Result<Receipt, OrchestrationError> {
    Ok(Receipt { id: 1 })
}

fn main() {}
