//! The Durable Functions human interaction pattern: request an approval, wait for an
//! `ApprovalEvent`, escalate when the timeout passes first. Used by the `human_approval`
//! and `http_api` examples.

use std::time::Duration;

use durable_runtime::prelude::*;

/// The decision a person sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalEvent {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided.
    pub by: String,
}

impl ExternalEvent for ApprovalEvent {
    const NAME: &'static str = "ApprovalEvent";
}

/// The orchestration input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// What needs approving.
    pub subject: String,
    /// How long to wait for a decision, in seconds.
    pub timeout_secs: u64,
}

/// How the request ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Decision {
    /// Approved by someone.
    Approved {
        /// Who.
        by: String,
    },
    /// Rejected by someone.
    Rejected {
        /// Who.
        by: String,
    },
    /// Nobody decided in time.
    Escalated,
}

/// Sends the request to the approver (here: the console).
#[activity]
pub async fn request_approval(
    ctx: ActivityContext,
    request: ApprovalRequest,
) -> Result<(), ActivityError> {
    println!(
        "APPROVAL NEEDED for {}: instance {} waits {} s for an `ApprovalEvent`",
        request.subject,
        ctx.instance_id(),
        request.timeout_secs
    );
    Ok(())
}

/// Escalates an unanswered request (here: the console).
#[activity]
pub async fn escalate(request: ApprovalRequest) -> Result<(), ActivityError> {
    println!("ESCALATED: nobody decided on {} in time", request.subject);
    Ok(())
}

/// Requests approval, waits for the decision, escalates on timeout.
#[orchestrator]
pub async fn approval_workflow(
    ctx: OrchestrationContext,
    request: ApprovalRequest,
) -> Result<Decision, OrchestrationError> {
    ctx.call_activity(RequestApproval, request.clone()).await?;
    let timeout = Duration::from_secs(request.timeout_secs);
    match ctx.wait_for_event::<ApprovalEvent>().timeout(timeout).await {
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
