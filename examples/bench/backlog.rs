//! The backlog workloads W7, W8 and W9 of `shared/bench/WORKLOADS.md`, and W4 at 10,000
//! (W4x10): the same figures with tens of thousands to a million instances in the store, so
//! that no figure comes only from an empty store. `--scale` shrinks every count (CI runs
//! `--scale 0.1`).

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use durable_runtime::prelude::*;
use durable_runtime::store::{InstanceQuery, PurgeQuery};

use super::{Bench, BenchStore, Chain, OneStep, WAIT, peak_rss_mb, reset_peak_rss, run_many};

/// W8's first half: waits on a durable timer an hour away.
#[orchestrator]
async fn park_on_timer(ctx: OrchestrationContext, hours: u64) -> Result<u64, OrchestrationError> {
    ctx.create_timer(Duration::from_secs(hours * 3600)).await;
    Ok(hours)
}

/// W8's second half: the human-interaction pattern, an approval with a 72-hour timeout.
#[orchestrator]
async fn park_on_event(ctx: OrchestrationContext, value: u64) -> Result<u64, OrchestrationError> {
    let step: u64 = ctx
        .wait_for_external_event_with_timeout("approval", Duration::from_secs(72 * 3600))
        .await?;
    Ok(value + step)
}

/// `count` scaled by `--scale`, at least 10.
fn scaled(bench: &Bench, count: usize) -> usize {
    ((count as f64 * bench.args.scale).round() as usize).max(10)
}

/// Seconds per instance of a W4-shaped run of `count` instances on a fresh store.
async fn starts(bench: &mut Bench, label: &str, count: usize) -> anyhow::Result<f64> {
    let runtime = bench.runtime().await?;
    reset_peak_rss();
    let started = Instant::now();
    let outputs = run_many::<OneStep>(&runtime.client(), count, |i| i as u64).await?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        outputs.iter().enumerate().all(|(i, &o)| o == i as u64 + 1),
        "{label} produced a wrong output"
    );
    runtime.shutdown().await;
    Ok(wall)
}

/// W4 at 1,000 and at `count`, in one run: the per-instance cost ratio shows the growth.
pub(super) async fn many_starts(
    bench: &mut Bench,
    label: &str,
    count: usize,
) -> anyhow::Result<()> {
    // W4 at 1,000 takes about 0.15 s: the median of SIDE_RUNS fresh runs is the base.
    let mut bases = Vec::with_capacity(SIDE_RUNS);
    for _ in 0..SIDE_RUNS {
        bases.push(starts(bench, "W4", 1000).await? / 1000.0);
    }
    let base = median(&mut bases);
    let wall = starts(bench, label, count).await?;
    let per_instance = wall / count as f64;
    bench.result(
        label,
        &format!(
            "instances={count} wall_s={wall:.3} starts_per_s={:.0} per_instance_ms={:.4} w4_per_instance_ms={:.4} ratio_to_w4={:.2}",
            count as f64 / wall,
            per_instance * 1000.0,
            base * 1000.0,
            per_instance / base
        ),
    );
    Ok(())
}

pub(super) async fn w7(bench: &mut Bench) -> anyhow::Result<()> {
    let count = scaled(bench, 100_000);
    many_starts(bench, "W7", count).await
}

/// Median W1lat (ms) on `runtime`.
async fn w1lat_on(runtime: &Runtime, runs: usize) -> anyhow::Result<f64> {
    let mut latencies = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let output = Chain::start(&runtime.client(), 10)
            .await?
            .wait_for_completion(WAIT)
            .await?;
        anyhow::ensure!(output == 10, "W1lat produced a wrong output");
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(&mut latencies))
}

/// How many times W1 and W4 run beside a backlog (and on the empty store they are compared
/// with); the median counts. A single W1 takes about 0.1–0.15 s, short enough for one run
/// to be noise (on this 2-core machine, ±30 % from run to run).
const SIDE_RUNS: usize = 9;

