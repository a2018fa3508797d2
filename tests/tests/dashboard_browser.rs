//! The web dashboard end to end in headless Chromium, driven through ChromeDriver
//! (fantoccini) against a dashboard served on loopback over a SQLite store with real
//! instances: listing and filtering (status counts, status, name, id prefix), a failed
//! instance's failure and timeline, raising an event through the JSON editor (an invalid
//! JSON shows a message and sends nothing), terminate and purge with their confirmations,
//! entities, the task hub overview, keyboard reachability and accessible names, and a
//! narrow window without horizontal overflow. Every test reads the browser's console log
//! and fails on any error in it (`goog:loggingPrefs`, ChromeDriver's log endpoint).
//!
//! Chromium and ChromeDriver come from Debian's `chromium` and `chromium-driver`
//! (`scripts/chromium.sh install`, which `.ci/run` runs); their paths are
//! `DURABLE_CHROMIUM` and `DURABLE_CHROMEDRIVER` (default `/usr/bin/chromium`,
//! `/usr/bin/chromedriver`). Without them the tests are skipped with the reason printed,
//! unless `DURABLE_REQUIRE_BROWSER` is set (CI), when they fail.
//!
//! Screenshots of the main pages are saved by these tests into
//! `$CARGO_TARGET_TMPDIR/dashboard-screenshots/`, and also into `$DURABLE_SCREENSHOTS`
//! when it is set (relative to the workspace root): the README's images are made with
//! `DURABLE_SCREENSHOTS=docs/screenshots cargo test -p durable-tests --test dashboard_browser`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use durable_runtime::OrchestrationStatus;
use durable_runtime::http::{HttpOptions, HttpServer};
use durable_runtime::prelude::*;
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a test waits for the page (or the store) to show what it expects.
const WAIT: Duration = Duration::from_secs(30);

/// The flags Chromium needs here: headless as root in a container, and no background
/// connections (this machine's network refuses them, and they would only add noise).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
];

/// One browser at a time: each test starts its own, and two cores do not run several well.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ------------------------------------------------------------------ the orchestrations

/// Order ids whose card is declined (every attempt fails).
static DECLINED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Charge attempts per order so far, so the first one can fail and a retry succeed.
static ATTEMPTS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: String,
    items: u32,
    /// Whether the first charge attempt fails (a retry then succeeds).
    flaky: bool,
}

#[activity]
async fn reserve_stock(order: Order) -> Result<u32, ActivityError> {
    tokio::time::sleep(Duration::from_millis(40)).await;
    Ok(order.items)
}

#[activity]
async fn charge_card(order: Order) -> Result<String, ActivityError> {
    tokio::time::sleep(Duration::from_millis(25)).await;
    let attempt = {
        let mut attempts = ATTEMPTS.lock().unwrap();
        if let Some((_, n)) = attempts.iter_mut().find(|(id, _)| *id == order.id) {
            *n += 1;
            *n
        } else {
            attempts.push((order.id.clone(), 1));
            1
        }
    };
    if DECLINED.lock().unwrap().contains(&order.id) {
        return Err(ActivityError::new(format!(
            "card declined for {} (attempt {attempt})",
            order.id
        )));
    }
    if order.flaky && attempt == 1 {
        return Err(ActivityError::new("payment gateway timed out"));
    }
    Ok(format!("receipt-{}", order.id))
}

#[activity]
async fn pack_parcel(order: Order) -> Result<String, ActivityError> {
    tokio::time::sleep(Duration::from_millis(30)).await;
    Ok(format!("parcel-{}", order.id))
}

#[activity]
async fn book_courier(parcel: String) -> Result<String, ActivityError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(format!("{parcel}-tracking"))
}

/// Packs and books a courier: the shipment of an order, as a sub-orchestration.
#[orchestrator]
async fn ship_order(ctx: OrchestrationContext, order: Order) -> Result<String, OrchestrationError> {
    let parcel = ctx.call_activity(PackParcel, order).await?;
    Ok(ctx.call_activity(BookCourier, parcel).await?)
}

/// Reserves stock, charges the card (three attempts), waits for the warehouse, ships
/// through a sub-orchestration and counts the sale on an entity.
#[orchestrator]
async fn process_order(
    ctx: OrchestrationContext,
    order: Order,
) -> Result<Value, OrchestrationError> {
    ctx.set_custom_status(&json!({ "step": "reserving" }))?;
    let items = ctx.call_activity(ReserveStock, order.clone()).await?;
    ctx.set_custom_status(&json!({ "step": "charging" }))?;
    let receipt = ctx
        .call_activity_with_retry(
            ChargeCard,
            order.clone(),
            &RetryPolicy::new(3, Duration::from_millis(60)),
        )
        .await?;
    ctx.create_timer(Duration::from_millis(80)).await;
    let shipment = InstanceId::new(format!("ship-{}", order.id))?;
    let tracking = ctx
        .call_sub_orchestrator_with_id(ShipOrder, shipment, order.clone())
        .await?;
    Sales::signal(&ctx, "today").add(i64::from(items));
    ctx.set_custom_status(&json!({ "step": "shipped" }))?;
    Ok(json!({ "receipt": receipt, "tracking": tracking, "items": items }))
}

