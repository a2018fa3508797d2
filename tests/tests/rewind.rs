//! Rewind (Durable Functions' `RewindAsync`) end to end through the public API: a failed
//! instance is brought back to Running and re-runs what failed, keeping what succeeded.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use durable_runtime::history::EventKind;
use durable_runtime::http::HttpOptions;
use durable_runtime::prelude::*;
use durable_runtime::{ClientError, Registry, RuntimeStatus};

const WAIT: Duration = Duration::from_secs(30);

/// How many times each (key, step) ran, and which keys are broken at which step.
static RUNS: Mutex<Option<HashMap<(String, u32), u32>>> = Mutex::new(None);
static BROKEN: Mutex<Option<HashSet<(String, u32)>>> = Mutex::new(None);

fn runs(key: &str, step: u32) -> u32 {
    RUNS.lock()
        .unwrap()
        .as_ref()
        .and_then(|r| r.get(&(key.to_owned(), step)).copied())
        .unwrap_or(0)
}

fn set_broken(key: &str, step: u32, broken: bool) {
    let mut set = BROKEN.lock().unwrap();
    let set = set.get_or_insert_with(HashSet::new);
    if broken {
        set.insert((key.to_owned(), step));
    } else {
        set.remove(&(key.to_owned(), step));
    }
}

/// One step of work: fails while (key, step) is marked broken.
#[activity]
async fn step((key, step, value): (String, u32, u64)) -> Result<u64, ActivityError> {
    *RUNS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry((key.clone(), step))
        .or_default() += 1;
    let broken = BROKEN
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|b| b.contains(&(key.clone(), step)));
    if broken {
        return Err(ActivityError::new(format!(
            "step {step} of {key} is broken"
        )));
    }
    Ok(value + u64::from(step))
}

/// Ten steps, each fed the previous result.
#[orchestrator]
async fn chain(ctx: OrchestrationContext, key: String) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for i in 1..=10 {
        value = ctx.call_activity(Step, (key.clone(), i, value)).await?;
    }
    Ok(value)
}

/// Ten steps at once.
#[orchestrator]
async fn fan_out(ctx: OrchestrationContext, key: String) -> Result<u64, OrchestrationError> {
    let calls: Vec<_> = (1..=10)
        .map(|i| ctx.call_activity(Step, (key.clone(), i, 0)))
        .collect();
    Ok(try_join_all(calls).await?.into_iter().sum())
}

/// A chain in a child, then one more step in the parent.
#[orchestrator]
async fn parent_of_chain(
    ctx: OrchestrationContext,
    key: String,
) -> Result<u64, OrchestrationError> {
    let child_id = InstanceId::new(format!("{key}-child")).unwrap();
    let value = ctx
        .call_sub_orchestrator_with_id(Chain, child_id, key.clone())
        .await?;
    Ok(ctx.call_activity(Step, (key, 100, value)).await?)
}

/// Two chains as sub-orchestrations at once; fails as soon as one fails.
#[orchestrator]
async fn two_children(ctx: OrchestrationContext, key: String) -> Result<u64, OrchestrationError> {
    let a = ctx.call_sub_orchestrator_with_id(
        Chain,
        InstanceId::new(format!("{key}-a")).unwrap(),
        format!("{key}-a"),
    );
    let b = ctx.call_sub_orchestrator_with_id(
        Chain,
        InstanceId::new(format!("{key}-b")).unwrap(),
        format!("{key}-b"),
    );
    Ok(try_join_all([a, b]).await?.into_iter().sum())
}

/// Retries step 1 three times, 10 ms apart.
#[orchestrator]
async fn retried(ctx: OrchestrationContext, key: String) -> Result<u64, OrchestrationError> {
    let policy = RetryPolicy::new(3, Duration::from_millis(10));
    Ok(ctx
        .call_activity_with_retry(Step, (key, 1, 0), &policy)
        .await?)
}

