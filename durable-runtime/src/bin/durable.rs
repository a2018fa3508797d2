//! `durable`: inspect and manage the instances in a task hub's store, without the code
//! that defines them.
//!
//! ```text
//! durable --db app.db list --status Running,Failed
//! durable --db app.db show order-42
//! durable --db app.db history order-42 --json
//! durable --db app.db raise order-42 ApprovalEvent '{"approved":true,"by":"ana"}'
//! durable --db app.db terminate order-42 --reason "duplicate" --recursive
//! durable --db app.db purge --created-from 2026-01-01T00:00:00Z --status Completed
//! durable --db app.db entity list counter --state
//! durable --db app.db entity show counter metric-a
//! durable --db app.db entity signal counter metric-a add 5
//! durable --db app.db entity delete counter metric-a
//! durable --db postgres://user@db.internal/app --task-hub orders list
//! durable --db app.db dashboard --address 127.0.0.1:7071
//! ```
//! Exit codes: 0 success, 1 store or I/O failure, 2 usage error, 3 no such instance,
//! 4 the instance's status does not allow the operation, 5 bad input (id, JSON, time,
//! task hub name).

/// `println!` that ends the program quietly with exit 0 when standard output is a closed
/// pipe (`durable history ID --json | head -c 1`), as Unix tools do, instead of panicking;
/// any other write error ends it with exit 1 and a message.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            stdout_failed(&error);
        }
    }};
}

