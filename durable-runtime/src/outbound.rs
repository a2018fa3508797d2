//! The messages a turn sends to instances' queues, one function per kind: every
//! [`OutboundMessage`] an orchestration turn (`replay/` for entity calls, the worker for
//! timers, events, results and rewinds) or an entity turn (`entity/`) puts in a commit is
//! built here, so a new kind of durable call adds its message in one place.
//!
//! Each message is visible at `now` unless said otherwise, and is stamped with `now`.

use chrono::{DateTime, Utc};

use crate::entity::EntityId;
use crate::history::{EventKind, HistoryEvent, ParentInstance};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::FailureDetails;
use crate::store::OutboundMessage;
use crate::trace_context::TraceContext;

/// A message visible at `visible_at`, stamped `now`.
fn message(
    instance_id: InstanceId,
    execution_id: Option<ExecutionId>,
    visible_at: DateTime<Utc>,
    now: DateTime<Utc>,
    kind: EventKind,
) -> OutboundMessage {
    OutboundMessage {
        instance_id,
        execution_id,
        visible_at,
        event: HistoryEvent::new(now, kind),
    }
}

/// A durable timer: `TimerFired` for timer `timer_id` of the instance's execution, visible
/// (and stamped) at `fire_at`.
pub(crate) fn timer_fired(
    instance_id: &InstanceId,
    execution_id: &ExecutionId,
    timer_id: i64,
    fire_at: DateTime<Utc>,
) -> OutboundMessage {
    message(
        instance_id.clone(),
        Some(execution_id.clone()),
        fire_at,
        fire_at,
        EventKind::TimerFired { timer_id, fire_at },
    )
}

/// A one-way event `name` to instance `to`, for whichever execution is current there.
pub(crate) fn event_raised(
    to: InstanceId,
    name: String,
    input: Payload,
    now: DateTime<Utc>,
) -> OutboundMessage {
    message(to, None, now, now, EventKind::EventRaised { name, input })
}

/// A sub-orchestration's result for its `parent`: `SubOrchestrationCompleted` or
/// `SubOrchestrationFailed` for the parent's call `parent.scheduled_id`.
pub(crate) fn sub_orchestration_result(
    parent: &ParentInstance,
    now: DateTime<Utc>,
    result: Result<Payload, FailureDetails>,
) -> OutboundMessage {
    let kind = match result {
        Ok(result) => EventKind::SubOrchestrationCompleted {
            scheduled_id: parent.scheduled_id,
            result,
        },
        Err(failure) => EventKind::SubOrchestrationFailed {
            scheduled_id: parent.scheduled_id,
            failure,
        },
    };
    message(
        parent.instance_id.clone(),
        Some(parent.execution_id.clone()),
        now,
        now,
        kind,
    )
}

