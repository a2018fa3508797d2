//! The worker: orchestration and activity dispatchers on tokio, with graceful shutdown.
//!
//! Error policy: a dispatcher never stops on an error. Store errors are logged and retried
//! after a short back-off; user code that fails or panics becomes a failed activity or a
//! failed orchestration, recorded in history.

mod activity_dispatcher;
mod cache;
mod orchestration;
mod route;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::registry::Registry;
use crate::setters::setters;
use crate::store::Store;
use crate::store::{LockToken, OrchestrationWorkItem};

pub(crate) use cache::InstanceCache;

/// Worker settings: start from [`WorkerOptions::default`] and chain the setters (one per
/// field, named as it), then pass them to
/// [`RuntimeBuilder::options`](crate::RuntimeBuilder::options); the builder also has
/// setters for the common ones.
///
/// ```
/// use std::time::Duration;
/// use durable_runtime::WorkerOptions;
///
/// let options = WorkerOptions::default()
///     .max_concurrent_activities(8)
///     .poll_interval(Duration::from_millis(200));
/// assert_eq!(options.max_concurrent_activities, 8);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// Activity functions run at once by this worker (default: 10 per CPU core, as Durable
    /// Functions' `maxConcurrentActivityFunctions`). A finished activity frees its slot
    /// at once; its result then waits for its commit without holding one.
    pub max_concurrent_activities: usize,
    /// Orchestration work items fetched and committed per batch (default 256).
    pub orchestration_batch_size: usize,
    /// How long an orchestration work item's lease lasts (default 30 s); a crashed
    /// worker's instances are picked up this long after it died.
    pub orchestration_lease: Duration,
    /// How long an activity lease lasts before renewal (default 30 s); running activities
    /// are renewed every third of it, so only a dead worker's activities move.
    pub activity_lease: Duration,
    /// Instances kept live in memory between turns (default 5,000; least recently used
    /// evicted first). 0 replays every turn.
    pub cache_capacity: usize,
    /// The longest wait for a durable timer that keeps an instance in the cache (default
    /// 30 s, the idle timeout of Durable Functions' extended sessions,
    /// `extendedSessionIdleTimeoutInSeconds`). An instance whose turn leaves it waiting only
    /// for durable timers (and external events) that fire later than this is dropped from
    /// the cache when the turn commits: a backlog parked for hours or days (approvals with a
    /// 72-hour timeout, long monitors) holds no replay engines in memory, and each such
    /// instance is rebuilt from its history when its timer fires or an event arrives. An
    /// instance waiting for an activity, a sub-orchestration or an entity, or for events
    /// alone, stays cached (least recently used evicted first). This looks at the timers
    /// only, not at how often the instance is woken: one that receives an event every
    /// second while it waits on an hour-long timer replays its history at each event, so
    /// raise this for such instances when their histories are long.
    pub max_cached_wait: Duration,
    /// Replay the whole history on every turn even on a cache hit (default false); turns
    /// a code change that breaks determinism into an immediate failure in tests.
    pub always_replay: bool,
    /// The longest a dispatcher sleeps without a wake-up before looking for work that
    /// another process made visible or whose lease expired (default 1 s).
    pub poll_interval: Duration,
    /// How long shutdown waits for running activities before releasing them (default 30 s).
    pub shutdown_timeout: Duration,
    /// Run the activities a turn schedules in this worker at once (default true): the turn's
    /// commit creates them leased to this worker, so no fetch round trip is needed. They
    /// are durable before they run; if this worker dies, their leases expire and another
    /// worker runs them. Set false to have every activity go through the shared queue
    /// (spreads activities over workers in a multi-worker deployment).
    pub dispatch_activities_in_process: bool,
    /// The most history events one execution may have (default 100,000, Durable Functions'
    /// `MaxOrchestrationActions`); a turn that would pass it fails the instance with an
    /// error that points to continue-as-new, instead of slowing down without bound.
    pub max_history_events: usize,
    /// The most entity operations one entity turn runs (default 5,000, Durable Functions'
    /// `maxEntityOperationBatchSize` outside the Consumption plan); the rest wait for the
    /// next turn. Larger batches mean fewer commits; smaller ones, shorter turns.
    pub entity_batch_size: usize,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            max_concurrent_activities: 10 * cores,
            orchestration_batch_size: 256,
            orchestration_lease: Duration::from_secs(30),
            activity_lease: Duration::from_secs(30),
            cache_capacity: 5_000,
            max_cached_wait: Duration::from_secs(30),
            always_replay: false,
            poll_interval: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(30),
            dispatch_activities_in_process: true,
            max_history_events: 100_000,
            entity_batch_size: 5_000,
        }
    }
}

