#![deny(warnings)]

//! Awaits the `non_durable_await` probe must accept: durable calls, the crate's and
//! `futures`' combinators over them, streams of them, helpers that take the context,
//! `async` blocks and closures, pointers to durable futures, ready values, and the escape
//! hatch.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use durable_runtime::prelude::*;
use durable_runtime::{DurableTimer, assume_durable};
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};

#[activity]
async fn charge(amount: u64) -> Result<u64, ActivityError> {
    Ok(amount)
}

#[derive(Default, Serialize, Deserialize)]
pub struct Inventory {
    stock: u64,
}

#[entity]
impl Inventory {
    pub fn reserve(&mut self, n: u64) -> u64 {
        self.stock = self.stock.saturating_sub(n);
        self.stock
    }
}

/// A user helper that takes the context; its future is opaque.
async fn step(ctx: &OrchestrationContext, amount: u64) -> Result<u64, ActivityFailed> {
    ctx.call_activity(Charge, amount).await
}

struct Saga {
    amounts: Vec<u64>,
}

impl Saga {
    async fn run(&self, ctx: &OrchestrationContext) -> Result<u64, ActivityFailed> {
        let mut total = 0;
        for amount in &self.amounts {
            total += ctx.call_activity(Charge, *amount).await?;
        }
        Ok(total)
    }
}

#[orchestrator]
async fn combinators(ctx: OrchestrationContext, amounts: Vec<u64>) -> Result<u64, OrchestrationError> {
    // The crate's combinators over held durable calls (typed by the probe).
    let calls: Vec<_> = amounts.iter().map(|a| ctx.call_activity(Charge, *a)).collect();
    let all = durable_runtime::join_all(calls).await;
    let calls: Vec<_> = amounts.iter().map(|a| ctx.call_activity(Charge, *a)).collect();
    let ok = durable_runtime::try_join_all(calls).await?;
    let approval = ctx.wait_for_external_event::<bool>("approval");
    let timer = ctx.create_timer(Duration::from_secs(60));
    let _ = durable_runtime::select(approval, timer).await;
    // `futures`' combinators.
    let first = ctx.call_activity(Charge, 1);
    let deadline = ctx.create_timer(Duration::from_secs(5));
    match futures::future::select(first, deadline).await {
        futures::future::Either::Left((paid, _)) => {
            paid?;
        }
        futures::future::Either::Right(_) => {}
    }
    let (a, b) = futures::join!(ctx.call_activity(Charge, 2), ctx.call_activity(Charge, 3));
    let (c, _fired_at) = tokio::join!(ctx.call_activity(Charge, 4), ctx.create_timer(Duration::from_secs(1)));
    let left = ctx.call_activity(Charge, 5);
    let right = ctx.call_activity(Charge, 6);
    let (e, f) = futures::future::join(left, right).await;
    let racers = vec![ctx.call_activity(Charge, 7), ctx.call_activity(Charge, 8)];
    let (won, _, _) = futures::future::select_all(racers).await;
    let held = vec![ctx.call_activity(Charge, 9)];
    let _ = futures::future::try_join_all(held).await?;
    let mapped = ctx.call_activity(Charge, 10);
    let _ = futures::FutureExt::map(mapped, |r| r.map(|x| x + 1)).await?;
    Ok(all.len() as u64 + ok.len() as u64 + a? + b? + c? + e? + f? + won?)
}

#[orchestrator]
async fn streams(ctx: OrchestrationContext, n: u64) -> Result<u64, OrchestrationError> {
    // `FuturesUnordered` of durable calls, drained with `.next().await`.
    let mut pending = FuturesUnordered::new();
    for i in 0..n {
        pending.push(ctx.call_activity(Charge, i));
    }
    let mut total = 0;
    while let Some(paid) = pending.next().await {
        total += paid?;
    }
    // A bounded stream of durable calls.
    let paid: Vec<u64> = stream::iter(0..n)
        .then(|i| ctx.call_activity(Charge, i))
        .try_collect()
        .await?;
    // The same, held in a local and typed by the probe.
    let mut ordered = stream::iter(vec![ctx.call_activity(Charge, 1), ctx.call_activity(Charge, 2)]).buffered(2);
    while let Some(x) = ordered.next().await {
        total += x?;
    }
    let mut queued = futures::stream::FuturesOrdered::new();
    queued.push_back(ctx.call_activity(Charge, 3));
    let firsts: Vec<_> = (&mut queued).take(1).collect().await;
    Ok(total + paid.len() as u64 + firsts.len() as u64)
}

#[orchestrator]
async fn helpers_and_blocks(ctx: OrchestrationContext, amounts: Vec<u64>) -> Result<u64, OrchestrationError> {
    // Async methods of the context.
    let policy = RetryPolicy::new(3, Duration::from_secs(1));
    let retried = ctx.call_activity_with_retry(Charge, 1, &policy).await?;
    let event = ctx.wait_for_external_event_with_timeout::<u64>("bonus", Duration::from_secs(30));
    let bonus = event.await.unwrap_or(0);
    // An entity proxy.
    let left = Inventory::call(&ctx, "sku-1").reserve(2).await?;
    // User helpers that take the context.
    let stepped = step(&ctx, 2).await?;
    let saga = Saga { amounts: amounts.clone() };
    let ran = saga.run(&ctx).await?;
    let steps: Vec<_> = amounts.iter().map(|a| step(&ctx, *a)).collect();
    let joined = durable_runtime::try_join_all(steps).await?;
    for call in amounts.iter().map(|a| step(&ctx, *a)).collect::<Vec<_>>() {
        call.await?;
    }
    // A local closure returning a durable timer.
    let sleep = |s: u64| ctx.create_timer(Duration::from_secs(s));
    sleep(5).await;
    // `async` blocks, awaited in place, held, and handed to a combinator.
    let inner = async { ctx.call_activity(Charge, 3).await }.await?;
    let block = async { ctx.call_activity(Charge, 4).await };
    let held = block.await?;
    let shared = &ctx;
    let blocks = amounts.iter().map(|a| async move { shared.call_activity(Charge, *a).await });
    let _ = durable_runtime::join_all(blocks).await;
    let closure = async |a: u64| ctx.call_activity(Charge, a).await;
    let _ = closure(6).await?;
    // Pointers to durable futures, ready values, type-erased futures.
    let boxed = Box::pin(ctx.call_activity(Charge, 7)).await?;
    let timer: DurableTimer = ctx.create_timer(Duration::from_secs(1));
    let mut pinned = Box::pin(timer);
    (&mut pinned).await;
    let ready = std::future::ready(8u64).await;
    let ready_too = futures::future::ready(9u64).await;
    let erased: Vec<Pin<Box<dyn Future<Output = Result<u64, ActivityFailed>> + Send + '_>>> =
        vec![Box::pin(ctx.call_activity(Charge, 10)), Box::pin(step(&ctx, 11))];
    let _ = durable_runtime::join_all(erased).await;
    // The escape hatch: an opaque helper future in a combinator, marked by hand.
    let marked = vec![assume_durable(step(&ctx, 12)), assume_durable(step(&ctx, 13))];
    let _ = futures::future::join_all(marked).await;
    Ok(retried + bonus + left + stepped + ran + joined.len() as u64 + inner + held + boxed + ready + ready_too)
}

/// The rule switched off for one function.
#[orchestrator(allow(non_durable_await))]
async fn allowed(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let own = async { 1 };
    let opaque = vec![Box::pin(own)];
    let _ = futures::future::join_all(opaque).await;
    ctx.call_activity(Charge, 1).await?;
    Ok(())
}

fn main() {}
