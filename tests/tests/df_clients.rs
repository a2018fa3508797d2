//! Durable Functions' own client libraries, unchanged, against our HTTP API: the Python
//! client (`azure-functions-durable`) and the JavaScript client (`durable-functions`, in its
//! RPC mode and its webhook mode) each drive every call they offer against a server started
//! here, through the driver scripts in `tests/df-clients/`.
//!
//! Each driver prints one JSON line per named check (`{"client":..,"call":..,"ok":..}`); a
//! call that Durable Functions itself refuses (an event raised to a completed instance, ...)
//! is checked to be refused the same way. The clients are installed by
//! `scripts/df-clients.sh install` into `.df-clients/` (run here when they are missing);
//! without them, and without `DURABLE_REQUIRE_DF_CLIENTS` (which `.ci/run` sets), the test is
//! skipped with the reason printed.
//!
//! Checks marked `"needs":"rewind"` use `POST /instances/{id}/rewind`; while this server has
//! no such route they are reported as pending, not failed.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use durable_runtime::http::HttpOptions;
use durable_runtime::prelude::*;
use serde_json::{Value, json};

/// The task hub name the server is given and the binding carries.
const TASK_HUB: &str = "DfClientsHub";
/// The key the webhook-mode server requires (DF's system key travels as `code=`).
const KEY: &str = "df-clients-key";

#[activity]
async fn say_hello(city: String) -> Result<String, ActivityError> {
    Ok(format!("Hello {city}!"))
}

/// Completes: greets each city in turn.
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

/// Completes with its input, whatever JSON it is.
#[orchestrator]
async fn echo(_ctx: OrchestrationContext, input: Value) -> Result<Value, OrchestrationError> {
    Ok(input)
}

/// Waits for the event `go` and completes with its data.
#[orchestrator]
async fn waiter(ctx: OrchestrationContext) -> Result<Value, OrchestrationError> {
    ctx.set_custom_status(&json!({ "waiting": "go" }))?;
    Ok(ctx.wait_for_external_event::<Value>("go").await?)
}

/// The keys `flaky_step` has failed once for.
static FAILED_ONCE: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Fails (not retried) the first time it is called with a key, succeeds after that: the
/// orchestration calling it fails, and a rewind of it completes.
#[activity]
async fn flaky_step(key: String) -> Result<String, ActivityError> {
    let first = FAILED_ONCE
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(key.clone());
    if first {
        Err(ActivityError::new(format!("{key}: the first attempt fails")).non_retriable())
    } else {
        Ok(format!("{key}: done"))
    }
}

/// Fails on its first run (see `flaky_step`).
#[orchestrator]
async fn fails_once(ctx: OrchestrationContext, key: String) -> Result<String, OrchestrationError> {
    Ok(ctx.call_activity(FlakyStep, key).await?)
}

/// A counter entity.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    value: i64,
}

#[entity]
impl Counter {
    fn add(&mut self, amount: i64) {
        self.value += amount;
    }

    fn reset(&mut self) {
        self.value = 0;
    }
}

/// Where the clients are, installing them if needed; `None` (with the reason printed) when
/// they cannot be had and they are not required.
fn df_clients_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let required = std::env::var_os("DURABLE_REQUIRE_DF_CLIENTS").is_some();
    let script = root.join("scripts/df-clients.sh");
    let output = Command::new("bash").arg(&script).arg("install").output();
    match output {
        Ok(output) if output.status.success() => {
            let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            Some(PathBuf::from(dir))
        }
        other => {
            let reason = match other {
                Ok(output) => format!(
                    "`scripts/df-clients.sh install` failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ),
                Err(error) => format!("could not run `scripts/df-clients.sh install`: {error}"),
            };
            assert!(
                !required,
                "DURABLE_REQUIRE_DF_CLIENTS is set but the clients are missing: {reason}"
            );
            eprintln!("SKIPPED df_clients: {reason}");
            None
        }
    }
}

