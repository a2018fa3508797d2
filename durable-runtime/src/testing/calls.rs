//! [`DurableCall`]: the durable calls an instance made, read from its history, for
//! assertions that read like the orchestrator code.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::entity::EntityId;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::InstanceId;
use crate::payload::Payload;
use crate::registry::{Activity, Orchestration};

/// One durable call an orchestration made, as its scheduling event in history records it.
///
/// Built from history by [`DurableCall::from_history`] (and
/// [`TestEnvironment::durable_calls`](super::TestEnvironment::durable_calls)), or as an
/// expectation with the typed constructors, which take the marker types the macros
/// generate: `DurableCall::activity(SayHello, "Tokyo".into())`. Inputs compare as JSON
/// values; names compare as recorded (registered names).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DurableCall {
    /// `call_activity` (`ActivityScheduled`).
    Activity {
        /// The registered activity name.
        name: String,
        /// The input, as JSON.
        input: Value,
    },
    /// `create_timer` (`TimerCreated`), also the waits of retry policies and of
    /// `wait_for_event_with_timeout`.
    Timer {
        /// How long after the turn that created it the timer fires.
        delay: Duration,
    },
    /// `call_sub_orchestrator` (`SubOrchestrationCreated`).
    SubOrchestration {
        /// The registered orchestration name.
        name: String,
        /// The input, as JSON.
        input: Value,
    },
    /// `send_event` (`EventSent`).
    EventSent {
        /// The receiving instance.
        instance_id: InstanceId,
        /// The event name.
        name: String,
        /// The event data, as JSON.
        input: Value,
    },
    /// An entity call that waits for its result (`EntityOperationCalled`).
    EntityCall {
        /// The entity.
        entity: EntityId,
        /// The operation.
        operation: String,
        /// The input, as JSON.
        input: Value,
    },
    /// A one-way entity signal (`EntityOperationSignaled`).
    EntitySignal {
        /// The entity.
        entity: EntityId,
        /// The operation.
        operation: String,
        /// The input, as JSON.
        input: Value,
    },
    /// Entering a critical section (`EntityLockRequested`).
    EntityLock {
        /// The entities, in lock order.
        entities: Vec<EntityId>,
    },
    /// Leaving a critical section (`EntityUnlockSent`).
    EntityUnlock {
        /// The entities released.
        entities: Vec<EntityId>,
    },
}

fn json<T: Serialize + ?Sized>(what: &str, value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|error| {
        panic!("the expected input of {what} does not encode as JSON: {error}")
    })
}

fn payload_json(payload: &Payload) -> Value {
    payload.decode().unwrap_or(Value::Null)
}

impl DurableCall {
    /// Expects a call of activity `A` with `input`.
    ///
    /// # Panics
    /// When `input` cannot be encoded as JSON (a map with non-string keys): an assertion
    /// helper, it fails the test.
    pub fn activity<A: Activity>(activity: A, input: A::Input) -> Self {
        let _ = activity;
        Self::Activity {
            name: A::NAME.to_owned(),
            input: json(A::NAME, &input),
        }
    }

    /// Expects a durable timer that fires `delay` after the turn that created it.
    pub fn timer(delay: Duration) -> Self {
        Self::Timer { delay }
    }

    /// Expects a call of sub-orchestration `O` with `input`.
    ///
    /// # Panics
    /// When `input` cannot be encoded as JSON.
    pub fn sub_orchestration<O: Orchestration>(orchestration: O, input: O::Input) -> Self {
        let _ = orchestration;
        Self::SubOrchestration {
            name: O::NAME.to_owned(),
            input: json(O::NAME, &input),
        }
    }

    /// Expects a signal of `operation` with `input` to `entity`.
    ///
    /// # Panics
    /// When `input` cannot be encoded as JSON.
    pub fn entity_signal(entity: EntityId, operation: &str, input: impl Serialize) -> Self {
        Self::EntitySignal {
            entity,
            operation: operation.to_owned(),
            input: json(operation, &input),
        }
    }

    /// Expects a call of `operation` with `input` on `entity`.
    ///
    /// # Panics
    /// When `input` cannot be encoded as JSON.
    pub fn entity_call(entity: EntityId, operation: &str, input: impl Serialize) -> Self {
        Self::EntityCall {
            entity,
            operation: operation.to_owned(),
            input: json(operation, &input),
        }
    }