/// W1's median wall seconds on `runtime` over [`SIDE_RUNS`] runs.
async fn w1_on(runtime: &Runtime) -> anyhow::Result<f64> {
    let mut walls = Vec::with_capacity(SIDE_RUNS);
    for _ in 0..SIDE_RUNS {
        let started = Instant::now();
        let outputs = run_many::<Chain>(&runtime.client(), 200, |_| 10).await?;
        anyhow::ensure!(
            outputs.iter().all(|&o| o == 10),
            "W1 produced a wrong output"
        );
        walls.push(started.elapsed().as_secs_f64());
    }
    Ok(median(&mut walls))
}

/// W4's median wall seconds on `runtime` over [`SIDE_RUNS`] runs.
async fn w4_on(runtime: &Runtime) -> anyhow::Result<f64> {
    let mut walls = Vec::with_capacity(SIDE_RUNS);
    for _ in 0..SIDE_RUNS {
        let started = Instant::now();
        let outputs = run_many::<OneStep>(&runtime.client(), 1000, |i| i as u64).await?;
        anyhow::ensure!(
            outputs.iter().enumerate().all(|(i, &o)| o == i as u64 + 1),
            "W4 produced a wrong output"
        );
        walls.push(started.elapsed().as_secs_f64());
    }
    Ok(median(&mut walls))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// CPU seconds (user + system) this process has used (Linux `/proc/self/stat`, in clock
/// ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident set size now, in MiB (Linux `VmRSS`).
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Waits until no instance is `Pending`: every one has run its first turn.
async fn until_none_pending(client: &DurableClient) -> anyhow::Result<()> {
    let query = InstanceQuery::default()
        .statuses(vec![RuntimeStatus::Pending])
        .page_size(1);
    while !client.list_instances(&query).await?.instances.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

pub(super) async fn w8(bench: &mut Bench) -> anyhow::Result<()> {
    let count = scaled(bench, 100_000);
    let (timers, events) = (count / 2, count - count / 2);
    let empty = bench.runtime().await?;
    let lat_empty = w1lat_on(&empty, 20).await?;
    let w1_empty = w1_on(&empty).await?;
    empty.shutdown().await;

    let runtime = bench.runtime().await?;
    let client = runtime.client();
    reset_peak_rss();
    let started = Instant::now();
    // Started as a client would feed them in: 1,000 start calls in flight at a time (each
    // in-flight call is a future in this process, and the figure that counts is the
    // worker's memory while parked, not a burst of the client's).
    for chunk in (0..timers).collect::<Vec<_>>().chunks(1000) {
        let starts = chunk
            .iter()
            .map(|_| ParkOnTimer::start(&client, 1).into_future());
        join_all(starts)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
    }
    let mut event_handles = Vec::with_capacity(events);
    for chunk in (0..events).collect::<Vec<_>>().chunks(1000) {
        let starts = chunk
            .iter()
            .map(|&i| ParkOnEvent::start(&client, i as u64).into_future());
        for handle in join_all(starts).await {
            event_handles.push(handle?);
        }
    }
    let started_s = started.elapsed().as_secs_f64();
    until_none_pending(&client).await?;
    let park_s = started.elapsed().as_secs_f64();

    // Parked: nothing is due; the worker should be asleep.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let window = (10.0 * bench.args.scale).clamp(2.0, 10.0);
    let cpu_before = cpu_seconds();
    tokio::time::sleep(Duration::from_secs_f64(window)).await;
    let idle_cpu_pct = (cpu_seconds() - cpu_before) / window * 100.0;
    let parked_rss = rss_mb();

    // Right after the burst of parking, then (PostgreSQL) once vacuumed, as a backlog
    // parked for days is: the ratios use the second.
    let lat_fresh = w1lat_on(&runtime, 20).await?;
    let lat = if bench.settle().await? {
        w1lat_on(&runtime, 20).await?
    } else {
        lat_fresh
    };
    let w1_wall = w1_on(&runtime).await?;

    let raised = Instant::now();
    let raises = event_handles
        .iter()
        .map(|h| client.raise_event(h.instance_id(), "approval", &1u64));
    join_all(raises)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let raise_calls_s = raised.elapsed().as_secs_f64();
    let results = join_all(event_handles.iter().map(|h| h.wait_for_completion(WAIT))).await;
    let raise_s = raised.elapsed().as_secs_f64();
    for (index, result) in results.into_iter().enumerate() {
        anyhow::ensure!(result? == index as u64 + 1, "W8 produced a wrong output");
    }
    bench.result(
        "W8",
        &format!(
            "parked={count} start_calls_s={started_s:.2} park_s={park_s:.2} parked_per_s={:.0} idle_cpu_pct={idle_cpu_pct:.2} parked_rss_mb={parked_rss:.1} \
             w1lat_fresh_ms={lat_fresh:.2} w1lat_ms={lat:.2} w1lat_empty_ms={lat_empty:.2} w1lat_ratio={:.2} w1_s={w1_wall:.3} w1_empty_s={w1_empty:.3} w1_ratio={:.2} \
             raise_calls_s={raise_calls_s:.3} raise_s={raise_s:.3} events_per_s={:.0}",
            count as f64 / park_s,
            lat / lat_empty,
            w1_wall / w1_empty,
            events as f64 / raise_s,
        ),
    );
    runtime.shutdown().await;
    Ok(())
}

/// The store's size on disk in MiB, where it has one (the SQLite file with its WAL).
fn store_size_mb(store: &BenchStore) -> Option<f64> {
    let BenchStore::Sqlite(path) = store else {
        return None;
    };
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    Some((size(path) + size(std::path::Path::new(&wal))) as f64 / (1024.0 * 1024.0))
}

/// Median latency in ms of `runs` calls of `call`.
async fn latency_ms<F, Fut, T>(runs: usize, mut call: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        call().await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median(&mut samples))
}

pub(super) async fn w9(bench: &mut Bench) -> anyhow::Result<()> {
    let count = scaled(bench, 1_000_000);
    let empty = bench.runtime().await?;
    let lat_empty = w1lat_on(&empty, 20).await?;
    let w1_empty = w1_on(&empty).await?;
    let w4_empty = w4_on(&empty).await?;
    empty.shutdown().await;

    // The template: one real W4 instance, copied `count` times through the store's schema.
    let store = bench.fresh_store();
    let runtime = bench.start(&store).await?;
    OneStep::start(&runtime.client(), 0)
        .instance_id(super::loader::TEMPLATE)
        .await?
        .wait_for_completion(WAIT)
        .await?;
    runtime.shutdown().await;
    let loaded = Instant::now();
    let first_created = super::loader::load(bench, &store, count).await?;
    let load_s = loaded.elapsed().as_secs_f64();

    let runtime = bench.start(&store).await?;
    let client = runtime.client();
    let size_before = store_size_mb(&store);
    let w1_loaded = w1_on(&runtime).await?;
    let w4_loaded = w4_on(&runtime).await?;

    // Listings: first pages, and pages half-way in (keyset tokens from the middle).
    let completed = InstanceQuery::default()
        .statuses(vec![RuntimeStatus::Completed])
        .page_size(100);
    let by_created = InstanceQuery::default()
        .created_from(first_created)
        .page_size(100);
    let half_way = client
        .get_status(&super::loader::instance_id(count / 2))
        .await?
        .ok_or_else(|| anyhow::anyhow!("W9: a loaded instance is missing"))?
        .created_time;
    let middle = InstanceQuery::default()
        .created_from(half_way)
        .page_size(100);
    let deep_token = client.list_instances(&middle).await?.continuation_token;
    anyhow::ensure!(deep_token.is_some(), "W9: no page half-way in");
    let page = |query: InstanceQuery| {
        let client = client.clone();
        move || {
            let (client, query) = (client.clone(), query.clone());
            async move {
                let page = client.list_instances(&query).await?;
                anyhow::ensure!(page.instances.len() == 100, "W9: a short page");
                Ok(())
            }
        }
    };
    let status_first = latency_ms(20, page(completed.clone())).await?;
    let status_deep = latency_ms(
        20,
        page(completed.clone().continuation_token(deep_token.clone())),
    )
    .await?;
    let created_first = latency_ms(20, page(by_created.clone())).await?;
    // A rare name: W1's `chain` instances (a few hundred) among the loaded million, first
    // page and the next one (`instances_by_name`; without it, a page reads every row).
    let rare = InstanceQuery::default().name("chain").page_size(100);
    let rare_token = client.list_instances(&rare).await?.continuation_token;
    anyhow::ensure!(rare_token.is_some(), "W9: fewer than 101 W1 instances");
    let name_first = latency_ms(20, page(rare.clone())).await?;
    let name_next = latency_ms(20, page(rare.continuation_token(rare_token))).await?;
    // A rare id prefix: 300 instances `rare-000`..`rare-299`, created after the load, so a
    // filter on the creation order would read every loaded row before them; the listing
    // reads the primary key's range of the prefix, in id order, first page and the next.
    let rare_ids = join_all((0..300).map(|i| {
        OneStep::start(&client, i)
            .instance_id(format!("rare-{i:03}"))
            .into_future()
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    join_all(rare_ids.iter().map(|h| h.wait_for_completion(WAIT)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let by_prefix = InstanceQuery::default()
        .instance_id_prefix("rare-")
        .page_size(100);
    let prefix_token = client.list_instances(&by_prefix).await?.continuation_token;
    anyhow::ensure!(
        prefix_token.is_some(),
        "W9: fewer than 101 `rare-` instances"
    );
    let prefix_first = latency_ms(20, page(by_prefix.clone())).await?;
    let prefix_next = latency_ms(20, page(by_prefix.continuation_token(prefix_token))).await?;
    // The task hub's counts by status (kept by the store) and backlog, as a dashboard or a
    // metrics scrape reads them.
    let stats = client.task_hub_stats().await?;
    anyhow::ensure!(
        stats.instances.get(RuntimeStatus::Completed) >= count as u64,
        "W9: the counts by status miss loaded instances"
    );
    let stats_read = latency_ms(20, || {
        let client = client.clone();
        async move { Ok(client.task_hub_stats().await?) }
    })
    .await?;
    let created_deep =
        latency_ms(20, page(by_created.continuation_token(deep_token.clone()))).await?;
    // The same pages, one instance and its history through the dashboard's API over HTTP
    // on loopback (a new connection per request, as the numbers include).
    let options = durable_runtime::http::HttpOptions::default().address("127.0.0.1:0".parse()?);
    let server =
        durable_runtime::http::HttpServer::start(runtime.http_router(&options), &options).await?;
    let address = server.local_addr();
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let token = deep_token
        .as_deref()
        .map(encode)
        .ok_or_else(|| anyhow::anyhow!("W9: no deep token"))?;
    let from = encode(&first_created.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let dash = |path: String| {
        move || {
            let path = path.clone();
            async move { dashboard_get(address, &path).await }
        }
    };
    let api = "/dashboard/api/instances";
    let dash_status_first =
        latency_ms(20, dash(format!("{api}?status=Completed&pageSize=100"))).await?;
    let dash_status_deep = latency_ms(
        20,
        dash(format!(
            "{api}?status=Completed&pageSize=100&continuation={token}"
        )),
    )
    .await?;
    let dash_created_first =
        latency_ms(20, dash(format!("{api}?createdFrom={from}&pageSize=100"))).await?;
    let dash_created_deep = latency_ms(
        20,
        dash(format!(
            "{api}?createdFrom={from}&pageSize=100&continuation={token}"
        )),
    )
    .await?;
    let probe = super::loader::instance_id(count / 3);
    let dash_instance = latency_ms(200, dash(format!("{api}/{probe}"))).await?;
    let dash_history = latency_ms(200, dash(format!("{api}/{probe}/history"))).await?;
    // The list page's other request (its counts by status), the overview, and a page by
    // orchestration name (every loaded instance has it, so the page fills at once).
    let dash_stats = latency_ms(200, dash("/dashboard/api/stats".to_owned())).await?;
    let dash_overview = latency_ms(200, dash("/dashboard/api/overview".to_owned())).await?;
    let dash_name_first = latency_ms(20, dash(format!("{api}?name=one_step&pageSize=100"))).await?;
    let dash_prefix_first =
        latency_ms(20, dash(format!("{api}?prefix=rare-&pageSize=100"))).await?;
    server.shutdown().await;

    let status_read = latency_ms(200, || {
        let (client, probe) = (client.clone(), probe.clone());
        async move {
            anyhow::ensure!(
                client.get_status(&probe).await?.is_some(),
                "W9: a loaded instance is missing"
            );
            Ok(())
        }
    })
    .await?;

    // Purge every completed instance created so far while W1lat runs beside it (its own
    // instances are newer, so the purge leaves them to their waiting clients).
    let marker = OneStep::start(&client, 0).await?;
    marker.wait_for_completion(WAIT).await?;
    let purge_to = marker.status().await?.created_time + chrono::Duration::microseconds(1);
    reset_peak_rss();
    let purge_started = Instant::now();
    let purge = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .purge_instances(
                    &PurgeQuery::default()
                        .statuses(vec![RuntimeStatus::Completed])
                        .created_to(purge_to),
                )
                .await
        }
    });
    let mut during = Vec::new();
    while !purge.is_finished() {
        let started = Instant::now();
        let output = Chain::start(&client, 10)
            .await?
            .wait_for_completion(WAIT)
            .await?;
        anyhow::ensure!(output == 10, "W1lat produced a wrong output");
        during.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let purged = purge.await??;
    let purge_s = purge_started.elapsed().as_secs_f64();
    let purge_rss = peak_rss_mb();
    let lat_during = if during.is_empty() {
        0.0
    } else {
        median(&mut during)
    };
    anyhow::ensure!(
        purged >= count,
        "W9: purged {purged} of {count} loaded instances"
    );
    let size_after = store_size_mb(&store);
    let w4_after = w4_on(&runtime).await?;
    let size_reused = store_size_mb(&store);
    let size = |s: Option<f64>| s.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1}"));
    bench.result(
        "W9",
        &format!(
            "instances={count} load_s={load_s:.1} w1_s={w1_loaded:.3} w1_empty_s={w1_empty:.3} w1_ratio={:.2} \
             w4_s={w4_loaded:.3} w4_empty_s={w4_empty:.3} w4_ratio={:.2} \
             list_status_first_ms={status_first:.2} list_status_deep_ms={status_deep:.2} \
             list_created_first_ms={created_first:.2} list_created_deep_ms={created_deep:.2} \
             list_name_rare_first_ms={name_first:.2} list_name_rare_next_ms={name_next:.2} \
             list_prefix_rare_first_ms={prefix_first:.2} list_prefix_rare_next_ms={prefix_next:.2} status_read_ms={status_read:.3} stats_read_ms={stats_read:.3} \
             dash_status_first_ms={dash_status_first:.2} dash_status_deep_ms={dash_status_deep:.2} \
             dash_created_first_ms={dash_created_first:.2} dash_created_deep_ms={dash_created_deep:.2} \
             dash_instance_ms={dash_instance:.2} dash_history_ms={dash_history:.2} \
             dash_stats_ms={dash_stats:.2} dash_overview_ms={dash_overview:.2} dash_name_first_ms={dash_name_first:.2} dash_prefix_first_ms={dash_prefix_first:.2} \
             purged={purged} purge_s={purge_s:.1} purge_per_s={:.0} purge_peak_rss_mb={purge_rss:.1} \
             w1lat_during_purge_ms={lat_during:.2} w1lat_empty_ms={lat_empty:.2} w1lat_purge_ratio={:.2} w1lat_samples={} \
             size_before_mb={} size_after_mb={} size_after_w4_mb={} w4_after_purge_s={w4_after:.3}",
            w1_loaded / w1_empty,
            w4_loaded / w4_empty,
            purged as f64 / purge_s,
            lat_during / lat_empty,
            during.len(),
            size(size_before),
            size(size_after),
            size(size_reused),
        ),
    );
    runtime.shutdown().await;
    Ok(())
}

/// One `GET path` to the dashboard at `address`; fails unless it answers 200 with a body.
async fn dashboard_get(address: std::net::SocketAddr, path: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    anyhow::ensure!(
        response.starts_with(b"HTTP/1.1 200") && response.len() > 200,
        "W9: the dashboard answered {path} with {}",
        String::from_utf8_lossy(&response[..response.len().min(300)])
    );
    Ok(())
}

/// W4 at 10,000 beside W4 at 1,000.
pub(super) async fn w4x10(bench: &mut Bench) -> anyhow::Result<()> {
    many_starts(bench, "W4x10", 10_000).await
}
