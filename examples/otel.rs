//! Traces to an OpenTelemetry collector, metrics for Prometheus.
//!
//! ```text
//! cargo run --example otel --features otel
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 cargo run --example otel --features otel
//! ```
//!
//! Sends its spans over OTLP/HTTP (protobuf) to `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`, the collector's OTLP/HTTP port; the exporter appends
//! `/v1/traces`), with the application's own `tracing` spans in the same trace through
//! `tracing-opentelemetry`. An order goes through validation, a fan-out of reservations,
//! an entity call, a wait for a payment event and a shipping sub-orchestration with a
//! durable timer; one trace holds it all. The HTTP API serves `GET /metrics` meanwhile;
//! set `DURABLE_EXAMPLE_HOLD_SECS` to keep it up that long after the order completed (for a
//! scrape, or a look at the backend).

use std::time::Duration;

use durable_runtime::history::EventKind;
use durable_runtime::http::HttpOptions;
use durable_runtime::metrics::Metrics;
use durable_runtime::prelude::*;
use durable_runtime::telemetry::IdGenerator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

#[activity]
async fn validate(items: Vec<String>) -> Result<Vec<String>, ActivityError> {
    if items.is_empty() {
        return Err(ActivityError::new("an order needs items").non_retriable());
    }
    Ok(items)
}

#[activity]
async fn reserve(item: String) -> Result<String, ActivityError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(format!("reserved {item}"))
}

#[activity]
async fn pack(count: usize) -> Result<String, ActivityError> {
    Ok(format!("parcel of {count}"))
}

#[activity]
async fn dispatch(parcel: String) -> Result<String, ActivityError> {
    Ok(format!("{parcel} on its way"))
}

/// Stock kept per warehouse.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stock {
    taken: u64,
}

#[entity]
impl Stock {
    fn take(&mut self, count: u64) -> u64 {
        self.taken += count;
        self.taken
    }
}

#[orchestrator]
async fn ship(ctx: OrchestrationContext, count: usize) -> Result<String, OrchestrationError> {
    let parcel = ctx.call_activity(Pack, count).await?;
    // The courier comes by a moment later.
    ctx.create_timer(Duration::from_millis(200)).await;
    Ok(ctx.call_activity(Dispatch, parcel).await?)
}

#[orchestrator]
async fn order(
    ctx: OrchestrationContext,
    items: Vec<String>,
) -> Result<String, OrchestrationError> {
    let items = ctx.call_activity(Validate, items).await?;
    let reservations: Vec<_> = items
        .iter()
        .map(|item| ctx.call_activity(Reserve, item.clone()))
        .collect();
    try_join_all(reservations).await?;
    Stock::call(&ctx, "main".to_owned())
        .take(items.len() as u64)
        .await?;
    let _paid: String = ctx.wait_for_external_event("payment").await?;
    Ok(ctx.call_sub_orchestrator(Ship, items.len()).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The OpenTelemetry SDK, with the runtime's id generator, exporting in batches over
    // OTLP/HTTP (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_timeout(Duration::from_secs(5))
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_id_generator(IdGenerator::default())
        .with_resource(
            Resource::builder()
                .with_service_name("durable-example")
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    // The application's own `tracing` spans (`info` and up: not the exporter's HTTP
    // client's, nor the runtime's `debug` logs) go to the same provider.
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        ))
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("shop"))
                .with_filter(LevelFilter::INFO),
        )
        .init();

    let metrics = Metrics::new();
    let dir = std::env::temp_dir().join(format!("durable-otel-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let runtime = Runtime::builder()
        .sqlite(dir.join("durable.db"))
        .tracer_provider(&provider)
        .metrics(&metrics)
        .start()
        .await?;
    let server = runtime
        .serve_http(HttpOptions::default().address("127.0.0.1:0".parse()?))
        .await?;
    println!("metrics: curl http://{}/metrics", server.local_addr());

    let client = runtime.client();
    let items = vec!["tea".to_owned(), "cups".to_owned(), "kettle".to_owned()];
    // The start happens inside the application's span, so the order's trace hangs under it.
    let instance = Order::start(&client, items)
        .into_future()
        .instrument(tracing::info_span!("place_order", customer = "ada"))
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .raise_event(instance.instance_id(), "payment", "card ending 4242")
        .await?;
    let shipped = instance
        .wait_for_completion(Duration::from_secs(30))
        .await?;
    println!("{shipped}");

    let history = client.read_history(instance.instance_id()).await?;
    if let Some(trace) = history.iter().find_map(|event| match &event.kind {
        EventKind::ExecutionStarted { trace_context, .. } => trace_context.clone(),
        _ => None,
    }) {
        println!("trace id: {}", trace.trace_id().unwrap_or("?"));
    }
    let text = metrics.encode().await?;
    for line in text.lines().filter(|line| {
        line.starts_with("durable_instances{status=\"Completed\"}")
            || line.starts_with("durable_activity_duration_seconds_count")
            || line.starts_with("durable_work_items_committed_total")
    }) {
        println!("{line}");
    }

    if let Some(hold) = std::env::var("DURABLE_EXAMPLE_HOLD_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
    {
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    server.shutdown().await;
    runtime.shutdown().await;
    // Sends what the batch still holds before exiting.
    tokio::task::spawn_blocking(move || provider.shutdown()).await??;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
