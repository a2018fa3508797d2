//! [`Runtime`] and [`RuntimeBuilder`]: a store, a registry and a worker, started together.

#[cfg(feature = "sqlite")]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::DurableClient;
use crate::error::RuntimeError;
use crate::registry::Registry;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::worker::{Worker, WorkerOptions};

/// A running task hub worker plus a client for it.
///
/// ```standalone_crate
/// # use durable_runtime::prelude::*;
/// # #[activity] async fn noop() -> Result<(), ActivityError> { Ok(()) }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = Runtime::builder().in_memory().start().await?;
/// let client = runtime.client();
/// # let _ = client;
/// runtime.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Runtime {
    client: DurableClient,
    worker: Option<Worker>,
    registry: Option<Registry>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::Metrics>,
}

impl Runtime {
    /// Starts configuring a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A client of this runtime's store.
    pub fn client(&self) -> DurableClient {
        self.client.clone()
    }

    /// The functions this runtime knows: its worker's registry, or (for a client-only
    /// runtime) every function linked in through the macros.
    pub fn registry(&self) -> Registry {
        self.registry
            .clone()
            .or_else(|| Registry::from_inventory().ok())
            .unwrap_or_default()
    }

    /// The metrics this runtime records into (feature `metrics`), when it was given some
    /// with [`RuntimeBuilder::metrics`].
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.as_ref()
    }

    /// Builds the HTTP management API's router over this runtime, to mount in an existing
    /// axum app (feature `http`); see [`crate::http`]. With feature `metrics` it serves
    /// `GET /metrics` from `options.metrics`, or else from the runtime's own.
    #[cfg(feature = "http")]
    pub fn http_router(&self, options: &crate::http::HttpOptions) -> axum::Router {
        #[cfg(feature = "metrics")]
        if options.metrics.is_none() && self.metrics.is_some() {
            let options = crate::http::HttpOptions {
                metrics: self.metrics.clone(),
                ..options.clone()
            };
            return crate::http::router(self.client(), self.registry(), &options);
        }
        crate::http::router(self.client(), self.registry(), options)
    }

    /// Serves the HTTP management API (feature `http`), on `127.0.0.1:7071` by default.
    ///
    /// # Errors
    /// The I/O error when the address cannot be bound.
    #[cfg(feature = "http")]
    pub async fn serve_http(
        &self,
        options: crate::http::HttpOptions,
    ) -> std::io::Result<crate::http::HttpServer> {
        crate::http::HttpServer::start(self.http_router(&options), &options).await
    }

    /// Stops fetching work, lets running activities finish (up to
    /// [`WorkerOptions::shutdown_timeout`]), releases the leases of any still running so
    /// another worker takes them at once, and returns when the dispatchers have stopped.
    /// Committed progress is never lost, whether or not this is called.
    ///
    /// With feature `otel` and a [tracer provider](RuntimeBuilder::tracer_provider), it then
    /// waits (up to `shutdown_timeout` again) until the spans recorded so far were built
    /// and handed to the provider: spans are built on the runtime's span thread, so shut
    /// the provider down after this returns, for its processor to export them. An activity
    /// still running when the timeout released its lease records its span, if it ends,
    /// after that.
    pub async fn shutdown(mut self) {
        #[cfg(feature = "otel")]
        let timeout = self.worker.as_ref().map_or(
            WorkerOptions::default().shutdown_timeout,
            Worker::shutdown_timeout,
        );
        if let Some(worker) = self.worker.take() {
            worker.shutdown().await;
        }
        // A client-only runtime's spans (starts, signals, raises) too.
        #[cfg(feature = "otel")]
        if let Some(telemetry) = &self.client.telemetry {
            telemetry.flush(timeout).await;
        }
    }
}

enum StoreChoice {
    None,
    Memory,
    #[cfg(feature = "sqlite")]
    Sqlite(PathBuf, crate::store::sqlite::SqliteOptions),
    #[cfg(feature = "postgres")]
    Postgres(String, crate::store::postgres::PostgresOptions),
    Custom(Arc<dyn Store>),
}

