//! Fetches orchestration work items, runs their turns and commits them in batches.

use std::sync::Arc;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tracing::Instrument;

use super::activity_dispatcher::{PendingCompletion, enqueue_completion};
use super::{ERROR_BACKOFF, Ready, WorkKind, WorkerShared};
use crate::error::StoreError;
use crate::error_types::{
    CORRUPT_HISTORY, HISTORY_TOO_LONG, ORCHESTRATION_NOT_REGISTERED, TERMINATED,
};
use crate::history::{EventKind, HistoryEvent};
use chrono::{DateTime, Utc};

use crate::history::ParentInstance;
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::replay::{Outcome, ReplayEngine};
#[cfg(feature = "otel")]
use crate::telemetry::TurnTrace;

/// What a turn traces once committed: nothing without feature `otel`.
#[cfg(not(feature = "otel"))]
#[derive(Debug, Default)]
struct TurnTrace;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{
    NewActivity, NewExecution, NewInstance, OrchestrationCommit, OrchestrationWorkItem,
    OutboundMessage,
};

/// How many batches may be committing at once. While one batch waits for its commit (an
/// fsync on SQLite), the next is fetched and run, so the store's writer and the turns
/// overlap instead of taking turns; an instance never has two turns in flight.
const COMMITS_IN_FLIGHT: usize = 2;

/// The instances whose turns are committing now, and the slots that bound the batches.
struct InFlight {
    instances: Mutex<HashSet<InstanceId>>,
    slots: Arc<Semaphore>,
    /// Signalled each time a batch finished committing.
    finished: Notify,
}

impl InFlight {
    /// These instances' turns are committing now.
    fn begin<'a>(&self, ids: impl Iterator<Item = &'a InstanceId>) {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(ids.cloned());
    }

    /// The instance's turn has committed (or failed to): its work may run again.
    fn settle(&self, id: &InstanceId) {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    fn contains(&self, id: &InstanceId) -> bool {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }
}

pub(crate) async fn run(
    shared: Arc<WorkerShared>,
    mut shutdown: watch::Receiver<bool>,
    mut ready: mpsc::UnboundedReceiver<Ready>,
) {
    let store = shared.store.clone();
    let batch = shared.options.orchestration_batch_size.max(1);
    let in_flight = Arc::new(InFlight {
        instances: Mutex::new(HashSet::new()),
        slots: Arc::new(Semaphore::new(COMMITS_IN_FLIGHT)),
        finished: Notify::new(),
    });
    // Work for instances whose turn is committing waits here for the next batch.
    let mut held_items: Vec<OrchestrationWorkItem> = Vec::new();
    let mut held_local = LocalTurns::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let Ok(slot) = in_flight.slots.clone().acquire_owned().await else {
            break;
        };
        // Work handed over in process comes first (turns that activity completions leased,
        // activity results for cached instances); the store tops the batch up, so new
        // instances, timers and events are never starved.
        let mut items = std::mem::take(&mut held_items);
        let mut local = std::mem::take(&mut held_local);
        while items.len() + local.len() < batch {
            match ready.try_recv() {
                Ok(Ready::Turn(item)) => items.push(item),
                Ok(Ready::Completion(pending)) => local.push(pending),
                Err(_) => break,
            }
        }
        // Hold back work for instances that are committing; it goes in a later batch.
        let (items, later): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|item| !in_flight.contains(&item.instance_id));
        held_items.extend(later);
        let (local, later) = local.split(|id| !in_flight.contains(id));
        held_local.merge(later);
        // The store tops the batch up. Its fetch waits behind the commit in flight (one
        // writer), so the handed-over turns run meanwhile instead of after it.
        let room = batch.saturating_sub(items.len() + local.len());
        let fetch = async {
            if room == 0 {
                return Ok(Vec::new());
            }
            store
                .fetch_orchestration_work_items(room, shared.options.orchestration_lease)
                .await
        };
        let handed_over = async {
            if items.is_empty() && local.is_empty() {
                None
            } else {
                Some(prepare_batch(&shared, items, local).await)
            }
        };
        let (fetched, mut prepared) = tokio::join!(fetch, handed_over);
        let fetched = match fetched {
            Ok(fetched) => {
                if let Some(metrics) = shared.metrics() {
                    metrics.fetched(WorkKind::Orchestration, fetched.len());
                }
                fetched
            }
            Err(error) => {
                tracing::error!(%error, "fetching orchestration work items failed; retrying");
                if prepared.is_none() {
                    drop(slot);
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    continue;
                }
                Vec::new()
            }
        };
        // An instance fetched while its handed-over turn was being run waits for the next
        // batch too: one turn per instance per batch.
        let running: HashSet<&InstanceId> = prepared
            .iter()
            .flat_map(|p| p.commits.iter().map(|c| &c.instance_id))
            .collect();
        let (fetched, later): (Vec<_>, Vec<_>) = fetched.into_iter().partition(|item| {
            !in_flight.contains(&item.instance_id) && !running.contains(&item.instance_id)
        });
        drop(running);
        held_items.extend(later);
        if !fetched.is_empty() {
            let more = prepare_batch(&shared, fetched, LocalTurns::default()).await;
            prepared = Some(match prepared {
                Some(mut first) => {
                    first.merge(more);
                    first
                }
                None => more,
            });
        }
        let Some(prepared) = prepared else {
            drop(slot);
            // Sleep until woken, until a commit in flight ends (if work waits for it), until
            // the next durable timer is due, or the fallback poll.
            let holding = !held_items.is_empty() || !held_local.is_empty();
            let mut idle = shared.options.poll_interval;
            if let Ok(Some(next)) = store.next_visible_at().await {
                let until = (next - shared.clock.now()).to_std().unwrap_or_default();
                idle = idle.min(until + std::time::Duration::from_millis(1));
            }
            tokio::select! {
                () = store.notifier().wait_orchestration_work() => {}
                () = in_flight.finished.notified(), if holding => {}
                Some(handed) = ready.recv() => match handed {
                    Ready::Turn(item) => held_items.push(item),
                    Ready::Completion(pending) => held_local.push(pending),
                },
                () = tokio::time::sleep(idle) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        in_flight.begin(prepared.commits.iter().map(|c| &c.instance_id));
        let (shared, in_flight) = (shared.clone(), in_flight.clone());
        tokio::spawn(async move {
            commit_batch(&shared, &in_flight, prepared).await;
            drop(slot);
            in_flight.finished.notify_one();
        });
    }
    // Let the commits in flight finish, then release the turns handed over or held but not
    // run, so they need not wait for their leases, and complete the handed-over activity
    // results the ordinary way.
    let _ = in_flight
        .slots
        .acquire_many(u32::try_from(COMMITS_IN_FLIGHT).unwrap_or(u32::MAX))
        .await;
    ready.close();
    while let Some(handed) = ready.recv().await {
        match handed {
            Ready::Turn(item) => held_items.push(item),
            Ready::Completion(pending) => held_local.push(pending),
        }
    }
    for pending in held_local.groups.into_iter().flat_map(|(_, group)| group) {
        enqueue_completion(&shared, pending);
    }
    for item in held_items {
        let _ = store
            .abandon_orchestration_work_item(&item.instance_id, &item.lock_token, Duration::ZERO)
            .await;
    }
}

