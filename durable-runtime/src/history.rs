//! The history event model: what an orchestration instance's append-only history holds.
//!
//! Pure data plus serde, no logic (Architecture Invariant: this module depends on nothing
//! else in the crate but ids, payloads, failure details and trace contexts). Event kinds follow
//! microsoft/durabletask-protobuf `HistoryEvent`, with activities named as such
//! (`ActivityScheduled` where DTF says `TaskScheduled`).
//!
//! Sequence-number linkage follows DTF: a *scheduling* event (`ActivityScheduled`,
//! `TimerCreated`, `SubOrchestrationCreated`, `EventSent`) carries the action's sequence
//! number in [`HistoryEvent::event_id`]; a *completion* event carries `-1` there and points
//! back through its `scheduled_id` / `timer_id` field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::trace_context::TraceContext;

/// The `event_id` of events that are not scheduling events.
pub const NO_EVENT_ID: i64 = -1;

/// One entry of an instance's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// The action sequence number for scheduling events, [`NO_EVENT_ID`] otherwise.
    pub event_id: i64,
    /// When the event was recorded (UTC, microsecond precision).
    pub timestamp: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

impl HistoryEvent {
    /// Makes an event with [`NO_EVENT_ID`].
    pub fn new(timestamp: DateTime<Utc>, kind: EventKind) -> Self {
        Self {
            event_id: NO_EVENT_ID,
            timestamp,
            kind,
        }
    }

    /// Makes a scheduling event carrying sequence number `event_id`.
    pub fn scheduled(event_id: i64, timestamp: DateTime<Utc>, kind: EventKind) -> Self {
        Self {
            event_id,
            timestamp,
            kind,
        }
    }
}

/// The parent of a sub-orchestration, as recorded in its `ExecutionStarted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentInstance {
    /// The parent's instance id.
    pub instance_id: InstanceId,
    /// The parent's execution id.
    pub execution_id: ExecutionId,
    /// The sequence number of the parent's `SubOrchestrationCreated` event.
    pub scheduled_id: i64,
}