/// Configures and starts a [`Runtime`]; see [`Runtime::builder`].
pub struct RuntimeBuilder {
    store: StoreChoice,
    registry: Option<Registry>,
    options: WorkerOptions,
    worker: bool,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::metrics::Metrics>,
    /// The tracer, or why the provider given cannot trace (reported by `start`).
    #[cfg(feature = "otel")]
    telemetry: Result<Option<Arc<crate::telemetry::Telemetry>>, crate::telemetry::TelemetryError>,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            store: StoreChoice::None,
            registry: None,
            options: WorkerOptions::default(),
            worker: true,
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "otel")]
            telemetry: Ok(None),
        }
    }
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("options", &self.options)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl RuntimeBuilder {
    /// Uses the embedded SQLite store in the file at `path` (created if missing), with
    /// durable commits (`synchronous=FULL`).
    #[cfg(feature = "sqlite")]
    pub fn sqlite(self, path: impl Into<PathBuf>) -> Self {
        self.sqlite_with(path, crate::store::sqlite::SqliteOptions::default())
    }

    /// Uses the embedded SQLite store with explicit options.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_with(
        mut self,
        path: impl Into<PathBuf>,
        options: crate::store::sqlite::SqliteOptions,
    ) -> Self {
        self.store = StoreChoice::Sqlite(path.into(), options);
        self
    }

    /// Uses the PostgreSQL store at `url` (`postgres://user:password@host:port/db`) with
    /// the default task hub `durable` (feature `postgres`): many worker processes on many
    /// machines can share it.
    #[cfg(feature = "postgres")]
    pub fn postgres(self, url: impl Into<String>) -> Self {
        self.postgres_with(url, crate::store::postgres::PostgresOptions::default())
    }

    /// Uses the PostgreSQL store with explicit options (task hub, pool size).
    #[cfg(feature = "postgres")]
    pub fn postgres_with(
        mut self,
        url: impl Into<String>,
        options: crate::store::postgres::PostgresOptions,
    ) -> Self {
        self.store = StoreChoice::Postgres(url.into(), options);
        self
    }

    /// Uses a [`MemoryStore`]: nothing survives the process. For tests.
    pub fn in_memory(mut self) -> Self {
        self.store = StoreChoice::Memory;
        self
    }

    /// Uses `store`.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = StoreChoice::Custom(store);
        self
    }

    /// Uses `registry` instead of every function registered through the macros.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Replaces all worker options.
    pub fn options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets how many activities run at once.
    pub fn max_concurrent_activities(mut self, count: usize) -> Self {
        self.options.max_concurrent_activities = count;
        self
    }

    /// Sets how many orchestration work items a worker fetches and commits per batch
    /// (default 256; at least 1). Larger batches share one store transaction (and one disk
    /// flush) among more turns; smaller ones bound the latency a turn adds to its batch.
    pub fn orchestration_batch_size(mut self, size: usize) -> Self {
        self.options.orchestration_batch_size = size.max(1);
        self
    }

    /// Sets the orchestration and activity lease durations.
    pub fn leases(mut self, orchestration: Duration, activity: Duration) -> Self {
        self.options.orchestration_lease = orchestration;
        self.options.activity_lease = activity;
        self
    }

    /// Sets how many instances stay live in memory between turns; 0 replays every turn.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.options.cache_capacity = capacity;
        self
    }

    /// Sets the longest wait for a durable timer that keeps an instance live in memory
    /// between turns (default 30 s; see [`WorkerOptions::max_cached_wait`]).
    pub fn max_cached_wait(mut self, wait: Duration) -> Self {
        self.options.max_cached_wait = wait;
        self
    }

    /// Replays the whole history on every turn, even on a cache hit (for tests).
    pub fn always_replay(mut self, always: bool) -> Self {
        self.options.always_replay = always;
        self
    }

    /// Traces orchestrations through `provider` (feature `otel`): the worker emits the spans
    /// of [`crate::telemetry`] and the runtime's client records the caller's trace context
    /// when it starts an instance. Without this the runtime emits no span (it still records
    /// a trace context it is given, so other workers can continue the trace).
    ///
    /// The provider must give spans the ids the runtime derives for them: build it with
    /// [`telemetry::IdGenerator`](crate::telemetry::IdGenerator). An OpenTelemetry SDK
    /// `SdkTracerProvider` works; so does the global provider
    /// (`opentelemetry::global::tracer_provider()`) once set to one.
    ///
    /// [`start`](Self::start) fails with [`RuntimeError::Telemetry`] when the provider does
    /// not use [`telemetry::IdGenerator`](crate::telemetry::IdGenerator). The check builds one
    /// span, `durable.id_check`, under a parent that is not sampled: the SDK's default
    /// (parent-based) sampler drops it; a sampler that ignores the parent exports it.
    #[cfg(feature = "otel")]
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: opentelemetry::trace::TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        self.telemetry = crate::telemetry::Telemetry::new(provider).map(|t| Some(Arc::new(t)));
        self
    }

    /// Records the worker's metrics into `metrics` and reads the task hub's gauges from this
    /// runtime's store (feature `metrics`); see [`crate::metrics`]. The runtime's HTTP
    /// router then serves them at `GET /metrics`.
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: &crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Starts no worker: the runtime is only a client of the store.
    pub fn client_only(mut self) -> Self {
        self.worker = false;
        self
    }

    /// Opens the store, builds the registry and starts the worker's dispatchers on the
    /// current tokio runtime.
    ///
    /// # Errors
    /// [`RuntimeError::NoStore`], [`RuntimeError::Store`] when the store cannot be opened,
    /// or [`RuntimeError::Registry`] when names clash or nothing is registered; with feature
    /// `otel`, [`RuntimeError::Telemetry`] for a tracer provider that cannot trace.
    pub async fn start(self) -> Result<Runtime, RuntimeError> {
        #[allow(unused_mut)]
        let mut observers = crate::worker::Observers::default();
        #[cfg(feature = "otel")]
        {
            observers.telemetry = self.telemetry?;
        }
        #[cfg(feature = "metrics")]
        {
            observers.metrics.clone_from(&self.metrics);
        }
        #[cfg(all(feature = "otel", feature = "metrics"))]
        if let (Some(telemetry), Some(metrics)) = (&observers.telemetry, &self.metrics) {
            telemetry.count_drops_in(metrics);
        }
        let store: Arc<dyn Store> = match self.store {
            StoreChoice::None => return Err(RuntimeError::NoStore),
            StoreChoice::Memory => Arc::new(MemoryStore::new()),
            #[cfg(feature = "sqlite")]
            StoreChoice::Sqlite(path, options) => {
                let store = tokio::task::spawn_blocking(move || {
                    crate::store::sqlite::SqliteStore::open_with(path, options)
                })
                .await
                .map_err(|_| crate::error::StoreError::Closed)??;
                Arc::new(store)
            }
            #[cfg(feature = "postgres")]
            StoreChoice::Postgres(url, options) => {
                Arc::new(crate::store::postgres::PostgresStore::connect_with(&url, options).await?)
            }
            StoreChoice::Custom(store) => store,
        };
        let (worker, registry) = if self.worker {
            let registry = match self.registry {
                Some(registry) => registry,
                None => Registry::from_inventory()?,
            };
            tracing::info!(
                orchestrations = ?registry.orchestration_names().collect::<Vec<_>>(),
                activities = ?registry.activity_names().collect::<Vec<_>>(),
                entities = ?registry.entity_names().collect::<Vec<_>>(),
                "durable worker starting"
            );
            let worker = Worker::start(
                store.clone(),
                registry.clone(),
                self.options,
                observers.clone(),
            );
            (Some(worker), Some(registry))
        } else {
            (None, self.registry)
        };
        #[allow(unused_mut)]
        let mut client = DurableClient::new(store);
        #[cfg(feature = "otel")]
        {
            client.telemetry = observers.telemetry;
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &self.metrics {
            metrics.bind(client.store().clone());
        }
        Ok(Runtime {
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
            client,
            worker,
            registry,
        })
    }
}
