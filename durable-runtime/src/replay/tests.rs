//! Table tests of the replay engine: history in → history to append and work out.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::error::ActivityError;
use crate::error_types::{NON_DETERMINISM_ERROR, NON_DURABLE_AWAIT_ERROR, PANIC_ERROR};
use crate::history::ParentInstance;
use crate::prelude::*;
use crate::registry::{OrchestratorBody, erased_orchestration};

#[activity]
async fn echo(value: String) -> Result<String, ActivityError> {
    Ok(value)
}

#[activity]
async fn other(value: String) -> Result<String, ActivityError> {
    Ok(value)
}

#[orchestrator]
async fn chain(
    ctx: OrchestrationContext,
    items: Vec<String>,
) -> Result<Vec<String>, OrchestrationError> {
    let mut out = Vec::new();
    for item in items {
        out.push(ctx.call_activity(Echo, item).await?);
    }
    Ok(out)
}

#[orchestrator]
async fn fan_out(
    ctx: OrchestrationContext,
    items: Vec<String>,
) -> Result<Vec<String>, OrchestrationError> {
    let calls: Vec<_> = items
        .into_iter()
        .map(|item| ctx.call_activity(Echo, item))
        .collect();
    Ok(try_join_all(calls).await?)
}

#[orchestrator]
async fn replay_flags(ctx: OrchestrationContext) -> Result<(bool, bool), OrchestrationError> {
    let before = ctx.is_replaying();
    ctx.call_activity(Echo, "x".to_owned()).await?;
    Ok((before, ctx.is_replaying()))
}

#[orchestrator]
async fn clock_and_guids(
    ctx: OrchestrationContext,
) -> Result<(DateTime<Utc>, Vec<uuid::Uuid>, DateTime<Utc>), OrchestrationError> {
    let start = ctx.current_time();
    let guids = vec![ctx.new_guid(), ctx.new_guid()];
    ctx.call_activity(Echo, "x".to_owned()).await?;
    Ok((start, guids, ctx.current_time()))
}

#[orchestrator]
async fn catches_failure(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    match ctx.call_activity(Echo, "x".to_owned()).await {
        Ok(value) => Ok(value),
        Err(failed) => Ok(format!(
            "{}: {}",
            failed.details.error_type, failed.details.message
        )),
    }
}

#[orchestrator]
async fn panics(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    ctx.call_activity(Echo, "x".to_owned()).await?;
    panic!("boom after {}", 1);
}

#[orchestrator]
async fn first_wins(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    let a = ctx.call_activity(Echo, "a".to_owned());
    let b = ctx.call_activity(Echo, "b".to_owned());
    Ok(match crate::select(a, b).await {
        futures::future::Either::Left((value, _)) => format!("a={}", value?),
        futures::future::Either::Right((value, _)) => format!("b={}", value?),
    })
}

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_700_000_000 + seconds)
}

fn instance() -> InstanceId {
    InstanceId::new("instance-1").unwrap()
}

fn engine<O: Orchestration>() -> ReplayEngine {
    ReplayEngine::new(
        instance(),
        ExecutionId::from_trusted("exec-1".into()),
        O::NAME.into(),
        OrchestratorBody::Registered(erased_orchestration::<O>),
    )
}

fn started<T: serde::Serialize>(input: &T) -> HistoryEvent {
    HistoryEvent::new(
        t(0),
        EventKind::ExecutionStarted {
            name: "test".into(),
            version: None,
            execution_id: ExecutionId::from_trusted("exec-1".into()),
            input: Payload::encode(input).unwrap(),
            parent: None::<ParentInstance>,
            scheduled_start: None,
            trace_context: None,
        },
    )
}

fn completed(seq: i64, value: &str) -> HistoryEvent {
    HistoryEvent::new(
        t(1),
        EventKind::ActivityCompleted {
            scheduled_id: seq,
            result: Payload::encode(value).unwrap(),
        },
    )
}

fn scheduled(seq: i64, name: &str, value: &str) -> HistoryEvent {
    HistoryEvent::scheduled(
        seq,
        t(0),
        EventKind::ActivityScheduled {
            name: name.into(),
            input: Payload::encode(value).unwrap(),
        },
    )
}

fn scheduled_names(output: &TurnOutput) -> Vec<(i64, &'static str, String)> {
    output
        .activities
        .iter()
        .map(|a| (a.scheduled_id, a.name, a.input.decode::<String>().unwrap()))
        .collect()
}

fn completed_output(output: &TurnOutput) -> Payload {
    match &output.outcome {
        Some(Outcome::Completed(payload)) => payload.clone(),
        other => panic!("expected completion, got {other:?}"),
    }
}

