//! Fetches activity work items and runs them, bounded by a semaphore.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use futures::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use tracing::Instrument;

use super::route::{Because, ResultRoute, Stage, route, through_store};
use super::{ERROR_BACKOFF, Ready, WorkKind, WorkerShared};
use crate::context::ActivityContext;
use crate::error_types::{ACTIVITY_NOT_REGISTERED, CORRUPT_HISTORY, panic_failure};
use crate::history::{EventKind, HistoryEvent};
use crate::status::FailureDetails;
use crate::store::{ActivityCompletion, ActivityLease, ActivityWorkItem};

pub(crate) async fn run(shared: Arc<WorkerShared>, mut shutdown: watch::Receiver<bool>) {
    let store = shared.store.clone();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = shared.activity_slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        let free = shared.activity_slots.available_permits() + 1;
        let items = match store
            .fetch_activity_work_items(free, shared.options.activity_lease)
            .await
        {
            Ok(items) => {
                if let Some(metrics) = shared.metrics() {
                    metrics.fetched(WorkKind::Activity, items.len());
                }
                items
            }
            Err(error) => {
                drop(permit);
                tracing::error!(%error, "fetching activity work items failed; retrying");
                tokio::time::sleep(ERROR_BACKOFF).await;
                continue;
            }
        };
        if items.is_empty() {
            drop(permit);
            tokio::select! {
                () = store.notifier().wait_activity_work() => {}
                () = tokio::time::sleep(shared.options.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let mut permit = Some(permit);
        let mut items = items.into_iter();
        while let Some(item) = items.next() {
            let permit = match permit.take() {
                Some(permit) => permit,
                None => match shared.activity_slots.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    // Shutdown closed the slots: the items not started go back at once.
                    Err(_) => {
                        let leases = std::iter::once(item).chain(items).map(|i| i.lease());
                        if let Err(error) = store.abandon_activities(leases.collect()).await {
                            tracing::error!(%error, "could not release activity leases at shutdown");
                        }
                        return;
                    }
                },
            };
            shared
                .running_activities
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(item.id, item.lock_token.clone());
            let span = tracing::debug_span!("activity", instance_id = %item.instance_id, name = %item.name, attempt = item.attempt);
            tokio::spawn(execute(shared.clone(), item, permit).instrument(span));
        }
    }
}

/// Runs activities that a commit created leased to this worker, each as soon as a slot is
/// free; ones still waiting when shutdown starts release their lease for another worker.
pub(crate) fn dispatch_leased(shared: &Arc<WorkerShared>, items: Vec<ActivityWorkItem>) {
    for item in items {
        shared
            .running_activities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(item.id, item.lock_token.clone());
        let shared = shared.clone();
        let span = tracing::debug_span!("activity", instance_id = %item.instance_id, name = %item.name, attempt = item.attempt);
        tokio::spawn(
            async move {
                let permit = shared.activity_slots.clone().acquire_owned().await;
                match permit {
                    Ok(permit) if !shared.shutting_down.load(Ordering::SeqCst) => {
                        execute(shared, item, permit).await
                    }
                    _ => {
                        shared
                            .running_activities
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .remove(&item.id);
                        let _ = shared.store.abandon_activities(vec![item.lease()]).await;
                    }
                }
            }
            .instrument(span),
        );
    }
}

/// The lease of every activity running now.
pub(crate) fn running(shared: &WorkerShared) -> Vec<ActivityLease> {
    shared
        .running_activities
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(id, token)| ActivityLease::new(*id, token.clone()))
        .collect()
}

