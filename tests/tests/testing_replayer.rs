//! The test kit's replayer: a history recorded from one version of an orchestrator, replayed
//! against deliberately changed code (caught, with the sequence number and the source line)
//! and against compatible changes (accepted).
//!
//! Three orchestrators share the registered name `order` here, as two builds of one
//! program would, so every registry is built by hand (`Registry::from_inventory` would
//! report the clash).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use durable_runtime::prelude::*;
use durable_runtime::testing::{HistoryExport, ReplayError, Replayer, TestEnvironment};
use durable_runtime::{Registry, history::HistoryEvent};

#[activity]
async fn reserve(item: String) -> Result<u32, ActivityError> {
    Ok(u32::try_from(item.len()).unwrap_or(0))
}

#[activity]
async fn charge(quantity: u32) -> Result<(), ActivityError> {
    let _ = quantity;
    Ok(())
}

#[activity]
async fn ship(item: String) -> Result<(), ActivityError> {
    let _ = item;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Paid;

impl ExternalEvent for Paid {
    const NAME: &'static str = "Paid";
}

/// The code that recorded the histories: reserve, wait until paid, charge.
#[orchestrator(name = "order")]
async fn order_v1(ctx: OrchestrationContext, item: String) -> Result<String, OrchestrationError> {
    let quantity = ctx.call_activity(Reserve, item).await?;
    ctx.wait_for_event::<Paid>().await?;
    ctx.call_activity(Charge, quantity).await?;
    Ok("done".into())
}

/// Deliberately incompatible: charges before it reserves.
#[orchestrator(name = "order", handle = OrderReordered)]
async fn order_reordered(
    ctx: OrchestrationContext,
    item: String,
) -> Result<String, OrchestrationError> {
    ctx.call_activity(Charge, 1).await?;
    let quantity = ctx.call_activity(Reserve, item).await?;
    ctx.wait_for_event::<Paid>().await?;
    ctx.call_activity(Charge, quantity).await?;
    Ok("done".into())
}

/// Ships between payment and charge: new work after what a waiting instance recorded, but a
/// different end for a finished one.
#[orchestrator(name = "order", handle = OrderShipsFirst)]
async fn order_ships_first(
    ctx: OrchestrationContext,
    item: String,
) -> Result<String, OrchestrationError> {
    let quantity = ctx.call_activity(Reserve, item.clone()).await?;
    ctx.wait_for_event::<Paid>().await?;
    ctx.call_activity(Ship, item).await?;
    ctx.call_activity(Charge, quantity).await?;
    Ok("done".into())
}

/// The versioned way to change it: version 2, registered beside the kept version 1.
#[orchestrator(name = "order", version = "2")]
async fn order_v2(ctx: OrchestrationContext, item: String) -> Result<String, OrchestrationError> {
    let quantity = ctx.call_activity(Reserve, item.clone()).await?;
    ctx.wait_for_event::<Paid>().await?;
    if ctx.version().as_deref() == Some("2") {
        ctx.call_activity(Ship, item).await?;
    }
    ctx.call_activity(Charge, quantity).await?;
    Ok("done".into())
}

fn activities() -> durable_runtime::RegistryBuilder {
    Registry::builder()
        .activity::<Reserve>()
        .activity::<Charge>()
        .activity::<Ship>()
}

/// The histories of `order_v1`: one instance waiting for `Paid`, one finished.
async fn recorded() -> (Vec<HistoryEvent>, Vec<HistoryEvent>) {
    let registry = activities()
        .orchestration::<OrderV1>()
        .build()
        .expect("the test setup works");
    let env = TestEnvironment::builder()
        .registry(registry)
        .start()
        .await
        .expect("the test setup works");
    let waiting = OrderV1::start(&env.client(), "book".into())
        .await
        .expect("the test setup works");
    env.wait_for_event_waiter::<Paid>(waiting.instance_id())
        .await
        .expect("the test setup works");
    let finished = OrderV1::start(&env.client(), "lamp".into())
        .await
        .expect("the test setup works");
    env.wait_for_event_waiter::<Paid>(finished.instance_id())
        .await
        .expect("the test setup works");
    env.raise_event(finished.instance_id(), &Paid)
        .await
        .expect("the test setup works");
    assert_eq!(
        env.run_until_complete(&finished)
            .await
            .expect("the test setup works"),
        "done"
    );
    let histories = (
        env.history(waiting.instance_id())
            .await
            .expect("the test setup works"),
        env.history(finished.instance_id())
            .await
            .expect("the test setup works"),
    );
    env.shutdown().await;
    histories
}

fn replayer<O: Orchestration>() -> Replayer {
    Replayer::with_registry(
        activities()
            .orchestration::<O>()
            .build()
            .expect("the test setup works"),
    )
}

#[tokio::test]
async fn the_recorded_code_replays_its_own_histories() {
    let (waiting, finished) = recorded().await;
    replayer::<OrderV1>().replay(&waiting).unwrap();
    replayer::<OrderV1>().replay(&finished).unwrap();
}

#[tokio::test]
async fn a_reordered_orchestrator_is_caught_at_the_first_changed_call_with_its_line() {
    let (waiting, finished) = recorded().await;
    for history in [&waiting, &finished] {
        match replayer::<OrderReordered>().replay(history) {
            Err(ReplayError::Nondeterminism {
                sequence_number,
                expected,
                actual,
                location,
            }) => {
                assert_eq!(sequence_number, 0);
                assert_eq!(expected, "activity `reserve`");
                assert!(
                    actual.starts_with("scheduled activity `charge`"),
                    "{actual}"
                );
                let location = location.expect("the call site is recorded");
                assert!(location.file.ends_with("testing_replayer.rs"), "{location}");
                // The `ctx.call_activity(Charge, 1)` line of `order_reordered`.
                let source = include_str!("testing_replayer.rs");
                let line = source
                    .lines()
                    .nth(location.line as usize - 1)
                    .unwrap_or_default();
                assert!(line.contains("call_activity(Charge, 1)"), "{line}");
            }
            other => panic!("expected non-determinism, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn new_work_after_a_waiting_instance_is_compatible_but_changes_a_finished_one() {
    let (waiting, finished) = recorded().await;
    // As on a worker: calls after the recorded point of a running instance are new work.
    replayer::<OrderShipsFirst>().replay(&waiting).unwrap();
    // A finished history recorded `charge` where the code now ships.
    match replayer::<OrderShipsFirst>().replay(&finished) {
        Err(ReplayError::Nondeterminism {
            sequence_number: 1,
            expected,
            actual,
            ..
        }) => {
            assert_eq!(expected, "activity `charge`");
            assert!(actual.starts_with("scheduled activity `ship`"), "{actual}");
        }
        other => panic!("expected non-determinism at 1, got {other:?}"),
    }
}

#[tokio::test]
async fn a_new_version_beside_the_old_one_is_compatible_and_dropping_the_old_one_is_not() {
    let (waiting, finished) = recorded().await;
    let both = Replayer::with_registry(
        activities()
            .orchestration::<OrderV1>()
            .orchestration::<OrderV2>()
            .build()
            .unwrap(),
    );
    both.replay(&waiting).unwrap();
    both.replay(&finished).unwrap();
    match replayer::<OrderV2>().replay(&finished) {
        Err(ReplayError::NotRegistered { name, version, .. }) => {
            assert_eq!((name.as_str(), version), ("order", None));
        }
        other => panic!("expected the missing version 1 to be reported, got {other:?}"),
    }
}

#[tokio::test]
async fn a_directory_of_exports_replays_file_by_file() {
    let (waiting, finished) = recorded().await;
    let dir = std::env::temp_dir().join(format!("durable-replayer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    HistoryExport::new(None, waiting.clone())
        .write(dir.join("a-waiting.json"))
        .unwrap();
    // The bare array `durable history ID --json` prints.
    std::fs::write(
        dir.join("b-finished.json"),
        serde_json::to_string(&finished).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("c-broken.json"),
        "{\"format\": \"durable-history/9\"}",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a history").unwrap();
    let results = replayer::<OrderReordered>().replay_dir(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let summary: Vec<(String, &'static str)> = results
        .iter()
        .map(|file| {
            let name = Path::new(&file.path).file_name().unwrap().to_string_lossy();
            let verdict = match &file.result {
                Ok(()) => "ok",
                Err(ReplayError::Nondeterminism { .. }) => "non-determinism",
                Err(ReplayError::Format(_)) => "format",
                Err(_) => "other",
            };
            (name.into_owned(), verdict)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a-waiting.json".to_owned(), "non-determinism"),
            ("b-finished.json".to_owned(), "non-determinism"),
            ("c-broken.json".to_owned(), "format"),
        ]
    );
    let message = results[0].result.as_ref().unwrap_err().to_string();
    assert!(
        message.starts_with("non-determinism at sequence number 0: history has activity `reserve`, the code scheduled activity `charge`"),
        "{message}"
    );
}

/// Calls per key of [`flaky`].
static FLAKY_CALLS: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());

/// Fails its first two calls for each key, then answers the key's length.
#[activity]
async fn flaky(key: String) -> Result<u32, ActivityError> {
    let calls = {
        let mut calls = FLAKY_CALLS.lock().expect("no test panics while holding it");
        let count = calls.entry(key.clone()).or_insert(0);
        *count += 1;
        *count
    };
    if calls <= 2 {
        return Err(ActivityError::new(format!(
            "attempt {calls} of {key} fails"
        )));
    }
    Ok(u32::try_from(key.len()).unwrap_or(0))
}

fn checkout_policy() -> RetryPolicy {
    RetryPolicy::new(5, Duration::from_secs(10))
}

/// The long forms of a retried call and a wait with a timeout: the code that recorded
/// `histories/checkout-long-form.json` (before the chained forms existed).
#[orchestrator(name = "checkout")]
async fn checkout_long_form(
    ctx: OrchestrationContext,
    key: String,
) -> Result<String, OrchestrationError> {
    let size = ctx
        .call_activity_with_retry(Flaky, key, &checkout_policy())
        .await?;
    let paid = match ctx
        .wait_for_event_with_timeout::<Paid>(Duration::from_secs(60))
        .await
    {
        Ok(Paid) => "paid",
        Err(EventError::TimedOut { .. }) => "unpaid",
        Err(error) => return Err(error.into()),
    };
    Ok(format!("{size} {paid}"))
}

/// The same orchestrator in the chained forms: `.retry(..)` on the scheduled call,
/// `.timeout(..)` on the wait.
#[orchestrator(name = "checkout", handle = CheckoutChained)]
async fn checkout_chained(
    ctx: OrchestrationContext,
    key: String,
) -> Result<String, OrchestrationError> {
    let size = ctx
        .call_activity(Flaky, key)
        .retry(&checkout_policy())
        .await?;
    let paid = match ctx
        .wait_for_event::<Paid>()
        .timeout(Duration::from_secs(60))
        .await
    {
        Ok(Paid) => "paid",
        Err(EventError::TimedOut { .. }) => "unpaid",
        Err(error) => return Err(error.into()),
    };
    Ok(format!("{size} {paid}"))
}

fn checkout_history_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories/checkout-long-form.json")
}

/// Runs `O` on `key` to its end (the retries' waits and the timeout skipped in virtual
/// time) and exports its history.
async fn record_checkout<O: Orchestration<Input = String, Output = String>>(
    orchestration: O,
    key: &str,
) -> HistoryExport {
    let registry = Registry::builder()
        .activity::<Flaky>()
        .orchestration::<O>()
        .build()
        .expect("the test setup works");
    let env = TestEnvironment::builder()
        .registry(registry)
        .start()
        .await
        .expect("the test setup works");
    let instance = env
        .client()
        .start_orchestration(orchestration, key.to_owned())
        .await
        .expect("the test setup works");
    let output = env
        .run_until_complete(&instance)
        .await
        .expect("the test setup works");
    assert_eq!(output, format!("{} unpaid", key.len()));
    let export = HistoryExport::read(&env.client(), instance.instance_id())
        .await
        .expect("the test setup works");
    env.shutdown().await;
    export
}

/// Each event's sequence number and kind, without times and payloads.
fn shape(events: &[HistoryEvent]) -> Vec<(i64, String)> {
    events
        .iter()
        .map(|event| (event.event_id, event.kind.type_name().to_owned()))
        .collect()
}

#[tokio::test]
async fn the_chained_forms_replay_a_history_of_the_long_forms_and_write_the_same() {
    if std::env::var_os("DURABLE_RECORD_HISTORIES").is_some() {
        record_checkout(CheckoutLongForm, "lamp")
            .await
            .write(checkout_history_file())
            .unwrap();
    }
    let recorded = HistoryExport::parse(
        &std::fs::read_to_string(checkout_history_file()).expect("the recorded history exists"),
    )
    .unwrap();
    let recorded_shape = shape(&recorded.events);
    let count = |name: &str| recorded_shape.iter().filter(|(_, n)| n == name).count();
    // Three attempts, two waits between them, and the timeout's timer.
    assert_eq!(count("ActivityScheduled"), 3, "{recorded_shape:?}");
    assert_eq!(count("ActivityFailed"), 2, "{recorded_shape:?}");
    assert_eq!(count("TimerCreated"), 3, "{recorded_shape:?}");

    replayer::<CheckoutChained>()
        .replay(&recorded.events)
        .unwrap();
    replayer::<CheckoutLongForm>()
        .replay(&recorded.events)
        .unwrap();

    // And the chained forms write that history, event for event.
    let chained = record_checkout(CheckoutChained, "desk").await;
    assert_eq!(shape(&chained.events), recorded_shape);
    replayer::<CheckoutLongForm>()
        .replay(&chained.events)
        .unwrap();
}

/// Fails while its activity does (the first two runs for each key), then answers the
/// length of `child:{key}`.
#[orchestrator]
async fn flaky_child(ctx: OrchestrationContext, key: String) -> Result<u32, OrchestrationError> {
    Ok(ctx.call_activity(Flaky, format!("child:{key}")).await?)
}

/// A retried sub-orchestration, long form.
#[orchestrator(name = "parent")]
async fn parent_long_form(
    ctx: OrchestrationContext,
    key: String,
) -> Result<String, OrchestrationError> {
    let size = ctx
        .call_sub_orchestrator_with_retry(FlakyChild, key, &checkout_policy())
        .await?;
    Ok(size.to_string())
}

/// The same, chained.
#[orchestrator(name = "parent", handle = ParentChained)]
async fn parent_chained(
    ctx: OrchestrationContext,
    key: String,
) -> Result<String, OrchestrationError> {
    let size = ctx
        .call_sub_orchestrator(FlakyChild, key)
        .retry(&checkout_policy())
        .await?;
    Ok(size.to_string())
}

/// Runs parent `O` on `key` to its end; its history.
async fn record_parent<O: Orchestration<Input = String, Output = String>>(
    orchestration: O,
    key: &str,
) -> Vec<HistoryEvent> {
    let registry = Registry::builder()
        .activity::<Flaky>()
        .orchestration::<FlakyChild>()
        .orchestration::<O>()
        .build()
        .expect("the test setup works");
    let env = TestEnvironment::builder()
        .registry(registry)
        .start()
        .await
        .expect("the test setup works");
    let instance = env
        .client()
        .start_orchestration(orchestration, key.to_owned())
        .await
        .expect("the test setup works");
    let output = env
        .run_until_complete(&instance)
        .await
        .expect("the test setup works");
    // The child's activity measures `child:{key}`.
    assert_eq!(output, format!("child:{key}").len().to_string());
    let history = env
        .history(instance.instance_id())
        .await
        .expect("the test setup works");
    env.shutdown().await;
    history
}

#[tokio::test]
async fn a_chained_sub_orchestration_retry_writes_the_long_forms_history() {
    // The child fails twice (its activity does, with no retry of its own): three children.
    let long = record_parent(ParentLongForm, "chair").await;
    let chained = record_parent(ParentChained, "table").await;
    assert_eq!(shape(&chained), shape(&long));
    // Each attempt is a new child named after its own sequence number, with a durable
    // wait between attempts, as the long form has always written.
    let execution = chained
        .iter()
        .find_map(|event| match &event.kind {
            durable_runtime::history::EventKind::ExecutionStarted { execution_id, .. } => {
                Some(execution_id.to_string())
            }
            _ => None,
        })
        .expect("the history starts an execution");
    let children: Vec<(i64, String)> = chained
        .iter()
        .filter_map(|event| match &event.kind {
            durable_runtime::history::EventKind::SubOrchestrationCreated {
                instance_id, ..
            } => Some((event.event_id, instance_id.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        children,
        [0, 2, 4].map(|seq| (seq, format!("{execution}:{seq}")))
    );
    let timers = shape(&chained)
        .into_iter()
        .filter(|(_, kind)| kind == "TimerCreated")
        .count();
    assert_eq!(timers, 2);
    replayer_parent::<ParentChained>().replay(&long).unwrap();
    replayer_parent::<ParentLongForm>()
        .replay(&chained)
        .unwrap();
}

fn replayer_parent<O: Orchestration>() -> Replayer {
    Replayer::with_registry(
        Registry::builder()
            .activity::<Flaky>()
            .orchestration::<FlakyChild>()
            .orchestration::<O>()
            .build()
            .expect("the test setup works"),
    )
}
