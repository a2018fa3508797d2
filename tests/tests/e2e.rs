//! End-to-end tests through the public API: a real worker on the memory store and on a
//! SQLite file, driven by `DurableClient`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use durable_runtime::error_types::{ACTIVITY_NOT_REGISTERED, NON_DURABLE_AWAIT_ERROR, PANIC_ERROR};
use durable_runtime::history::EventKind;
use durable_runtime::prelude::*;
use durable_runtime::store::memory::MemoryStore;
use durable_runtime::store::{InstanceQuery, Store};
use durable_runtime::{ClientError, Registry, RegistryError, StoreError};

const WAIT: Duration = Duration::from_secs(30);

#[activity]
async fn say_hello(city: String) -> Result<String, ActivityError> {
    Ok(format!("Hello {city}!"))
}

#[activity]
async fn add_one(value: u64) -> u64 {
    value + 1
}

#[activity]
async fn who_am_i(ctx: ActivityContext) -> Result<(String, u32, String), ActivityError> {
    Ok((
        ctx.instance_id().to_string(),
        ctx.attempt(),
        ctx.name().to_owned(),
    ))
}

#[derive(Debug)]
struct DiskFull;

impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}

impl std::error::Error for DiskFull {}

#[activity]
async fn fails(_input: ()) -> Result<(), DiskFull> {
    Err(DiskFull)
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

#[activity]
async fn panics() -> Result<u32, ActivityError> {
    PANICS.fetch_add(1, Ordering::SeqCst);
    panic!("activity exploded");
}

#[activity]
async fn slow(millis: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    millis
}

#[orchestrator]
async fn hello_cities(
    ctx: OrchestrationContext,
    cities: Vec<String>,
) -> Result<Vec<String>, OrchestrationError> {
    let mut greetings = Vec::new();
    for city in cities {
        ctx.logger().info(format_args!("greeting {city}"));
        greetings.push(ctx.call_activity(SayHello, city).await?);
    }
    Ok(greetings)
}

#[orchestrator]
async fn fan_out_sum(ctx: OrchestrationContext, count: u64) -> Result<u64, OrchestrationError> {
    let calls: Vec<_> = (0..count).map(|i| ctx.call_activity(AddOne, i)).collect();
    let results = try_join_all(calls).await?;
    Ok(results.into_iter().sum())
}

#[orchestrator]
async fn counter_chain(ctx: OrchestrationContext, steps: u64) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for step in 0..steps {
        value = ctx.call_activity(AddOne, value).await?;
        ctx.set_custom_status(&serde_json::json!({ "step": step + 1 }))?;
    }
    Ok(value)
}

/// Each round waits for an activity and a raised event together, so activity results (which
/// commit with the next turn when they can) race events (which lease the instance).
#[orchestrator]
async fn results_race_events(
    ctx: OrchestrationContext,
    rounds: u64,
) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for _ in 0..rounds {
        let (next, bump) = futures::future::join(
            ctx.call_activity(AddOne, value),
            ctx.wait_for_external_event::<u64>("bump"),
        )
        .await;
        value = next? + bump?;
    }
    Ok(value)
}

#[orchestrator]
async fn introspect(
    ctx: OrchestrationContext,
) -> Result<(String, u32, String), OrchestrationError> {
    Ok(ctx.call_activity(WhoAmI, ()).await?)
}

#[orchestrator]
async fn handles_failure(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    match ctx.call_activity(Fails, ()).await {
        Ok(()) => Ok("no error".into()),
        Err(failed) => Ok(format!(
            "{} | {} | {}",
            failed.name, failed.details.error_type, failed.details.message
        )),
    }
}

#[orchestrator]
async fn propagates_failure(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    ctx.call_activity(Fails, ()).await?;
    Ok(())
}

#[orchestrator]
async fn survives_panic(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    let error = ctx
        .call_activity(Panics, ())
        .await
        .expect_err("the activity panics");
    Ok(format!(
        "{}: {}",
        error.details.error_type, error.details.message
    ))
}

#[orchestrator]
async fn calls_missing(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    Ok(ctx.call_activity(SayHello, "nowhere".to_owned()).await?)
}

#[orchestrator]
async fn waits_slowly(ctx: OrchestrationContext, millis: u64) -> Result<u64, OrchestrationError> {
    Ok(ctx.call_activity(Slow, millis).await?)
}