/// Activity results handed over in process, grouped by instance in arrival order.
#[derive(Default)]
struct LocalTurns {
    index: HashMap<InstanceId, usize>,
    groups: Vec<(InstanceId, Vec<PendingCompletion>)>,
}

impl LocalTurns {
    fn push(&mut self, pending: PendingCompletion) {
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
    fn split(self, keep: impl Fn(&InstanceId) -> bool) -> (Self, Self) {
        let (mut kept, mut rest) = (Self::default(), Self::default());
        for (id, group) in self.groups {
            let into = if keep(&id) { &mut kept } else { &mut rest };
            into.extend(group);
        }
        (kept, rest)
    }

    /// Adds `other`'s results after these.
    fn merge(&mut self, other: Self) {
        for (_, group) in other.groups {
            self.extend(group);
        }
    }

    fn extend(&mut self, pending: Vec<PendingCompletion>) {
        for pending in pending {
            self.push(pending);
        }
    }

    /// How many instances (turns) they make.
    fn len(&self) -> usize {
        self.groups.len()
    }

    fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Runs a turn, timing it for the metrics.
async fn timed<T>(shared: &WorkerShared, turn: impl std::future::Future<Output = T>) -> T {
    let started = shared.metrics().map(|_| std::time::Instant::now());
    let result = turn.await;
    if let (Some(metrics), Some(started)) = (shared.metrics(), started) {
        metrics.turn(started.elapsed());
    }
    result
}

/// Turns activity results for one instance into a work item for its cached engine; `None`
/// when the instance is not cached in their execution.
fn local_work_item(
    shared: &WorkerShared,
    instance_id: InstanceId,
    pending: &[PendingCompletion],
) -> Option<(OrchestrationWorkItem, LocalTurn)> {
    let execution_id = pending.first()?.0.execution_id.clone();
    let engine = shared.cache.take_current(&instance_id, &execution_id)?;
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
        lock_token: String::new(),
    };
    let applied = pending
        .iter()
        .map(|(completion, _)| (completion.id, completion.lock_token.clone()))
        .collect();
    Some((item, LocalTurn { engine, applied }))
}

/// A turn run on a cached engine for activity results this worker holds, without a lease
/// on the instance (see [`OrchestrationCommit::lock_token`]).
struct LocalTurn {
    engine: ReplayEngine,
    applied: Vec<(i64, String)>,
}

/// Who waits for a commit: nobody (a leased turn) or the activities whose results it applied.
type Waiters = Vec<PendingCompletion>;

/// A batch of turns ready to commit, with what each needs afterwards.
struct PreparedBatch {
    commits: Vec<OrchestrationCommit>,
    engines: Vec<Option<ReplayEngine>>,
    waiters: Vec<Waiters>,
    traces: Vec<TurnTrace>,
    tallies: Vec<TurnTally>,
}

impl PreparedBatch {
    /// Appends `other`'s turns (for other instances) to this batch.
    fn merge(&mut self, other: Self) {
        self.commits.extend(other.commits);
        self.engines.extend(other.engines);
        self.waiters.extend(other.waiters);
        self.traces.extend(other.traces);
        self.tallies.extend(other.tallies);
    }

