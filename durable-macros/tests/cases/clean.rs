// Deterministic orchestrator bodies that look like violations; see README.md.

/// clean: BTreeMap iteration with durable calls
async fn btree_fan_out(ctx: OrchestrationContext, users: Vec<User>) -> Result<(), OrchestrationError> {
    let mut by_team: BTreeMap<String, Vec<User>> = BTreeMap::new();
    for user in users {
        by_team.entry(user.team.clone()).or_default().push(user);
    }
    for (team, members) in &by_team {
        ctx.call_activity(NotifyTeam, (team.clone(), members.len())).await?;
    }
    Ok(())
}

/// clean: HashMap used only for lookups; hash: prices
async fn price_lookup(ctx: OrchestrationContext, skus: Vec<String>) -> Result<u64, OrchestrationError> {
    let prices: HashMap<String, u64> = ctx.call_activity(LoadPrices, ()).await?;
    let mut total = 0;
    for sku in &skus {
        if let Some(price) = prices.get(sku) {
            total += price;
        } else {
            ctx.call_activity(ReportMissing, sku.clone()).await?;
        }
    }
    Ok(total)
}

/// clean: sorted keys; hash: quotas
async fn sorted_keys(ctx: OrchestrationContext, quotas: HashMap<String, u32>) -> Result<(), OrchestrationError> {
    let mut regions: Vec<_> = quotas.keys().cloned().collect();
    regions.sort();
    for region in regions {
        ctx.call_activity(SetQuota, (region.clone(), quotas[&region])).await?;
    }
    Ok(())
}

/// clean: sorted entries of a map built in the body; hash: counts
async fn sorted_entries(ctx: OrchestrationContext, events: Vec<Event>) -> Result<(), OrchestrationError> {
    let mut counts = HashMap::new();
    for e in &events {
        *counts.entry(e.kind.clone()).or_insert(0u32) += 1;
    }
    let mut entries: Vec<(String, u32)> = counts.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (kind, n) in entries {
        ctx.call_activity(Report, (kind, n)).await?;
    }
    Ok(())
}

