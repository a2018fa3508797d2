//! The test kit's environment itself: retries' back-off skipped in virtual time,
//! `current_time` following the clock, a wait that cannot finish reported instead of
//! hanging, and environments that share nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durable_runtime::prelude::*;
use durable_runtime::testing::{DurableCall, TestEnvironment, TestError};

#[activity]
async fn flaky(attempt_label: String) -> Result<String, ActivityError> {
    Ok(attempt_label)
}

/// Calls `flaky` with an hour's back-off, and reports how long the retries took in
/// orchestration time.
#[orchestrator]
async fn patient(
    ctx: OrchestrationContext,
    label: String,
) -> Result<(String, i64), OrchestrationError> {
    let started = ctx.current_time();
    let policy = RetryPolicy::new(5, Duration::from_secs(3600));
    let value = ctx.call_activity_with_retry(Flaky, label, &policy).await?;
    Ok((value, (ctx.current_time() - started).num_minutes()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Go;

impl ExternalEvent for Go {
    const NAME: &'static str = "Go";
}

#[orchestrator]
async fn waits_forever(ctx: OrchestrationContext, _input: ()) -> Result<(), OrchestrationError> {
    ctx.wait_for_event::<Go>().await?;
    Ok(())
}

#[orchestrator]
async fn sleeps(ctx: OrchestrationContext, hours: u64) -> Result<(), OrchestrationError> {
    ctx.create_timer(Duration::from_secs(hours * 3600)).await;
    Ok(())
}

#[tokio::test]
async fn retry_back_off_waits_are_skipped_and_current_time_follows_the_clock() {
    let env = TestEnvironment::start().await.unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let fake = env.fake_activity(Flaky, move |label: String| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(ActivityError::new("not yet"))
        } else {
            Ok(format!("{label} on attempt 3"))
        }
    });
    let instance = Patient::start(&env.client(), "x".into()).await.unwrap();
    let (value, minutes) = env.run_until_complete(&instance).await.unwrap();
    assert_eq!(value, "x on attempt 3");
    // Two back-off waits of an hour each, seen by the orchestrator's own clock.
    assert_eq!(minutes, 120);
    assert_eq!(fake.calls(), ["x", "x", "x"]);
    env.assert_durable_calls(
        instance.instance_id(),
        &[
            DurableCall::activity(Flaky, "x".into()),
            DurableCall::timer(Duration::from_secs(3600)),
            DurableCall::activity(Flaky, "x".into()),
            DurableCall::timer(Duration::from_secs(3600)),
            DurableCall::activity(Flaky, "x".into()),
        ],
    )
    .await;
    env.shutdown().await;
}

#[tokio::test]
async fn a_wait_nothing_can_satisfy_reports_stalled_instead_of_hanging() {
    let env = TestEnvironment::start().await.unwrap();
    let instance = WaitsForever::start(&env.client(), ()).await.unwrap();
    match env.run_until_complete(&instance).await {
        Err(TestError::Stalled {
            status,
            waiting_for,
            ..
        }) => {
            assert_eq!(status, RuntimeStatus::Running);
            assert_eq!(waiting_for, "complete");
        }
        other => panic!("expected a stalled wait, got {other:?}"),
    }
    // The test can still move it on.
    env.wait_for_event_waiter::<Go>(instance.instance_id())
        .await
        .unwrap();
    env.raise_event(instance.instance_id(), &Go).await.unwrap();
    env.run_until_complete(&instance).await.unwrap();
    // Waiting for an event from an instance that has ended says so.
    match env
        .wait_for_event_waiter::<Go>(instance.instance_id())
        .await
    {
        Err(TestError::Ended { status, .. }) => assert_eq!(status, RuntimeStatus::Completed),
        other => panic!("expected the instance to have ended, got {other:?}"),
    }
    env.shutdown().await;
}

#[tokio::test]
async fn a_failed_assertion_names_the_first_difference() {
    let env = TestEnvironment::start().await.unwrap();
    let instance = Sleeps::start(&env.client(), 1).await.unwrap();
    env.run_until_complete(&instance).await.unwrap();
    let id = instance.instance_id().clone();
    let expected = [DurableCall::timer(Duration::from_secs(7200))];
    let actual = env.durable_calls(&id).await.unwrap();
    assert_eq!(actual, [DurableCall::timer(Duration::from_secs(3600))]);
    let panic = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        env.assert_durable_calls(&id, &expected),
    ))
    .await
    .unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("differ from the expected ones at call #0"),
        "{message}"
    );
    assert!(message.contains("expected: timer for 7200s"), "{message}");
    assert!(message.contains("actual:   timer for 3600s"), "{message}");
    assert!(
        message.contains("testing_kit.rs"),
        "the caller's line: {message}"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_environments_keep_their_own_clocks() {
    let (short, long) = tokio::join!(
        async {
            let env = TestEnvironment::start().await.unwrap();
            let instance = Sleeps::start(&env.client(), 1).await.unwrap();
            env.run_until_complete(&instance).await.unwrap();
            let elapsed = env.now() - durable_runtime::testing::default_start_time();
            env.shutdown().await;
            elapsed
        },
        async {
            let env = TestEnvironment::start().await.unwrap();
            let instance = Sleeps::start(&env.client(), 500).await.unwrap();
            env.run_until_complete(&instance).await.unwrap();
            let elapsed = env.now() - durable_runtime::testing::default_start_time();
            env.shutdown().await;
            elapsed
        }
    );
    assert_eq!(short, chrono::TimeDelta::hours(1));
    assert_eq!(long, chrono::TimeDelta::hours(500));
}
