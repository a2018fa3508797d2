use durable_runtime::prelude::*;

#[orchestrator]
async fn counts(_ctx: OrchestrationContext) -> Result<u32, OrchestrationError> {
    static mut RUNS: u32 = 0;
    Ok(0)
}

fn main() {}