async fn execute(
    shared: Arc<WorkerShared>,
    #[cfg_attr(not(feature = "otel"), allow(unused_mut))] mut item: ActivityWorkItem,
    permit: OwnedSemaphorePermit,
) {
    #[cfg(feature = "otel")]
    let started = shared.telemetry.as_ref().map(|_| shared.clock.now());
    let timer = shared.metrics().map(|_| std::time::Instant::now());
    let registered = shared.registry.activity(&item.name);
    let result = match (&item.corrupt, registered) {
        // A stored input that does not decode fails this activity only, without running it
        // (a retry policy may schedule it again: the retry writes a new row).
        (Some(reason), _) => {
            tracing::error!(
                activity_id = item.id,
                instance_id = %item.instance_id,
                %reason,
                "activity input in the store does not decode; the activity fails"
            );
            Err(FailureDetails::new(
                CORRUPT_HISTORY,
                format!(
                    "the stored input of activity `{}` (work item {}, instance {}) does not decode: {reason}",
                    item.name, item.id, item.instance_id
                ),
            ))
        }
        (None, Some(activity)) => {
            let ctx = ActivityContext {
                instance_id: item.instance_id.clone(),
                name: item.name.clone(),
                scheduled_id: item.scheduled_id,
                attempt: item.attempt,
            };
            match AssertUnwindSafe(activity.call(ctx, item.input.clone()))
                .catch_unwind()
                .await
            {
                Ok(result) => result,
                Err(panic) => Err(panic_failure(panic)),
            }
        }
        (None, None) => Err(FailureDetails::new(
            ACTIVITY_NOT_REGISTERED,
            format!(
                "activity `{}` is not registered on this worker; registered: [{}]",
                item.name,
                shared
                    .registry
                    .activity_names()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    };
    if let (Some(metrics), Some(timer)) = (shared.metrics(), timer) {
        metrics.activity(&item.name, item.attempt, timer.elapsed(), result.is_err());
    }
    // When the result is recorded: its event's timestamp, and the end of its span.
    let finished = shared.clock.now();
    #[cfg(feature = "otel")]
    if let (Some(telemetry), Some(started)) = (&shared.telemetry, started) {
        let name = std::mem::take(&mut item.name);
        let trace_context = item.trace_context.take();
        telemetry.export_activity(
            &item,
            name,
            trace_context,
            started,
            finished,
            result.as_ref().err(),
        );
    }
    let kind = match result {
        Ok(result) => EventKind::ActivityCompleted {
            scheduled_id: item.scheduled_id,
            result,
        },
        Err(failure) => {
            tracing::debug!(error = %failure, "activity failed");
            EventKind::ActivityFailed {
                scheduled_id: item.scheduled_id,
                failure,
            }
        }
    };
    let completion = ActivityCompletion {
        id: item.id,
        lock_token: item.lock_token,
        instance_id: item.instance_id,
        execution_id: item.execution_id,
        event: HistoryEvent::new(finished, kind),
    };
    // The slot bounds activity functions running at once, not results waiting for their
    // commit: holding it until the commit capped throughput at slots per commit. The
    // lease stays registered (and renewed) until the result is committed.
    drop(permit);
    complete(&shared, completion).await;
    shared
        .running_activities
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&item.id);
}

/// An activity result and who waits for it to be committed.
pub(crate) type PendingCompletion = (ActivityCompletion, oneshot::Sender<()>);

/// Activity results waiting to be committed, and whether a task is committing them.
#[derive(Debug, Default)]
pub(crate) struct CompletionQueue {
    state: std::sync::Mutex<(Vec<PendingCompletion>, bool)>,
}

/// Commits one activity result and returns once it is committed (or failed to commit).
///
/// Results are committed in batches: the first result to arrive while no commit runs
/// starts a task that commits everything queued, again and again until the queue is
/// empty, so results that finish during a commit share the next one (one transaction,
/// one fsync, instead of one each).
///
/// With the instance cache on, the result goes to the orchestration dispatcher instead,
/// which commits it together with the instance's next turn when the instance is cached
/// (one transaction for both; see [`Ready::Completion`]) and queues it here otherwise.
async fn complete(shared: &Arc<WorkerShared>, completion: ActivityCompletion) {
    let (done, committed) = oneshot::channel();
    let pending = (completion, done);
    // The dispatcher, not this task, looks the instance up: while a turn of it commits its
    // engine is out of the cache, and comes back before the dispatcher's next batch.
    match route(&shared.options, Stage::Finished) {
        ResultRoute::LocalTurn => {
            if let Err(mpsc::error::SendError(Ready::Completion(pending))) =
                shared.ready_turns.send(Ready::Completion(pending))
            {
                through_store(shared, pending, Because::DispatcherStopped);
            }
        }
        ResultRoute::ThroughStore(because) => through_store(shared, pending, because),
    }
    let _ = committed.await;
}

/// Queues a result for the next batched [`Store::complete_activities`] call without
/// waiting; its sender fires once that commit is done.
///
/// [`Store::complete_activities`]: crate::store::Store::complete_activities
pub(crate) fn enqueue_completion(shared: &Arc<WorkerShared>, pending: PendingCompletion) {
    let lead = {
        let mut state = shared
            .completions
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.0.push(pending);
        !std::mem::replace(&mut state.1, true)
    };
    if lead {
        tokio::spawn(commit_completions(shared.clone()));
    }
}

async fn commit_completions(shared: Arc<WorkerShared>) {
    // In-process mode: a completion also leases the instance it woke, and its next turn
    // goes straight to the orchestration dispatcher.
    let lease = shared
        .options
        .dispatch_activities_in_process
        .then_some(shared.options.orchestration_lease);
    loop {
        let batch = {
            let mut state = shared
                .completions
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if state.0.is_empty() {
                state.1 = false;
                return;
            }
            std::mem::take(&mut state.0)
        };
        let (completions, done): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let count = completions.len();
        let started = shared.metrics().map(|_| std::time::Instant::now());
        let completed = shared.store.complete_activities(completions, lease).await;
        if let (Some(metrics), Some(started), Ok(_)) = (shared.metrics(), started, &completed) {
            metrics.commit(WorkKind::Activity, count, started.elapsed());
            metrics.committed(WorkKind::Activity, count);
        }
        match completed {
            Ok(ready) => {
                for item in ready {
                    if let Err(mpsc::error::SendError(Ready::Turn(item))) =
                        shared.ready_turns.send(Ready::Turn(item))
                    {
                        super::release(&*shared.store, &item, std::time::Duration::ZERO).await;
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "could not commit activity results; those activities will run again when their leases expire");
            }
        }
        for done in done {
            let _ = done.send(());
        }
    }
}

/// Renews the leases of running activities every third of the lease.
pub(crate) async fn renew_leases(shared: Arc<WorkerShared>, mut shutdown: watch::Receiver<bool>) {
    let every = shared.options.activity_lease / 3;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
            }
        }
        let items = running(&shared);
        if items.is_empty() {
            continue;
        }
        if let Err(error) = shared
            .store
            .renew_activity_leases(items, shared.options.activity_lease)
            .await
        {
            tracing::warn!(%error, "renewing activity leases failed");
        }
    }
}