fn stdout_failed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: could not write the output: {error}");
    std::process::exit(1);
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use durable_runtime::http::{HttpOptions, HttpServer};
use durable_runtime::store::Store;
use durable_runtime::store::postgres::{PostgresOptions, PostgresStore};
use durable_runtime::store::sqlite::{SqliteOptions, SqliteStore};
use durable_runtime::store::{InstanceQuery, PurgeQuery};
use durable_runtime::{
    ClientError, DurableClient, EntityId, EntityMetadata, EntityQuery, InstanceId,
    OrchestrationStatus, Payload, Registry, RuntimeStatus,
};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "durable",
    version,
    about = "Inspect and manage durable orchestration instances in a store"
)]
struct Cli {
    /// The task hub's store: a SQLite file, or a PostgreSQL URL (`postgres://...`).
    #[arg(long, env = "DURABLE_DB", global = true, default_value = "durable.db")]
    db: PathBuf,
    /// The task hub (schema) on PostgreSQL.
    #[arg(
        long,
        env = "DURABLE_TASK_HUB",
        global = true,
        default_value = "durable"
    )]
    task_hub: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List instances, newest filters first.
    List {
        /// Only these statuses (comma-separated, e.g. `Running,Failed`).
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only ids starting with this (case-sensitive); the list then comes in id order,
        /// otherwise in creation order.
        #[arg(long)]
        prefix: Option<String>,
        /// Only instances of this orchestrator function (its registered name).
        #[arg(long)]
        name: Option<String>,
        /// Only instances created at or after this time (RFC 3339).
        #[arg(long)]
        created_from: Option<String>,
        /// Only instances created before this time (RFC 3339).
        #[arg(long)]
        created_to: Option<String>,
        /// Instances per page (1 to 10,000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        page_size: u32,
        /// The token printed at the end of the previous page.
        #[arg(long)]
        continuation: Option<String>,
    },
    /// Show one instance: status, input, output, custom status, failure.
    Show {
        /// The instance id.
        instance_id: String,
    },
    /// Show an instance's history.
    History {
        /// The instance id.
        instance_id: String,
    },
    /// Raise an external event.
    Raise {
        /// The instance id.
        instance_id: String,
        /// The event name.
        event: String,
        /// The event data, as JSON (default `null`).
        data: Option<String>,
    },
    /// Terminate an instance.
    Terminate {
        /// The instance id.
        instance_id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Terminate its unfinished sub-orchestrations too.
        #[arg(long)]
        recursive: bool,
    },
    /// Suspend a running instance.
    Suspend {
        /// The instance id.
        instance_id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Resume a suspended instance.
    Resume {
        /// The instance id.
        instance_id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Rewind a failed instance: it runs again from its failures, keeping what succeeded
    /// (a worker applies it; Durable Functions' rewind).
    Rewind {
        /// The instance id.
        instance_id: String,
        /// Why (recorded in history).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Delete a finished instance, or every finished instance matching a filter.
    Purge {
        /// The instance id (or use the filters).
        instance_id: Option<String>,
        /// Purge finished instances created at or after this time (RFC 3339).
        #[arg(long, conflicts_with = "instance_id")]
        created_from: Option<String>,
        /// ... and before this time.
        #[arg(long, requires = "created_from")]
        created_to: Option<String>,
        /// ... with these statuses (comma-separated; default every finished status).
        #[arg(long, value_delimiter = ',', requires = "created_from")]
        status: Vec<String>,
    },
    /// Durable entities: list, show, signal, delete.
    #[command(subcommand)]
    Entity(EntityCommand),
    /// Serve the web dashboard (at /dashboard/, beside the HTTP management API) over this
    /// store until Ctrl-C; no worker runs here, so actions are applied by the store's workers.
    Dashboard {
        /// Where to listen. An address other than loopback needs --key.
        #[arg(long, default_value = "127.0.0.1:7071")]
        address: SocketAddr,
        /// Require this key on every request: open the dashboard as /dashboard/?code=KEY.
        #[arg(long, env = "DURABLE_HTTP_KEY")]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum EntityCommand {
    /// List existing entities, optionally of one name.
    List {
        /// Only entities of this name.
        name: Option<String>,
        /// Only keys starting with this (with a name).
        #[arg(long, requires = "name")]
        key_prefix: Option<String>,
        /// Print each entity's state too.
        #[arg(long)]
        state: bool,
        /// Entities per page (1 to 10,000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        page_size: u32,
        /// The token printed at the end of the previous page.
        #[arg(long)]
        continuation: Option<String>,
    },
    /// Show one entity: its state, lock holder and backlog.
    Show {
        /// The entity name.
        name: String,
        /// The key.
        key: String,
    },
    /// Signal an operation (one-way); the entity's worker runs it.
    Signal {
        /// The entity name.
        name: String,
        /// The key.
        key: String,
        /// The operation.
        operation: String,
        /// The input, as JSON (default `null`).
        input: Option<String>,
    },
    /// Delete an entity's state (signals its `delete` operation).
    Delete {
        /// The entity name.
        name: String,
        /// The key.
        key: String,
    },
}

impl Command {
    /// Whether the command only reads (then the store is opened read-only).
    fn reads_only(&self) -> bool {
        match self {
            Command::List { .. } | Command::Show { .. } | Command::History { .. } => true,
            Command::Entity(command) => {
                matches!(
                    command,
                    EntityCommand::List { .. } | EntityCommand::Show { .. }
                )
            }
            Command::Raise { .. }
            | Command::Terminate { .. }
            | Command::Suspend { .. }
            | Command::Resume { .. }
            | Command::Rewind { .. }
            | Command::Purge { .. }
            | Command::Dashboard { .. } => false,
        }
    }
}

fn entity_id(name: &str, key: &str) -> Result<EntityId, Failure> {
    EntityId::new(name, key).map_err(|e| bad_input(e.to_string()))
}

fn entity_json(metadata: &EntityMetadata) -> Value {
    json!({
        "name": metadata.id.name(),
        "key": metadata.id.key(),
        "lastModified": metadata.last_modified.to_rfc3339(),
        "lockedBy": metadata.locked_by.as_ref().map(InstanceId::as_str),
        "backlog": metadata.backlog_queue_size,
        "state": metadata.state.as_ref().map(|s| serde_json::from_str::<Value>(s.as_json()).unwrap_or(Value::Null)),
    })
}

async fn run_entity(
    client: &DurableClient,
    json_output: bool,
    command: EntityCommand,
) -> Result<(), Failure> {
    match command {
        EntityCommand::List {
            name,
            key_prefix,
            state,
            page_size,
            continuation,
        } => {
            let mut query = EntityQuery::default()
                .include_state(state)
                .page_size(page_size as usize)
                .continuation_token(continuation);
            query.name = name;
            query.key_prefix = key_prefix;
            let page = client.list_entities(&query).await?;
            if json_output {
                let entities: Vec<Value> = page.entities.iter().map(entity_json).collect();
                println!(
                    "{}",
                    json!({ "entities": entities, "continuationToken": page.continuation_token })
                );
            } else {
                let rows: Vec<Vec<String>> = page
                    .entities
                    .iter()
                    .map(|e| {
                        let mut row = vec![
                            e.id.name().to_owned(),
                            e.id.key().to_owned(),
                            e.last_modified.format("%Y-%m-%d %H:%M:%S").to_string(),
                            e.locked_by
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                        ];
                        if state {
                            row.push(short(&entity_json(e)["state"], 70));
                        }
                        row
                    })
                    .collect();
                let mut header = vec!["NAME", "KEY", "MODIFIED (UTC)", "LOCKED BY"];
                if state {
                    header.push("STATE");
                }
                table(&header, &rows);
                if let Some(token) = page.continuation_token {
                    println!("more: durable entity list --continuation '{token}'");
                }
            }
        }
        EntityCommand::Show { name, key } => {
            let id = entity_id(&name, &key)?;
            let metadata = client.get_entity(&id, true).await?.ok_or_else(|| Failure {
                code: 3,
                message: format!(
                    "entity {id} does not exist (no operation has created it, or it was deleted)"
                ),
            })?;
            let body = entity_json(&metadata);
            if json_output {
                println!("{body}");
            } else {
                let rows: Vec<Vec<String>> = [
                    "name",
                    "key",
                    "lastModified",
                    "lockedBy",
                    "backlog",
                    "state",
                ]
                .iter()
                .filter(|f| !body[**f].is_null())
                .map(|f| {
                    let value = match body[*f].as_str() {
                        Some(text) if *f != "state" => text.to_owned(),
                        _ => body[*f].to_string(),
                    };
                    vec![(*f).to_owned(), value]
                })
                .collect();
                table(&["FIELD", "VALUE"], &rows);
            }
        }
        EntityCommand::Signal {
            name,
            key,
            operation,
            input,
        } => {
            let id = entity_id(&name, &key)?;
            let input = match input {
                Some(text) => Payload::from_json(text)
                    .map_err(|e| bad_input(format!("the input is not valid JSON: {e}")))?,
                None => Payload::null(),
            };
            client
                .signal_entity_raw(&id, &operation, input, None)
                .await?;
            report(
                json_output,
                &format!("signalled `{operation}` to {id}"),
                json!({ "signalled": operation, "name": id.name(), "key": id.key() }),
            );
        }
        EntityCommand::Delete { name, key } => {
            let id = entity_id(&name, &key)?;
            client.delete_entity(&id).await?;
            report(
                json_output,
                &format!("deleting {id}"),
                json!({ "deleted": { "name": id.name(), "key": id.key() } }),
            );
        }
    }
    Ok(())
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        let code = match &error {
            ClientError::InstanceNotFound(_) => 3,
            ClientError::InvalidState { .. }
            | ClientError::Store(durable_runtime::StoreError::InstanceAlreadyExists { .. }) => 4,
            ClientError::InvalidInstanceId(_)
            | ClientError::InputEncode { .. }
            | ClientError::Store(durable_runtime::StoreError::InvalidContinuationToken(_)) => 5,
            _ => 1,
        };
        Self {
            code,
            message: error.to_string(),
        }
    }
}

fn bad_input(message: impl Into<String>) -> Failure {
    Failure {
        code: 5,
        message: message.into(),
    }
}

fn instance_id(text: &str) -> Result<InstanceId, Failure> {
    InstanceId::new(text).map_err(|e| bad_input(e.to_string()))
}

fn time(text: Option<&str>, flag: &str) -> Result<Option<DateTime<Utc>>, Failure> {
    text.map(|t| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                bad_input(format!(
                    "{flag} must be an RFC 3339 time like 2026-01-31T12:00:00Z: {e}"
                ))
            })
    })
    .transpose()
}

