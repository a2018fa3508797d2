//! The benchmark workloads of `shared/bench/WORKLOADS.md` (W1, W1lat, W2, W3, W4, W5, W6,
//! the x10 scalings and the backlog workloads W7, W8, W9 in `backlog.rs`), printing one
//! `RESULT` line per workload and run.
//!
//! ```text
//! cargo run --release --example bench -- all --store sqlite --runs 3
//! cargo run --release --example bench -- W1 --store memory
//! cargo run --release --example bench -- W9 --store sqlite --scale 0.1
//! ```
//! Each run uses a fresh store (a new SQLite file under the system temp directory).
//! Activities are no-ops that return their input plus one.

use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use durable_runtime::prelude::*;
use durable_runtime::store::memory::MemoryStore;
use durable_runtime::store::sqlite::{Durability, SqliteOptions};

mod backlog;
mod loader;
#[cfg(feature = "otel")]
mod observe;

const WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    Sqlite,
    Memory,
    /// PostgreSQL at `--url` (default `$DURABLE_POSTGRES_URL`), a fresh task hub per run.
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityArg {
    /// `synchronous=FULL`: on disk when a commit returns (the default, and the figure that counts).
    Full,
    /// `synchronous=NORMAL`: survives a process crash only (report separately).
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(non_camel_case_types)]
enum Workload {
    All,
    W1,
    W1lat,
    W2,
    W2x10,
    W3,
    W3x10,
    W4,
    W5,
    W6,
    W4x10,
    W7,
    W8,
    W9,
}

#[derive(Debug, Parser)]
#[command(about = "Run durable's benchmark workloads and print RESULT lines")]
struct Args {
    /// Which workload to run (`all` runs W1, W1lat, W2, W3, W4, W5, W6, then W2x10, W3x10 and
    /// W4x10 unless `--quick`, then the backlog workloads W7, W8, W9 at `--scale`).
    #[arg(value_enum, ignore_case = true, default_value = "all")]
    workload: Workload,
    /// The store.
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreKind,
    /// SQLite durability.
    #[arg(long, value_enum, default_value = "full")]
    durability: DurabilityArg,
    /// The PostgreSQL URL for `--store postgres`.
    #[arg(long, env = "DURABLE_POSTGRES_URL")]
    url: Option<String>,
    /// Worker processes for `--store postgres`: this one plus `workers - 1` more, all on
    /// the run's task hub.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Internal: run only as an extra worker on this PostgreSQL task hub until killed.
    #[arg(long, hide = true)]
    serve_task_hub: Option<String>,
    /// How many times to run each workload.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Skip the x10 workloads (for a quick run, e.g. in CI).
    #[arg(long)]
    quick: bool,
    /// The worker's instance cache capacity (default: `WorkerOptions`' default).
    #[arg(long)]
    cache_capacity: Option<usize>,
    /// The longest durable-timer wait, in seconds, that keeps an instance in the worker's
    /// cache (default: `WorkerOptions`' default, 30 s; e.g. 1e9 keeps every parked instance
    /// cached, as before that option existed).
    #[arg(long)]
    max_cached_wait_s: Option<f64>,
    /// Orchestration work items per fetch and commit batch (default: `WorkerOptions`').
    #[arg(long)]
    batch_size: Option<usize>,
    /// Scales the instance counts of the backlog workloads W7, W8 and W9 (CI: 0.1).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Traces and metrics on (examples built with `--features otel`): spans through the
    /// SDK's batch processor to an exporter that counts them, every metric recorded.
    /// `--observe=traces` or `--observe=metrics` turns on only one of the two.
    #[cfg(feature = "otel")]
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "all")]
    observe: Option<observe::Observed>,
}

#[activity]
async fn increment(value: u64) -> u64 {
    value + 1
}

#[orchestrator]
async fn chain(ctx: OrchestrationContext, steps: u64) -> Result<u64, OrchestrationError> {
    let mut value = 0;
    for _ in 0..steps {
        value = ctx.call_activity(Increment, value).await?;
    }
    Ok(value)
}

#[orchestrator]
async fn fan_out(ctx: OrchestrationContext, count: u64) -> Result<u64, OrchestrationError> {
    let calls: Vec<_> = (0..count)
        .map(|i| ctx.call_activity(Increment, i))
        .collect();
    Ok(try_join_all(calls).await?.into_iter().sum())
}

#[orchestrator]
async fn wait_for_go(ctx: OrchestrationContext, value: u64) -> Result<u64, OrchestrationError> {
    let step: u64 = ctx.wait_for_external_event("go").await?;
    Ok(value + step)
}

#[orchestrator]
async fn one_step(ctx: OrchestrationContext, value: u64) -> Result<u64, OrchestrationError> {
    Ok(ctx.call_activity(Increment, value).await?)
}

