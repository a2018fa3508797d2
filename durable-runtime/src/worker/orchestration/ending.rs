//! Instances that end outside their orchestrator function (terminated, or failed on a
//! corrupt row or an unregistered name): what they must still tell others (their parent,
//! the entities they hold locked), read from the cached engine or from history, and the
//! orchestration span their end traces.

use chrono::{DateTime, Utc};

use super::prepared::{Prepared, TurnError, TurnTrace};
use super::translate::fail_commit;
use crate::error::StoreError;
use crate::error_types::CORRUPT_HISTORY;
use crate::history::{EventKind, HistoryEvent, ParentInstance};
use crate::ids::InstanceId;
use crate::replay::ReplayEngine;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{OrchestrationCommit, OrchestrationWorkItem};
use crate::worker::WorkerShared;

/// An instance's parent (if any) and the entities it holds locked.
pub(super) type ClosingLinks = (Option<ParentInstance>, Vec<crate::entity::EntityId>);

/// What a cached engine says of its [`ClosingLinks`].
pub(super) fn engine_links(engine: Option<&ReplayEngine>) -> Option<ClosingLinks> {
    engine.map(|engine| (engine.parent(), engine.held_locks()))
}

/// The ids of every queued message of `item`, corrupt ones included.
pub(super) fn all_message_ids(item: &OrchestrationWorkItem) -> Vec<i64> {
    item.messages
        .iter()
        .map(|m| m.id)
        .chain(item.corrupt_messages.iter().map(|m| m.id))
        .collect()
}

/// What an instance that ends outside its orchestrator function (terminated, or failed on a
/// corrupt row) must still tell others: its parent, and the entities it holds locked. From
/// the cached engine, or else from history. A history that does not decode yields neither
/// (the parent is then not told; the failure names the row); any other store error is
/// returned, so the turn is retried rather than committed without them.
///
/// `cached` is what the cached engine says, if there is one (read by the caller: an engine
/// is not `Sync`, so no reference to it may live across an await).
pub(super) async fn closing_links(
    shared: &WorkerShared,
    item: &OrchestrationWorkItem,
    cached: Option<ClosingLinks>,
) -> Result<ClosingLinks, StoreError> {
    if let Some(links) = cached {
        return Ok(links);
    }
    let history = match shared.store.read_history(&item.instance_id).await {
        Ok(history) => history.unwrap_or_default(),
        Err(StoreError::Corrupt { .. }) => Vec::new(),
        Err(error) => return Err(error),
    };
    Ok((
        parent_in(&history),
        crate::entity::scheduler::held_locks(&history),
    ))
}

/// Adds what an instance ending outside its orchestrator function sends: unlocks for the
/// entities it `held`, and `failure` to its `parent`.
pub(super) fn send_closing(
    commit: &mut OrchestrationCommit,
    instance_id: &InstanceId,
    (parent, held): ClosingLinks,
    now: DateTime<Utc>,
    failure: FailureDetails,
) {
    commit
        .messages
        .extend(crate::outbound::entity_unlocks(instance_id, &held, now));
    if let Some(parent) = parent {
        commit
            .messages
            .push(crate::outbound::sub_orchestration_result(
                &parent,
                now,
                Err(failure),
            ));
    }
}

/// Fails the instance of `item` because a row of its state does not decode
/// ([`CORRUPT_HISTORY`]): every queued message is consumed, its parent is told and its
/// entity locks are released where they can be known, and the other instances go on.
pub(super) async fn fail_corrupt(
    shared: &WorkerShared,
    item: OrchestrationWorkItem,
    mut commit: OrchestrationCommit,
    cached: Option<ReplayEngine>,
    now: DateTime<Utc>,
    reason: String,
) -> Result<Prepared, (OrchestrationWorkItem, TurnError)> {
    tracing::error!(instance_id = %item.instance_id, %reason, "corrupt row in the store; the instance fails");
    let links = engine_links(cached.as_ref());
    let root = cached_span_root(cached.as_ref());
    drop(cached);
    let links = match closing_links(shared, &item, links).await {
        Ok(links) => links,
        Err(error) => return Err((item, error.into())),
    };
    let failure = FailureDetails::new(
        CORRUPT_HISTORY,
        format!(
            "{reason}; the instance was failed so that the rest of the task hub goes on \
             (see ARCHITECTURE.md, \"Corrupt rows\")"
        ),
    );
    commit.consumed = all_message_ids(&item);
    fail_commit(&mut commit, now, Vec::new(), failure.clone());
    let trace = ended_outside(
        shared,
        &item,
        root,
        &[],
        now,
        RuntimeStatus::Failed,
        &failure,
    )
    .await;
    send_closing(&mut commit, &item.instance_id, links, now, failure);
    Ok(Prepared::traced(commit, None, trace))
}

