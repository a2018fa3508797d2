// A seventh held-out batch of clean bodies (see README.md), written with violations-7.rs:
// the deterministic spellings of the same code (ported framework samples, order flows,
// KYC, documents, inference batching, SaaS sync, provisioning, campaigns, billing,
// transcoding, indexing, Go and TypeScript habits). Module-level names they use
// (`MAX_BATCH`, `MAX_ATTEMPTS`, `EMAIL_RE`, `PAGE_SIZE`) are `const`s, or a
// `static LazyLock<Regex>` for `EMAIL_RE`, in the code they imitate.

// ---- other durable-execution frameworks' samples, ported -------------------------------

/// clean: a random id made in an activity (Restate's ctx.run, Temporal's SideEffect)
async fn restate_run_as_activity(ctx: OrchestrationContext, signup: Signup) -> Result<(), OrchestrationError> {
    let user_id: String = ctx.call_activity(GenerateUserId, ()).await?;
    ctx.call_activity(CreateUser, (user_id.clone(), signup.email.clone())).await?;
    ctx.call_activity(SendVerification, (user_id, signup.email)).await?;
    Ok(())
}

/// clean: the Durable Task fan-out sample with join_all over durable calls
async fn dtf_fan_out_join_all(ctx: OrchestrationContext, dir: BackupDir) -> Result<u64, OrchestrationError> {
    let files: Vec<String> = ctx.call_activity(ListFiles, dir.path.clone()).await?;
    let copies: Vec<_> = files.iter().map(|file| ctx.call_activity(CopyToBlob, file.clone())).collect();
    let sizes = durable_runtime::join_all(copies).await;
    let total: u64 = sizes.into_iter().filter_map(Result::ok).sum();
    ctx.call_activity(RecordBackupSize, (dir.path, total)).await?;
    Ok(total)
}

/// clean: a local closure named `sleep` that makes a durable timer
async fn temporal_sleep_closure_durable(ctx: OrchestrationContext, reminder: Reminder) -> Result<(), OrchestrationError> {
    use std::time::Duration;
    let sleep = |secs: u64| ctx.create_timer(Duration::from_secs(secs));
    sleep(reminder.delay_secs).await;
    ctx.call_activity(SendReminder, reminder).await?;
    Ok(())
}

/// clean: versioning from ctx.version() instead of a deployment flag
async fn version_from_ctx(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    if ctx.version().as_deref() == Some("2") {
        ctx.call_activity(CheckoutV2, order).await?;
    } else {
        ctx.call_activity(CheckoutV1, order).await?;
    }
    Ok(())
}

/// clean: the monitor sample bounded by an expiry read from ctx.current_time()
async fn dtf_monitor_until_expiry(ctx: OrchestrationContext, job: WatchedJob) -> Result<(), OrchestrationError> {
    let expiry = ctx.current_time() + chrono::Duration::hours(job.max_hours as i64);
    while ctx.current_time() < expiry {
        let status: JobStatus = ctx.call_activity(GetJobStatus, job.id.clone()).await?;
        if status.completed {
            ctx.call_activity(SendAlert, (job.owner.clone(), status)).await?;
            break;
        }
        ctx.create_timer(ctx.current_time() + chrono::Duration::seconds(job.poll_secs as i64)).await;
    }
    Ok(())
}

/// clean: an operator's requeue as one reconcile per generation (continue-as-new)
async fn operator_reconcile_continue_as_new(ctx: OrchestrationContext, cr: ClusterResource) -> Result<(), OrchestrationError> {
    let observed: Observed = ctx.call_activity(ObserveCluster, cr.clone()).await?;
    let action: ReconcileAction = ctx.call_activity(ReconcileCluster, (cr.clone(), observed)).await?;
    ctx.create_timer(action.requeue_after).await;
    ctx.continue_as_new(ReconcileLoop, cr);
    Ok(())
}

// ---- e-commerce order flows --------------------------------------------------------------

/// clean: an order number from ctx.new_guid()
async fn order_number_from_guid(ctx: OrchestrationContext, order: Order) -> Result<String, OrchestrationError> {
    let guid = ctx.new_guid().simple().to_string();
    let number = format!("ORD-{}", &guid[..10]);
    ctx.call_activity(SaveOrder, (number.clone(), order)).await?;
    Ok(number)
}

