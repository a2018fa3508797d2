use std::time::Duration;

use durable_runtime::prelude::*;

#[orchestrator]
async fn waits(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
}

fn main() {}
