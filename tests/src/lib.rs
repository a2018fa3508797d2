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
