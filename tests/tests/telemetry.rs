//! OpenTelemetry traces (feature `otel`) through the public API, read back from the
//! OpenTelemetry SDK's in-memory exporter: the trace tree of a chain, a fan-out, a
//! sub-orchestration, a retried activity and entity calls and signals (parent links, names,
//! kinds, attributes, times), the caller's trace context from `tracing` and from the HTTP
//! `traceparent` header, and one span per real execution when a worker restarts
//! mid-orchestration and replays its history.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use durable_runtime::prelude::*;
use durable_runtime::telemetry::{IdGenerator, attributes};
use durable_runtime::{Registry, RuntimeError};
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument as _;

const WAIT: Duration = Duration::from_secs(30);

// ---- functions ----

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
async fn fan_out(ctx: OrchestrationContext, count: u64) -> Result<u64, OrchestrationError> {
    let calls: Vec<_> = (0..count).map(|i| ctx.call_activity(Step, i)).collect();
    Ok(try_join_all(calls).await?.into_iter().sum())
}

#[orchestrator]
async fn parent(ctx: OrchestrationContext, start: u64) -> Result<u64, OrchestrationError> {
    let child = ctx.call_sub_orchestrator(Chain, start).await?;
    Ok(ctx.call_activity(Step, child).await?)
}

static ATTEMPTS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

/// Fails until its third call for `key`.
#[activity]
async fn flaky(key: String) -> Result<u32, ActivityError> {
    let mut attempts = ATTEMPTS.lock().unwrap();
    let count = attempts
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default();
    *count += 1;
    if *count < 3 {
        return Err(ActivityError::new(format!("attempt {count} failed")));
    }
    Ok(*count)
}

