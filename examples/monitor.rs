//! The Durable Functions monitor pattern: watch a file until it contains a word, checking
//! on a durable timer, and give up when the expiry passes. Each check is one generation of
//! the orchestration (`continue_as_new`), so the history stays a few events long however
//! long the watch runs, and a restart resumes the watch where it was.
//!
//! ```text
//! cargo run --release --example monitor -- FILE --word WORD [--interval-ms 1000] [--expiry-secs 60]
//! ```
//! Then, from another terminal: `echo WORD >> FILE`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use durable_runtime::prelude::*;

#[derive(Debug, Parser)]
#[command(
    about = "Watch a file with a durable timer loop until it contains a word (Durable Functions' monitor pattern)"
)]
struct Args {
    /// The file to watch (it may not exist yet).
    file: PathBuf,
    /// The word to wait for.
    #[arg(long)]
    word: String,
    /// How long to wait between checks, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// When to give up, in seconds from the start.
    #[arg(long, default_value_t = 60)]
    expiry_secs: u64,
    /// The SQLite file holding the task hub.
    #[arg(long, default_value = "monitor.db")]
    db: PathBuf,
}

/// The orchestration input; it carries the watch's state from one generation to the next.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WatchRequest {
    file: PathBuf,
    word: String,
    interval_ms: u64,
    /// Fixed by the first generation from its `current_time`, so every generation agrees.
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    expiry_secs: u64,
    checks: u32,
}

/// How the watch ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum WatchOutcome {
    /// The word appeared; after this many checks.
    Found { checks: u32 },
    /// The expiry passed first.
    Expired { checks: u32 },
    /// This generation handed over to the next (the value is then ignored).
    Continued,
}

/// Reads the file and says whether it contains the word; a missing file does not.
#[activity]
async fn check_file((file, word): (PathBuf, String)) -> Result<bool, ActivityError> {
    match tokio::fs::read_to_string(&file).await {
        Ok(text) => Ok(text.contains(&word)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// One check per generation: check, then sleep on a durable timer and continue as new.
#[orchestrator]
async fn watch_file(
    ctx: OrchestrationContext,
    request: WatchRequest,
) -> Result<WatchOutcome, OrchestrationError> {
    let expires_at = request.expires_at.unwrap_or_else(|| {
        ctx.current_time() + chrono::TimeDelta::seconds(request.expiry_secs as i64)
    });
    let checks = request.checks + 1;
    ctx.set_custom_status(&serde_json::json!({ "checks": checks, "expires_at": expires_at }))?;
    if ctx
        .call_activity(CheckFile, (request.file.clone(), request.word.clone()))
        .await?
    {
        return Ok(WatchOutcome::Found { checks });
    }
    let next_check =
        ctx.current_time() + chrono::TimeDelta::milliseconds(request.interval_ms as i64);
    if next_check >= expires_at {
        ctx.create_timer(expires_at).await;
        return Ok(WatchOutcome::Expired { checks });
    }
    ctx.create_timer(next_check).await;
    ctx.continue_as_new(
        WatchFile,
        WatchRequest {
            expires_at: Some(expires_at),
            checks,
            ..request
        },
    );
    Ok(WatchOutcome::Continued)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = Runtime::builder().sqlite(&args.db).start().await?;
    let request = WatchRequest {
        file: std::path::absolute(&args.file)?,
        word: args.word.clone(),
        interval_ms: args.interval_ms,
        expires_at: None,
        expiry_secs: args.expiry_secs,
        checks: 0,
    };
    let instance = WatchFile::start(&runtime.client(), request).await?;
    println!(
        "watching {} for {:?} every {} ms for up to {} s (instance {})",
        args.file.display(),
        args.word,
        args.interval_ms,
        args.expiry_secs,
        instance.instance_id()
    );
    let outcome = instance
        .wait_for_completion(Duration::from_secs(args.expiry_secs + 30))
        .await?;
    let history = runtime
        .client()
        .read_history(instance.instance_id())
        .await?;
    match outcome {
        WatchOutcome::Found { checks } => println!("found {:?} after {checks} checks", args.word),
        WatchOutcome::Expired { checks } => {
            println!("gave up after {checks} checks: the expiry passed")
        }
        WatchOutcome::Continued => println!("the watch continued as new"),
    }
    println!("the last generation's history has {} events", history.len());
    runtime.shutdown().await;
    Ok(())
}
