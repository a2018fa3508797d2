// A sixth held-out batch of clean bodies (see README.md), written with violations-6.rs:
// the deterministic spellings of the same payment, saga, booking, notification, ETL,
// report, webhook, game, IoT, CLI and job-queue code. Module-level names they use
// (`MAX_ATTEMPTS`, `TICK`, `PER_SECOND`, `SUPPORTED_REGIONS`, `NAMESPACE_ORDERS`,
// `CHANNEL_ORDER`, `BATCH`) are `const`s or immutable `static` arrays in the code they
// imitate.

/// clean: idempotency key from the order id and ctx.current_time()
async fn ctx_time_idempotency_key(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let millis = ctx.current_time().timestamp_millis();
    let key = format!("charge-{}-{}", order.id, millis);
    ctx.call_activity(ChargeCard, (order, key)).await?;
    Ok(())
}

/// clean: ctx.new_guid() as the refund's idempotency key, through a use of Uuid for the type
async fn guid_refund_key(ctx: OrchestrationContext, refund: Refund) -> Result<(), OrchestrationError> {
    use uuid::Uuid;
    let idempotency: Uuid = ctx.new_guid();
    ctx.call_activity(IssueRefund, (refund, idempotency.hyphenated().to_string())).await?;
    Ok(())
}

/// clean: partial refunds in a BTreeMap from the input, fanned out in key order
async fn refunds_btreemap(ctx: OrchestrationContext, input: RefundBatch) -> Result<(), OrchestrationError> {
    let refunds: BTreeMap<ChargeId, u64> = input.partial_refunds;
    let calls: Vec<_> = refunds
        .iter()
        .map(|(charge_id, cents)| ctx.call_activity(IssueRefund, (charge_id.clone(), *cents)))
        .collect();
    durable_runtime::try_join_all(calls).await?;
    Ok(())
}

/// clean: the authorization's age from two timestamps (input and ctx.current_time())
async fn authorization_age_from_ctx(ctx: OrchestrationContext, input: Capture) -> Result<(), OrchestrationError> {
    let age = ctx.current_time() - input.authorized_at;
    if age > chrono::Duration::days(7) {
        ctx.call_activity(Reauthorize, input.payment_id.clone()).await?;
    }
    ctx.call_activity(CapturePayment, input.payment_id).await?;
    Ok(())
}

/// clean: the exchange rate fetched by an activity
async fn fx_rate_activity(ctx: OrchestrationContext, invoice: Invoice) -> Result<(), OrchestrationError> {
    let rate: f64 = ctx.call_activity(FetchFxRate, invoice.currency.clone()).await?;
    ctx.call_activity(ConvertInvoice, (invoice, rate)).await?;
    Ok(())
}

/// clean: a pause between authorize and capture as a durable timer
async fn capture_after_durable_timer(ctx: OrchestrationContext, payment: Payment) -> Result<(), OrchestrationError> {
    ctx.call_activity(Authorize, payment.clone()).await?;
    ctx.create_timer(Duration::from_secs(2)).await;
    ctx.call_activity(CapturePayment, payment.id).await?;
    Ok(())
}

/// clean: saga compensations in reverse over a Vec of completed steps
async fn compensations_reversed_vec(ctx: OrchestrationContext, saga: SagaState) -> Result<(), OrchestrationError> {
    let completed: Vec<Step> = saga.completed_in_order.clone();
    for step in completed.iter().rev() {
        ctx.call_activity(Undo, step.clone()).await?;
    }
    ctx.call_activity(MarkCompensated, saga.id).await?;
    Ok(())
}

/// clean: a saga step with a timeout from wait_for_external_event_with_timeout
async fn saga_step_event_timeout(ctx: OrchestrationContext, trip: Trip) -> Result<(), OrchestrationError> {
    match ctx
        .wait_for_external_event_with_timeout::<CarConfirmed>("car_confirmed", Duration::from_secs(30))
        .await
    {
        Ok(confirmed) => ctx.call_activity(RecordCar, confirmed).await?,
        Err(_) => ctx.call_activity(CancelTrip, trip).await?,
    };
    Ok(())
}

