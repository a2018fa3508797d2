//! Rewind: how replay reads a history that holds `ExecutionRewound` events.
//!
//! History stays append-only: a rewind appends `ExecutionRewound` after the failed
//! `ExecutionCompleted`, and replay reads the events before it through [`view`]. Durable
//! Functions' Azure Storage back-end rewrites the failed `TaskScheduled`/`TaskFailed` pairs
//! into `GenericEvent`s instead; reading through a view gives the same replay without
//! rewriting committed rows, and keeps what really happened for `durable history`.
//!
//! The rules, for the events of the execution up to a rewind:
//! - Let `p` be the first failure event (`ActivityFailed`, `SubOrchestrationFailed`,
//!   `EntityOperationFailed`), or the failed `ExecutionCompleted` when the code itself
//!   failed.
//! - Before `p` everything stays, except the scheduling events of activities and entity
//!   calls that failed or never answered: the code makes those calls again and they are
//!   scheduled anew, with the same sequence numbers. A sub-orchestration's
//!   `SubOrchestrationCreated` stays: a failed child is rewound, a finished one's result is
//!   sent again (see [`waiting`]).
//! - From `p` on only results of work scheduled before `p` stay (successes; failures are
//!   dropped), with raised events, suspend/resume markers and turn brackets. Whatever the
//!   code scheduled from `p` on followed from a failure that, in the rewound reading, has
//!   not happened; the code schedules it again if it still does.
//!
//! Several rewinds apply in order: the view of the first is the start of the second's.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::history::{EventKind, HistoryEvent};
use crate::ids::InstanceId;
use crate::status::RuntimeStatus;

/// The history as replay reads it: `history` itself when it holds no rewind.
pub(crate) fn view(history: &[HistoryEvent]) -> Cow<'_, [HistoryEvent]> {
    if !history
        .iter()
        .any(|e| matches!(e.kind, EventKind::ExecutionRewound { .. }))
    {
        return Cow::Borrowed(history);
    }
    let mut read: Vec<HistoryEvent> = Vec::with_capacity(history.len());
    // Per rewind: the calls made again, and when it was recorded.
    let mut redone: Vec<(HashSet<i64>, DateTime<Utc>)> = Vec::new();
    for event in history {
        if matches!(event.kind, EventKind::ExecutionRewound { .. }) {
            let (kept, redo) = rewind(read);
            read = kept;
            redone.push((redo, event.timestamp));
        } else if is_stale(event, &redone) {
            // A result of an attempt that finished before the rewind (its work item was
            // gone when the rewind was recorded), for a call made again: not this one's.
        } else {
            read.push(event.clone());
        }
    }
    Cow::Owned(read)
}

/// What a rewound execution waits for that no queued message may bring any more: the
/// durable timers and sub-orchestrations its view (`view` of the history with the new
/// `ExecutionRewound`) shows scheduled but not answered. A timer's `TimerFired`, or a
/// child's result, that arrived while the instance was Failed was dropped with every other
/// message; the dispatcher sends the timer again (a second one is a duplicate and ignored)
/// and asks each child how it stands.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Waiting {
    /// Timers: (sequence number, fire time).
    pub(crate) timers: Vec<(i64, DateTime<Utc>)>,
    /// Sub-orchestrations: (sequence number, child instance).
    pub(crate) children: Vec<(i64, InstanceId)>,
}

/// What the rewound view `read` waits for (see [`Waiting`]).
pub(crate) fn waiting(read: &[HistoryEvent]) -> Waiting {
    let answered: HashSet<i64> = read.iter().filter_map(|e| answered(&e.kind)).collect();
    let mut waiting = Waiting::default();
    for event in read {
        if answered.contains(&event.event_id) {
            continue;
        }
        match &event.kind {
            EventKind::TimerCreated { fire_at } => waiting.timers.push((event.event_id, *fire_at)),
            EventKind::SubOrchestrationCreated { instance_id, .. } => {
                waiting.children.push((event.event_id, instance_id.clone()));
            }
            _ => {}
        }
    }
    waiting
}

/// The sequence number a completion or failure event answers, if it is one.
fn answered(kind: &EventKind) -> Option<i64> {
    match kind {
        EventKind::ActivityCompleted { scheduled_id, .. }
        | EventKind::ActivityFailed { scheduled_id, .. }
        | EventKind::SubOrchestrationCompleted { scheduled_id, .. }
        | EventKind::SubOrchestrationFailed { scheduled_id, .. }
        | EventKind::EntityOperationCompleted { scheduled_id, .. }
        | EventKind::EntityOperationFailed { scheduled_id, .. }
        | EventKind::EntityLockGranted { scheduled_id } => Some(*scheduled_id),
        EventKind::TimerFired { timer_id, .. } => Some(*timer_id),
        _ => None,
    }
}

