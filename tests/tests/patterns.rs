//! End-to-end tests of timers, external events, sub-orchestrations, retries,
//! continue-as-new, versioning, the history cap and instance control, through the public
//! API on the memory store and on SQLite.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use durable_runtime::error_types::{HISTORY_TOO_LONG, ORCHESTRATION_NOT_REGISTERED, TERMINATED};
use durable_runtime::history::EventKind;
use durable_runtime::prelude::*;
use durable_runtime::store::{InstanceQuery, PurgeQuery};
use durable_runtime::{ClientError, Registry, WorkerOptions};

const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sqlite,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Sqlite];

fn registry() -> Registry {
    Registry::builder()
        .activity::<Flaky>()
        .activity::<Double>()
        .orchestration::<Sleeper>()
        .orchestration::<Approval>()
        .orchestration::<TwoEvents>()
        .orchestration::<Ticker>()
        .orchestration::<Parent>()
        .orchestration::<Child>()
        .orchestration::<FailingChild>()
        .orchestration::<ParentOfFailing>()
        .orchestration::<Retrying>()
        .orchestration::<Counter>()
        .orchestration::<GreetV1>()
        .orchestration::<GreetV2>()
        .orchestration::<Doubler>()
        .orchestration::<WaitsForever>()
        .orchestration::<ParentOfWaiting>()
        .build()
        .unwrap()
}

async fn runtime_with(backend: Backend, options: WorkerOptions, registry: Registry) -> Runtime {
    let builder = Runtime::builder().registry(registry).options(options);
    match backend {
        Backend::Memory => builder.in_memory(),
        Backend::Sqlite => builder.sqlite(durable_tests::temp_dir("patterns").join("durable.db")),
    }
    .start()
    .await
    .unwrap()
}

async fn runtime(backend: Backend) -> Runtime {
    runtime_with(backend, WorkerOptions::default(), registry()).await
}

/// A store that a client and, later, a runtime share.
fn shared_store(backend: Backend) -> std::sync::Arc<dyn durable_runtime::store::Store> {
    match backend {
        Backend::Memory => std::sync::Arc::new(durable_runtime::store::memory::MemoryStore::new()),
        Backend::Sqlite => std::sync::Arc::new(
            durable_runtime::store::sqlite::SqliteStore::open(
                durable_tests::temp_dir("shared").join("durable.db"),
            )
            .unwrap(),
        ),
    }
}

/// How many events of one kind (`"TimerFired"`) a history holds.
fn count_events(history: &[durable_runtime::history::HistoryEvent], kind: &str) -> usize {
    history
        .iter()
        .filter(|e| e.kind.type_name() == kind)
        .count()
}

fn id(text: &str) -> InstanceId {
    InstanceId::new(text).unwrap()
}

// ---------------------------------------------------------------- orchestrations

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ApprovalEvent {
    approved: bool,
    by: String,
}

impl ExternalEvent for ApprovalEvent {
    const NAME: &'static str = "ApprovalEvent";
}

/// Sleeps on a durable timer and returns the orchestration time that passed, in ms.
#[orchestrator]
async fn sleeper(ctx: OrchestrationContext, millis: u64) -> Result<i64, OrchestrationError> {
    let start = ctx.current_time();
    let fired = ctx.create_timer(Duration::from_millis(millis)).await;
    assert_eq!(
        fired,
        start + chrono::TimeDelta::milliseconds(millis as i64)
    );
    Ok((ctx.current_time() - start).num_milliseconds())
}

/// Waits for an approval, or gives up after `timeout_ms`.
#[orchestrator]
async fn approval(
    ctx: OrchestrationContext,
    timeout_ms: u64,
) -> Result<String, OrchestrationError> {
    match ctx
        .wait_for_event_with_timeout::<ApprovalEvent>(Duration::from_millis(timeout_ms))
        .await
    {
        Ok(event) => Ok(format!("approved={} by {}", event.approved, event.by)),
        Err(EventError::TimedOut { .. }) => Ok("escalated".into()),
        Err(other) => Err(other.into()),
    }
}