/// The `durableClient` binding data the Functions host hands a client function: the JSON
/// both clients are constructed from (`DurableOrchestrationBindings` in Python,
/// `OrchestrationClientInputData` in JavaScript). `rpc_base_url` is the RPC mode's base
/// (Python always uses it; JavaScript only when present).
fn binding(base: &str, rpc_base_url: Option<&str>, key: Option<&str>) -> Value {
    let code = key.map(|key| format!("code={key}"));
    let query = |extra: &str| {
        let mut parts = vec![extra.to_owned()];
        parts.retain(|p| !p.is_empty());
        parts.push(format!("taskHub={TASK_HUB}&connection=Storage"));
        parts.extend(code.clone());
        parts.join("&")
    };
    let instance = format!("{base}/instances/INSTANCEID");
    let creation_query = code.clone().map(|c| format!("?{c}")).unwrap_or_default();
    let mut value = json!({
        "taskHubName": TASK_HUB,
        "creationUrls": {
            "createNewInstancePostUri": format!("{base}/orchestrators/{{functionName}}[/{{instanceId}}]{creation_query}"),
            "createAndWaitOnNewInstancePostUri": format!(
                "{base}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}{}",
                code.clone().map(|c| format!("&{c}")).unwrap_or_default()
            ),
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": format!("{instance}?{}", query("")),
            "sendEventPostUri": format!("{instance}/raiseEvent/{{eventName}}?{}", query("")),
            "terminatePostUri": format!("{instance}/terminate?{}", query("reason={text}")),
            "rewindPostUri": format!("{instance}/rewind?{}", query("reason={text}")),
            "purgeHistoryDeleteUri": format!("{instance}?{}", query("")),
            "restartPostUri": format!("{instance}/restart?{}", query("")),
            "suspendPostUri": format!("{instance}/suspend?{}", query("reason={text}")),
            "resumePostUri": format!("{instance}/resume?{}", query("reason={text}")),
        },
        "baseUrl": base,
        "requiredQueryStringParameters": code.unwrap_or_default(),
    });
    if let Some(rpc) = rpc_base_url {
        value["rpcBaseUrl"] = Value::String(rpc.to_owned());
    }
    value
}

/// One check a driver reported.
#[derive(Debug)]
struct Check {
    client: String,
    call: String,
    ok: bool,
    needs: Option<String>,
    line: String,
}

