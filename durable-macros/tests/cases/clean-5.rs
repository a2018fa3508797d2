// A fifth held-out batch of clean bodies (see README.md), written with violations-5.rs:
// deterministic orchestrator code that looks like the drifts of that file (retry and
// backoff schedules, timing, ids, feature-flag bucketing, caches and counters, config
// lookups, paths and URLs, polling loops, maps). Module-level names they use
// (`MAX_ATTEMPTS`, `BATCH`, `SHARDS`, `PAGE`, `MAX_LEN`, `DEFAULT_REGION`) are `const`s
// in the code they imitate.

/// clean: ctx.current_time() deadline and futures::future::select over an event and a timer
async fn approval_deadline_select(ctx: OrchestrationContext, req: Expense) -> Result<(), OrchestrationError> {
    use futures::future::{select, Either};
    let deadline = ctx.current_time() + chrono::TimeDelta::hours(req.sla_hours as i64);
    let decision = ctx.wait_for_external_event::<bool>("decision");
    let timer = ctx.create_timer(deadline);
    match select(decision, timer).await {
        Either::Left((approved, _)) => ctx.call_activity(RecordDecision, (req, approved?)).await?,
        Either::Right(_) => ctx.call_activity(AutoReject, req).await?,
    };
    Ok(())
}

/// clean: ctx.new_guid() as an idempotency key
async fn guid_idempotency_key(ctx: OrchestrationContext, payment: Payment) -> Result<(), OrchestrationError> {
    let key = ctx.new_guid().hyphenated().to_string();
    ctx.call_activity(ChargeCard, ChargeRequest { idempotency_key: key, payment }).await?;
    Ok(())
}

/// clean: jitter from a generator seeded by ctx.new_guid()
async fn guid_seeded_jitter(ctx: OrchestrationContext, attempt: u32) -> Result<(), OrchestrationError> {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(ctx.new_guid().as_u64_pair().0);
    let jitter = rng.gen_range(0..250u64);
    let delay = std::time::Duration::from_millis((100u64 << attempt.min(6)) + jitter);
    ctx.create_timer(delay).await;
    ctx.call_activity(Reconnect, attempt).await?;
    Ok(())
}

/// clean: reviewers shuffled with a ChaCha generator seeded from the input
async fn chacha_seeded_shuffle(ctx: OrchestrationContext, input: Sample) -> Result<(), OrchestrationError> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(input.seed);
    let mut pool = input.pool.clone();
    pool.shuffle(&mut rng);
    ctx.call_activity(RequestReview, (input.pr, pool.into_iter().take(2).collect::<Vec<_>>())).await?;
    Ok(())
}

/// clean: built-in retry policy instead of a retry crate
async fn durable_retry_policy(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let policy = RetryPolicy::new(5, std::time::Duration::from_millis(200))
        .with_backoff_coefficient(2.0)
        .with_max_retry_interval(std::time::Duration::from_secs(30));
    match ctx.call_activity_with_retry(DeliverWebhook, hook.clone(), &policy).await {
        Ok(_) => {}
        Err(_) => ctx.call_activity(DeadLetter, hook).await?,
    }
    Ok(())
}

/// clean: BTreeMap built with entry and iterated with durable calls
async fn btree_group_by_region(ctx: OrchestrationContext, hosts: Vec<Host>) -> Result<(), OrchestrationError> {
    use std::collections::BTreeMap;
    let mut by_region: BTreeMap<String, Vec<Host>> = BTreeMap::new();
    for host in hosts {
        by_region.entry(host.region.clone()).or_default().push(host);
    }
    for (region, hosts) in &by_region {
        ctx.call_activity(PatchRegion, (region.clone(), hosts.clone())).await?;
    }
    Ok(())
}

/// clean: an activity's map, keys collected and sort_unstable'd before the calls; hash: usage
async fn sorted_tenant_keys(ctx: OrchestrationContext, month: Month) -> Result<(), OrchestrationError> {
    let usage = ctx.call_activity(LoadUsage, month.clone()).await?;
    let mut tenants: Vec<String> = usage.keys().cloned().collect();
    tenants.sort_unstable();
    for tenant in tenants {
        let units = usage[&tenant];
        ctx.call_activity(Bill, (tenant, month.clone(), units)).await?;
    }
    Ok(())
}

