// A third held-out batch of clean bodies (see README.md), written with violations-3.rs.
// Module-level items they name (`LIMITS`, `ROUTES`, `MAX_ATTEMPTS`, `NAMESPACE`) are a
// `const` array, a `phf::Map` static, a `const` number and a `const Uuid` in the code they
// imitate.

/// clean: ctx time formatted with chrono
async fn formatted_ctx_time(ctx: OrchestrationContext, name: String) -> Result<(), OrchestrationError> {
    let now: chrono::DateTime<chrono::Utc> = ctx.current_time().into();
    let label = format!("{}-{}", name, now.format("%Y%m%d"));
    ctx.call_activity(Tag, label).await?;
    Ok(())
}

/// clean: uuid parsing and a name-based v5 id
async fn uuid_look_alikes(ctx: OrchestrationContext, input: Input) -> Result<(), OrchestrationError> {
    let parent = uuid::Uuid::parse_str(&input.parent).unwrap_or(uuid::Uuid::nil());
    let child = uuid::Uuid::new_v5(&NAMESPACE, input.name.as_bytes());
    ctx.call_activity(Link, (parent, child)).await?;
    Ok(())
}

/// clean: a seeded RNG whose seed comes from the input
async fn seeded_rng(ctx: OrchestrationContext, input: Input) -> Result<(), OrchestrationError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(input.seed);
    let shard = rng.gen_range(0..input.shards);
    ctx.call_activity(Assign, shard).await?;
    Ok(())
}

/// clean: a module-level const array read with `.get()`
async fn const_table(ctx: OrchestrationContext, tier: usize) -> Result<(), OrchestrationError> {
    let limit = LIMITS.get(tier).copied().unwrap_or(0);
    ctx.call_activity(SetLimit, limit).await?;
    Ok(())
}

/// clean: a phf static map lookup
async fn phf_route(ctx: OrchestrationContext, kind: String) -> Result<(), OrchestrationError> {
    let queue = ROUTES.get(kind.as_str()).copied().unwrap_or("default");
    ctx.call_activity(Enqueue, queue.to_string()).await?;
    Ok(())
}

/// clean: the first entry of a BTreeMap built in the body
async fn btree_first(ctx: OrchestrationContext, bids: Vec<Bid>) -> Result<(), OrchestrationError> {
    let by_price: BTreeMap<u64, Bid> = bids.into_iter().map(|b| (b.price, b)).collect();
    if let Some((_, best)) = by_price.iter().next_back() {
        ctx.call_activity(Award, best.clone()).await?;
    }
    if let Some(lowest) = by_price.keys().next() {
        ctx.call_activity(Record, *lowest).await?;
    }
    Ok(())
}

/// clean: max_by_key over a Vec
async fn best_of_vec(ctx: OrchestrationContext, offers: Vec<Offer>) -> Result<(), OrchestrationError> {
    if let Some(best) = offers.iter().max_by_key(|o| o.score) {
        ctx.call_activity(Accept, best.id).await?;
    }
    Ok(())
}

/// clean: order-independent questions about a HashMap; hash: stock
async fn stock_checks(ctx: OrchestrationContext, stock: Stock) -> Result<(), OrchestrationError> {
    let empty = stock.is_empty();
    let any_out = stock.values().any(|n| *n == 0);
    let skus = stock.len();
    if any_out || empty {
        ctx.call_activity(Restock, skus).await?;
    }
    Ok(())
}

/// clean: compile-time environment macros
async fn build_info(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let version = env!("CARGO_PKG_VERSION");
    let commit = option_env!("GIT_SHA").unwrap_or("unknown");
    ctx.call_activity(Report, (version, commit)).await?;
    Ok(())
}

/// clean: a retry loop bounded by a module-level const
async fn bounded_retry(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ctx.call_activity(RunJob, job.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= MAX_ATTEMPTS => return Err(e.into()),
            Err(_) => ctx.create_timer(Duration::from_secs(2u64.pow(attempt))).await,
        };
    }
}

/// clean: a bounded successors sequence
async fn bounded_backoff(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let delays = std::iter::successors(Some(1u64), |d| (*d < 60).then(|| d * 2));
    for delay in delays {
        ctx.create_timer(Duration::from_secs(delay)).await;
    }
    Ok(())
}

/// clean: a local Arc<Mutex<..>> accumulator
async fn local_mutex(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for id in ids {
        let v = ctx.call_activity(Fetch, id).await?;
        seen.lock().unwrap().push(v);
    }
    let all = seen.lock().unwrap().clone();
    ctx.call_activity(Store, all).await?;
    Ok(())
}

/// clean: join_all over a Vec of durable calls, timing from ctx
async fn timed_fan_out(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let started = ctx.current_time();
    let calls: Vec<_> = ids.iter().map(|id| ctx.call_activity(Fetch, *id)).collect();
    let results = durable_runtime::join_all(calls).await;
    let took = ctx.current_time().duration_since(started).unwrap_or_default();
    tracing::info!(took_ms = took.as_millis() as u64, n = results.len(), "fan-out done");
    ctx.call_activity(Store, results.len()).await?;
    Ok(())
}

/// clean: a HashSet filter counted, not iterated into calls; hash: seen
async fn count_new(ctx: OrchestrationContext, seen: HashSet<u64>, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    let fresh = ids.iter().filter(|id| !seen.contains(id)).count();
    let old = seen.iter().filter(|id| **id < 100).count();
    ctx.call_activity(Report, (fresh, old)).await?;
    Ok(())
}
