//! Runs the built `durable` binary against a SQLite file holding real instances.
//!
//! Needs feature `cli`; `cargo test --workspace` has it (the tests package enables it).

#![cfg(feature = "cli")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use durable_runtime::prelude::*;
use serde_json::Value;

const DURABLE: &str = env!("CARGO_BIN_EXE_durable");
const WAIT: Duration = Duration::from_secs(30);

#[activity]
async fn shout(text: String) -> String {
    text.to_uppercase()
}

#[orchestrator]
async fn shouter(ctx: OrchestrationContext, text: String) -> Result<String, OrchestrationError> {
    ctx.set_custom_status(&serde_json::json!({ "step": "shouting" }))?;
    Ok(ctx.call_activity(Shout, text).await?)
}

#[orchestrator]
async fn listener(ctx: OrchestrationContext) -> Result<i64, OrchestrationError> {
    Ok(ctx.wait_for_external_event::<i64>("number").await?)
}

#[orchestrator]
async fn broken(_ctx: OrchestrationContext) -> Result<(), OrchestrationError> {
    Err(OrchestrationError::new("out of cheese"))
}

fn db_path() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("durable-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("durable.db")
}

fn durable(db: &Path, args: &[&str]) -> Output {
    Command::new(DURABLE)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap()
}