setters! {
    impl WorkerOptions {
        /// Sets how many activity functions this worker runs at once (a count; default 10
        /// per CPU core, Durable Functions' `maxConcurrentActivityFunctions`).
        max_concurrent_activities: usize;
        /// Sets how many orchestration work items are fetched and committed per batch (a
        /// count; default 256).
        orchestration_batch_size: usize;
        /// Sets how long an orchestration work item's lease lasts (default 30 s): a crashed
        /// worker's instances are picked up this long after it died.
        orchestration_lease: Duration;
        /// Sets how long an activity lease lasts before renewal (default 30 s; renewed every
        /// third of it).
        activity_lease: Duration;
        /// Sets how many instances are kept live in memory between turns (a count; default
        /// 5,000; 0 replays every turn).
        cache_capacity: usize;
        /// Sets the longest wait for a durable timer that keeps an instance in the cache
        /// (default 30 s, as Durable Functions' `extendedSessionIdleTimeoutInSeconds`): an
        /// instance that waits only for timers firing later is rebuilt by replay when it
        /// wakes instead of held in memory.
        max_cached_wait: Duration;
        /// Sets whether every turn replays the whole history even on a cache hit (default
        /// false; true turns a determinism break into an immediate failure in tests).
        always_replay: bool;
        /// Sets the longest a dispatcher sleeps without a wake-up before polling the store
        /// (default 1 s).
        poll_interval: Duration;
        /// Sets how long shutdown waits for running activities before releasing them
        /// (default 30 s).
        shutdown_timeout: Duration;
        /// Sets whether the activities a turn schedules run in this worker at once, leased by
        /// the turn's commit (default true; false sends every activity through the shared
        /// queue).
        dispatch_activities_in_process: bool;
        /// Sets the most history events one execution may have (a count; default 100,000,
        /// Durable Functions' `MaxOrchestrationActions`).
        max_history_events: usize;
        /// Sets the most entity operations one entity turn runs (a count; default 5,000,
        /// Durable Functions' `maxEntityOperationBatchSize`).
        entity_batch_size: usize;
    }
}

/// What the dispatchers share.
#[derive(Debug)]
pub(crate) struct WorkerShared {
    pub(crate) store: Arc<dyn Store>,
    /// The store's clock: turn timestamps, activity results.
    pub(crate) clock: crate::clock::Clock,
    pub(crate) registry: Registry,
    pub(crate) options: WorkerOptions,
    pub(crate) cache: InstanceCache,
    pub(crate) activity_slots: Arc<Semaphore>,
    /// Activity work items running now (or queued for a slot): id → lease token.
    pub(crate) running_activities: Mutex<HashMap<i64, LockToken>>,
    /// Set when shutdown starts: queued in-process activities release their lease instead.
    pub(crate) shutting_down: AtomicBool,
    /// Work for the orchestration dispatcher that needs no fetch: turns leased by activity
    /// completions, and activity results to apply to cached instances directly.
    pub(crate) ready_turns: mpsc::UnboundedSender<Ready>,
    /// Activity results waiting to be committed together.
    pub(crate) completions: activity_dispatcher::CompletionQueue,
    /// Instances whose turns failed in a row, and how often: their retries back off.
    pub(crate) retries: Retries,
    /// Where spans go, when the runtime traces (feature `otel`).
    #[cfg(feature = "otel")]
    pub(crate) telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    /// Where measurements go, when the runtime has metrics (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<crate::metrics::Metrics>,
}

impl WorkerShared {
    /// The metrics to record into, if any; always `None` without feature `metrics`, so
    /// every measurement (and the clock read it needs) compiles away.
    #[inline]
    pub(crate) fn metrics(&self) -> Option<&Recorder> {
        #[cfg(feature = "metrics")]
        {
            self.metrics.as_ref()
        }
        #[cfg(not(feature = "metrics"))]
        {
            None
        }
    }
}

