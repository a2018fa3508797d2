// A fourth held-out batch of clean bodies (see README.md), written with violations-4.rs:
// deterministic code that looks like a violation. Module-level names they use
// (`MAX_RETRIES`, `DEFAULT_REGION`, `BATCH`, `RETRY_DELAYS`, `NAMESPACE`) are `const`s in
// the code they imitate.

/// clean: ctx.current_time() for timestamps and elapsed time
async fn ctx_clock(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    let started = ctx.current_time();
    ctx.call_activity(RunJob, job).await?;
    let took = ctx.current_time().duration_since(started).unwrap_or_default();
    ctx.call_activity(RecordMetric, ("job_ms", took.as_millis() as u64)).await?;
    Ok(())
}

/// clean: ctx.new_guid() for ids, formatted
async fn ctx_guid(ctx: OrchestrationContext, req: Request) -> Result<(), OrchestrationError> {
    let id = ctx.new_guid();
    let key = format!("req-{}", id.simple());
    ctx.call_activity(Forward, (key, req)).await?;
    Ok(())
}

/// clean: std::time imports for durations only
async fn duration_imports(ctx: OrchestrationContext, attempt: u32) -> Result<(), OrchestrationError> {
    use std::time::{Duration, UNIX_EPOCH};
    let delay = Duration::from_secs(2u64.pow(attempt.min(6)));
    ctx.create_timer(delay).await;
    let epoch_label = format!("{:?}", UNIX_EPOCH);
    ctx.call_activity(Log, epoch_label).await?;
    Ok(())
}

/// clean: tokio::time::Duration is a re-export of std's Duration
async fn tokio_duration(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use tokio::time::Duration;
    ctx.create_timer(Duration::from_millis(1500)).await;
    ctx.call_activity(Resume, ()).await?;
    Ok(())
}

/// clean: consts and usize::MAX
async fn consts_and_limits(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    const PAGE: usize = 50;
    let limit = if items.is_empty() { usize::MAX } else { items.len().min(PAGE * MAX_RETRIES) };
    ctx.call_activity(Process, (items, limit, DEFAULT_REGION.to_string())).await?;
    Ok(())
}

/// clean: BTreeMap iteration with durable calls
async fn btree_rollout(ctx: OrchestrationContext, hosts: Vec<Host>) -> Result<(), OrchestrationError> {
    let mut by_region: BTreeMap<String, Vec<Host>> = BTreeMap::new();
    for h in hosts {
        by_region.entry(h.region.clone()).or_default().push(h);
    }
    for (region, hosts) in by_region {
        ctx.call_activity(RollRegion, (region, hosts)).await?;
    }
    Ok(())
}

/// clean: map keys collected and sorted before the fan-out; hash: quotas
async fn sorted_then_iterated(ctx: OrchestrationContext, quotas: HashMap<String, u32>) -> Result<(), OrchestrationError> {
    let mut tenants: Vec<&String> = quotas.keys().collect();
    tenants.sort_unstable();
    for t in tenants {
        ctx.call_activity(ApplyQuota, (t.clone(), quotas[t])).await?;
    }
    Ok(())
}

/// clean: entries sorted by key with sort_by; hash: owners
async fn sort_by_entries(ctx: OrchestrationContext, owners: HashMap<String, String>) -> Result<(), OrchestrationError> {
    let mut entries: Vec<(String, String)> = owners.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (repo, owner) in entries {
        ctx.call_activity(Notify, (repo, owner)).await?;
    }
    Ok(())
}

/// clean: HashMap get / contains_key / len without iteration; hash: cache
async fn map_lookups(ctx: OrchestrationContext, cache: HashMap<String, u64>, skus: Vec<String>) -> Result<(), OrchestrationError> {
    for sku in &skus {
        if !cache.contains_key(sku) {
            ctx.call_activity(Fetch, sku.clone()).await?;
        } else if let Some(p) = cache.get(sku) {
            ctx.call_activity(UsePrice, *p).await?;
        }
    }
    ctx.call_activity(Report, cache.len()).await?;
    Ok(())
}