/// Waits for two `x` events, then a `y`.
#[orchestrator]
async fn two_events(ctx: OrchestrationContext) -> Result<Vec<i64>, OrchestrationError> {
    let first: i64 = ctx.wait_for_external_event("x").await?;
    let second: i64 = ctx.wait_for_external_event("X").await?;
    let third: i64 = ctx.wait_for_external_event("y").await?;
    Ok(vec![first, second, third])
}

/// Consumes one `tick` per generation and continues as new until `target`.
#[orchestrator]
async fn ticker(
    ctx: OrchestrationContext,
    (seen, target, keep): (u32, u32, bool),
) -> Result<u32, OrchestrationError> {
    if seen == target {
        return Ok(seen);
    }
    let _: u32 = ctx.wait_for_external_event("tick").await?;
    if keep {
        ctx.continue_as_new_keeping_events(Ticker, (seen + 1, target, keep));
    } else {
        ctx.continue_as_new(Ticker, (seen + 1, target, keep));
    }
    Ok(seen)
}

#[orchestrator]
async fn child(
    ctx: OrchestrationContext,
    value: u64,
) -> Result<(u64, Option<String>), OrchestrationError> {
    Ok((value * 10, ctx.parent_instance_id().map(|p| p.to_string())))
}

#[orchestrator]
async fn parent(
    ctx: OrchestrationContext,
    values: Vec<u64>,
) -> Result<Vec<(u64, Option<String>, String)>, OrchestrationError> {
    let calls: Vec<_> = values
        .into_iter()
        .map(|v| ctx.call_sub_orchestrator(Child, v))
        .collect();
    let ids: Vec<String> = calls.iter().map(|c| c.instance_id().to_string()).collect();
    let results = try_join_all(calls).await?;
    Ok(results
        .into_iter()
        .zip(ids)
        .map(|((value, parent), id)| (value, parent, id))
        .collect())
}

#[orchestrator]
async fn failing_child(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Err(OrchestrationError::new("the child gave up"))
}

#[orchestrator]
async fn parent_of_failing(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    let error = ctx
        .call_sub_orchestrator_with_id(FailingChild, InstanceId::new("failing-child").unwrap(), ())
        .await
        .expect_err("the child fails");
    Ok(format!(
        "{} | {} | {}",
        error.name, error.instance_id, error.details.message
    ))
}

#[orchestrator]
async fn waits_forever(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let _: () = ctx.wait_for_external_event("never").await?;
    Ok(())
}

#[orchestrator]
async fn parent_of_waiting(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    match ctx
        .call_sub_orchestrator_with_id(WaitsForever, InstanceId::new("waiting-child").unwrap(), ())
        .await
    {
        Ok(()) => Ok("child finished".into()),
        Err(error) => Ok(error.details.error_type),
    }
}

static ATTEMPTS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

/// Fails until it has been called `succeed_on` times for `key`; `fatal` fails non-retriably.
#[activity]
async fn flaky((key, succeed_on, fatal): (String, u32, bool)) -> Result<u32, ActivityError> {
    let mut attempts = ATTEMPTS.lock().unwrap();
    let count = attempts
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default();
    *count += 1;
    if fatal {
        return Err(ActivityError::new("fatal").non_retriable());
    }
    if *count < succeed_on {
        return Err(ActivityError::new(format!("attempt {count} failed")));
    }
    Ok(*count)
}

#[orchestrator]
async fn retrying(
    ctx: OrchestrationContext,
    (key, succeed_on, fatal, attempts): (String, u32, bool, u32),
) -> Result<u32, OrchestrationError> {
    let policy =
        RetryPolicy::new(attempts, Duration::from_millis(100)).with_backoff_coefficient(2.0);
    Ok(ctx
        .call_activity_with_retry(Flaky, (key, succeed_on, fatal), &policy)
        .await?)
}

/// Counts up to `target` one generation at a time.
#[orchestrator]
async fn counter(
    ctx: OrchestrationContext,
    (count, target): (u32, u32),
) -> Result<u32, OrchestrationError> {
    if count < target {
        ctx.continue_as_new(Counter, (count + 1, target));
    }
    Ok(count)
}

#[orchestrator(name = "greet", version = "1")]
async fn greet_v1(ctx: OrchestrationContext, name: String) -> Result<String, OrchestrationError> {
    let _: () = ctx.wait_for_external_event("go").await?;
    Ok(format!(
        "hello {name} from {}",
        ctx.version().unwrap_or_default()
    ))
}