/// clean: hash set iterated for a sum, no durable call depends on the order; hash: unique
async fn distinct_total(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<u64, OrchestrationError> {
    let unique: HashSet<u64> = ids.into_iter().collect();
    let total: u64 = unique.iter().sum();
    ctx.call_activity(Record, total).await?;
    Ok(total)
}

/// clean: consts and usize::MAX inside unsafe
async fn unsafe_consts(ctx: OrchestrationContext, bytes: Vec<u8>) -> Result<(), OrchestrationError> {
    const HEADER: usize = 4;
    let len = unsafe { std::str::from_utf8_unchecked(&bytes[HEADER..]).len().min(usize::MAX) };
    ctx.call_activity(Store, len).await?;
    Ok(())
}

/// clean: a MAX_RETRIES const read in unsafe
async fn unsafe_limit(ctx: OrchestrationContext, raw: Vec<u32>) -> Result<(), OrchestrationError> {
    let first = unsafe { *raw.get_unchecked(0) }.min(MAX_RETRIES);
    for attempt in 0..first {
        ctx.call_activity(Try, attempt).await?;
    }
    Ok(())
}

/// clean: ctx time and guid APIs
async fn ctx_time_and_ids(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let placed_at = ctx.current_time();
    let id = ctx.new_guid();
    let deadline = placed_at + chrono::Duration::hours(24);
    ctx.call_activity(SaveOrder, (id, order, placed_at)).await?;
    ctx.create_timer(deadline).await;
    Ok(())
}

/// clean: futures::future::select over durable calls
async fn approval_or_timeout(ctx: OrchestrationContext, request: Request) -> Result<bool, OrchestrationError> {
    ctx.call_activity(AskApproval, request).await?;
    let approval = ctx.wait_for_external_event::<bool>("approved");
    let timer = ctx.create_timer(std::time::Duration::from_secs(3600));
    match futures::future::select(approval, timer).await {
        futures::future::Either::Left((answer, _)) => Ok(answer?),
        futures::future::Either::Right(_) => Ok(false),
    }
}

/// clean: FuturesUnordered over durable calls (durable futures wake in history order)
async fn unordered_durable(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let mut pending: FuturesUnordered<_> = ids.into_iter().map(|id| ctx.call_activity(Fetch, id)).collect();
    while let Some(result) = pending.next().await {
        ctx.call_activity(Save, result?).await?;
    }
    Ok(())
}

/// clean: a bounded polling loop with a break
async fn poll_until_done(ctx: OrchestrationContext, job: JobId) -> Result<(), OrchestrationError> {
    loop {
        let status = ctx.call_activity(CheckJob, job.clone()).await?;
        if status.done {
            break;
        }
        ctx.create_timer(std::time::Duration::from_secs(30)).await;
    }
    Ok(())
}

/// clean: an eternal orchestration that continues as new
async fn eternal(ctx: OrchestrationContext, state: State) -> Result<(), OrchestrationError> {
    let next = ctx.call_activity(Cleanup, state).await?;
    ctx.create_timer(std::time::Duration::from_secs(3600)).await;
    ctx.continue_as_new(Eternal, next);
    Ok(())
}

/// clean: a bounded range loop
async fn numbered_pages(ctx: OrchestrationContext, pages: u64) -> Result<(), OrchestrationError> {
    for page in 1..=pages {
        ctx.call_activity(FetchPage, page).await?;
    }
    Ok(())
}

/// clean: an open range that is cut off with take
async fn first_ten(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for page in (1u64..).take(10) {
        ctx.call_activity(FetchPage, page).await?;
    }
    Ok(())
}

/// clean: while with a real condition
async fn drain_queue(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let mut more = true;
    while more {
        more = ctx.call_activity(DrainBatch, ()).await?;
    }
    Ok(())
}

/// clean: durations and constants named like clocks
async fn timeouts(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let timeout = std::time::Duration::from_secs(30);
    let retry = RetryPolicy::new(3, timeout);
    let started = ctx.current_time();
    ctx.call_activity_with_retry(Charge, 100, &retry).await?;
    ctx.logger().info(format_args!("charged after {:?}", ctx.current_time() - started));
    Ok(())
}

/// clean: local functions named like forbidden ones
async fn local_helpers(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    fn now(items: &[Item]) -> usize {
        items.len()
    }
    let count = now(&items);
    let read = items.iter().filter(|i| i.ready).count();
    ctx.call_activity(Report, (count, read)).await?;
    Ok(())
}

/// clean: vec! repeat of a plain value and format macros
async fn formatting(ctx: OrchestrationContext, n: usize) -> Result<(), OrchestrationError> {
    let zeros = vec![0u8; n];
    let label = format!("batch of {}", zeros.len());
    ctx.logger().info(format_args!("{label}"));
    ctx.call_activity(Store, zeros).await?;
    Ok(())
}

/// clean: serde_json::json! with plain fields
async fn json_body(ctx: OrchestrationContext, user: String) -> Result<(), OrchestrationError> {
    let body = serde_json::json!({ "user": user, "at": ctx.current_time().to_rfc3339() });
    ctx.call_activity(Send, body).await?;
    Ok(())
}

/// clean: local atomics and cells are not process-global
async fn local_counter(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let done = std::sync::atomic::AtomicUsize::new(0);
    for item in items {
        ctx.call_activity(Process, item).await?;
        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    ctx.call_activity(Report, done.load(std::sync::atomic::Ordering::Relaxed)).await?;
    Ok(())
}

/// clean: an immutable static table read in the body
async fn static_table(ctx: OrchestrationContext, code: String) -> Result<(), OrchestrationError> {
    static REGIONS: [&str; 3] = ["eu", "us", "ap"];
    for region in REGIONS.iter() {
        ctx.call_activity(Deploy, (code.clone(), region.to_string())).await?;
    }
    Ok(())
}

/// clean: a macro_rules! helper that only builds values
async fn local_macro_values(ctx: OrchestrationContext, id: u64) -> Result<(), OrchestrationError> {
    macro_rules! key {
        ($p:expr, $id:expr) => {
            format!("{}:{}", $p, $id)
        };
    }
    ctx.call_activity(Save, key!("order", id)).await?;
    Ok(())
}

/// clean: iterating a HashMap's values into a sum, then a durable call; hash: weights
async fn sum_values(ctx: OrchestrationContext, weights: HashMap<String, u32>) -> Result<(), OrchestrationError> {
    let total: u32 = weights.values().sum();
    let max = weights.values().copied().max().unwrap_or(0);
    ctx.call_activity(Report, (total, max)).await?;
    Ok(())
}

/// clean: elapsed on a ctx-derived time
async fn durable_elapsed(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let start = ctx.current_time();
    ctx.call_activity(Work, ()).await?;
    let took = ctx.current_time().signed_duration_since(start);
    ctx.call_activity(Log, took.num_milliseconds()).await?;
    Ok(())
}

/// clean: join_all fan-out over a Vec input
async fn fan_out_vec(ctx: OrchestrationContext, cities: Vec<String>) -> Result<Vec<String>, OrchestrationError> {
    let calls: Vec<_> = cities.iter().map(|c| ctx.call_activity(Greet, c.clone())).collect();
    let greetings = try_join_all(calls).await?;
    Ok(greetings)
}

/// clean: a thread-safe Arc/Mutex local used to gather results
async fn local_mutex(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for id in ids {
        let r = ctx.call_activity(Fetch, id).await?;
        seen.lock().unwrap().push(r);
    }
    ctx.call_activity(Store, seen.lock().unwrap().clone()).await?;
    Ok(())
}