    fn push(&mut self, prepared: Prepared, waiting: Waiters) {
        self.commits.push(prepared.commit);
        self.engines.push(prepared.engine);
        self.waiters.push(waiting);
        self.traces.push(prepared.trace);
        self.tallies.push(prepared.tally);
    }
}

/// Runs the turns of a batch (none of whose instances has a commit in flight).
async fn prepare_batch(
    shared: &Arc<WorkerShared>,
    items: Vec<OrchestrationWorkItem>,
    local: LocalTurns,
) -> PreparedBatch {
    let turns = items.len() + local.len();
    let mut batch = PreparedBatch {
        commits: Vec::with_capacity(turns),
        engines: Vec::with_capacity(turns),
        waiters: Vec::with_capacity(turns),
        traces: Vec::with_capacity(turns),
        tallies: Vec::with_capacity(turns),
    };
    let leased: HashSet<InstanceId> = items.iter().map(|i| i.instance_id.clone()).collect();
    for (instance_id, pending) in local.groups {
        // Results for another execution, or for an instance this batch also leased, go the
        // ordinary way: the store turns them into messages for whoever runs the instance.
        let execution_id = pending[0].0.execution_id.clone();
        let (pending, other): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(c, _)| c.execution_id == execution_id);
        for other in other {
            enqueue_completion(shared, other);
        }
        let turn = if leased.contains(&instance_id) {
            None
        } else {
            local_work_item(shared, instance_id, &pending)
        };
        let Some((item, turn)) = turn else {
            for pending in pending {
                enqueue_completion(shared, pending);
            }
            continue;
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
                    enqueue_completion(shared, pending);
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
                let _ = shared
                    .store
                    .abandon_orchestration_work_item(
                        &item.instance_id,
                        &item.lock_token,
                        retry_after,
                    )
                    .await;
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
                let _ = shared
                    .store
                    .abandon_orchestration_work_item(
                        &item.instance_id,
                        &item.lock_token,
                        retry_after,
                    )
                    .await;
            }
        }
    }
    batch
}

