// A seventh held-out batch of violations (see README.md), written before running the checks
// on it and without reading the walker. The bodies are transplanted from other kinds of
// code than batches 1-6: samples of other durable-execution frameworks (Temporal, Restate,
// the Durable Task Framework) ported to Rust, e-commerce order flows, KYC and onboarding,
// document processing (PDF / OCR pipelines), ML inference batching, data sync between SaaS
// APIs (CRM, Stripe, Slack, GitHub), infrastructure provisioning (cloud APIs, Kubernetes
// operators, Terraform, SSH, Vault), email campaigns, subscription billing, media
// transcoding, search indexing, and code written by people coming from Go (goroutines,
// `select` loops, `context.WithDeadline`, `defer`, `sync.Once`-style singletons) or
// TypeScript (`Date.now()`, `performance.now()`, `setTimeout`, `Promise.race` against a
// plain delay, `Math.random()`, `Object.entries`, lazy module-level clients). Statics named
// in a body are declared at module level in the code they imitate (not shown: the walker
// sees only the body). Each body breaks replay once.

// ---- other durable-execution frameworks' samples, ported -------------------------------

/// kind: table; rule: randomness
async fn restate_run_closure_uuid(ctx: OrchestrationContext, signup: Signup) -> Result<(), OrchestrationError> {
    // Restate: `ctx.run(|| async { Ok(Uuid::new_v4().to_string()) })`, ported as a plain
    // async closure that is awaited in place.
    let user_id = (|| async { uuid::Uuid::new_v4().to_string() })().await;
    ctx.call_activity(CreateUser, (user_id.clone(), signup.email.clone())).await?;
    ctx.call_activity(SendVerification, (user_id, signup.email)).await?;
    Ok(())
}

/// kind: table; rule: spawn
async fn dtf_fan_out_tokio_handles(ctx: OrchestrationContext, dir: BackupDir) -> Result<u64, OrchestrationError> {
    let files: Vec<String> = ctx.call_activity(ListFiles, dir.path.clone()).await?;
    let handles: Vec<_> = files
        .iter()
        .map(|file| tokio::spawn(copy_to_blob(file.clone())))
        .collect();
    let sizes = futures::future::join_all(handles).await;
    let total: u64 = sizes.into_iter().filter_map(Result::ok).sum();
    ctx.call_activity(RecordBackupSize, (dir.path, total)).await?;
    Ok(total)
}

/// kind: table; rule: randomness
async fn temporal_side_effect_ported(ctx: OrchestrationContext, exp: Experiment) -> Result<(), OrchestrationError> {
    // Go: `workflow.SideEffect(ctx, func(ctx workflow.Context) interface{} { return rand.Intn(100) })`
    let roll = {
        use rand::Rng;
        rand::thread_rng().gen_range(0..100)
    };
    if roll < exp.percent {
        ctx.call_activity(EnrollInExperiment, exp.user.clone()).await?;
    }
    Ok(())
}

/// kind: table; rule: env
async fn temporal_get_version_from_env(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    // `workflow.GetVersion(ctx, "checkout-v2", ...)` turned into a deployment flag.
    let v2 = std::env::var("CHECKOUT_V2").is_ok_and(|v| v == "1");
    if v2 {
        ctx.call_activity(CheckoutV2, order).await?;
    } else {
        ctx.call_activity(CheckoutV1, order).await?;
    }
    Ok(())
}

