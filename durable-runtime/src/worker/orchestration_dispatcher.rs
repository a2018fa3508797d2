//! Fetches orchestration work items, runs their turns and commits them in batches.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::Instrument;

use super::{ERROR_BACKOFF, WorkerShared};
use crate::clock;
use crate::error::StoreError;
use crate::history::{EventKind, HistoryEvent};
use crate::replay::{Outcome, ReplayEngine};
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{NewActivity, OrchestrationCommit, OrchestrationWorkItem};

/// The `error_type` of an instance whose orchestration no worker has registered.
pub const ORCHESTRATION_NOT_REGISTERED: &str = "durable::OrchestrationNotRegistered";

pub(crate) async fn run(shared: Arc<WorkerShared>, mut shutdown: watch::Receiver<bool>) {
    let store = shared.store.clone();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let fetched = store
            .fetch_orchestration_work_items(
                shared.options.orchestration_batch_size,
                shared.options.orchestration_lease,
            )
            .await;
        let items = match fetched {
            Ok(items) => items,
            Err(error) => {
                tracing::error!(%error, "fetching orchestration work items failed; retrying");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        if items.is_empty() {
            tokio::select! {
                () = store.notifier().wait_orchestration_work() => {}
                () = tokio::time::sleep(shared.options.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        process_batch(&shared, items).await;
    }
}

async fn process_batch(shared: &WorkerShared, items: Vec<OrchestrationWorkItem>) {
    let mut commits = Vec::with_capacity(items.len());
    let mut engines = Vec::with_capacity(items.len());
    for item in items {
        let span = tracing::debug_span!(
            "orchestration_turn",
            instance_id = %item.instance_id,
            name = %item.name,
            replayed = tracing::field::Empty,
        );
        match prepare_turn(shared, item).instrument(span).await {
            Ok((commit, engine)) => {
                commits.push(commit);
                engines.push(engine);
            }
            Err((item, error)) => {
                tracing::warn!(instance_id = %item.instance_id, %error, "turn abandoned; it will be retried");
                let _ = shared
                    .store
                    .abandon_orchestration_work_item(&item.instance_id, &item.lock_token)
                    .await;
            }
        }
    }
    if commits.is_empty() {
        return;
    }
    let leases: Vec<_> = commits
        .iter()
        .map(|c| (c.instance_id.clone(), c.lock_token.clone()))
        .collect();
    let ids: Vec<_> = leases.iter().map(|(id, _)| id.clone()).collect();
    match shared.store.commit_orchestrations(commits).await {
        Ok(results) => {
            for ((id, engine), result) in ids.into_iter().zip(engines).zip(results) {
                match (result, engine) {
                    (Ok(()), Some(engine)) if !engine.is_finished() => shared.cache.put(id, engine),
                    (Ok(()), _) => {}
                    (Err(error), _) => {
                        tracing::warn!(instance_id = %id, %error, "turn not committed")
                    }
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "committing orchestration turns failed; releasing them to be retried");
            for (instance_id, lock_token) in &leases {
                if let Err(error) = shared
                    .store
                    .abandon_orchestration_work_item(instance_id, lock_token)
                    .await
                {
                    tracing::warn!(%instance_id, %error, "could not release a lease; it will expire");
                }
            }
        }
    }
}

type Prepared = (OrchestrationCommit, Option<ReplayEngine>);

/// Runs one turn and builds its commit; the engine comes back for the cache.
async fn prepare_turn(
    shared: &WorkerShared,
    item: OrchestrationWorkItem,
) -> Result<Prepared, (OrchestrationWorkItem, StoreError)> {
    let now = clock::now();
    let consumed: Vec<i64> = item.messages.iter().map(|m| m.id).collect();
    let mut commit = OrchestrationCommit {
        instance_id: item.instance_id.clone(),
        execution_id: item.execution_id.clone(),
        lock_token: item.lock_token.clone(),
        history_len: item.history_len,
        events: Vec::new(),
        consumed,
        activities: Vec::new(),
        status: item.status,
        output: None,
        failure: None,
        custom_status: None,
        updated_at: now,
    };
    if item.status.is_terminal() {
        tracing::debug!(status = %item.status, count = item.messages.len(), "dropping messages for a finished instance");
        return Ok((commit, None));
    }
    let new_events: Vec<HistoryEvent> = item
        .messages
        .iter()
        .filter(|m| {
            m.execution_id
                .as_ref()
                .is_none_or(|e| *e == item.execution_id)
        })
        .map(|m| m.event.clone())
        .collect();
    if new_events.is_empty() {
        return Ok((commit, None));
    }
    let Some(orchestrator) = shared.registry.orchestration(&item.name) else {
        let failure = FailureDetails::new(
            ORCHESTRATION_NOT_REGISTERED,
            format!(
                "orchestration `{}` is not registered on this worker; registered: [{}]",
                item.name,
                shared
                    .registry
                    .orchestration_names()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        commit
            .events
            .push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
        commit.events.extend(new_events);
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
        return Ok((commit, None));
    };
    let cached = if shared.options.always_replay {
        None
    } else {
        shared.cache.take(&item.instance_id, item.history_len)
    };
    let mut engine = match cached {
        Some(engine) => engine,
        None => {
            let mut engine = ReplayEngine::new(
                item.instance_id.clone(),
                item.execution_id.clone(),
                item.name.clone(),
                orchestrator,
            );
            if item.history_len > 0 {
                let history = match shared.store.read_history(&item.instance_id).await {
                    Ok(Some(history)) => history,
                    Ok(None) => {
                        return Err((
                            item.clone(),
                            StoreError::InstanceNotFound(item.instance_id.clone()),
                        ));
                    }
                    Err(error) => return Err((item, error)),
                };
                if history.len() != item.history_len {
                    let message = format!(
                        "history moved from {} to {} events",
                        item.history_len,
                        history.len()
                    );
                    return Err((item, StoreError::LeaseLost(message)));
                }
                tracing::Span::current().record("replayed", history.len());
                engine.replay(&history);
            }
            engine
        }
    };
    let output = engine.run_turn(now, new_events);
    commit.events = output.events;
    commit.custom_status = output.custom_status;
    commit.activities = output
        .activities
        .into_iter()
        .map(|a| NewActivity {
            scheduled_id: a.scheduled_id,
            name: a.name.to_owned(),
            input: a.input,
        })
        .collect();
    match output.outcome {
        Some(Outcome::Completed(result)) => {
            commit.status = RuntimeStatus::Completed;
            commit.output = Some(result);
        }
        Some(Outcome::Failed(failure)) => {
            commit.status = RuntimeStatus::Failed;
            commit.failure = Some(failure);
        }
        None => commit.status = RuntimeStatus::Running,
    }
    Ok((commit, Some(engine)))
}