/// clean: a compensation sweeper that continues as new after each round
async fn sweeper_continue_as_new(ctx: OrchestrationContext, input: SweepState) -> Result<(), OrchestrationError> {
    let stuck: Vec<SagaId> = ctx.call_activity(FindStuckSagas, (input.shard, input.round)).await?;
    for id in stuck {
        ctx.call_activity(Compensate, id).await?;
    }
    ctx.create_timer(Duration::from_secs(60)).await;
    ctx.continue_as_new(SweepSagas, SweepState { round: input.round + 1, ..input });
    Ok(())
}

/// clean: a seat hold deadline from ctx.current_time()
async fn seat_hold_ctx_deadline(ctx: OrchestrationContext, hold: SeatHold) -> Result<(), OrchestrationError> {
    ctx.call_activity(HoldSeat, hold.clone()).await?;
    let hold_until = ctx.current_time() + chrono::Duration::minutes(15);
    ctx.create_timer(hold_until).await;
    ctx.call_activity(ReleaseIfUnpaid, hold.seat).await?;
    Ok(())
}

/// clean: stock per warehouse from an activity, sorted by warehouse id before picking; hash: stock
async fn warehouses_sorted_then_find(ctx: OrchestrationContext, item: LineItem) -> Result<(), OrchestrationError> {
    let stock = ctx.call_activity(StockByWarehouse, item.sku.clone()).await?;
    let mut candidates: Vec<(WarehouseId, u32)> = stock.into_iter().collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some((warehouse, _)) = candidates.iter().find(|(_, on_hand)| *on_hand >= item.quantity) {
        ctx.call_activity(ReserveAt, (warehouse.clone(), item)).await?;
    }
    Ok(())
}

/// clean: seats left counted in a local AtomicI64, not a static
async fn local_atomic_seat_counter(ctx: OrchestrationContext, requests: Vec<SeatRequest>) -> Result<(), OrchestrationError> {
    let seats_left = AtomicI64::new(requests.len() as i64 / 2);
    for request in requests {
        if seats_left.fetch_sub(1, Ordering::AcqRel) > 0 {
            ctx.call_activity(ConfirmSeat, request).await?;
        } else {
            ctx.call_activity(AddToWaitlist, request).await?;
        }
    }
    Ok(())
}

/// clean: the next cron fire time after ctx.current_time()
async fn cron_after_ctx_time(ctx: OrchestrationContext, reminder: Reminder) -> Result<(), OrchestrationError> {
    let schedule = cron::Schedule::from_str(&reminder.cron).map_err(|e| OrchestrationError::new(e.to_string()))?;
    if let Some(next) = schedule.after(&ctx.current_time()).next() {
        ctx.create_timer(next).await;
        ctx.call_activity(SendReminder, reminder).await?;
    }
    Ok(())
}

/// clean: an overbooking sample from a generator seeded with ctx.new_guid()
async fn overbooking_seeded_from_guid(ctx: OrchestrationContext, booking: Booking) -> Result<(), OrchestrationError> {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(ctx.new_guid().as_u128() as u64);
    if rng.gen_range(0..100) < 5 {
        ctx.call_activity(FlagForOverbookingReview, booking.clone()).await?;
    }
    ctx.call_activity(ConfirmBooking, booking).await?;
    Ok(())
}

/// clean: notification channels looked up in a HashSet, sent in a const order; hash: prefs.channels
async fn channels_in_const_order(ctx: OrchestrationContext, alert: Alert) -> Result<(), OrchestrationError> {
    let prefs = ctx.call_activity(LoadPreferences, alert.user_id.clone()).await?;
    for channel in CHANNEL_ORDER {
        if prefs.channels.contains(&channel) {
            ctx.call_activity(Notify, (alert.clone(), channel)).await?;
        }
    }
    Ok(())
}

