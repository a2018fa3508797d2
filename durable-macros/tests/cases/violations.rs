// Orchestrator bodies that break replay; see README.md. One violation per fn.

// ---- the documented rule table ------------------------------------------------------

/// kind: table; rule: wall_clock
async fn stamp_order(ctx: OrchestrationContext, order: Order) -> Result<Receipt, OrchestrationError> {
    let placed_at = chrono::Utc::now();
    ctx.call_activity(SaveOrder, (order, placed_at)).await?;
    Ok(Receipt::default())
}

/// kind: table; rule: randomness
async fn assign_reviewer(ctx: OrchestrationContext, reviewers: Vec<String>) -> Result<String, OrchestrationError> {
    let pick = rand::thread_rng().gen_range(0..reviewers.len());
    ctx.call_activity(Notify, reviewers[pick].clone()).await?;
    Ok(reviewers[pick].clone())
}

/// kind: table; rule: randomness
async fn new_shipment(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let tracking = uuid::Uuid::new_v4().to_string();
    ctx.call_activity(Ship, (order.id, tracking)).await?;
    Ok(())
}

/// kind: table; rule: sleep
async fn backoff_retry(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    for attempt in 0..5u32 {
        if ctx.call_activity(RunJob, job.clone()).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(2u64.pow(attempt))).await;
    }
    Err(OrchestrationError::new("gave up"))
}

/// kind: table; rule: spawn
async fn warm_cache(ctx: OrchestrationContext, keys: Vec<String>) -> Result<(), OrchestrationError> {
    let handle = tokio::spawn(async move { keys.len() });
    let _ = handle.await;
    ctx.call_activity(Done, ()).await?;
    Ok(())
}

/// kind: table; rule: env
async fn regional(ctx: OrchestrationContext, input: Input) -> Result<(), OrchestrationError> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "eu-west-1".into());
    ctx.call_activity(Provision, (input, region)).await?;
    Ok(())
}

/// kind: table; rule: io
async fn load_template(ctx: OrchestrationContext, name: String) -> Result<(), OrchestrationError> {
    let template = std::fs::read_to_string(format!("templates/{name}.html"))?;
    ctx.call_activity(Render, template).await?;
    Ok(())
}

/// kind: table; rule: io
async fn ping_upstream(ctx: OrchestrationContext, url: String) -> Result<(), OrchestrationError> {
    let status = reqwest::get(&url).await?.status();
    ctx.call_activity(Record, status.as_u16()).await?;
    Ok(())
}

/// kind: table; rule: select
async fn first_answer(ctx: OrchestrationContext, q: Question) -> Result<Answer, OrchestrationError> {
    let a = ctx.call_activity(AskA, q.clone());
    let b = ctx.call_activity(AskB, q);
    let answer = tokio::select! {
        x = a => x?,
        y = b => y?,
    };
    Ok(answer)
}

/// kind: table; rule: static_mut
async fn count_runs(ctx: OrchestrationContext) -> Result<u32, OrchestrationError> {
    static mut RUNS: u32 = 0;
    unsafe { RUNS += 1 };
    ctx.call_activity(Report, ()).await?;
    Ok(0)
}

/// kind: table; rule: unbounded_loop
async fn monitor(ctx: OrchestrationContext, job: JobId) -> Result<(), OrchestrationError> {
    loop {
        let status = ctx.call_activity(CheckJob, job.clone()).await?;
        ctx.set_custom_status(&status)?;
        ctx.create_timer(std::time::Duration::from_secs(30)).await;
    }
}

/// kind: table; rule: hash_iteration; hash: by_team
async fn notify_all(ctx: OrchestrationContext, users: Vec<User>) -> Result<(), OrchestrationError> {
    let mut by_team: HashMap<String, Vec<User>> = HashMap::new();
    for user in users {
        by_team.entry(user.team.clone()).or_default().push(user);
    }
    for (team, members) in &by_team {
        ctx.call_activity(NotifyTeam, (team.clone(), members.len())).await?;
    }
    Ok(())
}

// ---- method-call forms ----------------------------------------------------------------

