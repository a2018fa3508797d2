//! An execution's history as a timeline: spans for the work it scheduled (activities,
//! timers, sub-orchestrations, entity calls and locks), each from its scheduling event to
//! its result, and markers for what happens at one moment (events raised and sent,
//! signals, suspend, resume, rewind, the end).
//!
//! Pure: history in, timeline out; no I/O. A result is paired with the latest open span of
//! its sequence number: a rewound execution schedules failed activities again under the
//! same numbers (see `replay/rewind.rs`), so one number can have several spans, and a
//! rewound sub-orchestration's new result, which has no new scheduling event, opens a span
//! of its own from the rewind. A result that matches nothing (a duplicate delivery) is
//! left out, as replay ignores it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::history::{EventKind, HistoryEvent};
use crate::status::{FailureDetails, RuntimeStatus};

/// The most spans and markers a timeline carries each; past them it is `truncated`.
pub(super) const MAX_ITEMS: usize = 2_000;

/// A time as the page uses it: milliseconds since the Unix epoch, to the microsecond.
fn millis(time: DateTime<Utc>) -> f64 {
    time.timestamp_micros() as f64 / 1000.0
}

/// What a span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum SpanKind {
    Activity,
    Timer,
    SubOrchestration,
    EntityCall,
    EntityLock,
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Outcome {
    Completed,
    Failed,
    /// Not ended (yet): still running, waiting, or abandoned when the execution ended.
    Pending,
}

/// One piece of scheduled work.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Span {
    pub(super) kind: SpanKind,
    /// The activity, orchestration or operation name; for a timer, empty.
    pub(super) name: String,
    /// The sequence number of the scheduling event.
    pub(super) seq: i64,
    pub(super) start: f64,
    /// When its result was recorded; `None` while pending.
    pub(super) end: Option<f64>,
    /// A timer's fire time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) due: Option<f64>,
    pub(super) outcome: Outcome,
    /// The sub-orchestration's instance id, or the called entity's id (`@name@key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) target: Option<String>,
    /// The failure, for a failed span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) failure: Option<String>,
}

/// Something that happened at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Marker {
    /// The history event's type name (`EventRaised`).
    pub(super) kind: &'static str,
    pub(super) time: f64,
    /// What to show: an event's name, a reason, an outcome.
    pub(super) label: String,
    /// The instance an event was sent to, or the signalled entity's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) target: Option<String>,
}

/// An execution's timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Timeline {
    /// The first event's time; `None` for an empty history.
    pub(super) start: Option<f64>,
    /// When the execution ended (completed, failed, terminated, continued as new); `None`
    /// while it runs.
    pub(super) end: Option<f64>,
    pub(super) spans: Vec<Span>,
    pub(super) markers: Vec<Marker>,
    /// More than [`MAX_ITEMS`] spans or markers: the later ones are left out.
    pub(super) truncated: bool,
}

fn failure_text(failure: &FailureDetails) -> String {
    failure.to_string()
}

fn reason(reason: Option<&String>) -> String {
    reason.cloned().unwrap_or_default()
}

/// Builds the timeline of `history` (one execution, oldest event first).
pub(super) fn build(history: &[HistoryEvent]) -> Timeline {
    let mut builder = Builder::default();
    for event in history {
        builder.event(event);
    }
    builder.timeline.start = history.first().map(|e| millis(e.timestamp));
    builder.timeline
}

#[derive(Default)]
struct Builder {
    timeline: Timeline,
    /// Sequence number → index in `spans` of its open span.
    open: HashMap<i64, usize>,
    /// Sequence number → index of its latest span, open or not.
    latest: HashMap<i64, usize>,
    /// The time of the latest `ExecutionRewound`.
    rewound_at: Option<f64>,
}