#[orchestrator(name = "greet", version = "2")]
async fn greet_v2(ctx: OrchestrationContext, name: String) -> Result<String, OrchestrationError> {
    let _: () = ctx.wait_for_external_event("go").await?;
    Ok(format!(
        "HELLO {name} FROM {}",
        ctx.version().unwrap_or_default()
    ))
}

#[orchestrator(name = "greet", version = "3")]
async fn greet_v3(_ctx: OrchestrationContext, name: String) -> Result<String, OrchestrationError> {
    Ok(name)
}

#[activity]
async fn double(value: u64) -> u64 {
    value * 2
}

#[orchestrator]
async fn doubler(ctx: OrchestrationContext, steps: u64) -> Result<u64, OrchestrationError> {
    let mut value = 1;
    for _ in 0..steps {
        value = ctx.call_activity(Double, value).await?;
    }
    Ok(value)
}

// ---------------------------------------------------------------- timers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_timers_fire_at_their_time() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let started = std::time::Instant::now();
        let elapsed = Sleeper::start(&runtime.client(), 300)
            .await
            .unwrap()
            .wait_for_completion(WAIT)
            .await
            .unwrap();
        assert!(
            elapsed >= 300,
            "{backend:?}: orchestration time moved {elapsed} ms"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{backend:?}: fired early"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_due_while_no_worker_runs_fires_once_after_restart() {
    let path = durable_tests::temp_dir("timer-restart").join("durable.db");
    let first = Runtime::builder()
        .registry(registry())
        .sqlite(&path)
        .start()
        .await
        .unwrap();
    let instance = Sleeper::start(&first.client(), 500).await.unwrap();
    // Wait until the timer is recorded, then stop every worker before it is due.
    loop {
        let history = first
            .client()
            .read_history(instance.instance_id())
            .await
            .unwrap();
        if history
            .iter()
            .any(|e| matches!(e.kind, EventKind::TimerCreated { .. }))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.shutdown().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = Runtime::builder()
        .registry(registry())
        .sqlite(&path)
        .start()
        .await
        .unwrap();
    let handle = second
        .client()
        .instance::<Sleeper>(instance.instance_id().clone());
    assert!(handle.wait_for_completion(WAIT).await.unwrap() >= 500);
    let history = second
        .client()
        .read_history(instance.instance_id())
        .await
        .unwrap();
    let fired = count_events(&history, "TimerFired");
    assert_eq!(fired, 1, "the timer fires exactly once");
    second.shutdown().await;
}

// ---------------------------------------------------------------- external events

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_events_and_timeouts() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let waiting = Approval::start(&client, 30_000).await.unwrap();
        let event = ApprovalEvent {
            approved: true,
            by: "ana".into(),
        };
        client.raise(waiting.instance_id(), &event).await.unwrap();
        assert_eq!(
            waiting.wait_for_completion(WAIT).await.unwrap(),
            "approved=true by ana",
            "{backend:?}"
        );
        let timing_out = Approval::start(&client, 200).await.unwrap();
        assert_eq!(
            timing_out.wait_for_completion(WAIT).await.unwrap(),
            "escalated",
            "{backend:?}"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_raised_before_anyone_waits_are_kept_in_order() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let instance = client
            .start_orchestration(TwoEvents, ())
            .instance_id("events-early")
            .await
            .unwrap();
        // All raised at once, before the orchestrator has run a single turn: buffered,
        // FIFO per name, names case-insensitive.
        client
            .raise_event(instance.instance_id(), "y", &3)
            .await
            .unwrap();
        client
            .raise_event(instance.instance_id(), "x", &1)
            .await
            .unwrap();
        client
            .raise_event(instance.instance_id(), "X", &2)
            .await
            .unwrap();
        assert_eq!(
            instance.wait_for_completion(WAIT).await.unwrap(),
            [1, 2, 3],
            "{backend:?}"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_to_unknown_or_finished_instances_is_an_error() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let unknown = client
            .raise_event(&id("nobody"), "x", &1)
            .await
            .unwrap_err();
        assert!(
            matches!(unknown, ClientError::InstanceNotFound(_)),
            "{unknown:?}"
        );
        let done = Counter::start(&client, (0, 0)).await.unwrap();
        done.wait_for_completion(WAIT).await.unwrap();
        let finished = client
            .raise_event(done.instance_id(), "x", &1)
            .await
            .unwrap_err();
        assert!(
            matches!(
                finished,
                ClientError::InvalidState {
                    status: RuntimeStatus::Completed,
                    ..
                }
            ),
            "{finished:?}"
        );
        assert!(
            finished.to_string().contains("cannot raise an event to"),
            "{finished}"
        );
        runtime.shutdown().await;
    }
}

// ---------------------------------------------------------------- continue-as-new

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_restarts_with_fresh_history() {
    for backend in BACKENDS {
        // Start it before any worker runs, so the first execution id is read for sure.
        let store = shared_store(backend);
        let client = DurableClient::new(store.clone());
        let instance = Counter::start(&client, (0, 25)).await.unwrap();
        let first_execution = instance.status().await.unwrap().execution_id;
        let runtime = Runtime::builder()
            .registry(registry())
            .store(store)
            .start()
            .await
            .unwrap();
        assert_eq!(
            instance.wait_for_completion(WAIT).await.unwrap(),
            25,
            "{backend:?}"
        );
        let status = instance.status().await.unwrap();
        assert_ne!(status.execution_id, first_execution, "a new execution id");
        assert_eq!(status.input.unwrap().as_json(), "[25,25]");
        let history = client.read_history(instance.instance_id()).await.unwrap();
        assert!(
            history.len() <= 4,
            "only the last generation's history is kept: {history:#?}"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_between_generations_are_kept_when_asked() {
    for backend in BACKENDS {
        // Start both instances and raise every tick before any worker runs, so the first
        // turn sees all of them: one is consumed, the others are unprocessed when the
        // generation ends.
        let store = shared_store(backend);
        let client = DurableClient::new(store.clone());
        let keeping = client
            .start_orchestration(Ticker, (0, 3, true))
            .instance_id("ticker-keep")
            .await
            .unwrap();
        let dropping = client
            .start_orchestration(Ticker, (0, 3, false))
            .instance_id("ticker-drop")
            .await
            .unwrap();
        for tick in 0..3u32 {
            client
                .raise_event(keeping.instance_id(), "tick", &tick)
                .await
                .unwrap();
            client
                .raise_event(dropping.instance_id(), "tick", &tick)
                .await
                .unwrap();
        }
        let runtime = Runtime::builder()
            .registry(registry())
            .store(store)
            .start()
            .await
            .unwrap();
        assert_eq!(
            keeping.wait_for_completion(WAIT).await.unwrap(),
            3,
            "{backend:?}: every tick was kept"
        );
        // Without keeping, the unprocessed ticks are dropped at continue-as-new (Durable
        // Functions' in-process default), so the second generation waits for a tick.
        let error = dropping
            .wait_for_completion(Duration::from_millis(500))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::Timeout { .. }),
            "{backend:?}: {error:?}"
        );
        let status = dropping.status().await.unwrap();
        assert_eq!(
            status.input.unwrap().as_json(),
            "[1,3,false]",
            "{backend:?}: in its second generation"
        );
        runtime.shutdown().await;
    }
}

// ---------------------------------------------------------------- sub-orchestrations

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_orchestrations_return_typed_results_with_deterministic_ids() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let instance = client
            .start_orchestration(Parent, vec![1, 2, 3])
            .instance_id("parent-1")
            .await
            .unwrap();
        let results = instance.wait_for_completion(WAIT).await.unwrap();
        let execution = instance.status().await.unwrap().execution_id;
        assert_eq!(results.len(), 3);
        for (seq, (value, parent, child_id)) in results.into_iter().enumerate() {
            assert_eq!(value, (seq as u64 + 1) * 10);
            assert_eq!(parent.as_deref(), Some("parent-1"));
            assert_eq!(
                child_id,
                format!("{execution}:{seq}"),
                "DTF's deterministic child id"
            );
            let child = client.get_status(&id(&child_id)).await.unwrap().unwrap();
            assert_eq!(child.parent_instance_id, Some(id("parent-1")));
        }
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_child_reaches_the_parent_as_a_typed_error() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let message = ParentOfFailing::start(&runtime.client(), ())
            .await
            .unwrap()
            .wait_for_completion(WAIT)
            .await
            .unwrap();
        assert_eq!(
            message, "failing_child | failing-child | the child gave up",
            "{backend:?}"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_recursively_stops_children_and_a_terminated_child_fails_its_parent() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        // Terminating the child alone: the parent sees a typed failure.
        let parent = client
            .start_orchestration(ParentOfWaiting, ())
            .instance_id("parent-a")
            .await
            .unwrap();
        wait_until_running(&client, &id("waiting-child")).await;
        client
            .terminate(
                &id("waiting-child"),
                Some("no longer needed"),
                TerminateScope::Instance,
            )
            .await
            .unwrap();
        assert_eq!(
            parent.wait_for_completion(WAIT).await.unwrap(),
            TERMINATED,
            "{backend:?}"
        );
        client.purge(&id("waiting-child")).await.unwrap();

        // Terminating the parent recursively: both end Terminated.
        let parent = client
            .start_orchestration(ParentOfWaiting, ())
            .instance_id("parent-b")
            .await
            .unwrap();
        wait_until_running(&client, &id("waiting-child")).await;
        client
            .terminate(
                parent.instance_id(),
                Some("shutting down"),
                TerminateScope::WithSubOrchestrations,
            )
            .await
            .unwrap();
        let error = parent.wait_for_completion(WAIT).await.unwrap_err();
        assert!(
            matches!(&error, ClientError::OrchestrationTerminated { reason: Some(r), .. } if r == "shutting down"),
            "{backend:?}: {error:?}"
        );
        let child = client
            .wait_for_completion(&id("waiting-child"), WAIT)
            .await
            .unwrap();
        assert_eq!(child.runtime_status, RuntimeStatus::Terminated);
        runtime.shutdown().await;
    }
}

async fn wait_until_running(client: &DurableClient, instance: &InstanceId) {
    for _ in 0..2000 {
        if let Some(status) = client.get_status(instance).await.unwrap()
            && status.runtime_status == RuntimeStatus::Running
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{instance} never started running");
}

// ---------------------------------------------------------------- retries

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_policy() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let key = format!("retry-{backend:?}");
        let instance = Retrying::start(&client, (key.clone(), 3, false, 5))
            .await
            .unwrap();
        assert_eq!(
            instance.wait_for_completion(WAIT).await.unwrap(),
            3,
            "{backend:?}: third attempt succeeds"
        );
        let history = client.read_history(instance.instance_id()).await.unwrap();
        let attempts = count_events(&history, "ActivityScheduled");
        assert_eq!(attempts, 3);
        let timers: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = history
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::TimerCreated { fire_at } => Some((e.timestamp, fire_at)),
                _ => None,
            })
            .collect();
        let waits: Vec<i64> = timers
            .iter()
            .map(|(at, fire)| (*fire - *at).num_milliseconds())
            .collect();
        assert_eq!(
            waits,
            [100, 200],
            "{backend:?}: backoff 100 ms × 2^n, as durable timers"
        );

        let exhausted = Retrying::start(&client, (format!("{key}-x"), 10, false, 2))
            .await
            .unwrap();
        let error = exhausted.wait_for_completion(WAIT).await.unwrap_err();
        let ClientError::OrchestrationFailed { failure, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(
            failure.inner.unwrap().message,
            "attempt 2 failed",
            "gives up after max attempts"
        );

        let fatal = Retrying::start(&client, (format!("{key}-f"), 1, true, 5))
            .await
            .unwrap();
        let error = fatal.wait_for_completion(WAIT).await.unwrap_err();
        assert!(
            matches!(error, ClientError::OrchestrationFailed { .. }),
            "{error:?}"
        );
        let history = client.read_history(fatal.instance_id()).await.unwrap();
        let attempts = count_events(&history, "ActivityScheduled");
        assert_eq!(attempts, 1, "a non-retriable error stops at once");
        runtime.shutdown().await;
    }
}

