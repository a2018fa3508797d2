use durable_runtime::prelude::*;

#[activity]
async fn wrong_context(ctx: OrchestrationContext) -> u32 {
    let _ = ctx;
    1
}

fn main() {}
