//! The pure translation of a replay turn's [`TurnOutput`] into its
//! [`OrchestrationCommit`]: the events to append, the activities, timers, events and
//! sub-orchestrations it started, how the execution stands (running, ended, continued as
//! new), and the history cap. No I/O and no clock; table tests below.

use chrono::{DateTime, Utc};

use crate::error_types::HISTORY_TOO_LONG;
use crate::history::{EventKind, HistoryEvent, ParentInstance};
use crate::ids::ExecutionId;
use crate::replay::{Outcome, TurnOutput};
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{
    NewActivity, NewExecution, NewInstance, OrchestrationCommit, OrchestrationWorkItem,
};
use crate::trace_context::TraceContext;

/// Appends `OrchestratorStarted`, `events` and an `ExecutionCompleted { Failed }` and marks
/// the commit failed: for failures decided outside the orchestrator function.
pub(super) fn fail_commit(
    commit: &mut OrchestrationCommit,
    now: DateTime<Utc>,
    events: Vec<HistoryEvent>,
    failure: FailureDetails,
) {
    commit
        .events
        .push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
    commit.events.extend(events);
    commit.events.push(HistoryEvent::new(
        now,
        EventKind::ExecutionCompleted {
            status: RuntimeStatus::Failed,
            result: None,
            failure: Some(failure.clone()),
        },
    ));
    commit.status = RuntimeStatus::Failed;
    commit.failure = Some(failure);
}

/// What the translation needs to know of the turn besides its output.
pub(super) struct Turn<'a> {
    /// The work item the turn ran for.
    pub(super) item: &'a OrchestrationWorkItem,
    /// The execution's parent, for a sub-orchestration (asked only when the execution ends).
    pub(super) parent: &'a dyn Fn() -> Option<ParentInstance>,
    /// The trace context a continue-as-new's next generation starts under (asked only then).
    pub(super) next_context: &'a dyn Fn() -> Option<TraceContext>,
    /// [`WorkerOptions::max_history_events`](crate::WorkerOptions::max_history_events).
    pub(super) max_history_events: usize,
    /// The turn's time.
    pub(super) now: DateTime<Utc>,
}

/// How the execution stands after the commit [`translate`] built.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// It waits for more (Running): its engine goes back to the cache.
    GoesOn,
    /// It completed or failed in this turn.
    Ended,
    /// It continued as new: the commit starts the next execution.
    ContinuedAsNew,
    /// The turn would pass the history cap: the commit fails the instance instead (with
    /// this failure), keeping only the events the turn applied, and the turn's calls are
    /// dropped.
    TooLong(FailureDetails),
}

/// Whether a history of `history_len` events that grows by `added` passes `max`.
pub(super) fn over_history_cap(history_len: usize, added: usize, max: usize) -> bool {
    history_len.saturating_add(added) > max
}