// ---------------------------------------------------------------- versioning

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_run_side_by_side_and_a_missing_version_fails_clearly() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let old = GreetV1::start(&client, "ana".into()).await.unwrap();
        let new = GreetV2::start(&client, "bo".into()).await.unwrap();
        for handle in [old.instance_id(), new.instance_id()] {
            client.raise_event(handle, "go", &()).await.unwrap();
        }
        assert_eq!(
            old.wait_for_completion(WAIT).await.unwrap(),
            "hello ana from 1"
        );
        assert_eq!(
            new.wait_for_completion(WAIT).await.unwrap(),
            "HELLO bo FROM 2"
        );
        assert_eq!(old.status().await.unwrap().version.as_deref(), Some("1"));
        assert_eq!(
            registry().latest_orchestration_version("greet"),
            Some(Some("2"))
        );

        // Version 3 exists in code but no worker here registers it.
        let orphan = GreetV3::start(&client, "cy".into()).await.unwrap();
        let error = orphan.wait_for_completion(WAIT).await.unwrap_err();
        let ClientError::OrchestrationFailed { failure, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(
            failure.error_type, ORCHESTRATION_NOT_REGISTERED,
            "{backend:?}"
        );
        assert!(
            failure.message.contains("version `3`") && failure.message.contains("`1`, `2`"),
            "{failure}"
        );
        runtime.shutdown().await;
    }
}