/// kind: method_call; rule: wall_clock
async fn epoch_seconds(ctx: OrchestrationContext, id: String) -> Result<(), OrchestrationError> {
    let secs = UNIX_EPOCH.elapsed().unwrap().as_secs();
    ctx.call_activity(Stamp, (id, secs)).await?;
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn uptime_gate(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    if STARTED.elapsed() > std::time::Duration::from_secs(3600) {
        ctx.call_activity(Rotate, ()).await?;
    }
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn deadline_check(ctx: OrchestrationContext, deadline: std::time::SystemTime) -> Result<(), OrchestrationError> {
    if deadline.elapsed().is_ok() {
        ctx.call_activity(Escalate, ()).await?;
    }
    Ok(())
}

/// kind: method_call; rule: spawn
async fn background_export(ctx: OrchestrationContext, rows: Vec<Row>) -> Result<(), OrchestrationError> {
    let worker = std::thread::Builder::new()
        .name("export".into())
        .spawn(move || rows.len())
        .unwrap();
    let n = worker.join().unwrap();
    ctx.call_activity(Exported, n).await?;
    Ok(())
}

/// kind: method_call; rule: spawn
async fn on_current_runtime(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let task = tokio::runtime::Handle::current().spawn(async { 42 });
    let value = task.await.unwrap();
    ctx.call_activity(Use, value).await?;
    Ok(())
}

/// kind: method_call; rule: spawn
async fn fan_out_joinset(ctx: OrchestrationContext, urls: Vec<String>) -> Result<(), OrchestrationError> {
    let mut set = JoinSet::new();
    for url in urls {
        set.spawn(async move { url.len() });
    }
    while let Some(done) = set.join_next().await {
        ctx.call_activity(Record, done.unwrap()).await?;
    }
    Ok(())
}

/// kind: method_call; rule: spawn
async fn scoped_threads(ctx: OrchestrationContext, parts: Vec<Part>) -> Result<(), OrchestrationError> {
    let sizes: Vec<usize> = std::thread::scope(|s| {
        parts.iter().map(|p| s.spawn(move || p.size())).collect::<Vec<_>>()
            .into_iter().map(|h| h.join().unwrap()).collect()
    });
    ctx.call_activity(Total, sizes).await?;
    Ok(())
}

/// kind: method_call; rule: randomness
async fn shuffle_candidates(ctx: OrchestrationContext, mut list: Vec<String>) -> Result<(), OrchestrationError> {
    list.shuffle(&mut rng());
    ctx.call_activity(Pick, list[0].clone()).await?;
    Ok(())
}

// ---- other path forms -----------------------------------------------------------------

/// kind: path_form; rule: wall_clock
async fn renamed_clock(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::time::SystemTime as Clock;
    let t = Clock::now();
    ctx.call_activity(Log, format!("{t:?}")).await?;
    Ok(())
}

/// kind: path_form; rule: sleep
async fn bare_sleep(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::thread::sleep;
    sleep(std::time::Duration::from_millis(500));
    ctx.call_activity(Next, ()).await?;
    Ok(())
}

/// kind: path_form; rule: sleep
async fn tokio_bare_sleep(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use tokio::time::{sleep, Duration};
    sleep(Duration::from_millis(100)).await;
    ctx.call_activity(Next, ()).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn qself_now(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let t = <std::time::SystemTime>::now();
    ctx.call_activity(Log, format!("{t:?}")).await?;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn renamed_uuid(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use uuid::Uuid as Id;
    let id = Id::new_v4();
    ctx.call_activity(Create, id).await?;
    Ok(())
}

/// kind: path_form; rule: spawn
async fn bare_spawn(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use tokio::spawn;
    let h = spawn(async { 1 });
    ctx.call_activity(Use, h.await.unwrap()).await?;
    Ok(())
}

/// kind: path_form; rule: env
async fn bare_var(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::env::var;
    let tier = var("TIER").unwrap_or_default();
    ctx.call_activity(Configure, tier).await?;
    Ok(())
}

/// kind: path_form; rule: io
async fn fs_alias(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::fs as disk;
    let cfg = disk::read_to_string("app.toml")?;
    ctx.call_activity(Apply, cfg).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn use_group_now(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::time::{Instant as Tick};
    let t0 = Tick::now();
    ctx.call_activity(Work, ()).await?;
    ctx.call_activity(Log, t0.elapsed().as_millis() as u64).await?;
    Ok(())
}

// ---- inside macros ----------------------------------------------------------------------

/// kind: macro; rule: wall_clock
async fn repeat_stamp(ctx: OrchestrationContext, n: usize) -> Result<(), OrchestrationError> {
    let stamps = vec![SystemTime::now(); n];
    ctx.call_activity(Store, stamps.len()).await?;
    Ok(())
}

/// kind: macro; rule: wall_clock
async fn traced(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    tracing::info!(at = ?Instant::now(), "starting");
    ctx.call_activity(Work, ()).await?;
    Ok(())
}

/// kind: macro; rule: randomness
async fn json_payload(ctx: OrchestrationContext, user: String) -> Result<(), OrchestrationError> {
    let body = serde_json::json!({ "user": user, "nonce": rand::random::<u64>() });
    ctx.call_activity(Send, body).await?;
    Ok(())
}

/// kind: macro; rule: sleep
async fn local_macro(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    macro_rules! pause {
        ($ms:expr) => {
            std::thread::sleep(std::time::Duration::from_millis($ms))
        };
    }
    pause!(250);
    ctx.call_activity(Next, ()).await?;
    Ok(())
}

/// kind: macro; rule: wall_clock
async fn local_macro_clock(ctx: OrchestrationContext, id: u64) -> Result<(), OrchestrationError> {
    macro_rules! stamped {
        ($v:expr) => {
            ($v, chrono::Utc::now())
        };
    }
    ctx.call_activity(Save, stamped!(id)).await?;
    Ok(())
}

/// kind: macro; rule: randomness
async fn assert_random(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let sample = if cfg!(debug_assertions) { fastrand::u8(..) } else { 0 };
    ctx.call_activity(Use, sample).await?;
    Ok(())
}

/// kind: macro; rule: env
async fn matches_env(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    if matches!(std::env::var("MODE").as_deref(), Ok("fast")) {
        ctx.call_activity(Fast, ()).await?;
    }
    Ok(())
}

// ---- process-global state ---------------------------------------------------------------

/// kind: global_state; rule: global_state
async fn next_ticket(ctx: OrchestrationContext) -> Result<u64, OrchestrationError> {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let ticket = COUNTER.fetch_add(1, Ordering::Relaxed);
    ctx.call_activity(Issue, ticket).await?;
    Ok(ticket)
}

/// kind: global_state; rule: global_state
async fn feature_flag(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    if ENABLED.load(Ordering::SeqCst) {
        ctx.call_activity(NewPath, ()).await?;
    } else {
        ctx.call_activity(OldPath, ()).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn per_thread_id(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    thread_local!(static THREAD_ID: usize = next_id());
    let id = THREAD_ID.with(|&x| x);
    ctx.call_activity(Tag, id).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn thread_local_cache(ctx: OrchestrationContext, key: String) -> Result<(), OrchestrationError> {
    let cached = CACHE.with(|c| c.borrow().get(&key).cloned());
    if cached.is_none() {
        ctx.call_activity(Fill, key).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn lazy_registry(ctx: OrchestrationContext, name: String) -> Result<(), OrchestrationError> {
    lazy_static! {
        static ref ID_GEN: AtomicUsize = AtomicUsize::new(1);
    }
    let id = ID_GEN.fetch_add(1, Ordering::AcqRel);
    ctx.call_activity(Register, (name, id)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn once_lock_config(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    static SEEN: std::sync::LazyLock<std::sync::Mutex<Vec<u64>>> = std::sync::LazyLock::new(Default::default);
    let first = SEEN.lock().unwrap().is_empty();
    if first {
        ctx.call_activity(Init, ()).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn global_mutex(ctx: OrchestrationContext, job: u64) -> Result<(), OrchestrationError> {
    let busy = IN_FLIGHT.lock().unwrap().insert(job);
    if busy {
        ctx.call_activity(Run, job).await?;
    }
    Ok(())
}

// ---- sources missing from the table -------------------------------------------------------

/// kind: missing_source; rule: env
async fn by_thread(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let me = std::thread::current().id();
    ctx.call_activity(Log, format!("{me:?}")).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn by_pid(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let pid = std::process::id();
    ctx.call_activity(Lease, pid).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn hashed_shard(ctx: OrchestrationContext, key: String) -> Result<(), OrchestrationError> {
    let state = std::collections::hash_map::RandomState::new();
    let shard = state.hash_one(&key) % 16;
    ctx.call_activity(Route, shard).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn default_hasher(ctx: OrchestrationContext, key: String) -> Result<(), OrchestrationError> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    ctx.call_activity(Route, h.finish() % 8).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn address_as_id(ctx: OrchestrationContext, item: Item) -> Result<(), OrchestrationError> {
    let id = std::ptr::addr_of!(item) as usize;
    ctx.call_activity(Track, id).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn parallel_score(ctx: OrchestrationContext, docs: Vec<Doc>) -> Result<(), OrchestrationError> {
    let scores: Vec<f64> = docs.par_iter().map(|d| d.score()).collect();
    ctx.call_activity(Store, scores).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn rayon_join(ctx: OrchestrationContext, a: Vec<u8>, b: Vec<u8>) -> Result<(), OrchestrationError> {
    let (x, y) = rayon::join(|| a.len(), || b.len());
    ctx.call_activity(Store, x + y).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn joinset_path(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async { 1 });
    ctx.call_activity(Next, ()).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn host_name(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let host = hostname::get()?.to_string_lossy().into_owned();
    ctx.call_activity(Register, host).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn core_count(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    for chunk in items.chunks(n) {
        ctx.call_activity(Batch, chunk.to_vec()).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: wall_clock
async fn tokio_instant(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let start = tokio::time::Instant::now();
    ctx.call_activity(Work, ()).await?;
    ctx.call_activity(Log, start.elapsed().as_millis() as u64).await?;
    Ok(())
}

// ---- hash iteration where the map is not a `let` in the body --------------------------------

/// kind: hash_nonlocal; rule: hash_iteration; hash: quotas
async fn per_region(ctx: OrchestrationContext, quotas: HashMap<String, u32>) -> Result<(), OrchestrationError> {
    for (region, quota) in quotas {
        ctx.call_activity(SetQuota, (region, quota)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: prices
async fn from_activity(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let prices = ctx.call_activity(LoadPrices, ()).await?;
    for (sku, price) in prices.iter() {
        ctx.call_activity(Publish, (sku.clone(), *price)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: batch.recipients
async fn input_field(ctx: OrchestrationContext, batch: Batch) -> Result<(), OrchestrationError> {
    for recipient in &batch.recipients {
        ctx.call_activity(Email, recipient.clone()).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: accounts.balances
async fn keys_fan_out(ctx: OrchestrationContext, accounts: Accounts) -> Result<(), OrchestrationError> {
    let calls: Vec<_> = accounts.balances.keys().map(|id| ctx.call_activity(Close, id.clone())).collect();
    join_all(calls).await;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: tags
async fn set_input(ctx: OrchestrationContext, tags: HashSet<String>) -> Result<(), OrchestrationError> {
    for tag in tags.iter() {
        ctx.call_activity(Index, tag.clone()).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: inventory
async fn activity_values(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let inventory = ctx.call_activity(Snapshot, ()).await?;
    for item in inventory.into_values() {
        ctx.call_activity(Reorder, item).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: grouped
async fn grouped_then_called(ctx: OrchestrationContext, orders: Vec<Order>) -> Result<(), OrchestrationError> {
    let grouped = group_by_customer(&orders);
    for (customer, orders) in grouped {
        ctx.call_activity(Invoice, (customer, orders)).await?;
    }
    Ok(())
}

// ---- unbounded loops not spelled `loop` -----------------------------------------------------

/// kind: unbounded_loop; rule: unbounded_loop
async fn tick_forever(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for tick in 0.. {
        ctx.call_activity(Tick, tick).await?;
        ctx.create_timer(std::time::Duration::from_secs(60)).await;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn while_true(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    while true {
        ctx.wait_for_external_event::<Ping>("ping").await?;
        ctx.call_activity(Pong, ()).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn dead_break(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    loop {
        ctx.call_activity(Poll, ()).await?;
        if false {
            break;
        }
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn iter_repeat(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for _ in std::iter::repeat(()) {
        ctx.call_activity(Poll, ()).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn range_from_step(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for page in (1u64..).step_by(1) {
        ctx.call_activity(FetchPage, page).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn while_not_false(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    while !false {
        ctx.create_timer(std::time::Duration::from_secs(5)).await;
        ctx.call_activity(Heartbeat, ()).await?;
    }
    Ok(())
}
