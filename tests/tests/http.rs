//! The HTTP management API over real HTTP on an ephemeral loopback port: the async HTTP
//! API pattern, every route's success and error codes, bad input, keys and body limits.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::time::Duration;

use durable_runtime::http::{HttpOptions, HttpServer};
use durable_runtime::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[activity]
async fn say_hello(city: String) -> Result<String, ActivityError> {
    Ok(format!("Hello {city}!"))
}

#[orchestrator]
async fn hello_cities(
    ctx: OrchestrationContext,
    cities: Vec<String>,
) -> Result<Vec<String>, OrchestrationError> {
    let mut greetings = Vec::new();
    for city in cities {
        greetings.push(ctx.call_activity(SayHello, city).await?);
    }
    Ok(greetings)
}

#[orchestrator]
async fn waiter(ctx: OrchestrationContext) -> Result<Value, OrchestrationError> {
    ctx.set_custom_status(&json!({ "waiting": "go" }))?;
    Ok(ctx.wait_for_external_event::<Value>("go").await?)
}

/// A notebook entity: a list of lines.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Notebook {
    lines: Vec<Value>,
}

#[entity]
impl Notebook {
    fn append(&mut self, line: Value) {
        self.lines.push(line);
    }
}

struct Api {
    runtime: Runtime,
    server: HttpServer,
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn start(key: Option<&str>, max_body_bytes: usize) -> Self {
        let runtime = Runtime::builder()
            .sqlite(durable_tests::temp_dir("http").join("durable.db"))
            .start()
            .await
            .unwrap();
        let mut options = HttpOptions::default()
            .address("127.0.0.1:0".parse().unwrap())
            .max_body_bytes(max_body_bytes);
        options.key = key.map(str::to_owned);
        let server = runtime.serve_http(options).await.unwrap();
        let base = format!(
            "http://{}/runtime/webhooks/durabletask",
            server.local_addr()
        );
        Self {
            runtime,
            server,
            http: reqwest::Client::new(),
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str) -> reqwest::Response {
        self.http.post(self.url(path)).send().await.unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).send().await.unwrap()
    }