/// clean: templates in a const array of pairs
async fn templates_const_array(ctx: OrchestrationContext, event: Event) -> Result<(), OrchestrationError> {
    const TEMPLATES: [(&str, Template); 3] = [
        ("email", Template::Email),
        ("sms", Template::Sms),
        ("push", Template::Push),
    ];
    for (channel, template) in TEMPLATES {
        ctx.call_activity(Render, (channel.to_string(), template, event.clone())).await?;
    }
    Ok(())
}

/// clean: quiet hours from ctx.current_time() in the user's offset from the input
async fn quiet_hours_from_ctx(ctx: OrchestrationContext, note: Note) -> Result<(), OrchestrationError> {
    use chrono::Timelike;
    let local = ctx.current_time().with_timezone(&note.user_offset);
    if local.hour() >= 22 {
        ctx.create_timer(Duration::from_secs(8 * 3600)).await;
    }
    ctx.call_activity(SendPush, note).await?;
    Ok(())
}

/// clean: a digest loop that ends after the day's batches and then continues as new
async fn digest_batches_then_continue(ctx: OrchestrationContext, state: DigestState) -> Result<(), OrchestrationError> {
    let mut sent = 0;
    loop {
        let notes: Vec<Note> = ctx.wait_for_external_event("notes").await?;
        ctx.call_activity(SendDigest, (state.user.clone(), notes)).await?;
        sent += 1;
        if sent == state.batches_per_generation {
            break;
        }
    }
    ctx.continue_as_new(DigestLoop, state);
    Ok(())
}

/// clean: futures::join! over two durable calls
async fn join_macro_durable_only(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let (receipt, points) = futures::join!(
        ctx.call_activity(SendReceipt, order.clone()),
        ctx.call_activity(AwardLoyaltyPoints, order.customer.clone()),
    );
    receipt?;
    points?;
    Ok(())
}

/// clean: an ETL extract by activity, transform with plain iterators over the Vec
async fn etl_sequential_transform(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    let raw: Vec<RawRow> = ctx.call_activity(Extract, job.clone()).await?;
    let clean: Vec<Row> = raw.into_iter().map(normalise).filter(|r| r.is_valid()).collect();
    ctx.call_activity(LoadRows, (job.target, clean)).await?;
    Ok(())
}

/// clean: a paged extract whose cursor is reassigned each page
async fn cursor_reassigned(ctx: OrchestrationContext, job: EtlJob) -> Result<(), OrchestrationError> {
    let mut next_cursor: Option<String> = Some(job.start_cursor.clone());
    while let Some(cursor) = next_cursor.take() {
        let page: Page = ctx.call_activity(FetchPage, (job.source.clone(), cursor)).await?;
        ctx.call_activity(LoadRows, (job.target.clone(), page.rows)).await?;
        next_cursor = page.next_cursor;
    }
    Ok(())
}

/// clean: rows deduplicated with a HashSet, loaded in the Vec's order; hash: seen
async fn dedup_keep_vec_order(ctx: OrchestrationContext, rows: Vec<Row>) -> Result<(), OrchestrationError> {
    let mut seen: HashSet<RowKey> = HashSet::new();
    let unique: Vec<Row> = rows.into_iter().filter(|r| seen.insert(r.key())).collect();
    for row in unique {
        ctx.call_activity(LoadRow, row).await?;
    }
    Ok(())
}

/// clean: unique rows collected into a HashSet, then sorted before the loads; hash: unique
async fn hashset_then_sorted(ctx: OrchestrationContext, rows: Vec<Row>) -> Result<(), OrchestrationError> {
    let unique: HashSet<Row> = rows.into_iter().collect();
    let mut ordered: Vec<Row> = unique.into_iter().collect();
    ordered.sort_unstable();
    for row in ordered {
        ctx.call_activity(LoadRow, row).await?;
    }
    Ok(())
}

