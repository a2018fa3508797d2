// A fifth held-out batch of violations (see README.md), written before the walker was
// changed for it and before running the checks on it. The bodies transplant what public
// async backend code does into orchestrators: retry helpers with jitter (`tokio_retry`'s
// `ExponentialBackoff::from_millis(..).map(jitter)`, `backoff::future::retry`), rate
// limiters (`governor`'s `until_ready`), Prometheus-style timing (`Instant` then
// `.elapsed()`, `SystemTime::elapsed`), snowflake / ulid / token generators, feature-flag
// bucketing with a hasher, `config::Environment::with_prefix`, worker pools and fan-outs
// (`rayon::join`, `par_chunks`, `task::Builder`), job-queue polling loops
// (`'poll: loop { .. continue 'poll; }`), graceful-shutdown `select!`s, caches and
// registries in statics (`Once`, `OnceLock`, `ArcSwap`, moka, thread locals), filesystem
// walks and probes (`walkdir`, `glob`, `Path::exists`), and maps that come from the input,
// an activity, a fold or `itertools`. Each body breaks replay exactly once. Statics named
// in a body are declared at module level in the code they imitate (not shown: the walker
// sees only the body), unless the body declares them.

/// kind: path_form; rule: wall_clock
async fn default_deadline_fn_value(ctx: OrchestrationContext, req: Quote) -> Result<(), OrchestrationError> {
    use chrono::Utc;
    let requested = req.requested_at.unwrap_or_else(Utc::now);
    ctx.call_activity(PriceQuote, (req.id, requested)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn clock_fn_pointer(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let clock: fn() -> SystemTime = SystemTime::now;
    let started = clock().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    ctx.call_activity(RunJob, (job, started)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn ufcs_elapsed_on_input(ctx: OrchestrationContext, job: QueuedJob) -> Result<(), OrchestrationError> {
    use std::time::SystemTime;
    let waited = SystemTime::elapsed(&job.submitted_at).unwrap_or_default();
    if waited.as_secs() > job.sla_secs {
        ctx.call_activity(EscalateSla, job.id).await?;
    }
    ctx.call_activity(RunQueuedJob, job).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn group_self_alias(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    use std::time::{self as stdtime, Duration};
    let stamp = stdtime::SystemTime::now()
        .duration_since(stdtime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64;
    ctx.call_activity(StoreReport, (report, stamp)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn nested_impl_clock(ctx: OrchestrationContext, batch: Batch) -> Result<(), OrchestrationError> {
    struct Stamp;
    impl Stamp {
        fn unix() -> u64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        }
    }
    let key = format!("batch-{}-{}", batch.id, Stamp::unix());
    ctx.call_activity(ExportBatch, (key, batch)).await?;
    Ok(())
}

/// kind: table; rule: wall_clock
async fn chrono_offset_module(ctx: OrchestrationContext, invoice: Invoice) -> Result<(), OrchestrationError> {
    let issued = chrono::offset::Utc::now().date_naive();
    let due = issued + chrono::Days::new(invoice.net_days as u64);
    ctx.call_activity(SendInvoice, (invoice, due)).await?;
    Ok(())
}

/// kind: table; rule: wall_clock
async fn jiff_zoned_business_hours(ctx: OrchestrationContext, ticket: Ticket) -> Result<(), OrchestrationError> {
    let now = jiff::Zoned::now().in_tz("Europe/Berlin")?;
    if now.hour() >= 9 && now.hour() < 18 {
        ctx.call_activity(PageOnCall, ticket.id).await?;
    } else {
        ctx.call_activity(QueueForMorning, ticket.id).await?;
    }
    Ok(())
}

/// kind: macro; rule: wall_clock
async fn body_macro_stamp(ctx: OrchestrationContext, doc: Document) -> Result<(), OrchestrationError> {
    macro_rules! stamp {
        () => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
    }
    let version = stamp!();
    ctx.call_activity(SaveRevision, (doc, version)).await?;
    Ok(())
}

/// kind: table; rule: wall_clock
async fn quanta_timing(ctx: OrchestrationContext, query: Query) -> Result<(), OrchestrationError> {
    let clock = quanta::Clock::new();
    let start = clock.raw();
    let rows = ctx.call_activity(RunQuery, query.clone()).await?;
    let took = clock.delta(start, clock.raw());
    if took.as_millis() > 500 {
        ctx.call_activity(LogSlowQuery, (query, took.as_millis() as u64)).await?;
    }
    ctx.call_activity(Publish, rows).await?;
    Ok(())
}

/// kind: missing_source; rule: wall_clock
async fn snowflake_order_id(ctx: OrchestrationContext, cart: Cart) -> Result<(), OrchestrationError> {
    let mut ids = snowflake::SnowflakeIdGenerator::new(1, 7);
    let order_id = ids.real_time_generate();
    ctx.call_activity(CreateOrder, (order_id, cart)).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn alphanumeric_share_token(ctx: OrchestrationContext, file: SharedFile) -> Result<(), OrchestrationError> {
    use rand::{distributions::Alphanumeric, Rng};
    let token: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    ctx.call_activity(CreateShareLink, (file.id, token)).await?;
    Ok(())
}

/// kind: method_call; rule: randomness
async fn small_rng_from_entropy(ctx: OrchestrationContext, attempt: u32) -> Result<(), OrchestrationError> {
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    let mut rng = SmallRng::from_entropy();
    let factor: f64 = rng.gen();
    let delay = std::time::Duration::from_millis((1000.0 * 2f64.powi(attempt as i32) * factor) as u64);
    ctx.create_timer(delay).await;
    ctx.call_activity(Reconnect, attempt).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn tokio_retry_jitter_schedule(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    use tokio_retry::strategy::{jitter, ExponentialBackoff};
    let delays: Vec<std::time::Duration> = ExponentialBackoff::from_millis(200).map(jitter).take(4).collect();
    for delay in delays {
        if ctx.call_activity(DeliverWebhook, hook.clone()).await.is_ok() {
            return Ok(());
        }
        ctx.create_timer(delay).await;
    }
    ctx.call_activity(DeadLetter, hook).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn rollout_bucket_random_state(ctx: OrchestrationContext, user: User) -> Result<(), OrchestrationError> {
    use std::hash::BuildHasher;
    let bucket = std::collections::hash_map::RandomState::new().hash_one(&user.id) % 100;
    if bucket < 10 {
        ctx.call_activity(NewCheckoutFlow, user).await?;
    } else {
        ctx.call_activity(CheckoutFlow, user).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn ahash_shard_pick(ctx: OrchestrationContext, event: Event) -> Result<(), OrchestrationError> {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = ahash::RandomState::new().build_hasher();
    event.key.hash(&mut hasher);
    let shard = hasher.finish() % 16;
    ctx.call_activity(AppendToShard, (shard, event)).await?;
    Ok(())
}

/// kind: method_call; rule: randomness
async fn ulid_generator_value(ctx: OrchestrationContext, msg: Message) -> Result<(), OrchestrationError> {
    let mut gen = ulid::Generator::new();
    let id = gen.generate().map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(Enqueue, (id.to_string(), msg)).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn getrandom_nonce(ctx: OrchestrationContext, payment: Payment) -> Result<(), OrchestrationError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(EncryptCard, (payment, nonce)).await?;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn fastrand_crate_alias(ctx: OrchestrationContext, replicas: Vec<String>) -> Result<(), OrchestrationError> {
    use fastrand as fr;
    let target = replicas[fr::usize(..replicas.len())].clone();
    ctx.call_activity(RebuildIndex, target).await?;
    Ok(())
}

/// kind: macro; rule: randomness
async fn canary_in_matches(ctx: OrchestrationContext, deploy: Deploy) -> Result<(), OrchestrationError> {
    if matches!(rand::random::<u8>() % 10, 0..=1) {
        ctx.call_activity(DeployCanary, deploy).await?;
    } else {
        ctx.call_activity(DeployStable, deploy).await?;
    }
    Ok(())
}

/// kind: method_call; rule: randomness
async fn seeded_or_entropy_fallback(ctx: OrchestrationContext, input: Sample) -> Result<(), OrchestrationError> {
    use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
    let mut rng = input.seed.map(StdRng::seed_from_u64).unwrap_or_else(StdRng::from_entropy);
    let reviewers: Vec<String> = input.pool.choose_multiple(&mut rng, 2).cloned().collect();
    ctx.call_activity(RequestReview, (input.pr, reviewers)).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn pointer_as_lock_owner(ctx: OrchestrationContext, lease: Lease) -> Result<(), OrchestrationError> {
    let owner = format!("owner-{:p}", &lease);
    ctx.call_activity(AcquireLease, (lease.name.clone(), owner)).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn governor_rate_limited_sends(ctx: OrchestrationContext, batch: Vec<Sms>) -> Result<(), OrchestrationError> {
    use governor::{Quota, RateLimiter};
    let limiter = RateLimiter::direct(Quota::per_second(std::num::NonZeroU32::new(5).unwrap()));
    for sms in batch {
        limiter.until_ready().await;
        ctx.call_activity(SendSms, sms).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn backoff_crate_retry(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let receipt = backoff::future::retry(backoff::ExponentialBackoff::default(), || async {
        ctx.call_activity(ChargeCard, order.clone()).await.map_err(backoff::Error::transient)
    })
    .await?;
    ctx.call_activity(EmailReceipt, receipt).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn tokio_retry_spawn(ctx: OrchestrationContext, id: u64) -> Result<(), OrchestrationError> {
    use tokio_retry::{strategy::FixedInterval, Retry};
    let profile = Retry::spawn(FixedInterval::from_millis(500).take(3), || ctx.call_activity(FetchProfile, id)).await?;
    ctx.call_activity(IndexProfile, profile).await?;
    Ok(())
}

/// kind: path_form; rule: sleep
async fn approval_with_tokio_timeout(ctx: OrchestrationContext, req: Approval) -> Result<(), OrchestrationError> {
    use tokio::time::{timeout, Duration};
    match timeout(Duration::from_secs(3600), ctx.wait_for_external_event::<bool>("approved")).await {
        Ok(Ok(true)) => ctx.call_activity(Provision, req).await?,
        _ => ctx.call_activity(Reject, req).await?,
    };
    Ok(())
}

/// kind: table; rule: sleep
async fn interval_poll_status(ctx: OrchestrationContext, export: ExportId) -> Result<(), OrchestrationError> {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    for _ in 0..20 {
        tick.tick().await;
        if ctx.call_activity(ExportReady, export.clone()).await? {
            break;
        }
    }
    ctx.call_activity(DownloadExport, export).await?;
    Ok(())
}

/// kind: path_form; rule: sleep
async fn thread_self_import_sleep(ctx: OrchestrationContext, attempt: u32) -> Result<(), OrchestrationError> {
    use std::thread::{self};
    thread::sleep(std::time::Duration::from_millis(250 * attempt as u64));
    ctx.call_activity(RetryUpload, attempt).await?;
    Ok(())
}

/// kind: table; rule: sleep
async fn async_io_timer_after(ctx: OrchestrationContext, device: Device) -> Result<(), OrchestrationError> {
    ctx.call_activity(Reboot, device.clone()).await?;
    async_io::Timer::after(std::time::Duration::from_secs(20)).await;
    ctx.call_activity(HealthCheck, device).await?;
    Ok(())
}

/// kind: table; rule: sleep
async fn sleep_inside_stream_then(ctx: OrchestrationContext, pages: Vec<Page>) -> Result<(), OrchestrationError> {
    use futures::StreamExt;
    let done: Vec<_> = futures::stream::iter(pages)
        .then(|page| async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            ctx.call_activity(Crawl, page).await
        })
        .collect()
        .await;
    ctx.call_activity(Summarise, done.len()).await?;
    Ok(())
}

/// kind: table; rule: spawn
async fn spawn_blocking_digest(ctx: OrchestrationContext, blob: Vec<u8>) -> Result<(), OrchestrationError> {
    let digest = tokio::task::spawn_blocking(move || sha256_hex(&blob))
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(StoreDigest, digest).await?;
    Ok(())
}

/// kind: method_call; rule: spawn
async fn named_task_builder(ctx: OrchestrationContext, upload: Upload) -> Result<(), OrchestrationError> {
    let handle = tokio::task::Builder::new()
        .name("thumbnail")
        .spawn(make_thumbnail(upload.clone()))
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let thumb = handle.await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(SaveThumbnail, (upload.id, thumb)).await?;
    Ok(())
}

/// kind: table; rule: spawn
async fn rayon_join_scores(ctx: OrchestrationContext, pair: Pair) -> Result<(), OrchestrationError> {
    let (left, right) = rayon::join(|| score(&pair.left), || score(&pair.right));
    let winner = if left >= right { pair.left } else { pair.right };
    ctx.call_activity(Promote, winner).await?;
    Ok(())
}

/// kind: method_call; rule: spawn
async fn par_chunks_normalise(ctx: OrchestrationContext, rows: Vec<Row>) -> Result<(), OrchestrationError> {
    use rayon::prelude::*;
    let cleaned: Vec<Row> = rows.par_chunks(500).flat_map_iter(|c| normalise(c)).collect();
    ctx.call_activity(LoadWarehouse, cleaned).await?;
    Ok(())
}

/// kind: path_form; rule: spawn
async fn imported_block_on(ctx: OrchestrationContext, tenant: Tenant) -> Result<(), OrchestrationError> {
    use futures::executor::block_on;
    let defaults = block_on(load_defaults(&tenant.plan));
    ctx.call_activity(ApplyDefaults, (tenant.id, defaults)).await?;
    Ok(())
}

/// kind: table; rule: spawn
async fn thread_per_shard(ctx: OrchestrationContext, shards: Vec<Shard>) -> Result<(), OrchestrationError> {
    let handles: Vec<_> = shards.into_iter().map(|s| std::thread::spawn(move || compact(s))).collect();
    let sizes: Vec<u64> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    ctx.call_activity(RecordCompaction, sizes).await?;
    Ok(())
}

/// kind: table; rule: spawn
async fn futures_thread_pool(ctx: OrchestrationContext, mail: Mail) -> Result<(), OrchestrationError> {
    let pool = futures::executor::ThreadPool::new().map_err(|e| OrchestrationError::new(e.to_string()))?;
    pool.spawn_ok(render_preview(mail.clone()));
    ctx.call_activity(SendMail, mail).await?;
    Ok(())
}

/// kind: method_call; rule: spawn
async fn handle_try_current_spawn(ctx: OrchestrationContext, audit: AuditEvent) -> Result<(), OrchestrationError> {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(flush_audit_buffer());
    }
    ctx.call_activity(WriteAudit, audit).await?;
    Ok(())
}

/// kind: table; rule: env
async fn chunk_by_parallelism(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(4);
    let size = items.len().div_ceil(workers).max(1);
    let calls: Vec<_> = items.chunks(size).map(|c| ctx.call_activity(ProcessChunk, c.to_vec())).collect();
    futures::future::try_join_all(calls).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn config_crate_environment(ctx: OrchestrationContext, signup: Signup) -> Result<(), OrchestrationError> {
    let settings = config::Config::builder()
        .add_source(config::Environment::with_prefix("APP").separator("__"))
        .build()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let welcome: bool = settings.get_bool("mail.welcome").unwrap_or(true);
    if welcome {
        ctx.call_activity(SendWelcome, signup.email.clone()).await?;
    }
    ctx.call_activity(CreateAccount, signup).await?;
    Ok(())
}

/// kind: table; rule: env
async fn export_under_current_dir(ctx: OrchestrationContext, export: Export) -> Result<(), OrchestrationError> {
    let base = std::env::current_dir().map_err(|e| OrchestrationError::new(e.to_string()))?;
    let target = base.join("exports").join(format!("{}.csv", export.id));
    ctx.call_activity(WriteExport, (export, target)).await?;
    Ok(())
}

/// kind: table; rule: env
async fn sysinfo_batch_size(ctx: OrchestrationContext, job: Reindex) -> Result<(), OrchestrationError> {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    let batch = if sys.available_memory() > 8 << 30 { 10_000 } else { 1_000 };
    ctx.call_activity(ReindexBatch, (job, batch)).await?;
    Ok(())
}

/// kind: path_form; rule: env
async fn env_var_error_match(ctx: OrchestrationContext, run: Run) -> Result<(), OrchestrationError> {
    use std::env::{self, VarError};
    let mode = match env::var("PIPELINE_MODE") {
        Ok(m) => m,
        Err(VarError::NotPresent) => "full".to_owned(),
        Err(VarError::NotUnicode(_)) => return Err(OrchestrationError::new("bad mode")),
    };
    ctx.call_activity(RunPipeline, (run, mode)).await?;
    Ok(())
}

/// kind: macro; rule: env
async fn slots_per_cpu(ctx: OrchestrationContext, jobs: Vec<Job>) -> Result<(), OrchestrationError> {
    let slots = vec![Vec::<Job>::new(); num_cpus::get()];
    let plan = assign_round_robin(slots, jobs);
    for slot in plan {
        ctx.call_activity(RunSlot, slot).await?;
    }
    Ok(())
}

/// kind: table; rule: env
async fn pid_in_lease_owner(ctx: OrchestrationContext, lease: Lease) -> Result<(), OrchestrationError> {
    let owner = format!("worker-{}", std::process::id());
    ctx.call_activity(AcquireLease, (lease.name, owner)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn marker_file_exists(ctx: OrchestrationContext, import: Import) -> Result<(), OrchestrationError> {
    if std::path::Path::new(&import.done_marker).exists() {
        return Ok(());
    }
    ctx.call_activity(RunImport, import).await?;
    Ok(())
}

/// kind: method_call; rule: io
async fn inbox_read_dir(ctx: OrchestrationContext, inbox: Inbox) -> Result<(), OrchestrationError> {
    let dir = std::path::PathBuf::from(&inbox.path);
    let entries = dir.read_dir().map_err(|e| OrchestrationError::new(e.to_string()))?;
    for entry in entries.flatten() {
        ctx.call_activity(IngestFile, entry.path()).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn tokio_process_dump(ctx: OrchestrationContext, db: Database) -> Result<(), OrchestrationError> {
    let status = tokio::process::Command::new("pg_dump")
        .arg(&db.name)
        .arg("--file")
        .arg(&db.dump_path)
        .status()
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    if status.success() {
        ctx.call_activity(UploadDump, db).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn walkdir_upload(ctx: OrchestrationContext, site: Site) -> Result<(), OrchestrationError> {
    for entry in walkdir::WalkDir::new(&site.root).into_iter().filter_map(Result::ok) {
        if entry.file_type().is_file() {
            ctx.call_activity(UploadAsset, entry.path().to_path_buf()).await?;
        }
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn glob_csv_files(ctx: OrchestrationContext, dir: String) -> Result<(), OrchestrationError> {
    let files: Vec<_> = glob::glob(&format!("{dir}/*.csv"))
        .map_err(|e| OrchestrationError::new(e.to_string()))?
        .flatten()
        .collect();
    ctx.call_activity(ImportCsvs, files).await?;
    Ok(())
}

/// kind: path_form; rule: io
async fn file_import_lines(ctx: OrchestrationContext, path: String) -> Result<(), OrchestrationError> {
    use std::fs::File;
    use std::io::{BufRead, BufReader};
    let file = File::open(&path).map_err(|e| OrchestrationError::new(e.to_string()))?;
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        ctx.call_activity(ProcessLine, line).await?;
    }
    Ok(())
}

/// kind: table; rule: io
async fn surf_fetch_rates(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let rates: String = surf::get("https://api.example.com/fx/latest")
        .recv_string()
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(PriceOrder, (order, rates)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn hickory_resolve_host(ctx: OrchestrationContext, check: DnsCheck) -> Result<(), OrchestrationError> {
    let resolver = hickory_resolver::TokioResolver::builder_tokio()
        .map_err(|e| OrchestrationError::new(e.to_string()))?
        .build();
    let ips = resolver.lookup_ip(check.host.as_str()).await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(RecordIps, ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>()).await?;
    Ok(())
}

/// kind: table; rule: io
async fn redis_dedupe_check(ctx: OrchestrationContext, evt: Event) -> Result<(), OrchestrationError> {
    let client = redis::Client::open(evt.redis_url.as_str()).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let mut con = client.get_multiplexed_async_connection().await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    let fresh: bool = redis::cmd("SET").arg(&evt.id).arg(1).arg("NX").query_async(&mut con).await.unwrap_or(false);
    if fresh {
        ctx.call_activity(HandleEvent, evt).await?;
    }
    Ok(())
}

/// kind: path_form; rule: io
async fn kafka_producer_imports(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use rdkafka::{config::ClientConfig, producer::{FutureProducer, FutureRecord}};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &order.brokers)
        .create()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let payload = serde_json::to_string(&order).unwrap_or_default();
    let _ = producer.send(FutureRecord::to("orders").key(&order.id).payload(&payload), std::time::Duration::from_secs(0)).await;
    ctx.call_activity(MarkPublished, order.id).await?;
    Ok(())
}

/// kind: macro; rule: io
async fn join_with_local_write(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let (sent, _written) = futures::join!(
        ctx.call_activity(EmailReport, report.clone()),
        tokio::fs::write(format!("/tmp/report-{}.json", report.id), serde_json::to_vec(&report).unwrap_or_default()),
    );
    sent?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn stdin_operator_confirm(ctx: OrchestrationContext, plan: Migration) -> Result<(), OrchestrationError> {
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| OrchestrationError::new(e.to_string()))?;
    if answer.trim() == "yes" {
        ctx.call_activity(RunMigration, plan).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn once_first_run_warmup(ctx: OrchestrationContext, shop: Shop) -> Result<(), OrchestrationError> {
    let mut first = false;
    WARMUP.call_once(|| first = true);
    if first {
        ctx.call_activity(WarmCaches, shop.region.clone()).await?;
    }
    ctx.call_activity(OpenShop, shop).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn thread_local_seen_set(ctx: OrchestrationContext, evt: Event) -> Result<(), OrchestrationError> {
    let fresh = SEEN_EVENTS.with_borrow_mut(|seen| seen.insert(evt.id.clone()));
    if fresh {
        ctx.call_activity(HandleEvent, evt).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn arc_swap_flags(ctx: OrchestrationContext, cart: Cart) -> Result<(), OrchestrationError> {
    let flags = FLAGS.load();
    if flags.new_pricing {
        ctx.call_activity(PriceV2, cart).await?;
    } else {
        ctx.call_activity(PriceV1, cart).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn rwlock_read_blocklist(ctx: OrchestrationContext, signup: Signup) -> Result<(), OrchestrationError> {
    let blocked = BLOCKED_DOMAINS.read().map(|set| set.contains(&signup.domain)).unwrap_or(false);
    if blocked {
        return Ok(());
    }
    ctx.call_activity(CreateAccount, signup).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn oncelock_region_pinned(ctx: OrchestrationContext, job: RegionalJob) -> Result<(), OrchestrationError> {
    let region = HOME_REGION.get_or_init(|| job.region.clone()).clone();
    ctx.call_activity(RunInRegion, (region, job)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn lazy_set_lookup(ctx: OrchestrationContext, user: User) -> Result<(), OrchestrationError> {
    if DISPOSABLE_EMAIL_DOMAINS.contains(user.email_domain()) {
        ctx.call_activity(RequirePhoneVerification, user.id).await?;
    }
    ctx.call_activity(ActivateUser, user).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn atomic_load_ufcs(ctx: OrchestrationContext, batch: Batch) -> Result<(), OrchestrationError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    if AtomicBool::load(&MAINTENANCE, Ordering::Acquire) {
        ctx.call_activity(DeferBatch, batch).await?;
    } else {
        ctx.call_activity(ProcessBatch, batch).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn aliased_atomic_static(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use std::sync::atomic::{AtomicU32 as Counter, Ordering::SeqCst};
    static SEQ: Counter = Counter::new(0);
    let n = SEQ.fetch_add(1, SeqCst);
    ctx.call_activity(AssignPickList, (order, n % 4)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn moka_static_cache(ctx: OrchestrationContext, sku: Sku) -> Result<(), OrchestrationError> {
    let price = match PRICE_CACHE.get(&sku).await {
        Some(price) => price,
        None => ctx.call_activity(LookupPrice, sku.clone()).await?,
    };
    ctx.call_activity(ShowPrice, (sku, price)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn thread_local_cell_next_id(ctx: OrchestrationContext, req: Request) -> Result<(), OrchestrationError> {
    let id = NEXT_REQUEST_ID.get();
    NEXT_REQUEST_ID.set(id + 1);
    ctx.call_activity(Forward, (id, req)).await?;
    Ok(())
}

/// kind: table; rule: static_mut
async fn static_mut_replace(ctx: OrchestrationContext, input: TenantJob) -> Result<(), OrchestrationError> {
    let previous = unsafe { LAST_TENANT.replace(input.tenant.clone()) };
    if previous.as_deref() != Some(input.tenant.as_str()) {
        ctx.call_activity(LoadTenantSchema, input.tenant.clone()).await?;
    }
    ctx.call_activity(RunTenantJob, input).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: req.headers
async fn forward_headers_from_input(ctx: OrchestrationContext, req: ProxyRequest) -> Result<(), OrchestrationError> {
    for (name, value) in &req.headers {
        ctx.call_activity(ValidateHeader, (name.clone(), value.clone())).await?;
    }
    ctx.call_activity(ForwardRequest, req).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: inventory
async fn reorder_from_activity_map(ctx: OrchestrationContext, warehouse: String) -> Result<(), OrchestrationError> {
    let inventory = ctx.call_activity(LoadInventory, warehouse).await?;
    let orders: Vec<_> = inventory
        .into_iter()
        .filter(|(_, qty)| *qty < 10)
        .map(|(sku, _)| ctx.call_activity(PlacePurchaseOrder, sku))
        .collect();
    futures::future::try_join_all(orders).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: by_tenant
async fn itertools_group_map(ctx: OrchestrationContext, jobs: Vec<Job>) -> Result<(), OrchestrationError> {
    use itertools::Itertools;
    let by_tenant = jobs.into_iter().into_group_map_by(|j| j.tenant.clone());
    for (tenant, jobs) in by_tenant {
        ctx.call_sub_orchestrator(TenantBatch, (tenant, jobs)).await?;
    }
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: totals
async fn fold_into_hashmap(ctx: OrchestrationContext, lines: Vec<LedgerLine>) -> Result<(), OrchestrationError> {
    let totals = lines.iter().fold(std::collections::HashMap::new(), |mut acc, l| {
        *acc.entry(l.account.clone()).or_insert(0i64) += l.cents;
        acc
    });
    for (account, cents) in totals {
        ctx.call_activity(PostLedger, (account, cents)).await?;
    }
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: recipients
async fn hashset_recipients(ctx: OrchestrationContext, input: Campaign) -> Result<(), OrchestrationError> {
    use std::collections::HashSet;
    let recipients: HashSet<String> = input.users.iter().map(|u| u.email.to_lowercase()).collect();
    for to in recipients {
        ctx.call_activity(SendCampaignMail, (input.id, to)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: cluster.replicas
async fn first_replica_as_primary(ctx: OrchestrationContext, cluster: Cluster) -> Result<(), OrchestrationError> {
    let primary = cluster.replicas.keys().next().cloned().unwrap_or_default();
    ctx.call_activity(Promote, primary).await?;
    ctx.call_activity(Rebalance, cluster.id).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: state.pending
async fn drain_pending_field(ctx: OrchestrationContext, id: String) -> Result<(), OrchestrationError> {
    let mut state = ctx.call_activity(LoadState, id).await?;
    for (key, op) in state.pending.drain() {
        ctx.call_activity(ApplyOp, (key, op)).await?;
    }
    ctx.call_activity(SaveState, state).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: routes
async fn type_alias_route_table(ctx: OrchestrationContext, svc: Service) -> Result<(), OrchestrationError> {
    let routes: RouteTable = ctx.call_activity(LoadRoutes, svc.id.clone()).await?;
    for (path, upstream) in routes.iter() {
        ctx.call_activity(ProbeRoute, (path.clone(), upstream.clone())).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: load
async fn busiest_node_ties(ctx: OrchestrationContext, cluster: String) -> Result<(), OrchestrationError> {
    let load = ctx.call_activity(NodeLoad, cluster).await?;
    if let Some((node, _)) = load.iter().max_by_key(|(_, jobs)| **jobs) {
        ctx.call_activity(DrainNode, node.clone()).await?;
    }
    Ok(())
}

/// kind: table; rule: select
async fn tokio_select_approval(ctx: OrchestrationContext, req: Expense) -> Result<(), OrchestrationError> {
    let deadline = ctx.current_time() + chrono::TimeDelta::days(3);
    tokio::select! {
        decision = ctx.wait_for_external_event::<bool>("decision") => {
            ctx.call_activity(RecordDecision, (req, decision?)).await?;
        }
        _ = ctx.create_timer(deadline) => {
            ctx.call_activity(AutoReject, req).await?;
        }
    }
    Ok(())
}

/// kind: path_form; rule: select
async fn imported_futures_select(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use futures::{select, FutureExt};
    let mut paid = ctx.wait_for_external_event::<Payment>("paid").fuse();
    let mut cancelled = ctx.wait_for_external_event::<()>("cancelled").fuse();
    select! {
        p = paid => ctx.call_activity(Ship, (order, p?)).await?,
        _ = cancelled => ctx.call_activity(Refund, order).await?,
    };
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn break_only_leaves_inner_for(ctx: OrchestrationContext, queue: String) -> Result<(), OrchestrationError> {
    loop {
        let batch = ctx.call_activity(FetchBatch, queue.clone()).await?;
        for msg in batch {
            if msg.is_poison() {
                break;
            }
            ctx.call_activity(HandleMessage, msg).await?;
        }
        ctx.create_timer(std::time::Duration::from_secs(5)).await;
    }
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn labeled_poll_continue(ctx: OrchestrationContext, build: BuildId) -> Result<(), OrchestrationError> {
    'poll: loop {
        let status = ctx.call_activity(BuildStatus, build.clone()).await?;
        if status.running {
            ctx.create_timer(std::time::Duration::from_secs(15)).await;
            continue 'poll;
        }
        ctx.call_activity(NotifyBuild, (build.clone(), status)).await?;
        ctx.create_timer(std::time::Duration::from_secs(300)).await;
    }
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn open_range_mapped_offsets(ctx: OrchestrationContext, feed: Feed) -> Result<(), OrchestrationError> {
    for offset in (0u64..).map(|p| p * 100) {
        let page = ctx.call_activity(FetchFeedPage, (feed.id.clone(), offset)).await?;
        ctx.call_activity(IndexPage, page).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn unsigned_always_nonnegative(ctx: OrchestrationContext, table: String) -> Result<(), OrchestrationError> {
    let mut cursor: u64 = 0;
    while cursor >= 0 {
        let rows = ctx.call_activity(ScanRows, (table.clone(), cursor)).await?;
        cursor += rows.len() as u64;
        ctx.call_activity(ArchiveRows, rows).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn return_inside_closure(ctx: OrchestrationContext, topic: String) -> Result<(), OrchestrationError> {
    loop {
        let msgs = ctx.call_activity(Poll, topic.clone()).await?;
        let live: Vec<_> = msgs
            .into_iter()
            .filter_map(|m| {
                if m.is_shutdown() {
                    return None;
                }
                Some(m)
            })
            .collect();
        ctx.call_activity(Deliver, live).await?;
    }
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn while_let_endless_stream(ctx: OrchestrationContext, sensor: Sensor) -> Result<(), OrchestrationError> {
    use futures::StreamExt;
    let mut readings = futures::stream::repeat(()).then(|_| ctx.call_activity(ReadSensor, sensor.clone())).boxed();
    while let Some(reading) = readings.next().await {
        ctx.call_activity(StoreReading, reading?).await?;
        ctx.create_timer(std::time::Duration::from_secs(60)).await;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn break_behind_const_false(ctx: OrchestrationContext, device: Device) -> Result<(), OrchestrationError> {
    const STOP_ON_IDLE: bool = false;
    loop {
        let idle = ctx.call_activity(Heartbeat, device.clone()).await?;
        if STOP_ON_IDLE && idle {
            break;
        }
        ctx.create_timer(std::time::Duration::from_secs(30)).await;
    }
    Ok(())
}

/// kind: table; rule: unbounded_loop
async fn round_robin_cycle(ctx: OrchestrationContext, regions: Vec<String>) -> Result<(), OrchestrationError> {
    for region in regions.iter().cycle() {
        ctx.call_activity(ProbeRegion, region.clone()).await?;
        ctx.create_timer(std::time::Duration::from_secs(10)).await;
    }
    Ok(())
}

/// kind: table; rule: unbounded_loop
async fn capped_backoff_successors(ctx: OrchestrationContext, target: Target) -> Result<(), OrchestrationError> {
    for delay in std::iter::successors(Some(1u64), |d| Some((d * 2).min(300))) {
        if ctx.call_activity(Ping, target.clone()).await? {
            ctx.call_activity(MarkHealthy, target.clone()).await?;
        }
        ctx.create_timer(std::time::Duration::from_secs(delay)).await;
    }
    Ok(())
}
