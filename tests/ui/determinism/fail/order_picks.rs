#![deny(deprecated)]

use std::collections::{HashMap, HashSet};

use durable_runtime::prelude::*;

#[activity]
async fn load_quotas() -> Result<HashMap<String, u32>, ActivityError> {
    Ok(HashMap::new())
}

#[activity]
async fn promote(region: String) -> Result<(), ActivityError> {
    let _ = region;
    Ok(())
}

/// An element picked from a hash collection by its position or among ties reaches a call.
#[orchestrator]
async fn order_picks(ctx: OrchestrationContext, pending: HashSet<String>) -> Result<(), OrchestrationError> {
    // A parameter typed `HashSet`: the walker knows.
    if let Some(id) = pending.iter().next() {
        ctx.call_activity(Promote, id.clone()).await?;
    }
    // An activity's result: the type probe decides.
    let quotas = ctx.call_activity(LoadQuotas, ()).await?;
    let biggest = quotas.iter().max_by_key(|(_, q)| **q).map(|(r, _)| r.clone());
    if let Some(region) = biggest {
        ctx.call_activity(Promote, region).await?;
    }
    if let Some((region, _)) = quotas.iter().find(|(_, q)| **q > 10) {
        ctx.call_activity(Promote, region.clone()).await?;
    }
    // Keys collected but not sorted, then the first one taken.
    let regions: Vec<String> = quotas.keys().cloned().collect();
    if let Some(first) = regions.first() {
        ctx.call_activity(Promote, first.clone()).await?;
    }
    Ok(())
}

fn main() {}