/// clean: the report period from ctx.current_time(), a build stamp from env! at compile time
async fn report_period_ctx_and_env_macro(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    let period_end = ctx.current_time().date_naive();
    let generator = concat!("reports/", env!("CARGO_PKG_VERSION"));
    ctx.call_activity(BuildMonthlyReport, (report, period_end, generator)).await?;
    Ok(())
}

/// clean: recipients in a BTreeMap by team, chunked in order
async fn recipients_btreemap_chunks(ctx: OrchestrationContext, input: ReportRun) -> Result<(), OrchestrationError> {
    let by_team: BTreeMap<Team, Vec<Email>> = input.recipients_by_team.into_iter().collect();
    let everyone: Vec<Email> = by_team.into_values().flatten().collect();
    for chunk in everyone.chunks(BATCH) {
        ctx.call_activity(SendReport, (input.report_id, chunk.to_vec())).await?;
    }
    Ok(())
}

/// clean: a weekly report loop over a bounded number of weeks with durable timers
async fn weekly_durable_timers(ctx: OrchestrationContext, input: Schedule) -> Result<(), OrchestrationError> {
    let mut next = input.first_run;
    for _ in 0..input.weeks {
        ctx.create_timer(next).await;
        ctx.call_activity(BuildWeeklyReport, input.report.clone()).await?;
        next = next + chrono::Duration::weeks(1);
    }
    Ok(())
}

/// clean: a report template compiled in with include_str!, the locale from the input
async fn report_template_include_str(ctx: OrchestrationContext, report: Report) -> Result<(), OrchestrationError> {
    const TEMPLATE: &str = include_str!("templates/monthly.html");
    let locale = report.locale.clone().unwrap_or_else(|| String::from("en-US"));
    ctx.call_activity(RenderLocalised, (report, locale, TEMPLATE)).await?;
    Ok(())
}

/// clean: a webhook signature over ctx.current_time() inside format!
async fn webhook_signature_ctx_time(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let signed_payload = format!("{}.{}", ctx.current_time().timestamp(), hook.body);
    let signature = sign_hmac(&hook.secret, &signed_payload);
    ctx.call_activity(Deliver, (hook, signature)).await?;
    Ok(())
}

/// clean: webhook delivery retried with the built-in retry policy
async fn webhook_retry_policy(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let policy = RetryPolicy::new(5, Duration::from_millis(200)).with_backoff_coefficient(2.0);
    ctx.call_activity_with_retry(Deliver, hook, policy).await?;
    Ok(())
}

/// clean: webhook subscribers' keys collected and sorted before the fan-out; hash: input.subscribers
async fn webhook_subscribers_sorted(ctx: OrchestrationContext, input: Broadcast) -> Result<(), OrchestrationError> {
    let mut targets = input.subscribers.keys().cloned().collect::<Vec<_>>();
    targets.sort();
    let calls = targets
        .iter()
        .map(|url| ctx.call_activity(Deliver, (url.clone(), input.event.clone())));
    durable_runtime::try_join_all(calls).await?;
    Ok(())
}

/// clean: an endpoint URL parsed and joined, host read, no lookup
async fn webhook_url_parse_only(ctx: OrchestrationContext, hook: Webhook) -> Result<(), OrchestrationError> {
    let url = url::Url::parse(&hook.endpoint).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let callback = url.join("callbacks/ack").map_err(|e| OrchestrationError::new(e.to_string()))?;
    if url.host_str().map(|h| h.ends_with(".internal")).unwrap_or(false) {
        ctx.call_activity(DeliverInternal, (hook, callback.to_string())).await?;
    } else {
        ctx.call_activity(Deliver, (hook, callback.to_string())).await?;
    }
    Ok(())
}

/// clean: game rounds paced by durable timers of a const tick
async fn rounds_paced_by_durable_timer(ctx: OrchestrationContext, game: MatchState) -> Result<(), OrchestrationError> {
    for round in 0..game.rounds {
        ctx.create_timer(TICK).await;
        ctx.call_activity(AdvanceRound, (game.id, round)).await?;
    }
    Ok(())
}

