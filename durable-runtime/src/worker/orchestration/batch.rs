//! A batch of turns: run together (the leased work items concurrently, the local turns on
//! activity results first) and committed in one `commit_orchestrations` call, then handed
//! on (activities to run, engines back to the cache, results' waiters released).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::InFlight;
use super::prepared::{Prepared, TurnError, TurnTally, TurnTrace};
use super::turn::prepare_turn;
use crate::ids::{ExecutionId, InstanceId};
use crate::replay::ReplayEngine;
use crate::status::RuntimeStatus;
use crate::store::{ActivityLease, LockToken, OrchestrationCommit, OrchestrationWorkItem};
use crate::worker::activity_dispatcher::PendingCompletion;
use crate::worker::route::{Because, ResultRoute, Stage, route, through_store};
use crate::worker::{WorkKind, WorkerShared, release};

/// Activity results handed over in process, grouped by instance in arrival order.
#[derive(Default)]
pub(super) struct LocalTurns {
    index: HashMap<InstanceId, usize>,
    pub(super) groups: Vec<(InstanceId, Vec<PendingCompletion>)>,
}

impl LocalTurns {
    pub(super) fn push(&mut self, pending: PendingCompletion) {
        let id = &pending.0.instance_id;
        match self.index.get(id) {
            Some(&at) => self.groups[at].1.push(pending),
            None => {
                self.index.insert(id.clone(), self.groups.len());
                self.groups.push((id.clone(), vec![pending]));
            }
        }
    }

    /// Splits into the groups whose instance passes `keep` and the rest.
    pub(super) fn split(self, keep: impl Fn(&InstanceId) -> bool) -> (Self, Self) {
        let (mut kept, mut rest) = (Self::default(), Self::default());
        for (id, group) in self.groups {
            let into = if keep(&id) { &mut kept } else { &mut rest };
            into.extend(group);
        }
        (kept, rest)
    }

    /// Adds `other`'s results after these.
    pub(super) fn merge(&mut self, other: Self) {
        for (_, group) in other.groups {
            self.extend(group);
        }
    }

    pub(super) fn extend(&mut self, pending: Vec<PendingCompletion>) {
        for pending in pending {
            self.push(pending);
        }
    }

    /// How many instances (turns) they make.
    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Runs a turn, timing it for the metrics from its first poll to its end.
///
/// A future of its own rather than an `async fn`: an `async fn` that awaits a future it
/// takes by value keeps the future twice in its state (the argument and the awaited value),
/// and a turn's future is kilobytes that a batch allocates and copies once per turn. The
/// clock starts at the first poll, not when the future is made, since `join_all` makes a
/// batch's turns first and then polls them one after another.
pub(super) fn timed<F: std::future::Future>(shared: &WorkerShared, turn: F) -> Timed<'_, F> {
    Timed {
        turn,
        shared,
        started: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`timed`].
    pub(super) struct Timed<'a, F> {
        #[pin]
        turn: F,
        shared: &'a WorkerShared,
        started: Option<std::time::Instant>,
    }
}

impl<F: std::future::Future> std::future::Future for Timed<'_, F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let this = self.project();
        let metrics = this.shared.metrics();
        if metrics.is_some() && this.started.is_none() {
            *this.started = Some(std::time::Instant::now());
        }
        let result = std::task::ready!(this.turn.poll(cx));
        if let (Some(metrics), Some(started)) = (metrics, *this.started) {
            metrics.turn(started.elapsed());
        }
        std::task::Poll::Ready(result)
    }
}

/// Turns activity results for one instance into a work item for its cached `engine`
/// (taken from the cache in `execution_id`, the results' execution).
pub(super) fn local_work_item(
    shared: &WorkerShared,
    instance_id: InstanceId,
    execution_id: ExecutionId,
    engine: ReplayEngine,
    pending: &[PendingCompletion],
) -> (OrchestrationWorkItem, LocalTurn) {
    // A miss here is counted by the turn that then runs the ordinary way.
    if let Some(metrics) = shared.metrics() {
        metrics.cache_hit();
    }
    let messages = pending
        .iter()
        .map(|(completion, _)| crate::store::OrchestrationMessage {
            id: completion.id,
            execution_id: Some(completion.execution_id.clone()),
            event: completion.event.clone(),
        })
        .collect();
    let item = OrchestrationWorkItem {
        instance_id,
        execution_id,
        name: engine.name().to_owned(),
        version: engine.version().map(str::to_owned),
        status: RuntimeStatus::Running,
        history_len: engine.history_len(),
        messages,
        corrupt_messages: Vec::new(),
        lock_token: None,
    };
    let applied = pending
        .iter()
        .map(|(completion, _)| ActivityLease::new(completion.id, completion.lock_token.clone()))
        .collect();
    (item, LocalTurn { engine, applied })
}