/// Commits a prepared batch and hands on what follows: activities to run, engines back to
/// the cache, results' waiters released (or their results completed the ordinary way).
async fn commit_batch(shared: &Arc<WorkerShared>, in_flight: &InFlight, batch: PreparedBatch) {
    let PreparedBatch {
        commits,
        engines,
        waiters,
        traces,
        tallies,
    } = batch;
    if commits.is_empty() {
        return;
    }
    let leases: Vec<_> = commits
        .iter()
        .map(|c| (c.instance_id.clone(), c.lock_token.clone()))
        .collect();
    let started = shared.metrics().map(|_| std::time::Instant::now());
    let batch = commits.len();
    let committed = shared.store.commit_orchestrations(commits).await;
    if let (Some(metrics), Some(started), Ok(results)) =
        (shared.metrics(), started, committed.as_ref())
    {
        metrics.commit(WorkKind::Orchestration, batch, started.elapsed());
        let accepted = results.iter().filter(|r| r.is_ok());
        metrics.committed(WorkKind::Orchestration, accepted.count());
        let applied = results
            .iter()
            .zip(&waiters)
            .filter(|(result, _)| result.is_ok())
            .map(|(_, waiting)| waiting.len());
        metrics.committed(WorkKind::Activity, applied.sum());
        for tally in tallies.iter().zip(results).filter(|(_, r)| r.is_ok()) {
            tally.0.record(metrics);
        }
    }
    match committed {
        Ok(results) => {
            let turns = leases.into_iter().zip(engines).zip(waiters).zip(traces);
            #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
            for (((((id, _), engine), waiting), trace), result) in turns.zip(results) {
                match result {
                    Ok(leased) => {
                        shared.retries.succeeded(&id);
                        #[cfg(feature = "otel")]
                        if let Some(telemetry) = &shared.telemetry {
                            trace.export(telemetry);
                        }
                        // The engine is back and the instance free before its activities
                        // start, so their results find both.
                        if let Some(engine) = engine
                            && !engine.is_finished()
                        {
                            shared.cache.put(id.clone(), engine);
                        }
                        in_flight.settle(&id);
                        super::activity_dispatcher::dispatch_leased(shared, leased);
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
                            enqueue_completion(shared, pending);
                        }
                    }
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "committing orchestration turns failed; releasing them to be retried");
            for ((instance_id, lock_token), waiting) in leases.iter().zip(waiters) {
                in_flight.settle(instance_id);
                // A local turn's results go the ordinary way; a leased turn is released.
                for pending in waiting {
                    enqueue_completion(shared, pending);
                }
                let Some(lock_token) = lock_token else {
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

/// A turn ready to commit: the commit, the engine to cache after it, and its spans.
struct Prepared {
    commit: OrchestrationCommit,
    engine: Option<ReplayEngine>,
    /// What to trace once the commit succeeded (nothing without feature `otel`).
    trace: TurnTrace,
    /// What to count once the commit succeeded (with feature `metrics`).
    tally: TurnTally,
}

/// The metrics a turn adds once committed: calls a retry policy made again, timers fired.
#[cfg(feature = "metrics")]
#[derive(Debug, Clone, Copy)]
struct TurnTally {
    activity_retries: usize,
    sub_orchestration_retries: usize,
    timers_fired: usize,
}

/// Nothing to count without feature `metrics`.
#[cfg(not(feature = "metrics"))]
#[derive(Debug, Clone, Copy)]
struct TurnTally;

#[cfg(not(feature = "metrics"))]
impl TurnTally {
    const NONE: Self = Self;

    fn record(self, metrics: &super::Recorder) {
        match *metrics {}
    }

    fn of(_: &WorkerShared, _: &crate::replay::TurnOutput) -> Self {
        Self
    }
}

#[cfg(feature = "metrics")]
impl TurnTally {
    const NONE: Self = Self {
        activity_retries: 0,
        sub_orchestration_retries: 0,
        timers_fired: 0,
    };

    fn record(self, metrics: &super::Recorder) {
        for _ in 0..self.activity_retries {
            metrics.retry(super::RetryKind::Activity);
        }
        for _ in 0..self.sub_orchestration_retries {
            metrics.retry(super::RetryKind::SubOrchestration);
        }
        metrics.timers_fired(self.timers_fired);
    }

    /// What `output`, a turn's output, counts.
    fn of(shared: &WorkerShared, output: &crate::replay::TurnOutput) -> Self {
        if shared.metrics().is_some() {
            return Self {
                activity_retries: output
                    .activities
                    .iter()
                    .filter(|a| a.retry_attempt > 1)
                    .count(),
                sub_orchestration_retries: output
                    .sub_orchestrations
                    .iter()
                    .filter(|s| s.retry_attempt > 1)
                    .count(),
                timers_fired: output
                    .events
                    .iter()
                    .filter(|e| matches!(e.kind, EventKind::TimerFired { .. }))
                    .count(),
            };
        }
        Self::NONE
    }
}

impl Prepared {
    fn new(commit: OrchestrationCommit, engine: Option<ReplayEngine>) -> Self {
        #[cfg(feature = "otel")]
        let trace = TurnTrace::Nothing;
        #[cfg(not(feature = "otel"))]
        let trace = TurnTrace;
        Self::traced(commit, engine, trace)
    }

    fn traced(commit: OrchestrationCommit, engine: Option<ReplayEngine>, trace: TurnTrace) -> Self {
        Self {
            commit,
            engine,
            trace,
            tally: TurnTally::NONE,
        }
    }
}

/// The trace of a turn of `item` that recorded `spans`.
#[cfg(feature = "otel")]
fn turn_trace(item: &OrchestrationWorkItem, spans: crate::replay::TurnSpans) -> TurnTrace {
    TurnTrace::turn(item, spans)
}

/// Nothing to trace without feature `otel`.
#[cfg(not(feature = "otel"))]
fn turn_trace(_: &OrchestrationWorkItem, _: crate::replay::TurnSpans) -> TurnTrace {
    TurnTrace
}

/// Why a turn was not prepared: its work item is released for a later attempt.
#[derive(Debug)]
enum TurnError {
    /// The store failed (or the lease was lost): retried with the growing back-off of
    /// [`super::Retries`], with a warning per attempt.
    Store(StoreError),
    /// The turn cannot run yet (a rewind waits for the failed execution's activities):
    /// retried after `retry_after`, without a warning.
    Wait {
        retry_after: Duration,
        reason: &'static str,
    },
}

impl From<StoreError> for TurnError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl std::fmt::Display for TurnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(error) => error.fmt(f),
            Self::Wait { reason, .. } => f.write_str(reason),
        }
    }
}

/// An instance's parent (if any) and the entities it holds locked.
type ClosingLinks = (Option<ParentInstance>, Vec<crate::entity::EntityId>);

/// What a cached engine says of its [`ClosingLinks`].
fn engine_links(engine: Option<&ReplayEngine>) -> Option<ClosingLinks> {
    engine.map(|engine| (engine.parent(), engine.held_locks()))
}

/// The ids of every queued message of `item`, corrupt ones included.
fn all_message_ids(item: &OrchestrationWorkItem) -> Vec<i64> {
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
async fn closing_links(
    shared: &WorkerShared,
    item: &OrchestrationWorkItem,
    cached: Option<ClosingLinks>,
) -> Result<ClosingLinks, StoreError> {
    if let Some(links) = cached {
        return Ok(links);
    }
    let history = match shared.store.read_history(&item.instance_id).await {
        Ok(history) => history.unwrap_or_default(),
        Err(StoreError::Corrupt(_)) => Vec::new(),
        Err(error) => return Err(error),
    };
    Ok((
        parent_in(&history),
        crate::entity::scheduler::held_locks(&history),
    ))
}

/// Adds what an instance ending outside its orchestrator function sends: unlocks for the
/// entities it `held`, and `failure` to its `parent`.
fn send_closing(
    commit: &mut OrchestrationCommit,
    instance_id: &InstanceId,
    (parent, held): ClosingLinks,
    now: DateTime<Utc>,
    failure: FailureDetails,
) {
    commit
        .messages
        .extend(crate::entity::scheduler::unlock_messages(
            instance_id,
            &held,
            now,
        ));
    if let Some(parent) = parent {
        commit
            .messages
            .push(parent_message(&parent, now, Err(failure)));
    }
}

/// Fails the instance of `item` because a row of its state does not decode
/// ([`CORRUPT_HISTORY`]): every queued message is consumed, its parent is told and its
/// entity locks are released where they can be known, and the other instances go on.
async fn fail_corrupt(
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
fn cached_span_root(
    engine: Option<&ReplayEngine>,
) -> Option<(crate::replay::spans::SpanRoot, Option<DateTime<Utc>>)> {
    engine.and_then(ReplayEngine::span_root)
}

/// What is known of an execution's spans without feature `otel`: nothing.
#[cfg(not(feature = "otel"))]
#[derive(Debug, Clone, Copy)]
struct NoSpanRoot;

/// Nothing to trace without feature `otel`.
#[cfg(not(feature = "otel"))]
fn cached_span_root(_: Option<&ReplayEngine>) -> NoSpanRoot {
    NoSpanRoot
}

/// The trace of `item`'s execution ending outside its orchestrator function (terminated,
/// failed on a corrupt row or an unregistered name): its orchestration span, rooted as the
/// cached engine says, or as its `ExecutionStarted` says (in `events` about to be applied,
/// or in history).
#[cfg(feature = "otel")]
async fn ended_outside(
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
async fn ended_outside(
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

/// Appends `OrchestratorStarted`, `events` and an `ExecutionCompleted { Failed }` and marks
/// the commit failed: for failures decided outside the orchestrator function.
fn fail_commit(
    commit: &mut OrchestrationCommit,
    now: DateTime<Utc>,
    events: Vec<HistoryEvent>,
    failure: FailureDetails,
) {
    commit
        .events
        .push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
    commit.events.extend(events);
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
}

/// The message that gives a parent its sub-orchestration's result.
fn parent_message(
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
    OutboundMessage {
        instance_id: parent.instance_id.clone(),
        execution_id: Some(parent.execution_id.clone()),
        visible_at: now,
        event: HistoryEvent::new(now, kind),
    }
}

/// Finds an instance's parent link in its history (only needed when no engine is cached).
fn parent_in(history: &[HistoryEvent]) -> Option<ParentInstance> {
    history.iter().find_map(|event| match &event.kind {
        EventKind::ExecutionStarted { parent, .. } => parent.clone(),
        _ => None,
    })
}

/// Runs one batch of an entity's operations; see [`crate::entity::scheduler`].
async fn prepare_entity_turn(
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
        let error = StoreError::Corrupt(note.message.clone());
        return Err((item, error.into()));
    }
    let scheduler = match crate::entity::scheduler::SchedulerState::from_output(
        status.as_ref().and_then(|s| s.output.as_ref()),
    ) {
        Ok(scheduler) => scheduler,
        Err(error) => {
            let error = StoreError::Corrupt(format!(
                "the scheduler state of entity {entity} does not decode: {error}"
            ));
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

/// Runs one turn and builds its commit; the engine comes back for the cache.
///
/// `local` is a turn on a cached engine for activity results this worker holds (see
/// [`LocalTurn`]); its commit carries no lease and no consumed messages.
async fn prepare_turn(
    shared: &WorkerShared,
    item: OrchestrationWorkItem,
    local: Option<LocalTurn>,
) -> Result<Prepared, (OrchestrationWorkItem, TurnError)> {
    let now = shared.clock.now();
    let is_local = local.is_some();
    let (local_engine, applied_activities) = match local {
        Some(turn) => (Some(turn.engine), turn.applied),
        None => (None, Vec::new()),
    };
    let mut commit = OrchestrationCommit {
        instance_id: item.instance_id.clone(),
        execution_id: item.execution_id.clone(),
        lock_token: (!is_local).then(|| item.lock_token.clone()),
        history_len: item.history_len,
        events: Vec::new(),
        consumed: Vec::new(),
        applied_activities,
        activities: Vec::new(),
        status: item.status,
        output: None,
        failure: None,
        custom_status: None,
        updated_at: now,
        messages: Vec::new(),
        new_instances: Vec::new(),
        continue_as_new: None,
        lease_activities: shared
            .options
            .dispatch_activities_in_process
            .then_some(shared.options.activity_lease),
    };
    if let Some(entity) = crate::entity::EntityId::from_instance_id(item.instance_id.as_str()) {
        return prepare_entity_turn(shared, item, entity, commit).await;
    }
    // A rewind: the client's sets the instance Pending when enqueued, a parent's finds
    // its failed child still Failed.
    if matches!(item.status, RuntimeStatus::Failed | RuntimeStatus::Pending)
        && item.history_len > 0
        && let Some(rewind) = item.messages.iter().find(|m| {
            matches!(m.event.kind, EventKind::ExecutionRewound { .. })
                && m.execution_id
                    .as_ref()
                    .is_none_or(|e| *e == item.execution_id)
        })
    {
        let rewind = rewind.event.clone();
        return prepare_rewind(shared, item, commit, rewind, now).await;
    }
    if item.status.is_terminal() {
        tracing::debug!(status = %item.status, count = item.messages.len(), "dropping messages for a finished instance");
        commit.consumed = all_message_ids(&item);
        return Ok(Prepared::new(commit, None));
    }

    // Control messages first: terminate wins over everything; a suspend stops the turn
    // at that point, leaving later messages queued until resume.
    let cached = if local_engine.is_some() {
        local_engine
    } else if shared.options.always_replay {
        None
    } else {
        let engine = shared
            .cache
            .take(&item.instance_id, &item.execution_id, item.history_len);
        if let Some(metrics) = shared.metrics() {
            if engine.is_some() {
                metrics.cache_hit();
            } else {
                metrics.cache_miss();
            }
        }
        engine
    };
    if let Some(first) = item.corrupt_messages.first() {
        let more = item.corrupt_messages.len() - 1;
        let reason = format!(
            "queued message {} of instance {} does not decode: {}{}",
            first.id,
            item.instance_id,
            first.reason,
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        );
        return fail_corrupt(shared, item, commit, cached, now, reason).await;
    }
    let current = |m: &&crate::store::OrchestrationMessage| {
        m.execution_id
            .as_ref()
            .is_none_or(|e| *e == item.execution_id)
    };
    if let Some(terminate) = item
        .messages
        .iter()
        .filter(current)
        .find(|m| matches!(m.event.kind, EventKind::ExecutionTerminated { .. }))
    {
        let EventKind::ExecutionTerminated { reason } = &terminate.event.kind else {
            unreachable!("matched above");
        };
        commit.consumed = item.messages.iter().map(|m| m.id).collect();
        commit
            .events
            .push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
        commit.events.push(terminate.event.clone());
        commit.status = RuntimeStatus::Terminated;
        commit.output = Some(Payload::encode(reason).unwrap_or_else(|_| Payload::null()));
        let links = engine_links(cached.as_ref());
        let root = cached_span_root(cached.as_ref());
        let links = match closing_links(shared, &item, links).await {
            Ok(links) => links,
            Err(error) => return Err((item, error.into())),
        };
        // A terminated orchestration releases the entities it held locked, and its parent
        // sees a typed failure.
        let failure = FailureDetails::new(
            TERMINATED,
            format!(
                "terminated{}",
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        );
        let trace = ended_outside(
            shared,
            &item,
            root,
            &[],
            now,
            RuntimeStatus::Terminated,
            &failure,
        )
        .await;
        send_closing(&mut commit, &item.instance_id, links, now, failure);
        return Ok(Prepared::traced(commit, None, trace));
    }
    let mut suspended = item.status == RuntimeStatus::Suspended;
    let mut new_events: Vec<HistoryEvent> = Vec::new();
    let mut marker_events: Vec<HistoryEvent> = Vec::new();
    for message in &item.messages {
        match &message.event.kind {
            EventKind::ExecutionResumed { .. } => {
                if suspended {
                    suspended = false;
                    marker_events.push(message.event.clone());
                }
                commit.consumed.push(message.id);
            }
            EventKind::ExecutionSuspended { .. } => {
                // Events queued before the suspend run first (this turn); the suspend stays
                // queued for the next one. Consuming it now would drop them unapplied, e.g.
                // the `ExecutionStarted` of an instance suspended while Pending.
                if !suspended && !new_events.is_empty() {
                    break;
                }
                commit.consumed.push(message.id);
                if !suspended {
                    suspended = true;
                    marker_events.push(message.event.clone());
                    break;
                }
            }
            _ if suspended => {}
            _ => {
                commit.consumed.push(message.id);
                if current(&message) {
                    new_events.push(message.event.clone());
                }
            }
        }
    }
    if is_local {
        // The results came from this worker, not from the message queue.
        commit.consumed.clear();
    }
    if suspended || new_events.is_empty() {
        // Only markers (or stale messages): record them without running the orchestrator.
        if !marker_events.is_empty() {
            commit
                .events
                .push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
            commit.events.extend(marker_events);
        }
        commit.status = if suspended {
            RuntimeStatus::Suspended
        } else if item.status == RuntimeStatus::Suspended {
            RuntimeStatus::Running
        } else {
            item.status
        };
        if let Some(engine) = cached
            && commit.events.is_empty()
        {
            return Ok(Prepared::new(commit, Some(engine)));
        }
        return Ok(Prepared::new(commit, None));
    }
    let version = item.version.as_deref();
    let Some(orchestrator) = shared.registry.orchestration(&item.name, version) else {
        let registered: Vec<String> = shared
            .registry
            .orchestration_versions(&item.name)
            .into_iter()
            .map(|v| v.map_or_else(|| "(unversioned)".to_owned(), |v| format!("`{v}`")))
            .collect();
        let message = match (version, registered.is_empty()) {
            (_, true) => format!(
                "orchestration `{}` is not registered on this worker; registered: [{}]",
                item.name,
                shared
                    .registry
                    .orchestration_names()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (Some(v), false) => format!(
                "orchestration `{}` version `{v}` is not registered on this worker (it has versions {}); \
                 keep the code of every version that still has running instances",
                item.name,
                registered.join(", ")
            ),
            (None, false) => format!(
                "orchestration `{}` without a version is not registered on this worker (it has versions {})",
                item.name,
                registered.join(", ")
            ),
        };
        let mut events = marker_events;
        events.extend(new_events);
        let failure = FailureDetails::new(ORCHESTRATION_NOT_REGISTERED, message);
        let trace = ended_outside(
            shared,
            &item,
            cached_span_root(cached.as_ref()),
            &events,
            now,
            RuntimeStatus::Failed,
            &failure,
        )
        .await;
        fail_commit(&mut commit, now, events, failure);
        return Ok(Prepared::traced(commit, None, trace));
    };
    let mut engine = match cached {
        Some(engine) => engine,
        None => {
            let mut engine = fresh_engine(shared, &item, orchestrator);
            if item.history_len > 0 {
                let history = match read_leased_history(shared, &item).await {
                    Ok(history) => history,
                    Err(StoreError::Corrupt(reason)) => {
                        return fail_corrupt(shared, item, commit, None, now, reason).await;
                    }
                    Err(error) => return Err((item, error.into())),
                };
                tracing::Span::current().record("replayed", history.len());
                engine.replay(&history);
            }
            engine
        }
    };
    let mut events = marker_events;
    events.extend(new_events);
    let output = engine.run_turn(now, events);
    Ok(finish_turn(
        shared,
        &item,
        commit,
        engine,
        output,
        Vec::new(),
        now,
    ))
}

/// An engine for the work item's execution, with nothing replayed yet; it records spans
/// when the worker traces.
fn fresh_engine(
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))] shared: &WorkerShared,
    item: &OrchestrationWorkItem,
    orchestrator: crate::registry::OrchestratorBody,
) -> ReplayEngine {
    let engine = ReplayEngine::new(
        item.instance_id.clone(),
        item.execution_id.clone(),
        item.name.clone(),
        orchestrator,
    )
    .with_version(item.version.clone());
    #[cfg(feature = "otel")]
    let engine = engine.traced(shared.telemetry.is_some());
    engine
}

/// Reads the leased instance's history, which must be as long as the work item says
/// (otherwise another worker moved it: the lease was lost).
async fn read_leased_history(
    shared: &WorkerShared,
    item: &OrchestrationWorkItem,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let history = shared
        .store
        .read_history(&item.instance_id)
        .await?
        .ok_or_else(|| StoreError::InstanceNotFound(item.instance_id.clone()))?;
    if history.len() != item.history_len {
        return Err(StoreError::LeaseLost(format!(
            "history moved from {} to {} events",
            item.history_len,
            history.len()
        )));
    }
    Ok(history)
}

/// Rewinds a failed instance (Durable Functions' `RewindAsync`): records `rewind`, replays
/// the execution through the rewound view (`replay::rewind`) and runs the turn that
/// schedules the failed work again; failed sub-orchestrations are sent a rewind of their
/// own. Every other queued message is dropped, as for any finished instance.
async fn prepare_rewind(
    shared: &WorkerShared,
    item: OrchestrationWorkItem,
    mut commit: OrchestrationCommit,
    rewind: HistoryEvent,
    now: DateTime<Utc>,
) -> Result<Prepared, (OrchestrationWorkItem, TurnError)> {
    commit.consumed = all_message_ids(&item);
    drop(
        shared
            .cache
            .take_current(&item.instance_id, &item.execution_id),
    );
    let version = item.version.as_deref();
    let Some(orchestrator) = shared.registry.orchestration(&item.name, version) else {
        tracing::warn!(name = %item.name, "cannot rewind: the orchestration is not registered on this worker; the instance stays Failed");
        return Ok(Prepared::new(commit, None));
    };
    let mut history = match read_leased_history(shared, &item).await {
        Ok(history) => history,
        Err(StoreError::Corrupt(reason)) => {
            return fail_corrupt(shared, item, commit, None, now, reason).await;
        }
        Err(error) => return Err((item, error.into())),
    };
    // A rewind waits for the failed execution's activities still running to finish (their
    // results are dropped with the rest), so none answers the call made again.
    match shared.store.has_activity_work(&item.instance_id).await {
        Ok(false) => {}
        Ok(true) => {
            return Err((
                item,
                TurnError::Wait {
                    retry_after: Duration::from_millis(200),
                    reason: "the rewind waits for the failed execution's activities to finish",
                },
            ));
        }
        Err(error) => return Err((item, error.into())),
    }
    // Recorded as of now, after the check: every earlier attempt's result is older (see
    // `replay::rewind`), every new attempt's younger.
    let rewind = HistoryEvent::new(shared.clock.now().max(now), rewind.kind);
    history.push(rewind.clone());
    let waiting = crate::replay::rewind::waiting(&crate::replay::rewind::view(&history));
    let mut engine = fresh_engine(shared, &item, orchestrator);
    engine.replay(&history);
    let output = engine.run_turn(now, Vec::new());
    let reason = match &rewind.kind {
        EventKind::ExecutionRewound { reason } => reason.clone(),
        _ => None,
    };
    // Timers that fired while the instance was Failed fire again (a duplicate is ignored).
    for (seq, fire_at) in waiting.timers {
        commit.messages.push(OutboundMessage {
            instance_id: item.instance_id.clone(),
            execution_id: Some(item.execution_id.clone()),
            visible_at: fire_at,
            event: HistoryEvent::new(
                fire_at,
                EventKind::TimerFired {
                    timer_id: seq,
                    fire_at,
                },
            ),
        });
    }
    // A failed child is rewound in turn; one that ended meanwhile sends its end again (it
    // was dropped while this instance was Failed); a running one will answer.
    for (seq, child) in waiting.children {
        let to_self = ParentInstance {
            instance_id: item.instance_id.clone(),
            execution_id: item.execution_id.clone(),
            scheduled_id: seq,
        };
        let status = match shared.store.get_status(&child).await {
            Ok(status) => status,
            Err(error) => return Err((item, error.into())),
        };
        match status {
            Some(status) if status.runtime_status == RuntimeStatus::Failed => {
                commit.messages.push(OutboundMessage {
                    instance_id: child,
                    execution_id: None,
                    visible_at: now,
                    event: HistoryEvent::new(
                        now,
                        EventKind::ExecutionRewound {
                            reason: reason.clone(),
                        },
                    ),
                });
            }
            Some(status) if status.runtime_status == RuntimeStatus::Completed => {
                let output = status.output.unwrap_or_else(Payload::null);
                commit
                    .messages
                    .push(parent_message(&to_self, now, Ok(output)));
            }
            Some(status) if status.runtime_status == RuntimeStatus::Terminated => {
                let failure = FailureDetails::new(
                    TERMINATED,
                    format!("sub-orchestration {child} was terminated"),
                );
                commit
                    .messages
                    .push(parent_message(&to_self, now, Err(failure)));
            }
            Some(_) => {}
            None => {
                let failure = FailureDetails::new(
                    crate::error_types::SUB_ORCHESTRATION_NOT_FOUND,
                    format!(
                        "sub-orchestration {child} no longer exists (purged while its parent was Failed)"
                    ),
                );
                commit
                    .messages
                    .push(parent_message(&to_self, now, Err(failure)));
            }
        }
    }
    tracing::info!(instance_id = %item.instance_id, "rewinding a failed instance");
    Ok(finish_turn(
        shared,
        &item,
        commit,
        engine,
        output,
        vec![rewind],
        now,
    ))
}

/// Turns a turn's output into its commit: the events to append (after `prefix`), the
/// activities, timers, messages and children it started, and how the execution stands.
fn finish_turn(
    shared: &WorkerShared,
    item: &OrchestrationWorkItem,
    mut commit: OrchestrationCommit,
    engine: ReplayEngine,
    mut output: crate::replay::TurnOutput,
    prefix: Vec<HistoryEvent>,
    now: DateTime<Utc>,
) -> Prepared {
    let spans = std::mem::take(&mut output.spans);
    let tally = TurnTally::of(shared, &output);
    if item.history_len + prefix.len() + output.events.len() > shared.options.max_history_events {
        let failure = FailureDetails::new(
            HISTORY_TOO_LONG,
            format!(
                "the history of instance {} would grow past {} events; an orchestration that runs \
                 this long should call `ctx.continue_as_new(..)` to restart with a fresh history \
                 (or split work into sub-orchestrations); the limit is `WorkerOptions::max_history_events`",
                item.instance_id, shared.options.max_history_events
            ),
        );
        let applied: Vec<HistoryEvent> = output
            .events
            .into_iter()
            .filter(|e| {
                !matches!(e.kind, EventKind::OrchestratorStarted)
                    && e.event_id == crate::history::NO_EVENT_ID
            })
            .filter(|e| {
                !matches!(
                    e.kind,
                    EventKind::ExecutionCompleted { .. } | EventKind::ContinuedAsNew { .. }
                )
            })
            .collect();
        let applied = prefix.into_iter().chain(applied).collect();
        fail_commit(&mut commit, now, applied, failure.clone());
        if let Some(parent) = engine.parent() {
            commit
                .messages
                .push(parent_message(&parent, now, Err(failure.clone())));
        }
        // The turn's calls are dropped with it; only the execution's end is traced.
        #[cfg(feature = "otel")]
        let trace = engine
            .span_root()
            .map_or(TurnTrace::Nothing, |(root, started)| {
                let started = started.unwrap_or(now);
                TurnTrace::ended(
                    item,
                    root,
                    started,
                    now,
                    RuntimeStatus::Failed,
                    Some(failure),
                )
            });
        #[cfg(not(feature = "otel"))]
        let trace = turn_trace(item, spans);
        return Prepared::traced(commit, None, trace);
    }
    commit.events = prefix;
    commit.events.extend(output.events);
    commit.custom_status = output.custom_status;
    commit.activities = output
        .activities
        .into_iter()
        .map(|a| NewActivity {
            scheduled_id: a.scheduled_id,
            name: a.name.to_owned(),
            input: a.input,
            trace_context: a.trace_context,
        })
        .collect();
    for (seq, fire_at) in output.timers {
        commit.messages.push(OutboundMessage {
            instance_id: item.instance_id.clone(),
            execution_id: Some(item.execution_id.clone()),
            visible_at: fire_at,
            event: HistoryEvent::new(
                fire_at,
                EventKind::TimerFired {
                    timer_id: seq,
                    fire_at,
                },
            ),
        });
    }
    commit.messages.extend(output.entity_messages);
    for (instance_id, name, input) in output.sent_events {
        commit.messages.push(OutboundMessage {
            instance_id,
            execution_id: None,
            visible_at: now,
            event: HistoryEvent::new(now, EventKind::EventRaised { name, input }),
        });
    }
    for child in output.sub_orchestrations {
        let execution_id = ExecutionId::generate();
        let parent = ParentInstance {
            instance_id: item.instance_id.clone(),
            execution_id: item.execution_id.clone(),
            scheduled_id: child.scheduled_id,
        };
        commit.new_instances.push(NewInstance {
            instance_id: child.instance_id,
            execution_id: execution_id.clone(),
            name: child.name.to_owned(),
            version: child.version.map(str::to_owned),
            input: child.input.clone(),
            created_at: now,
            started: HistoryEvent::new(
                now,
                EventKind::ExecutionStarted {
                    name: child.name.to_owned(),
                    version: child.version.map(str::to_owned),
                    execution_id,
                    input: child.input,
                    parent: Some(parent),
                    scheduled_start: None,
                    trace_context: child.trace_context,
                },
            ),
            parent_instance_id: Some(item.instance_id.clone()),
        });
    }
    match output.outcome {
        Some(Outcome::Completed(result)) => {
            commit.status = RuntimeStatus::Completed;
            if let Some(parent) = engine.parent() {
                commit
                    .messages
                    .push(parent_message(&parent, now, Ok(result.clone())));
            }
            commit.output = Some(result);
        }
        Some(Outcome::Failed(failure)) => {
            commit.status = RuntimeStatus::Failed;
            if let Some(parent) = engine.parent() {
                commit
                    .messages
                    .push(parent_message(&parent, now, Err(failure.clone())));
            }
            commit.failure = Some(failure);
        }
        Some(Outcome::ContinuedAsNew {
            input, carryover, ..
        }) => {
            let execution_id = ExecutionId::generate();
            commit.status = RuntimeStatus::ContinuedAsNew;
            commit.continue_as_new = Some(NewExecution {
                execution_id: execution_id.clone(),
                input: input.clone(),
                started: HistoryEvent::new(
                    now,
                    EventKind::ExecutionStarted {
                        name: item.name.clone(),
                        version: item.version.clone(),
                        execution_id,
                        input,
                        parent: engine.parent(),
                        scheduled_start: None,
                        trace_context: next_generation_context(&engine),
                    },
                ),
                carryover: carryover
                    .into_iter()
                    .map(|(name, input)| {
                        HistoryEvent::new(now, EventKind::EventRaised { name, input })
                    })
                    .collect(),
            });
            let mut prepared = Prepared::traced(commit, None, turn_trace(item, spans));
            prepared.tally = tally;
            return prepared;
        }
        None => commit.status = RuntimeStatus::Running,
    }
    let mut prepared = Prepared::traced(commit, Some(engine), turn_trace(item, spans));
    prepared.tally = tally;
    prepared
}

/// The trace context the next generation of a continue-as-new starts under: this one's
/// starter, so every generation is in the caller's trace (Durable Functions carries its
/// `ParentTraceContext` the same way); this execution's own span when nothing started it
/// traced. `None` when the worker does not trace.
fn next_generation_context(
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))] engine: &ReplayEngine,
) -> Option<crate::TraceContext> {
    #[cfg(feature = "otel")]
    {
        engine.span_root().map(|(root, _)| root.starter_context())
    }
    #[cfg(not(feature = "otel"))]
    {
        None
    }
}
