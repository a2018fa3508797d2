//! [`PostgresStore`]: one PostgreSQL database shared by many worker processes on many
//! machines (feature `postgres`).
//!
//! - **Task hubs.** Each task hub is one PostgreSQL schema (default `durable`), created and
//!   migrated by the store under an advisory lock, so several independent hubs share a
//!   database and concurrent workers never race a migration.
//! - **Ownership.** Orchestration work items are leased with a lease token and expiry on the
//!   instance row, claimed with `FOR UPDATE SKIP LOCKED` so competing workers skip rows
//!   another is claiming instead of waiting; a commit checks the token and the history
//!   length, so a worker whose lease expired (and whose instance moved on) cannot commit.
//!   Activities are competing consumers claimed the same way. A dead worker's leases
//!   expire and the next fetch anywhere takes the items over.
//! - **Wake-ups.** Every commit that makes work sends `NOTIFY` on the hub's channel; each
//!   store `LISTEN`s on its own connection and wakes its dispatchers and waiting clients.
//!   Dispatchers still poll at a bounded interval, for expired leases and lost connections.
//! - **Group commit.** A batch of turns (`commit_orchestrations`) or activity results
//!   (`complete_activities`) is one transaction. A batch of turns is committed set-based:
//!   every instance row (and applied activity) is locked and checked first, so a refused
//!   turn writes nothing and needs no savepoint; then each kind of write is one statement
//!   for the whole batch (`UNNEST`). Only a sub-orchestration whose id may be taken runs in
//!   a savepoint. Client writes (starts, raised events and other messages) from
//!   concurrent callers are grouped the same way, a few hundred to a transaction
//!   (`client_writes.rs`). PostgreSQL's own group commit shares WAL flushes between
//!   concurrent transactions. Every statement is parameterized.
//! - **Grouped reads.** Concurrent status reads (`get_status`) and history reads
//!   (`read_history`) share one `instance_id = ANY($1)` statement per kind and batch
//!   (`grouped_reads.rs`); each caller still sees everything committed before it asked.
//!
//! Durability is the server's: with the default `synchronous_commit = on` a commit is on
//! disk when it returns.

mod client_writes;
mod commit;
mod grouped_reads;
mod prefetch;
mod schema;
mod sql;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls};

use super::codec::{backend, decode_trace_context, from_micros, micros};
use super::{
    ActivityCompletion, ActivityLease, ActivityWorkItem, CountDeltas, InstancePage, InstanceQuery,
    LockToken, NewInstance, Notifier, OrchestrationCommit, OrchestrationWorkItem, OutboundMessage,
    PurgeQuery, Store, TaskHubStats, lease_millis, sql_stats,
};
use crate::clock;
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{OrchestrationStatus, RuntimeStatus};
use schema::{migrate, valid_task_hub};
use sql::{
    COUNT_BACKLOG, FETCH_ACTIVITIES, FETCH_DUE, FOLD_COUNTS, INSTANCE_MESSAGES, LEASE_LOCKED,
    LEASE_NAMED, NEXT_VISIBLE, PURGE_CHUNK, PURGE_NEXT, READ_COUNTS, RELEASE_LEASES, WRITE_COUNTS,
    list_sql, read_status,
};

/// Options for [`PostgresStore::connect_with`]: start from [`PostgresOptions::default`] and
/// chain the setters (one per field, named as it), e.g.
/// `PostgresOptions::default().task_hub("orders").max_connections(32)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The task hub: the schema its tables live in. Lower-case letters, digits and `_`,
    /// starting with a letter or `_`, at most 48 characters (default `durable`).
    pub task_hub: String,
    /// The most connections this store opens (default 16), besides its listener.
    pub max_connections: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            task_hub: "durable".to_owned(),
            max_connections: 16,
        }
    }
}

impl PostgresOptions {
    /// Sets the task hub: the schema its tables live in (default `durable`). Lower-case
    /// letters, digits and `_`, starting with a letter or `_`, at most 48 characters;
    /// [`PostgresStore::connect_with`] refuses another name.
    #[must_use]
    pub fn task_hub(mut self, task_hub: impl Into<String>) -> Self {
        self.task_hub = task_hub.into();
        self
    }