/// What watches the worker: a tracer (feature `otel`) and metrics (feature `metrics`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Observers {
    #[cfg(feature = "otel")]
    pub(crate) telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<crate::metrics::Metrics>,
}

/// A work item kind, as the metrics' `kind` label says it.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum WorkKind {
    Orchestration,
    Activity,
}

/// What a retry policy called again, as the retries metric's `kind` label says it.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) enum RetryKind {
    Activity,
    SubOrchestration,
}

/// What the worker records measurements into: [`crate::metrics::Metrics`].
#[cfg(feature = "metrics")]
pub(crate) type Recorder = crate::metrics::Metrics;

/// Without feature `metrics` there is nothing to record into: this type has no values, so
/// `WorkerShared::metrics` is always `None` and its calls are dead code.
#[cfg(not(feature = "metrics"))]
#[derive(Debug)]
pub(crate) enum Recorder {}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::unused_self, dead_code)]
impl Recorder {
    pub(crate) fn fetched(&self, _: WorkKind, _: usize) {
        match *self {}
    }
    pub(crate) fn committed(&self, _: WorkKind, _: usize) {
        match *self {}
    }
    pub(crate) fn commit(&self, _: WorkKind, _: usize, _: Duration) {
        match *self {}
    }
    pub(crate) fn turn(&self, _: Duration) {
        match *self {}
    }
    pub(crate) fn activity(&self, _: &str, _: u32, _: Duration, _: bool) {
        match *self {}
    }
    pub(crate) fn retry(&self, _: RetryKind) {
        match *self {}
    }
    pub(crate) fn timers_fired(&self, _: usize) {
        match *self {}
    }
    pub(crate) fn cache_hit(&self) {
        match *self {}
    }
    pub(crate) fn cache_miss(&self) {
        match *self {}
    }
    pub(crate) fn cache_eviction(&self) {
        match *self {}
    }
    pub(crate) fn cache_size(&self, _: usize) {
        match *self {}
    }
}

/// Consecutive turn failures per instance (a store error reading its state, a scheduler
/// state that does not decode): each failure releases the instance for a retry after a
/// delay that doubles, from [`Retries::FIRST`] up to [`Retries::MAX`], and is logged once,
/// so one broken instance neither spins nor floods the log while the others run.
#[derive(Debug, Default)]
pub(crate) struct Retries {
    failures: Mutex<HashMap<crate::ids::InstanceId, u32>>,
    /// Whether `failures` may hold anything: every committed turn asks, so the common case
    /// (nothing failing) takes no lock.
    any: AtomicBool,
}

impl Retries {
    /// The delay after the first failure.
    pub(crate) const FIRST: Duration = Duration::from_millis(100);
    /// The longest delay.
    pub(crate) const MAX: Duration = Duration::from_secs(300);

    /// Records a failure of `id`'s turn: which consecutive failure it is, and how long to
    /// wait before the next attempt.
    pub(crate) fn failed(&self, id: &crate::ids::InstanceId) -> (u32, Duration) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        self.any.store(true, Ordering::SeqCst);
        let count = failures.entry(id.clone()).or_insert(0);
        *count = count.saturating_add(1);
        let delay = Self::FIRST
            .saturating_mul(1u32 << (*count - 1).min(16))
            .min(Self::MAX);
        (*count, delay)
    }

    /// Forgets `id`'s failures once a turn of it committed.
    pub(crate) fn succeeded(&self, id: &crate::ids::InstanceId) {
        if !self.any.load(Ordering::SeqCst) {
            return;
        }
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.remove(id);
        if failures.is_empty() {
            self.any.store(false, Ordering::SeqCst);
        }
    }
}

/// Releases the lease of `item` without committing, so its messages are fetched again
/// after `retry_after`; errors are ignored (the lease then expires). A work item the worker
/// made itself holds no lease and needs no release.
pub(crate) async fn release(
    store: &dyn Store,
    item: &OrchestrationWorkItem,
    retry_after: Duration,
) {
    if let Some(lock_token) = &item.lock_token {
        let _ = store
            .abandon_orchestration_work_item(&item.instance_id, lock_token, retry_after)
            .await;
    }
}

