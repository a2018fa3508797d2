//! Helpers shared by the end-to-end tests and the crash-test worker binary.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes a new, empty directory under the target directory's `test-tmp`, unique per call
/// and per process, so parallel tests never share a database file.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("durable-tests").join(format!(
        "{label}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test directory");
    dir
}

/// The PostgreSQL URL for tests that need a server, from `DURABLE_POSTGRES_URL` (set by
/// `eval "$(scripts/postgres.sh start)"`, which `.ci/run` does).
///
/// # Panics
/// When the URL is missing and `DURABLE_REQUIRE_POSTGRES` is set (CI), so those tests fail
/// loudly instead of passing without running; otherwise it prints that `test` was skipped
/// and returns `None`.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("DURABLE_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("DURABLE_REQUIRE_POSTGRES").is_none(),
                "{test} needs PostgreSQL but DURABLE_POSTGRES_URL is not set; run `eval \"$(scripts/postgres.sh start)\"` first"
            );
            eprintln!(
                "SKIPPED {test}: no PostgreSQL (run `eval \"$(scripts/postgres.sh start)\"` to include it)"
            );
            None
        }
    }
}

/// A fresh task hub name for one test: `t_<pid>_<n>`.
pub fn fresh_task_hub() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "t_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

use durable_runtime::prelude::*;

/// A counter entity for the crash tests; each operation takes a little time, so a worker
/// can be killed while thousands of them are being processed.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Tally {
    /// The sum of every `add`.
    pub count: u64,
    /// How many `add` operations ran.
    pub ops: u64,
}

#[entity]
impl Tally {
    /// Adds `amount`.
    pub fn add(&mut self, amount: u64) {
        std::thread::sleep(std::time::Duration::from_micros(200));
        self.count += amount;
        self.ops += 1;
    }
}

/// Signals `Tally` `add(1)` `count` times, 100 per turn.
#[orchestrator]
pub async fn signal_tally(
    ctx: OrchestrationContext,
    (key, count): (String, u64),
) -> Result<(), OrchestrationError> {
    for i in 0..count {
        Tally::signal(&ctx, key.clone()).add(1);
        if i % 100 == 99 {
            ctx.create_timer(std::time::Duration::from_millis(1)).await;
        }
    }
    Ok(())
}

/// Adds one, slowly enough that a test can kill the worker in the middle.
#[activity]
pub async fn step(value: u64) -> u64 {
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    value + 1
}

/// Calls `step` `steps` times in sequence, passing the value along.
#[orchestrator]
pub async fn long_chain(ctx: OrchestrationContext, steps: u64) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for _ in 0..steps {
        value = ctx.call_activity(Step, value).await?;
    }
    Ok(value)
}

/// Calls `step` for 0..count in parallel and sums the results.
#[orchestrator]
pub async fn wide_fan_out(
    ctx: OrchestrationContext,
    count: u64,
) -> Result<u64, OrchestrationError> {
    let calls: Vec<_> = (0..count).map(|i| ctx.call_activity(Step, i)).collect();
    Ok(try_join_all(calls).await?.into_iter().sum())
}