/// Fills `commit` from `output`, the turn's output, with `prefix` (events recorded before
/// the turn's, e.g. a rewind) first.
pub(super) fn translate(
    turn: &Turn<'_>,
    commit: &mut OrchestrationCommit,
    output: TurnOutput,
    prefix: Vec<HistoryEvent>,
) -> Verdict {
    let (item, now) = (turn.item, turn.now);
    if over_history_cap(
        item.history_len,
        prefix.len() + output.events.len(),
        turn.max_history_events,
    ) {
        let failure = FailureDetails::new(
            HISTORY_TOO_LONG,
            format!(
                "the history of instance {} would grow past {} events; an orchestration that runs \
                 this long should call `ctx.continue_as_new(..)` to restart with a fresh history \
                 (or split work into sub-orchestrations); the limit is `WorkerOptions::max_history_events`",
                item.instance_id, turn.max_history_events
            ),
        );
        // The events the turn applied (results, raised events, markers), not the ones its
        // code produced: those are dropped with its calls.
        let applied: Vec<HistoryEvent> = output
            .events
            .into_iter()
            .filter(|e| {
                !matches!(e.kind, EventKind::OrchestratorStarted)
                    && e.event_id == crate::history::NO_EVENT_ID
            })
            .filter(|e| {
                !matches!(
                    e.kind,
                    EventKind::ExecutionCompleted { .. } | EventKind::ContinuedAsNew { .. }
                )
            })
            .collect();
        let applied = prefix.into_iter().chain(applied).collect();
        fail_commit(commit, now, applied, failure.clone());
        if let Some(parent) = (turn.parent)() {
            commit
                .messages
                .push(crate::outbound::sub_orchestration_result(
                    &parent,
                    now,
                    Err(failure.clone()),
                ));
        }
        return Verdict::TooLong(failure);
    }
    commit.events = prefix;
    commit.events.extend(output.events);
    commit.custom_status = output.custom_status;
    commit.activities = output
        .activities
        .into_iter()
        .map(|a| NewActivity {
            scheduled_id: a.scheduled_id,
            name: a.name.to_owned(),
            input: a.input,
            trace_context: a.trace_context,
        })
        .collect();
    for (seq, fire_at) in output.timers {
        commit.messages.push(crate::outbound::timer_fired(
            &item.instance_id,
            &item.execution_id,
            seq,
            fire_at,
        ));
    }
    commit.messages.extend(output.entity_messages);
    for (instance_id, name, input) in output.sent_events {
        commit
            .messages
            .push(crate::outbound::event_raised(instance_id, name, input, now));
    }
    for child in output.sub_orchestrations {
        let execution_id = ExecutionId::generate();
        let parent = ParentInstance {
            instance_id: item.instance_id.clone(),
            execution_id: item.execution_id.clone(),
            scheduled_id: child.scheduled_id,
        };
        commit.new_instances.push(NewInstance {
            instance_id: child.instance_id,
            execution_id: execution_id.clone(),
            name: child.name.to_owned(),
            version: child.version.map(str::to_owned),
            input: child.input.clone(),
            created_at: now,
            started: HistoryEvent::new(
                now,
                EventKind::ExecutionStarted {
                    name: child.name.to_owned(),
                    version: child.version.map(str::to_owned),
                    execution_id,
                    input: child.input,
                    parent: Some(parent),
                    scheduled_start: None,
                    trace_context: child.trace_context,
                },
            ),
            parent_instance_id: Some(item.instance_id.clone()),
        });
    }
    match output.outcome {
        Some(Outcome::Completed(result)) => {
            commit.status = RuntimeStatus::Completed;
            if let Some(parent) = (turn.parent)() {
                commit
                    .messages
                    .push(crate::outbound::sub_orchestration_result(
                        &parent,
                        now,
                        Ok(result.clone()),
                    ));
            }
            commit.output = Some(result);
            Verdict::Ended
        }
        Some(Outcome::Failed(failure)) => {
            commit.status = RuntimeStatus::Failed;
            if let Some(parent) = (turn.parent)() {
                commit
                    .messages
                    .push(crate::outbound::sub_orchestration_result(
                        &parent,
                        now,
                        Err(failure.clone()),
                    ));
            }
            commit.failure = Some(failure);
            Verdict::Ended
        }
        Some(Outcome::ContinuedAsNew {
            input, carryover, ..
        }) => {
            let execution_id = ExecutionId::generate();
            commit.status = RuntimeStatus::ContinuedAsNew;
            commit.continue_as_new = Some(NewExecution {
                execution_id: execution_id.clone(),
                input: input.clone(),
                started: HistoryEvent::new(
                    now,
                    EventKind::ExecutionStarted {
                        name: item.name.clone(),
                        version: item.version.clone(),
                        execution_id,
                        input,
                        parent: (turn.parent)(),
                        scheduled_start: None,
                        trace_context: (turn.next_context)(),
                    },
                ),
                carryover: carryover
                    .into_iter()
                    .map(|(name, input)| {
                        HistoryEvent::new(now, EventKind::EventRaised { name, input })
                    })
                    .collect(),
            });
            Verdict::ContinuedAsNew
        }
        None => {
            commit.status = RuntimeStatus::Running;
            Verdict::GoesOn
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstanceId;
    use crate::payload::Payload;
    use crate::replay::{ActivityRequest, SubOrchestrationRequest};
    use crate::worker::orchestration::decide::commit_skeleton;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a valid time")
    }

    fn item(history_len: usize) -> OrchestrationWorkItem {
        OrchestrationWorkItem {
            instance_id: InstanceId::new("child").expect("a valid id"),
            execution_id: ExecutionId::generate(),
            name: "flow".into(),
            version: Some("2".into()),
            status: RuntimeStatus::Running,
            history_len,
            messages: Vec::new(),
            corrupt_messages: Vec::new(),
            lock_token: Some(crate::store::LockToken::new("token")),
        }
    }

    fn parent() -> ParentInstance {
        ParentInstance {
            instance_id: InstanceId::new("parent").expect("a valid id"),
            execution_id: ExecutionId::generate(),
            scheduled_id: 4,
        }
    }

    fn json(text: &str) -> Payload {
        Payload::from_json(text).expect("valid JSON")
    }

    /// What a turn's code produced, as history: a started marker, an applied result (no
    /// event id) and `scheduled` calls (with event ids), then an end if any.
    fn output(scheduled: usize, outcome: Option<Outcome>) -> TurnOutput {
        let mut events = vec![
            HistoryEvent::new(at(5), EventKind::OrchestratorStarted),
            HistoryEvent::new(
                at(5),
                EventKind::EventRaised {
                    name: "go".into(),
                    input: Payload::null(),
                },
            ),
        ];
        let mut activities = Vec::new();
        for seq in 0..scheduled {
            let seq = i64::try_from(seq).expect("small");
            events.push(HistoryEvent::scheduled(
                seq,
                at(5),
                EventKind::ActivityScheduled {
                    name: "work".into(),
                    input: json("1"),
                },
            ));
            activities.push(ActivityRequest {
                scheduled_id: seq,
                name: "work",
                input: json("1"),
                trace_context: None,
                #[cfg(feature = "metrics")]
                retry_attempt: 1,
            });
        }
        if let Some(outcome) = &outcome {
            let (status, result, failure) = match outcome {
                Outcome::Completed(result) => {
                    (RuntimeStatus::Completed, Some(result.clone()), None)
                }
                Outcome::Failed(failure) => (RuntimeStatus::Failed, None, Some(failure.clone())),
                Outcome::ContinuedAsNew { .. } => (RuntimeStatus::ContinuedAsNew, None, None),
            };
            events.push(HistoryEvent::new(
                at(5),
                EventKind::ExecutionCompleted {
                    status,
                    result,
                    failure,
                },
            ));
        }
        TurnOutput {
            events,
            activities,
            outcome,
            ..TurnOutput::default()
        }
    }

    struct Row {
        what: &'static str,
        history_len: usize,
        max: usize,
        output: TurnOutput,
        has_parent: bool,
        verdict: fn(&Verdict) -> bool,
        status: RuntimeStatus,
        events: usize,
        activities: usize,
        /// The kinds of the messages the commit sends, in order.
        messages: &'static [&'static str],
        carryover: Option<usize>,
    }

    #[test]
    fn translate_table() {
        let can = |carryover: Vec<(String, Payload)>| Outcome::ContinuedAsNew {
            input: json("7"),
            carryover,
            keep_unprocessed_events: true,
        };
        let mut with_timer_and_event = output(1, None);
        with_timer_and_event.timers.push((1, at(60)));
        with_timer_and_event.sent_events.push((
            InstanceId::new("other").expect("id"),
            "ping".into(),
            Payload::null(),
        ));
        let mut with_child = output(0, None);
        with_child.sub_orchestrations.push(SubOrchestrationRequest {
            scheduled_id: 0,
            name: "sub",
            version: None,
            instance_id: InstanceId::new("grandchild").expect("id"),
            input: json("3"),
            trace_context: None,
            #[cfg(feature = "metrics")]
            retry_attempt: 1,
        });
        let rows = vec![
            Row {
                what: "a turn that schedules work goes on",
                history_len: 10,
                max: 100,
                output: with_timer_and_event,
                has_parent: true,
                verdict: |v| *v == Verdict::GoesOn,
                status: RuntimeStatus::Running,
                events: 3,
                activities: 1,
                messages: &["TimerFired", "EventRaised"],
                carryover: None,
            },
            Row {
                what: "a sub-orchestration is created, linked to this execution",
                history_len: 10,
                max: 100,
                output: with_child,
                has_parent: false,
                verdict: |v| *v == Verdict::GoesOn,
                status: RuntimeStatus::Running,
                events: 2,
                activities: 0,
                messages: &[],
                carryover: None,
            },
            Row {
                what: "completion tells the parent",
                history_len: 10,
                max: 100,
                output: output(0, Some(Outcome::Completed(json("42")))),
                has_parent: true,
                verdict: |v| *v == Verdict::Ended,
                status: RuntimeStatus::Completed,
                events: 3,
                activities: 0,
                messages: &["SubOrchestrationCompleted"],
                carryover: None,
            },
            Row {
                what: "a failure without a parent sends nothing",
                history_len: 10,
                max: 100,
                output: output(0, Some(Outcome::Failed(FailureDetails::new("e", "m")))),
                has_parent: false,
                verdict: |v| *v == Verdict::Ended,
                status: RuntimeStatus::Failed,
                events: 3,
                activities: 0,
                messages: &[],
                carryover: None,
            },
            Row {
                what: "continue-as-new carries the unprocessed events over",
                history_len: 10,
                max: 100,
                output: output(
                    0,
                    Some(can(vec![("a".into(), json("1")), ("b".into(), json("2"))])),
                ),
                has_parent: true,
                verdict: |v| *v == Verdict::ContinuedAsNew,
                status: RuntimeStatus::ContinuedAsNew,
                events: 3,
                activities: 0,
                messages: &[],
                carryover: Some(2),
            },
            Row {
                what: "history exactly at the cap goes on",
                history_len: 97,
                max: 100,
                output: output(1, None),
                has_parent: true,
                verdict: |v| *v == Verdict::GoesOn,
                status: RuntimeStatus::Running,
                events: 3,
                activities: 1,
                messages: &[],
                carryover: None,
            },
            Row {
                what: "history over the cap fails, keeping only the applied result, and tells the parent",
                history_len: 98,
                max: 100,
                output: output(1, None),
                has_parent: true,
                verdict: |v| matches!(v, Verdict::TooLong(f) if f.error_type == HISTORY_TOO_LONG),
                // OrchestratorStarted, the applied EventRaised, ExecutionCompleted.
                status: RuntimeStatus::Failed,
                events: 3,
                activities: 0,
                messages: &["SubOrchestrationFailed"],
                carryover: None,
            },
            Row {
                what: "a continue-as-new over the cap fails too, and starts nothing",
                history_len: 99,
                max: 100,
                output: output(0, Some(can(vec![("a".into(), json("1"))]))),
                has_parent: false,
                verdict: |v| matches!(v, Verdict::TooLong(_)),
                status: RuntimeStatus::Failed,
                events: 3,
                activities: 0,
                messages: &[],
                carryover: None,
            },
        ];
        for row in rows {
            let item = item(row.history_len);
            let mut commit = commit_skeleton(&item, None, at(5), None);
            let the_parent = parent();
            let parent_of = || row.has_parent.then(|| the_parent.clone());
            let turn = Turn {
                item: &item,
                parent: &parent_of,
                next_context: &|| None,
                max_history_events: row.max,
                now: at(5),
            };
            let verdict = translate(&turn, &mut commit, row.output, Vec::new());
            let what = row.what;
            assert!((row.verdict)(&verdict), "{what}: {verdict:?}");
            assert_eq!(commit.status, row.status, "{what}");
            assert_eq!(
                commit.events.len(),
                row.events,
                "{what}: {:?}",
                commit.events
            );
            assert_eq!(commit.activities.len(), row.activities, "{what}");
            let kinds: Vec<&str> = commit
                .messages
                .iter()
                .map(|m| m.event.kind.type_name())
                .collect();
            assert_eq!(kinds, row.messages, "{what}");
            for message in &commit.messages {
                if message.instance_id == the_parent.instance_id {
                    assert_eq!(
                        message.execution_id.as_ref(),
                        Some(&the_parent.execution_id)
                    );
                }
            }
            assert_eq!(
                commit.continue_as_new.as_ref().map(|n| n.carryover.len()),
                row.carryover,
                "{what}"
            );
            if let Some(next) = &commit.continue_as_new {
                assert_ne!(next.execution_id, item.execution_id, "{what}");
                let EventKind::ExecutionStarted {
                    name,
                    version,
                    parent,
                    ..
                } = &next.started.kind
                else {
                    panic!("{what}: the next execution starts with ExecutionStarted");
                };
                assert_eq!((name.as_str(), version.as_deref()), ("flow", Some("2")));
                assert_eq!(
                    parent.as_ref(),
                    Some(&the_parent),
                    "{what}: the parent link stays"
                );
                assert!(
                    next.carryover
                        .iter()
                        .all(|e| matches!(e.kind, EventKind::EventRaised { .. }))
                );
            }
            if let Some(child) = commit.new_instances.first() {
                assert_eq!(child.parent_instance_id.as_ref(), Some(&item.instance_id));
                let EventKind::ExecutionStarted {
                    parent: Some(link), ..
                } = &child.started.kind
                else {
                    panic!("{what}: the child starts linked to its parent");
                };
                assert_eq!(
                    (&link.execution_id, link.scheduled_id),
                    (&item.execution_id, 0)
                );
            }
            if matches!(verdict, Verdict::TooLong(_)) {
                assert!(
                    commit
                        .events
                        .iter()
                        .all(|e| e.event_id == crate::history::NO_EVENT_ID),
                    "{what}: none of the turn's calls is recorded"
                );
            }
        }
    }

    #[test]
    fn over_history_cap_table() {
        for (len, added, max, over) in [
            (0, 0, 0, false),
            (99, 1, 100, false),
            (99, 2, 100, true),
            (usize::MAX, 1, usize::MAX, false),
            (0, 101, 100, true),
        ] {
            assert_eq!(
                over_history_cap(len, added, max),
                over,
                "{len} + {added} vs {max}"
            );
        }
    }
}
