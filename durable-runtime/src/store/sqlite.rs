//! [`SqliteStore`]: the embedded default store, one SQLite file.
//!
//! Durability: WAL with `synchronous=FULL` by default, so a commit is on disk when it
//! returns and survives power loss, not only a killed process ([`Durability::Normal`] is the
//! relaxed, labelled alternative).
//!
//! Group commit: every write goes to one writer thread, which takes every request waiting
//! in its queue (turn commits, activity completions, work-item fetches, creates) and runs
//! them in one transaction; one fsync then serves them all. A request either runs inside its
//! own savepoint, so its error undoes only its writes, or (turn commits, message enqueues)
//! checks everything before it writes, so a refusal writes nothing and only a back-end
//! failure part-way is left, which rolls the whole batch back (savepoints copy every page
//! a request first touches, a large share of the writer's work when each turn had one).
//! Savepoint journals stay in memory (`temp_store = MEMORY`). Reads (status, listing,
//! history) use a small pool of read connections, which WAL lets run beside the writer.
//!
//! Only this module knows SQL (Architecture Invariant). Payloads are stored as their JSON
//! text; history events and messages as JSON documents.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::codec::{
    STATUS_COLUMNS, backend, corrupt, decode_event, decode_payload, encode_json, from_micros,
    micros, status_from_code,
};
use super::{
    ActivityCompletion, ActivityWorkItem, InstancePage, InstanceQuery, NewInstance, Notifier,
    OrchestrationCommit, OrchestrationMessage, OrchestrationWorkItem, OutboundMessage, PurgeQuery,
    Store, decode_continuation, failed_sub_orchestration, into_page, is_control, lease_millis,
};
use crate::clock;
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{FailureDetails, OrchestrationStatus, RuntimeStatus};

/// How far a commit must get before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: on disk when the commit returns; survives power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process, not of the machine.
    Normal,
}

/// Options for [`SqliteStore::open_with`].
#[derive(Debug, Clone, Default)]
pub struct SqliteOptions {
    /// The durability level (default [`Durability::Full`]).
    pub durability: Durability,
}

/// The schema, one migration per entry; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE instances (
    instance_id   TEXT PRIMARY KEY,
    execution_id  TEXT NOT NULL,
    name          TEXT NOT NULL,
    version       TEXT,
    status        INTEGER NOT NULL,
    input         TEXT NOT NULL,
    output        TEXT,
    custom_status TEXT,
    failure       TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    history_len   INTEGER NOT NULL DEFAULT 0,
    lock_token    TEXT,
    lock_expires  INTEGER
);
CREATE INDEX instances_by_created ON instances (created_at, instance_id);
CREATE INDEX instances_by_status ON instances (status, created_at);
CREATE TABLE history (
    instance_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    instance_id  TEXT NOT NULL,
    execution_id TEXT,
    visible_at   INTEGER NOT NULL,
    event        TEXT NOT NULL
);
CREATE INDEX messages_by_instance ON messages (instance_id, id);
CREATE TABLE activities (
    id            INTEGER PRIMARY KEY,
    instance_id   TEXT NOT NULL,
    execution_id  TEXT NOT NULL,
    scheduled_id  INTEGER NOT NULL,
    name          TEXT NOT NULL,
    input         TEXT NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    lock_token    TEXT,
    lock_expires  INTEGER
);
CREATE INDEX activities_by_instance ON activities (instance_id);
"#,
    r#"
ALTER TABLE instances ADD COLUMN parent_instance_id TEXT;
CREATE INDEX instances_by_parent ON instances (parent_instance_id);
ALTER TABLE messages ADD COLUMN control INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_by_visible ON messages (visible_at);
"#,
    r#"
-- With the bundled SQLite's STAT4, a bound range constraint on an indexed column
-- (`visible_at <= ?`) re-prepares the statement on every new value: one full re-parse per
-- fetch. The table holds only pending messages, so scanning it is cheaper.
DROP INDEX messages_by_visible;
"#,
];

type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// One request for the writer thread.
struct Work {
    /// Runs the request; returns whether it succeeded and how to answer.
    run: Job,
    /// Whether it runs in its own savepoint, so that any error undoes only its writes.
    /// False for requests that refuse (return an error) only before their first write:
    /// they then fail after writing only on a back-end error, which rolls back the whole
    /// batch, every request in it getting the error. Savepoints cost: each page a request
    /// first touches inside one is copied to the sub-journal.
    savepoint: bool,
}

/// The embedded SQLite store; see the [module docs](self).
#[derive(Debug)]
pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<Work>>,
    readers: Arc<ReaderPool>,
    notifier: Arc<Notifier>,
    path: PathBuf,
}

