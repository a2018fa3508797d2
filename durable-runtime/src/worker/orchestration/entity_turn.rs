//! An entity's turn: one batch of its queued operations, run by
//! [`crate::entity::scheduler`] into one commit.

use super::prepared::{Prepared, TurnError, TurnTrace};
use crate::error::StoreError;
use crate::error_types::CORRUPT_HISTORY;
use crate::store::{OrchestrationCommit, OrchestrationWorkItem};
use crate::worker::WorkerShared;

/// Runs one batch of an entity's operations; see [`crate::entity::scheduler`].
pub(super) async fn prepare_entity_turn(
    shared: &WorkerShared,
    item: OrchestrationWorkItem,
    entity: crate::entity::EntityId,
    mut commit: OrchestrationCommit,
) -> Result<Prepared, (OrchestrationWorkItem, TurnError)> {
    commit.lease_activities = None;
    let status = match shared.store.get_status(&item.instance_id).await {
        Ok(status) => status,
        Err(error) => return Err((item, error.into())),
    };
    // A row whose state does not decode reads with a corrupt-row note instead of its state:
    // running the entity on it would start it afresh and lose the state, so the turn is
    // retried (backing off) until an operator repairs the row.
    if let Some(note) = status
        .as_ref()
        .and_then(|s| s.failure.as_ref())
        .filter(|f| f.error_type == CORRUPT_HISTORY)
    {
        let error = StoreError::Corrupt {
            what: format!("the row of entity {entity}"),
            reason: note.message.clone(),
        };
        return Err((item, error.into()));
    }
    let scheduler = match crate::entity::scheduler::SchedulerState::from_output(
        status.as_ref().and_then(|s| s.output.as_ref()),
    ) {
        Ok(scheduler) => scheduler,
        Err(error) => {
            let error = StoreError::Corrupt {
                what: format!("the scheduler state of entity {entity}"),
                reason: error.to_string(),
            };
            return Err((item, error.into()));
        }
    };
    let factory = shared.registry.entity(entity.name());
    #[cfg(feature = "otel")]
    let mut spans: crate::entity::scheduler::OperationSpans = shared
        .telemetry
        .as_ref()
        .map(|_| (shared.clock.clone(), Vec::new()));
    #[cfg(not(feature = "otel"))]
    let mut spans = crate::entity::scheduler::OperationSpans;
    crate::entity::scheduler::run_turn(
        &entity,
        factory,
        scheduler,
        &item.messages,
        shared.options.entity_batch_size,
        &mut commit,
        &mut spans,
    )
    .await;
    // An entity cannot fail: a queued operation that does not decode is dropped, logged
    // with its row, and the entity goes on with the others.
    for corrupt in &item.corrupt_messages {
        tracing::error!(
            entity = %entity,
            message_id = corrupt.id,
            reason = %corrupt.reason,
            "queued message of an entity does not decode; dropped"
        );
        commit.consumed.push(corrupt.id);
    }
    #[cfg(feature = "otel")]
    let trace = match spans {
        Some((_, runs)) if !runs.is_empty() => TurnTrace::Entity(runs),
        _ => TurnTrace::Nothing,
    };
    #[cfg(not(feature = "otel"))]
    let trace = TurnTrace;
    Ok(Prepared::traced(commit, None, trace))
}
