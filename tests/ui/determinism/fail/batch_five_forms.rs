use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use durable_runtime::prelude::*;

static MAINTENANCE: AtomicBool = AtomicBool::new(false);
static WARMUP: Once = Once::new();

#[activity]
async fn record(n: u64) -> Result<bool, ActivityError> {
    Ok(n > 3)
}

/// The forms of issue #17's fifth held-out batch, one violation each.
#[orchestrator]
async fn batch_five(ctx: OrchestrationContext, submitted: SystemTime) -> Result<(), OrchestrationError> {
    // A method called through its type.
    let _waited = SystemTime::elapsed(&submitted);
    if AtomicBool::load(&MAINTENANCE, Ordering::Acquire) {
        ctx.call_activity(Record, 0).await?;
    }
    // The file system through a path's method.
    if std::path::Path::new("/tmp/done").exists() {
        ctx.call_activity(Record, 1).await?;
    }
    // A `Once` static, an atomic under a renamed type.
    WARMUP.call_once(|| ());
    use std::sync::atomic::AtomicU32 as Counter;
    static SEQ: Counter = Counter::new(0);
    // A `break` behind a constant that is false.
    const STOP_ON_IDLE: bool = false;
    loop {
        let idle = ctx.call_activity(Record, 2).await?;
        if STOP_ON_IDLE && idle {
            break;
        }
    }
    Ok(())
}

fn main() {}
