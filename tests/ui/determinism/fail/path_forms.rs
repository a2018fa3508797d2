use durable_runtime::prelude::*;

#[orchestrator]
async fn through_imports(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::fs as disk;
    use std::thread::sleep;
    use std::time::SystemTime as Clock;
    use std::time::{Duration, Instant as Tick};
    let _at = Clock::now();
    sleep(Duration::from_millis(5));
    let _started = Tick::now();
    let _also = <std::time::SystemTime>::now();
    let _config = disk::read_to_string("app.toml");
    Ok(())
}

fn main() {}