/// One driver script and how to run it.
struct Driver {
    /// The client (and mode) it drives, as its checks name it.
    label: &'static str,
    /// The interpreter.
    program: &'static str,
    /// The script.
    script: PathBuf,
    /// Where the client is and how it is bound to the server.
    env: Vec<(&'static str, String)>,
}

impl Driver {
    /// Runs the driver and returns its checks (a driver that printed none, or crashed, is
    /// one failed check named `driver`).
    fn run(self) -> Vec<Check> {
        let Self {
            label,
            program,
            script,
            env,
        } = self;
        run_driver(label, program, &script, &env)
    }
}

fn run_driver(label: &str, program: &str, script: &Path, env: &[(&str, String)]) -> Vec<Check> {
    let mut command = Command::new(program);
    command.arg(script).env("DF_CLIENT_LABEL", label);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output();
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            return vec![Check {
                client: label.to_owned(),
                call: "driver".to_owned(),
                ok: false,
                needs: None,
                line: format!("could not run {program}: {error}"),
            }];
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut checks: Vec<Check> = stdout
        .lines()
        .filter_map(|line| {
            let value: Value = serde_json::from_str(line).ok()?;
            Some(Check {
                client: value["client"].as_str()?.to_owned(),
                call: value["call"].as_str()?.to_owned(),
                ok: value["ok"].as_bool()?,
                needs: value["needs"].as_str().map(str::to_owned),
                line: line.to_owned(),
            })
        })
        .collect();
    if checks.is_empty() || !output.status.success() && checks.iter().all(|c| c.ok) {
        checks.push(Check {
            client: label.to_owned(),
            call: "driver".to_owned(),
            ok: false,
            needs: None,
            line: format!(
                "{program} exited with {}; stderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    checks
}

/// Whether the server routes `POST /instances/{id}/rewind` (its fallback answers "no such
/// route" otherwise).
async fn has_rewind_route(base: &str) -> bool {
    let response = reqwest::Client::new()
        .post(format!(
            "{base}/instances/no-such-instance/rewind?reason=probe"
        ))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap_or_default();
    !body.contains("no such route")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_functions_clients_drive_every_call() {
    let Some(clients) = df_clients_dir() else {
        return;
    };
    let runtime = Runtime::builder()
        .sqlite(durable_tests::temp_dir("df-clients").join("durable.db"))
        .start()
        .await
        .unwrap();
    let options = |key: Option<&str>| {
        let mut options = HttpOptions::default()
            .address("127.0.0.1:0".parse().unwrap())
            .task_hub(TASK_HUB);
        options.key = key.map(str::to_owned);
        options
    };
    // RPC mode talks to an endpoint without a key (Durable Functions' local RPC listener);
    // webhook mode goes through the public URLs, which carry the system key.
    let open = runtime.serve_http(options(None)).await.unwrap();
    let keyed = runtime.serve_http(options(Some(KEY))).await.unwrap();
    let open_base = format!("http://{}/runtime/webhooks/durabletask", open.local_addr());
    let keyed_base = format!("http://{}/runtime/webhooks/durabletask", keyed.local_addr());
    let rpc_binding = binding(&open_base, Some(&format!("{open_base}/")), None);
    let webhook_binding = binding(&keyed_base, None, Some(KEY));
    // The server's own rendering of the binding is the one the host would pass.
    assert_eq!(
        options(None).durable_client_binding(&open_base),
        rpc_binding
    );
    assert_eq!(
        options(Some(KEY)).durable_client_binding(&keyed_base),
        webhook_binding
    );

    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("df-clients");
    let python = scripts.join("python_client.py");
    let node = scripts.join("node_client.js");
    let python_path = clients.join("python").display().to_string();
    let node_path = clients.join("node/node_modules").display().to_string();
    let drivers = [
        Driver {
            label: "python",
            program: "python3",
            script: python,
            env: vec![
                ("PYTHONPATH", python_path),
                ("DF_BINDING", rpc_binding.to_string()),
            ],
        },
        Driver {
            label: "node-rpc",
            program: "node",
            script: node.clone(),
            env: vec![
                ("NODE_PATH", node_path.clone()),
                ("DF_BINDING", rpc_binding.to_string()),
                ("WEBSITE_HOSTNAME", open.local_addr().to_string()),
            ],
        },
        Driver {
            label: "node-webhook",
            program: "node",
            script: node,
            env: vec![
                ("NODE_PATH", node_path),
                ("DF_BINDING", webhook_binding.to_string()),
                ("WEBSITE_HOSTNAME", keyed.local_addr().to_string()),
            ],
        },
    ];
    let mut checks = Vec::new();
    for driver in drivers {
        let found = tokio::task::spawn_blocking(move || driver.run())
            .await
            .unwrap();
        checks.extend(found);
    }
    let rewind_route = has_rewind_route(&open_base).await;
    open.shutdown().await;
    keyed.shutdown().await;
    runtime.shutdown().await;

    let mut clients: Vec<&str> = checks.iter().map(|c| c.client.as_str()).collect();
    clients.dedup();
    for client in &clients {
        let of_client: Vec<&Check> = checks.iter().filter(|c| c.client == *client).collect();
        let passed = of_client.iter().filter(|c| c.ok).count();
        eprintln!("{client}: {passed}/{} checks passed", of_client.len());
    }
    let (pending, failed): (Vec<&Check>, Vec<&Check>) = checks
        .iter()
        .filter(|c| !c.ok)
        .partition(|c| c.needs.as_deref() == Some("rewind") && !rewind_route);
    for check in &pending {
        eprintln!(
            "PENDING (no rewind route yet) {} {}: {}",
            check.client, check.call, check.line
        );
    }
    for check in &failed {
        eprintln!("FAILED {} {}: {}", check.client, check.call, check.line);
    }
    assert!(
        failed.is_empty(),
        "{} of {} client checks failed: {}",
        failed.len(),
        checks.len(),
        failed
            .iter()
            .map(|c| format!("{}/{}", c.client, c.call))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
