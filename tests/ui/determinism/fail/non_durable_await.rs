//! `non_durable_await`: awaiting a future that is not a durable call, in the spellings
//! the walker cannot name (the future's type comes from outside the body).

use std::sync::Arc;
use std::time::Duration;

use durable_runtime::prelude::*;
use futures::StreamExt;

#[activity]
async fn charge(amount: u64) -> Result<u64, ActivityError> {
    Ok(amount)
}

/// An SDK client, as a third-party crate would give it.
#[derive(Default)]
pub struct Mailer;

impl Mailer {
    pub async fn send(&self, to: &str) -> Result<(), std::io::Error> {
        let _ = to;
        Ok(())
    }
}

/// A free async function of an SDK, and an async constructor.
pub async fn read_secret(client: &Mailer, path: &str) -> String {
    let _ = (client, path);
    String::new()
}

pub struct Scheduler;

impl Scheduler {
    pub async fn new() -> Scheduler {
        Scheduler
    }
}

fn mailer() -> Mailer {
    Mailer
}

fn pause_for(secs: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_secs(secs))
}

fn inbox() -> futures::channel::mpsc::UnboundedReceiver<u64> {
    futures::channel::mpsc::unbounded().1
}

fn shared_cache() -> Arc<tokio::sync::Mutex<Vec<u64>>> {
    Arc::default()
}

/// A retry helper of the `backon` kind: re-runs the closure's future.
pub trait Retryable<F>: Sized {
    fn retry(self, times: u32) -> Retrying<Self> {
        Retrying(self, times)
    }
}

impl<C: FnMut() -> F, F> Retryable<F> for C {}

pub struct Retrying<C>(C, u32);

impl<C: FnMut() -> F + Unpin, F: std::future::Future + Unpin> std::future::Future for Retrying<C> {
    type Output = F::Output;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        std::pin::Pin::new(&mut (self.0)()).poll(cx)
    }
}

#[orchestrator]
async fn client_call(ctx: OrchestrationContext, to: String) -> Result<(), OrchestrationError> {
    mailer().send(&to).await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(Charge, 1).await?;
    Ok(())
}

#[orchestrator]
async fn sdk_function_and_constructor(ctx: OrchestrationContext, app: String) -> Result<(), OrchestrationError> {
    let vault = mailer();
    let secret = read_secret(&vault, &app).await;
    let _scheduler = Scheduler::new().await;
    ctx.call_activity(Charge, secret.len() as u64).await?;
    Ok(())
}

#[orchestrator]
async fn sleep_by_type(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    pause_for(5).await;
    ctx.call_activity(Charge, 1).await?;
    Ok(())
}

#[orchestrator]
async fn held_future(ctx: OrchestrationContext, to: String) -> Result<(), OrchestrationError> {
    let client = mailer();
    let sending = client.send(&to);
    ctx.call_activity(Charge, 1).await?;
    let _ = sending.await;
    Ok(())
}

#[orchestrator]
async fn stream_next(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let mut messages = inbox();
    while let Some(amount) = messages.next().await {
        ctx.call_activity(Charge, amount).await?;
    }
    Ok(())
}

#[orchestrator]
async fn in_async_block(ctx: OrchestrationContext, to: String) -> Result<(), OrchestrationError> {
    let notify = async {
        let _ = mailer().send(&to).await;
        ctx.call_activity(Charge, 1).await
    };
    notify.await?;
    Ok(())
}

#[orchestrator]
async fn in_closure(ctx: OrchestrationContext, to: Vec<String>) -> Result<(), OrchestrationError> {
    let send = async |address: String| mailer().send(&address).await;
    for address in to {
        let _ = send(address).await;
    }
    ctx.call_activity(Charge, 1).await?;
    Ok(())
}

#[orchestrator]
async fn lock_of_shared_state(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let cache = shared_cache();
    let seen = cache.lock().await.len() as u64;
    ctx.call_activity(Charge, seen).await?;
    Ok(())
}

#[orchestrator]
async fn combinator_of_non_durable(ctx: OrchestrationContext, to: String) -> Result<(), OrchestrationError> {
    let client = mailer();
    let _ = durable_runtime::join_all(vec![client.send(&to), client.send("audit")]).await;
    let charge = ctx.call_activity(Charge, 1);
    let _ = futures::join!(charge, pause_for(1));
    Ok(())
}

#[orchestrator]
async fn retry_helper_over_durable_call(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    (|| ctx.call_activity(Charge, 1)).retry(3).await?;
    Ok(())
}

/// A helper taking the context is accepted where it is called; its opaque future taken
/// back out of a queue is not (`assume_durable` marks it on the way in).
async fn step(ctx: &OrchestrationContext, amount: u64) -> Result<u64, durable_runtime::ActivityFailed> {
    ctx.call_activity(Charge, amount).await
}

#[orchestrator]
async fn queued_helper_futures(ctx: OrchestrationContext, amounts: Vec<u64>) -> Result<u64, OrchestrationError> {
    let mut queue = std::collections::VecDeque::new();
    for amount in amounts {
        queue.push_back(step(&ctx, amount));
    }
    let mut total = 0;
    while let Some(next) = queue.pop_front() {
        total += next.await?;
    }
    Ok(total)
}

fn main() {}