// ---------------------------------------------------------------- history cap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_cap_fails_the_instance_and_points_to_continue_as_new() {
    let options = WorkerOptions::default().max_history_events(20);
    for backend in BACKENDS {
        let runtime = runtime_with(backend, options.clone(), registry()).await;
        let short = Doubler::start(&runtime.client(), 3).await.unwrap();
        assert_eq!(short.wait_for_completion(WAIT).await.unwrap(), 8);
        let long = Doubler::start(&runtime.client(), 50).await.unwrap();
        let error = long.wait_for_completion(WAIT).await.unwrap_err();
        let ClientError::OrchestrationFailed { failure, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(failure.error_type, HISTORY_TOO_LONG, "{backend:?}");
        assert!(failure.message.contains("continue_as_new"), "{failure}");
        // The turn that would pass the cap is recorded as the failure: its start, the
        // events it consumed and the ExecutionCompleted, but none of its new calls.
        let history = runtime
            .client()
            .read_history(long.instance_id())
            .await
            .unwrap();
        assert!(
            history.len() <= 20 + 3,
            "{backend:?}: the history stops at the cap ({})",
            history.len()
        );
        let calls = count_events(&history, "ActivityScheduled");
        assert!(
            calls < 10,
            "{backend:?}: no more calls after the cap ({calls})"
        );
        runtime.shutdown().await;
    }
}

