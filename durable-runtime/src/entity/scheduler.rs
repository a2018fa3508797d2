//! Runs a batch of an entity's queued messages and builds the commit for it.
//!
//! An entity is stored as the instance `@name@key`; its row's `output` holds a
//! [`SchedulerState`] (DF's `SchedulerState`: the state, the lock holder and the messages
//! deferred while locked). Its messages arrive in the ordinary message queue, in the order
//! each sender committed them. One turn applies them in order and commits the new
//! scheduler state, the consumed messages and everything the operations sent in one
//! transaction, which is what makes each operation take effect exactly once.

use serde::{Deserialize, Serialize};

use super::{EntityContext, EntityId};
use crate::history::{EventKind, HistoryEvent, ParentInstance};
use crate::payload::Payload;
use crate::registry::EntityBody;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{OrchestrationCommit, OrchestrationMessage};

/// What an entity's row holds between batches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SchedulerState {
    /// The entity's state; `None` when it does not exist.
    #[serde(default)]
    pub(crate) state: Option<Payload>,
    /// The orchestration whose critical section holds the entity.
    #[serde(default)]
    pub(crate) locked_by: Option<ParentInstance>,
    /// Messages from others that arrived while the entity was locked, oldest first.
    #[serde(default)]
    pub(crate) deferred: Vec<HistoryEvent>,
}

impl SchedulerState {
    /// Reads the scheduler state from an entity row's `output`.
    pub(crate) fn from_output(output: Option<&Payload>) -> Result<Self, serde_json::Error> {
        output.map_or_else(|| Ok(Self::default()), Payload::decode)
    }
}

/// Whether `event` comes from the orchestration that holds the lock.
fn from_owner(event: &HistoryEvent, owner: &ParentInstance) -> bool {
    match &event.kind {
        EventKind::EntityRequest {
            caller: Some(caller),
            ..
        } => caller.instance_id == owner.instance_id,
        EventKind::EntityUnlock { owner: sender } => *sender == owner.instance_id,
        _ => false,
    }
}

/// Where an entity turn notes each operation's run for its span (feature `otel`, when the
/// worker traces): the clock that times them and the runs so far.
#[cfg(feature = "otel")]
pub(crate) type OperationSpans = Option<(
    crate::clock::Clock,
    Vec<crate::telemetry::EntityOperationSpan>,
)>;
/// Nothing is noted without feature `otel`.
#[cfg(not(feature = "otel"))]
#[derive(Debug)]
pub(crate) struct OperationSpans;

/// Runs one entity turn over the first `max_batch` of `messages` (already fetched under a
/// lease; the rest stay queued for the next turn) and fills `commit` with its results.
/// `factory` is `None` when the entity is not registered here.
pub(crate) async fn run_turn(
    id: &EntityId,
    factory: Option<EntityBody>,
    mut scheduler: SchedulerState,
    messages: &[OrchestrationMessage],
    max_batch: usize,
    commit: &mut OrchestrationCommit,
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))] spans: &mut OperationSpans,
) {
    let now = commit.updated_at;
    let mut live = factory.map(|body| body.make(id, scheduler.state.clone()));
    let ctx = EntityContext::new(id.clone(), now);
    let taken = messages.len().min(max_batch.max(1));
    commit.consumed = messages[..taken].iter().map(|m| m.id).collect();
    let mut pending: std::collections::VecDeque<HistoryEvent> =
        std::mem::take(&mut scheduler.deferred).into();
    pending.extend(messages[..taken].iter().map(|m| m.event.clone()));
    let mut deferred: Vec<HistoryEvent> = Vec::new();
    while let Some(event) = pending.pop_front() {
        if let Some(owner) = &scheduler.locked_by
            && !from_owner(&event, owner)
            && matches!(
                event.kind,
                EventKind::EntityRequest { .. } | EventKind::EntityLockRequest { .. }
            )
        {
            deferred.push(event);
            continue;
        }
        match event.kind {
            EventKind::EntityRequest {
                operation,
                input,
                caller,
                #[cfg(feature = "otel")]
                trace_context,
                ..
            } => {
                #[cfg(feature = "otel")]
                let started = spans.as_ref().map(|(clock, _)| clock.now());
                ctx.begin(&operation);
                let result = match live.as_mut() {
                    Some(live) => live.apply(&ctx, &operation, input).await,
                    None => Err(FailureDetails::new(
                        crate::error_types::ENTITY_NOT_REGISTERED,
                        format!(
                            "entity `{}` is not registered on this worker; register its `#[entity]` \
                             impl block in this binary",
                            id.name()
                        ),
                    )),
                };
                let effects = ctx.take_effects();
                #[cfg(feature = "otel")]
                if let (Some((clock, runs)), Some(start)) = (spans.as_mut(), started) {
                    runs.push(crate::telemetry::EntityOperationSpan {
                        entity: id.clone(),
                        operation: operation.clone(),
                        trace_context,
                        start,
                        end: clock.now(),
                        failure: result.as_ref().err().cloned(),
                    });
                }
                match &result {
                    Ok(_) => {
                        commit.messages.extend(effects.messages);
                        commit.new_instances.extend(effects.new_instances);
                    }
                    Err(failure) => {
                        tracing::debug!(entity = %id, %operation, error = %failure, "entity operation failed; its state change was rolled back");
                    }
                }
                if let Some(caller) = caller {
                    commit
                        .messages
                        .push(crate::outbound::entity_result(caller, now, result));
                }
            }
            EventKind::EntityLockRequest {
                owner,
                entities,
                position,
            } => {
                if scheduler.locked_by.as_ref() == Some(&owner) {
                    continue; // A duplicate of a request already granted.
                }
                let message = crate::outbound::entity_lock_request(
                    owner.clone(),
                    entities,
                    position.saturating_add(1),
                    now,
                )
                .unwrap_or_else(|| crate::outbound::entity_lock_granted(&owner, now));
                commit.messages.push(message);
                scheduler.locked_by = Some(owner);
            }
            EventKind::EntityUnlock { owner } => {
                if scheduler
                    .locked_by
                    .as_ref()
                    .is_some_and(|held| held.instance_id == owner)
                {
                    scheduler.locked_by = None;
                    // What waited for the lock runs now, before anything that came later.
                    for event in deferred.drain(..).rev() {
                        pending.push_front(event);
                    }
                }
            }
            other => {
                tracing::warn!(entity = %id, event = other.type_name(), "ignoring a message an entity cannot process");
            }
        }
    }
    scheduler.deferred = deferred;
    if let Some(live) = &live {
        scheduler.state = live.snapshot();
    }
    commit.status = if scheduler.state.is_some() {
        RuntimeStatus::Running
    } else {
        RuntimeStatus::Pending
    };
    match Payload::encode(&scheduler) {
        Ok(output) => commit.output = Some(output),
        Err(error) => {
            // Cannot happen for JSON payloads; keep the messages queued rather than lose them.
            tracing::error!(entity = %id, %error, "could not encode entity scheduler state");
            commit.consumed.clear();
            commit.messages.clear();
            commit.new_instances.clear();
        }
    }
}

/// The entities an orchestration's history says it still holds locked.
pub(crate) fn held_locks(history: &[HistoryEvent]) -> Vec<EntityId> {
    let mut held = Vec::new();
    for event in history {
        match &event.kind {
            EventKind::EntityLockRequested { entities } => held.clone_from(entities),
            EventKind::EntityUnlockSent { .. } => held.clear(),
            _ => {}
        }
    }
    held
}