    /// Sets the most connections this store opens besides its listener (a count; default
    /// 16).
    #[must_use]
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }
}

/// The PostgreSQL client's error behind a back-end `error`, if that is what it is.
fn postgres_error(error: &StoreError) -> Option<&tokio_postgres::Error> {
    match error {
        StoreError::Backend(source) => source.downcast_ref::<tokio_postgres::Error>(),
        _ => None,
    }
}

/// The store; see the [module docs](self).
pub struct PostgresStore {
    core: Arc<Core>,
    client_writes: client_writes::ClientWrites,
    status_reads: grouped_reads::GroupedReads<OrchestrationStatus>,
    history_reads: grouped_reads::GroupedReads<Vec<HistoryEvent>>,
}

/// What the store's calls and its client-write tasks share.
struct Core {
    pool: Pool,
    schema: String,
    channel: String,
    notifier: Arc<Notifier>,
    listener: JoinHandle<()>,
    /// Instances client writes leased ahead for this process's dispatchers.
    prefetched: prefetch::Prefetched,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("task_hub", &self.core.schema)
            .finish_non_exhaustive()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// What a write made for other workers and waiters, sent as `NOTIFY` at commit.
#[derive(Default)]
struct Wakeups {
    orchestrations: bool,
    activities: bool,
    finished: Vec<InstanceId>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) with the
    /// default task hub `durable`; see [`connect_with`](Self::connect_with).
    ///
    /// # Errors
    /// As [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects, creates or migrates the task hub's schema, and starts listening for other
    /// workers' notifications.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is malformed, the server cannot be reached, or
    /// the schema cannot be created; [`StoreError::InvalidTaskHub`] for an invalid task hub name;
    /// [`StoreError::SchemaVersion`] for a schema newer than this code's.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        if !valid_task_hub(&options.task_hub) {
            return Err(StoreError::InvalidTaskHub {
                name: options.task_hub,
            });
        }
        let config: tokio_postgres::Config = url.parse().map_err(backend)?;
        let manager = deadpool_postgres::Manager::from_config(
            config.clone(),
            NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(2))
            .build()
            .map_err(backend)?;
        let schema = options.task_hub;
        let channel = format!("{schema}_work");
        migrate(&pool, &schema).await?;
        let notifier = Arc::new(Notifier::default());
        let listener = tokio::spawn(listen(config, channel.clone(), notifier.clone()));
        let core = Arc::new(Core {
            pool,
            schema,
            channel,
            notifier,
            listener,
            prefetched: prefetch::Prefetched::default(),
        });
        Ok(Self {
            client_writes: client_writes::ClientWrites::start(core.clone()),
            status_reads: grouped_reads::GroupedReads::statuses(core.clone()),
            history_reads: grouped_reads::GroupedReads::histories(core.clone()),
            core,
        })
    }

    /// The task hub (schema) this store uses.
    pub fn task_hub(&self) -> &str {
        &self.core.schema
    }

    /// The query plans of the store's access paths, as PostgreSQL plans them on this
    /// database now: what each fetch, timer wake-up, listing, status read and purge step
    /// reads (ARCHITECTURE.md, "Access paths", says which index serves each). Each plan is
    /// the *generic* plan (`plan_cache_mode = force_generic_plan`), the one a prepared
    /// statement settles on after its first executions, so it does not depend on the
    /// values bound.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the server cannot be reached or a statement cannot be
    /// explained.
    pub async fn query_plans(&self) -> Result<Vec<super::QueryPlan>, StoreError> {
        let delete = |table: &str| format!("DELETE FROM {{s}}.{table} WHERE instance_id = ANY($1)");
        let mut paths: Vec<(&'static str, String)> = vec![
            ("fetch: due instances", FETCH_DUE.to_owned()),
            ("fetch: named instances", LEASE_NAMED.to_owned()),
            (
                "client write: lease receivers ahead",
                LEASE_LOCKED.to_owned(),
            ),
            (
                "release: leased ahead, not fetched",
                RELEASE_LEASES.to_owned(),
            ),
            (
                "fetch: a leased instance's messages",
                INSTANCE_MESSAGES.to_owned(),
            ),
            ("timer wake-up: next due time", NEXT_VISIBLE.to_owned()),
            ("fetch: activities", FETCH_ACTIVITIES.to_owned()),
            ("status read", grouped_reads::status_batch_sql()),
            ("history read", grouped_reads::HISTORY_BATCH.to_owned()),
        ];
        paths.extend(super::listing_plan_paths(|query, status, after| {
            list_sql(query, status, after, 100).0
        }));
        paths.extend([
            ("purge: next chunk", PURGE_NEXT.to_owned()),
            ("purge: history", delete("history")),
            ("purge: messages", delete("messages")),
            ("purge: activities", delete("activities")),
        ]);
        let mut client = self.core.client().await?;
        let explained: Result<Vec<super::QueryPlan>, StoreError> = async {
            let tx = client.transaction().await.map_err(backend)?;
            tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
                .await
                .map_err(backend)?;
            let mut plans = Vec::with_capacity(paths.len());
            for (access_path, sql) in paths {
                let sql = self.core.sql(&sql);
                // A named SQL-level statement (not the protocol's), so `EXPLAIN EXECUTE`
                // shows its generic plan; NULL arguments, since that plan ignores them.
                let params = tx.prepare(&sql).await.map_err(backend)?.params().len();
                let name = format!("durable_plan_{}", uuid::Uuid::new_v4().simple());
                let args = vec!["NULL"; params].join(", ");
                let rows = tx
                    .simple_query(&format!(
                        "PREPARE {name} AS {sql}; EXPLAIN EXECUTE {name}({args}); DEALLOCATE {name}"
                    ))
                    .await
                    .map_err(backend)?;
                let plan = rows
                    .into_iter()
                    .filter_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            row.get(0).map(str::to_owned)
                        }
                        _ => None,
                    })
                    .collect();
                plans.push(super::QueryPlan {
                    access_path,
                    sql,
                    plan,
                });
            }
            tx.rollback().await.map_err(backend)?;
            Ok(plans)
        }
        .await;
        if explained.is_err() {
            // A statement prepared by name outlives a failed transaction: the connection
            // does not go back to the pool.
            drop(deadpool_postgres::Object::take(client));
        }
        explained
    }
}