/// Waits for an `approval` event and returns its data.
#[orchestrator]
async fn await_approval(ctx: OrchestrationContext) -> Result<Value, OrchestrationError> {
    ctx.set_custom_status(&json!({ "waiting": "approval" }))?;
    Ok(ctx.wait_for_external_event::<Value>("approval").await?)
}

/// Sleeps on a durable timer for an hour: a timer pending in the backlog.
#[orchestrator]
async fn remind_later(ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    ctx.create_timer(Duration::from_secs(3600)).await;
    Ok(())
}

/// Holds the lock on a stock entity until a `counted` event comes (a stock-take).
#[orchestrator]
async fn recount_stock(ctx: OrchestrationContext, sku: String) -> Result<i64, OrchestrationError> {
    let _section = ctx.lock_entities([Stock::entity_id(&sku)]).await;
    Ok(ctx.wait_for_external_event::<i64>("counted").await?)
}

/// Units in stock of one SKU.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stock {
    units: i64,
}

#[entity]
impl Stock {
    fn add(&mut self, units: i64) {
        self.units += units;
    }
}

/// Items sold per day.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Sales {
    items: i64,
    orders: u32,
}

#[entity]
impl Sales {
    fn add(&mut self, items: i64) {
        self.items += items;
        self.orders += 1;
    }
}

// ------------------------------------------------------------------ the server

struct Dashboard {
    runtime: Runtime,
    server: HttpServer,
    /// `http://localhost:PORT/dashboard/`.
    page: String,
}

impl Dashboard {
    async fn start() -> Self {
        let runtime = Runtime::builder()
            .sqlite(durable_tests::temp_dir("dashboard-browser").join("durable.db"))
            .start()
            .await
            .unwrap();
        let options = HttpOptions::default().address("127.0.0.1:0".parse().unwrap());
        let server = runtime.serve_http(options).await.unwrap();
        let page = format!("http://localhost:{}/dashboard/", server.local_addr().port());
        Self {
            runtime,
            server,
            page,
        }
    }

    fn client(&self) -> DurableClient {
        self.runtime.client()
    }

    /// Starts `process_order` for `order` under its id.
    async fn order(&self, id: &str, items: u32, flaky: bool) {
        let order = Order {
            id: id.to_owned(),
            items,
            flaky,
        };
        self.client()
            .start_orchestration(ProcessOrder, order)
            .instance_id(id)
            .await
            .unwrap();
    }

    /// Starts `await_approval` under `id` and waits until it waits.
    async fn approval(&self, id: &str) {
        self.client()
            .start_orchestration(AwaitApproval, ())
            .instance_id(id)
            .await
            .unwrap();
        self.wait_status(id, RuntimeStatus::Running).await;
        let client = self.client();
        let id = InstanceId::new(id).unwrap();
        eventually("the approval to wait", || {
            let client = client.clone();
            let id = id.clone();
            async move {
                let status = client.get_status(&id).await.unwrap()?;
                status.custom_status.is_some().then_some(())
            }
        })
        .await;
    }

    async fn wait_status(&self, id: &str, want: RuntimeStatus) -> OrchestrationStatus {
        let client = self.client();
        let id = InstanceId::new(id).unwrap();
        eventually(&format!("{id} to be {want}"), || {
            let client = client.clone();
            let id = id.clone();
            async move {
                let status = client.get_status(&id).await.unwrap()?;
                (status.runtime_status == want).then_some(status)
            }
        })
        .await
    }

    /// A store of orders: three completed (one after a retry), one declined (Failed), one
    /// waiting for approval, and the entity they count their sales on.
    async fn shop() -> Self {
        let dashboard = Self::start().await;
        // Each test has its own store with the same order ids, one test at a time (the
        // browser's lock is held): the attempts start again.
        ATTEMPTS.lock().unwrap().clear();
        DECLINED.lock().unwrap().push("order-1004".to_owned());
        for (id, items, flaky) in [
            ("order-1001", 2, false),
            ("order-1002", 5, true),
            ("order-1003", 1, false),
            ("order-1004", 3, false),
        ] {
            dashboard.order(id, items, flaky).await;
        }
        for id in ["order-1001", "order-1002", "order-1003"] {
            dashboard.wait_status(id, RuntimeStatus::Completed).await;
        }
        dashboard
            .wait_status("order-1004", RuntimeStatus::Failed)
            .await;
        dashboard.approval("refund-2001").await;
        dashboard
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.runtime.shutdown().await;
    }
}

/// Polls `probe` until it gives a value, for at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------------ the browser

