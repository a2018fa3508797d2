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