fn statuses(list: &[String]) -> Result<Vec<RuntimeStatus>, Failure> {
    list.iter()
        .map(|s| RuntimeStatus::from_str(s.trim()).map_err(|e| bad_input(e.to_string())))
        .collect()
}

fn payload_json(payload: Option<&durable_runtime::Payload>) -> Value {
    payload
        .and_then(|p| serde_json::from_str(p.as_json()).ok())
        .unwrap_or(Value::Null)
}

fn status_json(status: &OrchestrationStatus) -> Value {
    json!({
        "instanceId": status.instance_id.as_str(),
        "name": status.name,
        "version": status.version,
        "runtimeStatus": status.runtime_status.as_str(),
        "createdTime": status.created_time.to_rfc3339(),
        "lastUpdatedTime": status.last_updated_time.to_rfc3339(),
        "input": payload_json(status.input.as_ref()),
        "output": payload_json(status.output.as_ref()),
        "customStatus": payload_json(status.custom_status.as_ref()),
        "failureDetails": status.failure,
        "parentInstanceId": status.parent_instance_id.as_ref().map(InstanceId::as_str),
    })
}

/// Prints rows as a left-aligned table with a header.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn short(value: &Value, max: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max {
        text
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let location = cli.db.to_string_lossy().into_owned();
    let store: Arc<dyn Store> = if location.starts_with("postgres://")
        || location.starts_with("postgresql://")
    {
        let options = PostgresOptions::default()
            .task_hub(cli.task_hub.clone())
            .max_connections(2);
        Arc::new(
            PostgresStore::connect_with(&location, options)
                .await
                .map_err(|e| Failure {
                    // A task hub name the store refuses is bad input, like a bad id.
                    code: if matches!(e, durable_runtime::StoreError::InvalidTaskHub { .. }) {
                        5
                    } else {
                        1
                    },
                    message: e.to_string(),
                })?,
        )
    } else {
        if !cli.db.exists() {
            return Err(Failure {
                code: 1,
                message: format!(
                    "no database at {}; pass the task hub's SQLite file or PostgreSQL URL with --db (or DURABLE_DB)",
                    cli.db.display()
                ),
            });
        }
        // Only an existing store is opened, never created; commands that only read open it
        // read-only, so they never migrate or change the file.
        let options = SqliteOptions::default()
            .create(false)
            .read_only(cli.command.reads_only());
        Arc::new(
            SqliteStore::open_with(&cli.db, options).map_err(|e| Failure {
                code: 1,
                message: e.to_string(),
            })?,
        )
    };
    let client = DurableClient::new(store);
    match cli.command {
        Command::List {
            status,
            prefix,
            name,
            created_from,
            created_to,
            page_size,
            continuation,
        } => {
            let mut query = InstanceQuery::default()
                .statuses(statuses(&status)?)
                .page_size(page_size as usize)
                .continuation_token(continuation);
            query.created_from = time(created_from.as_deref(), "--created-from")?;
            query.created_to = time(created_to.as_deref(), "--created-to")?;
            query.instance_id_prefix = prefix;
            query.name = name;
            let page = client.list_instances(&query).await?;
            if cli.json {
                let instances: Vec<Value> = page.instances.iter().map(status_json).collect();
                println!(
                    "{}",
                    json!({ "instances": instances, "continuationToken": page.continuation_token })
                );
            } else {
                let rows: Vec<Vec<String>> = page
                    .instances
                    .iter()
                    .map(|s| {
                        vec![
                            s.instance_id.to_string(),
                            s.name.clone(),
                            s.runtime_status.to_string(),
                            s.created_time.format("%Y-%m-%d %H:%M:%S").to_string(),
                            s.last_updated_time.format("%Y-%m-%d %H:%M:%S").to_string(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "INSTANCE ID",
                        "NAME",
                        "STATUS",
                        "CREATED (UTC)",
                        "UPDATED (UTC)",
                    ],
                    &rows,
                );
                if let Some(token) = page.continuation_token {
                    println!("more: durable list --continuation '{token}'");
                }
            }
        }
        Command::Show { instance_id: id } => {
            let id = instance_id(&id)?;
            let status = client
                .get_status(&id)
                .await?
                .ok_or(ClientError::InstanceNotFound(id))?;
            let body = status_json(&status);
            if cli.json {
                println!("{body}");
            } else {
                let fields = [
                    "instanceId",
                    "name",
                    "version",
                    "runtimeStatus",
                    "createdTime",
                    "lastUpdatedTime",
                    "parentInstanceId",
                    "input",
                    "output",
                    "customStatus",
                    "failureDetails",
                ];
                let rows: Vec<Vec<String>> = fields
                    .iter()
                    .filter(|f| !body[**f].is_null())
                    .map(|f| {
                        // Payloads print as JSON, so `"42"` and `42` stay distinct.
                        let payload =
                            matches!(*f, "input" | "output" | "customStatus" | "failureDetails");
                        let value = match body[*f].as_str() {
                            Some(text) if !payload => text.to_owned(),
                            _ => body[*f].to_string(),
                        };
                        vec![(*f).to_owned(), value]
                    })
                    .collect();
                table(&["FIELD", "VALUE"], &rows);
            }
        }
        Command::History { instance_id: id } => {
            let id = instance_id(&id)?;
            let history = client.read_history(&id).await?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string(&history).map_err(|e| Failure {
                        code: 1,
                        message: e.to_string()
                    })?
                );
            } else {
                let rows: Vec<Vec<String>> = history
                    .iter()
                    .enumerate()
                    .map(|(index, event)| {
                        let details = serde_json::to_value(&event.kind).unwrap_or(Value::Null);
                        let details = details
                            .as_object()
                            .and_then(|o| o.values().next())
                            .cloned()
                            .unwrap_or(Value::Null);
                        vec![
                            index.to_string(),
                            if event.event_id < 0 {
                                String::new()
                            } else {
                                event.event_id.to_string()
                            },
                            event.timestamp.format("%H:%M:%S%.3f").to_string(),
                            event.kind.type_name().to_owned(),
                            if details.is_null() {
                                String::new()
                            } else {
                                short(&details, 70)
                            },
                        ]
                    })
                    .collect();
                table(&["#", "SEQ", "TIME (UTC)", "EVENT", "DETAILS"], &rows);
            }
        }
        Command::Raise {
            instance_id: id,
            event,
            data,
        } => {
            let id = instance_id(&id)?;
            let data: Value = match data {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| bad_input(format!("the event data is not valid JSON: {e}")))?,
                None => Value::Null,
            };
            client.raise_event(&id, &event, &data).await?;
            report(
                cli.json,
                &format!("raised `{event}` on {id}"),
                json!({ "raised": event, "instanceId": id.as_str() }),
            );
        }
        Command::Terminate {
            instance_id: id,
            reason,
            recursive,
        } => {
            let id = instance_id(&id)?;
            client
                .terminate(
                    &id,
                    reason.as_deref(),
                    durable_runtime::TerminateScope::recursive(recursive),
                )
                .await?;
            report(
                cli.json,
                &format!("terminating {id}"),
                json!({ "terminated": id.as_str() }),
            );
        }
        Command::Suspend {
            instance_id: id,
            reason,
        } => {
            let id = instance_id(&id)?;
            client.suspend(&id, reason.as_deref()).await?;
            report(
                cli.json,
                &format!("suspending {id}"),
                json!({ "suspended": id.as_str() }),
            );
        }
        Command::Resume {
            instance_id: id,
            reason,
        } => {
            let id = instance_id(&id)?;
            client.resume(&id, reason.as_deref()).await?;
            report(
                cli.json,
                &format!("resuming {id}"),
                json!({ "resumed": id.as_str() }),
            );
        }
        Command::Rewind {
            instance_id: id,
            reason,
        } => {
            let id = instance_id(&id)?;
            client.rewind(&id, reason.as_deref()).await?;
            report(
                cli.json,
                &format!("rewinding {id} (a worker applies it)"),
                json!({ "rewound": id.as_str() }),
            );
        }
        Command::Purge {
            instance_id: id,
            created_from,
            created_to,
            status,
        } => {
            let deleted = match (id, created_from) {
                (Some(id), _) => {
                    client.purge(&instance_id(&id)?).await?;
                    1
                }
                (None, Some(from)) => {
                    let created_from = time(Some(&from), "--created-from")?;
                    let created_to = time(created_to.as_deref(), "--created-to")?;
                    let mut query = PurgeQuery::default().statuses(statuses(&status)?);
                    query.created_from = created_from;
                    query.created_to = created_to;
                    client.purge_instances(&query).await?
                }
                (None, None) => {
                    return Err(bad_input(
                        "give an instance id, or --created-from to purge by filter",
                    ));
                }
            };
            report(
                cli.json,
                &format!("purged {deleted} instance(s)"),
                json!({ "instancesDeleted": deleted }),
            );
        }
        Command::Entity(command) => run_entity(&client, cli.json, command).await?,
        Command::Dashboard { address, key } => dashboard(client, cli.json, address, key).await?,
    }
    Ok(())
}