/// ChromeDriver, in a process group of its own with the Chromium it starts, all killed on
/// drop (a failed test leaves nothing running).
struct Driver {
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// ChromeDriver's log endpoint (`goog:loggingPrefs`): the browser's console entries since
/// the last read, `[{level, message, source, timestamp}]`.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// WebDriver's "Get Computed Label": an element's accessible name.
#[derive(Debug)]
struct ComputedLabel(String);

impl WebDriverCompatibleCommand for ComputedLabel {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/element/{}/computedlabel",
            session_id.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::GET, None)
    }
}

struct Browser {
    client: Client,
    _driver: Driver,
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

fn program(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Browser {
    /// A new headless Chromium with an empty profile, 1280 × 900; `None` (with the reason
    /// printed) when Chromium or ChromeDriver is missing and not required.
    async fn start(test: &str) -> Option<Self> {
        let guard = ONE_AT_A_TIME.lock().await;
        let chromium = program("DURABLE_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = program("DURABLE_CHROMEDRIVER", "/usr/bin/chromedriver");
        for path in [&chromium, &chromedriver] {
            if !path.exists() {
                let reason = format!(
                    "{} is missing (run `scripts/chromium.sh install`)",
                    path.display()
                );
                assert!(
                    std::env::var_os("DURABLE_REQUIRE_BROWSER").is_none(),
                    "DURABLE_REQUIRE_BROWSER is set but {reason}"
                );
                eprintln!("SKIPPED {test}: {reason}");
                return None;
            }
        }
        let dir = durable_tests::temp_dir("chromium");
        let port = free_port();
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    dir.join("chromedriver.log").display()
                )),
            0,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", chromedriver.display()));
        let driver = Driver { child };
        let webdriver = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually("ChromeDriver to be ready", || {
            let (http, url) = (http.clone(), format!("{webdriver}/status"));
            async move {
                let status: Value = http.get(url).send().await.ok()?.json().await.ok()?;
                (status["value"]["ready"] == true).then_some(())
            }
        })
        .await;

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", dir.join("profile").display()));
        args.push("--window-size=1280,900".to_owned());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
            // Confirmations are answered by the tests themselves.
            "unhandledPromptBehavior": "ignore",
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
                panic!("no browser session: {e}\n{}", tail(&log, 3000))
            });
        Some(Self {
            client,
            _driver: driver,
            _guard: guard,
        })
    }

    /// Opens `url` and waits for the page's script to draw its first view.
    async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.find("#main > *:not(noscript)").await;
    }

    /// The first element matching `css`, waiting for it to appear.
    async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => panic!(
                "no `{css}` on the page: {error}\n{}",
                self.page_text().await
            ),
        }
    }

    async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap()
    }

    /// The button whose text is `text`, waiting for it.
    async fn button(&self, text: &str) -> Element {
        let xpath = format!("//button[normalize-space(.)='{text}']");
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(&xpath))
            .await
        {
            Ok(element) => element,
            Err(error) => panic!("no button `{text}`: {error}\n{}", self.page_text().await),
        }
    }

    /// The text of `css`'s first match once it contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && text.contains(needle)
            {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` never showed `{needle}`:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The instance ids in the list's table, once it has `count` rows.
    async fn listed(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut ids = Vec::new();
            for cell in self.find_all("table.instances tbody td.id a").await {
                if let Ok(text) = cell.text().await {
                    ids.push(text);
                }
            }
            if ids.len() == count {
                return ids;
            }
            assert!(
                Instant::now() < deadline,
                "the list never had {count} rows (it has {ids:?}):\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the page shows, for a failure's message; also saved as a screenshot
    /// (`failed-N.png` beside the others).
    async fn page_text(&self) -> String {
        static FAILURES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        if let Ok(png) = self.client.screenshot().await {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
            let n = FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("failed-{n}.png")), png);
        }
        match self
            .client
            .execute("return document.body.innerText;", Vec::new())
            .await
        {
            Ok(text) => tail(text.as_str().unwrap_or_default(), 4000),
            Err(error) => format!("(no page: {error})"),
        }
    }

    async fn script(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// The page's location hash.
    async fn hash(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        url.fragment().map(|f| format!("#{f}")).unwrap_or_default()
    }

    /// An element's accessible name, as assistive technology reads it.
    async fn label(&self, element: &Element) -> String {
        let value = self
            .client
            .issue_cmd(ComputedLabel(element.element_id().to_string()))
            .await
            .unwrap();
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The console entries since the last read that are errors, as `source: message`.
    async fn console_errors(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(BrowserLog).await.unwrap();
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| format!("{}: {}", entry["source"], entry["message"]))
            .collect()
    }

    async fn assert_no_console_errors(&self) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "the console has errors: {errors:#?}");
    }

    /// The page's horizontal overflow in CSS pixels (0: none).
    async fn overflow(&self) -> i64 {
        self.script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        )
        .await
        .as_i64()
        .unwrap()
    }

    /// Saves the page from its top as `name.png` (see the module docs for where), the
    /// window made as tall as the page (at most 1,800 px) for the picture.
    async fn screenshot(&self, name: &str) {
        // No caret, no toast and no hover in the pictures.
        self.script(
            "document.activeElement && document.activeElement.blur(); \
             const t = document.getElementById('toast'); if (t) { t.className = ''; }",
        )
        .await;
        let (width, height) = self.client.get_window_size().await.unwrap();
        let chrome = self
            .script("return window.outerHeight - window.innerHeight;")
            .await
            .as_u64()
            .unwrap_or(0);
        let page = self
            .script("window.scrollTo(0, 0); return document.documentElement.scrollHeight;")
            .await
            .as_u64()
            .unwrap_or(height);
        let tall = (page + chrome).clamp(height, 1800);
        self.client
            .set_window_size(u32::try_from(width).unwrap(), u32::try_from(tall).unwrap())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client.screenshot().await.unwrap();
        self.client
            .set_window_size(
                u32::try_from(width).unwrap(),
                u32::try_from(height).unwrap(),
            )
            .await
            .unwrap();
        let mut dirs =
            vec![PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")];
        if let Some(dir) = std::env::var_os("DURABLE_SCREENSHOTS") {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
            dirs.push(root.join(dir));
        }
        for dir in dirs {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        }
    }

    /// Fails on console errors left, then ends the session (and Chromium).
    async fn finish(self) {
        self.assert_no_console_errors().await;
        self.client.close().await.unwrap();
    }
}

fn tail(text: &str, max: usize) -> String {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    text[start..].to_owned()
}

// ------------------------------------------------------------------ the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_check_sees_errors_and_uncaught_exceptions() {
    let Some(browser) = Browser::start("the_console_check_sees_errors").await else {
        return;
    };
    let dashboard = Dashboard::start().await;
    browser.open(&dashboard.page).await;
    browser.assert_no_console_errors().await;
    browser
        .script(
            "console.error('planted error'); \
             setTimeout(() => { throw new Error('planted exception'); }, 0); return null;",
        )
        .await;
    let errors = eventually("both planted errors in the log", || async {
        let errors = browser.console_errors().await;
        (errors.len() >= 2).then_some(errors)
    })
    .await;
    assert!(
        errors.iter().any(|e| e.contains("planted error"))
            && errors.iter().any(|e| e.contains("planted exception")),
        "{errors:#?}"
    );
    browser.finish().await;
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_counts_and_filters_by_status_name_and_id_prefix() {
    let Some(browser) = Browser::start("the_list_counts_and_filters").await else {
        return;
    };
    let dashboard = Dashboard::shop().await;
    browser.open(&dashboard.page).await;
    // Four orders, the shipments of three and the approval; oldest first.
    let all = browser.listed(8).await;
    assert_eq!(all.first().map(String::as_str), Some("order-1001"));
    assert!(all.contains(&"refund-2001".to_owned()), "{all:?}");
    assert_eq!(
        all.iter().filter(|id| id.starts_with("order-")).count(),
        4,
        "{all:?}"
    );

    // Counts by status, from the task hub's stats.
    let counts = browser.wait_text("nav.counts", "Failed").await;
    for (status, count) in [("Completed", 6), ("Failed", 1), ("Running", 1)] {
        let link = browser
            .find(&format!("nav.counts a[data-status='{status}']"))
            .await;
        assert_eq!(
            link.text().await.unwrap().replace('\n', " "),
            format!("{status} {count}"),
            "{counts}"
        );
    }
    browser.screenshot("instances").await;

    // A count filters the list.
    browser
        .find("nav.counts a[data-status='Failed']")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(browser.listed(1).await, ["order-1004"]);
    assert_eq!(browser.hash().await, "#/instances?status=Failed");
    let failure = browser.wait_text("table.instances tbody", "declined").await;
    assert!(
        failure.contains("card declined for order-1004"),
        "{failure}"
    );
    assert!(
        browser
            .find("input[name=status][value=Failed]")
            .await
            .is_selected()
            .await
            .unwrap(),
        "the filter shows the status it applies"
    );

    // The form: status boxes, then the name, then an id prefix.
    browser
        .find("a.button[href='#/instances']")
        .await
        .click()
        .await
        .unwrap();
    browser.listed(8).await;
    browser
        .find("input[name=status][value=Running]")
        .await
        .click()
        .await
        .unwrap();
    browser.button("Apply").await.click().await.unwrap();
    assert_eq!(browser.listed(1).await, ["refund-2001"]);

    browser
        .find("input[name=status][value=Running]")
        .await
        .click()
        .await
        .unwrap();
    let name = browser.find("input[name=name]").await;
    name.send_keys("ship_order").await.unwrap();
    browser.button("Apply").await.click().await.unwrap();
    let mut shipments = browser.listed(3).await;
    // In creation order: order-1002's shipment came after its retry.
    shipments.sort();
    assert_eq!(
        shipments,
        ["ship-order-1001", "ship-order-1002", "ship-order-1003"]
    );
    let names = browser
        .wait_text("table.instances tbody", "ship_order")
        .await;
    assert!(!names.contains("process_order"), "{names}");

    browser
        .find("input[name=name]")
        .await
        .clear()
        .await
        .unwrap();
    browser
        .find("input[name=prefix]")
        .await
        .send_keys("order-100")
        .await
        .unwrap();
    browser.button("Apply").await.click().await.unwrap();
    assert_eq!(
        browser.listed(4).await,
        ["order-1001", "order-1002", "order-1003", "order-1004"]
    );
    assert!(browser.hash().await.contains("prefix=order-100"));

    // An unknown name lists nothing, and says so.
    browser
        .client
        .goto(&format!("{}#/instances?name=nothing_here", dashboard.page))
        .await
        .unwrap();
    browser
        .wait_text("#main .results", "No instances match")
        .await;
    browser.finish().await;
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_instance_shows_its_failure_and_its_timeline() {
    let Some(browser) = Browser::start("a_failed_instance_shows_its_failure").await else {
        return;
    };
    let dashboard = Dashboard::shop().await;
    browser
        .open(&format!("{}#/instances", dashboard.page))
        .await;
    browser.listed(8).await;
    browser
        .find("table.instances a[href='#/instances/order-1004']")
        .await
        .click()
        .await
        .unwrap();

    let status = browser.wait_text("dl.facts", "Failed").await;
    assert!(status.contains("process_order"), "{status}");
    let failure = browser.wait_text(".panel.failure", "declined").await;
    assert!(
        failure.contains("card declined for order-1004 (attempt 3)"),
        "the last attempt's failure: {failure}"
    );

    // The timeline: the reservation, three failed charges with the retry waits between.
    let timeline = browser.find(".timeline").await;
    let lanes = timeline
        .find_all(Locator::Css(".lane:not(.markers)"))
        .await
        .unwrap();
    let mut rows = Vec::new();
    for lane in &lanes {
        let label = lane
            .find(Locator::Css(".label"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let bar = lane.find(Locator::Css(".bar")).await.unwrap();
        let class = bar.attr("class").await.unwrap().unwrap_or_default();
        let outcome = ["completed", "failed", "pending"]
            .into_iter()
            .find(|o| class.split(' ').any(|c| c == *o))
            .unwrap_or("?");
        rows.push((label, outcome));
    }
    let rows: Vec<(&str, &str)> = rows.iter().map(|(l, o)| (l.as_str(), *o)).collect();
    assert_eq!(
        rows,
        [
            ("activity reserve_stock #0", "completed"),
            ("activity charge_card #1", "failed"),
            ("timer #2", "completed"),
            ("activity charge_card #3", "failed"),
            ("timer #4", "completed"),
            ("activity charge_card #5", "failed"),
        ],
        "retries are visible, failures marked"
    );
    let failed_bar = browser.find(".timeline .bar.failed").await;
    let tip = failed_bar.attr("title").await.unwrap().unwrap_or_default();
    assert!(tip.contains("card declined"), "{tip}");
    // Bars have widths on the axis, not zero.
    let width = browser
        .script(
            "return document.querySelector('.timeline .bar.failed').getBoundingClientRect().width;",
        )
        .await;
    assert!(width.as_f64().unwrap() >= 1.0, "{width}");

    // The history table, with the failures marked.
    let history = browser
        .wait_text("table.history", "ExecutionCompleted")
        .await;
    assert!(history.contains("ExecutionStarted"), "{history}");
    let end = browser
        .wait_text("table.history tr.event-ExecutionCompleted.failed", "Failed")
        .await;
    assert!(end.contains("ActivityFailed"), "{end}");
    assert_eq!(
        browser
            .find_all("table.history tr.event-ActivityFailed")
            .await
            .len(),
        3
    );
    // One failed event's details open as pretty-printed JSON.
    browser
        .find("table.history tr.event-ActivityFailed td.details button")
        .await
        .click()
        .await
        .unwrap();
    let details = browser
        .wait_text(
            "table.history tr.event-ActivityFailed td.details pre",
            "declined",
        )
        .await;
    assert!(details.contains("\n  "), "pretty-printed: {details}");
    browser.screenshot("failed-instance").await;

    // A completed order links to its shipment, and the shipment back to it.
    browser
        .client
        .goto(&format!("{}#/instances/order-1002", dashboard.page))
        .await
        .unwrap();
    browser.wait_text("dl.facts", "Completed").await;
    let retried = browser.find_all(".timeline .bar.failed").await.len();
    assert_eq!(
        retried, 1,
        "order-1002's first charge failed, its retry did not"
    );
    browser.screenshot("completed-instance").await;
    let child = browser
        .find(".timeline .lane a[href^='#/instances/']")
        .await;
    let child_id = child.text().await.unwrap();
    child.click().await.unwrap();
    browser.wait_text("h1", &child_id).await;
    let parent = browser.wait_text("dl.facts", "Parent").await;
    assert!(parent.contains("order-1002"), "{parent}");

    // A missing instance is a message, not a blank page.
    browser
        .client
        .goto(&format!("{}#/instances/no-such-order", dashboard.page))
        .await
        .unwrap();
    browser
        .wait_text(".error", "no instance with id no-such-order")
        .await;
    let errors = browser.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("404")) && errors.len() <= 1,
        "only the 404 of the missing instance: {errors:#?}"
    );
    browser.finish().await;
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_an_event_validates_its_json_and_completes_the_waiting_instance() {
    let Some(browser) = Browser::start("raising_an_event").await else {
        return;
    };
    let dashboard = Dashboard::start().await;
    dashboard.approval("refund-3001").await;
    browser
        .open(&format!("{}#/instances/refund-3001", dashboard.page))
        .await;
    browser.wait_text("dl.facts", "Running").await;

    let name = browser.find("input[name=eventName]").await;
    name.send_keys("approval").await.unwrap();
    let data = browser.find("textarea[name=eventData]").await;
    data.send_keys(r#"{"by": "ana", "amount": 12.5"#)
        .await
        .unwrap();
    // Told while typing, and again on Raise, which sends nothing.
    let invalid = browser
        .wait_text("#eventData-error", "not valid JSON")
        .await;
    assert_eq!(
        data.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true"),
        "{invalid}"
    );
    browser.button("Raise event").await.click().await.unwrap();
    browser
        .wait_text("#eventData-error", "not valid JSON")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = InstanceId::new("refund-3001").unwrap();
    let history = dashboard.client().read_history(&id).await.unwrap();
    assert!(
        !history.iter().any(|e| e.kind.type_name() == "EventRaised"),
        "an invalid JSON sends nothing"
    );
    assert_eq!(
        dashboard
            .client()
            .get_status(&id)
            .await
            .unwrap()
            .unwrap()
            .runtime_status,
        RuntimeStatus::Running
    );

    data.send_keys("}").await.unwrap();
    eventually("the message to go", || async {
        let shown = browser
            .find("#eventData-error")
            .await
            .text()
            .await
            .unwrap_or_default();
        shown.is_empty().then_some(())
    })
    .await;
    assert_eq!(data.attr("aria-invalid").await.unwrap(), None);
    browser.button("Raise event").await.click().await.unwrap();
    browser
        .wait_text("#toast", "raised `approval` on refund-3001")
        .await;
    // The page refreshes while the instance runs: it shows the end by itself.
    browser.wait_text("dl.facts", "Completed").await;
    let output = browser.wait_text("details.output pre", "ana").await;
    assert_eq!(
        serde_json::from_str::<Value>(&output).unwrap(),
        json!({ "by": "ana", "amount": 12.5 })
    );
    let done = dashboard
        .wait_status("refund-3001", RuntimeStatus::Completed)
        .await;
    assert_eq!(
        done.output.unwrap().decode::<Value>().unwrap(),
        json!({ "by": "ana", "amount": 12.5 })
    );
    browser.finish().await;
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_and_purge_ask_first_and_act() {
    let Some(browser) = Browser::start("terminate_and_purge").await else {
        return;
    };
    let dashboard = Dashboard::start().await;
    dashboard.approval("refund-4001").await;
    browser
        .open(&format!("{}#/instances/refund-4001", dashboard.page))
        .await;
    browser.wait_text("dl.facts", "Running").await;

    browser
        .find("input[name=reason]")
        .await
        .send_keys("duplicate request")
        .await
        .unwrap();
    // Dismissed: nothing happens.
    browser.button("Terminate").await.click().await.unwrap();
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("Terminate refund-4001"), "{question}");
    browser.client.dismiss_alert().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = InstanceId::new("refund-4001").unwrap();
    assert_eq!(
        dashboard
            .client()
            .get_status(&id)
            .await
            .unwrap()
            .unwrap()
            .runtime_status,
        RuntimeStatus::Running
    );
    // Accepted: terminated, with the reason as its output.
    browser.button("Terminate").await.click().await.unwrap();
    browser.client.accept_alert().await.unwrap();
    browser.wait_text("#toast", "terminating refund-4001").await;
    browser.wait_text("dl.facts", "Terminated").await;
    let output = browser.wait_text("details.output pre", "duplicate").await;
    assert_eq!(output, "\"duplicate request\"");
    let terminated = dashboard
        .wait_status("refund-4001", RuntimeStatus::Terminated)
        .await;
    assert_eq!(
        terminated.output.unwrap().decode::<String>().unwrap(),
        "duplicate request"
    );

    // Purge, confirmed: back to the list, without it.
    browser.button("Purge").await.click().await.unwrap();
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("cannot be undone"), "{question}");
    browser.client.accept_alert().await.unwrap();
    browser.wait_text("#toast", "purged refund-4001").await;
    eventually("the list", || async {
        (browser.hash().await == "#/instances").then_some(())
    })
    .await;
    browser
        .wait_text("#main .results", "No instances match")
        .await;
    assert!(dashboard.client().get_status(&id).await.unwrap().is_none());
    browser.finish().await;
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_reaches_the_actions_and_every_control_has_a_name() {
    let Some(browser) = Browser::start("the_keyboard_reaches_the_actions").await else {
        return;
    };
    let dashboard = Dashboard::start().await;
    dashboard.approval("refund-5001").await;
    browser
        .open(&format!("{}#/instances/refund-5001", dashboard.page))
        .await;
    browser.wait_text("dl.facts", "Running").await;

    // From the top of the page, Tab goes through the header to the actions.
    browser
        .script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); return null;")
        .await;
    let body = browser.find("body").await;
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    let mut visited = Vec::new();
    let mut reached = None;
    for _ in 0..40 {
        let focused = browser.client.active_element().await.unwrap();
        let label = browser.label(&focused).await;
        let tag = focused.tag_name().await.unwrap();
        assert!(
            !label.trim().is_empty(),
            "a focusable {tag} without an accessible name, after {visited:?}"
        );
        // Focus is visible.
        let outline = focused.css_value("outline-style").await.unwrap();
        assert_ne!(outline, "none", "{tag} `{label}` shows no focus");
        visited.push(label.clone());
        if label == "Terminate" {
            reached = Some(focused);
            break;
        }
        focused.send_keys(&Key::Tab.to_string()).await.unwrap();
    }
    let terminate = reached.unwrap_or_else(|| panic!("Tab never reached Terminate: {visited:?}"));
    for expected in ["Instance id", "Reason", "Suspend"] {
        assert!(
            visited.iter().any(|v| v == expected),
            "{expected} in {visited:?}"
        );
    }
    // Enter on the focused button asks, as a click does.
    terminate.send_keys(&Key::Enter.to_string()).await.unwrap();
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(question.contains("Terminate refund-5001"), "{question}");
    browser.client.dismiss_alert().await.unwrap();

    // Every control on the page, focusable or not, has a name.
    for selector in ["button", "input", "textarea", "select", "a[href]"] {
        for element in browser
            .find_all(&format!("#main {selector}, header {selector}"))
            .await
        {
            let label = browser.label(&element).await;
            let html = element.html(false).await.unwrap();
            assert!(
                !label.trim().is_empty(),
                "no accessible name: {}",
                tail(&html, 200)
            );
        }
    }
    let data = browser.find("textarea[name=eventData]").await;
    assert_eq!(browser.label(&data).await, "Data");
    let recursive = browser.find("input[name=recursive]").await;
    assert_eq!(browser.label(&recursive).await, "with sub-orchestrations");
    browser.finish().await;
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrow_window_has_no_horizontal_overflow() {
    let Some(browser) = Browser::start("a_narrow_window").await else {
        return;
    };
    let dashboard = Dashboard::shop().await;
    browser.client.set_window_size(400, 900).await.unwrap();
    let width = browser.script("return window.innerWidth;").await;
    assert!(width.as_i64().unwrap() <= 400, "{width}");
    for (hash, ready) in [
        ("#/instances", "table.instances tbody tr"),
        ("#/instances/order-1004", ".timeline .lane"),
        ("#/instances/order-1002", "table.history tbody tr"),
        ("#/entities", "table.list tbody tr"),
        ("#/overview", "section.backlog"),
    ] {
        browser
            .client
            .goto(&format!("{}{hash}", dashboard.page))
            .await
            .unwrap();
        browser.find(ready).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let overflow = browser.overflow().await;
        assert!(
            overflow <= 0,
            "{hash} is {overflow} px wider than the 400 px window"
        );
        if hash == "#/instances/order-1004" {
            browser.screenshot("narrow-instance").await;
        }
    }
    browser.finish().await;
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_and_the_task_hub_overview() {
    let Some(browser) = Browser::start("entities_and_the_task_hub_overview").await else {
        return;
    };
    let dashboard = Dashboard::shop().await;
    let sales = EntityId::new("sales", "today").unwrap();
    let client = dashboard.client();
    eventually("the sales of three orders", || {
        let (client, sales) = (client.clone(), sales.clone());
        async move {
            let entity = client.get_entity(&sales, true).await.unwrap()?;
            let state: Value = entity.state?.decode().ok()?;
            (state["orders"] == 3).then_some(())
        }
    })
    .await;

    // A stock-take holds the lock on one SKU; a signal to it waits.
    for (sku, units) in [("sku-17", 40), ("sku-42", 12), ("sku-99", 3)] {
        Stock::signal(&client, sku).add(units).await.unwrap();
    }
    let recount = client
        .start_orchestration(RecountStock, "sku-42".to_owned())
        .instance_id("recount-7001")
        .await
        .unwrap();
    let locked = Stock::entity_id("sku-42");
    eventually("the lock on sku-42", || {
        let (client, locked) = (client.clone(), locked.clone());
        async move {
            let entity = client.get_entity(&locked, false).await.unwrap()?;
            entity.locked_by.is_some().then_some(())
        }
    })
    .await;
    Stock::signal(&client, "sku-42").add(-2).await.unwrap();

    browser.open(&format!("{}#/entities", dashboard.page)).await;
    let list = browser.wait_text("table.list tbody", "sales").await;
    assert!(list.contains("today") && list.contains("sku-17"), "{list}");
    let row = "//table[contains(@class, 'entities')]//tr[.//a[@href='#/entities/stock/sku-42']]";
    let cells = eventually("sku-42 locked, with the signal waiting", || async {
        browser.client.refresh().await.ok()?;
        browser.find("table.entities tbody tr").await;
        let row = browser.client.find(Locator::XPath(row)).await.ok()?;
        let mut cells = Vec::new();
        for cell in row.find_all(Locator::Css("td")).await.ok()? {
            cells.push(cell.text().await.ok()?);
        }
        (cells.len() == 5 && cells[4] == "1").then_some(cells)
    })
    .await;
    assert_eq!(cells[0], "stock");
    assert_eq!(cells[3], "recount-7001", "the lock holder: {cells:?}");
    browser.screenshot("entities").await;
    client
        .raise_event(recount.instance_id(), "counted", &10)
        .await
        .unwrap();
    browser
        .find("table.list a[href='#/entities/sales/today']")
        .await
        .click()
        .await
        .unwrap();
    let state = browser.wait_text("details.state pre", "items").await;
    assert_eq!(
        serde_json::from_str::<Value>(&state).unwrap(),
        json!({ "items": 8, "orders": 3 })
    );
    // Signal an operation with a JSON input; Refresh shows its effect.
    browser
        .find("input[name=operation]")
        .await
        .send_keys("add")
        .await
        .unwrap();
    browser
        .find("textarea[name=input]")
        .await
        .send_keys("4")
        .await
        .unwrap();
    browser.button("Signal").await.click().await.unwrap();
    browser
        .wait_text("#toast", "signalled `add` to @sales@today")
        .await;
    eventually("the new state", || async {
        browser.button("Refresh").await.click().await.ok()?;
        let state = browser.find("details.state pre").await.text().await.ok()?;
        state.contains("12").then_some(())
    })
    .await;

    // The overview: counts, backlog and the charts of the last minutes. Sampling began
    // with the first page; orders finishing now (one declined) make the charts' bars.
    dashboard.approval("refund-6001").await;
    client
        .start_orchestration(RemindLater, ())
        .instance_id("reminder-8001")
        .await
        .unwrap();
    DECLINED.lock().unwrap().push("order-1007".to_owned());
    for (id, items) in [("order-1005", 1), ("order-1006", 4), ("order-1007", 2)] {
        dashboard.order(id, items, false).await;
    }
    browser
        .find("header a[href='#/overview']")
        .await
        .click()
        .await
        .unwrap();
    let counts = browser.wait_text("section.counts", "Completed").await;
    assert!(counts.contains("Failed"), "{counts}");
    let backlog = browser.wait_text("section.backlog", "Durable timers").await;
    for label in ["Due messages", "Queued activities", "Running activities"] {
        assert!(backlog.contains(label), "{backlog}");
    }
    // The reminder's timer, once its first turn ran, until the page shows it.
    let timers =
        "//section[contains(@class, 'backlog')]//dt[.='Durable timers']/following-sibling::dd[1]";
    let pending = eventually("the reminder's timer in the backlog", || async {
        let text = browser
            .client
            .find(Locator::XPath(timers))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.starts_with("1 ").then_some(text)
    })
    .await;
    assert!(pending.contains("timers"), "{pending}");
    let wake = browser.wait_text("section.backlog", "Next wake-up").await;
    assert!(!wake.contains("nothing scheduled"), "{wake}");
    // Two samples make the first point of each chart (one every 5 s).
    for chart in ["throughput", "failures"] {
        browser.find(&format!("figure.chart.{chart} svg")).await;
    }
    let caption = browser
        .wait_text("figure.chart.throughput figcaption", "per minute")
        .await;
    assert!(!caption.is_empty());
    dashboard
        .wait_status("order-1007", RuntimeStatus::Failed)
        .await;
    for chart in ["throughput", "failures"] {
        eventually(&format!("a bar on the {chart} chart"), || async {
            let tallest = browser
                .script(&format!(
                    "return Math.max(0, ...Array.from(document.querySelectorAll( \
                     'figure.chart.{chart} rect.bar'), (bar) => bar.getBBox().height));"
                ))
                .await;
            (tallest.as_f64().unwrap_or(0.0) > 0.0).then_some(())
        })
        .await;
    }
    let caption = browser
        .find("figure.chart.failures figcaption")
        .await
        .text()
        .await
        .unwrap();
    assert!(caption.contains("Failed per minute"), "{caption}");
    browser.screenshot("overview").await;
    browser.finish().await;
    dashboard.stop().await;
}
