//! The Durable Functions backup sample (fan-out/fan-in): list the files under a directory,
//! copy each one to a destination directory in its own activity, all in parallel, and
//! return the total number of bytes copied.
//!
//! ```text
//! cargo run --release --example fan_out_fan_in -- [SOURCE] [--destination DIR] [--db FILE]
//! ```
//! SOURCE defaults to this repository (skipping `target/` and `.git/`); the destination
//! defaults to a fresh directory under the system temp directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use durable_examples::backup::{BackupRequest, BackupSiteContent};
use durable_runtime::prelude::*;

#[derive(Debug, Parser)]
#[command(
    about = "Back up a directory with one activity per file (Durable Functions' fan-out/fan-in sample)"
)]
struct Args {
    /// The directory to back up (default: this repository).
    source: Option<PathBuf>,
    /// Where to copy the files (default: a new directory under the system temp dir).
    #[arg(long)]
    destination: Option<PathBuf>,
    /// The SQLite file holding the task hub (default: under the system temp dir, so the
    /// live database is not among the files it copies).
    #[arg(long)]
    db: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let source = match args.source {
        Some(source) => source,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    }
    .canonicalize()?;
    let destination = args.destination.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("durable-backup-{}", std::process::id()))
    });
    std::fs::create_dir_all(&destination)?;
    let destination = destination.canonicalize()?;

    let db = args
        .db
        .unwrap_or_else(|| std::env::temp_dir().join("durable-fan-out-fan-in.db"));
    let runtime = Runtime::builder().sqlite(db).start().await?;
    let started = Instant::now();
    let instance = BackupSiteContent::start(
        &runtime.client(),
        BackupRequest {
            source: source.clone(),
            destination: destination.clone(),
        },
    )
    .await?;
    let summary = instance
        .wait_for_completion(Duration::from_secs(600))
        .await?;
    let elapsed = started.elapsed();
    let history = runtime
        .client()
        .read_history(instance.instance_id())
        .await?;
    println!(
        "backed up {} files ({} bytes)",
        summary.files, summary.bytes
    );
    println!("  from {}", source.display());
    println!("  to   {}", destination.display());
    println!(
        "instance {} completed in {:.2?}; {} activities, {} history events",
        instance.instance_id(),
        elapsed,
        summary.files + 1,
        history.len()
    );
    runtime.shutdown().await;
    Ok(())
}