// ---------------------------------------------------------------- instance control

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_suspend_resume_and_their_invalid_transitions() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();

        let waiting = client
            .start_orchestration(TwoEvents, ())
            .instance_id("controlled")
            .await
            .unwrap();
        wait_until_running(&client, waiting.instance_id()).await;
        // As in Durable Functions, a redundant resume is queued and a no-op when applied
        // (the history below holds one suspend and one resume).
        client.resume(waiting.instance_id(), None).await.unwrap();

        client
            .suspend(waiting.instance_id(), Some("maintenance"))
            .await
            .unwrap();
        wait_for_status(&client, waiting.instance_id(), RuntimeStatus::Suspended).await;
        // Suspending a suspended instance: queued, a no-op when applied.
        client.suspend(waiting.instance_id(), None).await.unwrap();
        for (name, value) in [("x", 1), ("x", 2), ("y", 3)] {
            client
                .raise_event(waiting.instance_id(), name, &value)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            waiting.status().await.unwrap().runtime_status,
            RuntimeStatus::Suspended,
            "events wait while suspended"
        );
        client
            .resume(waiting.instance_id(), Some("done"))
            .await
            .unwrap();
        assert_eq!(
            waiting.wait_for_completion(WAIT).await.unwrap(),
            [1, 2, 3],
            "{backend:?}: applied on resume"
        );
        let kinds: Vec<&str> = client
            .read_history(waiting.instance_id())
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.type_name())
            .filter(|k| k.starts_with("Execution"))
            .collect();
        assert_eq!(
            kinds,
            [
                "ExecutionStarted",
                "ExecutionSuspended",
                "ExecutionResumed",
                "ExecutionCompleted"
            ]
        );

        let doomed = client
            .start_orchestration(TwoEvents, ())
            .instance_id("doomed")
            .await
            .unwrap();
        client.suspend(doomed.instance_id(), None).await.unwrap();
        client
            .terminate(
                doomed.instance_id(),
                Some("cancelled by user"),
                TerminateScope::Instance,
            )
            .await
            .unwrap();
        let error = doomed.wait_for_completion(WAIT).await.unwrap_err();
        assert!(
            matches!(&error, ClientError::OrchestrationTerminated { reason: Some(r), .. } if r == "cancelled by user"),
            "{error:?}"
        );
        let twice = client
            .terminate(doomed.instance_id(), None, TerminateScope::Instance)
            .await
            .unwrap_err();
        assert!(
            matches!(
                twice,
                ClientError::InvalidState {
                    status: RuntimeStatus::Terminated,
                    ..
                }
            ),
            "{twice:?}"
        );
        let missing = client.suspend(&id("nobody"), None).await.unwrap_err();
        assert!(
            matches!(missing, ClientError::InstanceNotFound(_)),
            "{missing:?}"
        );
        runtime.shutdown().await;
    }
}

