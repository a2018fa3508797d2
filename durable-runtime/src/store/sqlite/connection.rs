//! The SQLite store's threads: reader connections, and the one writer that batches requests
//! into transactions (savepoints, background work, the counts by status each batch writes).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::store::codec::backend;
use crate::store::{CountDeltas, Notifier};

pub(super) type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
pub(super) type Job = Box<dyn FnOnce(&Connection) -> (bool, Reply) + Send>;

/// One request for the writer thread.
pub(super) struct Work {
    /// Runs the request; returns whether it succeeded and how to answer.
    pub(super) run: Job,
    /// Whether it runs in its own savepoint, so that any error undoes only its writes.
    /// False for requests that refuse (return an error) only before their first write:
    /// they then fail after writing only on a back-end error, which rolls back the whole
    /// batch, every request in it getting the error. Savepoints cost: each page a request
    /// first touches inside one is copied to the sub-journal.
    pub(super) savepoint: bool,
    /// Background work (a purge's chunks): runs only when no other request waits, in a
    /// transaction of its own, so it never holds up the requests running work is waiting for.
    pub(super) background: bool,
}

/// One read for a reader thread.
pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// The most reads one reader thread runs in one read transaction.
pub(super) const MAX_READ_BATCH: usize = 256;

/// How many prepared statements each connection keeps.
pub(super) const STATEMENT_CACHE: usize = 128;

/// How many reader threads (each with its own read-only connection) serve reads.
pub(super) const READERS: usize = 4;

/// A reader thread: takes every read waiting (up to [`MAX_READ_BATCH`]) and runs them in one
/// read transaction. SQLite drops a connection's page cache at the start of a read
/// transaction whenever the file changed since its last one, which under a busy writer is
/// every time: a burst of status reads (a hundred thousand waiting clients) then pays that
/// once per batch instead of once per read, and later reads of a batch find the pages the
/// earlier ones loaded. Every read of a batch sees the store as it was when the batch began,
/// which is no older than the moment the read was queued.
pub(super) fn reader_loop(path: &Path, reads: &Mutex<mpsc::Receiver<ReadJob>>) {
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

pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
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
pub(super) fn writer_loop(
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
            // runs; they join its transaction, so they wait for at most a short grace, one
            // step and their commit.
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
pub(super) struct OthersWatch {
    notifier: Arc<Notifier>,
    version: i64,
}

impl OthersWatch {
    /// The longest an idle writer waits between two checks.
    const INTERVAL: Duration = Duration::from_millis(250);

    pub(super) fn new(conn: &Connection, notifier: Arc<Notifier>) -> rusqlite::Result<Self> {
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

pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))
}

/// Runs `jobs` in one transaction and answers each once it committed or rolled back.
/// `more` is asked, after `jobs` ran, for requests to run in the same transaction.
pub(super) fn run_batch(
    conn: &Connection,
    jobs: Vec<Work>,
    more: &mut dyn FnMut() -> Option<Work>,
) {
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
    let mut counts = CountDeltas::default();
    for job in jobs.into_iter().chain(std::iter::from_fn(more)) {
        JOB_COUNTS.with_borrow_mut(CountDeltas::take);
        if !job.savepoint {
            let (ok, reply) = (job.run)(conn);
            poisoned |= !ok;
            counts.merge(JOB_COUNTS.take());
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
        // A job rolled back to its savepoint changed no count.
        let job_counts = JOB_COUNTS.take();
        if ok {
            counts.merge(job_counts);
        }
        replies.push(reply);
    }
    if !poisoned && let Err(error) = write_counts(conn, counts) {
        tracing::error!(%error, "sqlite: could not write the counts by status");
        poisoned = true;
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

thread_local! {
    /// The counts-by-status changes of the job the writer thread is running (see
    /// [`CountDeltas`]): every write path that inserts, deletes or changes the status of an
    /// instance row records here (`count`), and `run_batch` writes the changes of the jobs
    /// that kept their writes in the batch's transaction.
    static JOB_COUNTS: std::cell::RefCell<CountDeltas> = std::cell::RefCell::default();
}

/// Records a counts-by-status change of the running job (see [`JOB_COUNTS`]).
pub(super) fn count(change: impl FnOnce(&mut CountDeltas)) {
    JOB_COUNTS.with_borrow_mut(change);
}

/// Adds `counts` to `instance_counts`, inside the batch's transaction.
pub(super) fn write_counts(conn: &Connection, mut counts: CountDeltas) -> rusqlite::Result<()> {
    for (entity, status, by) in counts.take() {
        conn.prepare_cached(
            "INSERT INTO instance_counts (entity, status, n) VALUES (?1, ?2, ?3)
             ON CONFLICT (entity, status) DO UPDATE SET n = n + excluded.n",
        )?
        .execute(params![entity, status, by])?;
    }
    Ok(())
}

/// Runs one statement through the statement cache: transaction control runs several times
/// per batch, and parsing it each time was a large share of the writer's CPU.
pub(super) fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Is `error` a refusal (the request's checks said no) rather than a failure?
pub(super) fn is_refusal(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::InstanceAlreadyExists { .. }
            | StoreError::InstanceNotFound(_)
            | StoreError::InstanceState { .. }
            | StoreError::LeaseLost(_)
    )
}

/// Releases savepoint `name`, rolling back to it first unless `keep`.
pub(super) fn end_savepoint(conn: &Connection, name: &str, keep: bool) -> rusqlite::Result<()> {
    if !keep {
        run_cached(conn, &format!("ROLLBACK TO {name}"))?;
    }
    run_cached(conn, &format!("RELEASE {name}"))
}
