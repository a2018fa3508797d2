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

/// The decision a person sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApprovalEvent {
    approved: bool,
    by: String,
}

impl ExternalEvent for ApprovalEvent {
    const NAME: &'static str = "ApprovalEvent";
}

/// The orchestration input.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApprovalRequest {
    subject: String,
    timeout_secs: u64,
}

/// How the request ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Decision {
    Approved { by: String },
    Rejected { by: String },
    Escalated,
}

/// Sends the request to the approver (here: the console).
#[activity]
async fn request_approval(
    ctx: ActivityContext,
    request: ApprovalRequest,
) -> Result<(), ActivityError> {
    println!(
        "APPROVAL NEEDED for {}: run `cargo run --release --example human_approval -- approve {}` within {} s",
        request.subject,
        ctx.instance_id(),
        request.timeout_secs
    );
    Ok(())
}

/// Escalates an unanswered request (here: the console).
#[activity]
async fn escalate(request: ApprovalRequest) -> Result<(), ActivityError> {
    println!("ESCALATED: nobody decided on {} in time", request.subject);
    Ok(())
}

#[orchestrator]
async fn approval_workflow(
    ctx: OrchestrationContext,
    request: ApprovalRequest,
) -> Result<Decision, OrchestrationError> {
    ctx.call_activity(RequestApproval, request.clone()).await?;
    let timeout = Duration::from_secs(request.timeout_secs);
    match ctx
        .wait_for_event_with_timeout::<ApprovalEvent>(timeout)
        .await
    {
        Ok(ApprovalEvent { approved: true, by }) => Ok(Decision::Approved { by }),
        Ok(ApprovalEvent {
            approved: false,
            by,
        }) => Ok(Decision::Rejected { by }),
        Err(EventError::TimedOut { .. }) => {
            ctx.call_activity(Escalate, request).await?;
            Ok(Decision::Escalated)
        }
        Err(other) => Err(other.into()),
    }
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
            println!("started instance {}", instance.instance_id());
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