/// Read connections: at most [`READERS`] exist and are used at once; callers beyond that
/// wait for one instead of opening more (a burst of status reads from many waiting
/// clients would otherwise open a connection each).
#[derive(Debug)]
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 128;

/// How many read connections the pool keeps and uses at once.
const READERS: usize = 4;

fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    // Every statement the store runs stays prepared (rusqlite keeps 16 by default, fewer than
    // the store uses, which re-parsed SQL on nearly every call).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Savepoint sub-journals (one per job and per turn in a batch) stay in memory; in a
    // temporary file they cost a file create, writes and a delete per batch. They only
    // matter until the transaction ends, so durability is unchanged.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path` with default options.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating if needed) the store in the file at `path`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or migrated.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path).map_err(backend)?;
        configure(&conn, options.durability).map_err(backend)?;
        migrate(&mut conn).map_err(backend)?;
        let (sender, receiver) = mpsc::channel::<Work>();
        std::thread::Builder::new()
            .name("durable-sqlite-writer".into())
            .spawn(move || writer_loop(&conn, &receiver))
            .map_err(backend)?;
        Ok(Self {
            writer: Mutex::new(sender),
            readers: Arc::new(ReaderPool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                permits: tokio::sync::Semaphore::new(READERS),
            }),
            notifier: Arc::new(Notifier::default()),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in the writer's next transaction; `after` runs once it committed.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_with(true, work).await
    }

    /// Like [`write`](Self::write); `savepoint: false` skips the request's savepoint (see
    /// [`Work::savepoint`]).
    async fn write_with<T: Send + 'static>(
        &self,
        savepoint: bool,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (sender, receiver) = oneshot::channel();
        let run: Job = Box::new(move |conn| {
            let result = work(conn);
            // Without a savepoint, a refusal wrote nothing; only a failure part-way poisons.
            let ok = match &result {
                Ok(_) => true,
                Err(error) => !savepoint && is_refusal(error),
            };
            let reply: Reply = Box::new(move |committed| {
                let _ = sender.send(match (committed, result) {
                    (Ok(()), result) => result,
                    // The request's own failure says more than the batch's.
                    (Err(_), Err(error)) if !is_refusal(&error) => Err(error),
                    (Err(message), _) => Err(StoreError::Backend(message.into())),
                });
            });
            (ok, reply)
        });
        let job = Work { run, savepoint };
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| StoreError::Closed)?;
        receiver.await.map_err(|_| StoreError::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = self
            .readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.readers.clone();
        let result = tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let result = work(&conn);
            pool.put(conn);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        drop(permit);
        result
    }
}

impl ReaderPool {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(backend)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(backend)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < READERS {
            idle.push(conn);
        }
    }
}

/// The writer thread: batches every waiting job into one transaction.
fn writer_loop(conn: &Connection, receiver: &mpsc::Receiver<Work>) {
    const MAX_BATCH: usize = 1024;
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = run_cached(conn, "BEGIN IMMEDIATE") {
            let message = format!("could not begin a transaction: {error}");
            for job in jobs {
                let (_, reply) = (job.run)(conn);
                reply(Err(message.clone()));
            }
            continue;
        }
        let mut replies = Vec::with_capacity(jobs.len());
        let mut poisoned = false;
        for job in jobs {
            if !job.savepoint {
                let (ok, reply) = (job.run)(conn);
                poisoned |= !ok;
                replies.push(reply);
                continue;
            }
            let savepoint = run_cached(conn, "SAVEPOINT job");
            let (ok, reply) = (job.run)(conn);
            if savepoint.is_ok()
                && let Err(error) = end_savepoint(conn, "job", ok)
            {
                tracing::error!(%error, "sqlite savepoint failed");
            }
            replies.push(reply);
        }
        let committed = if poisoned {
            let _ = run_cached(conn, "ROLLBACK");
            Err(
                "a request in the same batch failed part-way on a back-end error; \
                 the whole batch was rolled back"
                    .to_owned(),
            )
        } else {
            run_cached(conn, "COMMIT").map_err(|error| {
                let _ = run_cached(conn, "ROLLBACK");
                format!("commit failed: {error}")
            })
        };
        for reply in replies {
            reply(committed.clone());
        }
    }
}

/// Runs one statement through the statement cache: transaction control runs several times
/// per batch, and parsing it each time was a large share of the writer's CPU.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Is `error` a refusal (the request's checks said no) rather than a failure?
fn is_refusal(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::InstanceAlreadyExists { .. }
            | StoreError::InstanceNotFound(_)
            | StoreError::InstanceState { .. }
            | StoreError::LeaseLost(_)
    )
}

/// Releases savepoint `name`, rolling back to it first unless `keep`.
fn end_savepoint(conn: &Connection, name: &str, keep: bool) -> rusqlite::Result<()> {
    if !keep {
        run_cached(conn, &format!("ROLLBACK TO {name}"))?;
    }
    run_cached(conn, &format!("RELEASE {name}"))
}