#[orchestrator]
async fn retrying(ctx: OrchestrationContext, key: String) -> Result<u32, OrchestrationError> {
    let policy = RetryPolicy::new(3, Duration::from_millis(10));
    Ok(ctx.call_activity_with_retry(Flaky, key, &policy).await?)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Tally {
    total: i64,
}

#[entity]
impl Tally {
    fn add(&mut self, amount: i64) {
        self.total += amount;
    }

    fn get(&self) -> i64 {
        self.total
    }
}

#[orchestrator]
async fn uses_tally(ctx: OrchestrationContext, key: String) -> Result<i64, OrchestrationError> {
    Tally::signal(&ctx, key.clone()).add(2);
    Tally::call(&ctx, key.clone()).add(3).await?;
    Ok(Tally::call(&ctx, key).get().await?)
}

#[orchestrator]
async fn gated(ctx: OrchestrationContext, start: u64) -> Result<u64, OrchestrationError> {
    let value = ctx.call_activity(Step, start).await?;
    let extra: u64 = ctx.wait_for_external_event("go").await?;
    Ok(ctx.call_activity(Step, value + extra).await?)
}

fn registry() -> Registry {
    Registry::builder()
        .activity::<Step>()
        .activity::<Flaky>()
        .orchestration::<Chain>()
        .orchestration::<FanOut>()
        .orchestration::<Parent>()
        .orchestration::<Retrying>()
        .orchestration::<UsesTally>()
        .orchestration::<Gated>()
        .entity::<Tally>()
        .build()
        .unwrap()
}

// ---- helpers ----

/// A tracer provider with the runtime's id generator, exporting each span as it ends.
fn provider() -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(IdGenerator::default())
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

async fn traced_runtime(
    provider: &SdkTracerProvider,
    builder: durable_runtime::RuntimeBuilder,
) -> Runtime {
    builder
        .registry(registry())
        .tracer_provider(provider)
        .start()
        .await
        .unwrap()
}

/// The exported spans, once `done` holds for them (spans are exported after their commit,
/// which may be a moment after the client saw the result).
async fn spans_when(
    exporter: &InMemorySpanExporter,
    done: impl Fn(&[SpanData]) -> bool,
) -> Vec<SpanData> {
    let deadline = Instant::now() + WAIT;
    loop {
        let spans = exporter.get_finished_spans().unwrap();
        if done(&spans) {
            // Anything exported late (a duplicate) would show up now.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return exporter.get_finished_spans().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "spans never complete: {:#?}",
            names(&spans)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn names(spans: &[SpanData]) -> Vec<String> {
    spans
        .iter()
        .map(|s| format!("{} ({:?})", s.name, s.span_kind))
        .collect()
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(span: &SpanData, key: &str) -> String {
    attribute(span, key)
        .unwrap_or_else(|| panic!("{} has no {key}: {:?}", span.name, span.attributes))
        .to_string()
}

fn number(span: &SpanData, key: &str) -> i64 {
    match attribute(span, key) {
        Some(Value::I64(n)) => *n,
        other => panic!("{} has no number {key}: {other:?}", span.name),
    }
}

/// The spans named `name` of kind `kind`.
fn find<'a>(spans: &'a [SpanData], name: &str, kind: SpanKind) -> Vec<&'a SpanData> {
    spans
        .iter()
        .filter(|s| s.name == name && s.span_kind == kind)
        .collect()
}

fn one<'a>(spans: &'a [SpanData], name: &str, kind: SpanKind) -> &'a SpanData {
    let label = format!("{kind:?}");
    let found = find(spans, name, kind);
    assert_eq!(
        found.len(),
        1,
        "one {name} ({label}) in {:#?}",
        names(spans)
    );
    found[0]
}

fn is_child_of(child: &SpanData, parent: &SpanData) -> bool {
    child.span_context.trace_id() == parent.span_context.trace_id()
        && child.parent_span_id == parent.span_context.span_id()
}

fn within(inner: &SpanData, outer: &SpanData) -> bool {
    outer.start_time <= inner.start_time && inner.end_time <= outer.end_time
}

fn count(spans: &[SpanData], name: &str) -> usize {
    spans.iter().filter(|s| s.name == name).count()
}

/// The orchestration span of `name` once it (and `more` other conditions) is exported.
fn has_orchestration(spans: &[SpanData], name: &str) -> bool {
    spans
        .iter()
        .any(|s| s.name == format!("orchestration:{name}") && s.span_kind == SpanKind::Server)
}

/// Checks the `activity:step` client and server pair of each task id under `orchestration`:
/// the client span is the orchestration's child, the server span the client's, and the run
/// lies within the wait.
fn check_steps(spans: &[SpanData], orchestration: &SpanData, expected: usize) {
    let clients = find(spans, "activity:step", SpanKind::Client);
    let clients: Vec<_> = clients
        .into_iter()
        .filter(|c| is_child_of(c, orchestration))
        .collect();
    assert_eq!(clients.len(), expected, "{:#?}", names(spans));
    for client in clients {
        assert!(within(client, orchestration), "{client:#?}");
        assert_eq!(text(client, attributes::TYPE), "activity");
        assert_eq!(text(client, attributes::NAME), "step");
        assert_eq!(
            text(client, attributes::INSTANCE_ID),
            text(orchestration, attributes::INSTANCE_ID)
        );
        let servers: Vec<_> = find(spans, "activity:step", SpanKind::Server)
            .into_iter()
            .filter(|s| is_child_of(s, client))
            .collect();
        assert_eq!(
            servers.len(),
            1,
            "one run of task {}",
            number(client, attributes::TASK_ID)
        );
        let server = servers[0];
        assert!(
            within(server, client),
            "the run lies within the wait: {server:#?} {client:#?}"
        );
        assert_eq!(
            number(server, attributes::TASK_ID),
            number(client, attributes::TASK_ID)
        );
        assert_eq!(number(server, attributes::DELIVERY_ATTEMPT), 1);
        assert_eq!(server.status, Status::Unset);
    }
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_is_one_trace_from_the_client_down() {
    let (provider, exporter) = provider();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    let instance = Chain::start(&runtime.client(), 1).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 4);
    let spans = spans_when(&exporter, |s| has_orchestration(s, "chain")).await;
    assert_eq!(spans.len(), 1 + 1 + 3 + 3, "{:#?}", names(&spans));

    let create = one(&spans, "create_orchestration:chain", SpanKind::Producer);
    assert_eq!(
        create.parent_span_id,
        SpanId::INVALID,
        "the client's span is the root"
    );
    let orchestration = one(&spans, "orchestration:chain", SpanKind::Server);
    assert!(is_child_of(orchestration, create));
    assert!(create.start_time <= orchestration.start_time);
    let id = instance.instance_id().to_string();
    for span in &spans {
        assert_eq!(
            span.span_context.trace_id(),
            create.span_context.trace_id(),
            "{}",
            span.name
        );
        assert_eq!(text(span, attributes::INSTANCE_ID), id, "{}", span.name);
        assert_eq!(span.instrumentation_scope.name(), "durable");
    }
    assert_eq!(text(orchestration, attributes::TYPE), "orchestration");
    assert_eq!(text(orchestration, attributes::NAME), "chain");
    assert_eq!(text(orchestration, attributes::STATUS), "Completed");
    let status = runtime
        .client()
        .get_status(instance.instance_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        text(orchestration, attributes::EXECUTION_ID),
        status.execution_id.to_string()
    );
    assert_eq!(orchestration.status, Status::Unset);
    check_steps(&spans, orchestration, 3);
    // In sequence: each step is scheduled after the previous one's result.
    let mut clients = find(&spans, "activity:step", SpanKind::Client);
    clients.sort_by_key(|c| number(c, attributes::TASK_ID));
    assert_eq!(
        clients
            .iter()
            .map(|c| number(c, attributes::TASK_ID))
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    for pair in clients.windows(2) {
        assert!(pair[0].end_time <= pair[1].start_time);
    }
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_schedules_every_call_at_once() {
    let (provider, exporter) = provider();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    let instance = FanOut::start(&runtime.client(), 5).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 15);
    let spans = spans_when(&exporter, |s| has_orchestration(s, "fan_out")).await;
    let orchestration = one(&spans, "orchestration:fan_out", SpanKind::Server);
    check_steps(&spans, orchestration, 5);
    let clients = find(&spans, "activity:step", SpanKind::Client);
    let first = clients[0].start_time;
    assert!(
        clients.iter().all(|c| c.start_time == first),
        "all five are scheduled in one turn"
    );
    let ids: std::collections::HashSet<SpanId> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    assert_eq!(ids.len(), spans.len(), "every span has its own id");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_orchestration_continues_its_parents_trace() {
    let (provider, exporter) = provider();
    let runtime = traced_runtime(
        &provider,
        Runtime::builder().sqlite(durable_tests::temp_dir("telemetry").join("durable.db")),
    )
    .await;
    let instance = Parent::start(&runtime.client(), 1).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 5);
    let spans = spans_when(&exporter, |s| has_orchestration(s, "parent")).await;
    let parent = one(&spans, "orchestration:parent", SpanKind::Server);
    let call = one(&spans, "orchestration:chain", SpanKind::Client);
    assert!(is_child_of(call, parent));
    assert!(within(call, parent));
    assert_eq!(text(call, attributes::NAME), "chain");
    let child = one(&spans, "orchestration:chain", SpanKind::Server);
    assert!(
        is_child_of(child, call),
        "the child's span hangs under the call"
    );
    assert!(within(child, call));
    let child_id = text(child, attributes::INSTANCE_ID);
    assert_ne!(child_id, instance.instance_id().to_string());
    assert_eq!(text(call, attributes::TARGET_INSTANCE_ID), child_id);
    check_steps(&spans, child, 3);
    check_steps(&spans, parent, 1);
    assert_eq!(count(&spans, "create_orchestration:parent"), 1);
    assert_eq!(
        count(&spans, "create_orchestration:chain"),
        0,
        "the parent started it"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_activity_has_a_span_per_attempt_and_per_wait() {
    let (provider, exporter) = provider();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    let instance = Retrying::start(&runtime.client(), "retry-span".to_owned())
        .await
        .unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 3);
    let spans = spans_when(&exporter, |s| has_orchestration(s, "retrying")).await;
    let orchestration = one(&spans, "orchestration:retrying", SpanKind::Server);
    let mut clients = find(&spans, "activity:flaky", SpanKind::Client);
    clients.sort_by_key(|c| number(c, attributes::RETRY_ATTEMPT));
    assert_eq!(
        clients
            .iter()
            .map(|c| number(c, attributes::RETRY_ATTEMPT))
            .collect::<Vec<_>>(),
        [1, 2, 3],
        "{:#?}",
        names(&spans)
    );
    for (attempt, client) in clients.iter().enumerate() {
        assert!(is_child_of(client, orchestration));
        let servers: Vec<_> = find(&spans, "activity:flaky", SpanKind::Server)
            .into_iter()
            .filter(|s| is_child_of(s, client))
            .collect();
        assert_eq!(servers.len(), 1);
        if attempt < 2 {
            let message = format!("attempt {} failed", attempt + 1);
            assert_eq!(client.status, Status::error(message.clone()));
            assert_eq!(servers[0].status, Status::error(message));
            assert_eq!(text(servers[0], attributes::ERROR_TYPE), "ActivityError");
        } else {
            assert_eq!(client.status, Status::Unset);
        }
    }
    let timers = find(&spans, "orchestration:retrying:timer", SpanKind::Internal);
    assert_eq!(timers.len(), 2, "one wait between attempts");
    for (timer, next) in timers.iter().zip(&clients[1..]) {
        assert!(is_child_of(timer, orchestration));
        assert_eq!(text(timer, attributes::TYPE), "timer");
        assert!(attribute(timer, attributes::FIRE_AT).is_some());
        assert!(
            timer.end_time.duration_since(timer.start_time).unwrap() >= Duration::from_millis(10)
        );
        assert!(timers.iter().any(|t| t.end_time <= next.start_time));
    }
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_calls_and_signals_reach_the_operations_spans() {
    let (provider, exporter) = provider();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    let client = runtime.client();
    Tally::signal(&client, "t1").add(10).await.unwrap();
    let instance = UsesTally::start(&client, "t1".to_owned()).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 15);
    let spans = spans_when(&exporter, |s| {
        has_orchestration(s, "uses_tally") && count(s, "entity_operation:tally:get") >= 2
    })
    .await;
    let orchestration = one(&spans, "orchestration:uses_tally", SpanKind::Server);
    // The client's signal.
    let signals = find(&spans, "entity_operation:tally:add", SpanKind::Producer);
    assert_eq!(signals.len(), 2, "{:#?}", names(&spans));
    let from_client = signals
        .iter()
        .find(|s| s.parent_span_id == SpanId::INVALID)
        .expect("the client's signal is a root");
    let from_orchestration = signals
        .iter()
        .find(|s| is_child_of(s, orchestration))
        .expect("the orchestration's signal");
    let runs = find(&spans, "entity_operation:tally:add", SpanKind::Server);
    assert_eq!(runs.len(), 3, "three adds ran");
    for signal in [from_client, from_orchestration] {
        let run: Vec<_> = runs.iter().filter(|r| is_child_of(r, signal)).collect();
        assert_eq!(run.len(), 1, "one run per signal");
        assert!(signal.start_time <= run[0].start_time);
        assert_eq!(text(run[0], attributes::ENTITY_OPERATION), "add");
        assert_eq!(text(run[0], attributes::INSTANCE_ID), "@tally@t1");
    }
    for operation in ["add", "get"] {
        let call = one(
            &spans,
            &format!("entity_operation:tally:{operation}"),
            SpanKind::Client,
        );
        assert!(is_child_of(call, orchestration));
        assert_eq!(text(call, attributes::TARGET_INSTANCE_ID), "@tally@t1");
        assert_eq!(text(call, attributes::TYPE), "entity");
        let run = find(
            &spans,
            &format!("entity_operation:tally:{operation}"),
            SpanKind::Server,
        )
        .into_iter()
        .find(|r| is_child_of(r, call))
        .expect("the call's run");
        // The call ends at the result's history timestamp, the entity batch's time, which
        // may be a moment before the operation's own run ended.
        assert!(call.start_time <= run.start_time, "{run:#?} {call:#?}");
    }
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_orchestration_emits_each_span_once() {
    let path = durable_tests::temp_dir("telemetry-restart").join("durable.db");
    restart_mid_orchestration(|| Runtime::builder().sqlite(&path)).await;
}

/// The same on PostgreSQL: the second worker could be on another machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_postgres_emits_each_span_once() {
    let Some(url) = durable_tests::postgres_url("a_restart_on_postgres_emits_each_span_once")
    else {
        return;
    };
    let task_hub = durable_tests::fresh_task_hub();
    restart_mid_orchestration(|| {
        Runtime::builder().postgres_with(
            url.clone(),
            durable_runtime::store::postgres::PostgresOptions::default().task_hub(task_hub.clone()),
        )
    })
    .await;
}

/// Runs `gated` to its event on one worker, stops it, and finishes it on a second worker
/// over the same store (`store`), each with its own exporter. Activities go through the
/// store's queue, so each run's parent is the trace context stored with its work item.
async fn restart_mid_orchestration(store: impl Fn() -> durable_runtime::RuntimeBuilder) {
    let options = durable_runtime::WorkerOptions::default().dispatch_activities_in_process(false);
    let (first_provider, first) = provider();
    let runtime = traced_runtime(&first_provider, store().options(options.clone())).await;
    let client = runtime.client();
    let instance = Gated::start(&client, 1).await.unwrap();
    // Parked on the event after the first step.
    let deadline = Instant::now() + WAIT;
    while count(&first.get_finished_spans().unwrap(), "activity:step") < 2 {
        assert!(Instant::now() < deadline, "the first step never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runtime.shutdown().await;
    // Another worker on the same store, with its own exporter: it replays the history
    // (nothing cached) and runs the rest.
    let (second_provider, second) = provider();
    let runtime = traced_runtime(&second_provider, store().options(options)).await;
    let client = runtime.client();
    client
        .raise_event(instance.instance_id(), "go", &10_u64)
        .await
        .unwrap();
    let handle = client.instance::<Gated>(instance.instance_id().clone());
    assert_eq!(handle.wait_for_completion(WAIT).await.unwrap(), 13);
    let later = spans_when(&second, |s| has_orchestration(s, "gated")).await;
    let earlier = first.get_finished_spans().unwrap();
    assert_eq!(
        names(&earlier).len(),
        3,
        "before: the start and the first step (client and run): {:#?}",
        names(&earlier)
    );
    assert_eq!(
        count(&later, "activity:step"),
        2,
        "after: the second step only, nothing replayed: {:#?}",
        names(&later)
    );
    let all: Vec<SpanData> = earlier.into_iter().chain(later).collect();
    let orchestration = one(&all, "orchestration:gated", SpanKind::Server);
    let create = one(&all, "create_orchestration:gated", SpanKind::Producer);
    assert!(is_child_of(orchestration, create));
    // The raise is the raiser's: a trace of its own here, naming its target.
    let raise = one(&all, "orchestration_event:go", SpanKind::Producer);
    assert_eq!(raise.parent_span_id, SpanId::INVALID);
    assert_eq!(
        text(raise, attributes::EVENT_TARGET_INSTANCE_ID),
        instance.instance_id().to_string()
    );
    assert!(
        all.iter()
            .filter(|s| s.name != raise.name)
            .all(|s| s.span_context.trace_id() == create.span_context.trace_id())
    );
    check_steps(&all, orchestration, 2);
    let wait = one(&all, "orchestration:gated:event:go", SpanKind::Internal);
    assert!(is_child_of(wait, orchestration));
    let mut steps = find(&all, "activity:step", SpanKind::Client);
    steps.sort_by_key(|s| s.start_time);
    assert!(steps[0].end_time <= wait.start_time && wait.end_time <= steps[1].start_time);
    assert_eq!(
        orchestration.start_time,
        create.start_time.max(orchestration.start_time)
    );
    assert!(orchestration.start_time <= steps[0].start_time);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_tracing_span_is_the_parent() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let (provider, exporter) = provider();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("app")));
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    let client = runtime.client();
    let instance = {
        // The test's own thread only: the worker's threads keep the global default.
        let _default = tracing::subscriber::set_default(subscriber);
        let request = tracing::info_span!("handle_request");
        Chain::start(&client, 1)
            .into_future()
            .instrument(request)
            .await
            .unwrap()
    };
    instance.wait_for_completion(WAIT).await.unwrap();
    let spans = spans_when(&exporter, |s| {
        has_orchestration(s, "chain") && count(s, "handle_request") == 1
    })
    .await;
    let request = one(&spans, "handle_request", SpanKind::Internal);
    let create = one(&spans, "create_orchestration:chain", SpanKind::Producer);
    assert!(
        is_child_of(create, request),
        "the start is the request's child"
    );
    let orchestration = one(&spans, "orchestration:chain", SpanKind::Server);
    assert!(is_child_of(orchestration, create));
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_traceparent_header_is_the_parent() {
    let (provider, exporter) = provider();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    let options =
        durable_runtime::http::HttpOptions::default().address("127.0.0.1:0".parse().unwrap());
    let server = runtime.serve_http(options).await.unwrap();
    let base = format!(
        "http://{}{}/orchestrators/chain",
        server.local_addr(),
        durable_runtime::http::BASE_PATH
    );
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/http-traced"))
        .header("content-type", "application/json")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("tracestate", "vendor=abc")
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = InstanceId::new("http-traced").unwrap();
    runtime
        .client()
        .instance::<Chain>(id.clone())
        .wait_for_completion(WAIT)
        .await
        .unwrap();
    let spans = spans_when(&exporter, |s| has_orchestration(s, "chain")).await;
    let create = one(&spans, "create_orchestration:chain", SpanKind::Producer);
    assert_eq!(
        create.span_context.trace_id(),
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
    );
    assert_eq!(
        create.parent_span_id,
        SpanId::from_hex("b7ad6b7169203331").unwrap()
    );
    assert!(create.parent_span_is_remote);
    assert_eq!(create.span_context.trace_state().get("vendor"), Some("abc"));
    let orchestration = one(&spans, "orchestration:chain", SpanKind::Server);
    assert!(is_child_of(orchestration, create));
    // The trace context is in the history, for any worker that runs the instance.
    let history = runtime.client().read_history(&id).await.unwrap();
    let recorded = history
        .iter()
        .find_map(|e| match &e.kind {
            durable_runtime::history::EventKind::ExecutionStarted { trace_context, .. } => {
                trace_context.clone()
            }
            _ => None,
        })
        .expect("recorded");
    assert_eq!(
        recorded.trace_id(),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    assert_eq!(
        recorded.parent_id(),
        Some(create.span_context.span_id().to_string().as_str())
    );
    assert_eq!(recorded.tracestate(), Some("vendor=abc"));
    // A malformed header is ignored (W3C): the start succeeds in a trace of its own.
    let response = http
        .post(format!("{base}/http-untraced"))
        .header("content-type", "application/json")
        .header("traceparent", "not-a-traceparent")
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    server.shutdown().await;
    runtime.shutdown().await;
}

/// A trace whose starter was not sampled gets none of the runtime's spans (the work an
/// orchestration sends carries the starter's flags, so its spans follow the trace's
/// `sampled` flag as the SDK's default parent-based sampler does); one that was sampled,
/// on the same runtime, gets all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsampled_trace_gets_no_spans() {
    let (provider, exporter) = provider();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    let unsampled = durable_runtime::TraceContext::parse(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        None,
    )
    .unwrap();
    let client = runtime.client().with_trace_context(unsampled);
    let instance = Chain::start(&client, 1).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 4);
    let history = runtime
        .client()
        .read_history(instance.instance_id())
        .await
        .unwrap();
    let recorded = history
        .iter()
        .find_map(|e| match &e.kind {
            durable_runtime::history::EventKind::ExecutionStarted { trace_context, .. } => {
                trace_context.clone()
            }
            _ => None,
        })
        .expect("recorded");
    assert_eq!(
        recorded.trace_id(),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    assert!(recorded.traceparent().ends_with("-00"), "{recorded:?}");
    let sampled = durable_runtime::TraceContext::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        None,
    )
    .unwrap();
    let client = runtime.client().with_trace_context(sampled);
    let instance = Chain::start(&client, 1).await.unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 4);
    let spans = spans_when(&exporter, |s| has_orchestration(s, "chain")).await;
    let sampled_trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    assert!(
        spans
            .iter()
            .all(|span| span.span_context.trace_id() == sampled_trace),
        "only the sampled trace has spans: {:#?}",
        names(&spans)
    );
    assert_eq!(count(&spans, "orchestration:chain"), 1);
    assert_eq!(find(&spans, "activity:step", SpanKind::Client).len(), 3);
    assert_eq!(find(&spans, "activity:step", SpanKind::Server).len(), 3);
    runtime.shutdown().await;
}

/// An exporter that holds every batch until the test opens it, as one waiting on a
/// collector that does not answer would.
#[derive(Debug, Clone, Default)]
struct StalledExporter {
    spans: InMemorySpanExporter,
    open: std::sync::Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl StalledExporter {
    fn open(&self) {
        let (open, changed) = &*self.open;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }
}

impl opentelemetry_sdk::trace::SpanExporter for StalledExporter {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        {
            let (open, changed) = &*self.open;
            let mut open = open.lock().unwrap();
            while !*open {
                open = changed.wait(open).unwrap();
            }
        }
        self.spans.export(batch).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporter_that_stalls_holds_up_no_start_and_no_turn() {
    // A processor that exports each span as it ends, on the thread that ends it: spans
    // are built and ended on the runtime's span thread, so the start, the turns and the
    // activities go on while the exporter waits.
    let exporter = StalledExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(IdGenerator::default())
        .with_simple_exporter(exporter.clone())
        .build();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    // Were a start or a turn waiting on the exporter, the test would hang: a watchdog
    // opens it after a while, and the assertion below names what happened.
    let watchdog = {
        let exporter = exporter.clone();
        let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = fired.clone();
        std::thread::spawn(move || {
            std::thread::sleep(WAIT);
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            exporter.open();
        });
        fired
    };
    let client = runtime.client();
    let first = Chain::start(&client, 1).await.unwrap();
    let second = Chain::start(&client, 10).await.unwrap();
    assert_eq!(first.wait_for_completion(WAIT).await.unwrap(), 4);
    assert_eq!(second.wait_for_completion(WAIT).await.unwrap(), 13);
    assert!(
        !watchdog.load(std::sync::atomic::Ordering::SeqCst),
        "the starts or turns waited for the stalled exporter"
    );
    assert!(exporter.spans.get_finished_spans().unwrap().is_empty());
    // Once the collector answers, every span arrives, each once; shutdown returns after
    // the runtime handed them all to the provider.
    exporter.open();
    runtime.shutdown().await;
    let spans = exporter.spans.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2 * (1 + 1 + 3 + 3), "{:#?}", names(&spans));
    assert_eq!(count(&spans, "orchestration:chain"), 2);
    assert_eq!(count(&spans, "create_orchestration:chain"), 2);
    assert_eq!(find(&spans, "activity:step", SpanKind::Client).len(), 6);
    assert_eq!(find(&spans, "activity:step", SpanKind::Server).len(), 6);
}

/// Span records beyond the span queue's 16,384 (the exporter stalls, so the span thread
/// builds nothing) are dropped, counted in `durable_span_records_dropped_total`, and the
/// orchestration is not held up; the records queued before are all built once the
/// exporter answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_records_beyond_a_full_queue_are_dropped_and_counted() {
    const ACTIVITIES: u64 = 17_500;
    let exporter = StalledExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_id_generator(IdGenerator::default())
        .with_simple_exporter(exporter.clone())
        .build();
    let metrics = durable_runtime::metrics::Metrics::new();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory().metrics(&metrics)).await;
    let dropped = |text: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix("durable_span_records_dropped_total "))
            .expect("the counter is exported")
            .trim()
            .parse()
            .expect("a count")
    };
    assert_eq!(dropped(&metrics.encode().await.unwrap()), 0);
    let client = runtime.client();
    let instance = FanOut::start(&client, ACTIVITIES).await.unwrap();
    assert_eq!(
        instance
            .wait_for_completion(Duration::from_secs(300))
            .await
            .unwrap(),
        (1..=ACTIVITIES).sum::<u64>()
    );
    // One record per activity run and per committed turn: past the queue's bound, since
    // the span thread waits on the exporter from the first span.
    let count = dropped(&metrics.encode().await.unwrap());
    assert!(count > 0, "no record was dropped");
    exporter.open();
    runtime.shutdown().await;
    let spans = exporter.spans.get_finished_spans().unwrap();
    let servers = find(&spans, "activity:step", SpanKind::Server).len();
    assert!(
        servers < usize::try_from(ACTIVITIES).unwrap(),
        "{servers} activity spans: none dropped"
    );
    assert!(
        servers > 10_000,
        "only {servers} activity spans: the queued records were not built"
    );
}

#[tokio::test]
async fn a_provider_without_the_id_generator_is_refused() {
    let plain = SdkTracerProvider::builder()
        .with_simple_exporter(InMemorySpanExporter::default())
        .build();
    let error = Runtime::builder()
        .in_memory()
        .registry(registry())
        .tracer_provider(&plain)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, RuntimeError::Telemetry(_)), "{error}");
    assert!(error.to_string().contains("IdGenerator"), "{error}");
    // The check itself exports nothing.
    let (provider, exporter) = provider();
    let runtime = traced_runtime(&provider, Runtime::builder().in_memory()).await;
    assert!(exporter.get_finished_spans().unwrap().is_empty());
    runtime.shutdown().await;
}