/// Serves the dashboard and the HTTP API over `client`'s store until Ctrl-C. With no user
/// code linked in, the registry is empty: the dashboard needs none, and the API's starts
/// answer that the orchestration is unknown.
async fn dashboard(
    client: DurableClient,
    json_output: bool,
    address: SocketAddr,
    key: Option<String>,
) -> Result<(), Failure> {
    if key.is_none() && !address.ip().is_loopback() {
        return Err(Failure {
            code: 2,
            message: format!(
                "{address} is not a loopback address: set --key (or DURABLE_HTTP_KEY) to serve the dashboard there"
            ),
        });
    }
    let keyed = key.is_some();
    let mut options = HttpOptions::default().address(address);
    options.key = key;
    let router = durable_runtime::http::router(client, Registry::default(), &options);
    let server = HttpServer::start(router, &options)
        .await
        .map_err(|e| Failure {
            code: 1,
            message: format!("could not listen on {address}: {e}"),
        })?;
    let url = format!(
        "http://{}{}/",
        server.local_addr(),
        durable_runtime::dashboard::PATH
    );
    report(
        json_output,
        &format!(
            "dashboard on {url}{}; Ctrl-C stops",
            if keyed { "?code=KEY" } else { "" }
        ),
        json!({ "dashboard": url, "keyRequired": keyed }),
    );
    let stopped = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    stopped.map_err(|e| Failure {
        code: 1,
        message: format!("could not wait for Ctrl-C: {e}"),
    })
}

fn report(json: bool, text: &str, value: Value) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if json {
                eprintln!(
                    "{}",
                    json!({ "error": failure.message, "exitCode": failure.code })
                );
            } else {
                eprintln!("error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