fn read_status(row: &rusqlite::Row<'_>) -> Result<OrchestrationStatus, StoreError> {
    let get = |e: rusqlite::Error| backend(e);
    let failure: Option<String> = row.get(8).map_err(get)?;
    Ok(OrchestrationStatus {
        instance_id: InstanceId::from_trusted(row.get(0).map_err(get)?),
        execution_id: ExecutionId::from_trusted(row.get(1).map_err(get)?),
        name: row.get(2).map_err(get)?,
        version: row.get(3).map_err(get)?,
        runtime_status: status_from_code(row.get(4).map_err(get)?)?,
        input: decode_payload(row.get(5).map_err(get)?)?,
        output: decode_payload(row.get(6).map_err(get)?)?,
        custom_status: decode_payload(row.get(7).map_err(get)?)?,
        failure: failure
            .map(|text| serde_json::from_str::<FailureDetails>(&text))
            .transpose()
            .map_err(|e| corrupt("failure details", e))?,
        created_time: from_micros(row.get(9).map_err(get)?),
        last_updated_time: from_micros(row.get(10).map_err(get)?),
        parent_instance_id: row
            .get::<_, Option<String>>(11)
            .map_err(get)?
            .map(InstanceId::from_trusted),
    })
}

/// Enqueues one message; a message for an entity that has no row yet creates it.
fn insert_message(conn: &Connection, message: &OutboundMessage) -> Result<(), StoreError> {
    if let Some(entity) = EntityId::from_instance_id(message.instance_id.as_str()) {
        create_entity_row(conn, &message.instance_id, &entity)?;
    }
    insert_message_row(conn, message)
}

/// Creates an entity's row if it has none.
fn create_entity_row(
    conn: &Connection,
    instance_id: &InstanceId,
    entity: &EntityId,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, execution_id, name, status, input, created_at, updated_at)
         VALUES (?1, '', ?2, ?3, 'null', ?4, ?4) ON CONFLICT DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            instance_id.as_str(),
            entity.name(),
            RuntimeStatus::Pending.code(),
            micros(clock::now()),
        ])
    })
    .map_err(backend)?;
    Ok(())
}

/// Enqueues one message for an instance whose row exists.
fn insert_message_row(conn: &Connection, message: &OutboundMessage) -> Result<(), StoreError> {
    let event = encode_json(&message.event)?;
    conn.prepare_cached(
        "INSERT INTO messages (instance_id, execution_id, visible_at, event, control) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            message.instance_id.as_str(),
            message.execution_id.as_ref().map(ExecutionId::as_str),
            message.visible_at.timestamp_millis(),
            event,
            is_control(&message.event),
        ])
    })
    .map_err(backend)?;
    Ok(())
}

fn delete_instance(conn: &Connection, instance_id: &str) -> Result<(), StoreError> {
    for table in ["history", "messages", "activities", "instances"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE instance_id = ?1"))
            .and_then(|mut s| s.execute([instance_id]))
            .map_err(backend)?;
    }
    Ok(())
}

fn instance_status(
    conn: &Connection,
    instance_id: &str,
) -> Result<Option<RuntimeStatus>, StoreError> {
    conn.prepare_cached("SELECT status FROM instances WHERE instance_id = ?1")
        .and_then(|mut s| {
            s.query_row([instance_id], |r| r.get::<_, i32>(0))
                .optional()
        })
        .map_err(backend)?
        .map(status_from_code)
        .transpose()
}

fn create_instance(conn: &Connection, new: &NewInstance) -> Result<(), StoreError> {
    if let Some(status) = instance_status(conn, new.instance_id.as_str())? {
        if !status.is_terminal() {
            return Err(StoreError::InstanceAlreadyExists {
                instance_id: new.instance_id.clone(),
                status,
            });
        }
        delete_instance(conn, new.instance_id.as_str())?;
    }
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, execution_id, name, version, status, input, created_at, updated_at, parent_instance_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            new.instance_id.as_str(),
            new.execution_id.as_str(),
            new.name,
            new.version,
            RuntimeStatus::Pending.code(),
            new.input.as_json(),
            micros(new.created_at),
            new.parent_instance_id.as_ref().map(InstanceId::as_str),
        ])
    })
    .map_err(backend)?;
    insert_message(
        conn,
        &OutboundMessage {
            instance_id: new.instance_id.clone(),
            execution_id: Some(new.execution_id.clone()),
            visible_at: new.created_at,
            event: new.started.clone(),
        },
    )
}

