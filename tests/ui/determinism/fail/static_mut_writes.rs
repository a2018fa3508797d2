use durable_runtime::prelude::*;

static mut TOTAL: u64 = 0;
static mut SEEN: Vec<u64> = Vec::new();

#[orchestrator]
async fn writes_statics(_ctx: OrchestrationContext, n: u64) -> Result<(), OrchestrationError> {
    const STEP: u64 = 1;
    // SAFETY: not sound; this is the mistake the rule catches.
    unsafe {
        TOTAL += n * STEP;
        SEEN.push(n.min(u64::MAX));
    }
    Ok(())
}

fn main() {}