/// clean: HashMap from an activity used only for lookups while a Vec is iterated; hash: prices
async fn price_lookup_only(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let prices: std::collections::HashMap<String, u64> = ctx.call_activity(LoadPrices, order.id.clone()).await?;
    for line in &order.lines {
        let unit = prices.get(&line.sku).copied().unwrap_or(0);
        ctx.call_activity(ReserveLine, (line.clone(), unit)).await?;
    }
    Ok(())
}

/// clean: HashSet membership filter over the ordered input Vec; hash: blocked
async fn hashset_membership_filter(ctx: OrchestrationContext, input: Campaign) -> Result<(), OrchestrationError> {
    use std::collections::HashSet;
    let blocked: HashSet<&str> = input.unsubscribed.iter().map(String::as_str).collect();
    for user in input.users.iter().filter(|u| !blocked.contains(u.email.as_str())) {
        ctx.call_activity(SendCampaignMail, (input.id, user.email.clone())).await?;
    }
    Ok(())
}

/// clean: HashMap counts reduced with max and len only; hash: counts
async fn hashmap_peak_count(ctx: OrchestrationContext, events: Vec<Event>) -> Result<(), OrchestrationError> {
    let mut counts = std::collections::HashMap::new();
    for e in &events {
        *counts.entry(e.user.clone()).or_insert(0u32) += 1;
    }
    let peak = counts.values().copied().max().unwrap_or(0);
    ctx.call_activity(RecordPeak, (counts.len(), peak)).await?;
    Ok(())
}

/// clean: an input HashMap moved into a BTreeMap before iterating; hash: input.limits
async fn hashmap_into_btreemap(ctx: OrchestrationContext, input: Limits) -> Result<(), OrchestrationError> {
    let ordered: std::collections::BTreeMap<_, _> = input.limits.into_iter().collect();
    for (service, limit) in &ordered {
        ctx.call_activity(ApplyLimit, (service.clone(), *limit)).await?;
    }
    Ok(())
}

/// clean: entries of an input map sorted by weight then name, top three; hash: input.weights
async fn sorted_entries_top_three(ctx: OrchestrationContext, input: Weights) -> Result<(), OrchestrationError> {
    let mut entries: Vec<(String, u32)> = input.weights.into_iter().collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (name, weight) in entries.into_iter().take(3) {
        ctx.call_activity(Feature, (name, weight)).await?;
    }
    Ok(())
}

/// clean: a serde_json object (ordered map) iterated
async fn json_object_fields(ctx: OrchestrationContext, payload: serde_json::Value) -> Result<(), OrchestrationError> {
    if let serde_json::Value::Object(fields) = &payload {
        for (key, value) in fields {
            ctx.call_activity(ValidateField, (key.clone(), value.clone())).await?;
        }
    }
    Ok(())
}

/// clean: futures::join! over two durable calls
async fn join_macro_two_calls(ctx: OrchestrationContext, id: u64) -> Result<(), OrchestrationError> {
    let (user, plan) = futures::join!(ctx.call_activity(GetUser, id), ctx.call_activity(GetPlan, id));
    ctx.call_activity(RenderDashboard, (user?, plan?)).await?;
    Ok(())
}

/// clean: fan-out in chunks of a const size with try_join_all
async fn chunked_fan_out(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    for chunk in items.chunks(BATCH) {
        futures::future::try_join_all(chunk.iter().map(|i| ctx.call_activity(ProcessItem, i.clone()))).await?;
    }
    Ok(())
}

