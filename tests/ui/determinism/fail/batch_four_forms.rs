use std::sync::LazyLock;
use std::time::Duration;

use durable_runtime::prelude::*;

static NEW_PRICING: LazyLock<bool> = LazyLock::new(|| std::env::var("NEW_PRICING").is_ok());
static HTTP: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

#[activity]
async fn record(n: u64) -> Result<(), ActivityError> {
    let _ = n;
    Ok(())
}

/// The forms issue #17's fourth batch stood for: an address printed with `{:p}`, a lazy
/// static's value, awaiting a static client, a process id through libc, a `while` whose
/// condition never changes, a range up to `u64::MAX`.
#[orchestrator]
async fn batch_four_forms(ctx: OrchestrationContext, url: String) -> Result<(), OrchestrationError> {
    let tag = format!("req-{:p}", &url);
    if *NEW_PRICING {
        ctx.call_activity(Record, tag.len() as u64).await?;
    }
    let status = HTTP.get(&url).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
    let pid = unsafe { libc::getpid() };
    ctx.call_activity(Record, u64::from(status) + pid as u64).await?;
    let done = false;
    while !done {
        ctx.create_timer(Duration::from_secs(60)).await;
    }
    for attempt in 0..u64::MAX {
        ctx.call_activity(Record, attempt).await?;
    }
    Ok(())
}

fn main() {}
