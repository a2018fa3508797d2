//! The replayer over `tests/histories/`: histories of `approval_workflow` recorded with an
//! earlier build (approved, rejected, escalated; in the versioned `durable-history/1`
//! format and as the bare event array `durable history ID --json` prints). A change to the
//! workflow that breaks running instances fails this test before it is deployed.
//!
//! To record them again: `DURABLE_RECORD_HISTORIES=1 cargo test -p durable-examples --test testing histories`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use durable_examples::approval::{ApprovalEvent, ApprovalRequest, ApprovalWorkflow};
use durable_runtime::testing::{HistoryExport, Replayer, TestEnvironment};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories")
}

/// Runs the workflow to its end with `decision` (none: the timeout) and exports its
/// history.
async fn record(decision: Option<bool>) -> Result<HistoryExport, Box<dyn std::error::Error>> {
    let env = TestEnvironment::start().await?;
    let request = ApprovalRequest {
        subject: "purchase order #1138".into(),
        timeout_secs: 72 * 3600,
    };
    let instance = ApprovalWorkflow::start(&env.client(), request).await?;
    let id = instance.instance_id();
    if let Some(approved) = decision {
        env.wait_for_event_waiter::<ApprovalEvent>(id).await?;
        env.advance(Duration::from_secs(600)).await?;
        let answer = ApprovalEvent {
            approved,
            by: "alice".into(),
        };
        env.raise_event(id, &answer).await?;
    }
    env.run_until_complete(&instance).await?;
    let export = HistoryExport::read(&env.client(), id).await?;
    env.shutdown().await;
    Ok(export)
}

#[tokio::test]
async fn every_recorded_history_replays_against_the_current_code() {
    if std::env::var_os("DURABLE_RECORD_HISTORIES").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        for (name, decision) in [
            ("approved", Some(true)),
            ("rejected", Some(false)),
            ("escalated", None),
        ] {
            let export = record(decision).await.unwrap();
            export
                .write(dir().join(format!("approval-{name}.json")))
                .unwrap();
            if name == "escalated" {
                // The shape `durable history ID --json` prints.
                let bare = serde_json::to_string(&export.events).unwrap();
                std::fs::write(dir().join("approval-escalated-cli.json"), bare).unwrap();
            }
        }
    }
    let results = Replayer::new().unwrap().replay_dir(dir()).unwrap();
    let names: Vec<String> = results
        .iter()
        .map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "approval-approved.json",
            "approval-escalated-cli.json",
            "approval-escalated.json",
            "approval-rejected.json"
        ]
    );
    for file in &results {
        assert!(
            file.result.is_ok(),
            "{} does not replay: {}",
            file.path.display(),
            file.result.as_ref().unwrap_err()
        );
    }
}