/// clean: a loot roll from a ChaCha generator seeded by the drop's seed
async fn loot_roll_seeded(ctx: OrchestrationContext, drop: LootDrop) -> Result<(), OrchestrationError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(drop.seed);
    let roll: u8 = rng.gen_range(1..=100);
    let tier = if roll > 95 { Tier::Legendary } else if roll > 70 { Tier::Rare } else { Tier::Common };
    ctx.call_activity(GrantLoot, (drop.player, tier)).await?;
    Ok(())
}

/// clean: players shuffled with a generator seeded from the match id
async fn matchmaking_seeded_shuffle(ctx: OrchestrationContext, lobby: Lobby) -> Result<(), OrchestrationError> {
    use rand::{seq::SliceRandom, SeedableRng};
    let mut players = lobby.players.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(lobby.match_seed);
    players.shuffle(&mut rng);
    let (red, blue) = players.split_at(players.len() / 2);
    ctx.call_activity(StartMatch, (lobby.id, red.to_vec(), blue.to_vec())).await?;
    Ok(())
}

/// clean: the MVP by score with the player id as tie-break; hash: scores
async fn leaderboard_total_order(ctx: OrchestrationContext, match_id: MatchId) -> Result<(), OrchestrationError> {
    let scores = ctx.call_activity(FetchScores, match_id).await?;
    let mvp = scores
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(player, _)| player.clone());
    if let Some(mvp) = mvp {
        ctx.call_activity(AwardMvp, (match_id, mvp)).await?;
    }
    Ok(())
}

/// clean: a game timer type defined in the body with an elapsed method that takes the time
async fn body_timer_elapsed_with_arg(ctx: OrchestrationContext, player: PlayerState) -> Result<(), OrchestrationError> {
    struct RespawnTimer {
        died_at: DateTime<Utc>,
    }
    impl RespawnTimer {
        fn elapsed(&self, now: DateTime<Utc>) -> chrono::Duration {
            now - self.died_at
        }
    }
    let timer = RespawnTimer { died_at: player.died_at };
    if timer.elapsed(ctx.current_time()) < chrono::Duration::seconds(5) {
        ctx.create_timer(player.died_at + chrono::Duration::seconds(5)).await;
    }
    ctx.call_activity(Respawn, player.id).await?;
    Ok(())
}

/// clean: device settings to apply, the difference iterated after sorting; hash: desired, reported
async fn shadow_difference_sorted(ctx: OrchestrationContext, device: DeviceShadow) -> Result<(), OrchestrationError> {
    let desired: HashSet<Setting> = device.desired.clone();
    let reported: HashSet<Setting> = ctx.call_activity(ReadReported, device.id.clone()).await?;
    let mut missing: Vec<&Setting> = desired.difference(&reported).collect();
    missing.sort();
    for setting in missing {
        ctx.call_activity(ApplySetting, (device.id.clone(), setting.clone())).await?;
    }
    Ok(())
}

/// clean: a HashMap of readings reduced to a max and a count only; hash: readings
async fn telemetry_reduce_only(ctx: OrchestrationContext, batch: TelemetryBatch) -> Result<(), OrchestrationError> {
    let readings: HashMap<SensorId, f64> = batch.latest.clone();
    let peak = readings.values().cloned().fold(f64::MIN, f64::max);
    let over = readings.values().filter(|v| **v > batch.threshold).count();
    ctx.call_activity(StoreSummary, (batch.id, peak, over)).await?;
    Ok(())
}

/// clean: a sensor poll whose local flag the body sets when the device reports done
async fn local_flag_set_in_body(ctx: OrchestrationContext, device: DeviceId) -> Result<(), OrchestrationError> {
    let mut done = false;
    while !done {
        let reading = ctx.call_activity(ReadSensor, device.clone()).await?;
        done = reading.is_final;
        ctx.call_activity(StoreReading, reading).await?;
        if !done {
            ctx.create_timer(Duration::from_secs(30)).await;
        }
    }
    Ok(())
}

