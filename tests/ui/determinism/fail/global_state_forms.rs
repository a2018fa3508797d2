use std::sync::OnceLock;

use durable_runtime::prelude::*;

struct Config {
    region: String,
}

/// A concurrent set, changed through `&self` like `DashMap`.
struct Registry;

impl Registry {
    fn insert(&self, id: u64) -> bool {
        id > 0
    }
}

static CONFIG: OnceLock<Config> = OnceLock::new();
static SEEN: Registry = Registry;

#[activity]
async fn provision(region: String) -> Result<(), ActivityError> {
    let _ = region;
    Ok(())
}

#[orchestrator]
async fn global_forms(ctx: OrchestrationContext, id: u64) -> Result<(), OrchestrationError> {
    // A `OnceLock` set at startup, read with `.get()`.
    let region = CONFIG.get().map_or_else(String::new, |c| c.region.clone());
    // A process-wide set changed through `&self`.
    if SEEN.insert(id) {
        ctx.call_activity(Provision, region).await?;
    }
    Ok(())
}

fn main() {}