/// clean: HashMap iterated only to sum (order does not matter); hash: totals
async fn map_sum(ctx: OrchestrationContext, totals: HashMap<String, u64>) -> Result<(), OrchestrationError> {
    let sum: u64 = totals.values().sum();
    ctx.call_activity(Record, sum).await?;
    Ok(())
}

/// clean: a bounded for over 0..n
async fn bounded_range(ctx: OrchestrationContext, shards: u32) -> Result<(), OrchestrationError> {
    for shard in 0..shards {
        ctx.call_activity(Compact, shard).await?;
    }
    Ok(())
}

/// clean: a loop with a reachable break
async fn poll_until_done(ctx: OrchestrationContext, job: u64) -> Result<(), OrchestrationError> {
    let mut attempts = 0;
    loop {
        let status: Status = ctx.call_activity(CheckStatus, job).await?;
        if status.done || attempts >= MAX_RETRIES {
            break;
        }
        attempts += 1;
        ctx.create_timer(Duration::from_secs(30)).await;
    }
    Ok(())
}

/// clean: an open range bounded with take
async fn open_range_taken(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for attempt in (1..).take(5) {
        if ctx.call_activity(TryConnect, attempt).await.is_ok() {
            break;
        }
    }
    Ok(())
}

/// clean: while let over a local queue
async fn drain_queue(ctx: OrchestrationContext, mut queue: Vec<Task>) -> Result<(), OrchestrationError> {
    while let Some(task) = queue.pop() {
        let follow_ups: Vec<Task> = ctx.call_activity(RunTask, task).await?;
        queue.extend(follow_ups);
    }
    Ok(())
}

/// clean: a while loop on a flag the body changes
async fn while_flag_changes(ctx: OrchestrationContext, device: String) -> Result<(), OrchestrationError> {
    let mut running = true;
    while running {
        let reading: Reading = ctx.call_activity(ReadSensor, device.clone()).await?;
        running = !reading.final_sample;
        ctx.create_timer(Duration::from_secs(10)).await;
    }
    Ok(())
}

/// clean: an eternal orchestration that continues as new
async fn eternal_monitor(ctx: OrchestrationContext, state: MonitorState) -> Result<(), OrchestrationError> {
    loop {
        ctx.create_timer(Duration::from_secs(300)).await;
        let next = ctx.call_activity(Check, state.clone()).await?;
        return ctx.continue_as_new(next).await;
    }
}

/// clean: a local closure named now
async fn closure_named_now(ctx: OrchestrationContext, offset_secs: u64) -> Result<(), OrchestrationError> {
    let now = || ctx.current_time() + Duration::from_secs(offset_secs);
    let deadline = now();
    ctx.call_activity(SetDeadline, deadline).await?;
    Ok(())
}

/// clean: a struct field named rng, a seed in the input
async fn field_named_rng(ctx: OrchestrationContext, input: SimInput) -> Result<(), OrchestrationError> {
    let sim = Simulation { rng: input.seed, steps: input.steps };
    ctx.call_activity(RunSimulation, sim).await?;
    Ok(())
}

/// clean: serde_json parsing and building
async fn json_roundtrip(ctx: OrchestrationContext, raw: String) -> Result<(), OrchestrationError> {
    let v: serde_json::Value = serde_json::from_str(&raw)?;
    let body = serde_json::json!({ "id": v["id"], "kind": "update" });
    ctx.call_activity(Publish, serde_json::to_string(&body)?).await?;
    Ok(())
}

/// clean: string formatting with ids and times from ctx
async fn string_formatting(ctx: OrchestrationContext, user: User) -> Result<(), OrchestrationError> {
    let greeting = format!("Hello, {}! ({})", user.name, ctx.instance_id());
    tracing::info!(user = %user.name, "sending greeting");
    ctx.call_activity(SendEmail, greeting).await?;
    Ok(())
}

