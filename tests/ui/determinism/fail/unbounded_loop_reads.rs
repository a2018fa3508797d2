use durable_runtime::prelude::*;

#[activity]
async fn poll_job(job: String) -> Result<String, ActivityError> {
    Ok(job)
}

/// Loops whose condition the body reads but never changes.
#[orchestrator]
async fn never_advancing(ctx: OrchestrationContext, (job, limit): (String, u32)) -> Result<(), OrchestrationError> {
    // A counter declared without `mut`, only read in the body.
    let polled = 0u32;
    while polled < limit {
        ctx.call_activity(PollJob, format!("{job}#{polled}")).await?;
    }
    // A flag bound again inside the loop instead of assigned.
    let mut finished = false;
    while !finished {
        let finished = ctx.call_activity(PollJob, job.clone()).await? == "finished";
        ctx.logger().info(format_args!("finished: {finished}"));
    }
    finished = true;
    let _ = finished;
    // A `while let` over a value the body never changes.
    let next: Option<String> = Some(job.clone());
    while let Some(page) = next.clone() {
        let next = ctx.call_activity(PollJob, page).await?;
        let _ = next.len();
    }
    Ok(())
}

fn main() {}
