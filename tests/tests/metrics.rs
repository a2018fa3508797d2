//! Metrics (feature `metrics`) through the public API: what the worker counts (work items,
//! commits, turns, activities and their failures, retries, timers, the instance cache), the
//! task hub's gauges read from `task_hub_stats` (instances by status, backlog), the
//! OpenMetrics text at `GET /metrics`, and a registry of the application's own.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use durable_runtime::metrics::{Metrics, MetricsError};
use durable_runtime::prelude::*;
use durable_runtime::{Registry, WorkerOptions};

const WAIT: Duration = Duration::from_secs(30);

#[activity]
async fn step(value: u64) -> Result<u64, ActivityError> {
    Ok(value + 1)
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
        return Err(ActivityError::new("not yet"));
    }
    Ok(*count)
}

#[orchestrator]
async fn chain(ctx: OrchestrationContext, steps: u64) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for _ in 0..steps {
        value = ctx.call_activity(Step, value).await?;
    }
    Ok(value)
}

#[orchestrator]
async fn retrying(ctx: OrchestrationContext, key: String) -> Result<u32, OrchestrationError> {
    let policy = RetryPolicy::new(3, Duration::from_millis(5));
    Ok(ctx.call_activity_with_retry(Flaky, key, &policy).await?)
}

/// Waits on a durable timer an hour away.
#[orchestrator]
async fn parked(ctx: OrchestrationContext, _: ()) -> Result<(), OrchestrationError> {
    ctx.create_timer(Duration::from_secs(3600)).await;
    Ok(())
}

/// Waits for an event, then takes one step.
#[orchestrator]
async fn waits(ctx: OrchestrationContext, _: ()) -> Result<u64, OrchestrationError> {
    let value: u64 = ctx.wait_for_external_event("go").await?;
    Ok(ctx.call_activity(Step, value).await?)
}

/// Waits for "go" with a timeout an hour away (the human-interaction pattern), then takes
/// one step; 0 when it timed out.
#[orchestrator]
async fn approval(ctx: OrchestrationContext, _: ()) -> Result<u64, OrchestrationError> {
    let waited = ctx
        .wait_for_external_event::<u64>("go")
        .timeout(Duration::from_secs(3600))
        .await;
    match waited {
        Ok(value) => Ok(ctx.call_activity(Step, value).await?),
        Err(EventError::TimedOut { .. }) => Ok(0),
        Err(error) => Err(error.into()),
    }
}

fn registry() -> Registry {
    Registry::builder()
        .activity::<Step>()
        .activity::<Flaky>()
        .orchestration::<Chain>()
        .orchestration::<Retrying>()
        .orchestration::<Parked>()
        .orchestration::<Waits>()
        .orchestration::<Approval>()
        .build()
        .unwrap()
}

/// A runtime on the memory store with `options`, recording into `metrics`.
async fn memory_runtime(metrics: &Metrics, options: WorkerOptions) -> Runtime {
    Runtime::builder()
        .in_memory()
        .registry(registry())
        .options(options)
        .metrics(metrics)
        .start()
        .await
        .unwrap()
}

/// The OpenMetrics text of `metrics` once `done` holds for it, or after 200 tries 20 ms
/// apart (the worker records after each commit): the caller asserts on what it returns.
async fn encode_until(metrics: &Metrics, done: impl Fn(&str) -> bool) -> String {
    let mut text = metrics.encode().await.unwrap();
    for _ in 0..200 {
        if done(&text) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = metrics.encode().await.unwrap();
    }
    text
}

