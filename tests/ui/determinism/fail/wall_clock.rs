use std::time::SystemTime;

use durable_runtime::prelude::*;

#[orchestrator]
async fn stamps(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _started = SystemTime::now();
    Ok(())
}

fn main() {}