async fn wait_for_status(client: &DurableClient, instance: &InstanceId, want: RuntimeStatus) {
    for _ in 0..2000 {
        if client
            .get_status(instance)
            .await
            .unwrap()
            .unwrap()
            .runtime_status
            == want
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{instance} never became {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_and_restart() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let running = client
            .start_orchestration(TwoEvents, ())
            .instance_id("still-running")
            .await
            .unwrap();
        let refused = client.purge(running.instance_id()).await.unwrap_err();
        assert!(
            matches!(refused, ClientError::InvalidState { .. }),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("cannot purge"), "{refused}");

        let done = client
            .start_orchestration(Doubler, 2)
            .instance_id("done")
            .await
            .unwrap();
        assert_eq!(done.wait_for_completion(WAIT).await.unwrap(), 4);
        let restarted = client
            .restart(done.instance_id(), RestartAs::NewInstanceId)
            .await
            .unwrap();
        assert_ne!(&restarted, done.instance_id());
        assert_eq!(
            client
                .instance::<Doubler>(restarted.clone())
                .wait_for_completion(WAIT)
                .await
                .unwrap(),
            4
        );
        let same = client
            .restart(done.instance_id(), RestartAs::SameInstanceId)
            .await
            .unwrap();
        assert_eq!(&same, done.instance_id());
        assert_eq!(done.wait_for_completion(WAIT).await.unwrap(), 4);

        client.purge(done.instance_id()).await.unwrap();
        assert!(
            client
                .get_status(done.instance_id())
                .await
                .unwrap()
                .is_none()
        );
        let purged = client
            .purge_instances(&PurgeQuery::default())
            .await
            .unwrap();
        assert_eq!(
            purged, 1,
            "{backend:?}: the restarted copy; the running one stays"
        );
        let left = client
            .list_instances(&InstanceQuery::default())
            .await
            .unwrap();
        assert_eq!(left.instances.len(), 1);
        runtime.shutdown().await;
    }
}

/// A wait with no practical deadline (`Duration::MAX`) waits, and returns the result; it
/// does not overflow the deadline (issue #14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_without_a_deadline_returns_the_result() {
    for backend in BACKENDS {
        let runtime = runtime_with(backend, WorkerOptions::default(), registry()).await;
        let handle = Doubler::start(&runtime.client(), 3).await.unwrap();
        assert_eq!(
            handle.wait_for_completion(Duration::MAX).await.unwrap(),
            8,
            "{backend:?}"
        );
        runtime.shutdown().await;
    }
}

/// A suspend followed at once by a resume (before the suspend is applied) ends Running, as
/// in Durable Functions: both are queued and applied in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_then_resume_at_once_ends_running() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let handle = client
            .start_orchestration(TwoEvents, ())
            .instance_id("flicker")
            .await
            .unwrap();
        client.suspend(handle.instance_id(), None).await.unwrap();
        client.resume(handle.instance_id(), None).await.unwrap();
        for (name, value) in [("x", 1), ("x", 2), ("y", 3)] {
            client
                .raise_event(handle.instance_id(), name, &value)
                .await
                .unwrap();
        }
        assert_eq!(
            handle.wait_for_completion(WAIT).await.unwrap(),
            [1, 2, 3],
            "{backend:?}: not left suspended"
        );
        runtime.shutdown().await;
    }
}
