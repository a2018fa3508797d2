//! The Durable Functions human interaction pattern: request an approval, wait for an
//! `ApprovalEvent` raised by a person, and escalate if the timeout (72 hours by default, as
//! in the reference sample) passes first.
//!
//! ```text
//! # terminal 1: start a request and wait for its outcome
//! cargo run --release --example human_approval -- start --timeout-secs 120
//! # terminal 2: approve (or --reject) it, using the instance id terminal 1 printed
//! cargo run --release --example human_approval -- approve INSTANCE_ID --by alice
//! ```
//! Both commands use the same SQLite file (`--db`, default `human_approval.db`); the second
//! one only raises the event, it runs no worker.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use durable_examples::approval::{ApprovalEvent, ApprovalRequest, ApprovalWorkflow};
use durable_runtime::prelude::*;

#[derive(Debug, Parser)]
#[command(
    about = "Request an approval and escalate on timeout (Durable Functions' human interaction pattern)"
)]
struct Args {
    /// The SQLite file holding the task hub.
    #[arg(long, global = true, default_value = "human_approval.db")]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start an approval request and wait for its outcome.
    Start {
        /// What needs approving.
        #[arg(long, default_value = "purchase order #1138")]
        subject: String,
        /// How long to wait for a decision before escalating, in seconds.
        #[arg(long, default_value_t = 72 * 3600)]
        timeout_secs: u64,
        /// The instance id (default: generated).
        #[arg(long)]
        id: Option<String>,
    },
    /// Approve or reject a waiting request.
    Approve {
        /// The instance id printed by `start`.
        instance_id: String,
        /// Reject instead of approving.
        #[arg(long)]
        reject: bool,
        /// Who decided.
        #[arg(long, default_value = "a manager")]
        by: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Command::Start {
            subject,
            timeout_secs,
            id,
        } => {
            let runtime = Runtime::builder().sqlite(&args.db).start().await?;
            let request = ApprovalRequest {
                subject,
                timeout_secs,
            };
            let mut start = runtime
                .client()
                .start_orchestration(ApprovalWorkflow, request);
            if let Some(id) = id {
                start = start.instance_id(id);
            }
            let instance = start.await?;
            println!(
                "started instance {id}; approve it with `cargo run --release --example human_approval -- approve {id} --by NAME`",
                id = instance.instance_id()
            );
            let decision = instance
                .wait_for_completion(Duration::from_secs(timeout_secs + 60))
                .await?;
            println!("decision: {decision:?}");
            runtime.shutdown().await;
        }
        Command::Approve {
            instance_id,
            reject,
            by,
        } => {
            let runtime = Runtime::builder()
                .sqlite(&args.db)
                .client_only()
                .start()
                .await?;
            let instance_id = InstanceId::new(instance_id)?;
            let event = ApprovalEvent {
                approved: !reject,
                by,
            };
            runtime.client().raise(&instance_id, &event).await?;
            println!("sent {event:?} to {instance_id}");
        }
    }
    Ok(())
}