/// Where a run's store lives.
enum BenchStore {
    Memory(Arc<MemoryStore>),
    Sqlite(PathBuf),
    /// A PostgreSQL task hub (schema) at `--url`.
    Postgres(String),
}

struct Bench {
    args: Args,
    temp: PathBuf,
    counter: usize,
    /// Extra worker processes of the current run (PostgreSQL).
    extra: Vec<std::process::Child>,
    /// Traces and metrics, with `--observe`.
    #[cfg(feature = "otel")]
    observe: Option<observe::Observe>,
}

fn postgres_options(task_hub: String) -> durable_runtime::store::postgres::PostgresOptions {
    durable_runtime::store::postgres::PostgresOptions::default().task_hub(task_hub)
}

impl Bench {
    fn store_label(&self) -> String {
        match (self.args.store, self.args.durability) {
            (StoreKind::Memory, _) => "memory".into(),
            (StoreKind::Sqlite, DurabilityArg::Full) => "sqlite".into(),
            (StoreKind::Sqlite, DurabilityArg::Normal) => "sqlite-normal".into(),
            (StoreKind::Postgres, _) => format!("postgres workers={}", self.args.workers),
        }
    }

    fn stop_extra_workers(&mut self) {
        for mut child in self.extra.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh runtime on a fresh store.
    async fn runtime(&mut self) -> anyhow::Result<Runtime> {
        let store = self.fresh_store();
        self.start(&store).await
    }

    /// Names a fresh store (a new SQLite file, PostgreSQL task hub or memory store).
    fn fresh_store(&mut self) -> BenchStore {
        self.counter += 1;
        match self.args.store {
            StoreKind::Memory => BenchStore::Memory(Arc::new(MemoryStore::new())),
            StoreKind::Postgres => {
                BenchStore::Postgres(format!("bench_{}_{}", std::process::id(), self.counter))
            }
            StoreKind::Sqlite => {
                BenchStore::Sqlite(self.temp.join(format!("bench-{}.db", self.counter)))
            }
        }
    }

    /// On PostgreSQL, runs what autovacuum does within a minute of a burst of writes
    /// (`VACUUM (ANALYZE)` of the current task hub's tables); elsewhere nothing. Right after
    /// a burst, every page it touched still holds dead row versions that the next reads
    /// prune (writing WAL inside their transactions, so their commits wait longer); a
    /// backlog parked for days has long been vacuumed. Returns whether it ran.
    async fn settle(&self) -> anyhow::Result<bool> {
        if self.args.store != StoreKind::Postgres {
            return Ok(false);
        }
        let hub = format!("bench_{}_{}", std::process::id(), self.counter);
        let (client, connection) =
            tokio_postgres::connect(&self.postgres_url()?, tokio_postgres::NoTls).await?;
        let connection = tokio::spawn(connection);
        let tables = client
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1",
                &[&hub],
            )
            .await?;
        for row in tables {
            let table: String = row.get(0);
            client
                .batch_execute(&format!("VACUUM (ANALYZE) \"{hub}\".\"{table}\""))
                .await?;
        }
        drop(client);
        let _ = connection.await;
        Ok(true)
    }

    fn postgres_url(&self) -> anyhow::Result<String> {
        self.args.url.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "--store postgres needs --url or DURABLE_POSTGRES_URL (scripts/postgres.sh start)"
            )
        })
    }

    /// Starts a runtime (and, on PostgreSQL, the extra workers) on `store`.
    async fn start(&mut self, store: &BenchStore) -> anyhow::Result<Runtime> {
        self.stop_extra_workers();
        let mut builder = Runtime::builder();
        #[cfg(feature = "otel")]
        if let Some(observe) = &self.observe {
            builder = observe.apply(builder);
        }
        if let Some(capacity) = self.args.cache_capacity {
            builder = builder.cache_capacity(capacity);
        }
        if let Some(seconds) = self.args.max_cached_wait_s {
            builder = builder.max_cached_wait(Duration::from_secs_f64(seconds));
        }
        if let Some(size) = self.args.batch_size {
            builder = builder.orchestration_batch_size(size);
        }
        let builder = match store {
            BenchStore::Memory(store) => builder.store(store.clone()),
            BenchStore::Postgres(hub) => {
                let url = self.postgres_url()?;
                let runtime = builder
                    .postgres_with(&url, postgres_options(hub.clone()))
                    .start()
                    .await?;
                for _ in 1..self.args.workers.max(1) {
                    let child = std::process::Command::new(std::env::current_exe()?)
                        .args([
                            "--store",
                            "postgres",
                            "--url",
                            &url,
                            "--serve-task-hub",
                            hub,
                        ])
                        .stdout(std::process::Stdio::null())
                        .spawn()?;
                    self.extra.push(child);
                }
                return Ok(runtime);
            }
            BenchStore::Sqlite(path) => {
                let durability = match self.args.durability {
                    DurabilityArg::Full => Durability::Full,
                    DurabilityArg::Normal => Durability::Normal,
                };
                builder.sqlite_with(path, SqliteOptions::default().durability(durability))
            }
        };
        Ok(builder.start().await?)
    }

    fn result(&self, workload: &str, fields: &str) {
        #[cfg(feature = "otel")]
        let fields = match &self.observe {
            Some(observe) => format!("{fields} {}", observe.fields()),
            None => fields.to_owned(),
        };
        println!(
            "RESULT system=durable store={} workload={workload} {fields} peak_rss_mb={:.1}",
            self.store_label(),
            peak_rss_mb()
        );
    }
}

