use std::time::Instant;

use durable_runtime::prelude::*;

// Measures how long this turn's code takes; the value is only logged, never used to
// decide anything, so replays that see another value do the same durable calls.
#[orchestrator(allow(wall_clock))]
async fn timed(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let started = Instant::now();
    ctx.logger().debug(format_args!("took {:?}", started.elapsed()));
    Ok(())
}

fn main() {}
