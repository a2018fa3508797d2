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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::codec::{
    STATUS_COLUMNS, StoredStatus, backend, decode_event, decode_status, decode_trace_context,
    encode_json, encode_trace_context, from_micros, micros, status_from_code,
};
use super::{
    ActivityCompletion, ActivityWorkItem, CorruptMessage, InstancePage, InstanceQuery, NewInstance,
    Notifier, OrchestrationCommit, OrchestrationMessage, OrchestrationWorkItem, OutboundMessage,
    PurgeQuery, Store, failed_sub_orchestration, is_control, lease_millis,
};
use crate::clock;
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{OrchestrationStatus, RuntimeStatus};

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
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The durability level (default [`Durability::Full`]).
    pub durability: Durability,
    /// Create the store when the file is missing or empty (default `true`, what a worker
    /// wants). With `false`, only an existing `durable` store is opened (what a tool such as
    /// the CLI wants: a mistyped path is an error, not a new file).
    pub create: bool,
    /// Open the file read-only (default `false`): no migration and no write ever; every
    /// write call fails with [`StoreError::Backend`]. A store of an older schema version is
    /// refused ([`StoreError::SchemaVersion`]), since it cannot be migrated. Implies
    /// `create = false`.
    pub read_only: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            create: true,
            read_only: false,
        }
    }
}

/// `PRAGMA application_id` of a `durable` store ("dura"), set when the schema is created or
/// migrated; a file with another application id is not opened.
const APPLICATION_ID: i32 = 0x6475_7261;

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
    r#"
-- Every access path reads through an index, whatever the backlog (ARCHITECTURE.md, "Access
-- paths"). `due_at` (ms) is when a fetch should next look at the instance: the earliest
-- visible_at of the messages it would process now (only control messages while it is
-- suspended), but not before its live lease expires; NULL when it has nothing queued. The
-- fetch and the timer wake-up read `instances_by_due`, which holds only instances with
-- work queued, so parked instances and future timers cost nothing until due.
ALTER TABLE instances ADD COLUMN due_at INTEGER;
UPDATE instances SET due_at = (
    SELECT MIN(m.visible_at) FROM messages m
    WHERE m.instance_id = instances.instance_id AND (m.control = 1 OR instances.status != 7));
UPDATE instances SET due_at = MAX(due_at, lock_expires)
    WHERE due_at IS NOT NULL AND lock_expires IS NOT NULL;
CREATE INDEX instances_by_due ON instances (due_at) WHERE due_at IS NOT NULL;
-- Status listings page in (created_at, instance_id) order within one status.
DROP INDEX instances_by_status;
CREATE INDEX instances_by_status ON instances (status, created_at, instance_id);
-- Activities that a fetch may take (never leased: 0; or the lease's expiry), oldest first.
CREATE INDEX activities_by_visible ON activities (COALESCE(lock_expires, 0), id);
"#,
    r#"
-- The W3C trace context an activity's span continues (JSON; NULL when none was recorded).
ALTER TABLE activities ADD COLUMN trace_context TEXT;
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
    /// Background work (a purge's chunks): runs only when no other request waits, in a
    /// transaction of its own, so it never holds up the requests running work is waiting for.
    background: bool,
}

/// The embedded SQLite store; see the [module docs](self).
#[derive(Debug)]
pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<Work>>,
    /// Requests (not background work) sent to the writer and not yet taken by it: a purge
    /// chunk stops as soon as one waits.
    waiting: Arc<AtomicUsize>,
    readers: Mutex<mpsc::Sender<ReadJob>>,
    notifier: Arc<Notifier>,
    path: PathBuf,
}

/// One read for a reader thread.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// The most reads one reader thread runs in one read transaction.
const MAX_READ_BATCH: usize = 256;

/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 128;

/// How many reader threads (each with its own read-only connection) serve reads.
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
    // After a checkpoint the WAL is cut back to this size, so a burst of writes (a large
    // purge) does not leave a large file behind.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
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
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
    Ok(())
}

