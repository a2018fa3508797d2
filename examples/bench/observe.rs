//! `--observe` (examples built with `--features otel`): traces and metrics on, to measure
//! what they cost (`--observe=traces` or `--observe=metrics` for one of them). Spans go
//! through the OpenTelemetry SDK's batch processor to an exporter that only counts them
//! (the cost of a real exporter is its own thread's and its backend's), and the metrics
//! are scraped once, at the end of the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use durable_runtime::RuntimeBuilder;
use durable_runtime::metrics::Metrics;
use durable_runtime::telemetry::IdGenerator;
use durable_runtime::telemetry::opentelemetry_sdk::error::OTelSdkResult;
use durable_runtime::telemetry::opentelemetry_sdk::trace::{
    SdkTracerProvider, SpanData, SpanExporter,
};

/// Counts the spans it is given and drops them.
#[derive(Debug, Default)]
struct CountingExporter(Arc<AtomicU64>);

impl SpanExporter for CountingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// What `--observe` turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Observed {
    /// Traces and metrics.
    All,
    /// Traces only.
    Traces,
    /// Metrics only.
    Metrics,
}

/// A tracer provider and metrics shared by every runtime of the run (each only when
/// `--observe` asked for it).
pub(crate) struct Observe {
    provider: Option<SdkTracerProvider>,
    spans: Arc<AtomicU64>,
    metrics: Option<Metrics>,
}

impl Observe {
    pub(crate) fn new(observed: Observed) -> Self {
        let spans = Arc::new(AtomicU64::new(0));
        let provider = (observed != Observed::Metrics).then(|| {
            SdkTracerProvider::builder()
                .with_id_generator(IdGenerator::default())
                .with_batch_exporter(CountingExporter(spans.clone()))
                .build()
        });
        Self {
            provider,
            spans,
            metrics: (observed != Observed::Traces).then(Metrics::new),
        }
    }

    /// `builder`, tracing and measuring as asked.
    pub(crate) fn apply(&self, mut builder: RuntimeBuilder) -> RuntimeBuilder {
        if let Some(provider) = &self.provider {
            builder = builder.tracer_provider(provider);
        }
        if let Some(metrics) = &self.metrics {
            builder = builder.metrics(metrics);
        }
        builder
    }

    /// The field a RESULT line gets: the spans exported so far in the run (the batch
    /// processor may still hold the last few).
    pub(crate) fn fields(&self) -> String {
        format!("spans={}", self.spans.load(Ordering::Relaxed))
    }

    /// Exports what the batch processor still holds and scrapes the metrics once; returns
    /// the spans exported in all and the scrape's size (0 for what is off).
    pub(crate) async fn finish(&self) -> (u64, usize) {
        if let Some(provider) = self.provider.clone() {
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        }
        let scrape = match &self.metrics {
            Some(metrics) => metrics.encode().await.map_or(0, |text| text.len()),
            None => 0,
        };
        (self.spans.load(Ordering::Relaxed), scrape)
    }
}
