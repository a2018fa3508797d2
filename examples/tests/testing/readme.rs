use std::time::Duration;

use durable_examples::approval::{
    ApprovalEvent, ApprovalRequest, ApprovalWorkflow, Decision, Escalate, RequestApproval,
};
use durable_runtime::testing::{DurableCall, Replayer, TestEnvironment};

fn request() -> ApprovalRequest {
    ApprovalRequest {
        subject: "purchase order #1138".into(),
        timeout_secs: 72 * 3600,
    }
}

#[tokio::test]
async fn nobody_answers_so_it_escalates_after_72_hours() {
    let env = TestEnvironment::start().await.unwrap();
    let escalations = env.fake_activity(Escalate, |_request: ApprovalRequest| Ok(()));
    let instance = ApprovalWorkflow::start(&env.client(), request())
        .await
        .unwrap();

    // Nobody answers, so the 72-hour timer fires at once: the clock is virtual.
    let decision = env.run_until_complete(&instance).await.unwrap();
    assert!(matches!(decision, Decision::Escalated));
    assert_eq!(escalations.call_count(), 1);
    env.assert_durable_calls(
        instance.instance_id(),
        &[
            DurableCall::activity(RequestApproval, request()),
            DurableCall::timer(Duration::from_secs(72 * 3600)),
            DurableCall::activity(Escalate, request()),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_answer_in_time_is_the_decision() {
    let env = TestEnvironment::start().await.unwrap();
    env.fake_activity(RequestApproval, |_request: ApprovalRequest| Ok(()));
    let instance = ApprovalWorkflow::start(&env.client(), request())
        .await
        .unwrap();
    let id = instance.instance_id();

    env.wait_for_event_waiter::<ApprovalEvent>(id)
        .await
        .unwrap();
    env.advance(Duration::from_secs(3600)).await.unwrap();
    let answer = ApprovalEvent {
        approved: true,
        by: "alice".into(),
    };
    env.raise_event(id, &answer).await.unwrap();
    let decision = env.run_until_complete(&instance).await.unwrap();
    assert!(matches!(decision, Decision::Approved { by } if by == "alice"));
}

#[test]
fn every_exported_history_still_replays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/histories");
    for file in Replayer::new().unwrap().replay_dir(dir).unwrap() {
        if let Err(error) = &file.result {
            panic!("{} does not replay: {error}", file.path.display());
        }
    }
}