#[orchestrator]
async fn slow_chain(
    ctx: OrchestrationContext,
    (steps, millis): (u64, u64),
) -> Result<u64, OrchestrationError> {
    let mut total = 0;
    for _ in 0..steps {
        total += ctx.call_activity(Slow, millis).await?;
    }
    Ok(total)
}

/// A helper the compile-time lints cannot see into.
async fn wait_an_hour() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

// The `non_durable_await` probe refuses `wait_an_hour().await` at compile time; it is
// switched off here to test the run-time backstop behind it.
#[orchestrator(allow(non_durable_await))]
async fn sleeps_in_a_helper(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    wait_an_hour().await;
    Ok(())
}

#[orchestrator(name = "renamed_orchestration", handle = Renamed)]
async fn with_custom_name(_ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    Ok("renamed".into())
}

#[orchestrator(name = "clash")]
async fn clash_one(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Ok(())
}

#[orchestrator(name = "clash")]
async fn clash_two(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Ok(())
}

/// Every registration except the deliberate clash.
fn registry() -> Registry {
    Registry::builder()
        .activity::<SayHello>()
        .activity::<AddOne>()
        .activity::<WhoAmI>()
        .activity::<Fails>()
        .activity::<Panics>()
        .activity::<Slow>()
        .orchestration::<HelloCities>()
        .orchestration::<FanOutSum>()
        .orchestration::<CounterChain>()
        .orchestration::<Introspect>()
        .orchestration::<HandlesFailure>()
        .orchestration::<PropagatesFailure>()
        .orchestration::<SurvivesPanic>()
        .orchestration::<ResultsRaceEvents>()
        .orchestration::<WaitsSlowly>()
        .orchestration::<SlowChain>()
        .orchestration::<SleepsInAHelper>()
        .orchestration::<Renamed>()
        .build()
        .expect("registry")
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Sqlite,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Sqlite];

