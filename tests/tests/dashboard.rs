//! The web dashboard (feature `dashboard`) over real HTTP on an ephemeral loopback port:
//! its page and assets, its JSON API (listing, paging, filters, counts and the overview,
//! one instance with history and timeline, every action, entities), the key, the
//! loopback-host and action-header guards, and its script's pure helpers under node. The
//! page itself, in Chromium, is tested in `dashboard_browser.rs`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use durable_runtime::http::{HttpOptions, HttpServer};
use durable_runtime::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HOST, LOCATION};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

#[activity]
async fn greet(city: String) -> Result<String, ActivityError> {
    Ok(format!("Hello {city}!"))
}

#[orchestrator]
async fn greet_all(
    ctx: OrchestrationContext,
    cities: Vec<String>,
) -> Result<Vec<String>, OrchestrationError> {
    let mut greetings = Vec::new();
    for city in cities {
        greetings.push(ctx.call_activity(Greet, city).await?);
    }
    Ok(greetings)
}

#[orchestrator]
async fn gate(ctx: OrchestrationContext) -> Result<Value, OrchestrationError> {
    ctx.set_custom_status(&json!({ "waiting": "go" }))?;
    Ok(ctx.wait_for_external_event::<Value>("go").await?)
}

/// Keys whose `fragile` activity fails.
static BROKEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn set_broken(key: &str, broken: bool) {
    let mut set = BROKEN.lock().unwrap();
    let set = set.get_or_insert_with(HashSet::new);
    if broken {
        set.insert(key.to_owned());
    } else {
        set.remove(key);
    }
}

#[activity]
async fn fragile(key: String) -> Result<String, ActivityError> {
    let broken = BROKEN
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|b| b.contains(&key));
    if broken {
        return Err(ActivityError::new(format!("{key} is broken")));
    }
    Ok(format!("{key} works"))
}

#[orchestrator]
async fn repairable(ctx: OrchestrationContext, key: String) -> Result<String, OrchestrationError> {
    let first = ctx.call_activity(Greet, key.clone()).await?;
    let second = ctx.call_activity(Fragile, key).await?;
    Ok(format!("{first} {second}"))
}

/// A scoreboard entity.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Scoreboard {
    count: i64,
}

#[entity]
impl Scoreboard {
    fn add(&mut self, amount: i64) {
        self.count += amount;
    }
}

