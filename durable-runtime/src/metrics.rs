//! Prometheus / OpenMetrics metrics (feature `metrics`): what the worker does, and how the
//! task hub stands.
//!
//! Make a [`Metrics`], give it to the runtime with
//! [`RuntimeBuilder::metrics`](crate::RuntimeBuilder::metrics), and either serve it (the HTTP
//! API answers `GET /metrics` with feature `http`, from the runtime's router) or read it
//! yourself: [`Metrics::encode`] gives the OpenMetrics text, and [`Metrics::register`] adds
//! the same metrics to a `prometheus_client` registry of your own (call
//! [`Metrics::refresh`] before encoding that one, so the task hub's gauges are current).
//!
//! | Metric | Type | Labels | What |
//! |---|---|---|---|
//! | `durable_work_items_fetched_total` | counter | `kind` | work items a fetch from the store returned (`orchestration`, `activity`) |
//! | `durable_work_items_committed_total` | counter | `kind` | orchestration turns and activity results committed |
//! | `durable_commit_duration_seconds` | histogram | `kind` | one store commit of a batch of turns, or of activity results |
//! | `durable_commit_batch_size` | histogram | `kind` | turns or results in one commit |
//! | `durable_turn_duration_seconds` | histogram | | one orchestration or entity turn: load (when not cached), replay and run |
//! | `durable_activity_duration_seconds` | histogram | `name` | one run of an activity function |
//! | `durable_activity_failures_total` | counter | `name` | runs that failed (an error, a panic, an unregistered name) |
//! | `durable_activity_redeliveries_total` | counter | `name` | runs of a work item delivered again (its worker died or its lease expired) |
//! | `durable_retries_total` | counter | `kind` | calls made again by a retry policy (`activity`, `sub_orchestration`) |
//! | `durable_timers_fired_total` | counter | | durable timers that fired into a turn |
//! | `durable_instance_cache_hits_total`, `_misses_total`, `_evictions_total` | counter | | turns that found their instance live in the cache, that had to replay its history, and instances pushed out of the full cache |
//! | `durable_instance_cache_size` | gauge | | instances live in the cache |
//! | `durable_instances`, `durable_entities` | gauge | `status` | instances and entities by runtime status |
//! | `durable_backlog_due_messages` | gauge | | orchestration messages visible now: work ready to run |
//! | `durable_timers_pending` | gauge | | messages not visible yet: durable timers waiting to fire |
//! | `durable_backlog_queued_activities`, `durable_backlog_running_activities` | gauge | | activity work items waiting for a worker, and leased by one |
//! | `durable_span_records_dropped_total` | counter | | with feature `otel` and a tracer provider: records of spans (a committed turn's, an activity run's) dropped because the runtime's span queue was full (16,384 waiting: the provider's exporter cannot keep up); their spans are lost |
//!
//! The gauges of the task hub (instances, entities, backlog) come from one
//! [`Store::task_hub_stats`] call per scrape: counts by
//! status that the stores keep as rows change, and the queued work (messages, activities),
//! so a scrape never reads the instances (ARCHITECTURE.md, "Access paths"). The other
//! metrics are this worker's own, since it started.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use prometheus_client;

use crate::error::StoreError;
use crate::status::RuntimeStatus;
use crate::store::Store;
use crate::worker::{RetryKind, WorkKind};

/// The content type of [`Metrics::encode`]'s text (OpenMetrics 1.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabel {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from 100 µs to about 52 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 20))
}

/// Counts, 1 to 1,024.
fn sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

impl WorkKind {
    fn label(self) -> KindLabel {
        KindLabel {
            kind: match self {
                Self::Orchestration => "orchestration",
                Self::Activity => "activity",
            },
        }
    }
}

struct Inner {
    fetched: Family<KindLabel, Counter>,
    committed: Family<KindLabel, Counter>,
    commit_seconds: Histograms<KindLabel>,
    commit_batch: Histograms<KindLabel>,
    turn_seconds: Histogram,
    activity_seconds: Histograms<NameLabel>,
    activity_failures: Family<NameLabel, Counter>,
    activity_redeliveries: Family<NameLabel, Counter>,
    retries: Family<KindLabel, Counter>,
    timers_fired: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_evictions: Counter,
    cache_size: Gauge,
    instances: Family<StatusLabel, Gauge>,
    entities: Family<StatusLabel, Gauge>,
    due_messages: Gauge,
    timers_pending: Gauge,
    queued_activities: Gauge,
    running_activities: Gauge,
    span_records_dropped: Counter,
    /// The registry `encode` reads: these metrics under the `durable` prefix.
    registry: OnceLock<Registry>,
    /// The store the task hub's gauges are read from (set when the runtime starts).
    store: OnceLock<Arc<dyn Store>>,
}