/// Peak resident set size of this process, in MiB (Linux `VmHWM`).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the peak RSS so each workload reports its own (Linux `clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn run_many<O>(
    client: &DurableClient,
    count: usize,
    input: impl Fn(usize) -> O::Input,
) -> anyhow::Result<Vec<O::Output>>
where
    O: Orchestration + Default,
{
    // Started all at once, as the workloads say: concurrent starts share commits.
    let starts = (0..count).map(|index| {
        client
            .start_orchestration(O::default(), input(index))
            .into_future()
    });
    let handles = join_all(starts)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let results = join_all(handles.iter().map(|h| h.wait_for_completion(WAIT))).await;
    results
        .into_iter()
        .map(|r| r.map_err(anyhow::Error::from))
        .collect()
}

async fn w1(bench: &mut Bench) -> anyhow::Result<()> {
    let runtime = bench.runtime().await?;
    reset_peak_rss();
    let started = Instant::now();
    let outputs = run_many::<Chain>(&runtime.client(), 200, |_| 10).await?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        outputs.iter().all(|&o| o == 10),
        "W1 produced a wrong output"
    );
    bench.result(
        "W1",
        &format!(
            "wall_s={wall:.3} orch_per_s={:.1} acts_per_s={:.0}",
            200.0 / wall,
            2000.0 / wall
        ),
    );
    runtime.shutdown().await;
    Ok(())
}

async fn w1lat(bench: &mut Bench) -> anyhow::Result<()> {
    let runtime = bench.runtime().await?;
    reset_peak_rss();
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let output = Chain::start(&runtime.client(), 10)
            .await?
            .wait_for_completion(WAIT)
            .await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(output == 10, "W1lat produced a wrong output");
    }
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    bench.result(
        "W1lat",
        &format!("median_ms={median:.2} step_ms={:.3}", median / 10.0),
    );
    runtime.shutdown().await;
    Ok(())
}

async fn fan(bench: &mut Bench, label: &str, count: u64) -> anyhow::Result<()> {
    let runtime = bench.runtime().await?;
    reset_peak_rss();
    let started = Instant::now();
    let sum = FanOut::start(&runtime.client(), count)
        .await?
        .wait_for_completion(WAIT)
        .await?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        sum == (1..=count).sum::<u64>(),
        "{label} produced a wrong sum"
    );
    bench.result(
        label,
        &format!("wall_s={wall:.3} acts_per_s={:.0}", count as f64 / wall),
    );
    runtime.shutdown().await;
    Ok(())
}

async fn sequence(bench: &mut Bench, label: &str, steps: u64) -> anyhow::Result<()> {
    let runtime = bench.runtime().await?;
    reset_peak_rss();
    let started = Instant::now();
    let value = Chain::start(&runtime.client(), steps)
        .await?
        .wait_for_completion(WAIT)
        .await?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(value == steps, "{label} produced a wrong output");
    bench.result(
        label,
        &format!("wall_s={wall:.3} acts_per_s={:.0}", steps as f64 / wall),
    );
    runtime.shutdown().await;
    Ok(())
}

async fn w4(bench: &mut Bench) -> anyhow::Result<()> {
    let runtime = bench.runtime().await?;
    reset_peak_rss();
    let started = Instant::now();
    let outputs = run_many::<OneStep>(&runtime.client(), 1000, |i| i as u64).await?;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        outputs.iter().enumerate().all(|(i, &o)| o == i as u64 + 1),
        "W4 produced a wrong output"
    );
    bench.result(
        "W4",
        &format!("wall_s={wall:.3} orch_per_s={:.1}", 1000.0 / wall),
    );
    runtime.shutdown().await;
    Ok(())
}

/// The W5 counter entity.
#[derive(Debug, Default, Serialize, Deserialize)]
struct BenchCounter {
    value: u64,
}

#[entity(name = "counter")]
impl BenchCounter {
    fn add(&mut self, amount: u64) {
        self.value += amount;
    }
}