/// A turn run on a cached engine for activity results this worker holds, without a lease
/// on the instance (see [`CommitAuthority::Unleased`](crate::store::CommitAuthority::Unleased)).
pub(super) struct LocalTurn {
    pub(super) engine: ReplayEngine,
    pub(super) applied: Vec<ActivityLease>,
}

/// Who waits for a commit: nobody (a leased turn) or the activities whose results it applied.
pub(super) type Waiters = Vec<PendingCompletion>;

/// A batch of turns ready to commit: the commits, and beside each (same index) what it
/// needs once committed.
pub(super) struct PreparedBatch {
    pub(super) commits: Vec<OrchestrationCommit>,
    after: Vec<AfterCommit>,
}

/// What a turn needs once its commit is done: the instance (and the lease it holds, if any),
/// the engine to cache, who waits, what to trace and count.
struct AfterCommit {
    instance_id: InstanceId,
    lock_token: Option<LockToken>,
    engine: Option<ReplayEngine>,
    waiting: Waiters,
    trace: TurnTrace,
    tally: TurnTally,
}

impl PreparedBatch {
    pub(super) fn with_capacity(turns: usize) -> Self {
        Self {
            commits: Vec::with_capacity(turns),
            after: Vec::with_capacity(turns),
        }
    }

    /// Appends `other`'s turns (for other instances) to this batch.
    pub(super) fn merge(&mut self, other: Self) {
        self.commits.extend(other.commits);
        self.after.extend(other.after);
    }

    pub(super) fn push(&mut self, prepared: Prepared, waiting: Waiters) {
        self.after.push(AfterCommit {
            instance_id: prepared.commit.instance_id.clone(),
            lock_token: prepared.commit.authority.lock_token().cloned(),
            engine: prepared.engine,
            waiting,
            trace: prepared.trace,
            tally: prepared.tally,
        });
        self.commits.push(prepared.commit);
    }
}

/// Runs the turns of a batch (none of whose instances has a commit in flight).
pub(super) async fn prepare_batch(
    shared: &Arc<WorkerShared>,
    items: Vec<OrchestrationWorkItem>,
    local: LocalTurns,
) -> PreparedBatch {
    let mut batch = PreparedBatch::with_capacity(items.len() + local.len());
    let leased: HashSet<InstanceId> = items.iter().map(|i| i.instance_id.clone()).collect();
    for (instance_id, pending) in local.groups {
        // Results for another execution, or for an instance this batch also leased, go the
        // ordinary way: the store turns them into messages for whoever runs the instance.
        let execution_id = pending[0].0.execution_id.clone();
        let (pending, other): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(c, _)| c.execution_id == execution_id);
        let leased_in_batch = leased.contains(&instance_id);
        let stale = Stage::InBatch {
            same_execution: false,
            leased_in_batch,
            cached: false,
        };
        let stale = route(&shared.options, stale).because();
        for other in other {
            through_store(shared, other, stale);
        }
        let engine = if leased_in_batch {
            None
        } else {
            shared.cache.take_current(&instance_id, &execution_id)
        };
        let stage = Stage::InBatch {
            same_execution: true,
            leased_in_batch,
            cached: engine.is_some(),
        };
        let (item, turn) = match (route(&shared.options, stage), engine) {
            (ResultRoute::LocalTurn, Some(engine)) => {
                local_work_item(shared, instance_id, execution_id, engine, &pending)
            }
            (route, engine) => {
                let because = route.because();
                if let Some(engine) = engine {
                    shared.cache.put(instance_id, engine);
                }
                for pending in pending {
                    through_store(shared, pending, because);
                }
                continue;
            }
        };
        let span = tracing::debug_span!(
            "orchestration_turn",
            instance_id = %item.instance_id,
            name = %item.name,
            replayed = tracing::field::Empty,
        );
        match timed(shared, prepare_turn(shared, item, Some(turn)))
            .instrument(span)
            .await
        {
            Ok(prepared) => batch.push(prepared, pending),
            Err((item, error)) => {
                tracing::debug!(instance_id = %item.instance_id, %error, "local turn not run");
                for pending in pending {
                    through_store(shared, pending, Because::TurnNotRun);
                }
            }
        }
    }
    // The turns run concurrently on this task: each is CPU work between store reads, so an
    // instance that must load its history waits for it while the others go on, and the
    // reads of a batch reach the store together (SQLite serves them in one read
    // transaction). Every item is a different instance, so the turns share nothing.
    let turns = items.into_iter().map(|item| {
        let span = tracing::debug_span!(
            "orchestration_turn",
            instance_id = %item.instance_id,
            name = %item.name,
            replayed = tracing::field::Empty,
        );
        timed(shared, prepare_turn(shared, item, None)).instrument(span)
    });
    for turn in futures::future::join_all(turns).await {
        match turn {
            Ok(prepared) => batch.push(prepared, Vec::new()),
            Err((
                item,
                TurnError::Wait {
                    retry_after,
                    reason,
                },
            )) => {
                tracing::debug!(instance_id = %item.instance_id, reason, "turn waits");
                release(&*shared.store, &item, retry_after).await;
            }
            Err((item, TurnError::Store(error))) => {
                // Released for a retry that backs off: one warning per attempt, the
                // attempts doubling apart (see `Retries`).
                let (attempt, retry_after) = shared.retries.failed(&item.instance_id);
                tracing::warn!(
                    instance_id = %item.instance_id,
                    %error,
                    attempt,
                    retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                    "turn abandoned; it will be retried"
                );
                release(&*shared.store, &item, retry_after).await;
            }
        }
    }
    batch
}