/// The runtime's metrics; clones share them. See the [module docs](self).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("started", &self.inner.store.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Why [`Metrics::refresh`] or [`Metrics::encode`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The metrics were not given to a runtime that started, so there is no task hub to
    /// read.
    #[error("these metrics belong to no started runtime; pass them to `RuntimeBuilder::metrics`")]
    NotStarted,
    /// Reading the task hub's statistics failed.
    #[error("could not read the task hub statistics: {0}")]
    Store(#[from] StoreError),
    /// Writing the text failed (only a broken formatter does that).
    #[error("could not encode the metrics")]
    Encode(#[from] std::fmt::Error),
}

impl Metrics {
    /// New metrics, all zero.
    pub fn new() -> Self {
        let inner = Inner {
            fetched: Family::default(),
            committed: Family::default(),
            commit_seconds: Family::new_with_constructor(seconds),
            commit_batch: Family::new_with_constructor(sizes),
            turn_seconds: seconds(),
            activity_seconds: Family::new_with_constructor(seconds),
            activity_failures: Family::default(),
            activity_redeliveries: Family::default(),
            retries: Family::default(),
            timers_fired: Counter::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_evictions: Counter::default(),
            cache_size: Gauge::default(),
            instances: Family::default(),
            entities: Family::default(),
            due_messages: Gauge::default(),
            timers_pending: Gauge::default(),
            queued_activities: Gauge::default(),
            running_activities: Gauge::default(),
            span_records_dropped: Counter::default(),
            registry: OnceLock::new(),
            store: OnceLock::new(),
        };
        let metrics = Self {
            inner: Arc::new(inner),
        };
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let _ = metrics.inner.registry.set(registry);
        metrics
    }

    /// Adds these metrics to `registry` under the prefix `durable` (`durable_…`), to serve
    /// them with an application's own metrics. The values are shared: what the runtime
    /// records shows in every registry they were added to. Call [`refresh`](Self::refresh)
    /// before encoding it, so the task hub's gauges are current.
    pub fn register(&self, registry: &mut Registry) {
        let m = &*self.inner;
        let r = registry.sub_registry_with_prefix("durable");
        r.register(
            "work_items_fetched",
            "Work items a fetch from the store returned",
            m.fetched.clone(),
        );
        r.register(
            "work_items_committed",
            "Orchestration turns and activity results committed",
            m.committed.clone(),
        );
        r.register_with_unit(
            "commit_duration",
            "One store commit of a batch of turns or of activity results",
            prometheus_client::registry::Unit::Seconds,
            m.commit_seconds.clone(),
        );
        r.register(
            "commit_batch_size",
            "Turns or activity results in one commit",
            m.commit_batch.clone(),
        );
        r.register_with_unit(
            "turn_duration",
            "One orchestration or entity turn: load, replay and run",
            prometheus_client::registry::Unit::Seconds,
            m.turn_seconds.clone(),
        );
        r.register_with_unit(
            "activity_duration",
            "One run of an activity function",
            prometheus_client::registry::Unit::Seconds,
            m.activity_seconds.clone(),
        );
        r.register(
            "activity_failures",
            "Activity runs that failed",
            m.activity_failures.clone(),
        );
        r.register(
            "activity_redeliveries",
            "Activity runs of a work item delivered again after its worker died or its lease expired",
            m.activity_redeliveries.clone(),
        );
        r.register(
            "retries",
            "Calls made again by a retry policy",
            m.retries.clone(),
        );
        r.register(
            "timers_fired",
            "Durable timers that fired into a turn",
            m.timers_fired.clone(),
        );
        r.register(
            "instance_cache_hits",
            "Turns that found their instance live in the cache",
            m.cache_hits.clone(),
        );
        r.register(
            "instance_cache_misses",
            "Turns that had to load and replay their instance's history",
            m.cache_misses.clone(),
        );
        r.register(
            "instance_cache_evictions",
            "Instances pushed out of the full instance cache",
            m.cache_evictions.clone(),
        );
        r.register(
            "instance_cache_size",
            "Instances live in the instance cache",
            m.cache_size.clone(),
        );
        r.register(
            "instances",
            "Orchestration instances by runtime status",
            m.instances.clone(),
        );
        r.register("entities", "Entities by runtime status", m.entities.clone());
        r.register(
            "backlog_due_messages",
            "Orchestration messages visible now: work ready to run",
            m.due_messages.clone(),
        );
        r.register(
            "timers_pending",
            "Messages not visible yet: durable timers waiting to fire",
            m.timers_pending.clone(),
        );
        r.register(
            "backlog_queued_activities",
            "Activity work items waiting for a worker",
            m.queued_activities.clone(),
        );
        r.register(
            "backlog_running_activities",
            "Activity work items leased by a worker",
            m.running_activities.clone(),
        );
        r.register(
            "span_records_dropped",
            "Records of spans (a committed turn's, an activity run's) dropped because the span queue was full; their spans are lost",
            m.span_records_dropped.clone(),
        );
    }

    /// The counter of span records the runtime's span queue dropped (it shares the value).
    #[cfg(feature = "otel")]
    pub(crate) fn span_records_dropped(&self) -> Counter {
        self.inner.span_records_dropped.clone()
    }

    /// Reads the task hub's instance counts and backlog from the store into the gauges:
    /// one [`Store::task_hub_stats`] call, answered from kept counts and index ranges.
    ///
    /// # Errors
    /// [`MetricsError::NotStarted`] before a runtime started with these metrics;
    /// [`MetricsError::Store`] when the store fails.
    pub async fn refresh(&self) -> Result<(), MetricsError> {
        let store = self.inner.store.get().ok_or(MetricsError::NotStarted)?;
        let stats = store.task_hub_stats().await?;
        let m = &*self.inner;
        for status in RuntimeStatus::ALL {
            let label = StatusLabel {
                status: status.as_str(),
            };
            m.instances
                .get_or_create(&label)
                .set(gauge_value(stats.instances.get(status)));
            m.entities
                .get_or_create(&label)
                .set(gauge_value(stats.entities.get(status)));
        }
        m.due_messages.set(gauge_value(stats.backlog.due_messages));
        m.timers_pending
            .set(gauge_value(stats.backlog.future_messages));
        m.queued_activities
            .set(gauge_value(stats.backlog.queued_activities));
        m.running_activities
            .set(gauge_value(stats.backlog.running_activities));
        Ok(())
    }

    /// [`Refreshes`](Self::refresh) the task hub's gauges and returns every metric as
    /// OpenMetrics text ([`CONTENT_TYPE`]), ending with `# EOF`.
    ///
    /// # Errors
    /// As [`refresh`](Self::refresh).
    pub async fn encode(&self) -> Result<String, MetricsError> {
        self.refresh().await?;
        let mut text = String::new();
        if let Some(registry) = self.inner.registry.get() {
            prometheus_client::encoding::text::encode(&mut text, registry)?;
        }
        Ok(text)
    }

    /// Binds the metrics to the started runtime's store (the first runtime keeps them).
    pub(crate) fn bind(&self, store: Arc<dyn Store>) {
        let _ = self.inner.store.set(store);
    }

    pub(crate) fn fetched(&self, kind: WorkKind, count: usize) {
        if count > 0 {
            self.inner
                .fetched
                .get_or_create(&kind.label())
                .inc_by(count as u64);
        }
    }

    pub(crate) fn committed(&self, kind: WorkKind, count: usize) {
        if count > 0 {
            self.inner
                .committed
                .get_or_create(&kind.label())
                .inc_by(count as u64);
        }
    }

    /// One commit of `batch` turns or results that took `took`.
    pub(crate) fn commit(&self, kind: WorkKind, batch: usize, took: Duration) {
        let label = kind.label();
        self.inner
            .commit_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        self.inner
            .commit_batch
            .get_or_create(&label)
            .observe(batch as f64);
    }

    pub(crate) fn turn(&self, took: Duration) {
        self.inner.turn_seconds.observe(took.as_secs_f64());
    }

    /// One run of activity `name` (delivery `attempt`) that took `took`.
    pub(crate) fn activity(&self, name: &str, attempt: u32, took: Duration, failed: bool) {
        let label = NameLabel {
            name: name.to_owned(),
        };
        self.inner
            .activity_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        if failed {
            self.inner.activity_failures.get_or_create(&label).inc();
        }
        if attempt > 1 {
            self.inner.activity_redeliveries.get_or_create(&label).inc();
        }
    }

    pub(crate) fn retry(&self, kind: RetryKind) {
        let kind = match kind {
            RetryKind::Activity => "activity",
            RetryKind::SubOrchestration => "sub_orchestration",
        };
        self.inner.retries.get_or_create(&KindLabel { kind }).inc();
    }

    pub(crate) fn timers_fired(&self, count: usize) {
        if count > 0 {
            self.inner.timers_fired.inc_by(count as u64);
        }
    }

    pub(crate) fn cache_hit(&self) {
        self.inner.cache_hits.inc();
    }

    pub(crate) fn cache_miss(&self) {
        self.inner.cache_misses.inc();
    }

    pub(crate) fn cache_eviction(&self) {
        self.inner.cache_evictions.inc();
    }

    pub(crate) fn cache_size(&self, size: usize) {
        self.inner.cache_size.set(gauge_value(size as u64));
    }
}

fn gauge_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}
