use std::time::{Duration, Instant};

use durable_runtime::prelude::*;

#[activity]
async fn step() -> u32 {
    1
}

#[orchestrator]
async fn everything_wrong(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _started = Instant::now();
    let _region = std::env::var("REGION");
    std::thread::sleep(Duration::from_millis(10));
    let _config = std::fs::read("config.toml");
    loop {
        ctx.call_activity(Step, ()).await?;
    }
}

fn main() {}