async fn runtime(backend: Backend) -> Runtime {
    let builder = Runtime::builder().registry(registry());
    let builder = match backend {
        Backend::Memory => builder.in_memory(),
        Backend::Sqlite => builder.sqlite(durable_tests::temp_dir("e2e").join("durable.db")),
    };
    builder.start().await.expect("runtime starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_chaining_returns_the_greetings_in_order() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let cities = vec![
            "Tokyo".to_owned(),
            "Seattle".to_owned(),
            "London".to_owned(),
        ];
        let instance = HelloCities::start(&client, cities).await.unwrap();
        let greetings = instance.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(
            greetings,
            ["Hello Tokyo!", "Hello Seattle!", "Hello London!"],
            "{backend:?}"
        );
        let status = instance.status().await.unwrap();
        assert_eq!(status.runtime_status, RuntimeStatus::Completed);
        assert_eq!(status.name, "hello_cities");
        assert_eq!(
            status.input.unwrap().as_json(),
            r#"["Tokyo","Seattle","London"]"#
        );
        assert!(status.last_updated_time >= status.created_time);

        let history = client.read_history(instance.instance_id()).await.unwrap();
        let scheduled: Vec<(i64, String)> = history
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ActivityScheduled { name, .. } => Some((e.event_id, name.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            scheduled,
            [
                (0, "say_hello".into()),
                (1, "say_hello".into()),
                (2, "say_hello".into())
            ]
        );
        assert_eq!(history[0].kind.type_name(), "OrchestratorStarted");
        assert_eq!(history[1].kind.type_name(), "ExecutionStarted");
        assert_eq!(
            history.last().unwrap().kind.type_name(),
            "ExecutionCompleted"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_results_racing_raised_events_are_each_applied_once() {
    const ROUNDS: u64 = 50;
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let mut instances = Vec::new();
        for _ in 0..4 {
            instances.push(ResultsRaceEvents::start(&client, ROUNDS).await.unwrap());
        }
        // Events arrive while activities run, finish and commit: some results find the
        // instance leased by an event's turn and take the message path, some commit with
        // the next turn directly. Either way each is applied exactly once.
        for round in 0..ROUNDS {
            for instance in &instances {
                client
                    .raise_event(instance.instance_id(), "bump", &1_u64)
                    .await
                    .unwrap();
            }
            if round % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        for instance in &instances {
            // Each round adds one (the activity) and one (the event).
            assert_eq!(
                instance.wait_for_completion(WAIT).await.unwrap(),
                2 * ROUNDS,
                "{backend:?}"
            );
            let history = client.read_history(instance.instance_id()).await.unwrap();
            let results = history
                .iter()
                .filter(|e| matches!(e.kind, EventKind::ActivityCompleted { .. }))
                .count();
            assert_eq!(
                results, ROUNDS as usize,
                "{backend:?}: one result per round"
            );
        }
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_fan_in_sums_every_result() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let instance = FanOutSum::start(&runtime.client(), 500).await.unwrap();
        let sum = instance.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(sum, (1..=500).sum::<u64>(), "{backend:?}");
        let history = runtime
            .client()
            .read_history(instance.instance_id())
            .await
            .unwrap();
        let scheduled_turns: Vec<usize> = history
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.kind, EventKind::ActivityScheduled { .. }))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(scheduled_turns.len(), 500);
        assert_eq!(
            scheduled_turns.last().unwrap() - scheduled_turns[0],
            499,
            "all scheduled in the first turn"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_instances_run_side_by_side() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let mut handles = Vec::new();
        for _ in 0..50 {
            handles.push(CounterChain::start(&client, 10).await.unwrap());
        }
        for handle in handles {
            assert_eq!(
                handle.wait_for_completion(WAIT).await.unwrap(),
                10,
                "{backend:?}"
            );
            let status = handle.status().await.unwrap();
            assert_eq!(status.custom_status.unwrap().as_json(), r#"{"step":10}"#);
        }
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_every_turn_gives_the_same_results() {
    let runtime = Runtime::builder()
        .registry(registry())
        .sqlite(durable_tests::temp_dir("always-replay").join("durable.db"))
        .always_replay(true)
        .start()
        .await
        .unwrap();
    let chain = CounterChain::start(&runtime.client(), 25).await.unwrap();
    let fan = FanOutSum::start(&runtime.client(), 50).await.unwrap();
    assert_eq!(chain.wait_for_completion(WAIT).await.unwrap(), 25);
    assert_eq!(
        fan.wait_for_completion(WAIT).await.unwrap(),
        (1..=50).sum::<u64>()
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_see_their_context() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let instance = runtime
            .client()
            .start_orchestration(Introspect, ())
            .instance_id("who-1")
            .await
            .unwrap();
        let (instance_id, attempt, name) = instance.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(
            (instance_id.as_str(), attempt, name.as_str()),
            ("who-1", 1, "who_am_i")
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_errors_reach_the_orchestrator_typed() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let handled = HandlesFailure::start(&runtime.client(), ()).await.unwrap();
        let message = handled.wait_for_completion(WAIT).await.unwrap();
        assert!(message.starts_with("fails | "), "{message}");
        assert!(message.ends_with("DiskFull | disk full"), "{message}");

        let propagated = PropagatesFailure::start(&runtime.client(), ())
            .await
            .unwrap();
        let error = propagated.wait_for_completion(WAIT).await.unwrap_err();
        let ClientError::OrchestrationFailed { failure, .. } = error else {
            panic!("expected a failed orchestration, got {error:?}");
        };
        assert!(
            failure.message.contains("activity `fails` failed"),
            "{failure}"
        );
        let inner = failure
            .inner
            .expect("the activity failure is kept as the cause");
        assert!(inner.error_type.ends_with("DiskFull"), "{inner}");
        assert_eq!(inner.message, "disk full");
        let status = propagated.status().await.unwrap();
        assert_eq!(status.runtime_status, RuntimeStatus::Failed);
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_activity_is_a_failed_activity_and_the_worker_goes_on() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let instance = SurvivesPanic::start(&runtime.client(), ()).await.unwrap();
        let message = instance.wait_for_completion(WAIT).await.unwrap();
        assert_eq!(message, format!("{PANIC_ERROR}: activity exploded"));
        let after = HelloCities::start(&runtime.client(), vec!["Oslo".into()])
            .await
            .unwrap();
        assert_eq!(
            after.wait_for_completion(WAIT).await.unwrap(),
            ["Hello Oslo!"],
            "worker still runs"
        );
        runtime.shutdown().await;
    }
    assert!(PANICS.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_activity_fails_the_call_clearly() {
    let registry = Registry::builder()
        .orchestration::<CallsMissing>()
        .build()
        .unwrap();
    let runtime = Runtime::builder()
        .registry(registry)
        .in_memory()
        .start()
        .await
        .unwrap();
    let instance = CallsMissing::start(&runtime.client(), ()).await.unwrap();
    let ClientError::OrchestrationFailed { failure, .. } =
        instance.wait_for_completion(WAIT).await.unwrap_err()
    else {
        panic!("expected failure");
    };
    let inner = failure.inner.unwrap();
    assert_eq!(inner.error_type, ACTIVITY_NOT_REGISTERED);
    assert!(
        inner.message.contains("`say_hello` is not registered"),
        "{inner}"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_durable_await_fails_the_instance_instead_of_hanging() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let instance = SleepsInAHelper::start(&runtime.client(), ()).await.unwrap();
        let error = instance.wait_for_completion(WAIT).await.unwrap_err();
        let ClientError::OrchestrationFailed { failure, .. } = error else {
            panic!("expected a failed instance, got {error:?}");
        };
        assert_eq!(
            failure.error_type, NON_DURABLE_AWAIT_ERROR,
            "{backend:?}: {failure}"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_names_and_handles_are_used() {
    let runtime = runtime(Backend::Memory).await;
    let instance = Renamed::start(&runtime.client(), ()).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), "renamed");
    assert_eq!(
        instance.status().await.unwrap().name,
        "renamed_orchestration"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_ids_are_checked_and_running_ids_are_not_reused() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        let bad = client
            .start_orchestration(HelloCities, vec![])
            .instance_id("a/b")
            .await
            .unwrap_err();
        assert!(matches!(bad, ClientError::InvalidInstanceId(_)), "{bad:?}");
        assert!(bad.to_string().contains("a/b"), "{bad}");

        let first = client
            .start_orchestration(WaitsSlowly, 300)
            .instance_id("singleton")
            .await
            .unwrap();
        let again = client
            .start_orchestration(WaitsSlowly, 1)
            .instance_id("singleton")
            .await
            .unwrap_err();
        assert!(
            matches!(
                again,
                ClientError::Store(StoreError::InstanceAlreadyExists { .. })
            ),
            "{again:?}"
        );
        assert!(again.to_string().contains("singleton"), "{again}");
        assert_eq!(first.wait_for_completion(WAIT).await.unwrap(), 300);
        let reused = client
            .start_orchestration(WaitsSlowly, 1)
            .instance_id("singleton")
            .await
            .unwrap();
        assert_eq!(
            reused.wait_for_completion(WAIT).await.unwrap(),
            1,
            "a finished id can be reused"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_times_out_with_the_current_status() {
    let runtime = runtime(Backend::Memory).await;
    let instance = WaitsSlowly::start(&runtime.client(), 2_000).await.unwrap();
    let error = instance
        .wait_for_completion(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Timeout {
                status: RuntimeStatus::Running | RuntimeStatus::Pending,
                ..
            }
        ),
        "{error:?}"
    );
    let unknown = runtime
        .client()
        .wait_for_completion(&InstanceId::new("nobody").unwrap(), WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, ClientError::InstanceNotFound(_)),
        "{unknown:?}"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_can_be_listed_by_status_and_paged() {
    for backend in BACKENDS {
        let runtime = runtime(backend).await;
        let client = runtime.client();
        for index in 0..5 {
            let handle = client
                .start_orchestration(HelloCities, vec![format!("city-{index}")])
                .instance_id(format!("list-{index}"))
                .await
                .unwrap();
            handle.wait_for_completion(WAIT).await.unwrap();
        }
        client
            .start_orchestration(WaitsSlowly, 1_000)
            .instance_id("list-slow")
            .await
            .unwrap();
        let query = InstanceQuery::default()
            .statuses(vec![RuntimeStatus::Completed])
            .page_size(2);
        let mut ids = Vec::new();
        let mut page = client.list_instances(&query).await.unwrap();
        loop {
            ids.extend(page.instances.iter().map(|s| s.instance_id.to_string()));
            let Some(token) = page.continuation_token.clone() else {
                break;
            };
            page = client
                .list_instances(&query.clone().continuation_token(Some(token)))
                .await
                .unwrap();
        }
        assert_eq!(
            ids,
            ["list-0", "list-1", "list-2", "list-3", "list-4"],
            "{backend:?}"
        );
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_running_activities_and_another_worker_resumes() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let first = Runtime::builder()
        .registry(registry())
        .store(store.clone())
        .start()
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let chain = SlowChain::start(&first.client(), (20, 30)).await.unwrap();
    let slow = WaitsSlowly::start(&first.client(), 400).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    first.shutdown().await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "shutdown returned before the running 400 ms activity finished"
    );
    let status = chain.status().await.unwrap();
    assert_eq!(
        status.runtime_status,
        RuntimeStatus::Running,
        "the chain was stopped half-way"
    );
    let progress = store
        .read_history(chain.instance_id())
        .await
        .unwrap()
        .unwrap()
        .len();
    // The activity that finished during shutdown had its result committed before shutdown
    // returned (in history, or queued for the next turn), not left to a lease expiry.
    let completed = |kind: &EventKind| matches!(kind, EventKind::ActivityCompleted { .. });
    let in_history = store
        .read_history(slow.instance_id())
        .await
        .unwrap()
        .unwrap()
        .iter()
        .any(|e| completed(&e.kind));
    let queued = store
        .fetch_orchestration_work_items(10, Duration::from_millis(1))
        .await
        .unwrap()
        .iter()
        .filter(|item| item.instance_id == *slow.instance_id())
        .any(|item| item.messages.iter().any(|m| completed(&m.event.kind)));
    assert!(
        in_history || queued,
        "the result of the activity that finished during shutdown was not committed"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;

    let second = Runtime::builder()
        .registry(registry())
        .store(store.clone())
        .start()
        .await
        .unwrap();
    assert_eq!(chain.wait_for_completion(WAIT).await.unwrap(), 20 * 30);
    assert_eq!(slow.wait_for_completion(WAIT).await.unwrap(), 400);
    assert!(
        store
            .read_history(chain.instance_id())
            .await
            .unwrap()
            .unwrap()
            .len()
            > progress
    );
    second.shutdown().await;
}

#[test]
fn duplicate_names_are_all_reported_and_an_empty_registry_is_refused() {
    let error = Registry::builder()
        .orchestration::<ClashOne>()
        .orchestration::<ClashTwo>()
        .orchestration::<HelloCities>()
        .build()
        .unwrap_err();
    let RegistryError::DuplicateNames(names) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(names.len(), 1);
    assert!(
        names[0].contains("ClashOne") && names[0].contains("ClashTwo"),
        "{error}"
    );
    assert_eq!(
        Registry::builder().build().unwrap_err(),
        RegistryError::Empty
    );
    let from_inventory = Registry::from_inventory().unwrap_err();
    assert!(
        from_inventory.to_string().contains("clash"),
        "inventory sees every macro registration: {from_inventory}"
    );
    // The same marker registered twice is not a clash.
    let registry = Registry::builder()
        .activity::<AddOne>()
        .activity::<AddOne>()
        .build()
        .unwrap();
    assert_eq!(registry.activity_names().collect::<Vec<_>>(), ["add_one"]);
}

#[tokio::test]
async fn a_runtime_without_a_store_is_an_error() {
    let error = Runtime::builder().start().await.unwrap_err();
    assert!(error.to_string().contains("no store configured"), "{error}");
}

/// A `MakeWriter` that appends everything to one shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

// A current-thread runtime, so the thread-local subscriber sees the dispatcher's events.
#[tokio::test]
async fn replay_safe_logging_writes_each_line_once_even_when_every_turn_replays() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = Runtime::builder()
        .registry(registry())
        .in_memory()
        .always_replay(true)
        .start()
        .await
        .unwrap();
    let cities: Vec<String> = ["Lima", "Quito", "Bogota"].map(String::from).into();
    let instance = HelloCities::start(&runtime.client(), cities).await.unwrap();
    instance.wait_for_completion(WAIT).await.unwrap();
    runtime.shutdown().await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for city in ["Lima", "Quito", "Bogota"] {
        let lines = log
            .lines()
            .filter(|l| l.contains(&format!("greeting {city}")))
            .count();
        assert_eq!(lines, 1, "`greeting {city}` logged {lines} times:\n{log}");
    }
    assert!(
        log.contains(&format!("instance_id={}", instance.instance_id())),
        "lines carry the instance id:\n{log}"
    );
}
