//! The Durable Functions monitor pattern: watch a file until it contains a word, checking
//! on a durable timer, and give up when the expiry passes. Each check is one generation of
//! the orchestration (`continue_as_new`), so the history stays a few events long however
//! long the watch runs. Used by the `monitor` example.

use std::path::PathBuf;

use durable_runtime::prelude::*;

/// The orchestration input; it carries the watch's state from one generation to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchRequest {
    /// The file to watch.
    pub file: PathBuf,
    /// The word to wait for.
    pub word: String,
    /// How long to wait between checks, in milliseconds.
    pub interval_ms: u64,
    /// Fixed by the first generation from its `current_time`, so every generation agrees.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When to give up, in seconds from the start.
    pub expiry_secs: u64,
    /// How many checks earlier generations made.
    pub checks: u32,
}

/// How the watch ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchOutcome {
    /// The word appeared; after this many checks.
    Found {
        /// How many checks were made.
        checks: u32,
    },
    /// The expiry passed first.
    Expired {
        /// How many checks were made.
        checks: u32,
    },
    /// This generation handed over to the next (the value is then ignored).
    Continued,
}

/// Reads the file and says whether it contains the word; a missing file does not.
#[activity]
pub async fn check_file((file, word): (PathBuf, String)) -> Result<bool, ActivityError> {
    match tokio::fs::read_to_string(&file).await {
        Ok(text) => Ok(text.contains(&word)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// One check per generation: check, then sleep on a durable timer and continue as new.
#[orchestrator]
pub async fn watch_file(
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