/// Is `event` the result of an activity or entity call's attempt from before a rewind
/// that made the call again? Such an attempt finished before the rewind was recorded (the
/// dispatcher records it once no activity of the instance is queued or running), so its
/// result is older than the rewind; the new attempt's is younger. Under a virtual clock
/// that has not moved both are as old as the rewind, and the result is kept.
fn is_stale(event: &HistoryEvent, redone: &[(HashSet<i64>, DateTime<Utc>)]) -> bool {
    let seq = match &event.kind {
        EventKind::ActivityCompleted { scheduled_id, .. }
        | EventKind::ActivityFailed { scheduled_id, .. }
        | EventKind::EntityOperationCompleted { scheduled_id, .. }
        | EventKind::EntityOperationFailed { scheduled_id, .. } => *scheduled_id,
        _ => return false,
    };
    redone
        .iter()
        .any(|(redo, at)| redo.contains(&seq) && event.timestamp < *at)
}

fn is_failure(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ActivityFailed { .. }
            | EventKind::SubOrchestrationFailed { .. }
            | EventKind::EntityOperationFailed { .. }
    )
}

fn is_scheduling(kind: &EventKind) -> bool {
    super::state::scheduled_signature(kind).is_some()
}

/// Applies one rewind to the events read so far: what stays, and the calls made again.
fn rewind(events: Vec<HistoryEvent>) -> (Vec<HistoryEvent>, HashSet<i64>) {
    let failed_at = events.iter().position(|e| is_failure(&e.kind));
    let cut = failed_at
        .or_else(|| {
            events.iter().position(|e| {
                matches!(
                    e.kind,
                    EventKind::ExecutionCompleted {
                        status: RuntimeStatus::Failed,
                        ..
                    }
                )
            })
        })
        .unwrap_or(events.len());
    // Calls whose scheduling is taken back, so the code makes them again: activities and
    // entity calls that failed, and those that never answered (a result that arrived
    // while the instance was Failed was dropped). Sub-orchestrations keep theirs: the
    // child is rewound, or asked for its result.
    let answers: HashSet<i64> = events.iter().filter_map(|e| answered(&e.kind)).collect();
    let redo: HashSet<i64> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ActivityFailed { scheduled_id, .. }
            | EventKind::EntityOperationFailed { scheduled_id, .. } => Some(scheduled_id),
            EventKind::ActivityScheduled { .. } | EventKind::EntityOperationCalled { .. }
                if !answers.contains(&e.event_id) =>
            {
                Some(e.event_id)
            }
            _ => None,
        })
        .collect();
    let scheduled_before: HashSet<i64> = events[..cut]
        .iter()
        .filter(|e| is_scheduling(&e.kind))
        .map(|e| e.event_id)
        .collect();
    let mut read = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let keep = if index < cut {
            !(redo.contains(&event.event_id)
                && matches!(
                    event.kind,
                    EventKind::ActivityScheduled { .. } | EventKind::EntityOperationCalled { .. }
                ))
        } else if is_failure(&event.kind) || is_scheduling(&event.kind) {
            false
        } else if let Some(seq) = answered(&event.kind) {
            scheduled_before.contains(&seq) && !redo.contains(&seq)
        } else {
            !matches!(
                event.kind,
                EventKind::ExecutionCompleted { .. } | EventKind::ContinuedAsNew { .. }
            )
        };
        if keep {
            read.push(event);
        }
    }
    (read, redo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ExecutionId;
    use crate::payload::Payload;
    use crate::status::FailureDetails;
    use chrono::{DateTime, Utc};

    /// Any fixed time: the view does not read timestamps.
    const T: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

    fn at(kind: EventKind) -> HistoryEvent {
        HistoryEvent::new(T, kind)
    }

    fn scheduled(seq: i64, name: &str) -> HistoryEvent {
        HistoryEvent::scheduled(
            seq,
            T,
            EventKind::ActivityScheduled {
                name: name.into(),
                input: Payload::null(),
            },
        )
    }

    fn completed(seq: i64) -> HistoryEvent {
        at(EventKind::ActivityCompleted {
            scheduled_id: seq,
            result: Payload::null(),
        })
    }

    fn failed(seq: i64) -> HistoryEvent {
        at(EventKind::ActivityFailed {
            scheduled_id: seq,
            failure: FailureDetails::new("boom", "boom"),
        })
    }

    fn names(events: &[HistoryEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match &e.kind {
                EventKind::ActivityScheduled { .. } => format!("S{}", e.event_id),
                EventKind::TimerCreated { .. } => format!("T{}", e.event_id),
                kind => match answered(kind) {
                    Some(seq) if is_failure(kind) => format!("F{seq}"),
                    Some(seq) => format!("C{seq}"),
                    None => kind.type_name().to_owned(),
                },
            })
            .collect()
    }

    fn start() -> HistoryEvent {
        at(EventKind::ExecutionStarted {
            name: "o".into(),
            version: None,
            execution_id: ExecutionId::generate(),
            input: Payload::null(),
            parent: None,
            scheduled_start: None,
            trace_context: None,
        })
    }

    fn failed_end() -> HistoryEvent {
        at(EventKind::ExecutionCompleted {
            status: RuntimeStatus::Failed,
            result: None,
            failure: Some(FailureDetails::new("boom", "boom")),
        })
    }

    fn rewound() -> HistoryEvent {
        at(EventKind::ExecutionRewound { reason: None })
    }

    #[test]
    fn a_history_without_rewind_is_read_as_is() {
        let history = vec![start(), scheduled(0, "a"), failed(0), failed_end()];
        assert!(matches!(view(&history), Cow::Borrowed(_)));
    }

    #[test]
    fn a_chain_keeps_its_successes_and_schedules_the_failed_step_again() {
        let history = vec![
            start(),
            scheduled(0, "a"),
            completed(0),
            scheduled(1, "b"),
            failed(1),
            failed_end(),
            rewound(),
        ];
        assert_eq!(names(&view(&history)), ["ExecutionStarted", "S0", "C0"]);
    }

    #[test]
    fn a_fan_out_keeps_the_results_that_arrived_after_the_first_failure() {
        let history = vec![
            start(),
            scheduled(0, "a"),
            scheduled(1, "a"),
            scheduled(2, "a"),
            completed(0),
            failed(1),
            completed(2),
            failed_end(),
            rewound(),
        ];
        assert_eq!(
            names(&view(&history)),
            ["ExecutionStarted", "S0", "S2", "C0", "C2"]
        );
    }

    #[test]
    fn what_followed_the_failure_is_dropped_with_it() {
        // A retry: the failure, its backoff timer and the second attempt.
        let history = vec![
            start(),
            scheduled(0, "a"),
            failed(0),
            HistoryEvent::scheduled(1, T, EventKind::TimerCreated { fire_at: T }),
            at(EventKind::TimerFired {
                timer_id: 1,
                fire_at: T,
            }),
            scheduled(2, "a"),
            failed(2),
            failed_end(),
            rewound(),
        ];
        assert_eq!(names(&view(&history)), ["ExecutionStarted"]);
    }

    #[test]
    fn a_second_rewind_reads_through_the_first() {
        let history = vec![
            start(),
            scheduled(0, "a"),
            completed(0),
            scheduled(1, "b"),
            failed(1),
            failed_end(),
            rewound(),
            at(EventKind::OrchestratorStarted),
            scheduled(1, "b"),
            completed(1),
            scheduled(2, "c"),
            failed(2),
            failed_end(),
            rewound(),
        ];
        assert_eq!(
            names(&view(&history)),
            [
                "ExecutionStarted",
                "S0",
                "C0",
                "OrchestratorStarted",
                "S1",
                "C1"
            ]
        );
    }

    #[test]
    fn a_rewound_execution_waits_for_its_unanswered_timers_and_children() {
        let child = |seq: i64, id: &str| {
            HistoryEvent::scheduled(
                seq,
                T,
                EventKind::SubOrchestrationCreated {
                    name: "child".into(),
                    instance_id: InstanceId::new(id).unwrap(),
                    input: Payload::null(),
                },
            )
        };
        let timer =
            |seq: i64| HistoryEvent::scheduled(seq, T, EventKind::TimerCreated { fire_at: T });
        let history = vec![
            start(),
            child(0, "ok"),
            child(1, "bad"),
            timer(2),
            child(3, "running"),
            scheduled(4, "late"),
            at(EventKind::SubOrchestrationCompleted {
                scheduled_id: 0,
                result: Payload::null(),
            }),
            at(EventKind::SubOrchestrationFailed {
                scheduled_id: 1,
                failure: FailureDetails::new("boom", "boom"),
            }),
            failed_end(),
            rewound(),
        ];
        let read = view(&history);
        assert_eq!(
            names(&read),
            [
                "ExecutionStarted",
                "SubOrchestrationCreated",
                "SubOrchestrationCreated",
                "T2",
                "SubOrchestrationCreated",
                "C0"
            ],
            "the unanswered activity is scheduled again; the children stay"
        );
        let waiting = waiting(&read);
        assert_eq!(waiting.timers, [(2, T)]);
        assert_eq!(
            waiting.children,
            [
                (1, InstanceId::new("bad").unwrap()),
                (3, InstanceId::new("running").unwrap())
            ]
        );
    }
}