fn fails_with(output: &Output, code: i32, needle: &str) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_real_instances() {
    let db = db_path();
    let runtime = Runtime::builder().sqlite(&db).start().await.unwrap();
    let client = runtime.client();
    let done = client
        .start_orchestration(Shouter, "hello".into())
        .instance_id("shout-1")
        .await
        .unwrap();
    assert_eq!(done.wait_for_completion(WAIT).await.unwrap(), "HELLO");
    let failed = client
        .start_orchestration(Broken, ())
        .instance_id("broken-1")
        .await
        .unwrap();
    assert!(failed.wait_for_completion(WAIT).await.is_err());
    let waiting = client
        .start_orchestration(Listener, ())
        .instance_id("listen-1")
        .await
        .unwrap();
    let second = client
        .start_orchestration(Listener, ())
        .instance_id("listen-2")
        .await
        .unwrap();

    // list: a table, JSON, filters, paging.
    let table = ok(&durable(&db, &["list"]));
    assert!(table.starts_with("INSTANCE ID"), "{table}");
    for id in ["shout-1", "broken-1", "listen-1", "listen-2"] {
        assert!(table.contains(id), "{table}");
    }
    let failed_only = json(&durable(&db, &["--json", "list", "--status", "Failed"]));
    assert_eq!(failed_only["instances"].as_array().unwrap().len(), 1);
    assert_eq!(failed_only["instances"][0]["instanceId"], "broken-1");
    let page = json(&durable(&db, &["list", "--json", "--page-size", "3"]));
    let token = page["continuationToken"].as_str().unwrap().to_owned();
    let rest = json(&durable(
        &db,
        &[
            "list",
            "--json",
            "--page-size",
            "3",
            "--continuation",
            &token,
        ],
    ));
    assert_eq!(
        page["instances"].as_array().unwrap().len() + rest["instances"].as_array().unwrap().len(),
        4
    );
    let prefixed = json(&durable(&db, &["list", "--json", "--prefix", "listen-"]));
    assert_eq!(prefixed["instances"].as_array().unwrap().len(), 2);
    let ids = |page: &Value| -> Vec<String> {
        page["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["instanceId"].as_str().unwrap().to_owned())
            .collect()
    };
    let named = json(&durable(&db, &["list", "--json", "--name", "listener"]));
    assert_eq!(ids(&named), ["listen-1", "listen-2"]);
    let named_failed = json(&durable(
        &db,
        &["list", "--json", "--name", "broken", "--status", "Failed"],
    ));
    assert_eq!(ids(&named_failed), ["broken-1"]);
    let named_running = json(&durable(
        &db,
        &["list", "--json", "--name", "broken", "--status", "Running"],
    ));
    assert_eq!(ids(&named_running), Vec::<String>::new());

    // show: fields as a table and as JSON.
    let shown = ok(&durable(&db, &["show", "shout-1"]));
    assert!(
        shown.contains("runtimeStatus")
            && shown.contains("Completed")
            && shown.contains("\"HELLO\""),
        "{shown}"
    );
    let shown = json(&durable(&db, &["show", "broken-1", "--json"]));
    assert_eq!(shown["runtimeStatus"], "Failed");
    assert_eq!(shown["failureDetails"]["message"], "out of cheese");
    assert_eq!(
        json(&durable(&db, &["show", "shout-1", "--json"]))["customStatus"]["step"],
        "shouting"
    );

    // history: a readable table, and JSON.
    let history = ok(&durable(&db, &["history", "shout-1"]));
    assert!(
        history.contains("ActivityScheduled") && history.contains("ExecutionCompleted"),
        "{history}"
    );
    let events = json(&durable(&db, &["history", "shout-1", "--json"]));
    assert!(events.as_array().unwrap().len() >= 5);

    // raise: the waiting instance completes with the value (the worker polls the file).
    ok(&durable(&db, &["raise", "listen-1", "number", "42"]));
    assert_eq!(waiting.wait_for_completion(WAIT).await.unwrap(), 42);
    fails_with(
        &durable(&db, &["raise", "listen-1", "number", "1"]),
        4,
        "it has finished",
    );
    fails_with(
        &durable(&db, &["raise", "listen-2", "number", "{not json"]),
        5,
        "not valid JSON",
    );

    // suspend / resume / terminate, and refused transitions.
    // Resuming a running instance is queued and a no-op (as in Durable Functions).
    ok(&durable(&db, &["resume", "listen-2"]));
    ok(&durable(
        &db,
        &["suspend", "listen-2", "--reason", "maintenance"],
    ));
    wait_for(&client, "listen-2", RuntimeStatus::Suspended).await;
    ok(&durable(&db, &["resume", "listen-2"]));
    wait_for(&client, "listen-2", RuntimeStatus::Running).await;
    ok(&durable(
        &db,
        &["terminate", "listen-2", "--reason", "no longer needed"],
    ));
    assert!(second.wait_for_completion(WAIT).await.is_err());
    assert_eq!(
        json(&durable(&db, &["show", "listen-2", "--json"]))["runtimeStatus"],
        "Terminated"
    );
    fails_with(
        &durable(&db, &["terminate", "listen-2"]),
        4,
        "cannot terminate",
    );

    // rewind: a Failed instance runs again (this one fails the same way again, its code
    // unchanged, and the rewind is in its history); anything else is refused.
    ok(&durable(
        &db,
        &["rewind", "broken-1", "--reason", "try again"],
    ));
    wait_for_history(&client, "broken-1", "ExecutionRewound").await;
    wait_for(&client, "broken-1", RuntimeStatus::Failed).await;
    fails_with(&durable(&db, &["rewind", "shout-1"]), 4, "cannot rewind");
    fails_with(
        &durable(&db, &["rewind", "nobody"]),
        3,
        "no instance with id nobody",
    );

    // purge: one, then by filter; errors for unknown ids and bad input.
    ok(&durable(&db, &["purge", "shout-1"]));
    fails_with(
        &durable(&db, &["show", "shout-1"]),
        3,
        "no instance with id shout-1",
    );
    let purged = json(&durable(
        &db,
        &[
            "--json",
            "purge",
            "--created-from",
            "2000-01-01T00:00:00Z",
            "--status",
            "Failed",
        ],
    ));
    assert_eq!(purged["instancesDeleted"], 1);
    fails_with(
        &durable(&db, &["purge", "--created-from", "yesterday"]),
        5,
        "RFC 3339",
    );
    fails_with(&durable(&db, &["show", "a/b"]), 5, "invalid instance id");
    fails_with(
        &durable(&db, &["list", "--status", "Sleeping"]),
        5,
        "unknown runtime status",
    );
    let json_error = durable(&db, &["--json", "show", "nobody"]);
    assert_eq!(json_error.status.code(), Some(3));
    let error: Value = serde_json::from_slice(&json_error.stderr).unwrap();
    assert_eq!(error["exitCode"], 3);

    runtime.shutdown().await;
    let missing = Command::new(DURABLE)
        .args(["--db", "/nonexistent/durable.db", "list"])
        .output()
        .unwrap();
    fails_with(&missing, 1, "no database at");
    let usage = Command::new(DURABLE).args(["frobnicate"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

async fn wait_for(client: &DurableClient, id: &str, want: RuntimeStatus) {
    let id = InstanceId::new(id).unwrap();
    for _ in 0..1000 {
        if client
            .get_status(&id)
            .await
            .unwrap()
            .unwrap()
            .runtime_status
            == want
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} never became {want}");
}

/// Waits until the history of `id` holds an event of `kind`.
async fn wait_for_history(client: &DurableClient, id: &str, kind: &str) {
    let id = InstanceId::new(id).unwrap();
    for _ in 0..1000 {
        let history = client.read_history(&id).await.unwrap();
        if history.iter().any(|e| e.kind.type_name() == kind) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the history of {id} never held {kind}");
}

/// A jar of coins, for the entity commands.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Jar {
    coins: i64,
}

#[entity]
impl Jar {
    fn put(&mut self, coins: i64) {
        self.coins += coins;
    }
}

async fn wait_for_coins(client: &DurableClient, key: &str, coins: Option<i64>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while Jar::read(client, key).await.unwrap().map(|j| j.coins) != coins {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} never held {coins:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signals_shows_lists_and_deletes_entities() {
    let dir = std::env::temp_dir().join(format!("durable-cli-entities-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("durable.db");
    let runtime = Runtime::builder().sqlite(&db).start().await.unwrap();
    let client = runtime.client();

    // Signal through the CLI; the runtime's worker runs the operations.
    let out = ok(&durable(
        &db,
        &["entity", "signal", "jar", "kitchen", "put", "3"],
    ));
    assert!(out.contains("signalled `put` to @jar@kitchen"), "{out}");
    let out = json(&durable(
        &db,
        &["--json", "entity", "signal", "Jar", "hall", "put", "5"],
    ));
    assert_eq!(out["signalled"], "put");
    assert_eq!(out["name"], "jar", "names are lower-cased");
    wait_for_coins(&client, "kitchen", Some(3)).await;
    wait_for_coins(&client, "hall", Some(5)).await;

    // Show: a table, or JSON with the state.
    let out = ok(&durable(&db, &["entity", "show", "jar", "kitchen"]));
    assert!(
        out.contains("state") && out.contains(r#"{"coins":3}"#),
        "{out}"
    );
    let out = json(&durable(&db, &["--json", "entity", "show", "jar", "hall"]));
    assert_eq!(out["state"]["coins"], 5);
    assert!(out["lockedBy"].is_null());

    // List with paging and state.
    let out = json(&durable(
        &db,
        &[
            "--json",
            "entity",
            "list",
            "jar",
            "--state",
            "--page-size",
            "1",
        ],
    ));
    assert_eq!(out["entities"].as_array().unwrap().len(), 1);
    let token = out["continuationToken"].as_str().unwrap().to_owned();
    let rest = json(&durable(
        &db,
        &["--json", "entity", "list", "jar", "--continuation", &token],
    ));
    let mut keys: Vec<String> = out["entities"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["entities"].as_array().unwrap())
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["hall", "kitchen"]);
    let table = ok(&durable(&db, &["entity", "list", "--state"]));
    assert!(
        table.starts_with("NAME") && table.contains("kitchen") && table.contains("STATE"),
        "{table}"
    );

    // Delete, then show says it does not exist (exit 3).
    ok(&durable(&db, &["entity", "delete", "jar", "kitchen"]));
    wait_for_coins(&client, "kitchen", None).await;
    fails_with(
        &durable(&db, &["entity", "show", "jar", "kitchen"]),
        3,
        "does not exist",
    );

    // Bad input: exit 5 with a message; usage errors: exit 2.
    fails_with(
        &durable(&db, &["entity", "signal", "jar", "hall", "put", "{nope"]),
        5,
        "not valid JSON",
    );
    fails_with(
        &durable(&db, &["entity", "show", "j@r", "x"]),
        5,
        "the name contains `@`",
    );
    let usage = durable(&db, &["entity", "signal", "jar"]);
    assert_eq!(usage.status.code(), Some(2));
    // Nothing above disturbed the entity that was not deleted.
    wait_for_coins(&client, "hall", Some(5)).await;
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_works_on_a_postgres_task_hub() {
    let url = match std::env::var("DURABLE_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("DURABLE_REQUIRE_POSTGRES").is_none(),
                "the PostgreSQL CLI test needs DURABLE_POSTGRES_URL; run `eval \"$(scripts/postgres.sh start)\"`"
            );
            eprintln!("SKIPPED the_cli_works_on_a_postgres_task_hub: no PostgreSQL");
            return;
        }
    };
    let hub = format!("cli_{}", std::process::id());
    let runtime = Runtime::builder()
        .postgres_with(
            &url,
            durable_runtime::store::postgres::PostgresOptions::default().task_hub(hub.clone()),
        )
        .start()
        .await
        .unwrap();
    let client = runtime.client();
    let done = client
        .start_orchestration(Shouter, "hi".into())
        .instance_id("pg-shout")
        .await
        .unwrap();
    assert_eq!(done.wait_for_completion(WAIT).await.unwrap(), "HI");
    let db = Path::new(&url);
    let list = json(&durable(db, &["--task-hub", &hub, "--json", "list"]));
    assert_eq!(list["instances"][0]["instanceId"], "pg-shout");
    let show = json(&durable(
        db,
        &["--task-hub", &hub, "--json", "show", "pg-shout"],
    ));
    assert_eq!(show["output"], "HI");
    // Another task hub on the same database is empty.
    let other = json(&durable(
        db,
        &["--task-hub", "cli_other_hub", "--json", "list"],
    ));
    assert_eq!(other["instances"].as_array().unwrap().len(), 0);
    runtime.shutdown().await;
}

/// The CLI changes no file it should refuse (issue #14): someone else's database, an empty
/// file and a newer schema are refused with a message and left as they were; commands that
/// only read open the store read-only; bad flags are bad input, not store faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_what_is_not_its_store_and_never_writes_to_read() {
    let dir = std::env::temp_dir().join(format!("durable-cli-refuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // Someone else's database, for every command, reading or writing: refused, untouched.
    let other = dir.join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1);")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    for args in [
        &["list"][..],
        &["terminate", "some-id"],
        &["purge", "some-id"],
    ] {
        fails_with(
            &durable(&other, args),
            1,
            "is not a durable store: it holds other tables (users)",
        );
    }
    assert_eq!(
        std::fs::read(&other).unwrap(),
        before,
        "the file is unchanged"
    );

    // An empty file does not become a store.
    let empty = dir.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    fails_with(
        &durable(&empty, &["list"]),
        1,
        "is empty (no durable schema yet)",
    );
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);

    // A real store: reading commands work read-only (the file stays byte for byte).
    let db = dir.join("durable.db");
    let runtime = Runtime::builder().sqlite(&db).start().await.unwrap();
    let handle = Shouter::start(&runtime.client(), "hi".to_owned())
        .await
        .unwrap();
    handle.wait_for_completion(WAIT).await.unwrap();
    runtime.shutdown().await;
    let id = handle.instance_id().to_string();
    let store_bytes = std::fs::read(&db).unwrap();
    assert!(ok(&durable(&db, &["list"])).contains(&id));
    assert!(ok(&durable(&db, &["show", &id])).contains("Completed"));
    ok(&durable(&db, &["history", &id]));
    assert_eq!(
        std::fs::read(&db).unwrap(),
        store_bytes,
        "reading changed nothing"
    );

    // Bad flags: clear errors, no wrap-around, no "corrupt store".
    let huge = durable(&db, &["list", "--page-size", "18446744073709551615"]);
    assert_eq!(huge.status.code(), Some(2), "a usage error");
    fails_with(
        &durable(&db, &["list", "--page-size", "0"]),
        2,
        "0 is not in 1..=10000",
    );
    fails_with(
        &durable(&db, &["list", "--continuation", "garbage"]),
        5,
        "invalid continuation token \"garbage\"",
    );

    // A schema newer than this build: refused by name and version.
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    fails_with(
        &durable(&db, &["list"]),
        1,
        "has schema version 99, and this build uses version",
    );
    fails_with(
        &durable(&db, &["terminate", &id]),
        1,
        "has schema version 99",
    );
}

/// A reader that stops early (`durable show ID --json | head -c 1`) ends the CLI quietly
/// with exit 0, not a panic on the broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_cli_quietly() {
    let dir = std::env::temp_dir().join(format!("durable-cli-pipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("durable.db");
    let runtime = Runtime::builder().sqlite(&db).start().await.unwrap();
    // An output far larger than a pipe's buffer, so the write after the reader left fails.
    let handle = Shouter::start(&runtime.client(), "x".repeat(512 * 1024))
        .await
        .unwrap();
    handle.wait_for_completion(WAIT).await.unwrap();
    runtime.shutdown().await;
    let mut child = Command::new(DURABLE)
        .arg("--db")
        .arg(&db)
        .args(["show", handle.instance_id().as_str(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then hang up.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One HTTP/1.1 request to `address` (blocking; the server is another process): the status
/// code and the body. Sends the dashboard's action header, as its page does.
fn request(address: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         x-durable-dashboard: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_serves_the_dashboard_over_a_store() {
    let dir = std::env::temp_dir().join(format!("durable-cli-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("durable.db");
    // The worker runs in this process; the dashboard in the CLI's, with no user code.
    let runtime = Runtime::builder().sqlite(&db).start().await.unwrap();
    let client = runtime.client();
    let done = client
        .start_orchestration(Shouter, "dash".into())
        .instance_id("dash-1")
        .await
        .unwrap();
    done.wait_for_completion(WAIT).await.unwrap();
    client
        .start_orchestration(Listener, ())
        .instance_id("dash-2")
        .await
        .unwrap();
    wait_for(&client, "dash-2", RuntimeStatus::Running).await;

    let mut child = Command::new(DURABLE)
        .arg("--db")
        .arg(&db)
        .args(["--json", "dashboard", "--address", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let started: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(started["keyRequired"], false);
    let url = started["dashboard"].as_str().unwrap().to_owned();
    let address = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/dashboard/"))
        .unwrap()
        .to_owned();

    let (page, shown, raised) = tokio::task::spawn_blocking(move || {
        let page = request(&address, "GET", "/dashboard/", "");
        let shown = request(&address, "GET", "/dashboard/api/instances/dash-1", "");
        let raised = request(
            &address,
            "POST",
            "/dashboard/api/instances/dash-2/raise",
            r#"{"name":"number","data":7}"#,
        );
        (page, shown, raised)
    })
    .await
    .unwrap();
    assert_eq!(page.0, 200);
    assert!(page.1.contains("app.js"), "{}", page.1);
    assert_eq!(shown.0, 200, "{}", shown.1);
    let shown: Value = serde_json::from_str(&shown.1).unwrap();
    assert_eq!(shown["output"], "DASH");
    assert_eq!(raised.0, 202, "{}", raised.1);
    // This process's worker applies the event raised through the CLI's dashboard.
    wait_for(&client, "dash-2", RuntimeStatus::Completed).await;

    // Ctrl-C stops it cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // No key, no address but loopback.
    fails_with(
        &durable(&db, &["dashboard", "--address", "0.0.0.0:0"]),
        2,
        "not a loopback address",
    );
    runtime.shutdown().await;
}