/// The kinds of history event, with their fields.
///
/// Serialized externally tagged (`{"ActivityScheduled": {...}}`, or `"OrchestratorStarted"`
/// for events without fields), which keeps payloads as raw JSON without re-encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventKind {
    /// Opens every turn (episode); its timestamp is what `current_time()` reads.
    OrchestratorStarted,
    /// Closes a turn.
    OrchestratorCompleted,
    /// The first event of an execution: which orchestration, with which input.
    ExecutionStarted {
        /// The registered orchestration name.
        name: String,
        /// The orchestration version, if any.
        version: Option<String>,
        /// The execution this event starts.
        execution_id: ExecutionId,
        /// The orchestration input.
        input: Payload,
        /// The parent, for a sub-orchestration.
        parent: Option<ParentInstance>,
        /// When the instance should start, for a delayed start.
        scheduled_start: Option<DateTime<Utc>>,
        /// The W3C trace context of whoever started this execution (the client's
        /// `create_orchestration` span, the caller's span or `traceparent` header, the
        /// parent's sub-orchestration span), as Durable Functions' `ParentTraceContext`:
        /// the orchestration's spans join that trace. Absent in histories written before it
        /// existed, and when nothing traced the start; left out of the JSON then.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_context: Option<TraceContext>,
    },
    /// An activity was scheduled (`event_id` = its sequence number).
    ActivityScheduled {
        /// The registered activity name.
        name: String,
        /// The activity input.
        input: Payload,
    },
    /// An activity returned a value.
    ActivityCompleted {
        /// The sequence number of the matching `ActivityScheduled`.
        scheduled_id: i64,
        /// The activity output.
        result: Payload,
    },
    /// An activity returned an error or panicked.
    ActivityFailed {
        /// The sequence number of the matching `ActivityScheduled`.
        scheduled_id: i64,
        /// What went wrong.
        failure: FailureDetails,
    },
    /// A durable timer was created (`event_id` = its sequence number).
    TimerCreated {
        /// When it fires.
        fire_at: DateTime<Utc>,
    },
    /// A durable timer fired.
    TimerFired {
        /// The sequence number of the matching `TimerCreated`.
        timer_id: i64,
        /// When it was due.
        fire_at: DateTime<Utc>,
    },
    /// An external event (or an entity message) arrived.
    EventRaised {
        /// The event name.
        name: String,
        /// The event data.
        input: Payload,
    },
    /// This orchestration sent a one-way event (`event_id` = its sequence number).
    EventSent {
        /// The receiving instance.
        instance_id: InstanceId,
        /// The event name.
        name: String,
        /// The event data.
        input: Payload,
    },
    /// A sub-orchestration was started (`event_id` = its sequence number).
    SubOrchestrationCreated {
        /// The registered orchestration name of the child.
        name: String,
        /// The child's instance id.
        instance_id: InstanceId,
        /// The child's input.
        input: Payload,
    },
    /// A sub-orchestration completed.
    SubOrchestrationCompleted {
        /// The sequence number of the matching `SubOrchestrationCreated`.
        scheduled_id: i64,
        /// The child's output.
        result: Payload,
    },
    /// A sub-orchestration failed.
    SubOrchestrationFailed {
        /// The sequence number of the matching `SubOrchestrationCreated`.
        scheduled_id: i64,
        /// What went wrong in the child.
        failure: FailureDetails,
    },
    /// The execution ended: completed or failed.
    ExecutionCompleted {
        /// `Completed` or `Failed`.
        status: RuntimeStatus,
        /// The output, when completed.
        result: Option<Payload>,
        /// What went wrong, when failed.
        failure: Option<FailureDetails>,
    },
    /// The execution ended with continue-as-new; the next execution starts with `input`.
    ContinuedAsNew {
        /// The new execution's input.
        input: Payload,
    },
    /// A client terminated the instance.
    ExecutionTerminated {
        /// The reason given, if any.
        reason: Option<String>,
    },
    /// A client suspended the instance.
    ExecutionSuspended {
        /// The reason given, if any.
        reason: Option<String>,
    },
    /// A client resumed the instance.
    ExecutionResumed {
        /// The reason given, if any.
        reason: Option<String>,
    },
    /// A client rewound the failed instance (Durable Functions' `RewindAsync`, DTF's
    /// `ExecutionRewoundEvent`). Appended after the failed `ExecutionCompleted`; replay then
    /// reads the execution as if its failures had not happened: it keeps everything before
    /// the first failure, and after it only the results of work scheduled before it, raised
    /// events and suspend/resume markers. Failed activities and entity calls are scheduled
    /// again; failed sub-orchestrations are rewound in turn and keep their own results.
    ExecutionRewound {
        /// The reason given, if any.
        reason: Option<String>,
    },
    /// An orchestration called an entity operation and waits for its result (a scheduling
    /// event: [`HistoryEvent::event_id`] holds the sequence number). Follows DTF's
    /// `EntityOperationCalledEvent`.
    EntityOperationCalled {
        /// The entity.
        entity: EntityId,
        /// The operation name.
        operation: String,
        /// The operation's input.
        input: Payload,
    },
    /// An orchestration signalled an entity operation: one-way, nothing completes it (a
    /// scheduling event). Follows DTF's `EntityOperationSignaledEvent`.
    EntityOperationSignaled {
        /// The entity.
        entity: EntityId,
        /// The operation name.
        operation: String,
        /// The operation's input.
        input: Payload,
        /// When the operation is to run; `None` for at once.
        scheduled_time: Option<DateTime<Utc>>,
    },
    /// A called entity operation returned.
    EntityOperationCompleted {
        /// The sequence number of the `EntityOperationCalled`.
        scheduled_id: i64,
        /// The operation's result.
        result: Payload,
    },
    /// A called entity operation failed (returned an error or panicked); its state change
    /// was rolled back.
    EntityOperationFailed {
        /// The sequence number of the `EntityOperationCalled`.
        scheduled_id: i64,
        /// What went wrong.
        failure: FailureDetails,
    },
    /// An orchestration asked to lock entities for a critical section (a scheduling event).
    EntityLockRequested {
        /// The entities, in the global lock order.
        entities: Vec<EntityId>,
    },
    /// Every entity of a critical section is locked for this orchestration.
    EntityLockGranted {
        /// The sequence number of the `EntityLockRequested`.
        scheduled_id: i64,
    },
    /// An orchestration released the entities of its critical section (a scheduling event).
    EntityUnlockSent {
        /// The entities released.
        entities: Vec<EntityId>,
    },
    /// A message in an entity's queue: run an operation. Never part of an orchestration's
    /// history.
    EntityRequest {
        /// The operation name.
        operation: String,
        /// The operation's input.
        input: Payload,
        /// For a call, the orchestration waiting for the result; `None` for a signal.
        caller: Option<ParentInstance>,
        /// The W3C trace context of the span that sent the request (the caller's entity
        /// call or signal span, or the client's), which the operation's span continues;
        /// absent when nothing traced the sender.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_context: Option<TraceContext>,
    },
    /// A message in an entity's queue: lock it for a critical section, then pass the
    /// request on to the next entity in `entities` (or grant the lock when it is the last).
    EntityLockRequest {
        /// The orchestration that asked, and the sequence number of its request.
        owner: ParentInstance,
        /// Every entity of the critical section, in the global lock order.
        entities: Vec<EntityId>,
        /// This entity's position in `entities`.
        position: u32,
    },
    /// A message in an entity's queue: the critical section of `owner` has ended.
    EntityUnlock {
        /// The orchestration that held the lock.
        owner: InstanceId,
    },
}