/// clean: a firmware poll that breaks on Done and returns on Failed
async fn firmware_poll_breaks(ctx: OrchestrationContext, job: FirmwareJob) -> Result<(), OrchestrationError> {
    'poll: loop {
        let status = ctx.call_activity(FirmwareStatus, job.device.clone()).await?;
        match status {
            UpdateStatus::Done => break 'poll,
            UpdateStatus::Failed => {
                ctx.call_activity(RollbackFirmware, job.clone()).await?;
                return Ok(());
            }
            UpdateStatus::Running => {}
        }
        ctx.create_timer(Duration::from_secs(20)).await;
    }
    ctx.call_activity(MarkUpdated, job.device).await?;
    Ok(())
}

/// clean: a watch loop that refreshes now from ctx.current_time() each round
async fn deadline_refreshed(ctx: OrchestrationContext, input: WatchRequest) -> Result<(), OrchestrationError> {
    let mut now = ctx.current_time();
    while now < input.deadline {
        let online = ctx.call_activity(PingDevice, input.device.clone()).await?;
        if !online {
            ctx.call_activity(RaiseAlarm, input.device.clone()).await?;
        }
        ctx.create_timer(Duration::from_secs(60)).await;
        now = ctx.current_time();
    }
    Ok(())
}

/// clean: provisioning attempts over a bounded inclusive range with a break on success
async fn provision_bounded_attempts(ctx: OrchestrationContext, device: DeviceId) -> Result<(), OrchestrationError> {
    for attempt in 1..=MAX_ATTEMPTS {
        if ctx.call_activity(TryProvision, (device.clone(), attempt)).await.is_ok() {
            ctx.call_activity(MarkProvisioned, device.clone()).await?;
            break;
        }
        ctx.create_timer(Duration::from_secs(5)).await;
    }
    Ok(())
}

/// clean: numbered items from an open range zipped with the input Vec
async fn numbered_by_open_range_zip(ctx: OrchestrationContext, items: Vec<Item>) -> Result<(), OrchestrationError> {
    for (n, item) in (1u64..).zip(items) {
        ctx.call_activity(ProcessItem, (n, item)).await?;
    }
    Ok(())
}

/// clean: messages paced by a durable timer every PER_SECOND sends
async fn durable_rate_limit(ctx: OrchestrationContext, messages: Vec<Message>) -> Result<(), OrchestrationError> {
    for (i, message) in messages.into_iter().enumerate() {
        if i > 0 && i % PER_SECOND == 0 {
            ctx.create_timer(Duration::from_secs(1)).await;
        }
        ctx.call_activity(SendMessage, message).await?;
    }
    Ok(())
}

/// clean: a feature-flag bucket from xxh3 of the tenant id
async fn flag_bucket_xxh3(ctx: OrchestrationContext, cart: Cart) -> Result<(), OrchestrationError> {
    let bucket = xxhash_rust::xxh3::xxh3_64(cart.tenant.as_bytes()) % 100;
    if bucket < cart.rollout_percent {
        ctx.call_activity(NewCheckout, cart).await?;
    } else {
        ctx.call_activity(LegacyCheckout, cart).await?;
    }
    Ok(())
}

/// clean: an order id as a uuid v5 of a const namespace and the cart id
async fn order_id_uuid_v5(ctx: OrchestrationContext, cart: Cart) -> Result<(), OrchestrationError> {
    let order_id = uuid::Uuid::new_v5(&NAMESPACE_ORDERS, cart.id.as_bytes());
    ctx.call_activity(PlaceOrder, (order_id, cart)).await?;
    Ok(())
}

/// clean: prices from an activity looked up in the order of the input's lines; hash: prices
async fn prices_lookup_in_line_order(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let prices = ctx.call_activity(LoadPrices, order.catalogue).await?;
    for line in &order.lines {
        let price = prices.get(&line.sku).copied().unwrap_or_default();
        ctx.call_activity(PriceLine, (line.clone(), price)).await?;
    }
    Ok(())
}