/// kind: table; rule: io
async fn dtf_chaining_blocking_http(ctx: OrchestrationContext, city: String) -> Result<String, OrchestrationError> {
    let forecast = reqwest::blocking::get(format!("https://wttr.example.com/{city}?format=3"))
        .and_then(|r| r.text())
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let greeting = ctx.call_activity(SayHello, (city, forecast)).await?;
    Ok(greeting)
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn dtf_monitor_forgets_break(ctx: OrchestrationContext, job: WatchedJob) -> Result<(), OrchestrationError> {
    // The monitor sample, with the `break` after the alert forgotten and no continue-as-new.
    loop {
        let status: JobStatus = ctx.call_activity(GetJobStatus, job.id.clone()).await?;
        if status.completed {
            ctx.call_activity(SendAlert, (job.owner.clone(), status)).await?;
        }
        ctx.create_timer(std::time::Duration::from_secs(job.poll_secs)).await;
    }
}

// ---- e-commerce order flows --------------------------------------------------------------

/// kind: table; rule: wall_clock
async fn cart_abandoned_local_today(ctx: OrchestrationContext, cart: Cart) -> Result<(), OrchestrationError> {
    if cart.updated_on < chrono::Local::today().naive_local() {
        ctx.call_activity(SendCartReminder, cart.customer.clone()).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: randomness
async fn order_number_from_tsid(ctx: OrchestrationContext, order: Order) -> Result<String, OrchestrationError> {
    let number = tsid::create_tsid().to_string();
    ctx.call_activity(SaveOrder, (number.clone(), order)).await?;
    Ok(number)
}

/// kind: missing_source; rule: randomness
async fn coupon_word_from_fake(ctx: OrchestrationContext, campaign: PromoCampaign) -> Result<(), OrchestrationError> {
    use fake::faker::lorem::en::Word;
    use fake::Fake;
    let word: String = Word().fake();
    let code = format!("{}{}", word.to_uppercase(), campaign.discount_percent);
    ctx.call_activity(CreateCoupon, (campaign.id, code)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn reservation_into_module_static(ctx: OrchestrationContext, item: LineItem) -> Result<(), OrchestrationError> {
    crate::state::RESERVED.insert(item.sku.clone(), item.quantity);
    ctx.call_activity(ConfirmReservation, item).await?;
    Ok(())
}

/// kind: global_state; rule: global_state; await: cache.lock
async fn cart_cache_arc_of_static(ctx: OrchestrationContext, cart_id: CartId) -> Result<(), OrchestrationError> {
    let cache = std::sync::Arc::clone(&CART_CACHE);
    let cached = cache.lock().await.get(&cart_id).cloned();
    match cached {
        Some(cart) => ctx.call_activity(PriceCart, cart).await?,
        None => ctx.call_activity(LoadAndPriceCart, cart_id).await?,
    };
    Ok(())
}

/// kind: method_call; rule: hash_iteration; hash: quotes
async fn shipping_quote_min_by_ties(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let quotes: HashMap<Carrier, Quote> = ctx.call_activity(GetShippingQuotes, order.clone()).await?;
    let cheapest = quotes
        .into_iter()
        .min_by(|a, b| a.1.price_cents.cmp(&b.1.price_cents))
        .map(|(carrier, _)| carrier);
    if let Some(carrier) = cheapest {
        ctx.call_activity(BookShipment, (order.id, carrier)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: per_warehouse
async fn split_shipments_itertools_counts(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use itertools::Itertools;
    let per_warehouse = order.lines.iter().map(|line| line.warehouse.clone()).counts();
    for (warehouse, lines) in per_warehouse {
        ctx.call_activity(CreateShipment, (order.id.clone(), warehouse, lines)).await?;
    }
    Ok(())
}

/// kind: table; rule: wall_clock
async fn fraud_rng_seeded_from_clock(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(chrono::Utc::now().timestamp() as u64);
    if rng.gen_bool(0.05) {
        ctx.call_activity(ManualReview, order).await?;
    } else {
        ctx.call_activity(CapturePayment, order).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn price_list_tokio_once_cell(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    let prices = PRICE_LIST.get_or_init(|| async { PriceList::default() }).await;
    let total: u64 = order.lines.iter().map(|l| prices.unit(&l.sku) * l.quantity as u64).sum();
    ctx.call_activity(ChargeOrder, (order.id, total)).await?;
    Ok(())
}

// ---- KYC and onboarding ------------------------------------------------------------------

/// kind: missing_source; rule: wall_clock
async fn kyc_totp_generate_current(ctx: OrchestrationContext, applicant: Applicant) -> Result<(), OrchestrationError> {
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, applicant.otp_secret.clone())
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let code = totp.generate_current().map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(SendSmsCode, (applicant.phone.clone(), code)).await?;
    Ok(())
}

/// kind: missing_source; rule: wall_clock
async fn kyc_jwt_current_timestamp(ctx: OrchestrationContext, applicant: Applicant) -> Result<(), OrchestrationError> {
    let iat = jsonwebtoken::get_current_timestamp();
    let claims = UploadClaims { sub: applicant.id.clone(), iat, exp: iat + 900 };
    ctx.call_activity(IssueUploadLink, claims).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn kyc_document_image_open(ctx: OrchestrationContext, upload: IdUpload) -> Result<(), OrchestrationError> {
    let img = image::open(&upload.local_path).map_err(|e| OrchestrationError::new(e.to_string()))?;
    if img.width() < 600 || img.height() < 400 {
        ctx.call_activity(RequestRescan, upload.applicant_id).await?;
    } else {
        ctx.call_activity(VerifyDocument, upload).await?;
    }
    Ok(())
}

/// kind: path_form; rule: randomness
async fn kyc_password_salt_os_rng(ctx: OrchestrationContext, account: NewAccount) -> Result<(), OrchestrationError> {
    use argon2::password_hash::{rand_core::OsRng, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    ctx.call_activity(StoreCredentials, (account.id, account.password_hash_input, salt.to_string())).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn kyc_email_code_sample_string(ctx: OrchestrationContext, applicant: Applicant) -> Result<(), OrchestrationError> {
    use rand::distr::{Alphanumeric, SampleString};
    let code = Alphanumeric.sample_string(&mut rand::rng(), 8);
    ctx.call_activity(SendEmailCode, (applicant.email.clone(), code)).await?;
    Ok(())
}

/// kind: table; rule: sleep
async fn onboarding_verify_with_tokio_timeout(ctx: OrchestrationContext, user: NewUser) -> Result<(), OrchestrationError> {
    // Go: ctx, cancel := context.WithTimeout(ctx, 24*time.Hour)
    let verified = tokio::time::timeout(
        std::time::Duration::from_secs(24 * 3600),
        ctx.wait_for_external_event::<EmailVerified>("email_verified"),
    )
    .await;
    match verified {
        Ok(Ok(_)) => ctx.call_activity(ActivateAccount, user.id).await?,
        _ => ctx.call_activity(DeleteUnverified, user.id).await?,
    };
    Ok(())
}

/// kind: missing_source; rule: io; await: twilio.send_message
async fn onboarding_twilio_in_body(ctx: OrchestrationContext, user: NewUser) -> Result<(), OrchestrationError> {
    let twilio = twilio::Client::new(&user.twilio_sid, &user.twilio_token);
    twilio
        .send_message(twilio::OutboundMessage::new(&user.from_number, &user.phone, "Welcome!"))
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(MarkWelcomed, user.id).await?;
    Ok(())
}

// ---- document processing (PDF / OCR) -----------------------------------------------------

/// kind: missing_source; rule: io
async fn ocr_leptess_in_body(ctx: OrchestrationContext, page: ScannedPage) -> Result<(), OrchestrationError> {
    let mut lt = leptess::LepTess::new(None, "eng").map_err(|e| OrchestrationError::new(e.to_string()))?;
    lt.set_image(&page.image_path).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let text = lt.get_utf8_text().unwrap_or_default();
    ctx.call_activity(StorePageText, (page.doc_id, page.number, text)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn pdf_extract_text_in_body(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    let text = pdf_extract::extract_text(&doc.local_path).map_err(|e| OrchestrationError::new(e.to_string()))?;
    if text.trim().is_empty() {
        ctx.call_sub_orchestrator(OcrDocument, doc).await?;
    } else {
        ctx.call_activity(IndexText, (doc.id, text)).await?;
    }
    Ok(())
}

/// kind: method_call; rule: spawn
async fn pdf_thumbnails_par_bridge(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    use rayon::iter::{ParallelBridge, ParallelIterator};
    let thumbs: Vec<Thumb> = doc.pages.iter().par_bridge().map(render_thumbnail).collect();
    ctx.call_activity(UploadThumbnails, (doc.id, thumbs)).await?;
    Ok(())
}

/// kind: path_form; rule: spawn
async fn ocr_pages_thread_scope(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    use std::thread;
    let texts: Vec<String> = thread::scope(|s| {
        let workers: Vec<_> = doc.pages.iter().map(|p| s.spawn(move || deskew_and_read(p))).collect();
        workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
    });
    ctx.call_activity(StoreTexts, (doc.id, texts)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn pdf_split_lopdf_page_count(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    let pages = lopdf::Document::load(&doc.local_path)
        .map(|d| d.get_pages().len())
        .unwrap_or(1);
    for chunk in 0..pages.div_ceil(50) {
        ctx.call_activity(ProcessChunk, (doc.id.clone(), chunk)).await?;
    }
    Ok(())
}

/// kind: method_call; rule: randomness
async fn doc_bucket_from_set_hasher(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    use std::hash::BuildHasher;
    let seen: HashSet<Checksum> = HashSet::new();
    let bucket = seen.hasher().hash_one(&doc.checksum) % 16;
    ctx.call_activity(RouteToWorkerQueue, (doc.id, bucket)).await?;
    Ok(())
}

/// kind: path_form; rule: env
async fn doc_scratch_in_temp_dir(ctx: OrchestrationContext, doc: UploadedDoc) -> Result<(), OrchestrationError> {
    use std::env::temp_dir;
    let scratch = temp_dir().join(format!("{}.pdf", doc.id));
    ctx.call_activity(DownloadTo, (doc.url.clone(), scratch)).await?;
    Ok(())
}

// ---- ML inference batching ---------------------------------------------------------------

/// kind: table; rule: wall_clock
async fn inference_batch_window_minstant(ctx: OrchestrationContext, queue: ModelQueue) -> Result<(), OrchestrationError> {
    let opened = minstant::Instant::now();
    let mut batch = Vec::new();
    for request in queue.pending {
        batch.push(request);
        if batch.len() == queue.max_batch || opened.elapsed() > queue.max_wait {
            ctx.call_activity(RunBatch, std::mem::take(&mut batch)).await?;
        }
    }
    Ok(())
}

/// kind: missing_source; rule: env
async fn inference_device_cuda_if_available(ctx: OrchestrationContext, job: InferenceJob) -> Result<(), OrchestrationError> {
    let device = candle_core::Device::cuda_if_available(0).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let batch_size = if device.is_cuda() { 64 } else { 8 };
    for chunk in job.inputs.chunks(batch_size) {
        ctx.call_activity(Infer, (job.model.clone(), chunk.to_vec())).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: env
async fn inference_free_memory_nvml(ctx: OrchestrationContext, job: InferenceJob) -> Result<(), OrchestrationError> {
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| OrchestrationError::new(e.to_string()))?;
    let free = nvml
        .device_by_index(0)
        .and_then(|d| d.memory_info())
        .map(|m| m.free)
        .unwrap_or(0);
    let shard = if free > 16 << 30 { 1 } else { 4 };
    ctx.call_activity(LoadModelSharded, (job.model, shard)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn inference_onnx_commit_from_file(ctx: OrchestrationContext, job: InferenceJob) -> Result<(), OrchestrationError> {
    let session = ort::session::Session::builder()
        .and_then(|b| b.commit_from_file(&job.model_path))
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let inputs = session.inputs.len();
    ctx.call_activity(Infer, (job.model, inputs)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn model_registry_lazy_deref(ctx: OrchestrationContext, req: PredictRequest) -> Result<(), OrchestrationError> {
    let registry = &*MODEL_REGISTRY;
    let version = registry.latest(&req.model).unwrap_or_default();
    ctx.call_activity(Predict, (req, version)).await?;
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.docs_by_id
async fn embed_sorted_by_length_ties(ctx: OrchestrationContext, input: EmbedJob) -> Result<(), OrchestrationError> {
    // Sorted, but by a key that ties: equal-length documents keep the map's order.
    let mut docs: Vec<Doc> = input.docs_by_id.values().cloned().collect();
    docs.sort_by_key(|d| d.text.len());
    for chunk in docs.chunks(32) {
        ctx.call_activity(Embed, chunk.to_vec()).await?;
    }
    Ok(())
}

/// kind: method_call; rule: spawn
async fn inference_spawn_pinned_pool(ctx: OrchestrationContext, req: PredictRequest) -> Result<(), OrchestrationError> {
    let pool = tokio_util::task::LocalPoolHandle::new(2);
    let features = req.features.clone();
    let score = pool
        .spawn_pinned(move || async move { score_features(features) })
        .await
        .unwrap_or_default();
    ctx.call_activity(StoreScore, (req.id, score)).await?;
    Ok(())
}

// ---- data sync between SaaS APIs (CRM, Stripe, Slack, GitHub) ----------------------------

/// kind: table; rule: io
async fn crm_sync_since_marker_mtime(ctx: OrchestrationContext, job: CrmSync) -> Result<(), OrchestrationError> {
    let since = std::fs::metadata(&job.marker_path)
        .and_then(|m| m.modified())
        .ok();
    ctx.call_activity(PullChangedContacts, (job.portal, since)).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn hubspot_pages_continue_not_break(ctx: OrchestrationContext, job: CrmSync) -> Result<(), OrchestrationError> {
    for page in 1u32.. {
        let contacts: Vec<Contact> = ctx.call_activity(FetchContactsPage, (job.portal.clone(), page)).await?;
        if contacts.is_empty() {
            continue;
        }
        ctx.call_activity(UpsertContacts, contacts).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io
async fn slack_hook_post_in_body(ctx: OrchestrationContext, deal: DealWon) -> Result<(), OrchestrationError> {
    let slack = slack_hook::Slack::new(deal.webhook_url.as_str()).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let payload = slack_hook::PayloadBuilder::new()
        .text(format!("{} closed {}", deal.owner, deal.amount))
        .build()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    slack.send(&payload).map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(MarkAnnounced, deal.id).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn github_issue_via_octocrab_instance(ctx: OrchestrationContext, bug: BugReport) -> Result<(), OrchestrationError> {
    let issue = octocrab::instance()
        .issues(&bug.owner, &bug.repo)
        .create(&bug.title)
        .body(&bug.body)
        .send()
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(LinkTicket, (bug.ticket_id, issue.number)).await?;
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: pending
async fn stripe_events_hashset_fan_out(ctx: OrchestrationContext, batch: StripeEvents) -> Result<(), OrchestrationError> {
    let pending: HashSet<String> = batch.events.iter().map(|e| e.invoice_id.clone()).collect();
    let calls: Vec<_> = pending
        .into_iter()
        .map(|invoice| ctx.call_activity(ReconcileInvoice, invoice))
        .collect();
    durable_runtime::try_join_all(calls).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn salesforce_config_envconfig(ctx: OrchestrationContext, job: CrmSync) -> Result<(), OrchestrationError> {
    use envconfig::Envconfig;
    let cfg = SalesforceConfig::init_from_env().map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(PushAccounts, (job.accounts, cfg.instance_url)).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn lead_owner_round_robin_module_static(ctx: OrchestrationContext, lead: Lead) -> Result<(), OrchestrationError> {
    let owners: Vec<OwnerId> = ctx.call_activity(ListSalesOwners, lead.region.clone()).await?;
    let next = crate::routing::NEXT_OWNER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % owners.len().max(1);
    ctx.call_activity(AssignLead, (lead.id, owners[next].clone())).await?;
    Ok(())
}

/// kind: method_call; rule: hash_iteration; hash: members
async fn slack_last_admin_from_map(ctx: OrchestrationContext, team: TeamId) -> Result<(), OrchestrationError> {
    let members: HashMap<UserId, Member> = ctx.call_activity(ListMembers, team.clone()).await?;
    if let Some(admin) = members.into_values().filter(|m| m.is_admin).last() {
        ctx.call_activity(NotifyAdmin, (team, admin.id)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.invoices_by_customer
async fn stripe_largest_invoice_reduce(ctx: OrchestrationContext, input: DunningRun) -> Result<(), OrchestrationError> {
    let largest = input
        .invoices_by_customer
        .values()
        .cloned()
        .reduce(|a, b| if a.amount_due >= b.amount_due { a } else { b });
    if let Some(invoice) = largest {
        ctx.call_activity(EscalateInvoice, invoice).await?;
    }
    Ok(())
}

// ---- infrastructure provisioning ---------------------------------------------------------

/// kind: missing_source; rule: io
async fn k8s_kube_client_try_default(ctx: OrchestrationContext, spec: AppSpec) -> Result<(), OrchestrationError> {
    let client = kube::Client::try_default().await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(client, &spec.namespace);
    let existing = deployments.get_opt(&spec.name).await.ok().flatten();
    if existing.is_none() {
        ctx.call_activity(CreateDeployment, spec).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io; await: create_server
async fn hcloud_create_server_in_body(ctx: OrchestrationContext, req: ServerRequest) -> Result<(), OrchestrationError> {
    let configuration = hcloud::apis::configuration::Configuration {
        bearer_access_token: Some(req.token.clone()),
        ..Default::default()
    };
    let params = hcloud::apis::servers_api::CreateServerParams {
        create_server_request: req.to_hcloud(),
    };
    let created = hcloud::apis::servers_api::create_server(&configuration, params)
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(RegisterServer, created.server.id).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn terraform_apply_duct_cmd(ctx: OrchestrationContext, ws: Workspace) -> Result<(), OrchestrationError> {
    let output = duct::cmd!("terraform", "apply", "-auto-approve", "-no-color")
        .dir(&ws.path)
        .read()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(StoreApplyLog, (ws.id, output)).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn kubectl_apply_xshell(ctx: OrchestrationContext, rollout: Rollout) -> Result<(), OrchestrationError> {
    let sh = xshell::Shell::new().map_err(|e| OrchestrationError::new(e.to_string()))?;
    let manifest = &rollout.manifest_path;
    xshell::cmd!(sh, "kubectl apply -f {manifest}")
        .run()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(WaitForRollout, rollout.id).await?;
    Ok(())
}

/// kind: missing_source; rule: env
async fn allowlist_local_ip(ctx: OrchestrationContext, db: DatabaseSpec) -> Result<(), OrchestrationError> {
    let ip = local_ip_address::local_ip().map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(AddFirewallRule, (db.id, ip.to_string())).await?;
    Ok(())
}

/// kind: table; rule: io
async fn bootstrap_host_openssh(ctx: OrchestrationContext, host: HostSpec) -> Result<(), OrchestrationError> {
    let session = openssh::Session::connect(&host.address, openssh::KnownHosts::Strict)
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let uname = session.command("uname").arg("-r").output().await.ok();
    ctx.call_activity(RecordKernel, (host.id, uname.map(|o| o.stdout))).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn operator_reconcile_requeue_loop(ctx: OrchestrationContext, cr: ClusterResource) -> Result<(), OrchestrationError> {
    // A kube-rs controller's `Action::requeue(..)` turned into a loop.
    loop {
        let observed: Observed = ctx.call_activity(ObserveCluster, cr.clone()).await?;
        let action: ReconcileAction = ctx.call_activity(ReconcileCluster, (cr.clone(), observed)).await?;
        ctx.create_timer(action.requeue_after).await;
    }
}

/// kind: missing_source; rule: sleep
async fn wait_until_running_retry_crate(ctx: OrchestrationContext, vm: VmRequest) -> Result<(), OrchestrationError> {
    let instance: InstanceId = ctx.call_activity(LaunchInstance, vm.clone()).await?;
    retry::retry(retry::delay::Fixed::from_millis(5_000).take(60), || {
        if vm.expect_ready { Ok(()) } else { Err("not ready") }
    })
    .map_err(|e| OrchestrationError::new(format!("{e:?}")))?;
    ctx.call_activity(TagInstance, instance).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn dns_trust_resolver_system_conf(ctx: OrchestrationContext, domain: DomainSetup) -> Result<(), OrchestrationError> {
    let resolver = trust_dns_resolver::TokioAsyncResolver::tokio_from_system_conf()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let resolved = resolver.lookup_ip(domain.name.as_str()).await.is_ok();
    if !resolved {
        ctx.call_activity(CreateDnsRecord, domain).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io; await: vaultrs::kv2::read
async fn vault_db_creds_in_body(ctx: OrchestrationContext, app: AppSpec) -> Result<(), OrchestrationError> {
    let settings = vaultrs::client::VaultClientSettingsBuilder::default()
        .address(&app.vault_addr)
        .build()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let vault = vaultrs::client::VaultClient::new(settings).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let creds: DbCreds = vaultrs::kv2::read(&vault, "secret", &app.name)
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(DeployWithCreds, (app, creds)).await?;
    Ok(())
}

// ---- email campaigns ---------------------------------------------------------------------

/// kind: table; rule: randomness
async fn campaign_ab_split_random_state(ctx: OrchestrationContext, recipient: Recipient) -> Result<(), OrchestrationError> {
    use std::hash::{BuildHasher, RandomState};
    let variant = RandomState::new().hash_one(&recipient.email) % 2;
    ctx.call_activity(SendVariant, (recipient, variant)).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep; await: limiter.consume
async fn campaign_speed_limiter(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    let limiter = <async_speed_limit::Limiter>::new(50.0);
    for recipient in campaign.recipients {
        limiter.consume(1).await;
        ctx.call_activity(SendEmail, (campaign.id.clone(), recipient)).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io; await: sg.send
async fn campaign_sendgrid_in_body(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    let sg = sendgrid::SGClient::new(campaign.api_key.clone());
    let mail = sendgrid::Mail::new()
        .add_to(sendgrid::Destination { address: &campaign.test_address, name: "test" })
        .add_from(&campaign.from)
        .add_subject(&campaign.subject)
        .add_html(&campaign.html);
    sg.send(mail).await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(MarkTestSent, campaign.id).await?;
    Ok(())
}

/// kind: method_call; rule: randomness
async fn campaign_seed_list_from_os_rng(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    use rand::seq::IndexedRandom;
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let seed_list: Vec<Recipient> = campaign.recipients.choose_multiple(&mut rng, 100).cloned().collect();
    ctx.call_activity(SendSeedList, (campaign.id, seed_list)).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn campaign_sent_never_advances(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    let sent = 0usize;
    while sent < campaign.recipients.len() {
        let end = (sent + campaign.batch_size).min(campaign.recipients.len());
        let batch = campaign.recipients[sent..end].to_vec();
        ctx.call_activity(SendBatch, (campaign.id.clone(), batch)).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: env
async fn campaign_quiet_hours_host_tz(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    let tz = iana_time_zone::get_timezone().unwrap_or_else(|_| "UTC".to_owned());
    ctx.call_activity(ScheduleSend, (campaign.id, tz)).await?;
    Ok(())
}

/// kind: method_call; rule: io
async fn campaign_smtp_connect_in_body(ctx: OrchestrationContext, campaign: Campaign) -> Result<(), OrchestrationError> {
    let mut smtp = mail_send::SmtpClientBuilder::new(campaign.smtp_host.as_str(), 587)
        .implicit_tls(false)
        .credentials((campaign.smtp_user.as_str(), campaign.smtp_pass.as_str()))
        .connect()
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    smtp.noop().await.ok();
    ctx.call_activity(StartCampaign, campaign.id).await?;
    Ok(())
}

// ---- subscription billing ----------------------------------------------------------------

/// kind: path_form; rule: wall_clock
async fn billing_anchor_first_of_month(ctx: OrchestrationContext, sub: Subscription) -> Result<(), OrchestrationError> {
    use chrono::{Datelike, Local};
    let anchor = Local::now().with_day(1).map(|d| d.date_naive());
    ctx.call_activity(SetBillingAnchor, (sub.id, anchor)).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep; await: .retry(
async fn billing_dunning_backon_retry(ctx: OrchestrationContext, invoice: Invoice) -> Result<(), OrchestrationError> {
    use backon::{ExponentialBuilder, Retryable};
    let receipt = (|| ctx.call_activity(ChargeInvoice, invoice.clone()))
        .retry(ExponentialBuilder::default().with_max_times(4))
        .await?;
    ctx.call_activity(SendReceipt, receipt).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn billing_overage_from_gauge(ctx: OrchestrationContext, account: Account) -> Result<(), OrchestrationError> {
    if ACTIVE_SEATS.get() > account.plan_seats as i64 {
        ctx.call_activity(ChargeOverage, account.id).await?;
    }
    Ok(())
}

/// kind: table; rule: static_mut
async fn billing_invoice_seq_static_mut(ctx: OrchestrationContext, sub: Subscription) -> Result<(), OrchestrationError> {
    let number = unsafe {
        INVOICE_SEQ += 1;
        INVOICE_SEQ
    };
    ctx.call_activity(IssueInvoice, (sub.id, format!("INV-{number:06}"))).await?;
    Ok(())
}

/// kind: missing_source; rule: spawn; await: JobScheduler::new
async fn billing_cycle_cron_scheduler(ctx: OrchestrationContext, sub: Subscription) -> Result<(), OrchestrationError> {
    let sched = tokio_cron_scheduler::JobScheduler::new().await.map_err(|e| OrchestrationError::new(e.to_string()))?;
    let job = tokio_cron_scheduler::Job::new_async("0 0 0 1 * *", |_, _| Box::pin(async {}))
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    sched.add(job).await.ok();
    sched.start().await.ok();
    ctx.call_activity(ActivateSubscription, sub.id).await?;
    Ok(())
}

// ---- media transcoding -------------------------------------------------------------------

/// kind: missing_source; rule: io
async fn transcode_ffmpeg_sidecar(ctx: OrchestrationContext, job: TranscodeJob) -> Result<(), OrchestrationError> {
    let status = ffmpeg_sidecar::command::FfmpegCommand::new()
        .input(&job.source)
        .codec_video("libx264")
        .output(&job.target)
        .spawn()
        .and_then(|mut child| child.wait())
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(PublishRendition, (job.id, status.success())).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn transcode_probe_ffmpeg_next(ctx: OrchestrationContext, job: TranscodeJob) -> Result<(), OrchestrationError> {
    let input = ffmpeg_next::format::input(&job.source).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let seconds = input.duration() / 1_000_000;
    if seconds > 3600 {
        ctx.call_activity(SplitIntoSegments, job).await?;
    } else {
        ctx.call_activity(TranscodeWhole, job).await?;
    }
    Ok(())
}

/// kind: table; rule: env
async fn transcode_renditions_per_core(ctx: OrchestrationContext, job: TranscodeJob) -> Result<(), OrchestrationError> {
    let parallel = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    for group in job.renditions.chunks(parallel) {
        let calls: Vec<_> = group.iter().map(|r| ctx.call_activity(Transcode, (job.source.clone(), r.clone()))).collect();
        durable_runtime::join_all(calls).await;
    }
    Ok(())
}

/// kind: missing_source; rule: sleep
async fn transcode_settle_crossbeam_after(ctx: OrchestrationContext, job: TranscodeJob) -> Result<(), OrchestrationError> {
    ctx.call_activity(UploadSource, job.clone()).await?;
    let settle = crossbeam_channel::after(std::time::Duration::from_secs(5));
    let _ = settle.recv();
    ctx.call_activity(StartEncode, job).await?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn transcode_watch_folder_notify(ctx: OrchestrationContext, job: WatchFolder) -> Result<(), OrchestrationError> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(|_event| {}).map_err(|e| OrchestrationError::new(e.to_string()))?;
    watcher
        .watch(std::path::Path::new(&job.dir), notify::RecursiveMode::NonRecursive)
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(RegisterWatch, job.id).await?;
    Ok(())
}

// ---- search indexing ---------------------------------------------------------------------

/// kind: missing_source; rule: io; await: add_documents
async fn index_meilisearch_in_body(ctx: OrchestrationContext, job: IndexJob) -> Result<(), OrchestrationError> {
    let docs: Vec<Product> = ctx.call_activity(LoadProducts, job.since).await?;
    let client = meilisearch_sdk::client::Client::new(&job.url, Some(&job.key)).map_err(|e| OrchestrationError::new(e.to_string()))?;
    client
        .index("products")
        .add_documents(&docs, Some("id"))
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    Ok(())
}

/// kind: missing_source; rule: io
async fn index_tantivy_open_in_dir(ctx: OrchestrationContext, job: IndexJob) -> Result<(), OrchestrationError> {
    let index = tantivy::Index::open_in_dir(&job.index_path).map_err(|e| OrchestrationError::new(e.to_string()))?;
    let segments = index.searchable_segment_ids().map(|s| s.len()).unwrap_or(0);
    if segments > 20 {
        ctx.call_activity(MergeSegments, job.index_path).await?;
    }
    Ok(())
}

/// kind: missing_source; rule: io; await: qdrant.upsert_points
async fn index_qdrant_upsert_in_body(ctx: OrchestrationContext, job: EmbedJob) -> Result<(), OrchestrationError> {
    let points: Vec<Point> = ctx.call_activity(EmbedDocs, job.clone()).await?;
    let qdrant = qdrant_client::Qdrant::from_url(&job.qdrant_url)
        .build()
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    qdrant
        .upsert_points(qdrant_client::qdrant::UpsertPointsBuilder::new(&job.collection, points))
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn reindex_stream_over_open_range(ctx: OrchestrationContext, job: IndexJob) -> Result<(), OrchestrationError> {
    use futures::{stream, StreamExt, TryStreamExt};
    let _pages: Vec<PageStats> = stream::iter(0u64..)
        .then(|page| ctx.call_activity(IndexPage, (job.id.clone(), page)))
        .try_collect()
        .await?;
    Ok(())
}

// ---- code written by people coming from Go ------------------------------------------------

/// kind: path_form; rule: spawn
async fn go_keyword_as_spawn_alias(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    use tokio::spawn as go;
    let order_id = order.id.clone();
    go(async move { audit_trail(order_id).await });
    ctx.call_activity(FulfilOrder, order).await?;
    Ok(())
}

/// kind: macro; rule: select
async fn go_select_event_or_deadline(ctx: OrchestrationContext, req: SignRequest) -> Result<(), OrchestrationError> {
    // Go: select { case ev := <-signed: ...; case <-time.After(deadline): ... }
    tokio::select! {
        signed = ctx.wait_for_external_event::<Signed>("signed") => {
            ctx.call_activity(FileContract, (req.id.clone(), signed?)).await?;
        }
        _ = ctx.create_timer(req.deadline) => {
            ctx.call_activity(ExpireRequest, req.id.clone()).await?;
        }
    }
    Ok(())
}

/// kind: path_form; rule: sleep
async fn go_context_with_deadline_timeout_at(ctx: OrchestrationContext, req: SignRequest) -> Result<(), OrchestrationError> {
    use tokio::time::timeout_at;
    match timeout_at(req.deadline_instant.into(), ctx.wait_for_external_event::<Signed>("signed")).await {
        Ok(Ok(signed)) => ctx.call_activity(FileContract, (req.id, signed)).await?,
        _ => ctx.call_activity(ExpireRequest, req.id).await?,
    };
    Ok(())
}

/// kind: table; rule: spawn
async fn go_waitgroup_threads(ctx: OrchestrationContext, plan: RegionPlan) -> Result<(), OrchestrationError> {
    let mut wg = Vec::new();
    for region in plan.regions.clone() {
        wg.push(std::thread::spawn(move || warm_region_cache(region)));
    }
    for handle in wg {
        handle.join().ok();
    }
    ctx.call_activity(ProvisionRegions, plan).await?;
    Ok(())
}

/// kind: macro; rule: io
async fn go_defer_scopeguard_remove(ctx: OrchestrationContext, job: ExportJob) -> Result<(), OrchestrationError> {
    let lock_path = format!("/var/run/export-{}.lock", job.id);
    scopeguard::defer! {
        let _ = std::fs::remove_file(&lock_path);
    }
    ctx.call_activity(RunExport, job).await?;
    Ok(())
}

/// kind: global_state; rule: global_state
async fn go_sync_once_atomic_in_body(ctx: OrchestrationContext, tenant: Tenant) -> Result<(), OrchestrationError> {
    static WARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARMED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        ctx.call_activity(WarmTenantCache, tenant.clone()).await?;
    }
    ctx.call_activity(ServeTenant, tenant).await?;
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn go_for_loop_shadowed_done(ctx: OrchestrationContext, job: ExportJob) -> Result<(), OrchestrationError> {
    let done = false;
    while !done {
        if let Ok(status) = ctx.call_activity(PollExport, job.id.clone()).await {
            let done = status.finished;
            if done {
                ctx.call_activity(NotifyExportReady, job.id.clone()).await?;
            }
        }
        ctx.create_timer(std::time::Duration::from_secs(10)).await;
    }
    Ok(())
}

// ---- code written by people coming from TypeScript ----------------------------------------

/// kind: table; rule: wall_clock
async fn ts_date_now_js_sys(ctx: OrchestrationContext, trial: Trial) -> Result<(), OrchestrationError> {
    let now_ms = js_sys::Date::now() as i64;
    if now_ms > trial.ends_at_ms {
        ctx.call_activity(EndTrial, trial.account).await?;
    }
    Ok(())
}

/// kind: method_call; rule: wall_clock
async fn ts_performance_now(ctx: OrchestrationContext, req: RenderRequest) -> Result<(), OrchestrationError> {
    let t0 = web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0);
    ctx.call_activity(RenderReport, (req.id, t0)).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep; await: settimeout::set_timeout
async fn ts_set_timeout_crate(ctx: OrchestrationContext, toast: Notice) -> Result<(), OrchestrationError> {
    ctx.call_activity(ShowNotice, toast.clone()).await?;
    settimeout::set_timeout(std::time::Duration::from_millis(5_000)).await;
    ctx.call_activity(HideNotice, toast.id).await?;
    Ok(())
}

/// kind: missing_source; rule: sleep; await: TimeoutFuture::new
async fn ts_gloo_timeout_future(ctx: OrchestrationContext, upload: Upload) -> Result<(), OrchestrationError> {
    gloo_timers::future::TimeoutFuture::new(1_000).await;
    ctx.call_activity(ConfirmUpload, upload).await?;
    Ok(())
}

/// kind: path_form; rule: sleep
async fn ts_promise_race_with_delay(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    // Promise.race([charge(order), delay(10_000)])
    use tokio::time::sleep as delay;
    let charge = Box::pin(ctx.call_activity(ChargeCard, order.clone()));
    let timeout = Box::pin(delay(std::time::Duration::from_secs(10)));
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

/// kind: missing_source; rule: io; await: gloo_net::http::Request::get
async fn ts_fetch_gloo_net(ctx: OrchestrationContext, req: LookupRequest) -> Result<(), OrchestrationError> {
    let resp = gloo_net::http::Request::get(&format!("/api/vat/{}", req.vat_id))
        .send()
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    let valid = resp.ok();
    ctx.call_activity(RecordVatCheck, (req.vat_id, valid)).await?;
    Ok(())
}

/// kind: method_call; rule: sleep; await: items.next
async fn ts_throttled_stream(ctx: OrchestrationContext, sync: ListSync) -> Result<(), OrchestrationError> {
    use tokio_stream::StreamExt;
    let mut items = tokio_stream::iter(sync.items).throttle(std::time::Duration::from_millis(200));
    tokio::pin!(items);
    while let Some(item) = items.next().await {
        ctx.call_activity(PushItem, item).await?;
    }
    Ok(())
}

/// kind: path_form; rule: io; await: SLACK.chat_post_message
async fn ts_module_singleton_client(ctx: OrchestrationContext, alert: Alert) -> Result<(), OrchestrationError> {
    crate::clients::SLACK
        .chat_post_message(&alert.channel, &alert.text)
        .await
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    ctx.call_activity(MarkAlerted, alert.id).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn ts_math_random_rollout(ctx: OrchestrationContext, flags: Rollout) -> Result<(), OrchestrationError> {
    // if (Math.random() < flags.rollout) { ... }
    if fastrand::f64() < flags.rollout {
        ctx.call_activity(NewCheckout, flags.user.clone()).await?;
    } else {
        ctx.call_activity(OldCheckout, flags.user.clone()).await?;
    }
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: headers
async fn ts_object_entries_headers(ctx: OrchestrationContext, req: ProxyRequest) -> Result<(), OrchestrationError> {
    let headers: HashMap<String, String> =
        serde_json::from_str(&req.headers_json).map_err(|e| OrchestrationError::new(e.to_string()))?;
    for (name, value) in &headers {
        ctx.call_activity(ForwardHeader, (req.id.clone(), name.clone(), value.clone())).await?;
    }
    Ok(())
}

/// kind: path_form; rule: hash_iteration; hash: prices
async fn ts_object_entries_turbofish(ctx: OrchestrationContext, input: PriceUpdate) -> Result<(), OrchestrationError> {
    let prices = serde_json::from_value::<HashMap<String, Price>>(input.prices.clone())
        .map_err(|e| OrchestrationError::new(e.to_string()))?;
    for (sku, price) in prices {
        ctx.call_activity(UpdatePrice, (sku, price)).await?;
    }
    Ok(())
}

// ---- singletons, hash order and loops in other spellings ---------------------------------

/// kind: global_state; rule: global_state
async fn job_queue_static_segqueue_pop(ctx: OrchestrationContext, worker: WorkerId) -> Result<(), OrchestrationError> {
    if let Some(job) = JOB_QUEUE.pop() {
        ctx.call_activity(RunJob, (worker, job)).await?;
    }
    Ok(())
}

/// kind: global_state; rule: global_state
async fn shutdown_static_notify(ctx: OrchestrationContext, drain: DrainRequest) -> Result<(), OrchestrationError> {
    SHUTDOWN.notified().await;
    ctx.call_activity(DrainNode, drain.node).await?;
    Ok(())
}

/// kind: table; rule: hash_iteration; hash: tenants
async fn migration_shard_by_enumerate(ctx: OrchestrationContext, input: MigrationPlan) -> Result<(), OrchestrationError> {
    let tenants: HashSet<TenantId> = input.tenants.iter().cloned().collect();
    for (i, tenant) in tenants.iter().enumerate() {
        ctx.call_activity(MigrateTenant, (tenant.clone(), i % 4)).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.customers_by_id
async fn vip_partition_from_map(ctx: OrchestrationContext, input: Renewals) -> Result<(), OrchestrationError> {
    let (vip, _rest): (Vec<Customer>, Vec<Customer>) = input.customers_by_id.into_values().partition(|c| c.vip);
    for customer in vip {
        ctx.call_activity(SendRenewalOffer, customer).await?;
    }
    Ok(())
}

/// kind: macro; rule: hash_iteration; hash: input.regions
async fn deploy_each_region_macro(ctx: OrchestrationContext, input: DeployPlan) -> Result<(), OrchestrationError> {
    macro_rules! each_region {
        ($regions:expr) => {
            for (region, cfg) in $regions.iter() {
                ctx.call_activity(DeployRegion, (region.clone(), cfg.clone())).await?;
            }
        };
    }
    each_region!(input.regions);
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: users
async fn sends_btree_of_hashsets(ctx: OrchestrationContext, input: Digest) -> Result<(), OrchestrationError> {
    // `sends_by_day: BTreeMap<NaiveDate, HashSet<UserId>>`: the days are ordered, the users are not.
    for (day, users) in &input.sends_by_day {
        for user in users {
            ctx.call_activity(SendDigest, (*day, user.clone())).await?;
        }
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: self.steps
async fn plan_impl_block_values(ctx: OrchestrationContext, input: PlanInput) -> Result<(), OrchestrationError> {
    struct Plan {
        steps: HashMap<String, Step>,
    }
    impl Plan {
        fn ordered(&self) -> Vec<&Step> {
            self.steps.values().collect()
        }
    }
    let plan = Plan { steps: input.steps };
    for step in plan.ordered() {
        ctx.call_activity(RunStep, step.clone()).await?;
    }
    Ok(())
}

/// kind: hash_nonlocal; rule: hash_iteration; hash: input.capacity
async fn placement_if_let_chain_first_key(ctx: OrchestrationContext, input: Placement) -> Result<(), OrchestrationError> {
    if let Some(region) = input.capacity.keys().next()
        && input.enabled
    {
        ctx.call_activity(PlaceWorkload, (input.workload.clone(), region.clone())).await?;
    }
    Ok(())
}

/// kind: table; rule: env
async fn nested_fn_key_with_pid(ctx: OrchestrationContext, order: Order) -> Result<(), OrchestrationError> {
    fn idempotency_key(order: &Order) -> String {
        format!("{}-{}", order.id, std::process::id())
    }
    ctx.call_activity(ChargeCard, (order.clone(), idempotency_key(&order))).await?;
    Ok(())
}

/// kind: table; rule: wall_clock
async fn envelope_field_utc_date_time(ctx: OrchestrationContext, payload: EventPayload) -> Result<(), OrchestrationError> {
    let envelope = Envelope {
        id: ctx.new_guid(),
        sent_at: time::UtcDateTime::now(),
        payload,
    };
    ctx.call_activity(Publish, envelope).await?;
    Ok(())
}

/// kind: table; rule: env
async fn tenant_or_else_env(ctx: OrchestrationContext, input: ImportRequest) -> Result<(), OrchestrationError> {
    let tenant = input.tenant.clone().or_else(|| std::env::var("DEFAULT_TENANT").ok());
    ctx.call_activity(ImportFor, (tenant, input.file)).await?;
    Ok(())
}

/// kind: table; rule: io
async fn template_or_else_fs(ctx: OrchestrationContext, input: WelcomeRequest) -> Result<(), OrchestrationError> {
    let template = input
        .template
        .clone()
        .ok_or(())
        .or_else(|_| std::fs::read_to_string("templates/welcome.html"))
        .unwrap_or_default();
    ctx.call_activity(SendWelcome, (input.user, template)).await?;
    Ok(())
}

/// kind: table; rule: randomness
async fn retry_struct_field_closure(ctx: OrchestrationContext, job: SyncJob) -> Result<(), OrchestrationError> {
    struct Backoff {
        delay: Box<dyn Fn(u32) -> std::time::Duration>,
    }
    let backoff = Backoff {
        delay: Box::new(|n| std::time::Duration::from_millis(100 * 2u64.pow(n) + rand::random::<u64>() % 100)),
    };
    for attempt in 0..3 {
        if ctx.call_activity(SyncOnce, job.clone()).await.is_ok() {
            break;
        }
        ctx.create_timer((backoff.delay)(attempt)).await;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn poll_unreachable_break_arm(ctx: OrchestrationContext, build: BuildId) -> Result<(), OrchestrationError> {
    loop {
        let status: BuildStatus = ctx.call_activity(GetBuildStatus, build.clone()).await?;
        match status {
            _ => ctx.create_timer(std::time::Duration::from_secs(30)).await,
            BuildStatus::Finished => break,
        }
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn poll_constant_true_condition(ctx: OrchestrationContext, feed: FeedId) -> Result<(), OrchestrationError> {
    while u8::MAX > 0 {
        let items: Vec<FeedItem> = ctx.call_activity(FetchFeed, feed.clone()).await?;
        ctx.call_activity(StoreItems, items).await?;
        ctx.create_timer(std::time::Duration::from_secs(300)).await;
    }
    Ok(())
}

/// kind: unbounded_loop; rule: unbounded_loop
async fn poll_repeat_with_backoff(ctx: OrchestrationContext, cert: CertRequest) -> Result<(), OrchestrationError> {
    let mut delays = std::iter::repeat_with(|| std::time::Duration::from_secs(30));
    while let Some(delay) = delays.next() {
        ctx.create_timer(delay).await;
        if ctx.call_activity(CheckCertIssued, cert.clone()).await? {
            ctx.call_activity(InstallCert, cert.clone()).await?;
        }
    }
    Ok(())
}

// ---- macros ------------------------------------------------------------------------------

/// kind: macro; rule: sleep
async fn ts_minimum_spinner_join(ctx: OrchestrationContext, req: RenderRequest) -> Result<(), OrchestrationError> {
    // await Promise.all([render(req), delay(300)]) so the spinner does not flicker.
    let (rendered, _) = tokio::join!(
        ctx.call_activity(RenderReport, req.clone()),
        tokio::time::sleep(std::time::Duration::from_millis(300)),
    );
    ctx.call_activity(DeliverReport, (req.id, rendered?)).await?;
    Ok(())
}

/// kind: macro; rule: randomness
async fn crm_webhook_json_nonce(ctx: OrchestrationContext, change: ContactChange) -> Result<(), OrchestrationError> {
    let body = serde_json::json!({
        "contact": change.contact_id,
        "fields": change.fields,
        "nonce": rand::random::<u64>(),
    });
    ctx.call_activity(PostToCrm, body).await?;
    Ok(())
}

/// kind: macro; rule: io
async fn transcode_assert_source_file(ctx: OrchestrationContext, job: TranscodeJob) -> Result<(), OrchestrationError> {
    assert!(std::path::Path::new(&job.source).is_file(), "source {} missing", job.source);
    ctx.call_activity(TranscodeWhole, job).await?;
    Ok(())
}