    /// Follows `Location` while it answers 202, as a Durable Functions client does.
    async fn poll_until_done(&self, location: &str) -> Value {
        for _ in 0..3000 {
            let response = self.http.get(location).send().await.unwrap();
            match response.status() {
                StatusCode::ACCEPTED => {
                    assert_eq!(response.headers()["retry-after"], "5");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                StatusCode::OK => return response.json().await.unwrap(),
                other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
            }
        }
        panic!("never finished");
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
async fn the_async_http_api_pattern() {
    let api = Api::start(None, 1 << 20).await;
    let response = api
        .post_json("/orchestrators/hello_cities", &json!(["Tokyo", "Seattle"]))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["retry-after"], "10");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["statusQueryGetUri"], location);
    for key in [
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    ] {
        assert!(body[key].as_str().unwrap().contains(&id), "{key}: {body}");
    }
    assert!(
        body["sendEventPostUri"]
            .as_str()
            .unwrap()
            .ends_with("/raiseEvent/{eventName}?taskHub=durable&connection=Storage")
    );

    let done = api.poll_until_done(&location).await;
    assert_eq!(done["runtimeStatus"], "Completed");
    assert_eq!(done["output"], json!(["Hello Tokyo!", "Hello Seattle!"]));
    assert_eq!(done["input"], json!(["Tokyo", "Seattle"]));
    assert_eq!(done["name"], "hello_cities");
    assert!(done["createdTime"].as_str().unwrap().ends_with('Z'));

    // With `timeout`, the start answers 200 with the raw output when it finishes in time.
    let response = api
        .post_json(
            "/orchestrators/hello_cities/chosen-id?timeout=20&pollingInterval=1",
            &json!(["Oslo"]),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!(["Hello Oslo!"])
    );
    let history = api
        .get("/instances/chosen-id?showHistory=true&showHistoryOutput=true")
        .await;
    assert_eq!(history.status(), StatusCode::OK);
    let history: Value = history.json().await.unwrap();
    let events = history["historyEvents"].as_array().unwrap();
    // Durable Functions' flat shape: the task merged with its scheduling, brackets dropped.
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["ExecutionStarted", "TaskCompleted", "ExecutionCompleted"],
        "{history}"
    );
    assert_eq!(events[1]["FunctionName"], "say_hello");
    assert_eq!(events[1]["Result"], "Hello Oslo!");
    assert!(events[1]["ScheduledTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(events[2]["Result"], json!(["Hello Oslo!"]));
    api.stop().await;
}

/// Issue #16 item 9: paths in any case, 404 for a wrong method, 412 for purging a running
/// instance, `GET /entities`, and management URLs with `taskHub`, `connection`, `code`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_functions_routing_rules() {
    let api = Api::start(None, 1 << 20).await;
    // Fixed segments in any case; the instance id and event name as given.
    let response = api
        .post_json("/ORCHESTRATORS/waiter/Mixed-Case-Id", &json!(null))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "Mixed-Case-Id");
    for key in ["statusQueryGetUri", "terminatePostUri", "restartPostUri"] {
        assert!(
            body[key]
                .as_str()
                .unwrap()
                .contains("taskHub=durable&connection=Storage"),
            "{key}: {body}"
        );
    }
    assert!(
        body.get("rewindPostUri").is_none(),
        "the check-status body has no rewind URL, as in Durable Functions"
    );
    wait_running(&api, "Mixed-Case-Id").await;
    let response = api
        .http
        .get(format!(
            "{}/Runtime/Webhooks/DurableTask/Instances/Mixed-Case-Id",
            api.base.trim_end_matches("/runtime/webhooks/durabletask")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(
        api.get("/instances/mixed-case-id").await.status(),
        StatusCode::NOT_FOUND,
        "instance ids keep their case"
    );
    // Purging a running instance: 412, as Durable Functions refuses it.
    assert_eq!(
        api.delete("/instances/Mixed-Case-Id").await.status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        api.post_json("/instances/Mixed-Case-Id/RAISEEVENT/go", &json!(1))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let done = api
        .poll_until_done(&api.url("/instances/Mixed-Case-Id"))
        .await;
    assert_eq!(done["output"], json!(1));
    // A known path with a method it does not take: 404, as Durable Functions answers.
    let response = api
        .http
        .put(api.url("/instances/Mixed-Case-Id"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        api.get("/instances/Mixed-Case-Id/terminate").await.status(),
        StatusCode::NOT_FOUND
    );
    // Every entity, of all names.
    assert_eq!(
        api.post("/Entities/notebook/k?op=append").await.status(),
        StatusCode::ACCEPTED
    );
    wait_for_lines(&api, "k", 1).await;
    let listed = api.get("/entities?fetchState=true").await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed[0]["entityId"]["name"], "notebook", "{listed}");
    assert!(listed[0]["state"].is_object(), "{listed}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_routes_and_their_status_codes() {
    let api = Api::start(None, 1 << 20).await;
    // A long-running instance that every bad request below must leave alone.
    assert_eq!(
        api.post("/orchestrators/waiter/bystander").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.post("/orchestrators/waiter/w1").await.status(),
        StatusCode::ACCEPTED
    );
    let running = api.get("/instances/w1").await;
    assert_eq!(running.status(), StatusCode::ACCEPTED);
    assert!(running.headers().contains_key("location"));

    // Unknown instance: 404 everywhere.
    assert_eq!(
        api.get("/instances/nobody").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post_json("/instances/nobody/raiseEvent/go", &json!(1))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post("/instances/nobody/terminate").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post("/instances/nobody/suspend").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.delete("/instances/nobody").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post("/instances/nobody/restart").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/no/such/route").await.status(),
        StatusCode::NOT_FOUND
    );

    // Suspend / resume, and their conflicts.
    wait_running(&api, "w1").await;
    assert_eq!(
        api.post("/instances/w1/resume").await.status(),
        StatusCode::ACCEPTED,
        "resume a running instance: queued, a no-op (as Durable Functions)"
    );
    assert_eq!(
        api.post("/instances/w1/suspend?reason=lunch")
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.post_json("/instances/w1/raiseEvent/go", &json!({"ok": true}))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.post("/instances/w1/resume?reason=back").await.status(),
        StatusCode::ACCEPTED
    );
    let done = api.poll_until_done(&api.url("/instances/w1")).await;
    assert_eq!(done["output"], json!({"ok": true}));
    assert_eq!(done["customStatus"], json!({"waiting": "go"}));

    // Finished instance: 410 for raise, terminate, suspend, resume; 409 purge of a running one.
    assert_eq!(
        api.post_json("/instances/w1/raiseEvent/go", &json!(1))
            .await
            .status(),
        StatusCode::GONE
    );
    assert_eq!(
        api.post("/instances/w1/terminate").await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        api.post("/instances/w1/suspend").await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        api.post("/instances/w1/resume").await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        api.delete("/instances/bystander").await.status(),
        StatusCode::PRECONDITION_FAILED
    );

    // Terminate: 202, then the status says Terminated with the reason.
    assert_eq!(
        api.post("/orchestrators/waiter/w2").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.post("/instances/w2/terminate?reason=enough")
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let terminated = api.poll_until_done(&api.url("/instances/w2")).await;
    assert_eq!(terminated["runtimeStatus"], "Terminated");
    assert_eq!(terminated["output"], "enough");

    // Restart: 202 with a new id; the restarted copy runs.
    let restarted = api.post("/instances/w1/restart").await;
    assert_eq!(restarted.status(), StatusCode::ACCEPTED);
    let body: Value = restarted.json().await.unwrap();
    assert_ne!(body["id"], "w1");

    // List: filters, paging by the continuation header.
    let listed = api
        .get("/instances?runtimeStatus=Completed,Terminated&top=1")
        .await;
    assert_eq!(listed.status(), StatusCode::OK);
    let token = listed.headers()["x-ms-continuation-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let first: Vec<Value> = listed.json().await.unwrap();
    assert_eq!(first.len(), 1);
    let second = api
        .http
        .get(api.url("/instances?runtimeStatus=Completed,Terminated&top=1"))
        .header("x-ms-continuation-token", token)
        .send()
        .await
        .unwrap();
    let second: Vec<Value> = second.json().await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0]["instanceId"], second[0]["instanceId"]);
    let prefixed: Vec<Value> = api
        .get("/instances?instanceIdPrefix=by&showInput=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prefixed.len(), 1);
    assert_eq!(prefixed[0]["input"], Value::Null);
    assert_eq!(
        api.get("/instances?runtimeStatus=Sleeping").await.status(),
        StatusCode::BAD_REQUEST
    );

    // Purge: one (200), by filter (400 without createdTimeFrom, 200 with a count, 404 when none).
    assert_eq!(
        api.delete("/instances/w2")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!({"instancesDeleted": 1})
    );
    assert_eq!(
        api.delete("/instances").await.status(),
        StatusCode::BAD_REQUEST
    );
    let purged = api
        .delete("/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed")
        .await;
    assert_eq!(purged.status(), StatusCode::OK);
    assert!(
        purged.json::<Value>().await.unwrap()["instancesDeleted"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(
        api.delete("/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Failed")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The bystander was never disturbed: it still runs and still completes.
    assert_eq!(
        api.get("/instances/bystander").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.post_json("/instances/bystander/raiseEvent/go", &json!("fine"))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.poll_until_done(&api.url("/instances/bystander")).await["output"],
        "fine"
    );
    api.stop().await;
}

async fn wait_running(api: &Api, id: &str) {
    for _ in 0..2000 {
        let body: Value = api
            .get(&format!("/instances/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if body["runtimeStatus"] == "Running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{id} never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_message() {
    let api = Api::start(None, 256).await;
    assert_eq!(
        api.post("/orchestrators/waiter/bystander").await.status(),
        StatusCode::ACCEPTED
    );

    let malformed = api
        .http
        .post(api.url("/orchestrators/hello_cities"))
        .header("content-type", "application/json")
        .body("[\"Tokyo\"")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert!(message(malformed).await.contains("not valid JSON"));

    let text = api
        .http
        .post(api.url("/orchestrators/hello_cities"))
        .header("content-type", "text/plain")
        .body("[\"Tokyo\"]")
        .send()
        .await
        .unwrap();
    // As in Durable Functions, a start does not check the media type: JSON is JSON.
    assert_eq!(text.status(), StatusCode::ACCEPTED);
    let form = api
        .http
        .post(api.url("/orchestrators/hello_cities"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    let body: Value = form.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("not valid JSON"));
    // The fields Durable Functions' clients read carry the message too.
    assert_eq!(body["ExceptionMessage"], body["message"]);
    assert_eq!(body["Message"], body["message"]);

    let unknown = api
        .post_json("/orchestrators/no_such_thing", &json!(1))
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let unknown = message(unknown).await;
    assert!(
        unknown.contains("no orchestration `no_such_thing`") && unknown.contains("hello_cities"),
        "{unknown}"
    );

    let shape = api
        .post_json("/orchestrators/hello_cities", &json!({"city": "Tokyo"}))
        .await;
    assert_eq!(shape.status(), StatusCode::BAD_REQUEST);
    let shape = message(shape).await;
    assert!(
        shape.contains("Vec<alloc::string::String>"),
        "names the expected shape: {shape}"
    );

    let bad_id = api
        .post_json("/orchestrators/hello_cities/@reserved", &json!([]))
        .await;
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    assert!(message(bad_id).await.contains("reserved for entity ids"));

    let duplicate = api.post("/orchestrators/waiter/bystander").await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);

    let oversized = api
        .post_json("/orchestrators/hello_cities", &json!(["x".repeat(1000)]))
        .await;
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(message(oversized).await.contains("larger than the limit"));

    let raise_text = api
        .http
        .post(api.url("/instances/bystander/raiseEvent/go"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(raise_text.status(), StatusCode::BAD_REQUEST);

    let bad_wait = api
        .post_json(
            "/orchestrators/hello_cities?timeout=1&pollingInterval=5",
            &json!([]),
        )
        .await;
    assert_eq!(bad_wait.status(), StatusCode::BAD_REQUEST);
    let bad_query = api.get("/instances?top=lots").await;
    assert_eq!(bad_query.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        api.get("/instances/bystander").await.status(),
        StatusCode::ACCEPTED,
        "still running"
    );
    assert_eq!(
        api.post_json("/instances/bystander/raiseEvent/go", &json!(7))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.poll_until_done(&api.url("/instances/bystander")).await["output"],
        7
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_key_is_required() {
    let api = Api::start(Some("s3cret"), 1 << 20).await;
    let missing = api.get("/instances").await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(message(missing).await.contains("needs a key"));
    assert_eq!(
        api.get("/instances?code=wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/instances?code=s3cret").await.status(),
        StatusCode::OK
    );
    let header = api
        .http
        .get(api.url("/instances"))
        .header("x-functions-key", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(header.status(), StatusCode::OK);
    let started = api
        .post_json("/orchestrators/hello_cities?code=s3cret", &json!(["Lima"]))
        .await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let body: Value = started.json().await.unwrap();
    let location = body["statusQueryGetUri"].as_str().unwrap();
    assert!(
        location.ends_with("?taskHub=durable&connection=Storage&code=s3cret"),
        "generated URLs carry the key: {location}"
    );
    assert_eq!(
        api.poll_until_done(location).await["runtimeStatus"],
        "Completed"
    );
    api.stop().await;
}

/// Polls `GET /entities/notebook/{key}` until it shows `lines` lines.
async fn wait_for_lines(api: &Api, key: &str, lines: usize) -> Value {
    for _ in 0..3000 {
        let response = api
            .get(&format!("/entities/notebook/{key}?code=secret"))
            .await;
        if response.status() == StatusCode::OK {
            let body: Value = response.json().await.unwrap();
            if body["lines"].as_array().is_some_and(|l| l.len() == lines) {
                return body;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("entity {key} never reached {lines} lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_routes_signal_read_list_and_delete() {
    let api = Api::start(Some("secret"), 1024).await;
    let with_key = |path: &str| {
        format!(
            "{path}{}code=secret",
            if path.contains('?') { "&" } else { "?" }
        )
    };

    // Unknown entity: read is 404 before the first operation.
    let response = api.get(&with_key("/entities/notebook/a")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Signal with a JSON body, then with a plain-text body (sent as a JSON string).
    let response = api
        .http
        .post(api.url(&with_key("/entities/notebook/a?op=append")))
        .json(&json!({ "n": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let response = api
        .http
        .post(api.url(&with_key("/entities/Notebook/a?op=append")))
        .body("plain text")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "names are case-insensitive"
    );
    // `$` is the empty key.
    let response = api.post(&with_key("/entities/notebook/$?op=append")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    // The key is checked on these routes too.
    assert_eq!(
        api.get("/entities/notebook/a").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Read: 200 with the state as JSON.
    let state = wait_for_lines(&api, "a", 2).await;
    let empty_key = wait_for_lines(&api, "$", 1).await;
    assert_eq!(empty_key["lines"], json!([null]), "no body is `null`");
    assert_eq!(state["lines"], json!([{ "n": 1 }, "plain text"]));

    // List: every notebook, with state on request, paged with the continuation header.
    let response = api
        .get(&with_key("/entities/notebook?fetchState=true&top=1"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.headers()["x-ms-continuation-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let first: Value = response.json().await.unwrap();
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert!(first[0]["entityId"]["name"] == "notebook");
    assert!(first[0]["state"].is_object());
    assert!(
        first[0]["lastOperationTime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let response = api
        .http
        .get(api.url(&with_key("/entities/notebook?top=10")))
        .header("x-ms-continuation-token", token)
        .send()
        .await
        .unwrap();
    let rest: Value = response.json().await.unwrap();
    let keys: Vec<&str> = first
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.as_array().unwrap())
        .map(|e| e["entityId"]["key"].as_str().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["", "a"], "{keys:?}");
    assert!(
        rest[0].get("state").is_none(),
        "state only with fetchState=true"
    );

    // Delete: 202, then the entity is gone.
    let response = api.delete(&with_key("/entities/notebook/a")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mut gone = false;
    for _ in 0..3000 {
        if api.get(&with_key("/entities/notebook/a")).await.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the entity was not deleted");

    // Errors: unknown entity name (404 naming the registered ones), missing `op` (400),
    // malformed JSON (400), oversized body (413), bad time filter (400).
    let response = api.post(&with_key("/entities/nosuch/a?op=x")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(message(response).await.contains("notebook"));
    let response = api.post(&with_key("/entities/notebook/a")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(message(response).await.contains("?op="));
    let response = api
        .http
        .post(api.url(&with_key("/entities/notebook/a?op=append")))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = api
        .http
        .post(api.url(&with_key("/entities/notebook/a?op=append")))
        .body("x".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = api
        .get(&with_key(
            "/entities/notebook?lastOperationTimeFrom=yesterday",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    api.stop().await;
}

/// Spellings Durable Functions' own clients use (issue #16): `/instances/` with a trailing
/// slash, booleans as `True`/`False`, unparsable booleans ignored, date-only and zone-less
/// times, and suspend/resume answered 202 for any unfinished instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_functions_client_spellings() {
    let api = Api::start(None, 1 << 20).await;
    assert_eq!(
        api.post_json("/orchestrators/hello_cities/spelled", &json!(["Oslo"]))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    api.poll_until_done(&api.url("/instances/spelled")).await;

    let listed = api
        .get("/instances/?showInput=False&createdTimeFrom=2020-01-01&createdTimeTo=2999-01-01T00:00:00")
        .await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: Value = listed.json().await.unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("input").is_none_or(Value::is_null),
        "showInput=False: {listed:?}"
    );

    let shown = api
        .get("/instances/spelled?showHistory=True&showInput=maybe")
        .await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown: Value = shown.json().await.unwrap();
    assert!(
        shown["historyEvents"].is_array(),
        "showHistory=True: {shown}"
    );
    assert_eq!(
        shown["input"],
        json!(["Oslo"]),
        "an unparsable boolean is ignored"
    );

    let bad_time = api.get("/instances/?createdTimeFrom=yesterday").await;
    assert_eq!(bad_time.status(), StatusCode::BAD_REQUEST);

    // A body that is a JSON string holding JSON (the Python client's way) starts the
    // orchestration with the JSON inside, as Durable Functions' workers decode twice.
    let doubled = api
        .post_json("/orchestrators/hello_cities/doubled", &json!("[\"Lima\"]"))
        .await;
    assert_eq!(doubled.status(), StatusCode::ACCEPTED);
    let done = api.poll_until_done(&api.url("/instances/doubled")).await;
    assert_eq!(done["output"], json!(["Hello Lima!"]));

    // Purge by filter through the trailing-slash route.
    let purged = api
        .delete("/instances/?createdTimeFrom=2020-01-01&runtimeStatus=Completed")
        .await;
    assert_eq!(purged.status(), StatusCode::OK);
    assert_eq!(purged.json::<Value>().await.unwrap()["instancesDeleted"], 2);

    // Suspend twice, resume twice: 202 each; the instance ends running and completes.
    assert_eq!(
        api.post("/orchestrators/waiter/flip").await.status(),
        StatusCode::ACCEPTED
    );
    for op in ["suspend", "suspend", "resume", "resume"] {
        assert_eq!(
            api.post(&format!("/instances/flip/{op}")).await.status(),
            StatusCode::ACCEPTED,
            "{op}"
        );
    }
    assert_eq!(
        api.post_json("/instances/flip/raiseEvent/go", &json!(7))
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let done = api.poll_until_done(&api.url("/instances/flip")).await;
    assert_eq!(done["output"], json!(7));
    api.stop().await;
}
