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
use durable_runtime::prelude::*;

/// Directory names the file list skips: build output and version control.
const SKIPPED: &[&str] = &["target", ".git"];

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

/// The orchestration's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BackupRequest {
    source: PathBuf,
    destination: PathBuf,
}

/// One file to copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CopyRequest {
    file: PathBuf,
    source_root: PathBuf,
    destination_root: PathBuf,
}

/// The orchestration's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BackupSummary {
    files: usize,
    bytes: u64,
}

fn list_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !SKIPPED.iter().any(|s| entry.file_name() == *s) {
                list_files(&path, files)?;
            }
        } else if kind.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// Lists every file under `root`, sorted (Durable Functions' `E2_GetFileList`).
#[activity]
async fn get_file_list(root: PathBuf) -> Result<Vec<PathBuf>, ActivityError> {
    let mut files = tokio::task::spawn_blocking(move || {
        let mut files = Vec::new();
        list_files(&root, &mut files).map(|()| files)
    })
    .await??;
    files.sort();
    Ok(files)
}

/// Copies one file under the destination root, keeping its relative path; returns its
/// size in bytes (Durable Functions' `E2_CopyFileToBlob`).
#[activity]
async fn copy_file(request: CopyRequest) -> Result<u64, ActivityError> {
    let relative = request
        .file
        .strip_prefix(&request.source_root)
        .map_err(|_| {
            ActivityError::new(format!(
                "{} is not under {}",
                request.file.display(),
                request.source_root.display()
            ))
            .non_retriable()
        })?;
    let target = request.destination_root.join(relative);
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    Ok(tokio::fs::copy(&request.file, &target).await?)
}

/// Lists the files, copies them all in parallel, and sums the bytes
/// (Durable Functions' `E2_BackupSiteContent`).
#[orchestrator]
async fn backup_site_content(
    ctx: OrchestrationContext,
    request: BackupRequest,
) -> Result<BackupSummary, OrchestrationError> {
    let files = ctx
        .call_activity(GetFileList, request.source.clone())
        .await?;
    ctx.logger()
        .info(format_args!("copying {} files", files.len()));
    // Every call is recorded when it is made, so all copies go out in one turn.
    let copies: Vec<_> = files
        .into_iter()
        .map(|file| {
            ctx.call_activity(
                CopyFile,
                CopyRequest {
                    file,
                    source_root: request.source.clone(),
                    destination_root: request.destination.clone(),
                },
            )
        })
        .collect();
    let sizes = try_join_all(copies).await?;
    Ok(BackupSummary {
        files: sizes.len(),
        bytes: sizes.iter().sum(),
    })
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
