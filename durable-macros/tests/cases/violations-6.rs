// A sixth held-out batch of violations (see README.md), written before the walker was
// changed for it and before running the checks on it. The bodies transplant into an
// orchestrator what public backend code of other kinds than batches 1-5 does: payment
// integrations (idempotency keys, 3-D Secure nonces, SDK clients, refunds), sagas and their
// compensations, booking and inventory holds, notification fan-outs (SMS, push, digests),
// ETL pipelines (csv / polars readers, rayon transforms, watermarks), scheduled reports
// (cron schedules, PDF renderers, locale and time-zone lookups), webhooks (signatures,
// retry crates, DNS checks, dedupe stores), game servers (ticks, loot rolls, leaderboards,
// sessions), IoT telemetry (MQTT, InfluxDB, Modbus, serial ports, device shadows), CLI tools
// turned into services (argument parsers, terminal width, `which`), job queues (faktory,
// sidekiq, apalis, celery), rate limiters, feature-flag clients, id generators and typical
// junior-developer mistakes. Statics named in a body are declared at module level in the
// code they imitate (not shown: the walker sees only the body). Helpers defined outside the
// body that do the forbidden thing are out of scope for a body-only check and are not in
// the list.

// ---- payments -------------------------------------------------------------------------

/// kind: table; rule: wall_clock
async fn idempotency_key_from_millis(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let millis = chrono::Utc::now().timestamp_millis();
    let key = format!("charge-{}-{}", order.id, millis);
    ctx.call_activity(ChargeCard, (order, key)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn stripe_sdk_customer(ctx: OrchestrationContext, signup: Signup) -> Result<(), OrchestrationError> {
    let client = stripe::Client::new(signup.secret_key.clone());
    let mut params = stripe::CreateCustomer::new();
    params.email = Some(&signup.email);
    let customer = stripe::Customer::create(&client, params).await?;
    ctx.call_activity(LinkCustomer, (signup.user_id, customer.id.to_string())).await?;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn leading_colon_uuid_key(ctx: OrchestrationContext, refund: Refund) -> Result<(), OrchestrationError> {
    let idempotency = ::uuid::Uuid::new_v4();
    ctx.call_activity(IssueRefund, (refund, idempotency.to_string())).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn openssl_three_ds_nonce(ctx: OrchestrationContext, payment: Payment) -> Result<(), OrchestrationError> {
    let mut nonce = [0u8; 16];
    openssl::rand::rand_bytes(&mut nonce).map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(StartThreeDs, (payment, hex::encode(nonce))).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.partial_refunds
async fn partial_refunds_from_input(ctx: OrchestrationContext, input: RefundBatch) -> Result<(), OrchestrationError> {
    let calls: Vec<_> = input
        .partial_refunds
        .iter()
        .map(|(charge_id, cents)| ctx.call_activity(IssueRefund, (charge_id.clone(), *cents)))
        .collect();
    durable_runtime::try_join_all(calls).await?;
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn authorization_window_elapsed(ctx: OrchestrationContext, input: Capture) -> Result<(), OrchestrationError> {
    let stale = input
        .authorized_at
        .elapsed()
        .ok()
        .filter(|age| *age > AUTH_WINDOW)
        .is_some();
    if stale {
        ctx.call_activity(Reauthorize, input.payment_id.clone()).await?;
    }
    ctx.call_activity(CapturePayment, input.payment_id).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn fx_rate_minreq(ctx: OrchestrationContext, invoice: Invoice) -> Result<(), OrchestrationError> {
    let url = format!("https://rates.example.com/latest?base={}", invoice.currency);
    let body = minreq::get(url).send().map_err(|e| OrchestrationError::new(e.to_string()))?;
    let rate: f64 = body.as_str().unwrap_or("1.0").trim().parse().unwrap_or(1.0);
    ctx.call_activity(ConvertInvoice, (invoice, rate)).await?;
    Ok(())
}

/// kind: path_form; rule: sleep
async fn capture_after_renamed_sleep(ctx: OrchestrationContext, payment: Payment) -> Result<(), OrchestrationError> {
    use std::thread::sleep as pause;
    ctx.call_activity(Authorize, payment.clone()).await?;
    pause(Duration::from_secs(2));
    ctx.call_activity(CapturePayment, payment.id).await?;
    Ok(())
}

// ---- sagas ----------------------------------------------------------------------------

/// kind: table; rule: spawn
async fn compensate_detached_task(ctx: OrchestrationContext, trip: Trip) -> Result<(), OrchestrationError> {
    let flight = ctx.call_activity(BookFlight, trip.clone()).await?;
    if let Err(err) = ctx.call_activity(BookHotel, trip.clone()).await {
        let flight_id = flight.id.clone();
        tokio::task::spawn(async move {
            tracing::warn!(%err, %flight_id, "hotel failed, cancelling flight");
        });
        ctx.call_activity(CancelFlight, flight.id).await?;
    }
    Ok(())
}

/// kind: method_call; rule: spawn
async fn task_tracker_compensations(ctx: OrchestrationContext, saga: SagaState) -> Result<(), OrchestrationError> {
    let tracker = tokio_util::task::TaskTracker::new();
    for step in saga.completed.iter().rev() {
        let step = step.clone();
        tracker.spawn(async move { audit_log(step).await });
    }
    tracker.close();
    ctx.call_activity(MarkCompensated, saga.id).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn sweeper_open_range_iterator_var(ctx: OrchestrationContext, shard: u32) -> Result<(), OrchestrationError> {
    let mut rounds = 0u64..;
    while let Some(round) = rounds.next() {
        let stuck: Vec<SagaId> = ctx.call_activity(FindStuckSagas, (shard, round)).await?;
        for id in stuck {
            ctx.call_activity(Compensate, id).await?;
        }
        ctx.create_timer(Duration::from_secs(60)).await;
    }
    Ok(())
}

/// kind: path_form; rule: sleep
async fn saga_step_time_module_timeout(ctx: OrchestrationContext, trip: Trip) -> Result<(), OrchestrationError> {
    use tokio::time::{self, Duration};
    match time::timeout(Duration::from_secs(30), ctx.call_activity(ReserveCar, trip.clone())).await {
        Ok(reserved) => {
            reserved?;
        }
        Err(_) => {
            ctx.call_activity(CancelTrip, trip).await?;
        }
    }
    Ok(())
}

/// kind: table; rule: io
async fn saga_checkpoint_file(ctx: OrchestrationContext, trip: Trip) -> Result<(), OrchestrationError> {
    let done = std::fs::read_to_string(format!("/var/lib/saga/{}.done", trip.id)).unwrap_or_default();
    if !done.contains("flight") {
        ctx.call_activity(BookFlight, trip.clone()).await?;
    }
    ctx.call_activity(BookHotel, trip).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: state.completed
async fn compensation_reversed_not_sorted(ctx: OrchestrationContext, state: SagaState) -> Result<(), OrchestrationError> {
    let mut undo: Vec<(Step, StepResult)> = state.completed.into_iter().collect();
    undo.reverse();
    for (step, result) in undo {
        ctx.call_activity(Undo, (step, result)).await?;
    }
    Ok(())
}

// ---- booking and inventory --------------------------------------------------------------

/// kind: table; rule: wall_clock
async fn seat_hold_deadline(ctx: OrchestrationContext, hold: SeatHold) -> Result<(), OrchestrationError> {
    ctx.call_activity(HoldSeat, hold.clone()).await?;
    let hold_until = chrono::Utc::now() + chrono::Duration::minutes(15);
    ctx.create_timer(hold_until).await;
    ctx.call_activity(ReleaseIfUnpaid, hold.seat).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn seats_left_fetch_sub(ctx: OrchestrationContext, request: SeatRequest) -> Result<(), OrchestrationError> {
    if SEATS_LEFT.fetch_sub(1, Ordering::AcqRel) > 0 {
        ctx.call_activity(ConfirmSeat, request).await?;
    } else {
        ctx.call_activity(AddToWaitlist, request).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn inventory_read_guard(ctx: OrchestrationContext, item: LineItem) -> Result<(), OrchestrationError> {
    let available = INVENTORY.read().await.get(&item.sku).copied().unwrap_or(0);
    if available >= item.quantity {
        ctx.call_activity(Reserve, item).await?;
    } else {
        ctx.call_activity(Backorder, item).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: stock
async fn first_warehouse_with_stock(ctx: OrchestrationContext, item: LineItem) -> Result<(), OrchestrationError> {
    let stock = ctx.call_activity(StockByWarehouse, item.sku.clone()).await?;
    let chosen = stock
        .iter()
        .find(|(_, on_hand)| **on_hand >= item.quantity)
        .map(|(warehouse, _)| warehouse.clone());
    if let Some(warehouse) = chosen {
        ctx.call_activity(ReserveAt, (warehouse, item)).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn holds_in_sled(ctx: OrchestrationContext, room: RoomRequest) -> Result<(), OrchestrationError> {
    let db = sled::open("holds.db").map_err(|e| OrchestrationError::new(e.to_string()))?;
    let held = db.contains_key(room.key()).unwrap_or(false);
    if !held {
        ctx.call_activity(HoldRoom, room).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: wall_clock
async fn cron_reminder_upcoming(ctx: OrchestrationContext, reminder: Reminder) -> Result<(), OrchestrationError> {
    let schedule = cron::Schedule::from_str(&reminder.cron).map_err(|e| OrchestrationError::new(e.to_string()))?;
    if let Some(next) = schedule.upcoming(chrono::Utc).next() {
        ctx.create_timer(next).await;
        ctx.call_activity(SendReminder, reminder).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn overbooking_from_os_rng(ctx: OrchestrationContext, booking: Booking) -> Result<(), OrchestrationError> {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut rng = StdRng::from_os_rng();
    if rng.random_bool(0.05) {
        ctx.call_activity(FlagForOverbookingReview, booking.clone()).await?;
    }
    ctx.call_activity(ConfirmBooking, booking).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn booking_reference_petname(ctx: OrchestrationContext, booking: Booking) -> Result<(), OrchestrationError> {
    let reference = petname::petname(3, "-").unwrap_or_default();
    ctx.call_activity(ConfirmBooking, (booking, reference)).await?;
    Ok(())
}

// ---- notifications ----------------------------------------------------------------------

/// kind: table; rule: spawn
async fn sms_thread_per_recipient(ctx: OrchestrationContext, blast: SmsBlast) -> Result<(), OrchestrationError> {
    let handles: Vec<_> = blast
        .recipients
        .clone()
        .into_iter()
        .map(|to| std::thread::spawn(move || render_sms(&to)))
        .collect();
    let bodies: Vec<String> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    ctx.call_activity(SendSmsBatch, (blast.recipients, bodies)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn fcm_push_client(ctx: OrchestrationContext, push: PushRequest) -> Result<(), OrchestrationError> {
    let client = fcm::Client::new();
    let mut builder = fcm::MessageBuilder::new(&push.api_key, &push.device_token);
    builder.data(&push.payload).ok();
    let delivered = client.send(builder.finalize()).await.is_ok();
    ctx.call_activity(RecordDelivery, (push.id, delivered)).await?;
    Ok(())
}

/// kind: method_call; rule: spawn
async fn local_pool_spawner(ctx: OrchestrationContext, digest: Digest) -> Result<(), OrchestrationError> {
    use futures::task::LocalSpawnExt;
    let pool = futures::executor::LocalPool::new();
    let spawner = pool.spawner();
    spawner.spawn_local(async move { warm_templates().await }).ok();
    ctx.call_activity(SendDigest, digest).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: prefs.channels
async fn channels_from_preferences(ctx: OrchestrationContext, alert: Alert) -> Result<(), OrchestrationError> {
    let prefs = ctx.call_activity(LoadPreferences, alert.user_id.clone()).await?;
    for channel in prefs.channels.iter() {
        ctx.call_activity(Notify, (alert.clone(), *channel)).await?;
    }
    Ok(())
}

/// kind: macro; rule: hash_iteration; hash: templates
async fn maplit_templates(ctx: OrchestrationContext, event: Event) -> Result<(), OrchestrationError> {
    let templates = maplit::hashmap! {
        "email" => Template::Email,
        "sms" => Template::Sms,
        "push" => Template::Push,
    };
    for (channel, template) in templates {
        ctx.call_activity(Render, (channel.to_string(), template, event.clone())).await?;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn digest_forever(ctx: OrchestrationContext, user: UserId) -> Result<(), OrchestrationError> {
    loop {
        let notes: Vec<Note> = ctx.wait_for_external_event("notes").await?;
        ctx.call_activity(SendDigest, (user.clone(), notes)).await?;
        ctx.create_timer(Duration::from_secs(3600)).await;
    }
}

/// kind: path_form; rule: wall_clock
async fn quiet_hours_renamed_local(ctx: OrchestrationContext, note: Note) -> Result<(), OrchestrationError> {
    use chrono::{Local as Tz, Timelike};
    if Tz::now().hour() >= 22 {
        ctx.create_timer(Duration::from_secs(8 * 3600)).await;
    }
    ctx.call_activity(SendPush, note).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn unsubscribed_set_lock(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    for email in campaign.recipients {
        if UNSUBSCRIBED.lock().contains(&email) {
            continue;
        }
        ctx.call_activity(SendCampaignEmail, (campaign.id, email)).await?;
    }
    Ok(())
}

/// kind: macro; rule: spawn
async fn join_macro_with_spawn(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let (_, receipt) = futures::join!(
        tokio::spawn(warm_receipt_cache(order.id)),
        ctx.call_activity(SendReceipt, order.clone()),
    );
    receipt?;
    Ok(())
}

// ---- ETL pipelines -----------------------------------------------------------------------

/// kind: missing_source; rule: io
async fn csv_extract_in_body(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    let mut reader = csv::Reader::from_path(&job.source).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let rows: Vec<Row> = reader.deserialize().filter_map(Result::ok).collect();
    ctx.call_activity(LoadRows, (job.target, rows)).await?;
    Ok(())
}

/// kind: path_form; rule: io
async fn tokio_file_nested_group(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    use tokio::{
        fs::File,
        io::{AsyncBufReadExt, BufReader},
    };
    let file = File::open(&job.source).await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    let mut lines = BufReader::new(file).lines();
    let mut batch = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        batch.push(line);
    }
    ctx.call_activity(LoadLines, batch).await?;
    Ok(())
}

/// kind: method_call; rule: spawn
async fn rayon_into_par_iter_transform(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    use rayon::prelude::*;
    let raw: Vec<RawRow> = ctx.call_activity(Extract, job.clone()).await?;
    let clean: Vec<Row> = raw.into_par_iter().map(normalise).collect();
    ctx.call_activity(LoadRows, (job.target, clean)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn polars_lazy_csv(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    use polars::prelude::*;
    let frame = LazyCsvReader::new(&job.source)
        .finish()
        .and_then(|lf| lf.collect())
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(LoadRowCount, (job.target, frame.height())).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn cursor_shadowed_never_advances(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    let next_cursor: Option<String> = Some(job.start_cursor.clone());
    while let Some(cursor) = next_cursor.clone() {
        let page: Page = ctx.call_activity(FetchPage, (job.source.clone(), cursor)).await?;
        ctx.call_activity(LoadRows, (job.target.clone(), page.rows)).await?;
        let next_cursor = page.next_cursor;
        tracing::debug!(?next_cursor, "page loaded");
    }
    Ok(())
}

/// kind: table; rule: wall_clock
async fn watermark_from_system_time(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    let watermark = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    ctx.call_activity(ExtractSince, (job.table, watermark)).await?;
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: unique
async fn dedup_not_sort_hashset(ctx: OrchestrationContext, rows: Vec<Row>) -> Result<(), OrchestrationError> {
    let unique: HashSet<Row> = rows.into_iter().collect();
    let mut ordered: Vec<Row> = unique.into_iter().collect();
    ordered.dedup();
    for row in ordered {
        ctx.call_activity(LoadRow, row).await?;
    }
    Ok(())
}

/// kind: path_form; rule: env
async fn threshold_renamed_env_var(ctx: OrchestrationContext, batch: Vec<Reading>) -> Result<(), OrchestrationError> {
    use std::env::var as env_var;
    let threshold: f64 = env_var("ETL_REJECT_THRESHOLD").ok().and_then(|v| v.parse().ok()).unwrap_or(0.1);
    let (good, bad): (Vec<_>, Vec<_>) = batch.into_iter().partition(|r| r.error_rate < threshold);
    ctx.call_activity(Load, good).await?;
    ctx.call_activity(Quarantine, bad).await?;
    Ok(())
}

// ---- scheduled reports -------------------------------------------------------------------

/// kind: table; rule: io
async fn report_pdf_command(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let html = ctx.call_activity(RenderHtml, report.clone()).await?;
    let status = std::process::Command::new("wkhtmltopdf")
        .arg(&html.path)
        .arg(&report.pdf_path)
        .status()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    if status.success() {
        ctx.call_activity(EmailReport, report).await?;
    }
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn report_offset_module_utc(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let period_end = chrono::offset::Utc::now().date_naive();
    ctx.call_activity(BuildMonthlyReport, (report, period_end)).await?;
    Ok(())
}

/// kind: table; rule: wall_clock
async fn report_now_local_offset(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let now = time::OffsetDateTime::now_local().map_err(|e| OrchestrationError::new(e.to_string()))?;
    if now.weekday() == time::Weekday::Monday {
        ctx.call_activity(BuildWeeklyReport, report).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.recipients_by_team
async fn recipients_chunks_from_map(ctx: OrchestrationContext, input: ReportRun) -> Result<(), OrchestrationError> {
    let everyone: Vec<Email> = input.recipients_by_team.values().flatten().cloned().collect();
    for chunk in everyone.chunks(50) {
        ctx.call_activity(SendReport, (input.report_id, chunk.to_vec())).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn report_tempdir(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let dir = tempfile::tempdir().map_err(|e| OrchestrationError::new(e.to_string()))?;
    let scratch = dir.path().join("report.csv").display().to_string();
    ctx.call_activity(ExportCsv, (report, scratch)).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn weekly_interval_at(ctx: OrchestrationContext, input: Schedule) -> Result<(), OrchestrationError> {
    let mut every = tokio::time::interval_at(input.first_run.into(), Duration::from_secs(7 * 24 * 3600));
    for _ in 0..input.weeks {
        every.tick().await;
        ctx.call_activity(BuildWeeklyReport, input.report.clone()).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: env
async fn report_locale_from_host(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let locale = sys_locale::get_locale().unwrap_or_else(|| String::from("en-US"));
    ctx.call_activity(RenderLocalised, (report, locale)).await?;
    Ok(())
}

// ---- webhooks ----------------------------------------------------------------------------

/// kind: macro; rule: wall_clock
async fn webhook_signature_in_format(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let signed_payload = format!(
        "{}.{}",
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        hook.body
    );
    let signature = sign_hmac(&hook.secret, &signed_payload);
    ctx.call_activity(Deliver, (hook, signature)).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn webhook_retry_tryhard(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    tryhard::retry_fn(|| ctx.call_activity(Deliver, hook.clone()))
        .retries(5)
        .exponential_backoff(Duration::from_millis(200))
        .await?;
    Ok(())
}

/// kind: table; rule: env
async fn webhook_secret_var_os(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let secret = std::env::var_os("WEBHOOK_SIGNING_SECRET").map(|s| s.to_string_lossy().into_owned());
    match secret {
        Some(secret) => ctx.call_activity(DeliverSigned, (hook, secret)).await?,
        None => ctx.call_activity(DeliverUnsigned, hook).await?,
    };
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.subscribers
async fn webhook_subscribers_keys_collected(ctx: OrchestrationContext, input: Broadcast) -> Result<(), OrchestrationError> {
    let targets = input.subscribers.keys().cloned().collect::<Vec<_>>();
    let calls = targets
        .iter()
        .map(|url| ctx.call_activity(Deliver, (url.clone(), input.event.clone())));
    durable_runtime::try_join_all(calls).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn webhook_url_socket_addrs(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let url = url::Url::parse(&hook.endpoint).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let resolves = url.socket_addrs(|| Some(443)).map(|a| !a.is_empty()).unwrap_or(false);
    if resolves {
        ctx.call_activity(Deliver, hook).await?;
    } else {
        ctx.call_activity(DisableEndpoint, hook.endpoint).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn webhook_dedupe_fred(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    use fred::prelude::*;
    let client = RedisClient::new(RedisConfig::from_url(&hook.dedupe_url)?, None, None, None);
    client.init().await?;
    let fresh: Option<String> = client
        .set(&hook.event_id, "1", Some(Expiration::EX(86_400)), Some(SetOptions::NX), false)
        .await?;
    if fresh.is_some() {
        ctx.call_activity(Deliver, hook).await?;
    }
    Ok(())
}

// ---- game servers ------------------------------------------------------------------------

/// kind: path_form; rule: sleep
async fn tick_bare_interval_import(ctx: OrchestrationContext, game: MatchState) -> Result<(), OrchestrationError> {
    use tokio::time::{interval, MissedTickBehavior};
    let mut ticks = interval(TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    for round in 0..game.rounds {
        ticks.tick().await;
        ctx.call_activity(AdvanceRound, (game.id, round)).await?;
    }
    Ok(())
}

/// kind: table; rule: randomness
async fn loot_roll_gen_range(ctx: OrchestrationContext, drop: LootDrop) -> Result<(), OrchestrationError> {
    use rand::Rng;
    let roll: u8 = rand::thread_rng().gen_range(1..=100);
    let tier = if roll > 95 { Tier::Legendary } else if roll > 70 { Tier::Rare } else { Tier::Common };
    ctx.call_activity(GrantLoot, (drop.player, tier)).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn region_from_gethostname(ctx: OrchestrationContext, lobby: Lobby) -> Result<(), OrchestrationError> {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let region = host.split('-').next().unwrap_or("eu").to_string();
    ctx.call_activity(AllocateServer, (lobby, region)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn session_seq_with_borrow_mut(ctx: OrchestrationContext, player: PlayerId) -> Result<(), OrchestrationError> {
    let seq = SESSION_SEQ.with_borrow_mut(|n| {
        *n += 1;
        *n
    });
    ctx.call_activity(OpenSession, (player, seq)).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: scores
async fn leaderboard_max_by_key(ctx: OrchestrationContext, match_id: MatchId) -> Result<(), OrchestrationError> {
    let scores = ctx.call_activity(FetchScores, match_id).await?;
    if let Some((mvp, _)) = scores.iter().max_by_key(|(_, points)| **points) {
        ctx.call_activity(AwardMvp, (match_id, mvp.clone())).await?;
    }
    Ok(())
}

/// kind: table; rule: io
async fn anticheat_udp_probe(ctx: OrchestrationContext, report: CheatReport) -> Result<(), OrchestrationError> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| OrchestrationError::new(e.to_string()))?;
    let reachable = socket.send_to(b"ping", &report.client_addr).is_ok();
    ctx.call_activity(RecordCheatReport, (report, reachable)).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn respawn_park_timeout(ctx: OrchestrationContext, player: PlayerId) -> Result<(), OrchestrationError> {
    ctx.call_activity(MarkDead, player.clone()).await?;
    std::thread::park_timeout(RESPAWN_DELAY);
    ctx.call_activity(Respawn, player).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn game_room_event_loop(ctx: OrchestrationContext, room: RoomId) -> Result<(), OrchestrationError> {
    while let Ok(mv) = ctx.wait_for_external_event::<Move>("move").await {
        let state = ctx.call_activity(ApplyMove, (room.clone(), mv)).await?;
        ctx.call_activity(Broadcast, (room.clone(), state)).await?;
    }
    Ok(())
}

// ---- IoT telemetry -----------------------------------------------------------------------

/// kind: missing_source; rule: io
async fn paho_mqtt_publish(ctx: OrchestrationContext, reading: Reading) -> Result<(), OrchestrationError> {
    let cli = paho_mqtt::AsyncClient::new(reading.broker.clone()).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let msg = paho_mqtt::Message::new(format!("sensors/{}/temp", reading.device), reading.value.to_string(), 1);
    let published = cli.publish(msg).await.is_ok();
    ctx.call_activity(RecordPublish, (reading.device, published)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn influx_write_points(ctx: OrchestrationContext, batch: TelemetryBatch) -> Result<(), OrchestrationError> {
    use influxdb::InfluxDbWriteable;
    let client = influxdb::Client::new(batch.influx_url.clone(), "telemetry");
    let queries: Vec<_> = batch.points.iter().map(|p| p.clone().into_query("temperature")).collect();
    let written = client.query(queries).await.is_ok();
    ctx.call_activity(AckBatch, (batch.id, written)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn modbus_tcp_connect(ctx: OrchestrationContext, plc: Plc) -> Result<(), OrchestrationError> {
    use tokio_modbus::prelude::*;
    let mut conn = tcp::connect(plc.addr).await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    let registers = conn.read_holding_registers(0x10, 4).await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(StoreRegisters, (plc.id, registers)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn serial_port_open(ctx: OrchestrationContext, gateway: Gateway) -> Result<(), OrchestrationError> {
    let mut port = serialport::new(&gateway.tty, 9600)
        .timeout(Duration::from_millis(500))
        .open()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let mut frame = [0u8; 32];
    let n = port.read(&mut frame).unwrap_or(0);
    ctx.call_activity(DecodeFrame, frame[..n].to_vec()).await?;
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: desired, reported
async fn shadow_difference(ctx: OrchestrationContext, device: DeviceShadow) -> Result<(), OrchestrationError> {
    let desired: HashSet<Setting> = device.desired.clone();
    let reported: HashSet<Setting> = ctx.call_activity(ReadReported, device.id.clone()).await?;
    for setting in desired.difference(&reported) {
        ctx.call_activity(ApplySetting, (device.id.clone(), setting.clone())).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: env
async fn local_offset_from_os(ctx: OrchestrationContext, device: DeviceId) -> Result<(), OrchestrationError> {
    let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    ctx.call_activity(ConfigureDeviceClock, (device, offset.whole_hours())).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn local_atomic_stop_never_set(ctx: OrchestrationContext, device: DeviceId) -> Result<(), OrchestrationError> {
    let stop = AtomicBool::new(false);
    while !stop.load(Ordering::Relaxed) {
        let reading = ctx.call_activity(ReadSensor, device.clone()).await?;
        ctx.call_activity(StoreReading, reading).await?;
        ctx.create_timer(Duration::from_secs(30)).await;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn continue_label_instead_of_break(ctx: OrchestrationContext, job: FirmwareJob) -> Result<(), OrchestrationError> {
    'poll: loop {
        let status = ctx.call_activity(FirmwareStatus, job.device.clone()).await?;
        match status {
            UpdateStatus::Done => continue 'poll,
            UpdateStatus::Failed => {
                ctx.call_activity(RollbackFirmware, job.clone()).await?;
            }
            UpdateStatus::Running => {}
        }
        ctx.create_timer(Duration::from_secs(20)).await;
    }
}

/// kind: missing_source; rule: env
async fn device_id_machine_uid(ctx: OrchestrationContext, enrolment: Enrolment) -> Result<(), OrchestrationError> {
    let gateway_id = machine_uid::get().unwrap_or_default();
    ctx.call_activity(RegisterDevice, (enrolment, gateway_id)).await?;
    Ok(())
}

/// kind: path_form; rule: spawn
async fn rayon_crate_alias_scope(ctx: OrchestrationContext, batch: TelemetryBatch) -> Result<(), OrchestrationError> {
    use rayon as ry;
    let mut summary = Summary::default();
    ry::scope(|s| {
        s.spawn(|_| summary.compute(&batch.points));
    });
    ctx.call_activity(StoreSummary, summary).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn deadline_not_refreshed(ctx: OrchestrationContext, input: WatchRequest) -> Result<(), OrchestrationError> {
    let now = ctx.current_time();
    while now < input.deadline {
        let online = ctx.call_activity(PingDevice, input.device.clone()).await?;
        if !online {
            ctx.call_activity(RaiseAlarm, input.device.clone()).await?;
        }
        ctx.create_timer(Duration::from_secs(60)).await;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn inclusive_u32_max_attempts(ctx: OrchestrationContext, device: DeviceId) -> Result<(), OrchestrationError> {
    for attempt in 1..=u32::MAX {
        if ctx.call_activity(TryProvision, (device.clone(), attempt)).await.is_ok() {
            ctx.call_activity(MarkProvisioned, device.clone()).await?;
        }
        ctx.create_timer(Duration::from_secs(5)).await;
    }
    Ok(())
}

// ---- CLI tools turned into services ------------------------------------------------------

/// kind: missing_source; rule: env
async fn cli_args_parse(ctx: OrchestrationContext, job: ExportJob) -> Result<(), OrchestrationError> {
    let args = Cli::parse();
    if args.dry_run {
        ctx.call_activity(PlanExport, job).await?;
    } else {
        ctx.call_activity(RunExport, job).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: env
async fn batch_by_terminal_width(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    let width = terminal_size::terminal_size().map(|(w, _)| w.0 as usize).unwrap_or(80);
    for chunk in items.chunks(width.max(1)) {
        ctx.call_activity(ProcessChunk, chunk.to_vec()).await?;
    }
    Ok(())
}

/// kind: table; rule: spawn
async fn runtime_block_on_in_body(ctx: OrchestrationContext, job: ExportJob) -> Result<(), OrchestrationError> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| OrchestrationError::new(e.to_string()))?;
    let manifest = rt.block_on(async { build_manifest(&job.dir).await });
    ctx.call_activity(UploadManifest, manifest).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn transcoder_which(ctx: OrchestrationContext, video: Video) -> Result<(), OrchestrationError> {
    if which::which("ffmpeg").is_ok() {
        ctx.call_activity(TranscodeLocally, video).await?;
    } else {
        ctx.call_activity(TranscodeInCloud, video).await?;
    }
    Ok(())
}

// ---- job queues --------------------------------------------------------------------------

/// kind: table; rule: io
async fn faktory_producer_connect(ctx: OrchestrationContext, signup: Signup) -> Result<(), OrchestrationError> {
    ctx.call_activity(CreateAccount, signup.clone()).await?;
    let mut producer = faktory::Producer::connect(None).map_err(|e| OrchestrationError::new(e.to_string()))?;
    producer.enqueue(faktory::Job::new("welcome_email", vec![signup.email])).ok();
    Ok(())
}

/// kind: missing_source; rule: io
async fn sidekiq_perform_async(ctx: OrchestrationContext, input: MailJob) -> Result<(), OrchestrationError> {
    let queued = MailerWorker::opts()
        .queue("mailers")
        .perform_async(&input.redis, input.args.clone())
        .await
        .is_ok();
    if !queued {
        ctx.call_activity(SendMailDirect, input.args).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn apalis_storage_push(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let conn = apalis_redis::connect(order.queue_url.clone()).await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    let mut storage = apalis_redis::RedisStorage::new(conn);
    storage.push(Invoice::for_order(&order)).await.ok();
    ctx.call_activity(MarkInvoiced, order.id).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn celery_app_send_task(ctx: OrchestrationContext, scan: ScanRequest) -> Result<(), OrchestrationError> {
    let app = celery::app!(
        broker = RedisBroker { scan.broker_url.clone() },
        tasks = [virus_scan],
        task_routes = ["*" => "scans"],
    )
    .await?;
    let sent = app.send_task(virus_scan::new(scan.file.clone())).await.is_ok();
    ctx.call_activity(RecordScanQueued, (scan.file, sent)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn attempts_fetch_update(ctx: OrchestrationContext, job: JobSpec) -> Result<(), OrchestrationError> {
    let previous = ATTEMPTS
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n + 1))
        .unwrap_or(0);
    if previous >= MAX_ATTEMPTS {
        ctx.call_activity(DeadLetter, job).await?;
    } else {
        ctx.call_activity(RunJob, job).await?;
    }
    Ok(())
}

// ---- rate limits, flags, config, ids -----------------------------------------------------

/// kind: missing_source; rule: sleep
async fn leaky_bucket_acquire(ctx: OrchestrationContext, messages: Vec<Message>) -> Result<(), OrchestrationError> {
    let limiter = leaky_bucket::RateLimiter::builder()
        .max(10)
        .initial(10)
        .refill(1)
        .interval(Duration::from_millis(100))
        .build();
    for message in messages {
        limiter.acquire_one().await;
        ctx.call_activity(SendMessage, message).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn unleash_feature_flag(ctx: OrchestrationContext, cart: Cart) -> Result<(), OrchestrationError> {
    let client: unleash_api_client::Client<UserFeatures, reqwest_client::Client> =
        unleash_api_client::ClientBuilder::default()
            .into_client(&cart.unleash_url, "checkout", "orchestrator", None)
            .map_err(|e| OrchestrationError::new(e.to_string()))?;
    client.register().await.ok();
    if client.is_enabled(UserFeatures::NewCheckout, None, false) {
        ctx.call_activity(NewCheckout, cart).await?;
    } else {
        ctx.call_activity(LegacyCheckout, cart).await?;
    }
    Ok(())
}

/// kind: path_form; rule: io
async fn flags_file_fs_group(ctx: OrchestrationContext, input: Rollout) -> Result<(), OrchestrationError> {
    use std::{fs, path::PathBuf};
    let path = PathBuf::from(&input.config_dir).join("flags.toml");
    let flags: Flags = toml::from_str(&fs::read_to_string(path).unwrap_or_default()).unwrap_or_default();
    if flags.beta_pricing {
        ctx.call_activity(EnableBetaPricing, input.tenant).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn objectid_order_id(ctx: OrchestrationContext, cart: Cart) -> Result<(), OrchestrationError> {
    let order_id = bson::oid::ObjectId::new().to_hex();
    ctx.call_activity(PlaceOrder, (order_id, cart)).await?;
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn uuid_now_v6(ctx: OrchestrationContext, input: Shipment) -> Result<(), OrchestrationError> {
    let tracking = uuid::Uuid::now_v6(&input.node_id);
    ctx.call_activity(CreateLabel, (input, tracking)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn config_crate_file_source(ctx: OrchestrationContext, tenant: Tenant) -> Result<(), OrchestrationError> {
    let settings = config::Config::builder()
        .add_source(config::File::with_name("settings/tenants"))
        .build()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let plan: String = settings.get(&format!("{}.plan", tenant.id)).unwrap_or_default();
    ctx.call_activity(ApplyPlan, (tenant, plan)).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: prices
async fn sorted_keys_unused(ctx: OrchestrationContext, catalogue: CatalogueId) -> Result<(), OrchestrationError> {
    let prices = ctx.call_activity(LoadPrices, catalogue).await?;
    let mut skus: Vec<_> = prices.keys().cloned().collect();
    skus.sort();
    for (sku, price) in &prices {
        ctx.call_activity(PublishPrice, (sku.clone(), *price)).await?;
    }
    ctx.call_activity(PublishIndex, skus).await?;
    Ok(())
}

// ---- path and macro spellings ------------------------------------------------------------

/// kind: path_form; rule: randomness
async fn qself_thread_rng_default(ctx: OrchestrationContext, lobby: Lobby) -> Result<(), OrchestrationError> {
    use rand::Rng;
    let mut rng = <rand::rngs::ThreadRng as Default>::default();
    let map = lobby.maps[rng.random_range(0..lobby.maps.len())].clone();
    ctx.call_activity(StartMatch, (lobby.id, map)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn extern_crate_alias_clock(ctx: OrchestrationContext, audit: AuditEvent) -> Result<(), OrchestrationError> {
    extern crate chrono as time_lib;
    let at = time_lib::Utc::now().to_rfc3339();
    ctx.call_activity(WriteAudit, (audit, at)).await?;
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn use_in_inner_block(ctx: OrchestrationContext, input: Export) -> Result<(), OrchestrationError> {
    if input.stamp_file_name {
        use std::time::{SystemTime, UNIX_EPOCH};
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        ctx.call_activity(ExportTo, format!("{}-{}.csv", input.name, secs)).await?;
    } else {
        ctx.call_activity(ExportTo, format!("{}.csv", input.name)).await?;
    }
    Ok(())
}

/// kind: path_form; rule: wall_clock
async fn type_alias_clock(ctx: OrchestrationContext, ticket: Ticket) -> Result<(), OrchestrationError> {
    type Clock = chrono::Utc;
    let opened = Clock::now();
    ctx.call_activity(OpenTicket, (ticket, opened)).await?;
    Ok(())
}

/// kind: path_form; rule: randomness
async fn fn_pointer_uuid(ctx: OrchestrationContext, upload: Upload) -> Result<(), OrchestrationError> {
    let make_id: fn() -> uuid::Uuid = uuid::Uuid::new_v4;
    let object_key = format!("uploads/{}", make_id());
    ctx.call_activity(StoreUpload, (upload, object_key)).await?;
    Ok(())
}

/// kind: macro; rule: spawn
async fn body_macro_rules_spawn(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    macro_rules! in_background {
        ($fut:expr) => {
            let _ = tokio::spawn($fut);
        };
    }
    in_background!(refresh_recommendations(order.customer.clone()));
    ctx.call_activity(FulfilOrder, order).await?;
    Ok(())
}

/// kind: macro; rule: wall_clock
async fn write_macro_timestamp(ctx: OrchestrationContext, reading: Reading) -> Result<(), OrchestrationError> {
    use std::fmt::Write;
    let mut line = String::new();
    write!(line, "{}|{}|{}", reading.device, reading.value, chrono::Utc::now().timestamp()).ok();
    ctx.call_activity(AppendLine, line).await?;
    Ok(())
}

/// kind: macro; rule: io
async fn ensure_lock_file_absent(ctx: OrchestrationContext, job: BackupJob) -> Result<(), OrchestrationError> {
    anyhow::ensure!(!std::path::Path::new(&job.lock_path).exists(), "backup already running");
    ctx.call_activity(RunBackup, job).await?;
    Ok(())
}

/// kind: macro; rule: io
async fn sqlx_query_as_macro(ctx: OrchestrationContext, input: OrderLookup) -> Result<(), OrchestrationError> {
    let row = sqlx::query_as!(OrderRow, "select id, status from orders where id = $1", input.id)
        .fetch_one(&input.pool)
        .await?;
    if row.status == "paid" {
        ctx.call_activity(ShipOrder, row.id).await?;
    }
    Ok(())
}

// ---- method-call spellings ---------------------------------------------------------------

/// kind: method_call; rule: io
async fn path_metadata_size(ctx: OrchestrationContext, upload: Upload) -> Result<(), OrchestrationError> {
    let size = std::path::Path::new(&upload.local_path).metadata().map(|m| m.len()).unwrap_or(0);
    if size > MULTIPART_THRESHOLD {
        ctx.call_activity(MultipartUpload, upload).await?;
    } else {
        ctx.call_activity(SingleUpload, upload).await?;
    }
    Ok(())
}

/// kind: method_call; rule: spawn
async fn runtime_field_spawn_blocking(ctx: OrchestrationContext, input: ThumbnailJob) -> Result<(), OrchestrationError> {
    let thumb = input
        .runtime
        .spawn_blocking(move || make_thumbnail(&input.image))
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(StoreThumbnail, thumb).await?;
    Ok(())
}

// ---- junior-developer mistakes -----------------------------------------------------------

/// kind: table; rule: static_mut
async fn junior_static_mut_last_order(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let repeat = unsafe {
        let repeat = LAST_ORDER_ID.as_deref() == Some(order.id.as_str());
        LAST_ORDER_ID = Some(order.id.clone());
        repeat
    };
    if !repeat {
        ctx.call_activity(PlaceOrder, order).await?;
    }
    Ok(())
}

/// kind: table; rule: sleep
async fn junior_tokio_sleep_backoff(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    for attempt in 0..5u32 {
        if ctx.call_activity(Deliver, hook.clone()).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
    }
    ctx.call_activity(DisableEndpoint, hook.endpoint).await?;
    Ok(())
}

/// kind: table; rule: select
async fn junior_select_timer(ctx: OrchestrationContext, request: ApprovalRequest) -> Result<(), OrchestrationError> {
    tokio::select! {
        decision = ctx.wait_for_external_event::<Decision>("decision") => {
            ctx.call_activity(ApplyDecision, decision?).await?;
        }
        _ = ctx.create_timer(Duration::from_secs(request.timeout_secs)) => {
            ctx.call_activity(Escalate, request).await?;
        }
    }
    Ok(())
}

/// kind: table; rule: randomness
async fn junior_uuid_struct_field(ctx: OrchestrationContext, input: Checkout) -> Result<(), OrchestrationError> {
    let event = OrderPlaced {
        event_id: Uuid::new_v4(),
        order_id: input.order_id.clone(),
        ..input.template
    };
    ctx.call_activity(PublishEvent, event).await?;
    Ok(())
}

/// kind: table; rule: env
async fn junior_env_in_closure(ctx: OrchestrationContext, input: Provision) -> Result<(), OrchestrationError> {
    let region = input
        .region
        .clone()
        .unwrap_or_else(|| std::env::var("AWS_REGION").unwrap_or_else(|_| "eu-west-1".into()));
    ctx.call_activity(CreateBucket, (input.tenant, region)).await?;
    Ok(())
}

/// kind: table; rule: wall_clock
async fn nested_fn_stamp(ctx: OrchestrationContext, doc: Document) -> Result<(), OrchestrationError> {
    fn stamp() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
    ctx.call_activity(Archive, (doc, stamp())).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn impl_block_fastrand_jitter(ctx: OrchestrationContext, job: JobSpec) -> Result<(), OrchestrationError> {
    struct Backoff {
        base_ms: u64,
    }
    impl Backoff {
        fn next_delay(&self) -> Duration {
            Duration::from_millis(self.base_ms + fastrand::u64(0..250))
        }
    }
    let backoff = Backoff { base_ms: 500 };
    if ctx.call_activity(RunJob, job.clone()).await.is_err() {
        ctx.create_timer(backoff.next_delay()).await;
        ctx.call_activity(RunJob, job).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: owners
async fn owners_into_values_nth(ctx: OrchestrationContext, input: ReviewRequest) -> Result<(), OrchestrationError> {
    let owners = ctx.call_activity(ListCodeOwners, input.repo.clone()).await?;
    let count = owners.len().max(1);
    if let Some(reviewer) = owners.into_values().nth(input.round % count) {
        ctx.call_activity(RequestReview, (input.pr, reviewer)).await?;
    }
    Ok(())
}

/// kind: table; rule: sleep
async fn sleep_in_async_block(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let settle = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    ctx.call_activity(SubmitOrder, order.clone()).await?;
    settle.await;
    ctx.call_activity(CheckOrderStatus, order.id).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn maintenance_flag_in_closure(ctx: OrchestrationContext, job: JobSpec) -> Result<(), OrchestrationError> {
    let in_maintenance = || MAINTENANCE.load(Ordering::Relaxed);
    if in_maintenance() {
        ctx.create_timer(Duration::from_secs(600)).await;
    }
    ctx.call_activity(RunJob, job).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn rate_state_try_lock(ctx: OrchestrationContext, message: Message) -> Result<(), OrchestrationError> {
    let over_limit = match RATE_STATE.try_lock() {
        Ok(mut state) => {
            state.sent += 1;
            state.sent > HOURLY_LIMIT
        }
        Err(_) => false,
    };
    if over_limit {
        ctx.call_activity(Defer, message).await?;
    } else {
        ctx.call_activity(SendMessage, message).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn scratch_thread_local_in_body(ctx: OrchestrationContext, lines: Vec<String>) -> Result<(), OrchestrationError> {
    thread_local! {
        static SEEN_LINES: std::cell::RefCell<usize> = const { std::cell::RefCell::new(0) };
    }
    let total = SEEN_LINES.with(|seen| {
        *seen.borrow_mut() += lines.len();
        *seen.borrow()
    });
    ctx.call_activity(ReportProgress, total).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn round_robin_mutex(ctx: OrchestrationContext, task: Task) -> Result<(), OrchestrationError> {
    let worker = {
        let mut next = ROUND_ROBIN.lock().unwrap();
        *next = (*next + 1) % task.pool_size.max(1);
        *next
    };
    ctx.call_activity(AssignTask, (task, worker)).await?;
    Ok(())
}
