// A second batch of violations, written after the walker change (see README.md): drift
// patterns written without running the checks on them, to see how the layers generalise.

/// kind: table; rule: wall_clock
async fn chrono_offset(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let now = chrono::offset::Utc::now();
    ctx.call_activity(Log, now.to_rfc3339()).await?;
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn record_age(ctx: OrchestrationContext, doc: Document) -> Result<(), OrchestrationError> {
    let age = doc.created_at.elapsed().unwrap_or_default();
    if age.as_secs() > 86_400 {
        ctx.call_activity(Archive, doc.id).await?;
    }
    Ok(())
}

/// kind: macro; rule: randomness
async fn hex_id(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let id = format!("{:x}", rand::random::<u128>());
    ctx.call_activity(Create, id).await?;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn jitter(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0..100);
    ctx.create_timer(std::time::Duration::from_millis(jitter)).await;
    Ok(())
}

/// kind: table; rule: io
async fn load_config(ctx: OrchestrationContext, path: String) -> Result<(), OrchestrationError> {
    let cfg: Config = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    ctx.call_activity(Apply, cfg).await?;
    Ok(())
}

/// kind: table; rule: io
async fn http_client(ctx: OrchestrationContext, url: String) -> Result<(), OrchestrationError> {
    let res = reqwest::Client::new().get(&url).send().await?;
    ctx.call_activity(Store, res.status().as_u16()).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: counts
async fn fold_counts(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let counts: HashMap<_, usize> = items.iter().fold(HashMap::new(), |mut m, i| {
        *m.entry(i.kind.clone()).or_default() += 1;
        m
    });
    for (kind, n) in counts {
        ctx.call_activity(Report, (kind, n)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: by_id
async fn values_fan_out(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let by_id = items.into_iter().map(|i| (i.id, i)).collect::<HashMap<_, _>>();
    let calls = by_id.values().map(|i| ctx.call_activity(Process, i.clone()));
    join_all(calls).await;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.settings
async fn apply_settings(ctx: OrchestrationContext, input: Input) -> Result<(), OrchestrationError> {
    for (key, value) in input.settings.iter() {
        ctx.call_activity(Apply, (key.clone(), value.clone())).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: state.pending
async fn signal_pending(ctx: OrchestrationContext, state: State) -> Result<(), OrchestrationError> {
    state.pending.iter().for_each(|id| {
        ctx.signal_entity(Counter::entity_id(id), "reset", ());
    });
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: prices
async fn first_entry(ctx: OrchestrationContext, prices: Prices) -> Result<(), OrchestrationError> {
    if let Some((sku, _)) = prices.iter().next() {
        ctx.call_activity(Feature, sku.clone()).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: quotas
async fn biggest_quota(ctx: OrchestrationContext, quotas: Quotas) -> Result<(), OrchestrationError> {
    let winner = quotas.iter().max_by_key(|(_, q)| **q).map(|(region, _)| region.clone());
    if let Some(region) = winner {
        ctx.call_activity(Promote, region).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn request_number(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let n = REQUESTS.fetch_add(1, SeqCst);
    ctx.call_activity(Number, n).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn once_config(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let cfg = CONFIG.get().expect("configured at startup");
    ctx.call_activity(Provision, cfg.region.clone()).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn rw_global(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let flags = FLAGS.read().unwrap().clone();
    if flags.contains("beta") {
        ctx.call_activity(Beta, ()).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: env
async fn thread_name(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let name = std::thread::current().name().map(str::to_owned);
    ctx.call_activity(Log, name).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn thread_pool(ctx: OrchestrationContext, jobs: Vec<Job>) -> Result<(), OrchestrationError> {
    let pool = threadpool::ThreadPool::new(4);
    for job in jobs {
        pool.execute(move || job.run());
    }
    ctx.call_activity(Done, ()).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn nano_id(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let id = nanoid::nanoid!();
    ctx.call_activity(Create, id).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn command_loop(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    loop {
        match ctx.wait_for_external_event::<Cmd>("cmd").await? {
            Cmd::Skip => continue,
            Cmd::Run(job) => {
                ctx.call_activity(RunJob, job).await?;
            }
        }
    }
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn retry_forever(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    for attempt in 1.. {
        match ctx.call_activity(RunJob, job.clone()).await {
            Ok(_) => {}
            Err(_) => continue,
        }
        ctx.call_activity(Log, attempt).await?;
    }
    Ok(())
}