struct Dashboard {
    runtime: Runtime,
    server: HttpServer,
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/dashboard`.
    base: String,
}

impl Dashboard {
    async fn start(key: Option<&str>) -> Self {
        let runtime = Runtime::builder()
            .sqlite(durable_tests::temp_dir("dashboard").join("durable.db"))
            .start()
            .await
            .unwrap();
        let mut options = HttpOptions::default().address("127.0.0.1:0".parse().unwrap());
        options.key = key.map(str::to_owned);
        let server = runtime.serve_http(options).await.unwrap();
        let base = format!("http://{}/dashboard", server.local_addr());
        Self {
            runtime,
            server,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// An action as the page sends it: with the action header and a JSON body.
    async fn act(&self, method: reqwest::Method, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .header("x-durable-dashboard", "1")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.act(reqwest::Method::POST, path, body).await
    }

    /// Reads the instance until its status is `status`.
    async fn wait_for(&self, id: &str, status: &str) -> Value {
        for _ in 0..3000 {
            let body = self.get_json(&format!("/api/instances/{id}")).await;
            if body["runtimeStatus"] == status {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{id} never became {status}");
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.runtime.shutdown().await;
    }
}

async fn message(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_with_safe_headers() {
    let dashboard = Dashboard::start(None).await;
    let redirect = dashboard.get("").await;
    assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
    assert_eq!(redirect.headers()[LOCATION], "/dashboard/");

    let page = dashboard.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="app.js" defer>"#), "{html}");
    assert!(html.contains(r#"href="app.css""#));
    assert!(!html.contains("{{"), "every placeholder is filled: {html}");

    for (path, content_type, needle) in [
        (
            "/app.js",
            "text/javascript; charset=utf-8",
            "function parseRoute",
        ),
        ("/app.css", "text/css; charset=utf-8", ".timeline"),
    ] {
        let asset = dashboard.get(path).await;
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        assert_eq!(asset.headers()[CONTENT_TYPE], content_type);
        assert_eq!(asset.headers()["cache-control"], "no-cache");
        assert!(asset.text().await.unwrap().contains(needle));
    }
    let api = dashboard.get("/api/instances").await;
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert_eq!(
        dashboard.get("/nothing-here").await.status(),
        StatusCode::NOT_FOUND
    );
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_listed_paged_and_shown_with_history_and_timeline() {
    let dashboard = Dashboard::start(None).await;
    let client = dashboard.runtime.client();
    for i in 0..5 {
        client
            .start_orchestration(GreetAll, vec!["Tokyo".into(), "Lima".into()])
            .instance_id(format!("page-{i}"))
            .await
            .unwrap()
            .wait_for_completion(WAIT)
            .await
            .unwrap();
    }
    let waiting = client
        .start_orchestration(Gate, ())
        .instance_id("gate-1")
        .await
        .unwrap();
    dashboard.wait_for("gate-1", "Running").await;

    // Paging by prefix, in creation order, two at a time.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let continuation = token
            .as_deref()
            .map(|t| {
                format!(
                    "&continuation={}",
                    form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default();
        let page = dashboard
            .get_json(&format!(
                "/api/instances?prefix=page-&pageSize=2{continuation}"
            ))
            .await;
        let instances = page["instances"].as_array().unwrap();
        assert!(instances.len() <= 2);
        seen.extend(
            instances
                .iter()
                .map(|i| i["instanceId"].as_str().unwrap().to_owned()),
        );
        match page["continuationToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["page-0", "page-1", "page-2", "page-3", "page-4"]);

    // Status filters; empty form fields count as absent.
    let running = dashboard
        .get_json("/api/instances?status=Running,Pending&prefix=&createdFrom=&createdTo=")
        .await;
    let ids: Vec<&str> = running["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instanceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gate-1"]);
    let summary = &running["instances"][0];
    assert_eq!(summary["name"], "gate");
    assert_eq!(summary["runtimeStatus"], "Running");
    assert!(
        summary.get("input").is_none(),
        "summaries carry no payloads"
    );
    // By orchestration name, exactly, alone or with a prefix.
    let ids = |page: &Value| -> Vec<String> {
        page["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["instanceId"].as_str().unwrap().to_owned())
            .collect()
    };
    let named = dashboard.get_json("/api/instances?name=gate").await;
    assert_eq!(ids(&named), ["gate-1"]);
    let named = dashboard
        .get_json("/api/instances?name=%20greet_all%20&prefix=page-3")
        .await;
    assert_eq!(ids(&named), ["page-3"]);
    let named = dashboard.get_json("/api/instances?name=Gate").await;
    assert!(ids(&named).is_empty(), "names match exactly");
    let created = dashboard
        .get_json("/api/instances?createdFrom=2000-01-01T00:00:00Z&createdTo=2000-01-02T00:00:00Z")
        .await;
    assert_eq!(created["instances"], json!([]));

    for (query, needle) in [
        ("status=Sleeping", "unknown runtime status"),
        ("createdFrom=yesterday", "createdfrom"),
        ("prefix=@scoreboard", "entities"),
        ("continuation=not-a-token", "continuation"),
    ] {
        let response = dashboard.get(&format!("/api/instances?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let text = message(response).await;
        assert!(text.to_lowercase().contains(needle), "{query}: {text}");
    }

    // One instance in full.
    let detail = dashboard.get_json("/api/instances/page-0").await;
    assert_eq!(detail["runtimeStatus"], "Completed");
    assert_eq!(detail["input"], json!(["Tokyo", "Lima"]));
    assert_eq!(detail["output"], json!(["Hello Tokyo!", "Hello Lima!"]));
    assert_eq!(detail["actions"], json!(["restart", "purge"]));
    assert!(detail["executionId"].as_str().unwrap().len() >= 32);
    let gate = dashboard.get_json("/api/instances/gate-1").await;
    assert_eq!(gate["customStatus"], json!({ "waiting": "go" }));
    assert_eq!(
        gate["actions"],
        json!(["raise", "terminate", "suspend", "restart"])
    );
    let missing = dashboard.get("/api/instances/nobody").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(message(missing).await.contains("nobody"));

    // History, paged, with the timeline on the first page.
    let history = dashboard
        .get_json("/api/instances/page-0/history?limit=3")
        .await;
    let total = history["total"].as_u64().unwrap();
    assert!(total >= 8, "{history}");
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["index"], 0);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"ExecutionStarted"), "{types:?}");
    let started = events
        .iter()
        .find(|e| e["type"] == "ExecutionStarted")
        .unwrap();
    assert_eq!(started["details"]["name"], "greet_all");
    assert_eq!(started["details"]["input"], json!(["Tokyo", "Lima"]));
    let timeline = &history["timeline"];
    let spans = timeline["spans"].as_array().unwrap();
    let spans: Vec<(&str, &str, u64, &str)> = spans
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap(),
                s["name"].as_str().unwrap(),
                s["seq"].as_u64().unwrap(),
                s["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("activity", "greet", 0, "completed"),
            ("activity", "greet", 1, "completed"),
        ]
    );
    assert!(timeline["end"].as_f64().unwrap() >= timeline["start"].as_f64().unwrap());
    assert_eq!(timeline["truncated"], false);
    let rest = dashboard
        .get_json(&format!(
            "/api/instances/page-0/history?offset=3&limit={total}"
        ))
        .await;
    assert_eq!(rest["offset"], 3);
    assert_eq!(rest["events"].as_array().unwrap().len() as u64, total - 3);
    assert!(
        rest.get("timeline").is_none(),
        "only the first page carries it"
    );
    let last = &rest["events"][(total - 4) as usize];
    assert_eq!(last["type"], "ExecutionCompleted");
    assert_eq!(
        last["details"]["result"],
        json!(["Hello Tokyo!", "Hello Lima!"])
    );

    client
        .raise_event(waiting.instance_id(), "go", &1)
        .await
        .unwrap();
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_and_samples_the_task_hub() {
    let dashboard = Dashboard::start(None).await;
    // The first request starts the sampling; its first sample comes at once.
    let first = dashboard.get_json("/api/overview").await;
    assert_eq!(first["series"]["intervalSeconds"], 5);
    assert_eq!(first["instances"]["total"], 0);
    assert_eq!(first["backlog"]["dueMessages"], 0);
    for _ in 0..3000 {
        if dashboard.get_json("/api/overview").await["series"]["since"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let client = dashboard.runtime.client();
    for i in 0..3 {
        client
            .start_orchestration(GreetAll, vec!["Oslo".into()])
            .instance_id(format!("ov-{i}"))
            .await
            .unwrap()
            .wait_for_completion(WAIT)
            .await
            .unwrap();
    }
    set_broken("ov-broken", true);
    let broken = client
        .start_orchestration(Repairable, "ov-broken".into())
        .instance_id("ov-broken")
        .await
        .unwrap();
    assert!(broken.wait_for_completion(WAIT).await.is_err());
    client
        .start_orchestration(Gate, ())
        .instance_id("ov-gate")
        .await
        .unwrap();
    dashboard.wait_for("ov-gate", "Running").await;
    client
        .signal_entity_raw(
            &EntityId::new("scoreboard", "ov").unwrap(),
            "add",
            durable_runtime::Payload::encode(&1).unwrap(),
            None,
        )
        .await
        .unwrap();

    let stats = dashboard.get_json("/api/stats").await;
    let by_status = &stats["instances"]["byStatus"];
    assert_eq!(by_status["Completed"], 3, "{stats}");
    assert_eq!(by_status["Failed"], 1, "{stats}");
    assert_eq!(by_status["Running"], 1, "{stats}");
    assert_eq!(by_status["Terminated"], 0, "{stats}");
    assert_eq!(
        stats["instances"]["total"], 5,
        "entities are not instances: {stats}"
    );
    assert!(stats["entities"]["total"].as_u64().unwrap() <= 1, "{stats}");
    for field in [
        "dueMessages",
        "futureMessages",
        "queuedActivities",
        "runningActivities",
    ] {
        assert!(stats["backlog"][field].is_u64(), "{field}: {stats}");
    }
    assert!(
        stats.get("series").is_none(),
        "only the overview carries the series"
    );

    // Within two samples, what finished shows in the series.
    let mut finished = (0, 0);
    for _ in 0..300 {
        let overview = dashboard.get_json("/api/overview").await;
        let points = overview["series"]["points"].as_array().unwrap().clone();
        let sum = |key: &str| -> u64 { points.iter().map(|p| p[key].as_u64().unwrap()).sum() };
        finished = (sum("completed"), sum("failed"));
        if finished == (3, 1) {
            let last = points.last().unwrap();
            let seconds = last["seconds"].as_f64().unwrap();
            assert!((4.0..30.0).contains(&seconds), "{last}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        finished,
        (3, 1),
        "3 completed and 1 failed since sampling began"
    );
    client
        .terminate(&"ov-gate".parse().unwrap(), None, TerminateScope::Instance)
        .await
        .unwrap();
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_works_from_the_dashboard_api() {
    let dashboard = Dashboard::start(None).await;
    let client = dashboard.runtime.client();
    client
        .start_orchestration(Gate, ())
        .instance_id("act-gate")
        .await
        .unwrap();
    dashboard.wait_for("act-gate", "Running").await;

    // Without the action header, nothing happens.
    let unmarked = dashboard
        .http
        .post(dashboard.url("/api/instances/act-gate/suspend"))
        .send()
        .await
        .unwrap();
    assert_eq!(unmarked.status(), StatusCode::FORBIDDEN);
    assert!(message(unmarked).await.contains("x-durable-dashboard"));

    let suspended = dashboard
        .post(
            "/api/instances/act-gate/suspend",
            &json!({ "reason": "lunch" }),
        )
        .await;
    assert_eq!(suspended.status(), StatusCode::ACCEPTED);
    assert_eq!(message(suspended).await, "suspending act-gate");
    let body = dashboard.wait_for("act-gate", "Suspended").await;
    assert_eq!(
        body["actions"],
        json!(["raise", "terminate", "resume", "restart"])
    );
    let resumed = dashboard
        .post("/api/instances/act-gate/resume", &json!({}))
        .await;
    assert_eq!(resumed.status(), StatusCode::ACCEPTED);
    dashboard.wait_for("act-gate", "Running").await;

    for (body, needle) in [
        (json!({}), "name the event"),
        (json!({ "name": "  " }), "name the event"),
        (json!({ "name": 5 }), "not valid"),
    ] {
        let refused = dashboard.post("/api/instances/act-gate/raise", &body).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(message(refused).await.contains(needle), "{body}");
    }
    let raised = dashboard
        .post(
            "/api/instances/act-gate/raise",
            &json!({ "name": "go", "data": { "by": "ana" } }),
        )
        .await;
    assert_eq!(raised.status(), StatusCode::ACCEPTED);
    let done = dashboard.wait_for("act-gate", "Completed").await;
    assert_eq!(done["output"], json!({ "by": "ana" }));
    let history = dashboard.get_json("/api/instances/act-gate/history").await;
    let markers: Vec<(&str, &str)> = history["timeline"]["markers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["label"].as_str().unwrap()))
        .collect();
    assert!(
        markers.contains(&("ExecutionSuspended", "lunch")),
        "{markers:?}"
    );
    assert!(markers.contains(&("EventRaised", "go")), "{markers:?}");

    // Finished: events are refused with the HTTP API's codes and messages.
    let late = dashboard
        .post("/api/instances/act-gate/raise", &json!({ "name": "go" }))
        .await;
    assert_eq!(late.status(), StatusCode::GONE);
    assert!(message(late).await.contains("Completed"));
    let unknown = dashboard
        .post("/api/instances/act-gate/explode", &json!({}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(message(unknown).await.contains("raise, terminate"));

    // Restart under a new id, then under the same one.
    let restarted = dashboard
        .post("/api/instances/act-gate/restart", &json!({}))
        .await;
    assert_eq!(restarted.status(), StatusCode::ACCEPTED);
    let restarted: Value = restarted.json().await.unwrap();
    let new_id = restarted["instanceId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, "act-gate");
    dashboard.wait_for(&new_id, "Running").await;
    let same = dashboard
        .post(
            "/api/instances/act-gate/restart",
            &json!({ "newInstanceId": false }),
        )
        .await;
    assert_eq!(same.status(), StatusCode::ACCEPTED);
    let same: Value = same.json().await.unwrap();
    assert_eq!(same["instanceId"], "act-gate");
    dashboard.wait_for("act-gate", "Running").await;

    // Terminate (a running instance cannot be purged).
    let early = dashboard
        .act(
            reqwest::Method::DELETE,
            &format!("/api/instances/{new_id}"),
            &json!(null),
        )
        .await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    let terminated = dashboard
        .post(
            &format!("/api/instances/{new_id}/terminate"),
            &json!({ "reason": "duplicate", "recursive": true }),
        )
        .await;
    assert_eq!(terminated.status(), StatusCode::ACCEPTED);
    let body = dashboard.wait_for(&new_id, "Terminated").await;
    assert_eq!(body["output"], "duplicate");
    assert_eq!(body["actions"], json!(["restart", "purge"]));

    // Purge.
    let purged = dashboard
        .act(
            reqwest::Method::DELETE,
            &format!("/api/instances/{new_id}"),
            &json!(null),
        )
        .await;
    assert_eq!(purged.status(), StatusCode::OK);
    assert_eq!(
        dashboard
            .get(&format!("/api/instances/{new_id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Rewind: a failed instance runs again from its failure once the cause is fixed.
    set_broken("rw-1", true);
    let failing = client
        .start_orchestration(Repairable, "rw-1".into())
        .instance_id("rw-1")
        .await
        .unwrap();
    assert!(failing.wait_for_completion(WAIT).await.is_err());
    let failed = dashboard.get_json("/api/instances/rw-1").await;
    assert_eq!(failed["actions"], json!(["rewind", "restart", "purge"]));
    assert!(
        failed["failure"]
            .as_str()
            .unwrap()
            .contains("rw-1 is broken")
    );
    assert_eq!(
        failed["failureDetails"]["message"]
            .as_str()
            .map(|m| m.contains("broken")),
        Some(true)
    );
    let running = dashboard
        .post("/api/instances/act-gate/rewind", &json!({}))
        .await;
    assert_eq!(
        running.status(),
        StatusCode::CONFLICT,
        "only Failed instances rewind"
    );
    set_broken("rw-1", false);
    let rewound = dashboard
        .post("/api/instances/rw-1/rewind", &json!({ "reason": "fixed" }))
        .await;
    assert_eq!(rewound.status(), StatusCode::ACCEPTED);
    let done = dashboard.wait_for("rw-1", "Completed").await;
    assert_eq!(done["output"], "Hello rw-1! rw-1 works");
    let history = dashboard.get_json("/api/instances/rw-1/history").await;
    let spans: Vec<(&str, &str)> = history["timeline"]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        spans,
        [
            ("greet", "completed"),
            ("fragile", "failed"),
            ("fragile", "completed")
        ],
        "the failure and the second attempt, the first step once"
    );
    client
        .terminate(&"act-gate".parse().unwrap(), None, TerminateScope::Instance)
        .await
        .unwrap();
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_are_listed_read_signalled_and_deleted() {
    let dashboard = Dashboard::start(None).await;
    for (key, amount) in [("a", 2), ("b", 3), ("", 4)] {
        let path = format!(
            "/api/entities/scoreboard/{}/signal",
            if key.is_empty() { "$" } else { key }
        );
        let signalled = dashboard
            .post(&path, &json!({ "operation": "add", "input": amount }))
            .await;
        assert_eq!(signalled.status(), StatusCode::ACCEPTED, "{path}");
        assert!(message(signalled).await.contains("@scoreboard@"));
    }
    let refused = dashboard
        .post("/api/entities/scoreboard/a/signal", &json!({}))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(message(refused).await.contains("operation"));

    let mut state = Value::Null;
    for _ in 0..3000 {
        let response = dashboard.get("/api/entities/scoreboard/b").await;
        if response.status() == StatusCode::OK {
            state = response.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(state["state"], json!({ "count": 3 }));
    assert_eq!(state["name"], "scoreboard");
    assert_eq!(state["key"], "b");
    assert_eq!(state["backlog"], 0);
    assert_eq!(state["lockedBy"], Value::Null);

    // Every name, or one name and a key prefix; pages of one.
    for _ in 0..3000 {
        let all = dashboard.get_json("/api/entities").await;
        if all["entities"].as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = dashboard.get_json("/api/entities").await;
    let mut keys: Vec<&str> = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["", "a", "b"]);
    assert!(
        all["entities"][0].get("state").is_none(),
        "listings carry no state"
    );
    let prefixed = dashboard
        .get_json("/api/entities?name=Scoreboard&keyPrefix=a")
        .await;
    assert_eq!(prefixed["entities"].as_array().unwrap().len(), 1);
    let first = dashboard.get_json("/api/entities?pageSize=1").await;
    assert_eq!(first["entities"].as_array().unwrap().len(), 1);
    assert!(first["continuationToken"].is_string());
    let lonely = dashboard.get("/api/entities?keyPrefix=a").await;
    assert_eq!(lonely.status(), StatusCode::BAD_REQUEST);
    let bad = dashboard.get("/api/entities?name=a@b").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let empty_key = dashboard.get_json("/api/entities/scoreboard/$").await;
    assert_eq!(empty_key["state"], json!({ "count": 4 }));

    let deleted = dashboard
        .act(
            reqwest::Method::DELETE,
            "/api/entities/scoreboard/b",
            &json!(null),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    let mut gone = false;
    for _ in 0..3000 {
        if dashboard.get("/api/entities/scoreboard/b").await.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the deleted entity reads as missing");
    let missing = dashboard.get("/api/entities/scoreboard/nobody").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(message(missing).await.contains("does not exist"));
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_protects_the_dashboard_and_reaches_its_assets() {
    let dashboard = Dashboard::start(Some("s3cr&t+")).await;
    assert_eq!(dashboard.get("/").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        dashboard.get("/app.js").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        dashboard.get("/api/instances").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let code = "?code=s3cr%26t%2B";
    let redirect = dashboard.get(code).await;
    assert_eq!(redirect.headers()[LOCATION], format!("/dashboard/{code}"));
    let page = dashboard.get(&format!("/{code}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!(r#"src="app.js{code}""#)), "{html}");
    assert!(html.contains(&format!(r#"href="app.css{code}""#)), "{html}");
    assert_eq!(
        dashboard.get(&format!("/app.js{code}")).await.status(),
        StatusCode::OK
    );
    // The page's script sends the key as a header.
    let listed = dashboard
        .http
        .get(dashboard.url("/api/instances"))
        .header("x-functions-key", "s3cr&t+")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    // With a key, any host name is answered (the key is the protection).
    let proxied = dashboard
        .http
        .get(dashboard.url(&format!("/{code}")))
        .header(HOST, "durable.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), StatusCode::OK);
    dashboard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_only_loopback_host_names_are_answered() {
    let dashboard = Dashboard::start(None).await;
    let port = dashboard.server.local_addr().port();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "[::1]".to_owned(),
    ] {
        let response = dashboard
            .http
            .get(dashboard.url("/"))
            .header(HOST, &host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    // A page whose name was rebound to 127.0.0.1 sends its own name.
    for path in ["/", "/api/instances"] {
        let rebound = dashboard
            .http
            .get(dashboard.url(path))
            .header(HOST, format!("attacker.example:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(message(rebound).await.contains("loopback"));
    }
    // The HTTP management API itself is unchanged.
    let api = dashboard
        .http
        .get(format!(
            "http://{}/runtime/webhooks/durabletask/instances",
            dashboard.server.local_addr()
        ))
        .header(HOST, format!("attacker.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    dashboard.stop().await;
}

/// The script's pure helpers (routes, durations, the timeline's layout) under node, when
/// node is installed; otherwise this test says it was skipped.
#[test]
fn the_script_passes_its_node_tests() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../durable-runtime/src/dashboard/assets/app.js"
    );
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dashboard_app.test.js");
    let output = match std::process::Command::new("node")
        .arg(tests)
        .arg(script)
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED the_script_passes_its_node_tests: node is not installed");
            return;
        }
        Err(error) => panic!("could not run node: {error}"),
    };
    assert!(
        output.status.success(),
        "node tests failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