impl Core {
    fn sql(&self, text: &str) -> String {
        text.replace("{s}", &self.schema)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(backend)
    }

    /// Sends the wake-ups of a committed write to this process and, through `NOTIFY`, to
    /// every other worker.
    fn wake_local(&self, wake: &Wakeups) {
        if wake.orchestrations {
            self.notifier.orchestration_work();
        }
        if wake.activities {
            self.notifier.activity_work();
        }
        for id in &wake.finished {
            self.notifier.instance_finished(id);
        }
    }

    /// Queues the `NOTIFY`s for `wake` in the open transaction (sent at its commit).
    async fn notify(&self, tx: &impl GenericClient, wake: &Wakeups) -> Result<(), StoreError> {
        let mut payloads: Vec<String> = Vec::new();
        if wake.orchestrations {
            payloads.push("o".to_owned());
        }
        if wake.activities {
            payloads.push("a".to_owned());
        }
        payloads.extend(wake.finished.iter().map(|id| format!("f:{id}")));
        if payloads.is_empty() {
            return Ok(());
        }
        let statement = tx
            .prepare_cached("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
            .await
            .map_err(backend)?;
        tx.execute(&statement, &[&self.channel, &payloads])
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Notifies other processes after the transaction committed, in a statement of its
    /// own. A `NOTIFY` inside a transaction holds PostgreSQL's notification queue lock
    /// through that transaction's commit, WAL flush included, so concurrent transactions
    /// that notify commit one at a time; a `NOTIFY` on its own writes no WAL and holds the
    /// lock for microseconds. A failure is logged, not returned: what it announced is
    /// committed, and other workers find it at their next poll.
    async fn notify_after_commit(&self, wake: &Wakeups) {
        let result = async {
            let client = self.client().await?;
            self.notify(&client, wake).await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, "notifying other workers failed; they find the work at their next poll");
        }
    }
}

/// Listens on the hub's channel and turns notifications into local wake-ups; reconnects
/// with back-off when the connection drops (the dispatchers' fallback poll covers the gap).
async fn listen(config: tokio_postgres::Config, channel: String, notifier: Arc<Notifier>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let mut messages =
                    futures::stream::poll_fn(move |cx| connection.poll_message(cx)).boxed();
                let sql = format!("LISTEN {channel}");
                let listening = {
                    // Drive the connection while the LISTEN runs.
                    let mut listen = std::pin::pin!(client.batch_execute(&sql));
                    loop {
                        tokio::select! {
                            result = &mut listen => break result.is_ok(),
                            message = messages.next() => if message.is_none() { break false },
                        }
                    }
                };
                if listening {
                    backoff = Duration::from_millis(100);
                    // Work may have been made, and instances finished, while we were not
                    // listening: everyone looks again, and from now on nothing is missed.
                    notifier.set_watches_others(true);
                    notifier.others_changed();
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(note)) => match note.payload() {
                                "o" => notifier.orchestration_work(),
                                "a" => notifier.activity_work(),
                                other => {
                                    if let Some(id) = other.strip_prefix("f:") {
                                        notifier.instance_finished(&InstanceId::from_trusted(
                                            id.to_owned(),
                                        ));
                                    }
                                }
                            },
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(%error, "PostgreSQL listener connection failed; reconnecting");
                                break;
                            }
                        }
                    }
                }
                notifier.set_watches_others(false);
                drop(client);
            }
            Err(error) => {
                tracing::warn!(%error, "PostgreSQL listener could not connect; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Runs `body` in a transaction, committing when it succeeds.
/// `$counts` is the transaction's [`CountDeltas`], written just before it commits.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident, $counts:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await.map_err(backend)?;
        #[allow(unused_mut)]
        let mut $counts = CountDeltas::default();
        let result = $body;
        let result = match result {
            Ok(value) => $store.write_counts(&$tx, $counts).await.map(|()| value),
            Err(error) => Err(error),
        };
        match result {
            Ok(value) => {
                $tx.commit().await.map_err(backend)?;
                Ok(value)
            }
            Err(error) => {
                let _ = $tx.rollback().await;
                Err(error)
            }
        }
    }};
}