/// The root of the cached engine's spans and when its execution started (feature `otel`).
#[cfg(feature = "otel")]
pub(super) fn cached_span_root(
    engine: Option<&ReplayEngine>,
) -> Option<(crate::replay::spans::SpanRoot, Option<DateTime<Utc>>)> {
    engine.and_then(ReplayEngine::span_root)
}

/// What is known of an execution's spans without feature `otel`: nothing.
#[cfg(not(feature = "otel"))]
#[derive(Debug, Clone, Copy)]
pub(super) struct NoSpanRoot;

/// Nothing to trace without feature `otel`.
#[cfg(not(feature = "otel"))]
pub(super) fn cached_span_root(_: Option<&ReplayEngine>) -> NoSpanRoot {
    NoSpanRoot
}

/// The trace of `item`'s execution ending outside its orchestrator function (terminated,
/// failed on a corrupt row or an unregistered name): its orchestration span, rooted as the
/// cached engine says, or as its `ExecutionStarted` says (in `events` about to be applied,
/// or in history).
#[cfg(feature = "otel")]
pub(super) async fn ended_outside(
    shared: &WorkerShared,
    item: &OrchestrationWorkItem,
    cached: Option<(crate::replay::spans::SpanRoot, Option<DateTime<Utc>>)>,
    events: &[HistoryEvent],
    now: DateTime<Utc>,
    status: RuntimeStatus,
    failure: &FailureDetails,
) -> TurnTrace {
    if shared.telemetry.is_none() {
        return TurnTrace::Nothing;
    }
    let root = match cached {
        Some((root, started)) => Some((root, started.unwrap_or(now))),
        None => {
            let started_in = |events: &[HistoryEvent]| {
                let mut turn = None;
                events.iter().find_map(|event| match &event.kind {
                    EventKind::OrchestratorStarted => {
                        turn = Some(event.timestamp);
                        None
                    }
                    EventKind::ExecutionStarted { trace_context, .. } => Some((
                        crate::replay::spans::SpanRoot::new(
                            &item.execution_id,
                            trace_context.as_ref(),
                        ),
                        turn.unwrap_or(event.timestamp),
                    )),
                    _ => None,
                })
            };
            match started_in(events) {
                Some(root) => Some(root),
                None => match shared.store.read_history(&item.instance_id).await {
                    Ok(Some(history)) => started_in(&history),
                    _ => None,
                },
            }
        }
    };
    match root {
        Some((root, started)) => {
            TurnTrace::ended(item, root, started, now, status, Some(failure.clone()))
        }
        None => TurnTrace::Nothing,
    }
}

/// Nothing to trace without feature `otel`.
#[cfg(not(feature = "otel"))]
#[allow(clippy::unused_async)]
pub(super) async fn ended_outside(
    _: &WorkerShared,
    _: &OrchestrationWorkItem,
    _: NoSpanRoot,
    _: &[HistoryEvent],
    _: DateTime<Utc>,
    _: RuntimeStatus,
    _: &FailureDetails,
) -> TurnTrace {
    TurnTrace
}

/// Finds an instance's parent link in its history (only needed when no engine is cached).
pub(super) fn parent_in(history: &[HistoryEvent]) -> Option<ParentInstance> {
    history.iter().find_map(|event| match &event.kind {
        EventKind::ExecutionStarted { parent, .. } => parent.clone(),
        _ => None,
    })
}
