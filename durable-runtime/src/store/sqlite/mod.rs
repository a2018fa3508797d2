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

mod commit;
mod connection;
mod queries;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::codec::{
    STATUS_COLUMNS, backend, corrupt, decode_event, encode_json, from_micros, micros, reason,
};
use super::{
    ActivityCompletion, ActivityLease, ActivityWorkItem, InstancePage, InstanceQuery, LockToken,
    NewInstance, Notifier, OrchestrationCommit, OrchestrationWorkItem, OutboundMessage, PurgeQuery,
    Store, TaskHubStats, lease_millis, sql_stats,
};
use crate::clock;
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::ids::{EntityId, InstanceId};
use crate::setters::setters;
use crate::status::{OrchestrationStatus, RuntimeStatus};
use commit::{check_commit, commit_orchestration, fetch_activities};
use connection::{
    Job, OthersWatch, READERS, ReadJob, Reply, STATEMENT_CACHE, Work, count, is_refusal,
    reader_loop, writer_loop,
};
use queries::{
    FETCH_ACTIVITIES, HISTORY, INSTANCE_MESSAGES, MARK_DUE, NEXT_DUE, REFRESH_DUE,
    create_entity_row, create_instance, delete_instance, fetch_due_sql, fetch_orchestrations,
    insert_message, insert_message_row, instance_status, lease_instance, list_range, list_sql,
    mark_due, purge_chunk, purge_select_sql, read_status, refresh_due, text_column,
};
use schema::{check_schema, configure, migrate};

/// How far a commit must get before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: on disk when the commit returns; survives power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process, not of the machine.
    Normal,
}

/// Options for [`SqliteStore::open_with`]: start from [`SqliteOptions::default`] and chain
/// the setters (one per field, named as it), e.g.
/// `SqliteOptions::default().durability(Durability::Normal)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
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

setters! {
    impl SqliteOptions {
        /// Sets how far a commit must get before it returns (default [`Durability::Full`]).
        durability: Durability;
        /// Sets whether a missing or empty file becomes a new store (default `true`; `false`
        /// opens only an existing `durable` store).
        create: bool;
        /// Sets whether the file is opened read-only (default `false`; `true` implies
        /// `create = false` and refuses every write).
        read_only: bool;
    }
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

#[derive(Default)]
struct Wakeups {
    orchestrations: bool,
    activities: bool,
    finished: Vec<InstanceId>,
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
            .map(|commit| {
                commit
                    .events
                    .iter()
                    .map(|event| encode_json("history event", event))
                    .collect()
            })
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
        lock_token: &LockToken,
        retry_after: Duration,
    ) -> Result<(), StoreError> {
        let (id, token) = (instance_id.to_string(), lock_token.clone());
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
                    let token = LockToken::generate();
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
        items: Vec<ActivityLease>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let expires = clock::now_millis() + lease_millis(lease);
            let mut update = conn
                .prepare_cached(
                    "UPDATE activities SET lock_expires = ?1 WHERE id = ?2 AND lock_token = ?3",
                )
                .map_err(backend)?;
            for ActivityLease { id, lock_token } in &items {
                update
                    .execute(params![expires, id, lock_token])
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn abandon_activities(&self, items: Vec<ActivityLease>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut update = conn
                .prepare_cached("UPDATE activities SET lock_token = NULL, lock_expires = NULL WHERE id = ?1 AND lock_token = ?2")
                .map_err(backend)?;
            for ActivityLease { id, lock_token } in &items {
                update.execute(params![id, lock_token]).map_err(backend)?;
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
                    text.and_then(|t| decode_event(&t).map_err(reason))
                        .map_err(|reason| {
                            corrupt(format!("history row (instance {id}, seq {seq})"), reason)
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
                    count(|c| c.moved(message.instance_id.as_str(), status.code(), next.code()));
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
        // deletes for at most a few milliseconds and stops once a request that arrived has
        // waited `PURGE_YIELD_GRACE` (it then joins the transaction), so running work waits
        // for that and one step at most, and memory stays flat whatever the count.
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

    async fn task_hub_stats(&self) -> Result<TaskHubStats, StoreError> {
        self.read(move |conn| {
            let now = clock::now_millis();
            let mut counts = Vec::new();
            let mut read = conn
                .prepare_cached("SELECT entity, status, n FROM instance_counts")
                .map_err(backend)?;
            let mut rows = read.query([]).map_err(backend)?;
            while let Some(row) = rows.next().map_err(backend)? {
                let get = |e| backend(e);
                counts.push((row.get(0).map_err(get)?, row.get(1).map_err(get)?, row.get(2).map_err(get)?));
            }
            let (due_messages, messages): (i64, i64) = conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(visible_at <= ?1), 0), COUNT(*) FROM messages",
                )
                .and_then(|mut s| s.query_row([now], |r| Ok((r.get(0)?, r.get(1)?))))
                .map_err(backend)?;
            let (queued_activities, activities): (i64, i64) = conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(COALESCE(lock_expires, 0) <= ?1), 0), COUNT(*) FROM activities",
                )
                .and_then(|mut s| s.query_row([now], |r| Ok((r.get(0)?, r.get(1)?))))
                .map_err(backend)?;
            let next: Option<i64> = conn
                .prepare_cached(NEXT_DUE)
                .and_then(|mut s| s.query_row([now], |r| r.get(0)))
                .map_err(backend)?;
            Ok(sql_stats(
                counts,
                (due_messages, messages),
                (queued_activities, activities),
                next,
                now,
            ))
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
