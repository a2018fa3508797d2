//! `--observe` (examples built with `--features otel`): traces and metrics on, to measure
//! what they cost. Spans go through the OpenTelemetry SDK's batch processor to an exporter
//! that only counts them (the cost of a real exporter is its own thread's and its
//! backend's), and the metrics are scraped once per workload.

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

/// A tracer provider and metrics shared by every runtime of the run.
pub(crate) struct Observe {
    provider: SdkTracerProvider,
    spans: Arc<AtomicU64>,
    metrics: Metrics,
}

impl Observe {
    pub(crate) fn new() -> Self {
        let spans = Arc::new(AtomicU64::new(0));
        let provider = SdkTracerProvider::builder()
            .with_id_generator(IdGenerator::default())
            .with_batch_exporter(CountingExporter(spans.clone()))
            .build();
        Self {
            provider,
            spans,
            metrics: Metrics::new(),
        }
    }

    /// `builder`, tracing and measuring.
    pub(crate) fn apply(&self, builder: RuntimeBuilder) -> RuntimeBuilder {
        builder
            .tracer_provider(&self.provider)
            .metrics(&self.metrics)
    }

    /// The field a RESULT line gets: the spans exported so far in the run (the batch
    /// processor may still hold the last few).
    pub(crate) fn fields(&self) -> String {
        format!("spans={}", self.spans.load(Ordering::Relaxed))
    }

    /// Exports what the batch processor still holds and scrapes the metrics once; returns
    /// the spans exported in all and the scrape's size.
    pub(crate) async fn finish(&self) -> (u64, usize) {
        let provider = self.provider.clone();
        let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        let scrape = self.metrics.encode().await.map_or(0, |text| text.len());
        (self.spans.load(Ordering::Relaxed), scrape)
    }
}