impl Builder {
    fn event(&mut self, event: &HistoryEvent) {
        let time = millis(event.timestamp);
        let seq = event.event_id;
        match &event.kind {
            EventKind::ActivityScheduled { name, .. } => {
                self.open_span(SpanKind::Activity, name.clone(), seq, time, None, None);
            }
            EventKind::TimerCreated { fire_at } => {
                let due = Some(millis(*fire_at));
                self.open_span(SpanKind::Timer, String::new(), seq, time, due, None);
            }
            EventKind::SubOrchestrationCreated {
                name, instance_id, ..
            } => {
                let target = Some(instance_id.to_string());
                self.open_span(
                    SpanKind::SubOrchestration,
                    name.clone(),
                    seq,
                    time,
                    None,
                    target,
                );
            }
            EventKind::EntityOperationCalled {
                entity, operation, ..
            } => {
                let target = Some(entity.to_string());
                self.open_span(
                    SpanKind::EntityCall,
                    operation.clone(),
                    seq,
                    time,
                    None,
                    target,
                );
            }
            EventKind::EntityLockRequested { entities } => {
                let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
                self.open_span(
                    SpanKind::EntityLock,
                    names.join(", "),
                    seq,
                    time,
                    None,
                    None,
                );
            }
            EventKind::ActivityCompleted { scheduled_id, .. }
            | EventKind::TimerFired {
                timer_id: scheduled_id,
                ..
            }
            | EventKind::SubOrchestrationCompleted { scheduled_id, .. }
            | EventKind::EntityOperationCompleted { scheduled_id, .. }
            | EventKind::EntityLockGranted { scheduled_id } => {
                self.close_span(*scheduled_id, time, Outcome::Completed, None);
            }
            EventKind::ActivityFailed {
                scheduled_id,
                failure,
            }
            | EventKind::SubOrchestrationFailed {
                scheduled_id,
                failure,
            }
            | EventKind::EntityOperationFailed {
                scheduled_id,
                failure,
            } => {
                let failure = Some(failure_text(failure));
                self.close_span(*scheduled_id, time, Outcome::Failed, failure);
            }
            EventKind::ExecutionStarted { name, version, .. } => {
                let label = match version {
                    Some(version) => format!("{name} (version {version})"),
                    None => name.clone(),
                };
                self.mark(event, label, None);
            }
            EventKind::EventRaised { name, .. } => self.mark(event, name.clone(), None),
            EventKind::EventSent {
                instance_id, name, ..
            } => self.mark(event, name.clone(), Some(instance_id.to_string())),
            EventKind::EntityOperationSignaled {
                entity, operation, ..
            } => self.mark(event, operation.clone(), Some(entity.to_string())),
            EventKind::EntityUnlockSent { entities } => {
                let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
                self.mark(event, names.join(", "), None);
            }
            EventKind::ExecutionSuspended { reason: why }
            | EventKind::ExecutionResumed { reason: why } => {
                self.mark(event, reason(why.as_ref()), None);
            }
            EventKind::ExecutionRewound { reason: why } => {
                self.mark(event, reason(why.as_ref()), None);
                self.rewound_at = Some(time);
                // The execution runs again.
                self.timeline.end = None;
            }
            EventKind::ExecutionTerminated { reason: why } => {
                self.mark(event, reason(why.as_ref()), None);
                self.timeline.end = Some(time);
            }
            EventKind::ExecutionCompleted {
                status, failure, ..
            } => {
                let label = match (status, failure) {
                    (RuntimeStatus::Failed, Some(failure)) => failure_text(failure),
                    _ => status.to_string(),
                };
                self.mark(event, label, None);
                self.timeline.end = Some(time);
            }
            EventKind::ContinuedAsNew { .. } => {
                self.mark(event, String::new(), None);
                self.timeline.end = Some(time);
            }
            // Turn brackets, and entity queue messages (never in an orchestration's history).
            EventKind::OrchestratorStarted
            | EventKind::OrchestratorCompleted
            | EventKind::EntityRequest { .. }
            | EventKind::EntityLockRequest { .. }
            | EventKind::EntityUnlock { .. } => {}
        }
    }

    fn open_span(
        &mut self,
        kind: SpanKind,
        name: String,
        seq: i64,
        start: f64,
        due: Option<f64>,
        target: Option<String>,
    ) {
        if self.timeline.spans.len() >= MAX_ITEMS {
            self.timeline.truncated = true;
            return;
        }
        let index = self.timeline.spans.len();
        self.timeline.spans.push(Span {
            kind,
            name,
            seq,
            start,
            end: None,
            due,
            outcome: Outcome::Pending,
            target,
            failure: None,
        });
        self.open.insert(seq, index);
        self.latest.insert(seq, index);
    }

