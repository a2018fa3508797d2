// A third held-out batch of violations (see README.md), written before the batch-2 misses
// were closed and before running the checks on it. Patterns follow public async-service
// code read with the search tool: `SystemTime::now().duration_since(UNIX_EPOCH)` id and
// timestamp helpers, `Utc::now().timestamp_millis()`, `Uuid::new_v4().simple()`,
// `rand::thread_rng().gen_range(..)` jitter for backoff, `rand::random::<u64>() % base`,
// `static CONFIG: Lazy<Config>` / `OnceCell` config globals, `tokio::fs::File::create`,
// `TcpStream::connect`, `populations.iter().max_by_key(..)` on a `HashMap`, and
// `map.iter().filter(..).map(..).next()` "key by value" helpers. Statics named in a body
// are declared at module level in the code they imitate (not shown: the walker sees only
// the body).

/// kind: table; rule: wall_clock
async fn epoch_secs(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    ctx.call_activity(Stamp, secs).await?;
    Ok(())
}

/// kind: table; rule: wall_clock
async fn millis_in_struct(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let event = OrderEvent {
        id: order.id,
        at_ms: chrono::Utc::now().timestamp_millis(),
    };
    ctx.call_activity(Publish, event).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn chrono_today(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let today = chrono::Utc::today().naive_utc();
    ctx.call_activity(DailyReport, today).await?;
    Ok(())
}

/// kind: macro; rule: wall_clock
async fn local_label(ctx: OrchestrationContext, name: String) -> Result<(), OrchestrationError> {
    let label = format!("{}-{}", name, chrono::Local::now().format("%Y%m%d"));
    ctx.call_activity(Tag, label).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn deadline_loop(ctx: OrchestrationContext, jobs: Vec<Job>) -> Result<(), OrchestrationError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for job in jobs {
        if tokio::time::Instant::now() > deadline {
            break;
        }
        ctx.call_activity(RunJob, job).await?;
    }
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn epoch_elapsed(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let since = std::time::UNIX_EPOCH.elapsed().map(|d| d.as_secs()).unwrap_or(0);
    ctx.call_activity(Stamp, since).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn clock_fn_pointer(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let clock: fn() -> std::time::SystemTime = std::time::SystemTime::now;
    ctx.call_activity(Stamp, clock()).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn simple_uuid(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    ctx.call_activity(Create, request_id).await?;
    Ok(())
}

/// kind: method_call; rule: randomness
async fn backoff_jitter(ctx: OrchestrationContext, attempt: u32) -> Result<(), OrchestrationError> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let delay = 2u64.pow(attempt) + rng.gen_range(0..1000);
    ctx.create_timer(Duration::from_millis(delay)).await;
    Ok(())
}

/// kind: table; rule: randomness
async fn modulo_jitter(ctx: OrchestrationContext, base: u64) -> Result<(), OrchestrationError> {
    let jitter = (rand::random::<u64>() % base) / 10;
    ctx.create_timer(Duration::from_millis(base + jitter)).await;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn fastrand_pick(ctx: OrchestrationContext, replicas: Vec<String>) -> Result<(), OrchestrationError> {
    let i = fastrand::usize(..replicas.len());
    ctx.call_activity(Route, replicas[i].clone()).await?;
    Ok(())
}

/// kind: method_call; rule: randomness
async fn sampled_token(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use rand::distributions::{Alphanumeric, DistString};
    let token = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    ctx.call_activity(Issue, token).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn ring_random(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let rng = ring::rand::SystemRandom::new();
    let nonce: [u8; 12] = ring::rand::generate(&rng).unwrap().expose();
    ctx.call_activity(Encrypt, nonce).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn imported_nanoid(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use nanoid::nanoid;
    let short = nanoid!(10);
    ctx.call_activity(Create, short).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn cuid_id(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let id = cuid2::create_id();
    ctx.call_activity(Create, id).await?;
    Ok(())
}

/// kind: table; rule: env
async fn region_env(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    ctx.call_activity(Provision, region).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn dotenvy_var(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let url = dotenvy::var("API_URL")?;
    ctx.call_activity(Fetch, url).await?;
    Ok(())
}

/// kind: path_form; rule: env
async fn prefixed_vars(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::env;
    let flags: Vec<(String, String)> = env::vars().filter(|(k, _)| k.starts_with("FEATURE_")).collect();
    ctx.call_activity(Configure, flags).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn host_info(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let sys = sysinfo::System::new_all();
    ctx.call_activity(Report, sys.total_memory()).await?;
    Ok(())
}

/// kind: table; rule: io
async fn tokio_read(ctx: OrchestrationContext, path: String) -> Result<(), OrchestrationError> {
    let body = tokio::fs::read_to_string(&path).await?;
    ctx.call_activity(Parse, body).await?;
    Ok(())
}

/// kind: path_form; rule: io
async fn imported_file(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    use tokio::fs::File;
    use tokio::io::AsyncWriteExt;
    let mut out = File::create("report.txt").await?;
    out.write_all(report.text.as_bytes()).await?;
    ctx.call_activity(Notify, report.id).await?;
    Ok(())
}

/// kind: table; rule: io
async fn tcp_probe(ctx: OrchestrationContext, addr: String) -> Result<(), OrchestrationError> {
    let up = tokio::net::TcpStream::connect(&addr).await.is_ok();
    ctx.call_activity(Health, (addr, up)).await?;
    Ok(())
}

/// kind: path_form; rule: io
async fn imported_client(ctx: OrchestrationContext, url: String) -> Result<(), OrchestrationError> {
    use reqwest::Client;
    let status = Client::new().head(&url).send().await?.status();
    ctx.call_activity(Record, status.as_u16()).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn sqlx_query(ctx: OrchestrationContext, pool: PgPool) -> Result<(), OrchestrationError> {
    let row: (i64,) = sqlx::query_as("SELECT count(*) FROM jobs").fetch_one(&pool).await?;
    ctx.call_activity(Scale, row.0).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn ureq_get(ctx: OrchestrationContext, url: String) -> Result<(), OrchestrationError> {
    let body = ureq::get(&url).call()?.into_string()?;
    ctx.call_activity(Parse, body).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn async_std_sleep(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    async_std::task::sleep(Duration::from_secs(2)).await;
    ctx.call_activity(Poll, ()).await?;
    Ok(())
}

/// kind: path_form; rule: sleep
async fn time_module_sleep(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use tokio::time;
    time::sleep(time::Duration::from_millis(250)).await;
    ctx.call_activity(Poll, ()).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn smol_spawn(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let task = smol::spawn(async move { items.len() });
    let n = task.await;
    ctx.call_activity(Count, n).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn imported_pool(ctx: OrchestrationContext, files: Vec<String>) -> Result<(), OrchestrationError> {
    use threadpool::ThreadPool;
    let workers = ThreadPool::new(8);
    for f in files {
        workers.execute(move || compress(&f));
    }
    workers.join();
    ctx.call_activity(Done, ()).await?;
    Ok(())
}

/// kind: table; rule: select
async fn select_timeout(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let approval = ctx.wait_for_external_event::<bool>("approval");
    let timer = ctx.create_timer(Duration::from_secs(3600));
    tokio::select! {
        ok = approval => { ctx.call_activity(Record, ok?).await?; }
        _ = timer => { ctx.call_activity(Escalate, ()).await?; }
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn settings_once_cell(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let settings = SETTINGS.get().unwrap();
    ctx.call_activity(Provision, settings.region.clone()).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn lazy_config_field(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    if CONFIG.feature_flags.beta {
        ctx.call_activity(Beta, ()).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn dashmap_sessions(ctx: OrchestrationContext, user: String) -> Result<(), OrchestrationError> {
    let known = SESSIONS.contains_key(&user);
    if !known {
        ctx.call_activity(Welcome, user).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn mutex_cache(ctx: OrchestrationContext, key: String) -> Result<(), OrchestrationError> {
    let hit = CACHE.lock().unwrap().get(&key).cloned();
    match hit {
        Some(v) => ctx.call_activity(Use, v).await?,
        None => ctx.call_activity(Load, key).await?,
    };
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: populations
async fn most_populous(ctx: OrchestrationContext, populations: Populations) -> Result<(), OrchestrationError> {
    let (city, _) = populations.iter().max_by_key(|&(_, pop)| pop).unwrap();
    ctx.call_activity(Visit, city.clone()).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: owners
async fn key_by_value(ctx: OrchestrationContext, owners: Owners, team: String) -> Result<(), OrchestrationError> {
    let owner = owners.iter().filter(|&(_, t)| *t == team).map(|(k, _)| k.clone()).next();
    if let Some(owner) = owner {
        ctx.call_activity(Assign, owner).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: pending
async fn first_pending(ctx: OrchestrationContext, pending: HashSet<String>) -> Result<(), OrchestrationError> {
    let next = pending.iter().next().cloned();
    if let Some(id) = next {
        ctx.call_activity(Process, id).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: workers
async fn find_idle(ctx: OrchestrationContext, workers: Workers) -> Result<(), OrchestrationError> {
    if let Some((name, _)) = workers.iter().find(|(_, w)| w.idle) {
        ctx.call_activity(Dispatch, name.clone()).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: headers
async fn headers_loop(ctx: OrchestrationContext, headers: HashMap<String, String>) -> Result<(), OrchestrationError> {
    for (name, value) in &headers {
        ctx.call_activity(Audit, (name.clone(), value.clone())).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn doubling(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for delay in std::iter::successors(Some(1u64), |d| Some(d * 2)) {
        ctx.create_timer(Duration::from_secs(delay)).await;
        ctx.call_activity(Probe, ()).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn poll_loop(ctx: OrchestrationContext, job: JobId) -> Result<(), OrchestrationError> {
    let mut polls = 0u64;
    loop {
        polls += 1;
        let status = ctx.call_activity(Status, job.clone()).await?;
        if polls > 10 && false {
            break;
        }
        ctx.create_timer(Duration::from_secs(60)).await;
        let _ = status;
    }
}

/// kind: table; rule: static_mut
async fn bump_counter(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let n = unsafe {
        REQUEST_COUNT += 1;
        REQUEST_COUNT
    };
    ctx.call_activity(Number, n).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn thread_id_label(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let label = format!("{:?}", std::thread::current().id());
    ctx.call_activity(Log, label).await?;
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn log_elapsed(ctx: OrchestrationContext, started: std::time::Instant) -> Result<(), OrchestrationError> {
    ctx.call_activity(Step, ()).await?;
    tracing::info!(elapsed = ?started.elapsed(), "step done");
    Ok(())
}
