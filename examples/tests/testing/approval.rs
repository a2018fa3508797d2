//! `approval_workflow`: approve, reject, and the 72-hour timeout, in milliseconds.

use std::time::{Duration, Instant};

use durable_examples::approval::{
    ApprovalEvent, ApprovalRequest, ApprovalWorkflow, Decision, Escalate, RequestApproval,
};
use durable_runtime::prelude::*;
use durable_runtime::testing::{DurableCall, TestEnvironment};

const SEVENTY_TWO_HOURS: u64 = 72 * 3600;

fn request() -> ApprovalRequest {
    ApprovalRequest {
        subject: "purchase order #1138".into(),
        timeout_secs: SEVENTY_TWO_HOURS,
    }
}

/// The calls every path makes first: the request, then the timeout's timer.
fn requested() -> Vec<DurableCall> {
    vec![
        DurableCall::activity(RequestApproval, request()),
        DurableCall::timer(Duration::from_secs(SEVENTY_TWO_HOURS)),
    ]
}

#[tokio::test]
async fn an_approval_in_time_is_approved() {
    let wall = Instant::now();
    let env = TestEnvironment::start().await.unwrap();
    // The activities run for real here (they print); only the decision is the test's.
    let instance = ApprovalWorkflow::start(&env.client(), request())
        .await
        .unwrap();
    let id = instance.instance_id();
    env.wait_for_event_waiter::<ApprovalEvent>(id)
        .await
        .unwrap();
    env.raise_event(
        id,
        &ApprovalEvent {
            approved: true,
            by: "alice".into(),
        },
    )
    .await
    .unwrap();
    let decision = env.run_until_complete(&instance).await.unwrap();
    assert!(
        matches!(&decision, Decision::Approved { by } if by == "alice"),
        "{decision:?}"
    );
    env.assert_durable_calls(id, &requested()).await;
    assert_eq!(env.now(), durable_runtime::testing::default_start_time());
    env.shutdown().await;
    println!("approve: {:.1?} of wall time", wall.elapsed());
}

#[tokio::test]
async fn a_rejection_is_rejected_and_nobody_is_escalated() {
    let wall = Instant::now();
    let env = TestEnvironment::start().await.unwrap();
    let requests = env.fake_activity(RequestApproval, |_request: ApprovalRequest| Ok(()));
    let escalations = env.fake_activity(Escalate, |_request: ApprovalRequest| Ok(()));
    let instance = ApprovalWorkflow::start(&env.client(), request())
        .await
        .unwrap();
    let id = instance.instance_id();
    env.wait_for_event_waiter::<ApprovalEvent>(id)
        .await
        .unwrap();
    // An hour passes before the answer.
    env.advance(Duration::from_secs(3600)).await.unwrap();
    env.raise_event(
        id,
        &ApprovalEvent {
            approved: false,
            by: "bob".into(),
        },
    )
    .await
    .unwrap();
    let decision = env.run_until_complete(&instance).await.unwrap();
    assert!(
        matches!(&decision, Decision::Rejected { by } if by == "bob"),
        "{decision:?}"
    );
    let subjects: Vec<String> = requests.calls().into_iter().map(|r| r.subject).collect();
    assert_eq!(subjects, ["purchase order #1138"]);
    assert_eq!(escalations.call_count(), 0);
    env.assert_durable_calls(id, &requested()).await;
    env.shutdown().await;
    println!("reject: {:.1?} of wall time", wall.elapsed());
}

#[tokio::test]
async fn nobody_answering_for_72_hours_escalates_in_milliseconds() {
    let wall = Instant::now();
    let env = TestEnvironment::start().await.unwrap();
    let escalations = env.fake_activity(Escalate, |_request: ApprovalRequest| Ok(()));
    let started = env.now();
    let instance = ApprovalWorkflow::start(&env.client(), request())
        .await
        .unwrap();
    let decision = env.run_until_complete(&instance).await.unwrap();
    assert!(matches!(decision, Decision::Escalated), "{decision:?}");
    assert_eq!(escalations.call_count(), 1);
    // The virtual clock skipped exactly the timeout.
    assert_eq!(env.now() - started, chrono::TimeDelta::hours(72));
    let mut expected = requested();
    expected.push(DurableCall::activity(Escalate, request()));
    env.assert_durable_calls(instance.instance_id(), &expected)
        .await;
    env.shutdown().await;
    println!(
        "72-hour timeout: {:.1?} of wall time for 72 h of virtual time",
        wall.elapsed()
    );
}

#[tokio::test]
async fn advancing_the_clock_fires_the_timeout_only_once_it_is_due() {
    let env = TestEnvironment::start().await.unwrap();
    env.fake_activity(RequestApproval, |_request: ApprovalRequest| Ok(()));
    let escalations = env.fake_activity(Escalate, |_request: ApprovalRequest| Ok(()));
    let instance = ApprovalWorkflow::start(&env.client(), request())
        .await
        .unwrap();
    let id = instance.instance_id();
    let fires_at = env.wait_for_timer(id).await.unwrap();
    assert_eq!(fires_at - env.now(), chrono::TimeDelta::hours(72));
    env.advance(Duration::from_secs(71 * 3600)).await.unwrap();
    let status = env.client().get_status(id).await.unwrap().unwrap();
    assert_eq!(status.runtime_status, RuntimeStatus::Running);
    assert_eq!(escalations.call_count(), 0);
    env.advance(Duration::from_secs(3600)).await.unwrap();
    let status = env.client().get_status(id).await.unwrap().unwrap();
    assert_eq!(status.runtime_status, RuntimeStatus::Completed);
    assert_eq!(escalations.call_count(), 1);
    env.shutdown().await;
}