    fn close_span(&mut self, seq: i64, end: f64, outcome: Outcome, failure: Option<String>) {
        let index = match self.open.remove(&seq) {
            Some(index) => index,
            // A rewound sub-orchestration's new result: its work resumed at the rewind.
            None => match (self.latest.get(&seq), self.rewound_at) {
                (Some(&latest), Some(rewound_at))
                    if self.timeline.spans[latest].outcome == Outcome::Failed
                        && self.timeline.spans.len() < MAX_ITEMS =>
                {
                    let previous = &self.timeline.spans[latest];
                    let span = Span {
                        start: rewound_at,
                        end: None,
                        outcome: Outcome::Pending,
                        failure: None,
                        ..previous.clone()
                    };
                    self.timeline.spans.push(span);
                    let index = self.timeline.spans.len() - 1;
                    self.latest.insert(seq, index);
                    index
                }
                // Nothing to pair with: a duplicate, or a span past the cap.
                _ => return,
            },
        };
        let span = &mut self.timeline.spans[index];
        span.end = Some(end);
        span.outcome = outcome;
        span.failure = failure;
    }

    fn mark(&mut self, event: &HistoryEvent, label: String, target: Option<String>) {
        if self.timeline.markers.len() >= MAX_ITEMS {
            self.timeline.truncated = true;
            return;
        }
        self.timeline.markers.push(Marker {
            kind: event.kind.type_name(),
            time: millis(event.timestamp),
            label,
            target,
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ids::{EntityId, ExecutionId, InstanceId};
    use crate::payload::Payload;

    /// An event at `ms` milliseconds after the epoch.
    fn at(ms: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent::new(Utc.timestamp_millis_opt(ms).unwrap(), kind)
    }

    fn scheduled(ms: i64, seq: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent::scheduled(seq, Utc.timestamp_millis_opt(ms).unwrap(), kind)
    }

    fn started(ms: i64) -> HistoryEvent {
        at(
            ms,
            EventKind::ExecutionStarted {
                name: "order".into(),
                version: None,
                execution_id: ExecutionId::generate(),
                input: Payload::null(),
                parent: None,
                scheduled_start: None,
                trace_context: None,
            },
        )
    }

    fn activity(ms: i64, seq: i64, name: &str) -> HistoryEvent {
        scheduled(
            ms,
            seq,
            EventKind::ActivityScheduled {
                name: name.into(),
                input: Payload::null(),
            },
        )
    }

    fn done(ms: i64, seq: i64) -> HistoryEvent {
        at(
            ms,
            EventKind::ActivityCompleted {
                scheduled_id: seq,
                result: Payload::null(),
            },
        )
    }

    fn failed(ms: i64, seq: i64) -> HistoryEvent {
        at(
            ms,
            EventKind::ActivityFailed {
                scheduled_id: seq,
                failure: FailureDetails::new("io", "disk full"),
            },
        )
    }

    /// A span as (kind, name, seq, start, end, outcome).
    type Row<'a> = (SpanKind, &'a str, i64, f64, Option<f64>, Outcome);

    fn outcomes(timeline: &Timeline) -> Vec<Row<'_>> {
        timeline
            .spans
            .iter()
            .map(|s| (s.kind, s.name.as_str(), s.seq, s.start, s.end, s.outcome))
            .collect()
    }

    #[test]
    fn a_chain_pairs_each_activity_with_its_result() {
        let timeline = build(&[
            started(0),
            activity(1, 0, "charge"),
            done(5, 0),
            activity(6, 1, "ship"),
            failed(9, 1),
            at(
                10,
                EventKind::ExecutionCompleted {
                    status: RuntimeStatus::Failed,
                    result: None,
                    failure: Some(FailureDetails::new("io", "disk full")),
                },
            ),
        ]);
        assert_eq!(
            outcomes(&timeline),
            [
                (
                    SpanKind::Activity,
                    "charge",
                    0,
                    1.0,
                    Some(5.0),
                    Outcome::Completed
                ),
                (
                    SpanKind::Activity,
                    "ship",
                    1,
                    6.0,
                    Some(9.0),
                    Outcome::Failed
                ),
            ]
        );
        assert_eq!(timeline.spans[1].failure.as_deref(), Some("disk full (io)"));
        assert_eq!((timeline.start, timeline.end), (Some(0.0), Some(10.0)));
        let kinds: Vec<&str> = timeline.markers.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["ExecutionStarted", "ExecutionCompleted"]);
        assert_eq!(timeline.markers[0].label, "order");
        assert_eq!(timeline.markers[1].label, "disk full (io)");
    }