/// clean: a generator seeded from ctx.new_guid()
async fn fraud_rng_seeded_from_guid(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(ctx.new_guid().as_u64_pair().0);
    if rng.gen_bool(0.05) {
        ctx.call_activity(ManualReview, order).await?;
    } else {
        ctx.call_activity(CapturePayment, order).await?;
    }
    Ok(())
}

/// clean: the cheapest quote under a total order (price, then carrier); hash: quotes
async fn shipping_quote_total_order(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let quotes: HashMap<Carrier, Quote> = ctx.call_activity(GetShippingQuotes, order.clone()).await?;
    let cheapest = quotes
        .iter()
        .min_by(|a, b| a.1.price_cents.cmp(&b.1.price_cents).then_with(|| a.0.cmp(b.0)))
        .map(|(carrier, _)| carrier.clone());
    if let Some(carrier) = cheapest {
        ctx.call_activity(BookShipment, (order.id, carrier)).await?;
    }
    Ok(())
}

/// clean: shipments counted per warehouse in a BTreeMap
async fn split_shipments_btreemap(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let mut per_warehouse: BTreeMap<String, usize> = BTreeMap::new();
    for line in &order.lines {
        *per_warehouse.entry(line.warehouse.clone()).or_default() += 1;
    }
    for (warehouse, lines) in per_warehouse {
        ctx.call_activity(CreateShipment, (order.id.clone(), warehouse, lines)).await?;
    }
    Ok(())
}

/// clean: stock looked up in a HashMap while iterating the order's lines; hash: stock
async fn stock_lookup_in_line_order(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let stock: HashMap<Sku, u32> = ctx.call_activity(LoadStock, order.warehouse.clone()).await?;
    for line in &order.lines {
        let have = stock.get(&line.sku).copied().unwrap_or(0);
        if have < line.quantity {
            ctx.call_activity(Backorder, line.clone()).await?;
        }
    }
    Ok(())
}

/// clean: a reservation kept in a durable entity instead of a module static
async fn reservation_in_entity(ctx: OrchestrationContext, item: LineItem) -> Result<(), OrchestrationError> {
    let left: u32 = Inventory::call(&ctx, &item.sku).reserve(item.quantity).await?;
    if left == 0 {
        ctx.call_activity(NotifyOutOfStock, item.sku.clone()).await?;
    }
    ctx.call_activity(ConfirmReservation, item).await?;
    Ok(())
}

// ---- KYC and onboarding ------------------------------------------------------------------

/// clean: input validated with a static regex (deterministic, read-only)
async fn kyc_email_regex(ctx: OrchestrationContext, applicant: Applicant) -> Result<(), OrchestrationError> {
    if !EMAIL_RE.is_match(&applicant.email) {
        ctx.call_activity(RejectApplication, (applicant.id, "invalid email")).await?;
        return Ok(());
    }
    ctx.call_activity(StartChecks, applicant).await?;
    Ok(())
}

/// clean: a TOTP code generated at ctx.current_time()
async fn kyc_totp_at_ctx_time(ctx: OrchestrationContext, applicant: Applicant) -> Result<(), OrchestrationError> {
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, applicant.otp_secret.clone())
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let code = totp.generate(ctx.current_time().timestamp() as u64);
    ctx.call_activity(SendSmsCode, (applicant.phone.clone(), code)).await?;
    Ok(())
}

/// clean: JWT claims from ctx.current_time(), signed with HS256 (deterministic)
async fn kyc_jwt_from_ctx_time(ctx: OrchestrationContext, applicant: Applicant) -> Result<(), OrchestrationError> {
    let iat = ctx.current_time().timestamp() as u64;
    let claims = UploadClaims { sub: applicant.id.clone(), iat, exp: iat + 900 };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(applicant.link_secret.as_bytes()),
    )
    .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(IssueUploadLink, (applicant.id, token)).await?;
    Ok(())
}