fn registry() -> Registry {
    Registry::builder()
        .activity::<Step>()
        .orchestration::<Chain>()
        .orchestration::<FanOut>()
        .orchestration::<ParentOfChain>()
        .orchestration::<Retried>()
        .orchestration::<TwoChildren>()
        .build()
        .unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

/// Memory and SQLite, and PostgreSQL when a test server is configured.
fn backends(test: &str) -> Vec<Backend> {
    let mut backends = vec![Backend::Memory, Backend::Sqlite];
    if durable_tests::postgres_url(test).is_some() {
        backends.push(Backend::Postgres);
    }
    backends
}

async fn runtime(backend: Backend) -> Runtime {
    let builder = Runtime::builder().registry(registry());
    match backend {
        Backend::Memory => builder.in_memory(),
        Backend::Sqlite => builder.sqlite(durable_tests::temp_dir("rewind").join("durable.db")),
        Backend::Postgres => builder.postgres_with(
            durable_tests::postgres_url("rewind").unwrap(),
            durable_runtime::store::postgres::PostgresOptions::default()
                .task_hub(durable_tests::fresh_task_hub()),
        ),
    }
    .start()
    .await
    .unwrap()
}

fn key(label: &str, backend: Backend) -> String {
    format!("{label}-{backend:?}-{}", std::process::id())
}

async fn wait_failed(client: &DurableClient, id: &InstanceId) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = client.get_status(id).await.unwrap().unwrap();
        if status.runtime_status == RuntimeStatus::Failed {
            return;
        }
        assert!(
            !status.runtime_status.is_terminal(),
            "{id} ended {:?}, not Failed",
            status.runtime_status
        );
        assert!(std::time::Instant::now() < deadline, "{id} did not fail");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_failed_at_step_7_completes_after_a_fix_and_a_rewind_without_running_steps_1_to_6_again()
 {
    for backend in backends("rewind::chain") {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let key = key("chain", backend);
        set_broken(&key, 7, true);
        let handle = Chain::start(&client, key.clone()).await.unwrap();
        let id = handle.instance_id().clone();
        let error = handle.wait_for_completion(WAIT).await.unwrap_err();
        assert!(
            error.to_string().contains("step 7"),
            "{backend:?}: failed for the wrong reason: {error}"
        );
        let status = client.get_status(&id).await.unwrap().unwrap();
        assert_eq!(status.runtime_status, RuntimeStatus::Failed);
        assert!(status.failure.is_some());

        set_broken(&key, 7, false);
        client.rewind(&id, Some("step 7 fixed")).await.unwrap();
        let value = handle.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(value, (1..=10).sum::<u64>(), "{backend:?}");
        for step in 1..=6 {
            assert_eq!(runs(&key, step), 1, "{backend:?}: step {step} ran again");
        }
        assert_eq!(runs(&key, 7), 2, "{backend:?}: step 7 ran once more");
        for step in 8..=10 {
            assert_eq!(runs(&key, step), 1, "{backend:?}: step {step}");
        }

        let status = client.get_status(&id).await.unwrap().unwrap();
        assert_eq!(status.runtime_status, RuntimeStatus::Completed);
        assert!(
            status.failure.is_none(),
            "{backend:?}: the old failure is kept: {:?}",
            status.failure
        );
        let history = client.read_history(&id).await.unwrap();
        let reasons: Vec<_> = history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ExecutionRewound { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(reasons, [Some("step 7 fixed".to_owned())], "{backend:?}");
        // History is append-only: the failure stays in it, before the rewind.
        let kinds: Vec<&str> = history.iter().map(|e| e.kind.type_name()).collect();
        let failed = kinds.iter().position(|k| *k == "ActivityFailed").unwrap();
        let rewound = kinds.iter().position(|k| *k == "ExecutionRewound").unwrap();
        assert!(failed < rewound, "{backend:?}: {kinds:?}");
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinding_a_fan_out_runs_only_the_failed_branches_again() {
    for backend in backends("rewind::fan_out") {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let key = key("fan", backend);
        set_broken(&key, 3, true);
        set_broken(&key, 8, true);
        let handle = FanOut::start(&client, key.clone()).await.unwrap();
        let id = handle.instance_id().clone();
        handle.wait_for_completion(WAIT).await.unwrap_err();
        // The fan-out fails as soon as one branch fails; the results that arrive after that
        // are dropped with the failed instance, so only those recorded are kept.
        let recorded = completed_steps(&client, &id).await;
        set_broken(&key, 3, false);
        set_broken(&key, 8, false);
        client.rewind(&id, None).await.unwrap();
        assert_eq!(
            handle.wait_for_completion(WAIT).await.unwrap(),
            (1..=10).sum::<u64>()
        );
        assert!(!recorded.contains(&3) && !recorded.contains(&8));
        for step in recorded {
            assert_eq!(
                runs(&key, step),
                1,
                "{backend:?}: step {step} completed, yet ran again"
            );
        }
        assert_eq!(
            runs(&key, 3),
            2,
            "{backend:?}: the failed step runs once more"
        );
        runtime.shutdown().await;
    }
}

/// The steps whose success the history of `id` records.
async fn completed_steps(client: &DurableClient, id: &InstanceId) -> Vec<u32> {
    let history = client.read_history(id).await.unwrap();
    let mut steps = HashMap::new();
    let mut done = Vec::new();
    for event in &history {
        match &event.kind {
            EventKind::ActivityScheduled { input, .. } => {
                let (_, step, _): (String, u32, u64) = input.decode().unwrap();
                steps.insert(event.event_id, step);
            }
            EventKind::ActivityCompleted { scheduled_id, .. } => {
                done.push(steps[scheduled_id]);
            }
            _ => {}
        }
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinding_a_parent_rewinds_its_failed_sub_orchestration_which_keeps_its_own_results() {
    for backend in backends("rewind::sub_orchestration") {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let key = key("parent", backend);
        set_broken(&key, 5, true);
        let handle = ParentOfChain::start(&client, key.clone()).await.unwrap();
        let id = handle.instance_id().clone();
        handle.wait_for_completion(WAIT).await.unwrap_err();
        let child = InstanceId::new(format!("{key}-child")).unwrap();
        let child_status = client.get_status(&child).await.unwrap().unwrap();
        assert_eq!(child_status.runtime_status, RuntimeStatus::Failed);

        set_broken(&key, 5, false);
        client.rewind(&id, Some("fixed")).await.unwrap();
        let value = handle.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(value, (1..=10).sum::<u64>() + 100, "{backend:?}");
        for step in 1..=4 {
            assert_eq!(runs(&key, step), 1, "{backend:?}: child step {step}");
        }
        assert_eq!(runs(&key, 5), 2, "{backend:?}");
        assert_eq!(runs(&key, 100), 1, "{backend:?}");
        let child_status = client.get_status(&child).await.unwrap().unwrap();
        assert_eq!(child_status.runtime_status, RuntimeStatus::Completed);
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_finished_while_its_parent_was_failed_answers_the_rewound_parent() {
    for backend in backends("rewind::two_children") {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let key = key("two", backend);
        // Child a fails at its first step, so the parent fails at once, while child b
        // (ten steps) may still run: its result then reaches a Failed parent.
        set_broken(&format!("{key}-a"), 1, true);
        let handle = TwoChildren::start(&client, key.clone()).await.unwrap();
        let id = handle.instance_id().clone();
        handle.wait_for_completion(WAIT).await.unwrap_err();
        let b = InstanceId::new(format!("{key}-b")).unwrap();
        for _ in 0..3000 {
            let status = client.get_status(&b).await.unwrap().unwrap();
            if status.runtime_status.is_terminal() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        set_broken(&format!("{key}-a"), 1, false);
        client.rewind(&id, None).await.unwrap();
        assert_eq!(
            handle.wait_for_completion(WAIT).await.unwrap(),
            2 * (1..=10).sum::<u64>(),
            "{backend:?}"
        );
        for step in 1..=10 {
            assert_eq!(
                runs(&format!("{key}-b"), step),
                1,
                "{backend:?}: b's step {step}"
            );
        }
        assert_eq!(runs(&format!("{key}-a"), 1), 2, "{backend:?}");
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewound_retry_gets_a_fresh_budget_of_attempts() {
    let runtime = runtime(Backend::Memory).await;
    let client = runtime.client();
    let key = key("retry", Backend::Memory);
    set_broken(&key, 1, true);
    let handle = Retried::start(&client, key.clone()).await.unwrap();
    let id = handle.instance_id().clone();
    handle.wait_for_completion(WAIT).await.unwrap_err();
    assert_eq!(runs(&key, 1), 3, "three attempts before it failed");
    // Still broken: the rewound retry runs its three attempts again and fails again.
    client.rewind(&id, None).await.unwrap();
    wait_failed_after(&client, &id, || runs(&key, 1) >= 6).await;
    assert_eq!(runs(&key, 1), 6);
    set_broken(&key, 1, false);
    client.rewind(&id, Some("second try")).await.unwrap();
    assert_eq!(handle.wait_for_completion(WAIT).await.unwrap(), 1);
    assert_eq!(runs(&key, 1), 7);
    let history = client.read_history(&id).await.unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|e| e.kind.type_name() == "ExecutionRewound")
            .count(),
        2
    );
    runtime.shutdown().await;
}

/// Waits until `done()` holds and the instance is Failed again.
async fn wait_failed_after(client: &DurableClient, id: &InstanceId, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{id} did not re-run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_failed(client, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_instances_can_be_rewound() {
    let runtime = runtime(Backend::Memory).await;
    let client = runtime.client();
    let key = key("refused", Backend::Memory);
    let handle = Chain::start(&client, key.clone()).await.unwrap();
    handle.wait_for_completion(WAIT).await.unwrap();
    let error = client.rewind(handle.instance_id(), None).await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::InvalidState {
                status: RuntimeStatus::Completed,
                ..
            }
        ),
        "{error:?}"
    );
    let missing = InstanceId::new("no-such-instance").unwrap();
    let error = client.rewind(&missing, None).await.unwrap_err();
    assert!(
        matches!(error, ClientError::InstanceNotFound(_)),
        "{error:?}"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_rewinds_as_durable_functions_does() {
    let runtime = runtime(Backend::Memory).await;
    let client = runtime.client();
    let server = runtime
        .serve_http(HttpOptions::default().address("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let base = format!(
        "http://{}/runtime/webhooks/durabletask",
        server.local_addr()
    );
    let http = reqwest::Client::new();
    let key = key("http", Backend::Memory);
    set_broken(&key, 2, true);
    let handle = Chain::start(&client, key.clone()).await.unwrap();
    let id = handle.instance_id().clone();
    handle.wait_for_completion(WAIT).await.unwrap_err();
    set_broken(&key, 2, false);

    let url = |id: &str| format!("{base}/instances/{id}/rewind?reason=fixed%20it");
    let response = http.post(url(id.as_str())).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        handle.wait_for_completion(WAIT).await.unwrap(),
        (1..=10).sum::<u64>()
    );
    // Completed: 410 Gone, as Durable Functions answers; unknown: 404.
    let response = http.post(url(id.as_str())).send().await.unwrap();
    assert_eq!(response.status(), 410);
    let response = http.post(url("no-such-instance")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let history = client.read_history(&id).await.unwrap();
    assert!(history.iter().any(|e| matches!(
        &e.kind,
        EventKind::ExecutionRewound { reason: Some(r) } if r == "fixed it"
    )));
    server.shutdown().await;
    runtime.shutdown().await;
}