    #[test]
    fn a_fan_out_closes_results_in_any_order_and_leaves_the_rest_pending() {
        let timeline = build(&[
            started(0),
            activity(1, 0, "copy"),
            activity(1, 1, "copy"),
            activity(1, 2, "copy"),
            done(3, 2),
            done(4, 0),
            // A duplicate delivery of a result pairs with nothing.
            done(5, 0),
        ]);
        assert_eq!(
            outcomes(&timeline),
            [
                (
                    SpanKind::Activity,
                    "copy",
                    0,
                    1.0,
                    Some(4.0),
                    Outcome::Completed
                ),
                (SpanKind::Activity, "copy", 1, 1.0, None, Outcome::Pending),
                (
                    SpanKind::Activity,
                    "copy",
                    2,
                    1.0,
                    Some(3.0),
                    Outcome::Completed
                ),
            ]
        );
        assert_eq!(timeline.end, None, "still running");
    }

    #[test]
    fn timers_sub_orchestrations_and_entities_become_spans() {
        let child = InstanceId::new("child-1").unwrap();
        let counter = EntityId::new("counter", "a").unwrap();
        let timeline = build(&[
            started(0),
            scheduled(
                1,
                0,
                EventKind::TimerCreated {
                    fire_at: Utc.timestamp_millis_opt(60_000).unwrap(),
                },
            ),
            scheduled(
                1,
                1,
                EventKind::SubOrchestrationCreated {
                    name: "child".into(),
                    instance_id: child.clone(),
                    input: Payload::null(),
                },
            ),
            scheduled(
                1,
                2,
                EventKind::EntityOperationCalled {
                    entity: counter.clone(),
                    operation: "add".into(),
                    input: Payload::null(),
                },
            ),
            scheduled(
                1,
                3,
                EventKind::EntityLockRequested {
                    entities: vec![counter.clone()],
                },
            ),
            at(
                2,
                EventKind::SubOrchestrationFailed {
                    scheduled_id: 1,
                    failure: FailureDetails::new("panic", "boom"),
                },
            ),
            at(
                3,
                EventKind::EntityOperationCompleted {
                    scheduled_id: 2,
                    result: Payload::null(),
                },
            ),
            at(4, EventKind::EntityLockGranted { scheduled_id: 3 }),
            at(
                60_001,
                EventKind::TimerFired {
                    timer_id: 0,
                    fire_at: Utc.timestamp_millis_opt(60_000).unwrap(),
                },
            ),
            at(
                60_002,
                EventKind::EventRaised {
                    name: "approval".into(),
                    input: Payload::null(),
                },
            ),
            scheduled(
                60_003,
                4,
                EventKind::EntityOperationSignaled {
                    entity: counter.clone(),
                    operation: "reset".into(),
                    input: Payload::null(),
                    scheduled_time: None,
                },
            ),
        ]);
        assert_eq!(
            outcomes(&timeline),
            [
                (
                    SpanKind::Timer,
                    "",
                    0,
                    1.0,
                    Some(60_001.0),
                    Outcome::Completed
                ),
                (
                    SpanKind::SubOrchestration,
                    "child",
                    1,
                    1.0,
                    Some(2.0),
                    Outcome::Failed
                ),
                (
                    SpanKind::EntityCall,
                    "add",
                    2,
                    1.0,
                    Some(3.0),
                    Outcome::Completed
                ),
                (
                    SpanKind::EntityLock,
                    "@counter@a",
                    3,
                    1.0,
                    Some(4.0),
                    Outcome::Completed
                ),
            ]
        );
        assert_eq!(timeline.spans[0].due, Some(60_000.0));
        assert_eq!(timeline.spans[1].target.as_deref(), Some("child-1"));
        assert_eq!(timeline.spans[1].failure.as_deref(), Some("boom (panic)"));
        assert_eq!(timeline.spans[2].target.as_deref(), Some("@counter@a"));
        let markers: Vec<(&str, &str, Option<&str>)> = timeline
            .markers
            .iter()
            .map(|m| (m.kind, m.label.as_str(), m.target.as_deref()))
            .collect();
        assert_eq!(
            markers,
            [
                ("ExecutionStarted", "order", None),
                ("EventRaised", "approval", None),
                ("EntityOperationSignaled", "reset", Some("@counter@a")),
            ]
        );
    }