/// Commits a prepared batch and hands on what follows: activities to run, engines back to
/// the cache, results' waiters released (or their results completed the ordinary way).
pub(super) async fn commit_batch(
    shared: &Arc<WorkerShared>,
    in_flight: &InFlight,
    batch: PreparedBatch,
) {
    let PreparedBatch { commits, after } = batch;
    if commits.is_empty() {
        return;
    }
    let started = shared.metrics().map(|_| std::time::Instant::now());
    let batch = commits.len();
    let committed = shared.store.commit_orchestrations(commits).await;
    if let (Some(metrics), Some(started), Ok(results)) =
        (shared.metrics(), started, committed.as_ref())
    {
        metrics.commit(WorkKind::Orchestration, batch, started.elapsed());
        let accepted = results.iter().filter(|r| r.is_ok());
        metrics.committed(WorkKind::Orchestration, accepted.count());
        let accepted = results.iter().zip(&after).filter(|(r, _)| r.is_ok());
        let applied = accepted.clone().map(|(_, turn)| turn.waiting.len());
        metrics.committed(WorkKind::Activity, applied.sum());
        for (_, turn) in accepted {
            turn.tally.record(metrics);
        }
    }
    match committed {
        Ok(results) => {
            for (turn, result) in after.into_iter().zip(results) {
                #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
                let AfterCommit {
                    instance_id: id,
                    engine,
                    waiting,
                    trace,
                    ..
                } = turn;
                match result {
                    Ok(leased) => {
                        shared.retries.succeeded(&id);
                        #[cfg(feature = "otel")]
                        if let Some(telemetry) = &shared.telemetry {
                            trace.export(telemetry);
                        }
                        // The engine is back and the instance free before its activities
                        // start, so their results find both.
                        // An instance parked on a far timer is rebuilt when it wakes
                        // rather than held (`WorkerOptions::max_cached_wait`).
                        if let Some(engine) = engine
                            && !engine.is_finished()
                            && !parked_beyond(
                                &engine,
                                shared.options.max_cached_wait,
                                &shared.clock,
                            )
                        {
                            shared.cache.put(id.clone(), engine);
                        }
                        in_flight.settle(&id);
                        super::super::activity_dispatcher::dispatch_leased(shared, leased);
                        for (_, done) in waiting {
                            let _ = done.send(());
                        }
                    }
                    Err(error) => {
                        in_flight.settle(&id);
                        // The engine ran ahead of the store; it is dropped and the next
                        // turn replays. A local turn's results go the ordinary way.
                        if waiting.is_empty() {
                            tracing::warn!(instance_id = %id, %error, "turn not committed");
                        } else {
                            tracing::debug!(instance_id = %id, %error, "local turn not committed; completing its activities as messages");
                        }
                        for pending in waiting {
                            through_store(shared, pending, Because::NotCommitted);
                        }
                    }
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "committing orchestration turns failed; releasing them to be retried");
            for turn in after {
                let instance_id = &turn.instance_id;
                in_flight.settle(instance_id);
                // A local turn's results go the ordinary way; a leased turn is released.
                for pending in turn.waiting {
                    through_store(shared, pending, Because::NotCommitted);
                }
                let Some(lock_token) = &turn.lock_token else {
                    continue;
                };
                if let Err(error) = shared
                    .store
                    .abandon_orchestration_work_item(instance_id, lock_token, Duration::ZERO)
                    .await
                {
                    tracing::warn!(%instance_id, %error, "could not release a lease; it will expire");
                }
            }
        }
    }
}

/// Whether `engine` waits only for durable timers (and events) and its next timer fires
/// more than `limit` from now on the store's clock (the one its timers were set by).
fn parked_beyond(
    engine: &crate::replay::ReplayEngine,
    limit: std::time::Duration,
    clock: &crate::clock::Clock,
) -> bool {
    let Some(until) = engine.parked_until() else {
        return false;
    };
    let limit = chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX);
    until.signed_duration_since(clock.now()) > limit
}