/// clean: the verification wait as a durable event with a durable timeout
async fn onboarding_verify_durable_timeout(ctx: OrchestrationContext, user: NewUser) -> Result<(), OrchestrationError> {
    let verified = ctx
        .wait_for_external_event_with_timeout::<EmailVerified>("email_verified", std::time::Duration::from_secs(24 * 3600))
        .await;
    match verified {
        Ok(_) => ctx.call_activity(ActivateAccount, user.id).await?,
        Err(_) => ctx.call_activity(DeleteUnverified, user.id).await?,
    };
    Ok(())
}

// ---- document processing -----------------------------------------------------------------

/// clean: pages OCR'd one activity each, in the document's page order
async fn ocr_pages_in_order(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    let mut texts = Vec::with_capacity(doc.pages.len());
    for (number, page) in doc.pages.iter().enumerate() {
        let text: String = ctx.call_activity(OcrPage, (doc.id.clone(), number, page.clone())).await?;
        texts.push(text);
    }
    ctx.call_activity(StoreTexts, (doc.id, texts)).await?;
    Ok(())
}

/// clean: a worker bucket from a fixed hash (seahash) of the checksum
async fn doc_bucket_seahash(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    let bucket = seahash::hash(doc.checksum.as_bytes()) % 16;
    ctx.call_activity(RouteToWorkerQueue, (doc.id, bucket)).await?;
    Ok(())
}

/// clean: path arithmetic only (file_stem / extension / join ask no file system)
async fn doc_output_path_arithmetic(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    let source = std::path::Path::new(&doc.local_path);
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("document");
    let is_pdf = source.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
    let target = std::path::Path::new(&doc.out_dir).join(format!("{stem}.txt"));
    if is_pdf {
        ctx.call_activity(ExtractPdfText, (doc.id, target)).await?;
    } else {
        ctx.call_activity(ExtractImageText, (doc.id, target)).await?;
    }
    Ok(())
}

// ---- ML inference batching ---------------------------------------------------------------

/// clean: batches as chunks of the input Vec, the size from the input
async fn inference_batches_from_input(ctx: OrchestrationContext, job: InferenceJob) -> Result<(), OrchestrationError> {
    let batch_size = if job.gpu { job.gpu_batch.min(MAX_BATCH) } else { 8 };
    for chunk in job.inputs.chunks(batch_size.max(1)) {
        ctx.call_activity(Infer, (job.model.clone(), chunk.to_vec())).await?;
    }
    Ok(())
}

/// clean: documents from a map sorted by a total key (length, then id); hash: input.docs_by_id
async fn embed_sorted_by_total_key(ctx: OrchestrationContext, input: EmbedJob) -> Result<(), OrchestrationError> {
    let mut docs: Vec<(DocId, Doc)> = input.docs_by_id.into_iter().collect();
    docs.sort_by(|a, b| a.1.text.len().cmp(&b.1.text.len()).then_with(|| a.0.cmp(&b.0)));
    let docs: Vec<Doc> = docs.into_iter().map(|(_, d)| d).collect();
    for chunk in docs.chunks(32) {
        ctx.call_activity(Embed, chunk.to_vec()).await?;
    }
    Ok(())
}

/// clean: a batch window measured with ctx.current_time()
async fn inference_batch_window_ctx_time(ctx: OrchestrationContext, queue: ModelQueue) -> Result<(), OrchestrationError> {
    let opened = ctx.current_time();
    let mut batch = Vec::new();
    for request in queue.pending {
        batch.push(request);
        let waited = (ctx.current_time() - opened).to_std().unwrap_or_default();
        if batch.len() == queue.max_batch || waited > queue.max_wait {
            ctx.call_activity(RunBatch, std::mem::take(&mut batch)).await?;
        }
    }
    Ok(())
}

// ---- data sync between SaaS APIs ---------------------------------------------------------

/// clean: the sync cursor carried in the input, defaulted from ctx.current_time()
async fn crm_sync_since_from_input(ctx: OrchestrationContext, job: CrmSync) -> Result<(), OrchestrationError> {
    let since = job.last_synced_at.unwrap_or(ctx.current_time() - chrono::Duration::days(1));
    ctx.call_activity(PullChangedContacts, (job.portal, since)).await?;
    Ok(())
}

