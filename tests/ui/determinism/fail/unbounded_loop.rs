use durable_runtime::prelude::*;

#[activity]
async fn check_status() -> bool {
    true
}

#[orchestrator]
async fn polls_forever(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    loop {
        let _done = ctx.call_activity(CheckStatus, ()).await?;
    }
}

fn main() {}
