#![deny(deprecated)]

use std::collections::{HashMap, HashSet};

use durable_runtime::prelude::*;

type Prices = HashMap<String, u64>;

#[derive(serde::Serialize, serde::Deserialize)]
struct Batch {
    recipients: HashSet<String>,
}

#[activity]
async fn load_prices() -> Result<Prices, ActivityError> {
    Ok(Prices::new())
}

#[activity]
async fn notify(who: String) -> Result<(), ActivityError> {
    let _ = who;
    Ok(())
}

fn group(batch: &Batch) -> HashMap<usize, Vec<String>> {
    let mut groups: HashMap<usize, Vec<String>> = HashMap::new();
    for who in &batch.recipients {
        groups.entry(who.len()).or_default().push(who.clone());
    }
    groups
}

#[orchestrator]
async fn by_type(ctx: OrchestrationContext, batch: Batch) -> Result<(), OrchestrationError> {
    let prices = ctx.call_activity(LoadPrices, ()).await?;
    for sku in prices.keys() {
        ctx.call_activity(Notify, sku.clone()).await?;
    }
    for who in &batch.recipients {
        ctx.call_activity(Notify, who.clone()).await?;
    }
    let calls: Vec<_> = batch.recipients.iter().map(|who| ctx.call_activity(Notify, who.clone())).collect();
    try_join_all(calls).await?;
    for (_, names) in group(&batch) {
        ctx.call_activity(Notify, names.join(",")).await?;
    }
    Ok(())
}

fn main() {}