impl EventKind {
    /// The event kind's name as it appears in history listings (`"ActivityScheduled"`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::OrchestratorStarted => "OrchestratorStarted",
            Self::OrchestratorCompleted => "OrchestratorCompleted",
            Self::ExecutionStarted { .. } => "ExecutionStarted",
            Self::ActivityScheduled { .. } => "ActivityScheduled",
            Self::ActivityCompleted { .. } => "ActivityCompleted",
            Self::ActivityFailed { .. } => "ActivityFailed",
            Self::TimerCreated { .. } => "TimerCreated",
            Self::TimerFired { .. } => "TimerFired",
            Self::EventRaised { .. } => "EventRaised",
            Self::EventSent { .. } => "EventSent",
            Self::SubOrchestrationCreated { .. } => "SubOrchestrationCreated",
            Self::SubOrchestrationCompleted { .. } => "SubOrchestrationCompleted",
            Self::SubOrchestrationFailed { .. } => "SubOrchestrationFailed",
            Self::ExecutionCompleted { .. } => "ExecutionCompleted",
            Self::ContinuedAsNew { .. } => "ContinuedAsNew",
            Self::ExecutionTerminated { .. } => "ExecutionTerminated",
            Self::ExecutionSuspended { .. } => "ExecutionSuspended",
            Self::ExecutionResumed { .. } => "ExecutionResumed",
            Self::ExecutionRewound { .. } => "ExecutionRewound",
            Self::EntityOperationCalled { .. } => "EntityOperationCalled",
            Self::EntityOperationSignaled { .. } => "EntityOperationSignaled",
            Self::EntityOperationCompleted { .. } => "EntityOperationCompleted",
            Self::EntityOperationFailed { .. } => "EntityOperationFailed",
            Self::EntityLockRequested { .. } => "EntityLockRequested",
            Self::EntityLockGranted { .. } => "EntityLockGranted",
            Self::EntityUnlockSent { .. } => "EntityUnlockSent",
            Self::EntityRequest { .. } => "EntityRequest",
            Self::EntityLockRequest { .. } => "EntityLockRequest",
            Self::EntityUnlock { .. } => "EntityUnlock",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let now = crate::clock::now();
        let events = vec![
            HistoryEvent::new(now, EventKind::OrchestratorStarted),
            HistoryEvent::new(
                now,
                EventKind::ExecutionStarted {
                    name: "hello".into(),
                    version: None,
                    execution_id: ExecutionId::generate(),
                    input: Payload::encode(&["Tokyo"]).unwrap(),
                    parent: None,
                    scheduled_start: None,
                    trace_context: None,
                },
            ),
            HistoryEvent::scheduled(
                0,
                now,
                EventKind::ActivityScheduled {
                    name: "say_hello".into(),
                    input: Payload::encode("Tokyo").unwrap(),
                },
            ),
            HistoryEvent::new(
                now,
                EventKind::ActivityFailed {
                    scheduled_id: 0,
                    failure: FailureDetails::new("io::Error", "disk full"),
                },
            ),
        ];
        let json = serde_json::to_string(&events).unwrap();
        assert!(
            json.contains(r#""input":["Tokyo"]"#),
            "payload kept as raw JSON: {json}"
        );
        let back: Vec<HistoryEvent> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, events);
    }

    #[test]
    fn trace_contexts_are_optional_and_left_out_when_absent() {
        // A history written before trace contexts existed still reads.
        let old = r#"{"event_id":-1,"timestamp":"2026-01-01T00:00:00Z","kind":{"ExecutionStarted":{"name":"hello","version":null,"execution_id":"e1","input":null,"parent":null,"scheduled_start":null}}}"#;
        let event: HistoryEvent = serde_json::from_str(old).unwrap();
        let EventKind::ExecutionStarted { trace_context, .. } = &event.kind else {
            panic!("not an ExecutionStarted: {event:?}");
        };
        assert_eq!(*trace_context, None);
        // Written back without the field, byte for byte.
        assert_eq!(serde_json::to_string(&event).unwrap(), old);
        let old_request = r#"{"EntityRequest":{"operation":"add","input":1,"caller":null}}"#;
        let kind: EventKind = serde_json::from_str(old_request).unwrap();
        assert_eq!(serde_json::to_string(&kind).unwrap(), old_request);
        // With one, it round-trips.
        let context = TraceContext::parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("k=v"),
        )
        .unwrap();
        let kind = EventKind::EntityRequest {
            operation: "add".into(),
            input: Payload::encode(&1).unwrap(),
            caller: None,
            trace_context: Some(context),
        };
        let json = serde_json::to_string(&kind).unwrap();
        assert!(
            json.contains(r#""trace_context":{"traceparent":"00-4bf9"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
    }
}