/// Checks, before anything is written, that the file at `path` is a `durable` store this
/// build can use with `options` (or, where creating is allowed, an empty database), so a
/// wrong path never turns someone else's database into a store.
fn check_schema(conn: &Connection, path: &Path, options: &SqliteOptions) -> Result<(), StoreError> {
    let location = path.display().to_string();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend)?;
    let application: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(backend)?;
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if application != 0 && application != APPLICATION_ID {
        return Err(StoreError::NotAStore {
            location,
            reason: format!("its application id is {application:#x}, not durable's"),
        });
    }
    if version > supported {
        return Err(StoreError::SchemaVersion {
            location,
            found: version,
            supported,
            advice: "a newer build wrote it; run a build at least as new",
        });
    }
    if version == 0 {
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 5")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(backend)?;
        if !tables.is_empty() {
            return Err(StoreError::NotAStore {
                location,
                reason: format!(
                    "it holds other tables ({}) and no durable schema; point at a durable store or a new file",
                    tables.join(", ")
                ),
            });
        }
        if options.read_only || !options.create {
            return Err(StoreError::NotAStore {
                location,
                reason:
                    "it is empty (no durable schema yet); start a worker on it to create the store"
                        .to_owned(),
            });
        }
    } else if options.read_only && version < supported {
        return Err(StoreError::SchemaVersion {
            location,
            found: version,
            supported,
            advice: "opened read-only, it cannot be migrated; open it once read-write (a worker, or a command that writes)",
        });
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path` with default options.
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens the store in the file at `path` (creating it if `options` allow) and migrates
    /// its schema to this build's (unless read-only).
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] when the file holds someone else's tables, another
    /// application's id, or (when not creating) nothing or no file at all;
    /// [`StoreError::SchemaVersion`] for a schema newer than this build's (or older, when
    /// read-only); [`StoreError::Backend`] when the file cannot be opened or migrated.
    /// Nothing is written to a file that is refused.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let read_only = options.read_only;
        if (read_only || !options.create) && !path.exists() {
            return Err(StoreError::NotAStore {
                location: path.display().to_string(),
                reason: "no such file".to_owned(),
            });
        }
        let flags = if read_only {
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            rusqlite::OpenFlags::default()
        };
        let mut conn = Connection::open_with_flags(&path, flags).map_err(backend)?;
        check_schema(&conn, &path, &options)?;
        if read_only {
            conn.busy_timeout(Duration::from_secs(10))
                .map_err(backend)?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        } else {
            configure(&conn, options.durability).map_err(backend)?;
            migrate(&mut conn).map_err(backend)?;
        }
        let (sender, receiver) = mpsc::channel::<Work>();
        let notifier = Arc::new(Notifier::default());
        // The writer watches the file's data version, so other processes' commits wake
        // this process's waiting clients and dispatchers.
        notifier.set_watches_others(true);
        let watcher = OthersWatch::new(&conn, notifier.clone()).map_err(backend)?;
        let waiting = Arc::new(AtomicUsize::new(0));
        let writer_waiting = waiting.clone();
        std::thread::Builder::new()
            .name("durable-sqlite-writer".into())
            .spawn(move || writer_loop(&conn, &receiver, watcher, &writer_waiting))
            .map_err(backend)?;
        let (readers, reads) = mpsc::channel::<ReadJob>();
        let reads = Arc::new(Mutex::new(reads));
        for index in 0..READERS {
            let (reads, path) = (reads.clone(), path.clone());
            std::thread::Builder::new()
                .name(format!("durable-sqlite-reader-{index}"))
                .spawn(move || reader_loop(&path, &reads))
                .map_err(backend)?;
        }
        Ok(Self {
            writer: Mutex::new(sender),
            waiting,
            readers: Mutex::new(readers),
            notifier,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The query plans of the store's access paths, as SQLite chooses them for this file
    /// now: what each fetch, timer wake-up, listing, status read and purge step reads
    /// (ARCHITECTURE.md, "Access paths", says which index serves each).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when a statement cannot be explained.
    pub async fn query_plans(&self) -> Result<Vec<super::QueryPlan>, StoreError> {
        self.read(|conn| {
            let mut paths: Vec<(&'static str, String)> = vec![
                ("fetch: due instances", fetch_due_sql(100)),
                (
                    "fetch: a leased instance's messages",
                    INSTANCE_MESSAGES.to_owned(),
                ),
                ("timer wake-up: next due time", NEXT_DUE.to_owned()),
                ("commit: recompute due time", REFRESH_DUE.to_owned()),
                ("enqueue: mark due", MARK_DUE.to_owned()),
                ("fetch: activities", FETCH_ACTIVITIES.to_owned()),
                (
                    "status read",
                    format!("SELECT {STATUS_COLUMNS} FROM instances WHERE instance_id = ?1"),
                ),
                ("history read", HISTORY.to_owned()),
            ];
            paths.extend(super::listing_plan_paths(|query, status, after| {
                list_sql(query, status, after, 100).0
            }));
            paths.extend([
                ("purge: next chunk", purge_select_sql(32)),
                (
                    "purge: history",
                    "DELETE FROM history WHERE instance_id = ?1".to_owned(),
                ),
                (
                    "purge: messages",
                    "DELETE FROM messages WHERE instance_id = ?1".to_owned(),
                ),
                (
                    "purge: activities",
                    "DELETE FROM activities WHERE instance_id = ?1".to_owned(),
                ),
            ]);
            paths
                .into_iter()
                .map(|(access_path, sql)| {
                    // Parameters stay unbound (NULL): the plan does not depend on them.
                    let plan = conn
                        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                        .and_then(|mut s| {
                            let mut rows = s.raw_query();
                            let mut plan = Vec::new();
                            while let Some(row) = rows.next()? {
                                plan.push(row.get::<_, String>(3)?);
                            }
                            Ok(plan)
                        })
                        .map_err(backend)?;
                    Ok(super::QueryPlan {
                        access_path,
                        sql,
                        plan,
                    })
                })
                .collect()
        })
        .await
    }

    /// Runs `work` in the writer's next transaction; `after` runs once it committed.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_with(true, work).await
    }

    /// Like [`write`](Self::write), as background work (see [`Work::background`]).
    async fn write_background<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(true, true, work).await
    }

    /// Like [`write`](Self::write); `savepoint: false` skips the request's savepoint (see
    /// [`Work::savepoint`]).
    async fn write_with<T: Send + 'static>(
        &self,
        savepoint: bool,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.submit(savepoint, false, work).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        savepoint: bool,
        background: bool,
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
        let job = Work {
            run,
            savepoint,
            background,
        };
        if !background {
            self.waiting.fetch_add(1, Ordering::SeqCst);
        }
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| StoreError::Closed)?;
        receiver.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `work` on a reader thread, in a read transaction it may share with other reads
    /// queued at the same time (see [`reader_loop`]).
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (sender, receiver) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = sender.send(work(conn));
        });
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| StoreError::Closed)?;
        receiver.await.map_err(|_| StoreError::Closed)?
    }
}

/// A reader thread: takes every read waiting (up to [`MAX_READ_BATCH`]) and runs them in one
/// read transaction. SQLite drops a connection's page cache at the start of a read
/// transaction whenever the file changed since its last one, which under a busy writer is
/// every time: a burst of status reads (a hundred thousand waiting clients) then pays that
/// once per batch instead of once per read, and later reads of a batch find the pages the
/// earlier ones loaded. Every read of a batch sees the store as it was when the batch began,
/// which is no older than the moment the read was queued.
fn reader_loop(path: &Path, reads: &Mutex<mpsc::Receiver<ReadJob>>) {
    let mut conn: Option<Connection> = None;
    loop {
        let batch = {
            let reads = reads.lock().unwrap_or_else(PoisonError::into_inner);
            let Ok(first) = reads.recv() else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_READ_BATCH {
                match reads.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        if conn.is_none() {
            match open_reader(path) {
                Ok(opened) => conn = Some(opened),
                Err(error) => {
                    tracing::error!(%error, "sqlite: could not open a read connection");
                    // Dropping the jobs closes their reply channels: the callers get Closed.
                    continue;
                }
            }
        }
        let Some(conn) = conn.as_ref() else { continue };
        let shared = batch.len() > 1 && run_cached(conn, "BEGIN").is_ok();
        for job in batch {
            // A panicking read loses only its own answer (its caller gets Closed).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)));
        }
        if shared && let Err(error) = run_cached(conn, "COMMIT") {
            tracing::warn!(%error, "sqlite: ending a read transaction failed");
        }
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The writer thread: batches every waiting job into one transaction; background jobs run
/// one at a time, each in its own transaction, whenever nothing else waits.
fn writer_loop(
    conn: &Connection,
    receiver: &mpsc::Receiver<Work>,
    mut watch: OthersWatch,
    waiting: &AtomicUsize,
) {
    const MAX_BATCH: usize = 1024;
    let mut background: std::collections::VecDeque<Work> = std::collections::VecDeque::new();
    // Takes the next request that is already waiting, setting background work aside.
    let next_request = |background: &mut std::collections::VecDeque<Work>| loop {
        match receiver.try_recv() {
            Ok(job) if job.background => background.push_back(job),
            Ok(job) => {
                waiting.fetch_sub(1, Ordering::SeqCst);
                return Some(job);
            }
            Err(_) => return None,
        }
    };
    loop {
        watch.check(conn);
        if let Some(first) = next_request(&mut background) {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match next_request(&mut background) {
                    Some(job) => jobs.push(job),
                    None => break,
                }
            }
            run_batch(conn, jobs, &mut || None);
            continue;
        }
        if let Some(job) = background.pop_front() {
            // Background work yields (see `purge_chunk`) to requests that arrive while it
            // runs; they join its transaction, so they wait for one step and their commit.
            let mut joined = 0;
            run_batch(conn, vec![job], &mut || {
                if joined >= MAX_BATCH {
                    return None;
                }
                joined += 1;
                next_request(&mut background)
            });
            continue;
        }
        match receiver.recv_timeout(OthersWatch::INTERVAL) {
            Ok(job) => {
                if job.background {
                    background.push_back(job);
                } else {
                    waiting.fetch_sub(1, Ordering::SeqCst);
                    run_batch(conn, vec![job], &mut || None);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                for job in background.drain(..) {
                    run_batch(conn, vec![job], &mut || None);
                }
                return;
            }
        }
    }
}

/// Notices commits by other processes on the same file: `PRAGMA data_version` on the writer's
/// connection changes exactly when another connection committed (this store's readers never
/// write), checked before every batch and at least every [`Self::INTERVAL`] when idle.
struct OthersWatch {
    notifier: Arc<Notifier>,
    version: i64,
}

impl OthersWatch {
    /// The longest an idle writer waits between two checks.
    const INTERVAL: Duration = Duration::from_millis(250);

    fn new(conn: &Connection, notifier: Arc<Notifier>) -> rusqlite::Result<Self> {
        Ok(Self {
            notifier,
            version: data_version(conn)?,
        })
    }

    fn check(&mut self, conn: &Connection) {
        match data_version(conn) {
            Ok(version) if version != self.version => {
                self.version = version;
                self.notifier.others_changed();
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "sqlite: could not read the data version"),
        }
    }
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

/// Runs `jobs` in one transaction and answers each once it committed or rolled back.
/// `more` is asked, after `jobs` ran, for requests to run in the same transaction.
fn run_batch(conn: &Connection, jobs: Vec<Work>, more: &mut dyn FnMut() -> Option<Work>) {
    if let Err(error) = run_cached(conn, "BEGIN IMMEDIATE") {
        let message = format!("could not begin a transaction: {error}");
        for job in jobs.into_iter().chain(std::iter::from_fn(more)) {
            let (_, reply) = (job.run)(conn);
            reply(Err(message.clone()));
        }
        return;
    }
    let mut replies = Vec::with_capacity(jobs.len());
    let mut poisoned = false;
    for job in jobs.into_iter().chain(std::iter::from_fn(more)) {
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
    let instance_id: String = row.get(0).map_err(get)?;
    let (runtime_status, input, output, custom_status, failure) = decode_status(
        &instance_id,
        StoredStatus {
            code: row.get(4).map_err(get)?,
            input: row.get(5).map_err(get)?,
            output: row.get(6).map_err(get)?,
            custom_status: row.get(7).map_err(get)?,
            failure: row.get(8).map_err(get)?,
        },
    );
    Ok(OrchestrationStatus {
        instance_id: InstanceId::from_trusted(instance_id),
        execution_id: ExecutionId::from_trusted(row.get(1).map_err(get)?),
        name: row.get(2).map_err(get)?,
        version: row.get(3).map_err(get)?,
        runtime_status,
        input,
        output,
        custom_status,
        failure,
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
    insert_message_row(conn, message)?;
    mark_due(conn, message)
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

/// Brings the receiving instance's `due_at` forward to `message`'s visibility, unless a
/// live lease holds it (then it is due when the lease expires) or it is suspended and the
/// message is not a control message.
fn mark_due(conn: &Connection, message: &OutboundMessage) -> Result<(), StoreError> {
    let visible = message.visible_at.timestamp_millis();
    conn.prepare_cached(MARK_DUE)
        .and_then(|mut s| {
            s.execute(params![
                message.instance_id.as_str(),
                visible,
                is_control(&message.event)
            ])
        })
        .map_err(backend)?;
    Ok(())
}

/// See [`mark_due`].
const MARK_DUE: &str =
    "UPDATE instances SET due_at = MAX(MIN(COALESCE(due_at, ?2), ?2), COALESCE(lock_expires, 0))
     WHERE instance_id = ?1 AND (?3 OR status != 7) -- 7 = Suspended";

/// Recomputes an unleased instance's `due_at` from its queued messages (after a commit or an
/// abandon): one index range over `messages_by_instance`, the instance's own messages.
fn refresh_due(conn: &Connection, instance_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(REFRESH_DUE)
        .and_then(|mut s| s.execute([instance_id]))
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

/// Appends to `out` the first `page_size + 1` instances with `status` (any, if `None`) that
/// match `query` after the keyset position `after`, in (created_at, instance_id) order.
///
/// Served by `instances_by_status` with a status, `instances_by_created` without; the
/// lower bound is one range start (the later of `created_from` and the token), so a deep
/// page costs what the first does.
fn list_range(
    conn: &Connection,
    query: &InstanceQuery,
    status: Option<RuntimeStatus>,
    after: Option<&(i64, String)>,
    page_size: usize,
    out: &mut Vec<OrchestrationStatus>,
) -> Result<(), StoreError> {
    let (sql, values) = list_sql(query, status, after, page_size);
    let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(values))
        .map_err(backend)?;
    while let Some(row) = rows.next().map_err(backend)? {
        out.push(read_status(row)?);
    }
    Ok(())
}

/// The statement of [`list_range`] and its bound values.
fn list_sql(
    query: &InstanceQuery,
    status: Option<RuntimeStatus>,
    after: Option<&(i64, String)>,
    page_size: usize,
) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = format!("SELECT {STATUS_COLUMNS} FROM instances WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(status) = status {
        sql.push_str(&format!(" AND status = {}", status.code()));
    }
    let from = query.created_from.map(micros);
    match after {
        // Every row after the token is at or after `created_from` too.
        Some((micros, id)) if from.is_none_or(|from| *micros >= from) => {
            values.push((*micros).into());
            values.push(id.clone().into());
            let n = values.len();
            sql.push_str(&format!(
                " AND (created_at, instance_id) > (?{}, ?{n})",
                n - 1
            ));
        }
        _ => {
            if let Some(from) = from {
                values.push(from.into());
                sql.push_str(&format!(" AND created_at >= ?{}", values.len()));
            }
        }
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
    sql.push_str(&format!(
        " ORDER BY created_at, instance_id LIMIT {}",
        page_size.saturating_add(1)
    ));
    (sql, values)
}

/// Deletes terminal instances with one of `statuses` created in `[from, to)` (µs) for up to
/// [`PURGE_CHUNK_TIME`], or until a request waits for the writer (`waiting`); returns how
/// many, and whether none is left. Each select is a range of `instances_by_status` from its
/// start, which the deletes keep moving.
fn purge_chunk(
    conn: &Connection,
    statuses: &[RuntimeStatus],
    from: i64,
    to: i64,
    waiting: &AtomicUsize,
) -> Result<(usize, bool), StoreError> {
    const STEP: usize = 32;
    let started = std::time::Instant::now();
    let mut purged = 0;
    for status in statuses {
        loop {
            let ids: Vec<String> = conn
                .prepare_cached(&purge_select_sql(STEP))
                .and_then(|mut s| {
                    s.query_map(params![status.code(), from, to], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(backend)?;
            for id in &ids {
                delete_instance(conn, id)?;
                purged += 1;
                // A request waits: it goes next, after this one instance.
                if waiting.load(Ordering::Relaxed) > 0 {
                    return Ok((purged, false));
                }
            }
            if ids.len() < STEP {
                break;
            }
            if started.elapsed() >= PURGE_CHUNK_TIME {
                return Ok((purged, false));
            }
        }
    }
    Ok((purged, true))
}

/// How long one chunk of a purge holds the writer.
const PURGE_CHUNK_TIME: Duration = Duration::from_millis(4);

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
        "INSERT INTO instances (instance_id, execution_id, name, version, status, input, created_at, updated_at, parent_instance_id, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
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
            new.created_at.timestamp_millis(),
        ])
    })
    .map_err(backend)?;
    insert_message_row(
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
    // Due instances, earliest first, from `instances_by_due`: the scan stops after the limit
    // and never sees what is not due. The limit is a literal (a power of two, so a handful of
    // statements stay cached): with the bundled SQLite, a bound LIMIT, or a bound value
    // compared directly to an indexed column, makes the statement re-prepare whenever the
    // value changes. `(SELECT ?1)` hides the time from that check; the plan is the same.
    let candidates: Vec<String> = conn
        .prepare_cached(&fetch_due_sql(max))
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

/// The fetch's candidates: up to `max` (rounded up to a power of two) due instances.
fn fetch_due_sql(max: usize) -> String {
    format!(
        "SELECT instance_id FROM instances WHERE due_at <= (SELECT ?1) ORDER BY due_at LIMIT {}",
        max.max(1).next_power_of_two()
    )
}

/// A leased instance's visible messages, in order.
const INSTANCE_MESSAGES: &str = "SELECT id, execution_id, event FROM messages
     WHERE instance_id = ?1 AND visible_at <= ?2 ORDER BY id";

/// An instance's history, in order.
const HISTORY: &str = "SELECT seq, event FROM history WHERE instance_id = ?1 ORDER BY seq";

/// The next durable timer (or lease expiry) of any instance.
const NEXT_DUE: &str = "SELECT MIN(due_at) FROM instances WHERE due_at > (SELECT ?1)";

/// Recomputes an instance's `due_at` (see [`refresh_due`]).
const REFRESH_DUE: &str = "UPDATE instances SET due_at = (
         SELECT MIN(m.visible_at) FROM messages m
         WHERE m.instance_id = ?1 AND (m.control = 1 OR instances.status != 7))
     WHERE instance_id = ?1";

/// Leases up to `?4` activities that are not leased or whose lease expired.
const FETCH_ACTIVITIES: &str =
    "UPDATE activities SET lock_token = ?1, lock_expires = ?2, dequeue_count = dequeue_count + 1
     WHERE id IN (SELECT id FROM activities WHERE COALESCE(lock_expires, 0) <= (SELECT ?3)
                  ORDER BY COALESCE(lock_expires, 0), id LIMIT ?4)
     RETURNING id, instance_id, execution_id, scheduled_id, name, input, dequeue_count, trace_context";

/// A purge chunk's next instances of one status (see [`purge_chunk`]).
fn purge_select_sql(step: usize) -> String {
    format!(
        "SELECT instance_id FROM instances
         WHERE status = ?1 AND created_at >= ?2 AND created_at < ?3
         ORDER BY created_at, instance_id LIMIT {step}"
    )
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
            "UPDATE instances SET lock_token = ?1, lock_expires = ?2, due_at = ?2
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
    let Ok(status) = status_from_code(status) else {
        // A status this build does not know (a corrupt row, or one a newer build wrote):
        // the instance is set aside, not fetched again until a message arrives for it or
        // an operator repairs the row; the fetch goes on with the others.
        tracing::error!(
            instance_id,
            status,
            "instance row has an unknown status code; set aside (repair the row's `status` to resume it)"
        );
        conn.prepare_cached(
            "UPDATE instances SET lock_token = NULL, lock_expires = NULL, due_at = NULL WHERE instance_id = ?1",
        )
        .and_then(|mut s| s.execute([instance_id]))
        .map_err(backend)?;
        return Ok(None);
    };
    type Row = (i64, Option<String>, Result<String, String>);
    let rows: Vec<Row> = conn
        .prepare_cached(INSTANCE_MESSAGES)
        .and_then(|mut s| {
            s.query_map(params![instance_id, now], |r| {
                Ok((r.get(0)?, r.get(1)?, text_column(r, 2)?))
            })?
            .collect::<rusqlite::Result<_>>()
        })
        .map_err(backend)?;
    // A message that does not decode goes to the dispatcher as a corrupt message (which
    // fails this instance), never as an error of the whole fetch.
    let mut messages = Vec::with_capacity(rows.len());
    let mut corrupt_messages = Vec::new();
    for (id, execution_id, event) in rows {
        match event.and_then(|text| decode_event(&text).map_err(|e| e.to_string())) {
            Ok(event) => messages.push(OrchestrationMessage {
                id,
                execution_id: execution_id.map(ExecutionId::from_trusted),
                event,
            }),
            Err(reason) => corrupt_messages.push(CorruptMessage { id, reason }),
        }
    }
    Ok(Some(OrchestrationWorkItem {
        instance_id: InstanceId::from_trusted(instance_id.to_owned()),
        execution_id: ExecutionId::from_trusted(execution_id),
        name,
        version,
        status,
        history_len: usize::try_from(history_len).unwrap_or(0),
        messages,
        corrupt_messages,
        lock_token: token.to_owned(),
    }))
}

/// Column `index` as text, or why it is not text (a corrupt row), without failing the
/// statement.
fn text_column(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Result<String, String>> {
    Ok(match row.get_ref(index)? {
        rusqlite::types::ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| format!("the text is not UTF-8: {e}")),
        other => Err(format!(
            "a {} value where text was expected",
            other.data_type()
        )),
    })
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
    let mut delete = conn
        .prepare_cached("DELETE FROM messages WHERE id = ?1")
        .map_err(backend)?;
    for message_id in &commit.consumed {
        delete.execute([message_id]).map_err(backend)?;
    }
    let mut insert_activity = conn
        .prepare_cached(
            "INSERT INTO activities (instance_id, execution_id, scheduled_id, name, input, dequeue_count, lock_token, lock_expires, trace_context)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
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
                    encode_trace_context(activity.trace_context.as_ref()),
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
    // The instance's own new messages (timers, continue-as-new's start) go in as rows only:
    // the row update below computes its `due_at` from them.
    if let Some(next) = &commit.continue_as_new {
        for event in std::iter::once(&next.started).chain(&next.carryover) {
            insert_message_row(
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
        if message.instance_id == commit.instance_id {
            insert_message_row(conn, message)?;
        } else {
            insert_message(conn, message)?;
        }
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
    let custom_status_changed = commit.custom_status.is_some();
    let custom_status = commit.custom_status.clone().flatten();
    let failure = commit.failure.as_ref().map(encode_json).transpose()?;
    // A failure is kept only while the instance is Failed (status code 3): a rewound
    // instance runs again without it.
    // The row's update comes last, so it releases the lease and recomputes `due_at` from
    // the messages still queued (those that arrived during the turn, and its own new ones)
    // in one write of the row and of `instances_by_due` (see `REFRESH_DUE`).
    // SQLite rewrites the entry of every index over a column the UPDATE assigns, changed
    // or not: leaving `status` out when it stays keeps `instances_by_status` untouched (one
    // page less to write per turn).
    // A commit that only drops messages keeps the status the row has now (see
    // `only_drops_messages`).
    let status = if super::only_drops_messages(commit) {
        status_before
    } else {
        commit.status.code()
    };
    conn.prepare_cached(if status_before == status {
        "UPDATE instances SET updated_at = ?3, history_len = ?4,
             output = COALESCE(?5, output), failure = CASE WHEN ?2 = 3 THEN COALESCE(?6, failure) END,
             custom_status = CASE WHEN ?7 THEN ?8 ELSE custom_status END,
             lock_token = NULL, lock_expires = NULL, due_at = (
                 SELECT MIN(m.visible_at) FROM messages m
                 WHERE m.instance_id = ?1 AND (m.control = 1 OR ?2 != 7))
         WHERE instance_id = ?1 AND status = ?2"
    } else {
        "UPDATE instances SET status = ?2, updated_at = ?3, history_len = ?4,
             output = COALESCE(?5, output), failure = CASE WHEN ?2 = 3 THEN COALESCE(?6, failure) END,
             custom_status = CASE WHEN ?7 THEN ?8 ELSE custom_status END,
             lock_token = NULL, lock_expires = NULL, due_at = (
                 SELECT MIN(m.visible_at) FROM messages m
                 WHERE m.instance_id = ?1 AND (m.control = 1 OR ?2 != 7))
         WHERE instance_id = ?1"
    })
    .and_then(|mut s| {
        s.execute(params![
            id,
            status,
            micros(commit.updated_at),
            (commit.history_len + commit.events.len()) as i64,
            commit.output.as_ref().map(Payload::as_json),
            failure,
            custom_status_changed,
            custom_status.as_ref().map(Payload::as_json),
        ])
    })
    .map_err(backend)?;
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
    }
    if commit.status.is_terminal() && status == commit.status.code() {
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
        .prepare_cached(FETCH_ACTIVITIES)
        .and_then(|mut s| {
            s.query_map(
                params![token, now + lease_millis(lease), now, max as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        text_column(r, 5)?,
                        r.get::<_, u32>(6)?,
                        r.get::<_, Option<String>>(7).ok().flatten(),
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend)?;
    let mut items: Vec<ActivityWorkItem> = rows
        .into_iter()
        .map(
            |(id, instance_id, execution_id, scheduled_id, name, input, attempt, trace_context)| {
                // An input that does not decode fails this activity only (see
                // `ActivityWorkItem::corrupt`), never the whole fetch.
                let (input, corrupt) = match input
                    .and_then(|text| Payload::from_json(text).map_err(|e| e.to_string()))
                {
                    Ok(input) => (input, None),
                    Err(reason) => (Payload::null(), Some(reason)),
                };
                ActivityWorkItem {
                    id,
                    instance_id: InstanceId::from_trusted(instance_id),
                    execution_id: ExecutionId::from_trusted(execution_id),
                    scheduled_id,
                    name,
                    input,
                    attempt,
                    lock_token: token.clone(),
                    corrupt,
                    trace_context: decode_trace_context(trace_context.as_deref()),
                }
            },
        )
        .collect();
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
        let (results, wake, _turns) = self
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
                // The turns go back with the results, to be freed off the writer thread.
                Ok((results, wake, (commits, encoded)))
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
        retry_after: Duration,
    ) -> Result<(), StoreError> {
        let (id, token) = (instance_id.to_string(), lock_token.to_owned());
        // A delayed retry keeps the instance out of fetches until then as an expired lease
        // would (no token, an expiry in the future), and its `due_at` not before it.
        let until =
            (!retry_after.is_zero()).then(|| clock::now_millis() + lease_millis(retry_after));
        self.write(move |conn| {
            let released = conn
                .prepare_cached(
                    "UPDATE instances SET lock_token = NULL, lock_expires = ?3 WHERE instance_id = ?1 AND lock_token = ?2",
                )
                .and_then(|mut s| s.execute(params![id, token, until]))
                .map_err(backend)?;
            if released == 1 {
                refresh_due(conn, &id)?;
                if let Some(until) = until {
                    conn.prepare_cached(
                        "UPDATE instances SET due_at = MAX(due_at, ?2) WHERE instance_id = ?1 AND due_at IS NOT NULL",
                    )
                    .and_then(|mut s| s.execute(params![id, until]))
                    .map_err(backend)?;
                }
            }
            Ok(())
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
        let (after, page_size) = super::list_position(&query)?;
        self.read(move |conn| {
            // One keyset range per status (`instances_by_status`), merged here: an `IN` over
            // several statuses would sort every match to find the first page.
            let statuses = super::list_statuses(&query);
            let mut instances = Vec::new();
            for status in statuses {
                list_range(
                    conn,
                    &query,
                    status,
                    after.as_ref(),
                    page_size,
                    &mut instances,
                )?;
            }
            Ok(super::merge_ranges(instances, page_size))
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
            let rows: Vec<(i64, Result<String, String>)> = conn
                .prepare_cached(HISTORY)
                .and_then(|mut s| {
                    s.query_map([&id], |r| Ok((r.get(0)?, text_column(r, 1)?)))?
                        .collect::<rusqlite::Result<_>>()
                })
                .map_err(backend)?;
            rows.into_iter()
                .map(|(seq, text)| {
                    text.and_then(|t| decode_event(&t).map_err(|e| e.to_string()))
                        .map_err(|reason| {
                            StoreError::Corrupt(format!(
                                "history row (instance {id}, seq {seq}): {reason}"
                            ))
                        })
                })
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
                if let Some(next) = super::status_on_enqueue(&message.event) {
                    conn.prepare_cached(
                        "UPDATE instances SET status = ?2, failure = NULL WHERE instance_id = ?1",
                    )
                    .and_then(|mut s| s.execute(params![message.instance_id.as_str(), next.code()]))
                    .map_err(backend)?;
                }
                insert_message_row(conn, &message)?;
                mark_due(conn, &message)?;
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
        let statuses = Arc::new(super::purge_statuses(query));
        let from = query.created_from.map_or(i64::MIN, micros);
        let to = query.created_to.map_or(i64::MAX, micros);
        // Bounded chunks of background work: each runs only when no other request waits,
        // deletes for at most a few milliseconds and stops after the step in which a request
        // arrives (which then joins its transaction), so running work waits for one step at
        // most, and memory stays flat whatever the count.
        let mut purged = 0;
        loop {
            let statuses = statuses.clone();
            let waiting = self.waiting.clone();
            let (count, done) = self
                .write_background(move |conn| purge_chunk(conn, &statuses, from, to, &waiting))
                .await?;
            purged += count;
            if done {
                return Ok(purged);
            }
        }
    }

    async fn has_activity_work(&self, instance_id: &InstanceId) -> Result<bool, StoreError> {
        let id = instance_id.to_string();
        self.read(move |conn| {
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM activities WHERE instance_id = ?1)")
                .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)))
                .map_err(backend)
        })
        .await
    }

    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(move |conn| {
            let next: Option<i64> = conn
                .prepare_cached(NEXT_DUE)
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