/// Work handed to the orchestration dispatcher without a trip through the store.
#[derive(Debug)]
pub(crate) enum Ready {
    /// A work item an activity completion leased in the store.
    Turn(OrchestrationWorkItem),
    /// An activity result of this worker for an instance in the cache: the dispatcher runs
    /// the instance's next turn on it and commits result and turn together; if it cannot
    /// (the instance moved on, or another turn holds it), the result is completed the
    /// ordinary way, as a message.
    Completion(activity_dispatcher::PendingCompletion),
}

/// A running worker: its dispatcher tasks and their shutdown switch.
#[derive(Debug)]
pub(crate) struct Worker {
    shared: Arc<WorkerShared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// How long a dispatcher waits after a store error before trying again.
const ERROR_BACKOFF: Duration = Duration::from_millis(200);

impl Worker {
    pub(crate) fn start(
        store: Arc<dyn Store>,
        registry: Registry,
        options: WorkerOptions,
        #[cfg_attr(
            not(any(feature = "otel", feature = "metrics")),
            allow(unused_variables)
        )]
        observers: Observers,
    ) -> Self {
        let (ready_turns, ready) = mpsc::unbounded_channel();
        let shared = Arc::new(WorkerShared {
            #[cfg(feature = "metrics")]
            cache: InstanceCache::new(options.cache_capacity, observers.metrics.clone()),
            #[cfg(not(feature = "metrics"))]
            cache: InstanceCache::new(options.cache_capacity, None),
            activity_slots: Arc::new(Semaphore::new(options.max_concurrent_activities.max(1))),
            running_activities: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            ready_turns,
            completions: activity_dispatcher::CompletionQueue::default(),
            retries: Retries::default(),
            #[cfg(feature = "otel")]
            telemetry: observers.telemetry,
            #[cfg(feature = "metrics")]
            metrics: observers.metrics,
            clock: store.clock(),
            store,
            registry,
            options,
        });
        let (shutdown, receiver) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(orchestration::run(shared.clone(), receiver.clone(), ready)),
            tokio::spawn(activity_dispatcher::run(shared.clone(), receiver.clone())),
            tokio::spawn(activity_dispatcher::renew_leases(shared.clone(), receiver)),
        ];
        Self {
            shared,
            shutdown,
            tasks,
        }
    }

    /// How long [`Self::shutdown`] waits for running work ([`WorkerOptions::shutdown_timeout`]).
    #[cfg(feature = "otel")]
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.shared.options.shutdown_timeout
    }

    /// Stops fetching, waits for running activities and for their results to be committed
    /// (up to the shutdown timeout), releases the leases of those still running, waits
    /// for the dispatchers to stop, and releases what the store leased ahead for them
    /// ([`Store::release_prefetched`](crate::store::Store::release_prefetched)).
    pub(crate) async fn shutdown(self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        let slots = self.shared.options.max_concurrent_activities.max(1) as u32;
        let shared = &self.shared;
        // Running activity functions first, then the results still waiting for a commit.
        let drained = tokio::time::timeout(self.shared.options.shutdown_timeout, async {
            let permits = shared.activity_slots.acquire_many(slots).await;
            // Activities leased by a commit that ended after shutdown began wait for a slot
            // that shutdown now holds: closing the slots makes them release their leases
            // (`dispatch_leased`) instead of waiting out the timeout.
            shared.activity_slots.close();
            while !activity_dispatcher::running(shared).is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            permits
        })
        .await;
        if drained.is_err() {
            self.shared.activity_slots.close();
            let unfinished = activity_dispatcher::running(&self.shared);
            tracing::warn!(
                count = unfinished.len(),
                "shutdown timeout: releasing the leases of running activities"
            );
            if let Err(error) = self.shared.store.abandon_activities(unfinished).await {
                tracing::error!(%error, "could not release activity leases at shutdown");
            }
        }
        for task in self.tasks {
            let _ = task.await;
        }
        // What the store leased ahead for this worker and no fetch took goes back to the
        // task hub at once, for whichever worker runs next. The dispatcher did so when it
        // stopped; this covers one that ended otherwise (a second release finds nothing).
        self.shared.store.release_prefetched().await;
    }
}