/// clean: an immutable static array of regions iterated
async fn static_regions_iter(ctx: OrchestrationContext, tenant: Tenant) -> Result<(), OrchestrationError> {
    for region in SUPPORTED_REGIONS.iter() {
        ctx.call_activity(Replicate, (tenant.id, region.to_string())).await?;
    }
    Ok(())
}

/// clean: a type alias and a nested fn in the body that only compute a backoff
async fn nested_fn_pure_backoff(ctx: OrchestrationContext, job: JobSpec) -> Result<(), OrchestrationError> {
    type Millis = u64;
    fn backoff(attempt: u32) -> Millis {
        100 * 2u64.pow(attempt.min(8))
    }
    for attempt in 0..MAX_ATTEMPTS {
        if ctx.call_activity(RunJob, job.clone()).await.is_ok() {
            return Ok(());
        }
        ctx.create_timer(Duration::from_millis(backoff(attempt))).await;
    }
    ctx.call_activity(DeadLetter, job).await?;
    Ok(())
}

/// clean: a macro_rules! in the body that wraps durable calls
async fn body_macro_rules_calls(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    macro_rules! step {
        ($activity:expr) => {
            ctx.call_activity($activity, order.clone()).await?
        };
    }
    step!(ReserveStock);
    step!(ChargeCard);
    step!(ShipOrder);
    Ok(())
}

/// clean: a sub-orchestration per region in a BTreeSet
async fn sub_orchestrations_btreeset(ctx: OrchestrationContext, rollout: Rollout) -> Result<(), OrchestrationError> {
    let regions: BTreeSet<String> = rollout.regions.iter().cloned().collect();
    for region in regions {
        ctx.call_sub_orchestrator(DeployRegion, (rollout.version.clone(), region)).await?;
    }
    Ok(())
}

/// clean: a local Mutex and RefCell tallying results, no statics
async fn local_lock_and_cell(ctx: OrchestrationContext, jobs: Vec<JobSpec>) -> Result<(), OrchestrationError> {
    let failures = std::sync::Mutex::new(Vec::new());
    let attempts = std::cell::RefCell::new(0u32);
    for job in jobs {
        *attempts.borrow_mut() += 1;
        if ctx.call_activity(RunJob, job.clone()).await.is_err() {
            failures.lock().unwrap().push(job);
        }
    }
    ctx.call_activity(Summarise, (failures.into_inner().unwrap(), attempts.into_inner())).await?;
    Ok(())
}

/// clean: unsafe with a const and usize::MAX inside
async fn unsafe_const_limits(ctx: OrchestrationContext, frame: Frame) -> Result<(), OrchestrationError> {
    const HEADER: usize = 4;
    let payload = unsafe { frame.bytes.get_unchecked(HEADER.min(frame.bytes.len())..) }.to_vec();
    let cap = if payload.len() == usize::MAX { 0 } else { payload.len() };
    ctx.call_activity(DecodeFrame, (payload, cap)).await?;
    Ok(())
}

/// clean: futures::future::select over an approval event and a durable timer
async fn approval_select_durable(ctx: OrchestrationContext, request: ApprovalRequest) -> Result<(), OrchestrationError> {
    use futures::future::{select, Either};
    let decision = ctx.wait_for_external_event::<Decision>("decision");
    let timeout = ctx.create_timer(Duration::from_secs(request.timeout_secs));
    match select(decision, timeout).await {
        Either::Left((decision, _)) => ctx.call_activity(ApplyDecision, decision?).await?,
        Either::Right(_) => ctx.call_activity(Escalate, request).await?,
    };
    Ok(())
}

/// clean: a serde_json object (an ordered map) iterated for the fan-out
async fn json_object_fields_fanout(ctx: OrchestrationContext, event: serde_json::Value) -> Result<(), OrchestrationError> {
    if let Some(fields) = event.as_object() {
        for (name, value) in fields {
            ctx.call_activity(IndexField, (name.clone(), value.clone())).await?;
        }
    }
    Ok(())
}