/// clean: pages fetched until an empty one, with a break
async fn hubspot_pages_until_empty(ctx: OrchestrationContext, job: CrmSync) -> Result<(), OrchestrationError> {
    let mut page = 1u32;
    loop {
        let contacts: Vec<Contact> = ctx.call_activity(FetchContactsPage, (job.portal.clone(), page)).await?;
        if contacts.is_empty() {
            break;
        }
        ctx.call_activity(UpsertContacts, contacts).await?;
        page += 1;
    }
    Ok(())
}

/// clean: admins from a map sorted by id before the last one is picked; hash: members
async fn slack_admins_sorted(ctx: OrchestrationContext, team: TeamId) -> Result<(), OrchestrationError> {
    let members: HashMap<UserId, Member> = ctx.call_activity(ListMembers, team.clone()).await?;
    let mut admins: Vec<Member> = members.into_values().filter(|m| m.is_admin).collect();
    admins.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(admin) = admins.last() {
        ctx.call_activity(NotifyAdmin, (team, admin.id.clone())).await?;
    }
    Ok(())
}

/// clean: invoice ids deduplicated in a BTreeSet before the fan-out
async fn stripe_events_btreeset_fan_out(ctx: OrchestrationContext, batch: StripeEvents) -> Result<(), OrchestrationError> {
    let pending: BTreeSet<String> = batch.events.iter().map(|e| e.invoice_id.clone()).collect();
    let calls: Vec<_> = pending
        .into_iter()
        .map(|invoice| ctx.call_activity(ReconcileInvoice, invoice))
        .collect();
    durable_runtime::try_join_all(calls).await?;
    Ok(())
}

/// clean: the largest amount due, an order-independent reduction; hash: input.invoices_by_customer
async fn stripe_max_amount_due(ctx: OrchestrationContext, input: DunningRun) -> Result<(), OrchestrationError> {
    let largest = input.invoices_by_customer.values().map(|i| i.amount_due).max().unwrap_or(0);
    if largest > input.escalation_threshold {
        ctx.call_activity(EscalateRun, (input.run_id, largest)).await?;
    }
    Ok(())
}

// ---- infrastructure provisioning ---------------------------------------------------------

/// clean: regions from a const array, one sub-orchestration each
async fn provision_const_regions(ctx: OrchestrationContext, app: AppSpec) -> Result<(), OrchestrationError> {
    const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];
    let children: Vec<_> = REGIONS
        .iter()
        .map(|region| ctx.call_sub_orchestrator(ProvisionRegion, (app.clone(), region.to_string())))
        .collect();
    durable_runtime::try_join_all(children).await?;
    Ok(())
}

/// clean: waiting until running with a bounded number of durable timers
async fn provision_wait_until_running(ctx: OrchestrationContext, vm: VmRequest) -> Result<(), OrchestrationError> {
    let instance: InstanceId = ctx.call_activity(LaunchInstance, vm.clone()).await?;
    for attempt in 0..MAX_ATTEMPTS {
        if ctx.call_activity(IsRunning, instance.clone()).await? {
            ctx.call_activity(TagInstance, instance).await?;
            return Ok(());
        }
        ctx.create_timer(std::time::Duration::from_secs(5 * (attempt as u64 + 1))).await;
    }
    ctx.call_activity(TerminateInstance, instance).await?;
    Ok(())
}

/// clean: retries with the durable RetryPolicy
async fn provision_durable_retry_policy(ctx: OrchestrationContext, req: ServerRequest) -> Result<(), OrchestrationError> {
    let policy = RetryPolicy::new(5, std::time::Duration::from_secs(2)).with_backoff_coefficient(2.0);
    let server: ServerId = ctx.call_activity_with_retry(CreateServer, req.clone(), &policy).await?;
    ctx.call_activity(RegisterServer, server).await?;
    Ok(())
}

