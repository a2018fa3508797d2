//! End to end against a real trace backend someone else wrote: the runtime's spans go over
//! OTLP/HTTP (the OpenTelemetry SDK's batch processor and `opentelemetry-otlp`) to Arize
//! Phoenix, started by `scripts/trace-backend.sh` (`.ci/run` does), and are read back from
//! its REST API as one trace: names, and every parent link from the client's start down to
//! each activity run, across a sub-orchestration.
//!
//! Without `DURABLE_OTLP_ENDPOINT` the test prints that it was skipped; with
//! `DURABLE_REQUIRE_TRACE_BACKEND` set (CI) it fails instead.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use durable_runtime::history::EventKind;
use durable_runtime::prelude::*;
use durable_runtime::telemetry::IdGenerator;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

#[activity]
async fn step(value: u64) -> Result<u64, ActivityError> {
    Ok(value + 1)
}

#[orchestrator]
async fn chain(ctx: OrchestrationContext, start: u64) -> Result<u64, OrchestrationError> {
    let mut value = start;
    for _ in 0..3 {
        value = ctx.call_activity(Step, value).await?;
    }
    Ok(value)
}

#[orchestrator]
async fn parent(ctx: OrchestrationContext, start: u64) -> Result<u64, OrchestrationError> {
    let child = ctx.call_sub_orchestrator(Chain, start).await?;
    Ok(ctx.call_activity(Step, child).await?)
}

/// The backend's OTLP endpoint and REST API base, from `scripts/trace-backend.sh start`.
fn backend(test: &str) -> Option<(String, String)> {
    let endpoint = std::env::var("DURABLE_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    let api = std::env::var("DURABLE_TRACE_BACKEND_URL")
        .ok()
        .filter(|v| !v.is_empty());
    match endpoint.zip(api) {
        Some(found) => Some(found),
        None => {
            assert!(
                std::env::var_os("DURABLE_REQUIRE_TRACE_BACKEND").is_none(),
                "{test} needs the trace backend but DURABLE_OTLP_ENDPOINT is not set; run `eval \"$(scripts/trace-backend.sh start)\"` first"
            );
            eprintln!(
                "SKIPPED {test}: no trace backend (run `eval \"$(scripts/trace-backend.sh start)\"` to include it)"
            );
            None
        }
    }
}

/// One span as the backend's REST API returns it (OTLP's JSON shape).
#[derive(Debug, Clone)]
struct Stored {
    name: String,
    span_id: String,
    parent: Option<String>,
}

fn field<'a>(span: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| span.get(*name).and_then(Value::as_str))
        .filter(|v| !v.is_empty())
}

/// The spans of trace `trace_id` the backend holds.
async fn stored_spans(http: &reqwest::Client, api: &str, trace_id: &str) -> Vec<Stored> {
    let url = format!("{api}/v1/projects/default/spans/otlpv1?trace_id={trace_id}&limit=1000");
    let response = http.get(&url).send().await.unwrap();
    if response.status() == 404 {
        return Vec::new(); // The project exists once its first span arrived.
    }
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no `data` in {body}"))
        .iter()
        .map(|span| Stored {
            name: field(span, &["name"]).unwrap_or_default().to_owned(),
            span_id: field(span, &["span_id", "spanId"]).unwrap().to_owned(),
            parent: field(span, &["parent_span_id", "parentSpanId"]).map(str::to_owned),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_trace_backend_as_one_tree() {
    let Some((endpoint, api)) = backend("spans_reach_the_trace_backend_as_one_tree") else {
        return;
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(IdGenerator::default())
        .with_resource(
            Resource::builder()
                .with_service_name("durable-tests")
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    let runtime = Runtime::builder()
        .registry(
            durable_runtime::Registry::builder()
                .activity::<Step>()
                .orchestration::<Chain>()
                .orchestration::<Parent>()
                .build()
                .unwrap(),
        )
        .sqlite(durable_tests::temp_dir("trace-backend").join("durable.db"))
        .tracer_provider(&provider)
        .start()
        .await
        .unwrap();
    let client = runtime.client();
    let instance = Parent::start(&client, 1).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 5);
    let trace_id = client
        .read_history(instance.instance_id())
        .await
        .unwrap()
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::ExecutionStarted { trace_context, .. } => trace_context.clone(),
            _ => None,
        })
        .and_then(|context| context.trace_id().map(str::to_owned))
        .expect("the start recorded its trace context");
    runtime.shutdown().await;
    // Sends everything the batch processor holds (its export runs on its own thread).
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .unwrap();

    // The backend ingests asynchronously: read until all twelve are there.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    let spans = loop {
        let spans = stored_spans(&http, &api, &trace_id).await;
        if spans.len() >= 12 {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "the backend holds {} spans of trace {trace_id}: {spans:#?}",
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "activity:step",
            "activity:step",
            "activity:step",
            "activity:step",
            "activity:step",
            "activity:step",
            "activity:step",
            "activity:step",
            "create_orchestration:parent",
            "orchestration:chain",
            "orchestration:chain",
            "orchestration:parent",
        ],
        "one span per execution, nothing twice"
    );
    let by_id: HashMap<&str, &Stored> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent_of = |span: &Stored| {
        span.parent
            .as_deref()
            .and_then(|id| by_id.get(id))
            .map(|parent| parent.name.as_str())
    };
    for span in &spans {
        let parent = parent_of(span);
        match span.name.as_str() {
            "create_orchestration:parent" => assert_eq!(span.parent, None, "the root"),
            "orchestration:parent" => assert_eq!(parent, Some("create_orchestration:parent")),
            // The parent's call span, then the child's own span under it.
            "orchestration:chain" => assert!(
                matches!(parent, Some("orchestration:parent" | "orchestration:chain")),
                "{span:?} under {parent:?}"
            ),
            // Client spans under an orchestration, each run under its client span.
            "activity:step" => assert!(
                matches!(
                    parent,
                    Some("orchestration:parent" | "orchestration:chain" | "activity:step")
                ),
                "{span:?} under {parent:?}"
            ),
            other => panic!("unexpected span {other}"),
        }
    }
    let runs = spans
        .iter()
        .filter(|s| s.name == "activity:step" && parent_of(s) == Some("activity:step"))
        .count();
    assert_eq!(
        runs, 4,
        "each of the four activity runs hangs under its call"
    );
    let child = spans
        .iter()
        .filter(|s| s.name == "orchestration:chain" && parent_of(s) == Some("orchestration:chain"))
        .count();
    assert_eq!(
        child, 1,
        "the child's execution hangs under the parent's call"
    );
}
