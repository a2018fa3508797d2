#![deny(deprecated)]

use std::collections::HashMap;

use durable_runtime::prelude::*;

#[activity]
async fn notify(user: String) -> Result<(), ActivityError> {
    let _ = user;
    Ok(())
}

#[orchestrator]
async fn notifies(ctx: OrchestrationContext, users: Vec<(String, u32)>) -> Result<(), OrchestrationError> {
    let by_name: HashMap<String, u32> = users.into_iter().collect();
    for (name, _) in &by_name {
        ctx.call_activity(Notify, name.clone()).await?;
    }
    Ok(())
}

fn main() {}