/// clean: IndexMap keeps insertion order
async fn indexmap_iter(ctx: OrchestrationContext, steps: Vec<Step>) -> Result<(), OrchestrationError> {
    let mut plan: indexmap::IndexMap<String, Step> = indexmap::IndexMap::new();
    for s in steps {
        plan.insert(s.name.clone(), s);
    }
    for (name, step) in &plan {
        ctx.call_activity(RunStep, (name.clone(), step.clone())).await?;
    }
    Ok(())
}

/// clean: a const table read with iter
async fn const_table_iter(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for delay in RETRY_DELAYS.iter() {
        if ctx.call_activity(Attempt, ()).await.is_ok() {
            break;
        }
        ctx.create_timer(Duration::from_secs(*delay)).await;
    }
    Ok(())
}

/// clean: a uuid v5 from the const namespace and the input
async fn uuid_v5(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let id = uuid::Uuid::new_v5(&NAMESPACE, order.number.as_bytes());
    ctx.call_activity(Create, (id, order)).await?;
    Ok(())
}

/// clean: a seeded generator from the input seed
async fn seeded_small_rng(ctx: OrchestrationContext, input: Input) -> Result<(), OrchestrationError> {
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    let mut rng = SmallRng::seed_from_u64(input.seed);
    let pick = rng.gen_range(0..input.candidates.len());
    ctx.call_activity(Pick, input.candidates[pick].clone()).await?;
    Ok(())
}

/// clean: a HashSet for dedup, iteration over the ordered Vec; hash: seen
async fn dedup_with_set(ctx: OrchestrationContext, emails: Vec<String>) -> Result<(), OrchestrationError> {
    let mut seen = HashSet::new();
    for e in &emails {
        if seen.insert(e.clone()) {
            ctx.call_activity(SendInvite, e.clone()).await?;
        }
    }
    Ok(())
}

/// clean: BTreeSet from a HashSet before iterating; hash: tags
async fn btreeset_from_hash(ctx: OrchestrationContext, tags: HashSet<String>) -> Result<(), OrchestrationError> {
    let ordered: BTreeSet<String> = tags.into_iter().collect();
    for t in ordered {
        ctx.call_activity(Tag, t).await?;
    }
    Ok(())
}

/// clean: a Vec's iter with durable calls
async fn vec_iter_calls(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let calls = ids.iter().map(|id| ctx.call_activity(Load, *id));
    let results = durable_runtime::join_all(calls).await;
    ctx.call_activity(Merge, results.len()).await?;
    Ok(())
}

/// clean: a local variable named sleep_for and a method named elapsed_ms on input data
async fn lookalike_names(ctx: OrchestrationContext, job: JobInfo) -> Result<(), OrchestrationError> {
    let sleep_for = Duration::from_secs(job.backoff_secs);
    let spent = job.elapsed_ms;
    ctx.create_timer(sleep_for).await;
    ctx.call_activity(Report, spent).await?;
    Ok(())
}

/// clean: unsafe with consts inside
async fn unsafe_consts(ctx: OrchestrationContext, bytes: Vec<u8>) -> Result<(), OrchestrationError> {
    let n = unsafe { std::str::from_utf8_unchecked(&bytes[..BATCH.min(bytes.len())]).len() };
    let cap = unsafe { usize::MAX.min(n) };
    ctx.call_activity(Store, (n, cap)).await?;
    Ok(())
}

/// clean: an activity result map looked up by a sorted key list; hash: stock
async fn sorted_lookup_from_result(ctx: OrchestrationContext, skus: Vec<String>) -> Result<(), OrchestrationError> {
    let stock: HashMap<String, u32> = ctx.call_activity(LoadStock, skus.clone()).await?;
    let mut low: Vec<String> = stock.iter().filter(|(_, n)| **n < 5).map(|(k, _)| k.clone()).collect();
    low.sort();
    for sku in low {
        ctx.call_activity(Reorder, sku).await?;
    }
    Ok(())
}

/// clean: an Instant read from the orchestration input (data, not the clock)
async fn deadline_from_input(ctx: OrchestrationContext, input: TimedInput) -> Result<(), OrchestrationError> {
    if ctx.current_time() > input.deadline {
        ctx.call_activity(Expire, input.id).await?;
    }
    Ok(())
}