/// The value of the sample `name` (with its labels, as encoded) in OpenMetrics `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse::<f64>().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_counts_what_it_does() {
    let metrics = Metrics::new();
    let runtime = memory_runtime(&metrics, WorkerOptions::default()).await;
    let client = runtime.client();
    let chain = Chain::start(&client, 5).await.unwrap();
    assert_eq!(chain.wait_for_completion(WAIT).await.unwrap(), 5);
    let retrying = Retrying::start(&client, "metrics-retry".to_owned())
        .await
        .unwrap();
    assert_eq!(retrying.wait_for_completion(WAIT).await.unwrap(), 3);
    // The metrics are recorded after each commit: wait for the last ones.
    let mut text = metrics.encode().await.unwrap();
    for _ in 0..100 {
        // An activity's result is counted when its completion commits, which can come
        // after the instance it feeds has been seen to complete.
        if sample(&text, "durable_instances{status=\"Completed\"}") == 2.0
            && text.contains("durable_timers_fired_total 2")
            && sample(
                &text,
                "durable_work_items_committed_total{kind=\"activity\"}",
            ) == 8.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = metrics.encode().await.unwrap();
    }
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    assert_eq!(
        sample(
            &text,
            "durable_activity_duration_seconds_count{name=\"step\"}"
        ),
        5.0
    );
    assert_eq!(
        sample(
            &text,
            "durable_activity_duration_seconds_count{name=\"flaky\"}"
        ),
        3.0
    );
    assert_eq!(
        sample(&text, "durable_activity_failures_total{name=\"flaky\"}"),
        2.0
    );
    assert!(!text.contains("durable_activity_failures_total{name=\"step\"}"));
    assert_eq!(
        sample(&text, "durable_retries_total{kind=\"activity\"}"),
        2.0
    );
    assert_eq!(
        sample(&text, "durable_timers_fired_total"),
        2.0,
        "the retry waits"
    );
    assert_eq!(
        sample(&text, "durable_instances{status=\"Completed\"}"),
        2.0
    );
    assert_eq!(sample(&text, "durable_instances{status=\"Running\"}"), 0.0);
    // Every activity result was committed, and every turn: at least one per step.
    assert_eq!(
        sample(
            &text,
            "durable_work_items_committed_total{kind=\"activity\"}"
        ),
        8.0
    );
    assert!(
        sample(
            &text,
            "durable_work_items_committed_total{kind=\"orchestration\"}"
        ) >= 9.0
    );
    assert!(
        sample(
            &text,
            "durable_commit_duration_seconds_count{kind=\"orchestration\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "durable_commit_batch_size_count{kind=\"orchestration\"}"
        ) >= 1.0
    );
    assert!(sample(&text, "durable_turn_duration_seconds_count") >= 9.0);
    // Each instance's first turn replays nothing from the cache; later ones find it live.
    assert!(sample(&text, "durable_instance_cache_misses_total") >= 2.0);
    assert!(sample(&text, "durable_instance_cache_hits_total") >= 1.0);
    assert_eq!(sample(&text, "durable_instance_cache_evictions_total"), 0.0);
    // Both finished: their engines were taken for the last turn and never went back.
    assert_eq!(sample(&text, "durable_instance_cache_size"), 0.0, "{text}");
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cache_evicts_and_the_backlog_shows() {
    let metrics = Metrics::new();
    // Timers an hour away stay cached here, so the three parked instances fill it.
    let options = WorkerOptions::default()
        .cache_capacity(1)
        .max_cached_wait(Duration::from_secs(7200));
    let runtime = memory_runtime(&metrics, options).await;
    let client = runtime.client();
    let mut parked = Vec::new();
    for _ in 0..3 {
        parked.push(Parked::start(&client, ()).await.unwrap());
    }
    let waiting = Waits::start(&client, ()).await.unwrap();
    // All four have run their first turn and wait: three on timers, one for an event.
    let text = encode_until(&metrics, |text| {
        sample(text, "durable_instances{status=\"Running\"}") == 4.0
            && sample(text, "durable_timers_pending") == 3.0
    })
    .await;
    assert_eq!(sample(&text, "durable_instances{status=\"Running\"}"), 4.0);
    assert_eq!(
        sample(&text, "durable_timers_pending"),
        3.0,
        "three timers an hour away"
    );
    assert_eq!(sample(&text, "durable_backlog_due_messages"), 0.0);
    assert_eq!(sample(&text, "durable_instance_cache_size"), 1.0);
    assert!(
        sample(&text, "durable_instance_cache_evictions_total") >= 3.0,
        "a cache of one keeps only the last instance: {text}"
    );
    client
        .raise_event(waiting.instance_id(), "go", &1_u64)
        .await
        .unwrap();
    waiting.wait_for_completion(WAIT).await.unwrap();
    let text = metrics.encode().await.unwrap();
    assert_eq!(
        sample(&text, "durable_instances{status=\"Completed\"}"),
        1.0
    );
    assert_eq!(sample(&text, "durable_instances{status=\"Running\"}"), 3.0);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_only_runtime_shows_the_work_waiting() {
    let metrics = Metrics::new();
    let runtime = Runtime::builder()
        .in_memory()
        .client_only()
        .metrics(&metrics)
        .start()
        .await
        .unwrap();
    for _ in 0..5 {
        Chain::start(&runtime.client(), 1).await.unwrap();
    }
    let text = metrics.encode().await.unwrap();
    assert_eq!(sample(&text, "durable_instances{status=\"Pending\"}"), 5.0);
    assert_eq!(
        sample(&text, "durable_backlog_due_messages"),
        5.0,
        "five starts wait for a worker"
    );
    assert_eq!(sample(&text, "durable_backlog_queued_activities"), 0.0);
    assert!(
        !text.contains("durable_work_items_fetched_total{"),
        "no worker fetched anything"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_serves_them_and_a_registry_of_ones_own_holds_them() {
    let metrics = Metrics::new();
    let runtime = Runtime::builder()
        .sqlite(durable_tests::temp_dir("metrics").join("durable.db"))
        .registry(registry())
        .metrics(&metrics)
        .start()
        .await
        .unwrap();
    Chain::start(&runtime.client(), 2)
        .await
        .unwrap()
        .wait_for_completion(WAIT)
        .await
        .unwrap();
    let server = runtime
        .serve_http(
            durable_runtime::http::HttpOptions::default()
                .address("127.0.0.1:0".parse().unwrap())
                .key("secret"),
        )
        .await
        .unwrap();
    let url = format!("http://{}/metrics", server.local_addr());
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        401,
        "behind the API's key"
    );
    let response = http
        .get(&url)
        .header("x-functions-key", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        durable_runtime::metrics::CONTENT_TYPE
    );
    let text = response.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            "durable_activity_duration_seconds_count{name=\"step\"}"
        ),
        2.0
    );
    assert!(text.contains("# TYPE durable_activity_duration_seconds histogram"));
    server.shutdown().await;

    // The same metrics in an application's registry, beside its own.
    let mut registry = durable_runtime::metrics::prometheus_client::registry::Registry::default();
    let own =
        durable_runtime::metrics::prometheus_client::metrics::counter::Counter::<u64>::default();
    own.inc();
    registry.register("app_requests", "The application's own", own);
    metrics.register(&mut registry);
    metrics.refresh().await.unwrap();
    let mut text = String::new();
    durable_runtime::metrics::prometheus_client::encoding::text::encode(&mut text, &registry)
        .unwrap();
    assert_eq!(sample(&text, "app_requests_total"), 1.0);
    assert_eq!(
        sample(&text, "durable_instances{status=\"Completed\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "durable_activity_duration_seconds_count{name=\"step\"}"
        ),
        2.0
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn metrics_of_no_runtime_say_so() {
    let metrics = Metrics::new();
    assert!(matches!(
        metrics.encode().await,
        Err(MetricsError::NotStarted)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_parked_on_far_timers_leave_the_cache_and_replay_when_woken() {
    let metrics = Metrics::new();
    let runtime = memory_runtime(&metrics, WorkerOptions::default()).await;
    let client = runtime.client();
    // Two on a timer an hour away, two waiting for an event with an hour's timeout, one
    // waiting for an event alone: with the default `max_cached_wait` (30 s) only the last
    // is kept live.
    let mut parked = Vec::new();
    for _ in 0..2 {
        parked.push(Parked::start(&client, ()).await.unwrap());
    }
    let mut approvals = Vec::new();
    for _ in 0..2 {
        approvals.push(Approval::start(&client, ()).await.unwrap());
    }
    let waiting = Waits::start(&client, ()).await.unwrap();
    // The cache's size is recorded when an engine goes back, just after its commit.
    let text = encode_until(&metrics, |text| {
        sample(text, "durable_instances{status=\"Running\"}") == 5.0
            && sample(text, "durable_timers_pending") == 4.0
            && sample(text, "durable_instance_cache_size") >= 1.0
    })
    .await;
    assert_eq!(sample(&text, "durable_timers_pending"), 4.0, "{text}");
    assert_eq!(
        sample(&text, "durable_instance_cache_size"),
        1.0,
        "only the instance waiting for an event alone is cached: {text}"
    );
    assert_eq!(sample(&text, "durable_instance_cache_evictions_total"), 0.0);
    let misses = sample(&text, "durable_instance_cache_misses_total");

    // Woken by their events, the approvals are rebuilt from history and go on.
    for (value, approval) in approvals.iter().enumerate() {
        client
            .raise_event(approval.instance_id(), "go", &(value as u64 + 10))
            .await
            .unwrap();
    }
    for (value, approval) in approvals.iter().enumerate() {
        assert_eq!(
            approval.wait_for_completion(WAIT).await.unwrap(),
            value as u64 + 11
        );
    }
    client
        .raise_event(waiting.instance_id(), "go", &1_u64)
        .await
        .unwrap();
    assert_eq!(waiting.wait_for_completion(WAIT).await.unwrap(), 2);
    let text = metrics.encode().await.unwrap();
    assert!(
        sample(&text, "durable_instance_cache_misses_total") >= misses + 2.0,
        "each approval replayed its history when its event came: {text}"
    );
    runtime.shutdown().await;
}