/// A rewind of the failed instance `to` (a parent's rewind reaching a failed child).
pub(crate) fn rewind(
    to: InstanceId,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> OutboundMessage {
    message(to, None, now, now, EventKind::ExecutionRewound { reason })
}

/// An operation for `entity`: a call when `caller` is set (the entity answers it with
/// [`entity_result`]), a signal otherwise; visible at `visible_at` (a scheduled signal's
/// time, or now).
pub(crate) fn entity_request(
    entity: &EntityId,
    operation: String,
    input: Payload,
    caller: Option<ParentInstance>,
    trace_context: Option<TraceContext>,
    visible_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> OutboundMessage {
    message(
        entity.instance_id(),
        None,
        visible_at,
        now,
        EventKind::EntityRequest {
            operation,
            input,
            caller,
            trace_context,
        },
    )
}

/// An entity operation's result for the orchestration `caller` that called it.
pub(crate) fn entity_result(
    caller: ParentInstance,
    now: DateTime<Utc>,
    result: Result<Payload, FailureDetails>,
) -> OutboundMessage {
    let kind = match result {
        Ok(result) => EventKind::EntityOperationCompleted {
            scheduled_id: caller.scheduled_id,
            result,
        },
        Err(failure) => EventKind::EntityOperationFailed {
            scheduled_id: caller.scheduled_id,
            failure,
        },
    };
    message(
        caller.instance_id,
        Some(caller.execution_id),
        now,
        now,
        kind,
    )
}

/// A critical section's lock request for `entities[position]`, on behalf of `owner`.
/// `None` when `position` is past the last entity.
pub(crate) fn entity_lock_request(
    owner: ParentInstance,
    entities: Vec<EntityId>,
    position: u32,
    now: DateTime<Utc>,
) -> Option<OutboundMessage> {
    let to = entities.get(usize::try_from(position).ok()?)?.instance_id();
    Some(message(
        to,
        None,
        now,
        now,
        EventKind::EntityLockRequest {
            owner,
            entities,
            position,
        },
    ))
}

/// The answer of a critical section's last entity: every lock is held for `owner`.
pub(crate) fn entity_lock_granted(owner: &ParentInstance, now: DateTime<Utc>) -> OutboundMessage {
    message(
        owner.instance_id.clone(),
        Some(owner.execution_id.clone()),
        now,
        now,
        EventKind::EntityLockGranted {
            scheduled_id: owner.scheduled_id,
        },
    )
}

/// The unlocks that end `owner`'s critical section: one for each of `entities`.
pub(crate) fn entity_unlocks(
    owner: &InstanceId,
    entities: &[EntityId],
    now: DateTime<Utc>,
) -> Vec<OutboundMessage> {
    entities
        .iter()
        .map(|entity| {
            message(
                entity.instance_id(),
                None,
                now,
                now,
                EventKind::EntityUnlock {
                    owner: owner.clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a valid time")
    }

    fn parent() -> ParentInstance {
        ParentInstance {
            instance_id: InstanceId::new("parent").expect("a valid id"),
            execution_id: ExecutionId::generate(),
            scheduled_id: 7,
        }
    }

    #[test]
    fn a_timer_is_visible_when_it_fires_and_addresses_its_execution() {
        let (id, execution) = (InstanceId::new("i").expect("id"), ExecutionId::generate());
        let message = timer_fired(&id, &execution, 3, at(50));
        assert_eq!(message.visible_at, at(50));
        assert_eq!(message.event.timestamp, at(50));
        assert_eq!(message.execution_id, Some(execution));
        assert!(matches!(
            message.event.kind,
            EventKind::TimerFired { timer_id: 3, fire_at } if fire_at == at(50)
        ));
    }

    #[test]
    fn results_go_to_the_callers_execution_and_call() {
        let to = parent();
        let rows: [(Result<Payload, FailureDetails>, bool); 2] = [
            (Ok(Payload::null()), true),
            (Err(FailureDetails::new("x", "y")), false),
        ];
        for (result, completed) in rows {
            let sub = sub_orchestration_result(&to, at(1), result.clone());
            assert_eq!(sub.instance_id, to.instance_id);
            assert_eq!(sub.execution_id.as_ref(), Some(&to.execution_id));
            match sub.event.kind {
                EventKind::SubOrchestrationCompleted { scheduled_id, .. } => {
                    assert!(completed);
                    assert_eq!(scheduled_id, 7);
                }
                EventKind::SubOrchestrationFailed { scheduled_id, .. } => {
                    assert!(!completed);
                    assert_eq!(scheduled_id, 7);
                }
                other => panic!("unexpected {other:?}"),
            }
            let entity = entity_result(to.clone(), at(1), result);
            assert_eq!(entity.execution_id.as_ref(), Some(&to.execution_id));
            assert_eq!(
                matches!(
                    entity.event.kind,
                    EventKind::EntityOperationCompleted {
                        scheduled_id: 7,
                        ..
                    }
                ),
                completed
            );
        }
    }

    #[test]
    fn a_lock_request_goes_to_the_entity_at_its_position_and_none_past_the_last() {
        let entities: Vec<EntityId> = ["@a@1", "@b@2"]
            .iter()
            .map(|id| EntityId::from_instance_id(id).expect("an entity id"))
            .collect();
        for (position, to) in [(0, Some("@a@1")), (1, Some("@b@2")), (2, None)] {
            let message = entity_lock_request(parent(), entities.clone(), position, at(1));
            assert_eq!(
                message.as_ref().map(|m| m.instance_id.as_str()),
                to,
                "position {position}"
            );
        }
    }

    #[test]
    fn a_scheduled_signal_is_visible_at_its_time_but_stamped_now() {
        let entity = EntityId::from_instance_id("@counter@k").expect("an entity id");
        let message = entity_request(
            &entity,
            "add".to_owned(),
            Payload::null(),
            None,
            None,
            at(90),
            at(10),
        );
        assert_eq!(message.instance_id.as_str(), "@counter@k");
        assert_eq!(
            (message.visible_at, message.event.timestamp),
            (at(90), at(10))
        );
        assert_eq!(message.execution_id, None);
    }
}
