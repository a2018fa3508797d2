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
use durable_examples::monitor::{WatchFile, WatchOutcome, WatchRequest};
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