fn fetch_orchestrations(
    conn: &Connection,
    max: usize,
    lease: Duration,
) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
    let now = clock::now_millis();
    // The limit is a literal on purpose: a bound LIMIT whose value changes between calls
    // makes the bundled SQLite re-prepare the statement every time (seen in callgrind as a
    // third of the writer's instructions). The loop below stops at `max`.
    let candidates: Vec<String> = conn
        .prepare_cached(
            "SELECT m.instance_id FROM messages m JOIN instances i ON i.instance_id = m.instance_id
             WHERE m.visible_at <= ?1
               AND (i.lock_expires IS NULL OR i.lock_expires <= ?1)
               AND (i.status != 7 OR m.control = 1) -- 7 = Suspended
             GROUP BY m.instance_id ORDER BY MIN(m.id) LIMIT 512",
        )
        .and_then(|mut s| {
            s.query_map(params![now], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(backend)?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut items = Vec::new();
    for instance_id in candidates {
        if items.len() >= max {
            break;
        }
        if let Some(item) = lease_instance(conn, &instance_id, &token, now, lease, true)? {
            items.push(item);
        }
    }
    Ok(items)
}

/// Leases one instance if no live lease holds it (and, unless `allow_suspended`, it is
/// not suspended), returning its visible messages as a work item.
fn lease_instance(
    conn: &Connection,
    instance_id: &str,
    token: &str,
    now: i64,
    lease: Duration,
    allow_suspended: bool,
) -> Result<Option<OrchestrationWorkItem>, StoreError> {
    let locked = conn
        .prepare_cached(
            "UPDATE instances SET lock_token = ?1, lock_expires = ?2
             WHERE instance_id = ?3 AND (lock_expires IS NULL OR lock_expires <= ?4) AND (?5 OR status != ?6)
             RETURNING execution_id, name, status, history_len, version",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    token,
                    now + lease_millis(lease),
                    instance_id,
                    now,
                    allow_suspended,
                    RuntimeStatus::Suspended.code()
                ],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i32>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()
        })
        .map_err(backend)?;
    let Some((execution_id, name, status, history_len, version)) = locked else {
        return Ok(None);
    };
    let rows: Vec<(i64, Option<String>, String)> = conn
        .prepare_cached(
            "SELECT id, execution_id, event FROM messages
             WHERE instance_id = ?1 AND visible_at <= ?2 ORDER BY id",
        )
        .and_then(|mut s| {
            s.query_map(params![instance_id, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()
        })
        .map_err(backend)?;
    let messages = rows
        .into_iter()
        .map(|(id, execution_id, event)| {
            Ok(OrchestrationMessage {
                id,
                execution_id: execution_id.map(ExecutionId::from_trusted),
                event: decode_event(&event)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(OrchestrationWorkItem {
        instance_id: InstanceId::from_trusted(instance_id.to_owned()),
        execution_id: ExecutionId::from_trusted(execution_id),
        name,
        version,
        status: status_from_code(status)?,
        history_len: usize::try_from(history_len).unwrap_or(0),
        messages,
        lock_token: token.to_owned(),
    }))
}

#[derive(Default)]
struct Wakeups {
    orchestrations: bool,
    activities: bool,
    finished: Vec<InstanceId>,
}

/// Checks that `commit` may go in (its lease or, for a turn without one, that nobody else
/// holds the instance; its history length; its applied activities' leases). It writes
/// only when every check passed: a single applied activity is claimed (deleted) here.
fn check_commit(conn: &Connection, commit: &OrchestrationCommit) -> Result<i32, StoreError> {
    let id = commit.instance_id.as_str();
    type Current = (Option<String>, i64, Option<i64>, String, i32);
    let current: Option<Current> = conn
        .prepare_cached(
            "SELECT lock_token, history_len, lock_expires, execution_id, status
             FROM instances WHERE instance_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((token, history_len, expires, execution_id, status)) = current else {
        return Err(StoreError::InstanceNotFound(commit.instance_id.clone()));
    };
    let holds = match &commit.lock_token {
        Some(lock_token) => token.as_deref() == Some(lock_token.as_str()),
        // A turn without a lease: nobody else may be working on the instance.
        None => {
            expires.is_none_or(|expires| expires <= clock::now_millis())
                && execution_id == commit.execution_id.as_str()
                && status == RuntimeStatus::Running.code()
        }
    };
    if !holds || history_len as usize != commit.history_len {
        return Err(StoreError::LeaseLost(format!("instance {id}")));
    }
    if let [(activity_id, lock_token)] = commit.applied_activities.as_slice() {
        // One activity (every sequential step): claiming it is the commit's first write,
        // so a lost lease still leaves nothing written, and no separate read is needed.
        let deleted = conn
            .prepare_cached("DELETE FROM activities WHERE id = ?1 AND lock_token = ?2")
            .and_then(|mut s| s.execute(params![activity_id, lock_token]))
            .map_err(backend)?;
        if deleted != 1 {
            return Err(StoreError::LeaseLost(format!("activity {activity_id}")));
        }
    } else if !commit.applied_activities.is_empty() {
        let mut lease = conn
            .prepare_cached("SELECT lock_token FROM activities WHERE id = ?1")
            .map_err(backend)?;
        for (activity_id, lock_token) in &commit.applied_activities {
            let held: Option<Option<String>> = lease
                .query_row([activity_id], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            if held.flatten().as_deref() != Some(lock_token.as_str()) {
                return Err(StoreError::LeaseLost(format!("activity {activity_id}")));
            }
        }
    }
    Ok(status)
}

/// Applies a commit that [`check_commit`] passed; `events` are its history events, encoded;
/// `status_before` the status code the check read. Any error here is a back-end failure
/// part-way through, for the caller to roll back.
fn commit_orchestration(
    conn: &Connection,
    commit: &OrchestrationCommit,
    status_before: i32,
    events: &[String],
    wake: &mut Wakeups,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    let id = commit.instance_id.as_str();
    // A single applied activity was claimed by `check_commit`.
    if commit.applied_activities.len() > 1 {
        let mut delete = conn
            .prepare_cached("DELETE FROM activities WHERE id = ?1")
            .map_err(backend)?;
        for (activity_id, _) in &commit.applied_activities {
            delete.execute([activity_id]).map_err(backend)?;
        }
    }
    let mut insert_event = conn
        .prepare_cached("INSERT INTO history (instance_id, seq, event) VALUES (?1, ?2, ?3)")
        .map_err(backend)?;
    for (offset, event) in events.iter().enumerate() {
        insert_event
            .execute(params![id, (commit.history_len + offset) as i64, event])
            .map_err(backend)?;
    }
    let custom_status_changed = commit.custom_status.is_some();
    let custom_status = commit.custom_status.clone().flatten();
    let failure = commit.failure.as_ref().map(encode_json).transpose()?;
    // SQLite rewrites the entry of every index over a column the UPDATE assigns, changed
    // or not: leaving `status` out when it stays keeps `instances_by_status` untouched (one
    // page less to write per turn).
    conn.prepare_cached(if status_before == commit.status.code() {
        "UPDATE instances SET updated_at = ?3, history_len = ?4,
             output = COALESCE(?5, output), failure = COALESCE(?6, failure),
             custom_status = CASE WHEN ?7 THEN ?8 ELSE custom_status END,
             lock_token = NULL, lock_expires = NULL
         WHERE instance_id = ?1 AND status = ?2"
    } else {
        "UPDATE instances SET status = ?2, updated_at = ?3, history_len = ?4,
             output = COALESCE(?5, output), failure = COALESCE(?6, failure),
             custom_status = CASE WHEN ?7 THEN ?8 ELSE custom_status END,
             lock_token = NULL, lock_expires = NULL
         WHERE instance_id = ?1"
    })
    .and_then(|mut s| {
        s.execute(params![
            id,
            commit.status.code(),
            micros(commit.updated_at),
            (commit.history_len + commit.events.len()) as i64,
            commit.output.as_ref().map(Payload::as_json),
            failure,
            custom_status_changed,
            custom_status.as_ref().map(Payload::as_json),
        ])
    })
    .map_err(backend)?;
    let mut delete = conn
        .prepare_cached("DELETE FROM messages WHERE id = ?1")
        .map_err(backend)?;
    for message_id in &commit.consumed {
        delete.execute([message_id]).map_err(backend)?;
    }
    let mut insert_activity = conn
        .prepare_cached(
            "INSERT INTO activities (instance_id, execution_id, scheduled_id, name, input, dequeue_count, lock_token, lock_expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .map_err(backend)?;
    let lease = commit.lease_activities.map(|lease| {
        (
            uuid::Uuid::new_v4().simple().to_string(),
            clock::now_millis() + lease_millis(lease),
        )
    });
    let mut leased = Vec::new();
    for activity in &commit.activities {
        let activity_id: i64 = insert_activity
            .query_row(
                params![
                    id,
                    commit.execution_id.as_str(),
                    activity.scheduled_id,
                    activity.name,
                    activity.input.as_json(),
                    i64::from(lease.is_some()),
                    lease.as_ref().map(|(token, _)| token.as_str()),
                    lease.as_ref().map(|(_, expires)| *expires),
                ],
                |row| row.get(0),
            )
            .map_err(backend)?;
        match &lease {
            Some((token, _)) => leased.push(activity.leased(
                activity_id,
                &commit.instance_id,
                &commit.execution_id,
                token,
            )),
            None => wake.activities = true,
        }
    }
    if let Some(next) = &commit.continue_as_new {
        conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(backend)?;
        conn.prepare_cached(
            "UPDATE instances SET execution_id = ?2, input = ?3, output = NULL, failure = NULL, history_len = 0
             WHERE instance_id = ?1",
        )
        .and_then(|mut s| s.execute(params![id, next.execution_id.as_str(), next.input.as_json()]))
        .map_err(backend)?;
        for event in std::iter::once(&next.started).chain(&next.carryover) {
            insert_message(
                conn,
                &OutboundMessage {
                    instance_id: commit.instance_id.clone(),
                    execution_id: Some(next.execution_id.clone()),
                    visible_at: commit.updated_at,
                    event: event.clone(),
                },
            )?;
        }
        wake.orchestrations = true;
    }
    for message in &commit.messages {
        insert_message(conn, message)?;
        wake.orchestrations = true;
    }
    for child in &commit.new_instances {
        match create_instance(conn, child) {
            Ok(()) => wake.orchestrations = true,
            Err(StoreError::InstanceAlreadyExists { .. }) => {
                if let Some(message) = failed_sub_orchestration(&commit.instance_id, child) {
                    insert_message(conn, &message)?;
                    wake.orchestrations = true;
                }
            }
            Err(other) => return Err(other),
        }
    }
    // Messages that arrived during the turn need no wake-up: the committing dispatcher
    // fetches again right after its commit, and on SQLite no other process is notified.
    if commit.status.is_terminal() {
        wake.finished.push(commit.instance_id.clone());
    }
    Ok(leased)
}

fn fetch_activities(
    conn: &Connection,
    max: usize,
    lease: Duration,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    let now = clock::now_millis();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let rows = conn
        .prepare_cached(
            "UPDATE activities SET lock_token = ?1, lock_expires = ?2, dequeue_count = dequeue_count + 1
             WHERE id IN (SELECT id FROM activities WHERE lock_expires IS NULL OR lock_expires <= ?3 ORDER BY id LIMIT ?4)
             RETURNING id, instance_id, execution_id, scheduled_id, name, input, dequeue_count",
        )
        .and_then(|mut s| {
            s.query_map(params![token, now + lease_millis(lease), now, max as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, u32>(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend)?;
    let mut items = rows
        .into_iter()
        .map(
            |(id, instance_id, execution_id, scheduled_id, name, input, attempt)| {
                Ok(ActivityWorkItem {
                    id,
                    instance_id: InstanceId::from_trusted(instance_id),
                    execution_id: ExecutionId::from_trusted(execution_id),
                    scheduled_id,
                    name,
                    input: Payload::from_json(input).map_err(|e| corrupt("activity input", e))?,
                    attempt,
                    lock_token: token.clone(),
                })
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    items.sort_by_key(|item| item.id);
    Ok(items)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_instance(&self, new: NewInstance) -> Result<(), StoreError> {
        let notifier = self.notifier.clone();
        self.write(move |conn| create_instance(conn, &new)).await?;
        notifier.orchestration_work();
        Ok(())
    }

    async fn fetch_orchestration_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        self.write(move |conn| fetch_orchestrations(conn, max, lease))
            .await
    }

    async fn commit_orchestrations(
        &self,
        commits: Vec<OrchestrationCommit>,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        // Encoding happens here, off the writer thread that every commit waits for.
        let encoded = commits
            .iter()
            .map(|commit| commit.events.iter().map(encode_json).collect())
            .collect::<Result<Vec<Vec<String>>, StoreError>>()?;
        // No savepoints: each turn is checked before anything of it is written, so a refused
        // turn writes nothing, and a back-end failure part-way rolls back the whole batch.
        let (results, wake) = self
            .write_with(false, move |conn| {
                let mut wake = Wakeups::default();
                let mut results = Vec::with_capacity(commits.len());
                for (commit, events) in commits.iter().zip(&encoded) {
                    results.push(match check_commit(conn, commit) {
                        Ok(status) => Ok(commit_orchestration(
                            conn, commit, status, events, &mut wake,
                        )?),
                        Err(refused) if is_refusal(&refused) => Err(refused),
                        Err(failed) => return Err(failed),
                    });
                }
                Ok((results, wake))
            })
            .await?;
        if wake.activities {
            self.notifier.activity_work();
        }
        if wake.orchestrations {
            self.notifier.orchestration_work();
        }
        for id in &wake.finished {
            self.notifier.instance_finished(id);
        }
        Ok(results)
    }

    async fn abandon_orchestration_work_item(
        &self,
        instance_id: &InstanceId,
        lock_token: &str,
    ) -> Result<(), StoreError> {
        let (id, token) = (instance_id.to_string(), lock_token.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE instances SET lock_token = NULL, lock_expires = NULL WHERE instance_id = ?1 AND lock_token = ?2",
                params![id, token],
            )
            .map_err(backend)
        })
        .await?;
        self.notifier.orchestration_work();
        Ok(())
    }

    async fn fetch_activity_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        self.write(move |conn| fetch_activities(conn, max, lease))
            .await
    }

    async fn complete_activities(
        &self,
        completions: Vec<ActivityCompletion>,
        lease_instances: Option<Duration>,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let (woken, items) = self
            .write(move |conn| {
                let now = clock::now_millis();
                let mut delete = conn
                    .prepare_cached("DELETE FROM activities WHERE id = ?1 AND lock_token = ?2")
                    .map_err(backend)?;
                let mut woken: Vec<InstanceId> = Vec::new();
                for completion in &completions {
                    if delete
                        .execute(params![completion.id, completion.lock_token])
                        .map_err(backend)?
                        == 1
                    {
                        insert_message(
                            conn,
                            &OutboundMessage {
                                instance_id: completion.instance_id.clone(),
                                execution_id: Some(completion.execution_id.clone()),
                                visible_at: from_micros(now * 1000),
                                event: completion.event.clone(),
                            },
                        )?;
                        if !woken.contains(&completion.instance_id) {
                            woken.push(completion.instance_id.clone());
                        }
                    }
                }
                let mut items = Vec::new();
                if let Some(lease) = lease_instances {
                    let token = uuid::Uuid::new_v4().simple().to_string();
                    for instance_id in &woken {
                        if let Some(item) =
                            lease_instance(conn, instance_id.as_str(), &token, now, lease, false)?
                        {
                            items.push(item);
                        }
                    }
                }
                Ok((woken.len() > items.len(), items))
            })
            .await?;
        if woken {
            self.notifier.orchestration_work();
        }
        Ok(items)
    }

    async fn renew_activity_leases(
        &self,
        items: Vec<(i64, String)>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let expires = clock::now_millis() + lease_millis(lease);
            let mut update = conn
                .prepare_cached(
                    "UPDATE activities SET lock_expires = ?1 WHERE id = ?2 AND lock_token = ?3",
                )
                .map_err(backend)?;
            for (id, token) in &items {
                update
                    .execute(params![expires, id, token])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn abandon_activities(&self, items: Vec<(i64, String)>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut update = conn
                .prepare_cached("UPDATE activities SET lock_token = NULL, lock_expires = NULL WHERE id = ?1 AND lock_token = ?2")
                .map_err(backend)?;
            for (id, token) in &items {
                update.execute(params![id, token]).map_err(backend)?;
            }
            Ok(())
        })
        .await?;
        self.notifier.activity_work();
        Ok(())
    }

    async fn get_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<OrchestrationStatus>, StoreError> {
        let id = instance_id.to_string();
        self.read(move |conn| {
            let mut statement = conn
                .prepare_cached(&format!(
                    "SELECT {STATUS_COLUMNS} FROM instances WHERE instance_id = ?1"
                ))
                .map_err(backend)?;
            let mut rows = statement.query([id]).map_err(backend)?;
            match rows.next().map_err(backend)? {
                Some(row) => read_status(row).map(Some),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError> {
        let query = query.clone();
        self.read(move |conn| {
            let mut sql = format!("SELECT {STATUS_COLUMNS} FROM instances WHERE 1 = 1");
            let mut values: Vec<rusqlite::types::Value> = Vec::new();
            if !query.statuses.is_empty() {
                let codes: Vec<String> = query
                    .statuses
                    .iter()
                    .map(|s| s.code().to_string())
                    .collect();
                sql.push_str(&format!(" AND status IN ({})", codes.join(", ")));
            }
            if let Some(from) = query.created_from {
                values.push(micros(from).into());
                sql.push_str(&format!(" AND created_at >= ?{}", values.len()));
            }
            if let Some(to) = query.created_to {
                values.push(micros(to).into());
                sql.push_str(&format!(" AND created_at < ?{}", values.len()));
            }
            if let Some(parent) = &query.parent_instance_id {
                values.push(parent.to_string().into());
                sql.push_str(&format!(" AND parent_instance_id = ?{}", values.len()));
            }
            if let Some(prefix) = &query.instance_id_prefix {
                values.push(prefix.clone().into());
                let n = values.len();
                sql.push_str(&format!(" AND substr(instance_id, 1, length(?{n})) = ?{n}"));
            } else {
                // Entities are listed only when asked for by their `@` prefix.
                sql.push_str(" AND substr(instance_id, 1, 1) != '@'");
            }
            if let Some(token) = &query.continuation_token {
                let (after_micros, after_id) = decode_continuation(token)?;
                values.push(after_micros.into());
                values.push(after_id.into());
                let n = values.len();
                sql.push_str(&format!(
                    " AND (created_at, instance_id) > (?{}, ?{n})",
                    n - 1
                ));
            }
            let page_size = query.page_size.max(1);
            sql.push_str(&format!(
                " ORDER BY created_at, instance_id LIMIT {}",
                page_size + 1
            ));
            let mut statement = conn.prepare(&sql).map_err(backend)?;
            let mut rows = statement
                .query(rusqlite::params_from_iter(values))
                .map_err(backend)?;
            let mut instances = Vec::new();
            while let Some(row) = rows.next().map_err(backend)? {
                instances.push(read_status(row)?);
            }
            Ok(into_page(instances, page_size))
        })
        .await
    }

    async fn read_history(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<Vec<HistoryEvent>>, StoreError> {
        let id = instance_id.to_string();
        self.read(move |conn| {
            let exists: bool = conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM instances WHERE instance_id = ?1)")
                .and_then(|mut s| s.query_row([&id], |r| r.get(0)))
                .map_err(backend)?;
            if !exists {
                return Ok(None);
            }
            let texts: Vec<String> = conn
                .prepare_cached("SELECT event FROM history WHERE instance_id = ?1 ORDER BY seq")
                .and_then(|mut s| {
                    s.query_map([&id], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(backend)?;
            texts
                .iter()
                .map(|t| decode_event(t))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
        .await
    }

    async fn enqueue_message(
        &self,
        message: OutboundMessage,
        accept: &[RuntimeStatus],
    ) -> Result<RuntimeStatus, StoreError> {
        let accept = accept.to_vec();
        // No savepoint: the only writes are an entity's row (harmless on its own) and the
        // message, one statement that SQLite undoes by itself if it fails.
        let status = self
            .write_with(false, move |conn| {
                let entity = EntityId::from_instance_id(message.instance_id.as_str());
                let status = match (
                    instance_status(conn, message.instance_id.as_str())?,
                    &entity,
                ) {
                    (Some(status), _) => status,
                    // An entity is created by its first message.
                    (None, Some(entity)) => {
                        create_entity_row(conn, &message.instance_id, entity)?;
                        RuntimeStatus::Pending
                    }
                    (None, None) => {
                        return Err(StoreError::InstanceNotFound(message.instance_id.clone()));
                    }
                };
                if !accept.contains(&status) {
                    return Err(StoreError::InstanceState {
                        instance_id: message.instance_id.clone(),
                        status,
                    });
                }
                insert_message_row(conn, &message)?;
                Ok(status)
            })
            .await?;
        self.notifier.orchestration_work();
        Ok(status)
    }

    async fn purge_instance(&self, instance_id: &InstanceId) -> Result<(), StoreError> {
        let id = instance_id.clone();
        self.write(move |conn| {
            let status = instance_status(conn, id.as_str())?
                .ok_or_else(|| StoreError::InstanceNotFound(id.clone()))?;
            if !status.is_terminal() {
                return Err(StoreError::InstanceState {
                    instance_id: id,
                    status,
                });
            }
            delete_instance(conn, id.as_str())
        })
        .await
    }

    async fn purge_instances(&self, query: &PurgeQuery) -> Result<usize, StoreError> {
        let query = query.clone();
        self.write(move |conn| {
            let statuses: Vec<RuntimeStatus> = if query.statuses.is_empty() {
                RuntimeStatus::ALL.into_iter().filter(|s| s.is_terminal()).collect()
            } else {
                query.statuses.iter().copied().filter(|s| s.is_terminal()).collect()
            };
            if statuses.is_empty() {
                return Ok(0);
            }
            let codes: Vec<String> = statuses.iter().map(|s| s.code().to_string()).collect();
            let sql = format!(
                "SELECT instance_id FROM instances WHERE status IN ({}) AND created_at >= ?1 AND created_at < ?2",
                codes.join(", ")
            );
            let from = query.created_from.map_or(i64::MIN, micros);
            let to = query.created_to.map_or(i64::MAX, micros);
            let ids: Vec<String> = conn
                .prepare(&sql)
                .and_then(|mut s| s.query_map(params![from, to], |r| r.get(0))?.collect::<rusqlite::Result<_>>())
                .map_err(backend)?;
            for id in &ids {
                delete_instance(conn, id)?;
            }
            Ok(ids.len())
        })
        .await
    }

    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(move |conn| {
            let next: Option<i64> = conn
                .prepare_cached("SELECT MIN(visible_at) FROM messages WHERE visible_at > ?1")
                .and_then(|mut s| s.query_row([clock::now_millis()], |r| r.get(0)))
                .map_err(backend)?;
            Ok(next.and_then(DateTime::from_timestamp_millis))
        })
        .await
    }

    fn notifier(&self) -> &Notifier {
        &self.notifier
    }
}