/// clean: polling until ready through a match with a reachable break
async fn operator_poll_until_ready_match(ctx: OrchestrationContext, build: BuildId) -> Result<(), OrchestrationError> {
    loop {
        let status: BuildStatus = ctx.call_activity(GetBuildStatus, build.clone()).await?;
        match status {
            BuildStatus::Finished => break,
            _ => ctx.create_timer(std::time::Duration::from_secs(30)).await,
        }
    }
    ctx.call_activity(PublishBuild, build).await?;
    Ok(())
}

// ---- email campaigns ---------------------------------------------------------------------

/// clean: an A/B variant from a fixed hash (SHA-256) of the address
async fn campaign_ab_split_sha256(ctx: OrchestrationContext, recipient: Recipient) -> Result<(), OrchestrationError> {
    use sha2::{Digest, Sha256};
    let variant = Sha256::digest(recipient.email.as_bytes())[0] % 2;
    ctx.call_activity(SendVariant, (recipient, variant)).await?;
    Ok(())
}

/// clean: the sent counter advances every batch
async fn campaign_sent_advances(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    let mut sent = 0usize;
    while sent < campaign.recipients.len() {
        let end = (sent + campaign.batch_size.max(1)).min(campaign.recipients.len());
        let batch = campaign.recipients[sent..end].to_vec();
        ctx.call_activity(SendBatch, (campaign.id.clone(), batch)).await?;
        ctx.create_timer(std::time::Duration::from_secs(1)).await;
        sent = end;
    }
    Ok(())
}

/// clean: a seed list sampled with a generator seeded from ctx.new_guid()
async fn campaign_seed_list_seeded(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    use rand::seq::IndexedRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(ctx.new_guid().as_u64_pair().1);
    let seed_list: Vec<Recipient> = campaign.recipients.choose_multiple(&mut rng, 100).cloned().collect();
    ctx.call_activity(SendSeedList, (campaign.id, seed_list)).await?;
    Ok(())
}

// ---- subscription billing ----------------------------------------------------------------

/// clean: the billing anchor from ctx.current_time()
async fn billing_anchor_from_ctx(ctx: OrchestrationContext, sub: Subscription) -> Result<(), OrchestrationError> {
    use chrono::Datelike;
    let now = ctx.current_time();
    let anchor = now.with_day(1).unwrap_or(now).date_naive();
    ctx.call_activity(SetBillingAnchor, (sub.id, anchor)).await?;
    Ok(())
}

/// clean: dunning retries on a fixed schedule of durable timers
async fn billing_dunning_durable_schedule(ctx: OrchestrationContext, invoice: Invoice) -> Result<(), OrchestrationError> {
    const RETRY_DAYS: [i64; 3] = [1, 3, 7];
    for days in RETRY_DAYS {
        if let Ok(receipt) = ctx.call_activity(ChargeInvoice, invoice.clone()).await {
            ctx.call_activity(SendReceipt, receipt).await?;
            return Ok(());
        }
        ctx.create_timer(chrono::Duration::days(days)).await;
    }
    ctx.call_activity(CancelForNonPayment, invoice).await?;
    Ok(())
}

/// clean: the trial end computed from the subscription's start date
async fn billing_trial_end_from_input(ctx: OrchestrationContext, sub: Subscription) -> Result<(), OrchestrationError> {
    let trial_end = sub.started_at + chrono::Duration::days(sub.trial_days as i64);
    ctx.create_timer(trial_end).await;
    ctx.call_activity(ConvertTrial, sub.id).await?;
    Ok(())
}

// ---- media transcoding and search indexing -----------------------------------------------

/// clean: renditions from a const ladder, fanned out with try_join_all
async fn transcode_const_ladder(ctx: OrchestrationContext, job: TranscodeJob) -> Result<(), OrchestrationError> {
    const LADDER: &[(u32, u32)] = &[(1080, 5000), (720, 2800), (480, 1400)];
    let calls: Vec<_> = LADDER
        .iter()
        .map(|(height, kbps)| ctx.call_activity(Transcode, (job.source.clone(), *height, *kbps)))
        .collect();
    durable_runtime::try_join_all(calls).await?;
    Ok(())
}