async fn w5(bench: &mut Bench) -> anyhow::Result<()> {
    const SIGNALS: u64 = 10_000;
    let runtime = bench.runtime().await?;
    let client = runtime.client();
    reset_peak_rss();
    let started = Instant::now();
    // Sent all at once, as W6 raises its events: concurrent signals share commits.
    let signals = (0..SIGNALS).map(|_| BenchCounter::signal(&client, "w5").add(1));
    join_all(signals)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    loop {
        let value = BenchCounter::read(&client, "w5").await?.map(|c| c.value);
        anyhow::ensure!(value <= Some(SIGNALS), "W5 counted too much: {value:?}");
        if value == Some(SIGNALS) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    bench.result(
        "W5",
        &format!("wall_s={wall:.3} ops_per_s={:.0}", SIGNALS as f64 / wall),
    );
    runtime.shutdown().await;
    Ok(())
}

async fn w6(bench: &mut Bench) -> anyhow::Result<()> {
    let runtime = bench.runtime().await?;
    let client = runtime.client();
    let mut handles = Vec::with_capacity(1000);
    for index in 0..1000u64 {
        handles.push(WaitForGo::start(&client, index).await?);
    }
    // Wait until every instance has run its first turn and is waiting for its event.
    loop {
        let running = client
            .list_instances(
                &durable_runtime::store::InstanceQuery::default()
                    .statuses(vec![RuntimeStatus::Running])
                    .page_size(1000),
            )
            .await?;
        if running.instances.len() == 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    reset_peak_rss();
    let started = Instant::now();
    let raises = handles
        .iter()
        .map(|h| client.raise_event(h.instance_id(), "go", &1u64));
    join_all(raises)
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let results = join_all(handles.iter().map(|h| h.wait_for_completion(WAIT))).await;
    let wall = started.elapsed().as_secs_f64();
    for (index, result) in results.into_iter().enumerate() {
        anyhow::ensure!(result? == index as u64 + 1, "W6 produced a wrong output");
    }
    bench.result(
        "W6",
        &format!("wall_s={wall:.3} events_per_s={:.0}", 1000.0 / wall),
    );
    runtime.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let temp = std::env::temp_dir().join(format!("durable-bench-{}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let workloads = match args.workload {
        Workload::All if args.quick => vec![
            Workload::W1,
            Workload::W1lat,
            Workload::W2,
            Workload::W3,
            Workload::W4,
            Workload::W5,
            Workload::W6,
            Workload::W7,
            Workload::W8,
            Workload::W9,
        ],
        Workload::All => vec![
            Workload::W1,
            Workload::W1lat,
            Workload::W2,
            Workload::W3,
            Workload::W4,
            Workload::W5,
            Workload::W6,
            Workload::W2x10,
            Workload::W3x10,
            Workload::W4x10,
            Workload::W7,
            Workload::W8,
            Workload::W9,
        ],
        one => vec![one],
    };
    if let Some(hub) = &args.serve_task_hub {
        // An extra worker for a PostgreSQL run: work until the parent kills us.
        let url = args.url.clone().unwrap_or_default();
        let _runtime = Runtime::builder()
            .postgres_with(&url, postgres_options(hub.clone()))
            .start()
            .await?;
        std::future::pending::<()>().await;
    }
    let runs = args.runs.max(1);
    let mut bench = Bench {
        #[cfg(feature = "otel")]
        observe: args.observe.map(observe::Observe::new),
        args,
        temp: temp.clone(),
        counter: 0,
        extra: Vec::new(),
    };
    for workload in workloads {
        for _ in 0..runs {
            match workload {
                Workload::W1 => w1(&mut bench).await?,
                Workload::W1lat => w1lat(&mut bench).await?,
                Workload::W2 => fan(&mut bench, "W2", 1_000).await?,
                Workload::W2x10 => fan(&mut bench, "W2x10", 10_000).await?,
                Workload::W3 => sequence(&mut bench, "W3", 1_000).await?,
                Workload::W3x10 => sequence(&mut bench, "W3x10", 10_000).await?,
                Workload::W4 => w4(&mut bench).await?,
                Workload::W5 => w5(&mut bench).await?,
                Workload::W6 => w6(&mut bench).await?,
                Workload::W4x10 => backlog::w4x10(&mut bench).await?,
                Workload::W7 => backlog::w7(&mut bench).await?,
                Workload::W8 => backlog::w8(&mut bench).await?,
                Workload::W9 => backlog::w9(&mut bench).await?,
                Workload::All => unreachable!("expanded above"),
            }
        }
    }
    bench.stop_extra_workers();
    #[cfg(feature = "otel")]
    if let Some(observe) = &bench.observe {
        let (spans, scrape) = observe.finish().await;
        println!("OBSERVE spans_exported={spans} scrape_bytes={scrape}");
    }
    let _ = std::fs::remove_dir_all(&temp);
    Ok(())
}