/// clean: bounded retries with durable timers for the backoff
async fn bounded_retry_timers(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    for attempt in 0..MAX_ATTEMPTS {
        match ctx.call_activity(ChargeCard, order.clone()).await {
            Ok(receipt) => {
                ctx.call_activity(EmailReceipt, receipt).await?;
                return Ok(());
            }
            Err(_) if attempt + 1 < MAX_ATTEMPTS => {
                ctx.create_timer(std::time::Duration::from_secs(1 << attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// clean: a polling loop that breaks at a deadline from ctx.current_time()
async fn poll_until_deadline(ctx: OrchestrationContext, export: ExportId) -> Result<(), OrchestrationError> {
    let deadline = ctx.current_time() + chrono::TimeDelta::minutes(30);
    let ready = loop {
        if ctx.call_activity(ExportReady, export.clone()).await? {
            break true;
        }
        if ctx.current_time() >= deadline {
            break false;
        }
        ctx.create_timer(std::time::Duration::from_secs(30)).await;
    };
    if ready {
        ctx.call_activity(DownloadExport, export).await?;
    }
    Ok(())
}

/// clean: an eternal monitor that continues as new after a fixed number of checks
async fn monitor_continue_as_new(ctx: OrchestrationContext, state: MonitorState) -> Result<(), OrchestrationError> {
    let mut checks = 0u32;
    loop {
        let healthy = ctx.call_activity(Ping, state.target.clone()).await?;
        if !healthy {
            ctx.call_activity(Alert, state.target.clone()).await?;
        }
        checks += 1;
        if checks == 100 {
            ctx.continue_as_new(Monitor, state);
            return Ok(());
        }
        ctx.create_timer(std::time::Duration::from_secs(60)).await;
    }
}

/// clean: an open range bounded by zip
async fn numbered_with_open_range(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    for (position, item) in (1u32..).zip(items.iter()) {
        ctx.call_activity(Enqueue, (position, item.clone())).await?;
    }
    Ok(())
}

/// clean: a backoff schedule from successors that ends
async fn finite_successors_schedule(ctx: OrchestrationContext, target: Target) -> Result<(), OrchestrationError> {
    let delays: Vec<u64> = std::iter::successors(Some(1u64), |d| (*d < 64).then(|| d * 2)).collect();
    for delay in delays {
        if ctx.call_activity(Ping, target.clone()).await? {
            return Ok(());
        }
        ctx.create_timer(std::time::Duration::from_secs(delay)).await;
    }
    ctx.call_activity(MarkDown, target).await?;
    Ok(())
}

/// clean: pages by step_by over a bounded range
async fn step_by_pages(ctx: OrchestrationContext, feed: Feed) -> Result<(), OrchestrationError> {
    for offset in (0..feed.total).step_by(PAGE) {
        let page = ctx.call_activity(FetchFeedPage, (feed.id.clone(), offset as u64)).await?;
        ctx.call_activity(IndexPage, page).await?;
    }
    Ok(())
}

/// clean: a timestamp parsed from the input and compared with ctx.current_time()
async fn parsed_due_date(ctx: OrchestrationContext, task: Task) -> Result<(), OrchestrationError> {
    use chrono::{DateTime, Utc};
    let due = DateTime::parse_from_rfc3339(&task.due)
        .map_err(|e| OrchestrationError::new(e.to_string()))?
        .with_timezone(&Utc);
    if due > ctx.current_time() {
        ctx.create_timer(due).await;
    }
    ctx.call_activity(Remind, task.id).await?;
    Ok(())
}

/// clean: Utc as a TimeZone for a constant date
async fn constant_cutoff_date(ctx: OrchestrationContext, user: User) -> Result<(), OrchestrationError> {
    use chrono::{TimeZone, Utc};
    let cutoff = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap_or_default();
    if ctx.current_time() < cutoff {
        ctx.call_activity(LegacyOnboarding, user).await?;
    } else {
        ctx.call_activity(Onboarding, user).await?;
    }
    Ok(())
}

/// clean: uuid v5 from a namespace and the order id
async fn uuid_v5_from_order(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let shipment = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("order:{}", order.id).as_bytes());
    ctx.call_activity(CreateShipment, (shipment, order)).await?;
    Ok(())
}

/// clean: feature-flag bucket from crc32 of the user id
async fn crc32_rollout_bucket(ctx: OrchestrationContext, user: User) -> Result<(), OrchestrationError> {
    let bucket = crc32fast::hash(user.id.as_bytes()) % 100;
    if bucket < user.rollout_percent {
        ctx.call_activity(NewCheckoutFlow, user).await?;
    } else {
        ctx.call_activity(CheckoutFlow, user).await?;
    }
    Ok(())
}

/// clean: shard from FnvHasher (fixed keys) through std::hash
async fn fnv_shard(ctx: OrchestrationContext, event: Event) -> Result<(), OrchestrationError> {
    use std::hash::{Hash, Hasher};
    let mut hasher = fnv::FnvHasher::default();
    event.key.hash(&mut hasher);
    let shard = hasher.finish() % SHARDS as u64;
    ctx.call_activity(AppendToShard, (shard, event)).await?;
    Ok(())
}

/// clean: env! and option_env! are read at compile time
async fn build_version_stamp(ctx: OrchestrationContext, doc: Document) -> Result<(), OrchestrationError> {
    const VERSION: &str = env!("CARGO_PKG_VERSION");
    let commit = option_env!("GIT_SHA").unwrap_or("dev");
    ctx.call_activity(SaveRevision, (doc, format!("{VERSION}+{commit}"))).await?;
    Ok(())
}

/// clean: a map field named env in the input, looked up; hash: input.env
async fn input_env_lookup(ctx: OrchestrationContext, input: Deploy) -> Result<(), OrchestrationError> {
    let region = input.env.get("REGION").cloned().unwrap_or_else(|| DEFAULT_REGION.to_owned());
    ctx.call_activity(DeployTo, (input.service.clone(), region)).await?;
    Ok(())
}

/// clean: Path / PathBuf manipulation with no filesystem access
async fn path_manipulation(ctx: OrchestrationContext, upload: Upload) -> Result<(), OrchestrationError> {
    use std::path::{Path, PathBuf};
    let name = Path::new(&upload.file).file_name().map(|n| n.to_owned()).unwrap_or_default();
    let target: PathBuf = Path::new(&upload.dest).join(name).with_extension("gz");
    ctx.call_activity(Compress, (upload.file.clone(), target)).await?;
    Ok(())
}

/// clean: a callback URL parsed, no request made
async fn url_parse_callback(ctx: OrchestrationContext, job: CallbackJob) -> Result<(), OrchestrationError> {
    let url = url::Url::parse(&job.callback).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    ctx.call_activity(NotifyCallback, (url.to_string(), host, job.result)).await?;
    Ok(())
}

/// clean: a local Cell counter with get and set
async fn local_cell_attempts(ctx: OrchestrationContext, steps: Vec<Step>) -> Result<(), OrchestrationError> {
    let attempts = std::cell::Cell::new(0u32);
    for step in steps {
        attempts.set(attempts.get() + 1);
        ctx.call_activity(RunStep, (attempts.get(), step)).await?;
    }
    Ok(())
}

/// clean: a local Mutex collecting results, then into_inner
async fn local_mutex_results(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let results = std::sync::Mutex::new(Vec::new());
    for item in items {
        let r = ctx.call_activity(ProcessItem, item).await?;
        results.lock().map(|mut v| v.push(r)).ok();
    }
    let all = results.into_inner().unwrap_or_default();
    ctx.call_activity(Summarise, all).await?;
    Ok(())
}

/// clean: a local Arc<AtomicUsize> progress counter
async fn local_atomic_progress(ctx: OrchestrationContext, files: Vec<String>) -> Result<(), OrchestrationError> {
    use std::sync::{atomic::{AtomicUsize, Ordering}, Arc};
    let done = Arc::new(AtomicUsize::new(0));
    for file in files {
        ctx.call_activity(CopyFile, file).await?;
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        ctx.set_custom_status(&serde_json::json!({ "copied": n }))?;
    }
    ctx.call_activity(Finish, done.load(Ordering::Relaxed)).await?;
    Ok(())
}

/// clean: an immutable static array declared in the body
async fn static_stage_table(ctx: OrchestrationContext, build: Build) -> Result<(), OrchestrationError> {
    static STAGES: [&str; 3] = ["build", "test", "deploy"];
    for stage in STAGES.iter() {
        ctx.call_activity(RunStage, (build.id.clone(), stage.to_string())).await?;
    }
    Ok(())
}

/// clean: unsafe from_utf8_unchecked with a const inside
async fn unsafe_ascii_truncate(ctx: OrchestrationContext, user: User) -> Result<(), OrchestrationError> {
    if user.name.is_ascii() {
        let end = user.name.len().min(MAX_LEN);
        let short = unsafe { std::str::from_utf8_unchecked(&user.name.as_bytes()[..end.min(MAX_LEN)]) };
        ctx.call_activity(SetDisplayName, (user.id, short.to_owned())).await?;
    }
    Ok(())
}

/// clean: a local Clock type wrapping ctx, with a now method
async fn local_clock_wrapper(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    struct Clock<'a>(&'a OrchestrationContext);
    impl Clock<'_> {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            self.0.current_time()
        }
    }
    let clock = Clock(&ctx);
    let started = clock.now();
    ctx.call_activity(RunJob, job).await?;
    let took = clock.now() - started;
    ctx.call_activity(RecordMetric, ("job_ms", took.num_milliseconds())).await?;
    Ok(())
}

/// clean: a local closure named sleep that makes a durable timer
async fn durable_sleep_closure(ctx: OrchestrationContext, device: Device) -> Result<(), OrchestrationError> {
    let sleep = |secs: u64| ctx.create_timer(std::time::Duration::from_secs(secs));
    ctx.call_activity(Reboot, device.clone()).await?;
    sleep(20).await;
    ctx.call_activity(HealthCheck, device).await?;
    Ok(())
}

/// clean: a macro_rules! in the body that wraps durable calls
async fn body_macro_steps(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    macro_rules! step {
        ($activity:expr, $input:expr) => {
            ctx.call_activity($activity, $input).await?
        };
    }
    let checked = step!(Validate, order.clone());
    let receipt = step!(ChargeCard, (order.id.clone(), checked));
    step!(EmailReceipt, receipt);
    Ok(())
}

/// clean: vec![x; n] with a const length
async fn const_slot_histogram(ctx: OrchestrationContext, events: Vec<Event>) -> Result<(), OrchestrationError> {
    let mut slots = vec![0u32; SHARDS];
    for e in &events {
        slots[(e.hash_key % SHARDS as u64) as usize] += 1;
    }
    ctx.call_activity(ReportHistogram, slots).await?;
    Ok(())
}

/// clean: replay-safe logging and ctx.is_replaying()
async fn replay_safe_logging(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    if !ctx.is_replaying() {
        tracing::info!(instance = %ctx.instance_id(), job = %job.id, "job started");
    }
    ctx.logger().info(format_args!("running {}", job.id));
    ctx.call_activity(RunJob, job).await?;
    Ok(())
}

/// clean: wait_for_external_event_with_timeout instead of tokio::time::timeout
async fn event_with_durable_timeout(ctx: OrchestrationContext, req: Approval) -> Result<(), OrchestrationError> {
    match ctx
        .wait_for_external_event_with_timeout::<bool>("approved", std::time::Duration::from_secs(3600))
        .await
    {
        Ok(true) => ctx.call_activity(Provision, req).await?,
        _ => ctx.call_activity(Reject, req).await?,
    };
    Ok(())
}

/// clean: elapsed time computed from two timestamps in the input
async fn input_timestamps_duration(ctx: OrchestrationContext, job: QueuedJob) -> Result<(), OrchestrationError> {
    let waited = job.started_at.signed_duration_since(job.submitted_at);
    if waited.num_seconds() > job.sla_secs as i64 {
        ctx.call_activity(EscalateSla, job.id.clone()).await?;
    }
    ctx.call_activity(RunQueuedJob, job).await?;
    Ok(())
}