impl Core {
    /// Releases the leases of `items` (leased ahead, not run) in one transaction, so any
    /// worker fetches them at once; a failure is logged (the leases then expire).
    async fn release_leases(&self, items: &[OrchestrationWorkItem]) {
        let mut held: Vec<(&str, &str)> = items
            .iter()
            .filter_map(|item| {
                let token = item.lock_token.as_ref()?;
                Some((item.instance_id.as_str(), token.as_str()))
            })
            .collect();
        if held.is_empty() {
            return;
        }
        held.sort_unstable();
        let (ids, tokens): (Vec<&str>, Vec<&str>) = held.into_iter().unzip();
        let wake = Wakeups {
            orchestrations: true,
            ..Wakeups::default()
        };
        let released = self.release_leases_of(&ids, &tokens, &wake).await;
        match released {
            Ok(()) => self.wake_local(&wake),
            Err(error) => tracing::warn!(
                %error,
                instances = ids.len(),
                "could not release instances leased ahead; they run when their leases expire"
            ),
        }
    }

    async fn release_leases_of(
        &self,
        ids: &[&str],
        tokens: &[&str],
        wake: &Wakeups,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx, counts| {
            self.lock_rows(&tx, ids).await?;
            let statement = tx
                .prepare_cached(&self.sql(RELEASE_LEASES))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&ids, &tokens])
                .await
                .map_err(backend)
                .map(drop)
        })?;
        self.notify_after_commit(wake).await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn create_instance(&self, new: NewInstance) -> Result<(), StoreError> {
        // Batched with other callers' starts and messages (see `client_writes`).
        self.client_writes.create(new).await
    }

    async fn fetch_orchestration_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // Instances client writes leased ahead for this process (see `prefetch.rs`) fill
        // up to half of the batch (rounded down, so a batch of one claims due work first),
        // due work the rest (so a steady stream of raised events never starves timers and
        // new instances), and the queue tops the batch up if there is room left; those
        // whose lease runs out are released for any worker.
        let (mut items, stale) = self.core.prefetched.take(max / 2, lease);
        self.core.release_leases(&stale).await;
        let rest = i64::try_from(max - items.len()).unwrap_or(i64::MAX);
        let fetched = in_transaction!(self.core, |tx, counts| {
            self.core
                .lease_instances(&tx, writes::Claim::Due, rest, lease, true)
                .await
        });
        match fetched {
            Ok(fetched) => items.extend(fetched),
            // What was leased ahead is handed over all the same (the next fetch reports the
            // error if it lasts).
            Err(error) if !items.is_empty() => {
                tracing::warn!(%error, "fetching orchestration work items failed");
            }
            Err(error) => return Err(error),
        }
        if items.len() < max {
            let (more, stale) = self.core.prefetched.take(max - items.len(), lease);
            self.core.release_leases(&stale).await;
            items.extend(more);
        }
        Ok(items)
    }

    async fn release_prefetched(&self) {
        let items = self.core.prefetched.release_all();
        self.core.release_leases(&items).await;
    }

    async fn commit_orchestrations(
        &self,
        commits: Vec<OrchestrationCommit>,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        let mut wake = Wakeups::default();
        let results = in_transaction!(self.core, |tx, counts| {
            match self
                .core
                .commit_batch(&tx, &commits, &mut wake, &mut counts)
                .await
            {
                Ok(results) => self.core.notify(&tx, &wake).await.map(|()| results),
                Err(error) => Err(error),
            }
        })?;
        self.core.wake_local(&wake);
        Ok(results)
    }

    async fn abandon_orchestration_work_item(
        &self,
        instance_id: &InstanceId,
        lock_token: &LockToken,
        retry_after: Duration,
    ) -> Result<(), StoreError> {
        let wake = Wakeups {
            orchestrations: true,
            ..Wakeups::default()
        };
        // A delayed retry: no token, an expiry in the future (fetches skip the row until
        // then, and its `due_at` is not before it).
        let until =
            (!retry_after.is_zero()).then(|| clock::now_millis() + lease_millis(retry_after));
        in_transaction!(self.core, |tx, counts| {
            let statement = tx
                .prepare_cached(&self.core.sql(
                    "UPDATE {s}.instances i SET lock_token = NULL, lock_expires = $3,
                         due_at = (SELECT CASE WHEN MIN(m.visible_at) IS NULL THEN NULL
                                               ELSE GREATEST(MIN(m.visible_at), $3) END
                                   FROM {s}.messages m
                                   WHERE m.instance_id = i.instance_id AND (m.control OR i.status <> 7))
                     WHERE i.instance_id = $1 AND i.lock_token = $2",
                ))
                .await
                .map_err(backend)?;
            tx.execute(
                &statement,
                &[&instance_id.as_str(), &lock_token.as_str(), &until],
            )
            .await
            .map_err(backend)?;
            self.core.notify(&tx, &wake).await
        })?;
        self.core.wake_local(&wake);
        Ok(())
    }

    async fn fetch_activity_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = clock::now_millis();
        let token = LockToken::generate();
        let client = self.core.client().await?;
        let statement = client
            .prepare_cached(&self.core.sql(FETCH_ACTIVITIES))
            .await
            .map_err(backend)?;
        let rows = client
            .query(
                &statement,
                &[
                    &token.as_str(),
                    &(now + lease_millis(lease)),
                    &now,
                    &i64::try_from(max).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(backend)?;
        let mut items: Vec<ActivityWorkItem> = rows
            .into_iter()
            .map(|row| {
                // An input that does not decode fails this activity only (see
                // `ActivityWorkItem::corrupt`).
                let input: String = row.get(5);
                let (input, corrupt) = match Payload::from_json(input) {
                    Ok(input) => (input, None),
                    Err(error) => (Payload::null(), Some(error.to_string())),
                };
                ActivityWorkItem {
                    id: row.get(0),
                    instance_id: InstanceId::from_trusted(row.get(1)),
                    execution_id: ExecutionId::from_trusted(row.get(2)),
                    scheduled_id: row.get(3),
                    name: row.get(4),
                    input,
                    attempt: u32::try_from(row.get::<_, i32>(6)).unwrap_or(1),
                    lock_token: token.clone(),
                    corrupt,
                    trace_context: decode_trace_context(
                        row.try_get::<_, Option<String>>(7)
                            .ok()
                            .flatten()
                            .as_deref(),
                    ),
                }
            })
            .collect();
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    async fn complete_activities(
        &self,
        completions: Vec<ActivityCompletion>,
        lease_instances: Option<Duration>,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let mut wake = Wakeups::default();
        let items = in_transaction!(self.core, |tx, counts| {
            let result: Result<Vec<OrchestrationWorkItem>, StoreError> = async {
                let now = clock::now_millis();
                // The receivers' rows first, in id order (as every writer locks them): their
                // `due_at` moves with the results.
                let mut receivers: Vec<&str> =
                    completions.iter().map(|c| c.instance_id.as_str()).collect();
                receivers.sort_unstable();
                receivers.dedup();
                self.core.lock_rows(&tx, &receivers).await?;
                // The activity rows in id order, as the lease renewal and the commits lock
                // them, before they are deleted in the order the results came.
                let ids: Vec<i64> = completions.iter().map(|c| c.id).collect();
                let statement = tx
                    .prepare_cached(&self.core.sql(
                        "SELECT id FROM {s}.activities WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                    ))
                    .await
                    .map_err(backend)?;
                tx.execute(&statement, &[&ids]).await.map_err(backend)?;
                let statement = tx
                    .prepare_cached(
                        &self
                            .core
                            .sql("DELETE FROM {s}.activities WHERE id = $1 AND lock_token = $2"),
                    )
                    .await
                    .map_err(backend)?;
                let mut woken: Vec<&str> = Vec::new();
                let mut messages = Vec::new();
                for completion in &completions {
                    if tx
                        .execute(
                            &statement,
                            &[&completion.id, &completion.lock_token.as_str()],
                        )
                        .await
                        .map_err(backend)?
                        == 1
                    {
                        messages.push(OutboundMessage {
                            instance_id: completion.instance_id.clone(),
                            execution_id: Some(completion.execution_id.clone()),
                            visible_at: from_micros(now * 1000),
                            event: completion.event.clone(),
                        });
                        if !woken.contains(&completion.instance_id.as_str()) {
                            woken.push(completion.instance_id.as_str());
                        }
                    }
                }
                let messages: Vec<&OutboundMessage> = messages.iter().collect();
                // Instances leased here get their `due_at` from the lease (and from their
                // commit's recount after it); only the others' moves forward (`MARK_DUE`).
                let items = match lease_instances {
                    Some(lease) if !woken.is_empty() => {
                        let mut skip = woken.clone();
                        skip.sort_unstable();
                        self.core
                            .insert_messages(&tx, &messages, &skip, true, &mut counts)
                            .await?;
                        let items = self
                            .core
                            .lease_instances(
                                &tx,
                                writes::Claim::Named(&woken),
                                i64::try_from(woken.len()).unwrap_or(i64::MAX),
                                lease,
                                false,
                            )
                            .await?;
                        let unleased: Vec<&OutboundMessage> = messages
                            .iter()
                            .filter(|m| !items.iter().any(|i| i.instance_id == m.instance_id))
                            .copied()
                            .collect();
                        self.core.mark_due(&tx, &unleased).await?;
                        items
                    }
                    _ => {
                        self.core
                            .insert_messages(&tx, &messages, &[], true, &mut counts)
                            .await?;
                        Vec::new()
                    }
                };
                wake.orchestrations = woken.len() > items.len();
                self.core.notify(&tx, &wake).await?;
                Ok(items)
            }
            .await;
            result
        })?;
        self.core.wake_local(&wake);
        Ok(items)
    }

    async fn renew_activity_leases(
        &self,
        items: Vec<ActivityLease>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let expires = clock::now_millis() + lease_millis(lease);
        let (ids, tokens) = lease_arrays(items);
        let client = self.core.client().await?;
        // The rows are locked in id order first (the `ARRAY(…)` runs before the update), as
        // the completions lock them: an update in the join's order could lock them in
        // another order and deadlock with a completion of the same batch.
        let statement = client
            .prepare_cached(&self.core.sql(
                "UPDATE {s}.activities a SET lock_expires = $1
                 FROM UNNEST($2::bigint[], $3::text[]) AS r(id, token)
                 WHERE a.id = r.id AND a.lock_token = r.token
                   AND a.id = ANY(ARRAY(
                       SELECT l.id FROM {s}.activities l WHERE l.id = ANY($2) ORDER BY l.id FOR UPDATE))",
            ))
            .await
            .map_err(backend)?;
        client
            .execute(&statement, &[&expires, &ids, &tokens])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn abandon_activities(&self, items: Vec<ActivityLease>) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let wake = Wakeups {
            activities: true,
            ..Wakeups::default()
        };
        let (ids, tokens) = lease_arrays(items);
        in_transaction!(self.core, |tx, counts| {
            let statement = tx
                .prepare_cached(&self.core.sql(
                    "UPDATE {s}.activities a SET lock_token = NULL, lock_expires = NULL
                     FROM UNNEST($1::bigint[], $2::text[]) AS r(id, token)
                     WHERE a.id = r.id AND a.lock_token = r.token",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&ids, &tokens])
                .await
                .map_err(backend)?;
            self.core.notify(&tx, &wake).await
        })?;
        self.core.wake_local(&wake);
        Ok(())
    }

    async fn get_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<OrchestrationStatus>, StoreError> {
        // Grouped with other callers' status reads (see `grouped_reads`).
        self.status_reads.get(instance_id).await
    }

    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError> {
        let (after, page_size) = super::list_position(query)?;
        // One keyset range per status (`instances_by_status`), merged here, as on SQLite.
        let statuses = super::list_statuses(query);
        let client = self.core.client().await?;
        let mut instances = Vec::new();
        for status in statuses {
            let (sql, values) = list_sql(query, status, after.as_ref(), page_size);
            let params: Vec<&(dyn ToSql + Sync)> = values
                .iter()
                .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let statement = client
                .prepare_cached(&self.core.sql(&sql))
                .await
                .map_err(backend)?;
            for row in client.query(&statement, &params).await.map_err(backend)? {
                instances.push(read_status(&row)?);
            }
        }
        Ok(super::merge_ranges(instances, page_size))
    }

    async fn read_history(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<Vec<HistoryEvent>>, StoreError> {
        // Grouped with other callers' history reads (see `grouped_reads`).
        self.history_reads.get(instance_id).await
    }

    async fn enqueue_message(
        &self,
        message: OutboundMessage,
        accept: &[RuntimeStatus],
    ) -> Result<RuntimeStatus, StoreError> {
        // Batched with other callers' starts and messages (see `client_writes`).
        self.client_writes.enqueue(message, accept).await
    }

    async fn purge_instance(&self, instance_id: &InstanceId) -> Result<(), StoreError> {
        in_transaction!(self.core, |tx, counts| {
            let result: Result<(), StoreError> = async {
                let status = self
                    .core
                    .instance_status(&tx, instance_id.as_str())
                    .await?
                    .ok_or_else(|| StoreError::InstanceNotFound(instance_id.clone()))?;
                if !status.is_terminal() {
                    return Err(StoreError::InstanceState {
                        instance_id: instance_id.clone(),
                        status,
                    });
                }
                self.core
                    .delete_instance(&tx, &[instance_id.as_str()], &mut counts)
                    .await
            }
            .await;
            result
        })
    }

    async fn purge_instances(&self, query: &PurgeQuery) -> Result<usize, StoreError> {
        let statuses: Vec<i32> = super::purge_statuses(query)
            .into_iter()
            .map(RuntimeStatus::code)
            .collect();
        if statuses.is_empty() {
            return Ok(0);
        }
        let from = query.created_from.map_or(i64::MIN, micros);
        let to = query.created_to.map_or(i64::MAX, micros);
        // In chunks, one transaction each: locks are held for one chunk, memory stays flat,
        // and workers' commits go on between chunks.
        let mut purged = 0;
        for status in statuses {
            loop {
                let count = in_transaction!(self.core, |tx, counts| {
                    let result: Result<usize, StoreError> = async {
                        let statement = tx
                            .prepare_cached(&self.core.sql(PURGE_NEXT))
                            .await
                            .map_err(backend)?;
                        let ids: Vec<String> = tx
                            .query(&statement, &[&status, &from, &to, &PURGE_CHUNK])
                            .await
                            .map_err(backend)?
                            .iter()
                            .map(|row| row.get(0))
                            .collect();
                        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                        self.core.delete_instance(&tx, &refs, &mut counts).await?;
                        Ok(ids.len())
                    }
                    .await;
                    result
                })?;
                purged += count;
                if (count as i64) < PURGE_CHUNK {
                    break;
                }
            }
        }
        Ok(purged)
    }

    async fn has_activity_work(&self, instance_id: &InstanceId) -> Result<bool, StoreError> {
        let client = self.core.client().await?;
        let statement = client
            .prepare_cached(
                &self
                    .core
                    .sql("SELECT EXISTS (SELECT 1 FROM {s}.activities WHERE instance_id = $1)"),
            )
            .await
            .map_err(backend)?;
        Ok(client
            .query_one(&statement, &[&instance_id.as_str()])
            .await
            .map_err(backend)?
            .get(0))
    }

    async fn task_hub_stats(&self) -> Result<TaskHubStats, StoreError> {
        let now = clock::now_millis();
        let client = self.core.client().await?;
        let read = client
            .prepare_cached(&self.core.sql(READ_COUNTS))
            .await
            .map_err(backend)?;
        let rows = client.query(&read, &[]).await.map_err(backend)?;
        if rows.iter().map(|row| row.get::<_, i64>(3)).sum::<i64>() > 1024 {
            // Each ended connection left up to 16 rows; fold them so reads stay small.
            client
                .batch_execute(&self.core.sql(FOLD_COUNTS))
                .await
                .map_err(backend)?;
        }
        let count = client
            .prepare_cached(&self.core.sql(COUNT_BACKLOG))
            .await
            .map_err(backend)?;
        let backlog_row = client.query_one(&count, &[&now]).await.map_err(backend)?;
        let next = client
            .prepare_cached(&self.core.sql(NEXT_VISIBLE))
            .await
            .map_err(backend)?;
        let next: Option<i64> = client
            .query_one(&next, &[&now])
            .await
            .map_err(backend)?
            .get(0);
        Ok(sql_stats(
            rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))),
            (backlog_row.get(0), backlog_row.get(1)),
            (backlog_row.get(2), backlog_row.get(3)),
            next,
            now,
        ))
    }

    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.core.client().await?;
        let statement = client
            .prepare_cached(&self.core.sql(NEXT_VISIBLE))
            .await
            .map_err(backend)?;
        let next: Option<i64> = client
            .query_one(&statement, &[&clock::now_millis()])
            .await
            .map_err(backend)?
            .get(0);
        Ok(next.and_then(DateTime::from_timestamp_millis))
    }

    fn notifier(&self) -> &Notifier {
        &self.core.notifier
    }
}

/// Activity leases as the two arrays an `UNNEST($ids, $tokens)` binds.
fn lease_arrays(items: Vec<ActivityLease>) -> (Vec<i64>, Vec<String>) {
    items
        .into_iter()
        .map(|lease| (lease.id, lease.lock_token.into_string()))
        .unzip()
}
