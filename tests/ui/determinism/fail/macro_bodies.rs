use std::time::{Duration, Instant, SystemTime};

use durable_runtime::prelude::*;

#[activity]
async fn store(value: serde_json::Value) -> Result<(), ActivityError> {
    let _ = value;
    Ok(())
}

#[orchestrator]
async fn inside_macros(ctx: OrchestrationContext, n: usize) -> Result<(), OrchestrationError> {
    let stamps = vec![SystemTime::now(); n];
    tracing::info!(at = ?Instant::now(), count = stamps.len(), "starting");
    let body = serde_json::json!({ "pid": std::process::id() });
    macro_rules! pause {
        ($ms:expr) => {
            std::thread::sleep(Duration::from_millis($ms))
        };
    }
    pause!(250);
    ctx.call_activity(Store, body).await?;
    Ok(())
}

fn main() {}
