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
//! - Before `p` everything stays, except the scheduling events of failed activities and
//!   entity calls: the code makes those calls again and they are scheduled anew, with the
//!   same sequence numbers. A failed sub-orchestration's `SubOrchestrationCreated` stays:
//!   the child is rewound (see [`failed_children`]) and its new result arrives later.
//! - From `p` on only results of work scheduled before `p` stay (successes; failures are
//!   dropped), with raised events, suspend/resume markers and turn brackets. Whatever the
//!   code scheduled from `p` on followed from a failure that, in the rewound reading, has
//!   not happened; the code schedules it again if it still does.
//!
//! Several rewinds apply in order: the view of the first is the start of the second's.

use std::borrow::Cow;
use std::collections::HashSet;

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
    for event in history {
        if matches!(event.kind, EventKind::ExecutionRewound { .. }) {
            read = rewind(read);
        } else {
            read.push(event.clone());
        }
    }
    Cow::Owned(read)
}

/// The instances of the sub-orchestrations whose failure a rewind of `history` (as it is
/// now, before the new `ExecutionRewound`) takes back: they are rewound too.
pub(crate) fn failed_children(history: &[HistoryEvent]) -> Vec<InstanceId> {
    let read = view(history);
    let failed: HashSet<i64> = read
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::SubOrchestrationFailed { scheduled_id, .. } => Some(scheduled_id),
            _ => None,
        })
        .collect();
    read.iter()
        .filter_map(|e| match &e.kind {
            EventKind::SubOrchestrationCreated { instance_id, .. }
                if failed.contains(&e.event_id) =>
            {
                Some(instance_id.clone())
            }
            _ => None,
        })
        .collect()
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

/// Applies one rewind to the events read so far.
fn rewind(events: Vec<HistoryEvent>) -> Vec<HistoryEvent> {
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
    // Failed calls whose scheduling is taken back (sub-orchestrations keep theirs).
    let redo: HashSet<i64> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ActivityFailed { scheduled_id, .. }
            | EventKind::EntityOperationFailed { scheduled_id, .. } => Some(scheduled_id),
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
    read
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
    fn failed_children_are_those_whose_failure_is_taken_back() {
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
        let history = vec![
            start(),
            child(0, "ok"),
            child(1, "bad"),
            at(EventKind::SubOrchestrationCompleted {
                scheduled_id: 0,
                result: Payload::null(),
            }),
            at(EventKind::SubOrchestrationFailed {
                scheduled_id: 1,
                failure: FailureDetails::new("boom", "boom"),
            }),
            failed_end(),
        ];
        let children = failed_children(&history);
        assert_eq!(children, [InstanceId::new("bad").unwrap()]);
        let mut rewound_history = history;
        rewound_history.push(rewound());
        let read = view(&rewound_history);
        assert_eq!(
            read.len(),
            4,
            "both creations and the success stay: {read:?}"
        );
    }
}