fn failure(output: &TurnOutput) -> FailureDetails {
    match &output.outcome {
        Some(Outcome::Failed(failure)) => failure.clone(),
        other => panic!("expected failure, got {other:?}"),
    }
}

#[test]
fn chain_schedules_one_activity_per_turn_in_order() {
    let mut engine = engine::<Chain>();
    let turn1 = engine.run_turn(t(0), vec![started(&["a", "b"])]);
    assert_eq!(scheduled_names(&turn1), [(0, "echo", "a".to_owned())]);
    let kinds: Vec<_> = turn1.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(
        kinds,
        [
            "OrchestratorStarted",
            "ExecutionStarted",
            "ActivityScheduled"
        ]
    );
    assert_eq!(turn1.events[2].event_id, 0);

    let turn2 = engine.run_turn(t(1), vec![completed(0, "A")]);
    assert_eq!(scheduled_names(&turn2), [(1, "echo", "b".to_owned())]);
    assert!(turn2.outcome.is_none());

    let turn3 = engine.run_turn(t(2), vec![completed(1, "B")]);
    assert!(turn3.activities.is_empty());
    assert_eq!(completed_output(&turn3).as_json(), r#"["A","B"]"#);
    assert_eq!(
        turn3.events.last().unwrap().kind.type_name(),
        "ExecutionCompleted"
    );
    assert_eq!(
        engine.history_len(),
        turn1.events.len() + turn2.events.len() + turn3.events.len()
    );
}

#[test]
fn replay_from_history_matches_the_live_run() {
    let mut live = engine::<Chain>();
    let mut history = live.run_turn(t(0), vec![started(&["a", "b"])]).events;
    history.extend(live.run_turn(t(1), vec![completed(0, "A")]).events);
    let live_last = live.run_turn(t(2), vec![completed(1, "B")]);

    let mut replayed = engine::<Chain>();
    replayed.replay(&history);
    assert_eq!(replayed.history_len(), history.len());
    let replayed_last = replayed.run_turn(t(2), vec![completed(1, "B")]);
    assert!(
        replayed_last.activities.is_empty(),
        "replay must not re-schedule recorded activities"
    );
    assert_eq!(replayed_last.events, live_last.events);
}

#[test]
fn fan_out_schedules_everything_in_one_turn_and_keeps_input_order() {
    let mut engine = engine::<FanOut>();
    let turn1 = engine.run_turn(t(0), vec![started(&["a", "b", "c"])]);
    let seqs: Vec<_> = scheduled_names(&turn1)
        .into_iter()
        .map(|(seq, _, input)| (seq, input))
        .collect();
    assert_eq!(seqs, [(0, "a".into()), (1, "b".into()), (2, "c".into())]);
    let turn2 = engine.run_turn(t(1), vec![completed(2, "C"), completed(0, "A")]);
    assert!(turn2.outcome.is_none());
    let turn3 = engine.run_turn(t(2), vec![completed(1, "B")]);
    assert_eq!(completed_output(&turn3).as_json(), r#"["A","B","C"]"#);
}

#[test]
fn duplicate_completions_are_ignored() {
    let mut engine = engine::<Chain>();
    engine.run_turn(t(0), vec![started(&["a", "b"])]);
    let turn = engine.run_turn(
        t(1),
        vec![
            completed(0, "A"),
            completed(0, "A-again"),
            completed(7, "stray"),
        ],
    );
    assert_eq!(scheduled_names(&turn), [(1, "echo", "b".to_owned())]);
    let last = engine.run_turn(t(2), vec![completed(1, "B"), completed(1, "B-again")]);
    assert_eq!(completed_output(&last).as_json(), r#"["A","B"]"#);
}

#[test]
fn a_different_activity_name_is_non_determinism() {
    let mut engine = engine::<Chain>();
    engine.replay(&[
        HistoryEvent::new(t(0), EventKind::OrchestratorStarted),
        started(&["a"]),
        scheduled(0, "other", "a"),
    ]);
    let turn = engine.run_turn(t(1), vec![completed(0, "A")]);
    let failure = failure(&turn);
    assert_eq!(failure.error_type, NON_DETERMINISM_ERROR);
    // The code's side names where the call was made (`#[track_caller]`): in this file.
    let made_at = format!("scheduled activity `echo` at {}:", file!());
    for needle in [
        "instance-1",
        "sequence number 0",
        "activity `other`",
        made_at.as_str(),
        "changed",
    ] {
        assert!(
            failure.message.contains(needle),
            "{needle:?} missing in {}",
            failure.message
        );
    }
    assert!(turn.activities.is_empty());
    assert_eq!(
        turn.events.last().unwrap().kind.type_name(),
        "ExecutionCompleted"
    );
}

#[test]
fn a_recorded_call_the_code_no_longer_makes_is_non_determinism() {
    let mut engine = engine::<Chain>();
    engine.replay(&[
        HistoryEvent::new(t(0), EventKind::OrchestratorStarted),
        started(&["a"]),
        scheduled(0, "echo", "a"),
        HistoryEvent::new(t(1), EventKind::OrchestratorStarted),
        completed(0, "A"),
        scheduled(1, "echo", "b"),
    ]);
    let turn = engine.run_turn(t(2), vec![completed(1, "B")]);
    let failure = failure(&turn);
    assert_eq!(failure.error_type, NON_DETERMINISM_ERROR);
    assert!(
        failure.message.contains("sequence number 1"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("had already returned"),
        "{}",
        failure.message
    );
}

#[test]
fn a_recorded_call_missing_while_the_code_waits_is_non_determinism() {
    // History says seq 1 was scheduled in the first turn; the code (a chain) only
    // schedules seq 1 after seq 0 completes, so at that point it scheduled nothing.
    let mut engine = engine::<Chain>();
    engine.replay(&[
        HistoryEvent::new(t(0), EventKind::OrchestratorStarted),
        started(&["a", "b"]),
        scheduled(0, "echo", "a"),
        scheduled(1, "echo", "b"),
    ]);
    let turn = engine.run_turn(t(1), vec![completed(0, "A")]);
    let failure = failure(&turn);
    assert_eq!(failure.error_type, NON_DETERMINISM_ERROR);
    assert!(
        failure.message.contains("sequence number 1"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("scheduled nothing"),
        "{}",
        failure.message
    );
}

#[test]
fn activity_names_match_case_insensitively_on_replay() {
    let mut engine = engine::<Chain>();
    engine.replay(&[
        HistoryEvent::new(t(0), EventKind::OrchestratorStarted),
        started(&["a"]),
        scheduled(0, "ECHO", "a"),
    ]);
    let turn = engine.run_turn(t(1), vec![completed(0, "A")]);
    assert_eq!(completed_output(&turn).as_json(), r#"["A"]"#);
}

#[test]
fn is_replaying_is_true_for_history_and_false_for_new_events() {
    let mut engine = engine::<ReplayFlags>();
    engine.replay(&[
        HistoryEvent::new(t(0), EventKind::OrchestratorStarted),
        started(&()),
        scheduled(0, "echo", "x"),
    ]);
    let turn = engine.run_turn(t(1), vec![completed(0, "x")]);
    assert_eq!(
        completed_output(&turn).decode::<(bool, bool)>().unwrap(),
        (true, false)
    );
}

#[test]
fn current_time_and_guids_come_from_history() {
    let mut first = engine::<ClockAndGuids>();
    let mut history = first.run_turn(t(10), vec![started(&())]).events;
    let last = first.run_turn(t(20), vec![completed(0, "x")]);
    let (start, guids, end): (DateTime<Utc>, Vec<uuid::Uuid>, DateTime<Utc>) =
        completed_output(&last).decode().unwrap();
    assert_eq!((start, end), (t(10), t(20)));
    assert_ne!(guids[0], guids[1]);
    let namespace = uuid::Uuid::parse_str("9e952959-5e33-4daf-827f-2fa12937b875").unwrap();
    let name = format!(
        "instance-1_{}.0000000Z_0",
        t(10).format("%Y-%m-%dT%H:%M:%S")
    );
    assert_eq!(guids[0], uuid::Uuid::new_v5(&namespace, name.as_bytes()));

    history.truncate(history.len());
    let mut again = engine::<ClockAndGuids>();
    again.replay(&history);
    let replayed = again.run_turn(t(20), vec![completed(0, "x")]);
    assert_eq!(completed_output(&replayed), completed_output(&last));
}

#[test]
fn activity_failures_reach_the_code_as_typed_errors() {
    let mut engine = engine::<CatchesFailure>();
    engine.run_turn(t(0), vec![started(&())]);
    let turn = engine.run_turn(
        t(1),
        vec![HistoryEvent::new(
            t(1),
            EventKind::ActivityFailed {
                scheduled_id: 0,
                failure: FailureDetails::new("std::io::Error", "disk full"),
            },
        )],
    );
    assert_eq!(
        completed_output(&turn).decode::<String>().unwrap(),
        "std::io::Error: disk full"
    );
}

#[test]
fn a_panicking_orchestrator_fails_the_instance() {
    let mut engine = engine::<Panics>();
    engine.run_turn(t(0), vec![started(&())]);
    let turn = engine.run_turn(t(1), vec![completed(0, "x")]);
    let failure = failure(&turn);
    assert_eq!(
        (failure.error_type.as_str(), failure.message.as_str()),
        (PANIC_ERROR, "boom after 1")
    );
}

#[test]
fn races_pick_the_winner_in_history_order() {
    for (order, expected) in [([1, 0], "b=B"), ([0, 1], "a=A")] {
        let mut engine = engine::<FirstWins>();
        engine.run_turn(t(0), vec![started(&())]);
        let events = order
            .iter()
            .map(|&seq| completed(seq, if seq == 0 { "A" } else { "B" }))
            .collect();
        let turn = engine.run_turn(t(1), events);
        assert_eq!(
            completed_output(&turn).decode::<String>().unwrap(),
            expected
        );
    }
}

#[test]
fn input_that_does_not_decode_fails_the_instance() {
    let mut engine = engine::<Chain>();
    let turn = engine.run_turn(t(0), vec![started(&42)]);
    let failure = failure(&turn);
    assert_eq!(failure.error_type, crate::error_types::INPUT_DECODE_ERROR);
    assert!(
        failure.message.contains("orchestration `chain`"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn the_activity_stays_callable_as_a_plain_function() {
    let value = echo("plain".to_owned()).await.unwrap();
    assert_eq!(value, "plain");
    let _ = Other;
}

/// A future that wakes itself `remaining` times before completing, like a combinator that
/// yields cooperatively.
struct SelfWaking {
    remaining: usize,
}

impl std::future::Future for SelfWaking {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.remaining == 0 {
            return std::task::Poll::Ready(());
        }
        self.remaining -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

static OUTSIDE_WAKER: std::sync::Mutex<Option<std::task::Waker>> = std::sync::Mutex::new(None);

/// A future that parks its waker where the test can wake it, like a socket would.
struct Outside;

impl std::future::Future for Outside {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        *OUTSIDE_WAKER.lock().unwrap() = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
}

// The `non_durable_await` probe would refuse this at compile time; off to test the
// run-time backstop.
#[orchestrator(allow(non_durable_await))]
async fn awaits_nothing_durable(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    std::future::pending::<()>().await;
    Ok(())
}

// The `non_durable_await` probe would refuse this at compile time; off to test the
// run-time backstop.
#[orchestrator(allow(non_durable_await))]
async fn yields_then_calls(ctx: OrchestrationContext) -> Result<String, OrchestrationError> {
    SelfWaking { remaining: 50 }.await;
    Ok(ctx.call_activity(Echo, "after yielding".to_owned()).await?)
}

// The `non_durable_await` probe would refuse this at compile time; off to test the
// run-time backstop.
#[orchestrator(allow(non_durable_await))]
async fn spins(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    SelfWaking {
        remaining: usize::MAX,
    }
    .await;
    Ok(())
}

#[orchestrator]
async fn races_an_outside_future(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let call = ctx.call_activity(Echo, "x".to_owned());
    futures::future::join(call, Outside).await.0?;
    Ok(())
}

#[test]
fn awaiting_something_that_is_not_a_durable_call_fails_instead_of_hanging() {
    let mut engine = engine::<AwaitsNothingDurable>();
    let turn = engine.run_turn(t(0), vec![started(&())]);
    let failure = failure(&turn);
    assert_eq!(failure.error_type, NON_DURABLE_AWAIT_ERROR);
    assert!(
        failure.message.contains("not on any durable call"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("#[activity]"),
        "{}",
        failure.message
    );
}

#[test]
fn self_waking_futures_are_polled_again_at_once() {
    let mut engine = engine::<YieldsThenCalls>();
    let turn = engine.run_turn(t(0), vec![started(&())]);
    assert_eq!(
        scheduled_names(&turn),
        [(0, "echo", "after yielding".to_owned())]
    );
    let done = engine.run_turn(t(1), vec![completed(0, "ok")]);
    assert_eq!(completed_output(&done).decode::<String>().unwrap(), "ok");
}

#[test]
fn an_orchestrator_that_only_wakes_itself_fails() {
    let mut engine = engine::<Spins>();
    let failure = failure(&engine.run_turn(t(0), vec![started(&())]));
    assert_eq!(failure.error_type, NON_DURABLE_AWAIT_ERROR);
    assert!(
        failure.message.contains("keeps waking itself"),
        "{}",
        failure.message
    );
}

#[test]
fn a_wake_from_outside_the_history_fails_the_next_turn() {
    let mut engine = engine::<RacesAnOutsideFuture>();
    let first = engine.run_turn(t(0), vec![started(&())]);
    assert!(
        first.outcome.is_none(),
        "a durable call is open, so the first turn waits"
    );
    OUTSIDE_WAKER
        .lock()
        .unwrap()
        .take()
        .expect("the outside future parked its waker")
        .wake();
    let failure = failure(&engine.run_turn(t(1), vec![completed(0, "x")]));
    assert_eq!(failure.error_type, NON_DURABLE_AWAIT_ERROR);
    assert!(
        failure.message.contains("outside the history"),
        "{}",
        failure.message
    );
}