    #[test]
    fn a_rewound_execution_shows_the_failure_and_the_second_attempt() {
        let child = InstanceId::new("child-1").unwrap();
        let failed_end = at(
            10,
            EventKind::ExecutionCompleted {
                status: RuntimeStatus::Failed,
                result: None,
                failure: Some(FailureDetails::new("io", "disk full")),
            },
        );
        let timeline = build(&[
            started(0),
            activity(1, 0, "charge"),
            scheduled(
                1,
                1,
                EventKind::SubOrchestrationCreated {
                    name: "child".into(),
                    instance_id: child,
                    input: Payload::null(),
                },
            ),
            failed(5, 0),
            at(
                6,
                EventKind::SubOrchestrationFailed {
                    scheduled_id: 1,
                    failure: FailureDetails::new("panic", "boom"),
                },
            ),
            failed_end,
            at(
                20,
                EventKind::ExecutionRewound {
                    reason: Some("fixed".into()),
                },
            ),
            // The failed activity is scheduled again under its number; the rewound child's
            // new result has no new scheduling event.
            activity(21, 0, "charge"),
            done(25, 0),
            at(
                30,
                EventKind::SubOrchestrationCompleted {
                    scheduled_id: 1,
                    result: Payload::null(),
                },
            ),
        ]);
        assert_eq!(
            outcomes(&timeline),
            [
                (
                    SpanKind::Activity,
                    "charge",
                    0,
                    1.0,
                    Some(5.0),
                    Outcome::Failed
                ),
                (
                    SpanKind::SubOrchestration,
                    "child",
                    1,
                    1.0,
                    Some(6.0),
                    Outcome::Failed
                ),
                (
                    SpanKind::Activity,
                    "charge",
                    0,
                    21.0,
                    Some(25.0),
                    Outcome::Completed
                ),
                (
                    SpanKind::SubOrchestration,
                    "child",
                    1,
                    20.0,
                    Some(30.0),
                    Outcome::Completed
                ),
            ]
        );
        assert_eq!(timeline.spans[3].target.as_deref(), Some("child-1"));
        assert_eq!(timeline.end, None, "running again after the rewind");
        let rewound = timeline
            .markers
            .iter()
            .find(|m| m.kind == "ExecutionRewound")
            .unwrap();
        assert_eq!(rewound.label, "fixed");
    }

    #[test]
    fn a_long_history_is_cut_at_the_cap() {
        let mut history = vec![started(0)];
        for seq in 0..(MAX_ITEMS as i64 + 10) {
            history.push(activity(1, seq, "step"));
            history.push(done(2, seq));
        }
        let timeline = build(&history);
        assert_eq!(timeline.spans.len(), MAX_ITEMS);
        assert!(timeline.truncated);
        assert!(
            timeline
                .spans
                .iter()
                .all(|s| s.outcome == Outcome::Completed),
            "the spans kept are whole"
        );
    }

    #[test]
    fn terminate_and_continue_as_new_end_the_execution() {
        let terminated = build(&[
            started(0),
            at(
                7,
                EventKind::ExecutionTerminated {
                    reason: Some("duplicate".into()),
                },
            ),
        ]);
        assert_eq!(terminated.end, Some(7.0));
        assert_eq!(terminated.markers[1].label, "duplicate");
        let continued = build(&[
            started(0),
            at(
                8,
                EventKind::ContinuedAsNew {
                    input: Payload::null(),
                },
            ),
        ]);
        assert_eq!(continued.end, Some(8.0));
        assert_eq!(build(&[]).start, None);
    }
}
