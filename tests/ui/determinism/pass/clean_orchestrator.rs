#![deny(warnings)]

use std::collections::BTreeMap;

use durable_runtime::prelude::*;

#[activity]
async fn price(item: String) -> Result<u64, ActivityError> {
    Ok(item.len() as u64)
}

#[activity]
async fn audit(ctx: ActivityContext, (order, total): (String, u64)) -> Result<String, ActivityError> {
    Ok(format!("{order}:{total}:{}:{}", ctx.instance_id(), ctx.attempt()))
}

/// Uses every context API, and only deterministic code.
#[orchestrator]
async fn checkout(ctx: OrchestrationContext, items: Vec<String>) -> Result<(String, u64), OrchestrationError> {
    let started = ctx.current_time();
    let order_id = ctx.new_guid();
    if !ctx.is_replaying() {
        ctx.logger().info(format_args!("checkout {} in {}", order_id, ctx.instance_id()));
    }
    let calls: Vec<_> = items.iter().map(|item| ctx.call_activity(Price, item.clone())).collect();
    let prices = try_join_all(calls).await?;
    let mut by_item = BTreeMap::new();
    for (item, price) in items.into_iter().zip(prices) {
        by_item.insert(item, price);
    }
    let total: u64 = by_item.values().sum();
    ctx.set_custom_status(&serde_json::json!({ "total": total, "execution": ctx.execution_id().to_string() }))?;
    let mut attempts = 0;
    let receipt = loop {
        attempts += 1;
        match ctx.call_activity(Audit, (order_id.to_string(), total)).await {
            Ok(receipt) => break receipt,
            Err(error) if attempts < 3 => ctx.logger().warn(format_args!("retrying: {error}")),
            Err(error) => return Err(error.into()),
        }
    };
    let _elapsed = ctx.current_time() - started;
    let _ = ctx.name();
    let _all = join_all(vec![ctx.call_activity(Price, "tip".to_owned())]).await;
    ctx.clear_custom_status();
    Ok((receipt, total))
}

fn main() {}