/// clean: the probe in an activity, the branch on its result
async fn transcode_probe_activity(ctx: OrchestrationContext, job: TranscodeJob) -> Result<(), OrchestrationError> {
    let probe: Probe = ctx.call_activity(FfProbe, job.source.clone()).await?;
    if probe.duration_secs > 3600 {
        ctx.call_sub_orchestrator(SegmentedTranscode, job).await?;
    } else {
        ctx.call_activity(TranscodeWhole, job).await?;
    }
    Ok(())
}

/// clean: pages indexed through a stream over a bounded range
async fn reindex_stream_bounded(ctx: OrchestrationContext, job: IndexJob) -> Result<(), OrchestrationError> {
    use futures::{stream, StreamExt, TryStreamExt};
    let _pages: Vec<PageStats> = stream::iter(0..job.page_count)
        .then(|page| ctx.call_activity(IndexPage, (job.id.clone(), page)))
        .try_collect()
        .await?;
    Ok(())
}

/// clean: documents filtered by membership in an indexed set, iterated in input order; hash: indexed
async fn index_missing_docs_membership(ctx: OrchestrationContext, job: IndexJob) -> Result<(), OrchestrationError> {
    let indexed: HashSet<DocId> = ctx.call_activity(ListIndexed, job.index.clone()).await?;
    let missing: Vec<Doc> = job.docs.iter().filter(|d| !indexed.contains(&d.id)).cloned().collect();
    for doc in missing {
        ctx.call_activity(IndexDoc, doc).await?;
    }
    Ok(())
}

// ---- Go and TypeScript habits, deterministic ---------------------------------------------

/// clean: Go's select on an event or a deadline, as durable select over durable futures
async fn go_select_durable(ctx: OrchestrationContext, req: SignRequest) -> Result<(), OrchestrationError> {
    let signed = ctx.wait_for_external_event::<Signed>("signed");
    let deadline = ctx.create_timer(req.deadline);
    match durable_runtime::select(signed, deadline).await {
        futures::future::Either::Left((signed, _)) => {
            ctx.call_activity(FileContract, (req.id, signed?)).await?;
        }
        futures::future::Either::Right(_) => {
            ctx.call_activity(ExpireRequest, req.id).await?;
        }
    }
    Ok(())
}

/// clean: Promise.all as futures::join! over two durable calls
async fn ts_promise_all_join(ctx: OrchestrationContext, user: UserId) -> Result<(), OrchestrationError> {
    let (profile, orders) = futures::join!(
        ctx.call_activity(LoadProfile, user.clone()),
        ctx.call_activity(LoadOrders, user.clone()),
    );
    ctx.call_activity(BuildDashboard, (user, profile?, orders?)).await?;
    Ok(())
}

/// clean: Promise.race against a durable timer, not a plain delay
async fn ts_promise_race_durable_timer(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let charge = ctx.call_activity(ChargeCard, order.clone());
    let timeout = ctx.create_timer(std::time::Duration::from_secs(10));
    match futures::future::select(charge, timeout).await {
        futures::future::Either::Left((result, _)) => {
            result?;
        }
        futures::future::Either::Right(_) => {
            ctx.call_activity(FlagSlowCharge, order.id).await?;
        }
    }
    Ok(())
}

/// clean: Date.now() and Math.random() replaced by ctx.current_time() and ctx.new_guid()
async fn ts_now_and_random_from_ctx(ctx: OrchestrationContext, flags: Rollout) -> Result<(), OrchestrationError> {
    let now_ms = ctx.current_time().timestamp_millis();
    let roll = (ctx.new_guid().as_u128() % 10_000) as f64 / 10_000.0;
    if roll < flags.rollout && now_ms < flags.ends_at_ms {
        ctx.call_activity(NewCheckout, flags.user.clone()).await?;
    } else {
        ctx.call_activity(OldCheckout, flags.user.clone()).await?;
    }
    Ok(())
}

/// clean: Object.entries over a BTreeMap parsed with a turbofish
async fn ts_object_entries_btreemap(ctx: OrchestrationContext, input: PriceUpdate) -> Result<(), OrchestrationError> {
    let prices = serde_json::from_value::<BTreeMap<String, Price>>(input.prices.clone())
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    for (sku, price) in prices {
        ctx.call_activity(UpdatePrice, (sku, price)).await?;
    }
    Ok(())
}