    /// The durable calls recorded in `history`, in sequence-number order.
    pub fn from_history(history: &[HistoryEvent]) -> Vec<Self> {
        let mut calls: Vec<(i64, Self)> = history
            .iter()
            .filter_map(|event| {
                let call = match &event.kind {
                    EventKind::ActivityScheduled { name, input } => Self::Activity {
                        name: name.clone(),
                        input: payload_json(input),
                    },
                    EventKind::TimerCreated { fire_at } => Self::Timer {
                        delay: (*fire_at - event.timestamp).to_std().unwrap_or_default(),
                    },
                    EventKind::SubOrchestrationCreated { name, input, .. } => {
                        Self::SubOrchestration {
                            name: name.clone(),
                            input: payload_json(input),
                        }
                    }
                    EventKind::EventSent {
                        instance_id,
                        name,
                        input,
                    } => Self::EventSent {
                        instance_id: instance_id.clone(),
                        name: name.clone(),
                        input: payload_json(input),
                    },
                    EventKind::EntityOperationCalled {
                        entity,
                        operation,
                        input,
                    } => Self::EntityCall {
                        entity: entity.clone(),
                        operation: operation.clone(),
                        input: payload_json(input),
                    },
                    EventKind::EntityOperationSignaled {
                        entity,
                        operation,
                        input,
                        ..
                    } => Self::EntitySignal {
                        entity: entity.clone(),
                        operation: operation.clone(),
                        input: payload_json(input),
                    },
                    EventKind::EntityLockRequested { entities } => Self::EntityLock {
                        entities: entities.clone(),
                    },
                    EventKind::EntityUnlockSent { entities } => Self::EntityUnlock {
                        entities: entities.clone(),
                    },
                    _ => return None,
                };
                Some((event.event_id, call))
            })
            .collect();
        calls.sort_by_key(|(seq, _)| *seq);
        calls.into_iter().map(|(_, call)| call).collect()
    }

    /// The registered name of the activity or sub-orchestration, the operation of an
    /// entity call or signal, the name of a sent event; `None` otherwise.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Activity { name, .. }
            | Self::SubOrchestration { name, .. }
            | Self::EventSent { name, .. } => Some(name),
            Self::EntityCall { operation, .. } | Self::EntitySignal { operation, .. } => {
                Some(operation)
            }
            Self::Timer { .. } | Self::EntityLock { .. } | Self::EntityUnlock { .. } => None,
        }
    }
}

impl fmt::Display for DurableCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Activity { name, input } => write!(f, "activity `{name}`({input})"),
            Self::Timer { delay } => write!(f, "timer for {delay:?}"),
            Self::SubOrchestration { name, input } => {
                write!(f, "sub-orchestration `{name}`({input})")
            }
            Self::EventSent {
                instance_id,
                name,
                input,
            } => write!(f, "event `{name}`({input}) sent to {instance_id}"),
            Self::EntityCall {
                entity,
                operation,
                input,
            } => write!(f, "call of `{operation}`({input}) on {entity}"),
            Self::EntitySignal {
                entity,
                operation,
                input,
            } => write!(f, "signal of `{operation}`({input}) to {entity}"),
            Self::EntityLock { entities } => write!(f, "lock of {}", list(entities)),
            Self::EntityUnlock { entities } => write!(f, "unlock of {}", list(entities)),
        }
    }
}

fn list(entities: &[EntityId]) -> String {
    entities
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares durable calls with expectations; the report of the first difference, if any.
pub(crate) fn difference(
    instance_id: &InstanceId,
    actual: &[DurableCall],
    expected: &[DurableCall],
) -> Option<String> {
    let first =
        (0..actual.len().max(expected.len())).find(|i| actual.get(*i) != expected.get(*i))?;
    let mut report = format!(
        "the durable calls of instance {instance_id} differ from the expected ones at call #{first}:\n"
    );
    let show =
        |call: Option<&DurableCall>| call.map_or_else(|| "(none)".to_owned(), ToString::to_string);
    for i in 0..actual.len().max(expected.len()) {
        let marker = if i == first { ">" } else { " " };
        report.push_str(&format!(
            "{marker} #{i}\n    expected: {}\n    actual:   {}\n",
            show(expected.get(i)),
            show(actual.get(i))
        ));
    }
    Some(report)
}
