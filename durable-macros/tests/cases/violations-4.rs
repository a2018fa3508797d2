// A fourth held-out batch of violations (see README.md), written before the walker was
// changed for it and before running the checks on it. The bodies imitate how backend
// code drifts into an orchestrator: `use` globs and groups (`use std::time::*;`,
// `use rand::prelude::*;`), crate aliases, chrono through a prelude, HTTP and socket
// clients, config read from the environment and files, id counters and caches in module
// statics, fan-outs with `tokio::spawn` / `JoinSet` / threads, and `HashMap`s that come
// from the input, an activity's result or a struct field. Statics named in a body are
// declared at module level in the code they imitate (not shown: the walker sees only the
// body). Helpers defined outside the body that do the forbidden thing are out of scope for
// a body-only check and are not in the list (the Clippy companion covers them).

/// kind: path_form; rule: wall_clock
async fn glob_time_import(ctx: OrchestrationContext, job: Job) -> Result<(), OrchestrationError> {
    use std::time::*;
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ctx.call_activity(RunJob, (job, started.as_millis() as u64)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn chrono_prelude(ctx: OrchestrationContext, user: User) -> Result<(), OrchestrationError> {
    use chrono::prelude::*;
    let stamp = Local::now().format("%Y-%m-%d %H:%M").to_string();
    ctx.call_activity(SendWelcome, (user, stamp)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn utc_via_reexport(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use crate::prelude::time::Utc;
    let due = Utc::now() + chrono::Duration::days(order.terms as i64);
    ctx.call_activity(ScheduleInvoice, (order.id, due)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn chrono_crate_alias(ctx: OrchestrationContext, id: u64) -> Result<(), OrchestrationError> {
    use chrono as ch;
    let today = ch::Utc::now().date_naive();
    ctx.call_activity(MarkProcessed, (id, today)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn tokio_instant_timing(ctx: OrchestrationContext, batch: Vec<Item>) -> Result<(), OrchestrationError> {
    use tokio::time::Instant;
    let start = Instant::now();
    ctx.call_activity(Import, batch).await?;
    let took = start.elapsed().as_millis() as u64;
    ctx.call_activity(RecordMetric, ("import_ms", took)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn offset_date_time(ctx: OrchestrationContext, doc: Doc) -> Result<(), OrchestrationError> {
    let signed_at = time::OffsetDateTime::now_utc().unix_timestamp();
    ctx.call_activity(Sign, (doc, signed_at)).await?;
    Ok(())
}

/// kind: macro; rule: wall_clock
async fn json_payload_timestamp(ctx: OrchestrationContext, event: Event) -> Result<(), OrchestrationError> {
    let payload = serde_json::json!({
        "type": event.kind,
        "emitted_at": chrono::Utc::now().to_rfc3339(),
    });
    ctx.call_activity(Publish, payload).await?;
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn expiry_check(ctx: OrchestrationContext, token: Token) -> Result<(), OrchestrationError> {
    let issued = std::time::UNIX_EPOCH + std::time::Duration::from_secs(token.iat);
    if issued.elapsed().map(|d| d.as_secs() > 3600).unwrap_or(true) {
        ctx.call_activity(RefreshToken, token.sub).await?;
    }
    Ok(())
}

/// kind: path_form; rule: randomness
async fn uuid_renamed(ctx: OrchestrationContext, req: Request) -> Result<(), OrchestrationError> {
    use uuid::Uuid as Id;
    let correlation = Id::new_v4();
    ctx.call_activity(Forward, (correlation, req)).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn gen_backoff(ctx: OrchestrationContext, attempt: u32) -> Result<(), OrchestrationError> {
    use rand::Rng;
    let jitter: u64 = rand::thread_rng().gen::<u64>() % 500;
    ctx.create_timer(Duration::from_millis(100 * 2u64.pow(attempt) + jitter)).await;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn rand_prelude_pick(ctx: OrchestrationContext, replicas: Vec<String>) -> Result<(), OrchestrationError> {
    use rand::prelude::*;
    let mut rng = thread_rng();
    let target = replicas[rng.gen_range(0..replicas.len())].clone();
    ctx.call_activity(Replicate, target).await?;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn rand_crate_alias(ctx: OrchestrationContext, n: u64) -> Result<(), OrchestrationError> {
    use rand as rnd;
    let salt = rnd::random::<u64>();
    ctx.call_activity(HashWithSalt, (n, salt)).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn fastrand_sample(ctx: OrchestrationContext, rows: Vec<Row>) -> Result<(), OrchestrationError> {
    if fastrand::f64() < 0.1 {
        ctx.call_activity(AuditSample, rows.len()).await?;
    }
    Ok(())
}

/// kind: table; rule: randomness
async fn getrandom_nonce(ctx: OrchestrationContext, msg: Vec<u8>) -> Result<(), OrchestrationError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).expect("rng");
    ctx.call_activity(Encrypt, (msg, nonce)).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn thread_rng_default(ctx: OrchestrationContext, keys: Vec<String>) -> Result<(), OrchestrationError> {
    let mut rng = rand::rngs::ThreadRng::default();
    let idx = rand::Rng::gen_range(&mut rng, 0..keys.len());
    ctx.call_activity(Rotate, keys[idx].clone()).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn random_state_shard(ctx: OrchestrationContext, key: String, shards: u64) -> Result<(), OrchestrationError> {
    use std::hash::BuildHasher;
    let shard = std::collections::hash_map::RandomState::new().hash_one(&key) % shards;
    ctx.call_activity(Route, (key, shard)).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn pointer_formatted_id(ctx: OrchestrationContext, input: Input) -> Result<(), OrchestrationError> {
    let tag = format!("req-{:p}", &input);
    ctx.call_activity(Track, tag).await?;
    Ok(())
}

/// kind: table; rule: env
async fn env_region(ctx: OrchestrationContext, bucket: String) -> Result<(), OrchestrationError> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    ctx.call_activity(CreateBucket, (bucket, region)).await?;
    Ok(())
}

/// kind: path_form; rule: env
async fn env_group_import(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::{env, time::Duration};
    let dry_run = env::var_os("DRY_RUN").is_some();
    if !dry_run {
        ctx.call_activity(Purge, ()).await?;
    }
    ctx.create_timer(Duration::from_secs(60)).await;
    Ok(())
}

/// kind: missing_source; rule: env
async fn worker_host(ctx: OrchestrationContext, task: Task) -> Result<(), OrchestrationError> {
    let host = hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    ctx.call_activity(Claim, (task, host)).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn libc_pid(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let pid = unsafe { libc::getpid() };
    ctx.call_activity(Register, pid).await?;
    Ok(())
}

/// kind: table; rule: io
async fn read_template(ctx: OrchestrationContext, name: String) -> Result<(), OrchestrationError> {
    use std::fs;
    let body = fs::read_to_string(format!("templates/{name}.html"))?;
    ctx.call_activity(Render, body).await?;
    Ok(())
}

/// kind: table; rule: io
async fn tokio_fs_write(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let out = ctx.call_activity(BuildReport, report).await?;
    tokio::fs::write("/tmp/report.json", &out).await?;
    Ok(())
}

/// kind: table; rule: io
async fn reqwest_client(ctx: OrchestrationContext, url: String) -> Result<(), OrchestrationError> {
    let client = reqwest::Client::new();
    let status = client.get(&url).send().await?.status().as_u16();
    ctx.call_activity(RecordHealth, (url, status)).await?;
    Ok(())
}

/// kind: path_form; rule: io
async fn tcp_probe(ctx: OrchestrationContext, addr: String) -> Result<(), OrchestrationError> {
    use tokio::net::TcpStream;
    let reachable = TcpStream::connect(&addr).await.is_ok();
    ctx.call_activity(MarkReachable, (addr, reachable)).await?;
    Ok(())
}

/// kind: path_form; rule: io
async fn udp_socket(ctx: OrchestrationContext, stats: Stats) -> Result<(), OrchestrationError> {
    use std::net::{SocketAddr, UdpSocket};
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.send_to(&stats.encode(), "127.0.0.1:8125".parse::<SocketAddr>().unwrap())?;
    ctx.call_activity(Flush, stats).await?;
    Ok(())
}

/// kind: table; rule: io
async fn git_describe(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    let out = std::process::Command::new("git").args(["describe", "--tags"]).output()?;
    ctx.call_activity(Deploy, String::from_utf8_lossy(&out.stdout).to_string()).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn hyper_call(ctx: OrchestrationContext, uri: String) -> Result<(), OrchestrationError> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<String>();
    let res = client.get(uri.parse()?).await?;
    ctx.call_activity(Store, res.status().as_u16()).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn static_http_client(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let resp = HTTP.post(&hook.url).json(&hook.body).send().await?;
    ctx.call_activity(RecordDelivery, (hook.id, resp.status().as_u16())).await?;
    Ok(())
}

/// kind: table; rule: sleep
async fn tokio_sleep_group(ctx: OrchestrationContext, ids: Vec<u64>) -> Result<(), OrchestrationError> {
    use tokio::time::{self, Duration};
    for id in ids {
        ctx.call_activity(Poll, id).await?;
        time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// kind: path_form; rule: sleep
async fn thread_sleep_bare(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    use std::thread::sleep;
    use std::time::Duration;
    ctx.call_activity(Warmup, ()).await?;
    sleep(Duration::from_secs(2));
    ctx.call_activity(Start, ()).await?;
    Ok(())
}

/// kind: table; rule: sleep
async fn tokio_timeout(ctx: OrchestrationContext, id: u64) -> Result<(), OrchestrationError> {
    let res = tokio::time::timeout(Duration::from_secs(30), ctx.call_activity(Charge, id)).await;
    if res.is_err() {
        ctx.call_activity(Cancel, id).await?;
    }
    Ok(())
}

/// kind: table; rule: spawn
async fn tokio_spawn_fanout(ctx: OrchestrationContext, users: Vec<u64>) -> Result<(), OrchestrationError> {
    let mut handles = Vec::new();
    for u in users {
        handles.push(tokio::spawn(async move { notify(u).await }));
    }
    for h in handles {
        let _ = h.await;
    }
    ctx.call_activity(Done, ()).await?;
    Ok(())
}

/// kind: path_form; rule: spawn
async fn std_thread_module(ctx: OrchestrationContext, data: Vec<u8>) -> Result<(), OrchestrationError> {
    use std::thread;
    let handle = thread::spawn(move || compress(&data));
    let packed = handle.join().unwrap();
    ctx.call_activity(Upload, packed).await?;
    Ok(())
}

/// kind: table; rule: spawn
async fn executor_block_on(ctx: OrchestrationContext, key: String) -> Result<(), OrchestrationError> {
    let cached = futures::executor::block_on(cache_lookup(&key));
    if cached.is_none() {
        ctx.call_activity(Fill, key).await?;
    }
    Ok(())
}

/// kind: method_call; rule: spawn
async fn joinset_imported(ctx: OrchestrationContext, urls: Vec<String>) -> Result<(), OrchestrationError> {
    use tokio::task::JoinSet;
    let mut set = JoinSet::new();
    for url in urls {
        set.spawn(fetch(url));
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        n += r.is_ok() as u32;
    }
    ctx.call_activity(Summarise, n).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn actix_spawn(ctx: OrchestrationContext, evt: Event) -> Result<(), OrchestrationError> {
    actix_rt::spawn(async move { audit(evt).await });
    ctx.call_activity(Ack, ()).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn
async fn crossbeam_scope(ctx: OrchestrationContext, parts: Vec<Part>) -> Result<(), OrchestrationError> {
    let sums: Vec<u64> = crossbeam::scope(|s| {
        let hs: Vec<_> = parts.iter().map(|p| s.spawn(move |_| p.checksum())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
    .unwrap();
    ctx.call_activity(Verify, sums).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn request_counter(ctx: OrchestrationContext, req: Request) -> Result<(), OrchestrationError> {
    use std::sync::atomic::Ordering;
    let seq = REQUEST_SEQ.fetch_add(1, Ordering::SeqCst);
    ctx.call_activity(Handle, (seq, req)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn oncelock_config(ctx: OrchestrationContext, file: String) -> Result<(), OrchestrationError> {
    let cfg = CONFIG.get().expect("config initialised");
    if cfg.scan_uploads {
        ctx.call_activity(Scan, file.clone()).await?;
    }
    ctx.call_activity(Store, file).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn oncecell_get_or_init(ctx: OrchestrationContext, q: Query) -> Result<(), OrchestrationError> {
    let limits = LIMITS.get_or_init(load_limits);
    ctx.call_activity(Search, (q, limits.max_results)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn lazy_static_in_body(ctx: OrchestrationContext, name: String) -> Result<(), OrchestrationError> {
    lazy_static::lazy_static! {
        static ref BLOCKLIST: Vec<String> = std::env::var("BLOCKLIST")
            .unwrap_or_default()
            .split(',')
            .map(String::from)
            .collect();
    }
    if !BLOCKLIST.contains(&name) {
        ctx.call_activity(Admit, name).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn lazy_flag_deref(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    if *FEATURE_NEW_PRICING {
        ctx.call_activity(PriceV2, order).await?;
    } else {
        ctx.call_activity(PriceV1, order).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn mutex_cache(ctx: OrchestrationContext, sku: String) -> Result<(), OrchestrationError> {
    let hit = PRICE_CACHE.lock().unwrap().get(&sku).cloned();
    let price = match hit {
        Some(p) => p,
        None => ctx.call_activity(LookupPrice, sku).await?,
    };
    ctx.call_activity(Quote, price).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn thread_local_counter(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    thread_local! {
        static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let n = CALLS.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    ctx.call_activity(Log, n).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: quotas
async fn param_map_iter(ctx: OrchestrationContext, quotas: HashMap<String, u32>) -> Result<(), OrchestrationError> {
    for (tenant, quota) in quotas.iter() {
        ctx.call_activity(ApplyQuota, (tenant.clone(), *quota)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: owners
async fn activity_result_keys(ctx: OrchestrationContext, repo: String) -> Result<(), OrchestrationError> {
    let owners = ctx.call_activity(ListOwners, repo).await?;
    for owner in owners.keys() {
        ctx.call_activity(NotifyOwner, owner.clone()).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.targets
async fn input_field_values(ctx: OrchestrationContext, input: DeployInput) -> Result<(), OrchestrationError> {
    for target in input.targets.values() {
        ctx.call_activity(DeployTo, target.clone()).await?;
    }
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: by_region
async fn local_map_into_iter(ctx: OrchestrationContext, hosts: Vec<Host>) -> Result<(), OrchestrationError> {
    let mut by_region = HashMap::new();
    for h in hosts {
        by_region.entry(h.region.clone()).or_insert_with(Vec::new).push(h);
    }
    for (region, hosts) in by_region.into_iter() {
        ctx.call_activity(RollRegion, (region, hosts)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: steps
async fn ref_for_over_parsed(ctx: OrchestrationContext, raw: String) -> Result<(), OrchestrationError> {
    let steps = serde_json::from_str::<HashMap<String, Step>>(&raw)?;
    for (name, step) in &steps {
        ctx.call_activity(RunStep, (name.clone(), step.clone())).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: state.pending
async fn struct_field_drain(ctx: OrchestrationContext, mut state: State) -> Result<(), OrchestrationError> {
    for id in state.pending.drain() {
        ctx.call_activity(Process, id).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: seen
async fn retain_schedules(ctx: OrchestrationContext, mut seen: HashSet<String>) -> Result<(), OrchestrationError> {
    let mut calls = Vec::new();
    seen.retain(|k| {
        if k.starts_with("tmp-") {
            calls.push(ctx.call_activity(Cleanup, k.clone()));
            false
        } else {
            true
        }
    });
    durable_runtime::join_all(calls).await;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: members
async fn extend_into_vec(ctx: OrchestrationContext, members: HashSet<u64>) -> Result<(), OrchestrationError> {
    let mut queue: Vec<u64> = Vec::with_capacity(members.len());
    queue.extend(members.iter().copied());
    for m in queue {
        ctx.call_activity(Invite, m).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: groups
async fn collected_then_fanned(ctx: OrchestrationContext, groups: HashMap<String, Vec<u64>>) -> Result<(), OrchestrationError> {
    let names: Vec<String> = groups.into_keys().collect();
    let calls = names.iter().map(|n| ctx.call_activity(SyncGroup, n.clone()));
    durable_runtime::join_all(calls).await;
    Ok(())
}

/// kind: missing_source; rule: hash_iteration
async fn dashmap_iter(ctx: OrchestrationContext, sessions: &dashmap::DashMap<String, Session>) -> Result<(), OrchestrationError> {
    for entry in sessions.iter() {
        ctx.call_activity(Expire, entry.key().clone()).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn open_range_poll(ctx: OrchestrationContext, job: u64) -> Result<(), OrchestrationError> {
    for tick in 1u64.. {
        ctx.create_timer(Duration::from_secs(60)).await;
        ctx.call_activity(Heartbeat, (job, tick)).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn while_running_flag(ctx: OrchestrationContext, device: String) -> Result<(), OrchestrationError> {
    let running = true;
    while running {
        let reading = ctx.call_activity(ReadSensor, device.clone()).await?;
        ctx.call_activity(Store, reading).await?;
        ctx.create_timer(Duration::from_secs(10)).await;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn break_in_inner_loop(ctx: OrchestrationContext, queue: String) -> Result<(), OrchestrationError> {
    loop {
        let batch: Vec<Msg> = ctx.call_activity(Receive, queue.clone()).await?;
        for msg in batch {
            if msg.is_poison() {
                break;
            }
            ctx.call_activity(Handle, msg).await?;
        }
    }
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn step_by_range(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    for offset in (0..).step_by(100) {
        let page: Vec<Row> = ctx.call_activity(FetchPage, offset).await?;
        ctx.call_activity(Index, page).await?;
    }
    Ok(())
}