/// clean: results drained from a FuturesUnordered of durable calls, then sorted
async fn scores_futures_unordered_sorted(ctx: OrchestrationContext, batch: ScoreBatch) -> Result<(), OrchestrationError> {
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut pending: FuturesUnordered<_> = batch.ids.iter().map(|id| ctx.call_activity(Score, id.clone())).collect();
    let mut scores = Vec::with_capacity(batch.ids.len());
    while let Some(score) = pending.next().await {
        scores.push(score?);
    }
    scores.sort();
    ctx.call_activity(StoreScores, (batch.id, scores)).await?;
    Ok(())
}

// ---- spellings that look like violations -------------------------------------------------

/// clean: a doubling backoff from iter::successors whose closure can return None
async fn successors_until_cap(ctx: OrchestrationContext, cert: CertRequest) -> Result<(), OrchestrationError> {
    for delay in std::iter::successors(Some(30u64), |d| d.checked_mul(2).filter(|d| *d <= 3600)) {
        ctx.create_timer(std::time::Duration::from_secs(delay)).await;
        if ctx.call_activity(CheckCertIssued, cert.clone()).await? {
            ctx.call_activity(InstallCert, cert).await?;
            return Ok(());
        }
    }
    Ok(())
}

/// clean: jobs popped from a BinaryHeap built from the input (ties broken by sequence)
async fn priority_heap_from_input(ctx: OrchestrationContext, input: JobBatch) -> Result<(), OrchestrationError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut heap: BinaryHeap<(u8, Reverse<u64>)> = input.jobs.iter().map(|j| (j.priority, Reverse(j.seq))).collect();
    while let Some((_, Reverse(seq))) = heap.pop() {
        ctx.call_activity(RunJob, seq).await?;
    }
    Ok(())
}

/// clean: an envelope stamped from the context, in struct fields
async fn envelope_fields_from_ctx(ctx: OrchestrationContext, payload: EventPayload) -> Result<(), OrchestrationError> {
    let envelope = Envelope {
        id: ctx.new_guid(),
        sent_at: ctx.current_time(),
        payload,
    };
    ctx.call_activity(Publish, envelope).await?;
    Ok(())
}

/// clean: the tenant defaulted through Option combinators on the input
async fn tenant_or_else_input(ctx: OrchestrationContext, input: ImportRequest) -> Result<(), OrchestrationError> {
    let tenant = input
        .tenant
        .clone()
        .or_else(|| input.org.default_tenant.clone())
        .unwrap_or_else(|| "default".to_owned());
    ctx.call_activity(ImportFor, (tenant, input.file)).await?;
    Ok(())
}

/// clean: a struct and impl block in the body that only format input fields
async fn idempotency_key_impl_block(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    struct Key<'a>(&'a Order);
    impl Key<'_> {
        fn render(&self) -> String {
            format!("charge-{}-{}", self.0.id, self.0.attempt)
        }
    }
    let key = Key(&order).render();
    ctx.call_activity(ChargeCard, (order, key)).await?;
    Ok(())
}

/// clean: map keys sorted (unique keys, so sort_unstable is total); hash: input.tenants_by_id
async fn tenants_sorted_unstable(ctx: OrchestrationContext, input: MigrationPlan) -> Result<(), OrchestrationError> {
    let mut tenants: Vec<TenantId> = input.tenants_by_id.keys().cloned().collect();
    tenants.sort_unstable();
    for (i, tenant) in tenants.iter().enumerate() {
        ctx.call_activity(MigrateTenant, (tenant.clone(), i % 4)).await?;
    }
    Ok(())
}

/// clean: logging guarded by ctx.is_replaying(), the durable calls unchanged
async fn replay_guarded_logging(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    if !ctx.is_replaying() {
        tracing::info!(order = %order.id, "starting fulfilment");
    }
    ctx.call_activity(FulfilOrder, order.clone()).await?;
    ctx.set_custom_status(&"fulfilled").map_err(|e| OrchestrationError::new(e.to_string()))?;
    Ok(())
}
