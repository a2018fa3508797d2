#![deny(warnings)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use durable_runtime::prelude::*;

const MAX_RETRIES: u32 = 3;

#[activity]
async fn load_prices() -> Result<HashMap<String, u64>, ActivityError> {
    Ok(HashMap::new())
}

#[activity]
async fn load_ordered() -> Result<BTreeMap<String, u64>, ActivityError> {
    Ok(BTreeMap::new())
}

#[activity]
async fn publish(item: (String, u64)) -> Result<(), ActivityError> {
    let _ = item;
    Ok(())
}

/// Deterministic code that looks like a violation.
#[orchestrator]
async fn look_alikes(ctx: OrchestrationContext, (skus, bytes): (Vec<String>, Vec<u8>)) -> Result<u64, OrchestrationError> {
    // BTreeMap iteration, from the body and from an activity.
    let mut ordered = BTreeMap::new();
    for sku in &skus {
        ordered.insert(sku.clone(), sku.len() as u64);
    }
    for (sku, n) in &ordered {
        ctx.call_activity(Publish, (sku.clone(), *n)).await?;
    }
    for (sku, n) in ctx.call_activity(LoadOrdered, ()).await? {
        ctx.call_activity(Publish, (sku, n)).await?;
    }
    // A HashMap used for lookups, and its keys iterated after sorting.
    let prices = ctx.call_activity(LoadPrices, ()).await?;
    let mut total: u64 = prices.values().sum();
    for sku in &skus {
        if let Some(price) = prices.get(sku) {
            ctx.call_activity(Publish, (sku.clone(), *price)).await?;
        }
    }
    let mut keys: Vec<_> = prices.keys().cloned().collect();
    keys.sort();
    for key in keys {
        ctx.call_activity(Publish, (key, 0)).await?;
    }
    // Consts and associated consts inside `unsafe`.
    const HEADER: usize = 1;
    let len = unsafe { std::str::from_utf8_unchecked(bytes.get(HEADER..).unwrap_or_default()).len().min(usize::MAX) };
    total += len as u64 + u64::from(MAX_RETRIES);
    // Local atomics are not process-global.
    let done = AtomicUsize::new(0);
    done.fetch_add(1, Ordering::Relaxed);
    // `ctx` time and ids, a durable timer, and `select` over durable calls.
    let started = ctx.current_time();
    let _id = ctx.new_guid();
    let approval = ctx.wait_for_external_event::<bool>("approved");
    let timer = ctx.create_timer(Duration::from_secs(3600));
    if let futures::future::Either::Left((answer, _)) = futures::future::select(approval, timer).await {
        total += u64::from(answer?);
    }
    // An open range that `take` bounds.
    for page in (1u64..).take(2) {
        ctx.call_activity(Publish, (String::new(), page)).await?;
    }
    let _took = ctx.current_time() - started;
    Ok(total + done.load(Ordering::Relaxed) as u64)
}

fn main() {}
