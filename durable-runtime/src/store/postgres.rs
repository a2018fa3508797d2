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
//!   a savepoint. PostgreSQL's own group commit shares WAL flushes between concurrent
//!   transactions. Every statement is parameterized.
//!
//! Durability is the server's: with the default `synchronous_commit = on` a commit is on
//! disk when it returns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls, Row};

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

/// Options for [`PostgresStore::connect_with`].
#[derive(Debug, Clone)]
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

/// The schema, one migration per entry; `{s}` stands for the task hub's schema.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE {s}.instances (
    instance_id        TEXT PRIMARY KEY,
    execution_id       TEXT NOT NULL,
    name               TEXT NOT NULL,
    version            TEXT,
    status             INTEGER NOT NULL,
    input              TEXT NOT NULL,
    output             TEXT,
    custom_status      TEXT,
    failure            TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    history_len        BIGINT NOT NULL DEFAULT 0,
    lock_token         TEXT,
    lock_expires       BIGINT,
    parent_instance_id TEXT
);
CREATE INDEX instances_by_created ON {s}.instances (created_at, instance_id);
CREATE INDEX instances_by_status ON {s}.instances (status, created_at);
CREATE INDEX instances_by_parent ON {s}.instances (parent_instance_id);
CREATE TABLE {s}.history (
    instance_id TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE {s}.messages (
    id           BIGSERIAL PRIMARY KEY,
    instance_id  TEXT NOT NULL,
    execution_id TEXT,
    visible_at   BIGINT NOT NULL,
    event        TEXT NOT NULL,
    control      BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX messages_by_instance ON {s}.messages (instance_id, id);
CREATE INDEX messages_by_visible ON {s}.messages (visible_at);
CREATE TABLE {s}.activities (
    id            BIGSERIAL PRIMARY KEY,
    instance_id   TEXT NOT NULL,
    execution_id  TEXT NOT NULL,
    scheduled_id  BIGINT NOT NULL,
    name          TEXT NOT NULL,
    input         TEXT NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    lock_token    TEXT,
    lock_expires  BIGINT
);
CREATE INDEX activities_by_instance ON {s}.activities (instance_id);
",
    r#"
-- Status listings and purges page in (created_at, instance_id) order within one status;
-- activity fetches read the activities a fetch may take, oldest first (ARCHITECTURE.md,
-- "Access paths").
DROP INDEX {s}.instances_by_status;
CREATE INDEX instances_by_status ON {s}.instances (status, created_at, instance_id);
CREATE INDEX activities_by_visible ON {s}.activities ((COALESCE(lock_expires, 0)), id);
"#,
    r#"
-- The W3C trace context an activity's span continues (JSON; NULL when none was recorded).
ALTER TABLE {s}.activities ADD COLUMN trace_context TEXT;
"#,
];

/// The fetch's claim: up to `$4` instances with visible messages and no live lease, oldest
/// message first. Driven by `messages_by_visible` (only messages already visible, the
/// earliest `$4 * 8` of them), each candidate's row found by its primary key and claimed
/// with `SKIP LOCKED`. A row whose status code this build does not know (corrupt, or
/// written by a newer build) is never claimed: it is set aside until an operator repairs it.
/// The claimed ids are collected into an array first (`= ANY(ARRAY(…))`),
/// so the update finds its rows by primary key too: a join here lets a generic plan, which
/// cannot see `$4`, hash-join against a scan of `instances`.
const FETCH_DUE: &str = "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2
     WHERE i.instance_id = ANY(ARRAY(
         SELECT c.instance_id FROM {s}.instances c
         JOIN (SELECT m.instance_id, MIN(m.visible_at) AS visible_at
               FROM (SELECT instance_id, visible_at FROM {s}.messages
                     WHERE visible_at <= $3 ORDER BY visible_at LIMIT $4::bigint * 8) m
               GROUP BY m.instance_id) d ON d.instance_id = c.instance_id
         WHERE (c.lock_expires IS NULL OR c.lock_expires <= $3)
           AND c.status BETWEEN 0 AND 7
           AND (c.status <> 7 OR EXISTS (
               SELECT 1 FROM {s}.messages m WHERE m.instance_id = c.instance_id AND m.control AND m.visible_at <= $3))
         ORDER BY d.visible_at
         LIMIT $4
         FOR UPDATE OF c SKIP LOCKED))
     RETURNING i.instance_id, i.execution_id, i.name, i.status, i.history_len, i.version";

/// Leases the named instances (`$4`) that have no live lease (and are not suspended unless
/// `$5`), by primary key.
const LEASE_NAMED: &str = "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2
     WHERE i.instance_id = ANY(ARRAY(
         SELECT c.instance_id FROM {s}.instances c
         WHERE c.instance_id = ANY($4)
           AND (c.lock_expires IS NULL OR c.lock_expires <= $3)
           AND c.status BETWEEN 0 AND 7
           AND ($5 OR c.status <> 7)
         FOR UPDATE SKIP LOCKED))
     RETURNING i.instance_id, i.execution_id, i.name, i.status, i.history_len, i.version";

/// The visible messages of the instances a fetch leased, in arrival order. Read through
/// `messages_by_instance` only: `visible_at + 0` keeps the planner from combining it with a
/// range of `messages_by_visible`, which would read every due message of the hub.
const INSTANCE_MESSAGES: &str = "SELECT id, instance_id, execution_id, event FROM {s}.messages
     WHERE instance_id = ANY($1) AND visible_at + 0 <= $2 ORDER BY id";

/// An instance's history, in order.
const HISTORY: &str = "SELECT seq, event FROM {s}.history WHERE instance_id = $1 ORDER BY seq";

/// The idle wake-up's next due time: the earliest message not visible yet.
const NEXT_VISIBLE: &str = "SELECT MIN(visible_at) FROM {s}.messages WHERE visible_at > $1";

/// Leases up to `$4` activities that are not leased or whose lease expired, oldest first,
/// through `activities_by_visible`; the update finds the claimed rows by primary key (see
/// [`FETCH_DUE`] for why the ids go through an array).
const FETCH_ACTIVITIES: &str = "UPDATE {s}.activities a SET lock_token = $1, lock_expires = $2, dequeue_count = a.dequeue_count + 1
     WHERE a.id = ANY(ARRAY(
         SELECT c.id FROM {s}.activities c
         WHERE COALESCE(c.lock_expires, 0) <= $3
         ORDER BY COALESCE(c.lock_expires, 0), c.id LIMIT $4
         FOR UPDATE SKIP LOCKED))
     RETURNING a.id, a.instance_id, a.execution_id, a.scheduled_id, a.name, a.input, a.dequeue_count,
               a.trace_context";

/// A purge chunk's next instances: the oldest of the given terminal statuses in the range.
const PURGE_NEXT: &str = "SELECT instance_id FROM {s}.instances
     WHERE status = $1 AND created_at >= $2 AND created_at < $3 AND left(instance_id, 1) <> '@'
     ORDER BY created_at, instance_id LIMIT $4
     FOR UPDATE SKIP LOCKED";

/// Instances a purge deletes per transaction.
const PURGE_CHUNK: i64 = 1000;

/// The store; see the [module docs](self).
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    channel: String,
    notifier: Arc<Notifier>,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("task_hub", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn read_status(row: &Row) -> Result<OrchestrationStatus, StoreError> {
    let instance_id: String = row.try_get(0).map_err(backend)?;
    let (runtime_status, input, output, custom_status, failure) = decode_status(
        &instance_id,
        StoredStatus {
            code: row.try_get(4).map_err(backend)?,
            input: row.try_get(5).map_err(backend)?,
            output: row.try_get(6).map_err(backend)?,
            custom_status: row.try_get(7).map_err(backend)?,
            failure: row.try_get(8).map_err(backend)?,
        },
    );
    Ok(OrchestrationStatus {
        instance_id: InstanceId::from_trusted(instance_id),
        execution_id: ExecutionId::from_trusted(row.try_get(1).map_err(backend)?),
        name: row.try_get(2).map_err(backend)?,
        version: row.try_get(3).map_err(backend)?,
        runtime_status,
        input,
        output,
        custom_status,
        failure,
        created_time: from_micros(row.try_get(9).map_err(backend)?),
        last_updated_time: from_micros(row.try_get(10).map_err(backend)?),
        parent_instance_id: row
            .try_get::<_, Option<String>>(11)
            .map_err(backend)?
            .map(InstanceId::from_trusted),
    })
}

/// What a write made for other workers and waiters, sent as `NOTIFY` at commit.
#[derive(Default)]
struct Wakeups {
    orchestrations: bool,
    activities: bool,
    finished: Vec<InstanceId>,
}

fn valid_task_hub(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 48
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
    /// the schema cannot be created; [`StoreError::Corrupt`] for an invalid task hub name;
    /// [`StoreError::SchemaVersion`] for a schema newer than this code's.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        if !valid_task_hub(&options.task_hub) {
            return Err(StoreError::Corrupt(format!(
                "invalid task hub name {:?}: use lower-case letters, digits and `_`, starting with a letter or `_`, at most 48 characters",
                options.task_hub
            )));
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
        Ok(Self {
            pool,
            schema,
            channel,
            notifier,
            listener,
        })
    }

    /// The task hub (schema) this store uses.
    pub fn task_hub(&self) -> &str {
        &self.schema
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
                "fetch: a leased instance's messages",
                INSTANCE_MESSAGES.to_owned(),
            ),
            ("timer wake-up: next due time", NEXT_VISIBLE.to_owned()),
            ("fetch: activities", FETCH_ACTIVITIES.to_owned()),
            (
                "status read",
                format!("SELECT {STATUS_COLUMNS} FROM {{s}}.instances WHERE instance_id = $1"),
            ),
            ("history read", HISTORY.to_owned()),
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
        let mut client = self.client().await?;
        let explained: Result<Vec<super::QueryPlan>, StoreError> = async {
            let tx = client.transaction().await.map_err(backend)?;
            tx.batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
                .await
                .map_err(backend)?;
            let mut plans = Vec::with_capacity(paths.len());
            for (access_path, sql) in paths {
                let sql = self.sql(&sql);
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

    async fn insert_messages(
        &self,
        tx: &impl GenericClient,
        messages: &[&OutboundMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut entity_ids: Vec<&str> = Vec::new();
        let mut entity_names: Vec<String> = Vec::new();
        for message in messages {
            if let Some(entity) = EntityId::from_instance_id(message.instance_id.as_str())
                && !entity_ids.contains(&message.instance_id.as_str())
            {
                entity_ids.push(message.instance_id.as_str());
                entity_names.push(entity.name().to_owned());
            }
        }
        if !entity_ids.is_empty() {
            // A message to an entity that has no row yet creates it.
            let statement = tx
                .prepare_cached(&self.sql(
                    "INSERT INTO {s}.instances (instance_id, execution_id, name, status, input, created_at, updated_at)
                     SELECT id, '', name, $3, 'null', $4, $4 FROM UNNEST($1::text[], $2::text[]) AS e(id, name)
                     ON CONFLICT (instance_id) DO NOTHING",
                ))
                .await
                .map_err(backend)?;
            tx.execute(
                &statement,
                &[
                    &entity_ids,
                    &entity_names,
                    &RuntimeStatus::Pending.code(),
                    &micros(clock::now()),
                ],
            )
            .await
            .map_err(backend)?;
        }
        let mut ids = Vec::with_capacity(messages.len());
        let mut executions = Vec::with_capacity(messages.len());
        let mut visible = Vec::with_capacity(messages.len());
        let mut events = Vec::with_capacity(messages.len());
        let mut control = Vec::with_capacity(messages.len());
        for message in messages {
            ids.push(message.instance_id.as_str());
            executions.push(message.execution_id.as_ref().map(ExecutionId::as_str));
            visible.push(message.visible_at.timestamp_millis());
            events.push(encode_json(&message.event)?);
            control.push(is_control(&message.event));
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "INSERT INTO {s}.messages (instance_id, execution_id, visible_at, event, control)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bool[])",
            ))
            .await
            .map_err(backend)?;
        tx.execute(
            &statement,
            &[&ids, &executions, &visible, &events, &control],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn instance_status(
        &self,
        tx: &impl GenericClient,
        instance_id: &str,
        for_update: bool,
    ) -> Result<Option<RuntimeStatus>, StoreError> {
        let sql = if for_update {
            "SELECT status FROM {s}.instances WHERE instance_id = $1 FOR UPDATE"
        } else {
            "SELECT status FROM {s}.instances WHERE instance_id = $1"
        };
        let statement = tx.prepare_cached(&self.sql(sql)).await.map_err(backend)?;
        tx.query_opt(&statement, &[&instance_id])
            .await
            .map_err(backend)?
            .map(|row| status_from_code(row.get(0)))
            .transpose()
    }

    async fn delete_instance(
        &self,
        tx: &impl GenericClient,
        instance_ids: &[&str],
    ) -> Result<(), StoreError> {
        for table in ["history", "messages", "activities", "instances"] {
            let statement = tx
                .prepare_cached(&self.sql(&format!(
                    "DELETE FROM {{s}}.{table} WHERE instance_id = ANY($1)"
                )))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&instance_ids])
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    /// Creates an instance inside the open transaction (which holds a savepoint for it).
    async fn create_in(
        &self,
        tx: &impl GenericClient,
        new: &NewInstance,
    ) -> Result<(), StoreError> {
        if let Some(status) = self
            .instance_status(tx, new.instance_id.as_str(), true)
            .await?
        {
            if !status.is_terminal() {
                return Err(StoreError::InstanceAlreadyExists {
                    instance_id: new.instance_id.clone(),
                    status,
                });
            }
            self.delete_instance(tx, &[new.instance_id.as_str()])
                .await?;
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "INSERT INTO {s}.instances (instance_id, execution_id, name, version, status, input, created_at, updated_at, parent_instance_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            ))
            .await
            .map_err(backend)?;
        let inserted = tx
            .execute(
                &statement,
                &[
                    &new.instance_id.as_str(),
                    &new.execution_id.as_str(),
                    &new.name,
                    &new.version,
                    &RuntimeStatus::Pending.code(),
                    &new.input.as_json(),
                    &micros(new.created_at),
                    &new.parent_instance_id.as_ref().map(InstanceId::as_str),
                ],
            )
            .await;
        if let Err(error) = inserted {
            // Another worker created it between our check and insert.
            if error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                return Err(StoreError::InstanceAlreadyExists {
                    instance_id: new.instance_id.clone(),
                    status: RuntimeStatus::Pending,
                });
            }
            return Err(backend(error));
        }
        let started = OutboundMessage {
            instance_id: new.instance_id.clone(),
            execution_id: Some(new.execution_id.clone()),
            visible_at: new.created_at,
            event: new.started.clone(),
        };
        self.insert_messages(tx, &[&started]).await
    }

    /// Leases the given candidate instances (those whose claim succeeds) and reads their
    /// visible messages.
    async fn lease_instances(
        &self,
        tx: &impl GenericClient,
        candidates: Option<&[&str]>,
        max: i64,
        lease: Duration,
        allow_suspended: bool,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = clock::now_millis();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let expires = now + lease_millis(lease);
        let rows = match candidates {
            None => {
                let statement = tx
                    .prepare_cached(&self.sql(FETCH_DUE))
                    .await
                    .map_err(backend)?;
                tx.query(&statement, &[&token, &expires, &now, &max])
                    .await
                    .map_err(backend)?
            }
            Some(ids) => {
                let statement = tx
                    .prepare_cached(&self.sql(LEASE_NAMED))
                    .await
                    .map_err(backend)?;
                tx.query(
                    &statement,
                    &[&token, &expires, &now, &ids, &allow_suspended],
                )
                .await
                .map_err(backend)?
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = Vec::with_capacity(rows.len());
        let mut ids: Vec<String> = Vec::with_capacity(rows.len());
        for row in &rows {
            let instance_id: String = row.get(0);
            // The claim takes known status codes only; one that is not is skipped (its
            // lease expires) rather than failing the fetch.
            let Ok(status) = status_from_code(row.get(3)) else {
                continue;
            };
            ids.push(instance_id.clone());
            items.push(OrchestrationWorkItem {
                instance_id: InstanceId::from_trusted(instance_id),
                execution_id: ExecutionId::from_trusted(row.get(1)),
                name: row.get(2),
                version: row.get(5),
                status,
                history_len: usize::try_from(row.get::<_, i64>(4)).unwrap_or(0),
                messages: Vec::new(),
                corrupt_messages: Vec::new(),
                lock_token: token.clone(),
            });
        }
        let statement = tx
            .prepare_cached(&self.sql(INSTANCE_MESSAGES))
            .await
            .map_err(backend)?;
        for row in tx.query(&statement, &[&ids, &now]).await.map_err(backend)? {
            let instance_id: String = row.get(1);
            let execution_id: Option<String> = row.get(2);
            let event: String = row.get(3);
            if let Some(item) = items
                .iter_mut()
                .find(|i| i.instance_id.as_str() == instance_id)
            {
                // One that does not decode fails its instance only (see
                // `OrchestrationWorkItem::corrupt_messages`).
                match decode_event(&event) {
                    Ok(event) => item.messages.push(OrchestrationMessage {
                        id: row.get(0),
                        execution_id: execution_id.map(ExecutionId::from_trusted),
                        event,
                    }),
                    Err(error) => item.corrupt_messages.push(CorruptMessage {
                        id: row.get(0),
                        reason: error.to_string(),
                    }),
                }
            }
        }
        Ok(items)
    }

    /// Commits a batch of turns set-based: the rows of every instance (and every applied
    /// activity) are locked and checked first, in one query each; then each kind of write is
    /// one statement for the whole batch. A refused turn writes nothing, so no savepoint is
    /// needed; any error after the checks fails the whole transaction.
    async fn commit_batch(
        &self,
        tx: &impl GenericClient,
        commits: &[OrchestrationCommit],
        wake: &mut Wakeups,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        // Everything that can fail on data is done before the first write.
        let events = commits
            .iter()
            .map(|c| c.events.iter().map(encode_json).collect())
            .collect::<Result<Vec<Vec<String>>, StoreError>>()?;
        let failures = commits
            .iter()
            .map(|c| c.failure.as_ref().map(encode_json).transpose())
            .collect::<Result<Vec<Option<String>>, StoreError>>()?;

        // Check: lock the batch's instance rows in id order (so batches never deadlock).
        let mut ids: Vec<&str> = commits.iter().map(|c| c.instance_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let statement = tx
            .prepare_cached(&self.sql(
                "SELECT instance_id, lock_token, history_len, lock_expires, execution_id, status
                 FROM {s}.instances WHERE instance_id = ANY($1) ORDER BY instance_id FOR UPDATE",
            ))
            .await
            .map_err(backend)?;
        type Current = (Option<String>, i64, Option<i64>, String, i32);
        let current: HashMap<String, Current> = tx
            .query(&statement, &[&ids])
            .await
            .map_err(backend)?
            .into_iter()
            .map(|row| {
                (
                    row.get(0),
                    (row.get(1), row.get(2), row.get(3), row.get(4), row.get(5)),
                )
            })
            .collect();
        let mut applied: Vec<i64> = commits
            .iter()
            .flat_map(|c| c.applied_activities.iter().map(|(id, _)| *id))
            .collect();
        applied.sort_unstable();
        let activity_leases: HashMap<i64, Option<String>> = if applied.is_empty() {
            HashMap::new()
        } else {
            let statement = tx
                .prepare_cached(&self.sql(
                    "SELECT id, lock_token FROM {s}.activities WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                ))
                .await
                .map_err(backend)?;
            tx.query(&statement, &[&applied])
                .await
                .map_err(backend)?
                .into_iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect()
        };
        let now = clock::now_millis();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut results: Vec<Result<Vec<ActivityWorkItem>, StoreError>> =
            Vec::with_capacity(commits.len());
        for commit in commits {
            let id = commit.instance_id.as_str();
            let verdict = match current.get(id) {
                None => Err(StoreError::InstanceNotFound(commit.instance_id.clone())),
                Some(_) if !seen.insert(id) => Err(StoreError::LeaseLost(format!(
                    "instance {id} (a second turn in one batch)"
                ))),
                Some((token, history_len, expires, execution_id, status)) => {
                    let holds = match &commit.lock_token {
                        Some(lock_token) => token.as_deref() == Some(lock_token.as_str()),
                        // A turn without a lease: nobody else may be working on the instance.
                        None => {
                            expires.is_none_or(|expires| expires <= now)
                                && execution_id == commit.execution_id.as_str()
                                && *status == RuntimeStatus::Running.code()
                        }
                    };
                    let lost = commit.applied_activities.iter().find(|(id, lock_token)| {
                        activity_leases.get(id).and_then(Option::as_deref)
                            != Some(lock_token.as_str())
                    });
                    if !holds || usize::try_from(*history_len).ok() != Some(commit.history_len) {
                        Err(StoreError::LeaseLost(format!("instance {id}")))
                    } else if let Some((activity_id, _)) = lost {
                        Err(StoreError::LeaseLost(format!("activity {activity_id}")))
                    } else {
                        Ok(Vec::new())
                    }
                }
            };
            results.push(verdict);
        }
        let accepted: Vec<usize> = (0..commits.len()).filter(|&i| results[i].is_ok()).collect();
        if accepted.is_empty() {
            return Ok(results);
        }

        // Writes, one statement per kind for every accepted turn.
        let (done_ids, done_tokens): (Vec<i64>, Vec<&str>) = accepted
            .iter()
            .flat_map(|&i| commits[i].applied_activities.iter())
            .map(|(id, token)| (*id, token.as_str()))
            .unzip();
        if !done_ids.is_empty() {
            let statement = tx
                .prepare_cached(&self.sql(
                    "DELETE FROM {s}.activities a USING UNNEST($1::bigint[], $2::text[]) AS r(id, token)
                     WHERE a.id = r.id AND a.lock_token = r.token",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&done_ids, &done_tokens])
                .await
                .map_err(backend)?;
        }
        let mut history_ids: Vec<&str> = Vec::new();
        let mut history_seqs: Vec<i64> = Vec::new();
        let mut history_events: Vec<&str> = Vec::new();
        for &i in &accepted {
            let base = i64::try_from(commits[i].history_len).unwrap_or(i64::MAX);
            for (offset, event) in events[i].iter().enumerate() {
                history_ids.push(commits[i].instance_id.as_str());
                history_seqs.push(base + i64::try_from(offset).unwrap_or(0));
                history_events.push(event);
            }
        }
        if !history_ids.is_empty() {
            let statement = tx
                .prepare_cached(&self.sql(
                    "INSERT INTO {s}.history (instance_id, seq, event)
                     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[])",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&history_ids, &history_seqs, &history_events])
                .await
                .map_err(backend)?;
        }
        let mut update = InstanceUpdates::default();
        for &i in &accepted {
            let commit = &commits[i];
            update.ids.push(commit.instance_id.as_str());
            // A commit that only drops the messages of a finished instance appends nothing
            // and leaves the status as it is now (a rewind may have made it Pending).
            update
                .statuses
                .push((!super::only_drops_messages(commit)).then(|| commit.status.code()));
            update.updated.push(micros(commit.updated_at));
            update
                .lengths
                .push(i64::try_from(commit.history_len + commit.events.len()).unwrap_or(i64::MAX));
            update
                .outputs
                .push(commit.output.as_ref().map(Payload::as_json));
            update.failures.push(failures[i].as_deref());
            update.custom_changed.push(commit.custom_status.is_some());
            update.customs.push(
                commit
                    .custom_status
                    .as_ref()
                    .and_then(Option::as_ref)
                    .map(Payload::as_json),
            );
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "UPDATE {s}.instances i SET status = COALESCE(u.status, i.status),
                     updated_at = u.updated_at, history_len = u.history_len,
                     output = COALESCE(u.output, i.output),
                     failure = CASE WHEN COALESCE(u.status, i.status) = 3
                         THEN COALESCE(u.failure, i.failure) END,
                     custom_status = CASE WHEN u.custom_changed THEN u.custom_status ELSE i.custom_status END,
                     lock_token = NULL, lock_expires = NULL
                 FROM UNNEST($1::text[], $2::integer[], $3::bigint[], $4::bigint[], $5::text[],
                             $6::text[], $7::boolean[], $8::text[])
                     AS u(id, status, updated_at, history_len, output, failure, custom_changed, custom_status)
                 WHERE i.instance_id = u.id",
            ))
            .await
            .map_err(backend)?;
        tx.execute(
            &statement,
            &[
                &update.ids,
                &update.statuses,
                &update.updated,
                &update.lengths,
                &update.outputs,
                &update.failures,
                &update.custom_changed,
                &update.customs,
            ],
        )
        .await
        .map_err(backend)?;
        let consumed: Vec<i64> = accepted
            .iter()
            .flat_map(|&i| commits[i].consumed.iter().copied())
            .collect();
        if !consumed.is_empty() {
            let statement = tx
                .prepare_cached(&self.sql("DELETE FROM {s}.messages WHERE id = ANY($1)"))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&consumed])
                .await
                .map_err(backend)?;
        }
        self.insert_activities(tx, commits, &accepted, &mut results, wake)
            .await?;
        let mut messages: Vec<&OutboundMessage> = Vec::new();
        for &i in &accepted {
            let commit = &commits[i];
            if let Some(next) = &commit.continue_as_new {
                self.continue_as_new(tx, commit, next).await?;
                wake.orchestrations = true;
            }
            messages.extend(commit.messages.iter());
        }
        if !messages.is_empty() {
            self.insert_messages(tx, &messages).await?;
            wake.orchestrations = true;
        }
        for &i in &accepted {
            let commit = &commits[i];
            for child in &commit.new_instances {
                self.create_child(tx, commit, child, wake).await?;
            }
            if commit.status.is_terminal() {
                wake.finished.push(commit.instance_id.clone());
            }
        }
        // Messages that arrived during the turns (or that they sent each other) wake the
        // dispatchers, in every process.
        let statement = tx
            .prepare_cached(
                &self.sql("SELECT EXISTS (SELECT 1 FROM {s}.messages WHERE instance_id = ANY($1))"),
            )
            .await
            .map_err(backend)?;
        let more: bool = tx
            .query_one(&statement, &[&update.ids])
            .await
            .map_err(backend)?
            .get(0);
        wake.orchestrations |= more;
        Ok(results)
    }

    /// Inserts the activities of the accepted turns in one statement; those created leased
    /// go into their turn's result.
    async fn insert_activities(
        &self,
        tx: &impl GenericClient,
        commits: &[OrchestrationCommit],
        accepted: &[usize],
        results: &mut [Result<Vec<ActivityWorkItem>, StoreError>],
        wake: &mut Wakeups,
    ) -> Result<(), StoreError> {
        let expires = clock::now_millis();
        let tokens: Vec<Option<String>> = accepted
            .iter()
            .map(|&i| {
                commits[i]
                    .lease_activities
                    .map(|_| uuid::Uuid::new_v4().simple().to_string())
            })
            .collect();
        let mut rows = ActivityRows::default();
        for (&i, token) in accepted.iter().zip(&tokens) {
            let commit = &commits[i];
            for activity in &commit.activities {
                rows.instance_ids.push(commit.instance_id.as_str());
                rows.execution_ids.push(commit.execution_id.as_str());
                rows.scheduled.push(activity.scheduled_id);
                rows.names.push(activity.name.as_str());
                rows.inputs.push(activity.input.as_json());
                rows.dequeues.push(i32::from(token.is_some()));
                rows.tokens.push(token.as_deref());
                rows.expires.push(
                    commit
                        .lease_activities
                        .map(|lease| expires + lease_millis(lease)),
                );
                rows.trace_contexts
                    .push(encode_trace_context(activity.trace_context.as_ref()));
            }
        }
        if rows.instance_ids.is_empty() {
            return Ok(());
        }
        let statement = tx
            .prepare_cached(&self.sql(
                "INSERT INTO {s}.activities (instance_id, execution_id, scheduled_id, name, input, dequeue_count, lock_token, lock_expires, trace_context)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
                                      $6::integer[], $7::text[], $8::bigint[], $9::text[])
                 RETURNING id, instance_id, scheduled_id",
            ))
            .await
            .map_err(backend)?;
        let returned = tx
            .query(
                &statement,
                &[
                    &rows.instance_ids,
                    &rows.execution_ids,
                    &rows.scheduled,
                    &rows.names,
                    &rows.inputs,
                    &rows.dequeues,
                    &rows.tokens,
                    &rows.expires,
                    &rows.trace_contexts,
                ],
            )
            .await
            .map_err(backend)?;
        // An instance has one turn per batch and a turn's scheduled ids are distinct, so
        // (instance, scheduled id) names each new row.
        let ids: HashMap<(String, i64), i64> = returned
            .into_iter()
            .map(|row| ((row.get(1), row.get(2)), row.get(0)))
            .collect();
        for (&i, token) in accepted.iter().zip(&tokens) {
            let commit = &commits[i];
            for activity in &commit.activities {
                let key = (commit.instance_id.to_string(), activity.scheduled_id);
                let Some(&id) = ids.get(&key) else {
                    return Err(StoreError::Corrupt(format!(
                        "activity {} of instance {} was inserted but not returned",
                        activity.scheduled_id, commit.instance_id
                    )));
                };
                match (token, &mut results[i]) {
                    (Some(token), Ok(leased)) => leased.push(activity.leased(
                        id,
                        &commit.instance_id,
                        &commit.execution_id,
                        token,
                    )),
                    _ => wake.activities = true,
                }
            }
        }
        Ok(())
    }

    /// Continue-as-new for one committed turn: the history is replaced by the new execution.
    async fn continue_as_new(
        &self,
        tx: &impl GenericClient,
        commit: &OrchestrationCommit,
        next: &super::NewExecution,
    ) -> Result<(), StoreError> {
        let id = commit.instance_id.as_str();
        let statement = tx
            .prepare_cached(&self.sql("DELETE FROM {s}.history WHERE instance_id = $1"))
            .await
            .map_err(backend)?;
        tx.execute(&statement, &[&id]).await.map_err(backend)?;
        let statement = tx
            .prepare_cached(&self.sql(
                "UPDATE {s}.instances SET execution_id = $2, input = $3, output = NULL, failure = NULL, history_len = 0
                 WHERE instance_id = $1",
            ))
            .await
            .map_err(backend)?;
        tx.execute(
            &statement,
            &[&id, &next.execution_id.as_str(), &next.input.as_json()],
        )
        .await
        .map_err(backend)?;
        let restarts: Vec<OutboundMessage> = std::iter::once(&next.started)
            .chain(&next.carryover)
            .map(|event| OutboundMessage {
                instance_id: commit.instance_id.clone(),
                execution_id: Some(next.execution_id.clone()),
                visible_at: commit.updated_at,
                event: event.clone(),
            })
            .collect();
        self.insert_messages(tx, &restarts.iter().collect::<Vec<_>>())
            .await
    }

    /// Creates a sub-orchestration a turn started; an id in use gives the parent
    /// `SubOrchestrationFailed` instead.
    async fn create_child(
        &self,
        tx: &impl GenericClient,
        commit: &OrchestrationCommit,
        child: &NewInstance,
        wake: &mut Wakeups,
    ) -> Result<(), StoreError> {
        tx.batch_execute("SAVEPOINT child").await.map_err(backend)?;
        match self.create_in(tx, child).await {
            Ok(()) => {
                tx.batch_execute("RELEASE SAVEPOINT child")
                    .await
                    .map_err(backend)?;
                wake.orchestrations = true;
            }
            Err(StoreError::InstanceAlreadyExists { .. }) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT child; RELEASE SAVEPOINT child")
                    .await
                    .map_err(backend)?;
                if let Some(message) = failed_sub_orchestration(&commit.instance_id, child) {
                    self.insert_messages(tx, &[&message]).await?;
                    wake.orchestrations = true;
                }
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }
}

/// The columns of one batched instance update, one entry per turn.
#[derive(Default)]
struct InstanceUpdates<'a> {
    ids: Vec<&'a str>,
    statuses: Vec<Option<i32>>,
    updated: Vec<i64>,
    lengths: Vec<i64>,
    outputs: Vec<Option<&'a str>>,
    failures: Vec<Option<&'a str>>,
    custom_changed: Vec<bool>,
    customs: Vec<Option<&'a str>>,
}

/// The columns of one batched activity insert, one entry per activity.
#[derive(Default)]
struct ActivityRows<'a> {
    instance_ids: Vec<&'a str>,
    execution_ids: Vec<&'a str>,
    scheduled: Vec<i64>,
    names: Vec<&'a str>,
    inputs: Vec<&'a str>,
    dequeues: Vec<i32>,
    tokens: Vec<Option<&'a str>>,
    expires: Vec<Option<i64>>,
    trace_contexts: Vec<Option<String>>,
}

/// Creates the schema and runs the migrations it lacks, under a transaction-scoped
/// advisory lock so concurrent workers do it once.
async fn migrate(pool: &Pool, schema: &str) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(backend)?;
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&schema])
        .await
        .map_err(backend)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
    ))
    .await
    .map_err(backend)?;
    let applied: i32 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.migrations"),
            &[],
        )
        .await
        .map_err(backend)?
        .get(0);
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if applied > known {
        return Err(StoreError::SchemaVersion {
            location: format!("task hub {schema}"),
            found: i64::from(applied),
            supported: i64::from(known),
            advice: "a newer build migrated it; run a build at least as new",
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        tx.batch_execute(&migration.replace("{s}", schema))
            .await
            .map_err(backend)?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            &format!("INSERT INTO {schema}.migrations (version) VALUES ($1)"),
            &[&version],
        )
        .await
        .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}

/// A listing's statement for one status (any, if `None`) after the keyset position `after`,
/// and its bound values: served by `instances_by_status` with a status and by
/// `instances_by_created` without, from one range start (the later of `created_from` and
/// the token), so a deep page costs what the first does.
fn list_sql(
    query: &InstanceQuery,
    status: Option<RuntimeStatus>,
    after: Option<&(i64, String)>,
    page_size: usize,
) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sql = format!("SELECT {STATUS_COLUMNS} FROM {{s}}.instances WHERE true");
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    if let Some(status) = status {
        values.push(Box::new(status.code()));
        sql.push_str(&format!(" AND status = ${}", values.len()));
    }
    let from = query.created_from.map(micros);
    match after {
        // Every row after the token is at or after `created_from` too.
        Some((micros, id)) if from.is_none_or(|from| *micros >= from) => {
            values.push(Box::new(*micros));
            values.push(Box::new(id.clone()));
            let n = values.len();
            sql.push_str(&format!(
                " AND (created_at, instance_id) > (${}, ${n})",
                n - 1
            ));
        }
        _ => {
            if let Some(from) = from {
                values.push(Box::new(from));
                sql.push_str(&format!(" AND created_at >= ${}", values.len()));
            }
        }
    }
    if let Some(to) = query.created_to {
        values.push(Box::new(micros(to)));
        sql.push_str(&format!(" AND created_at < ${}", values.len()));
    }
    if let Some(parent) = &query.parent_instance_id {
        values.push(Box::new(parent.to_string()));
        sql.push_str(&format!(" AND parent_instance_id = ${}", values.len()));
    }
    match &query.instance_id_prefix {
        Some(prefix) => {
            values.push(Box::new(prefix.clone()));
            let n = values.len();
            sql.push_str(&format!(" AND left(instance_id, length(${n})) = ${n}"));
        }
        // Entities are listed only when asked for by their `@` prefix.
        None => sql.push_str(" AND left(instance_id, 1) <> '@'"),
    }
    sql.push_str(&format!(
        " ORDER BY created_at, instance_id LIMIT {}",
        page_size.saturating_add(1)
    ));
    (sql, values)
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
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await.map_err(backend)?;
        let result = $body;
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

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn create_instance(&self, new: NewInstance) -> Result<(), StoreError> {
        let wake = Wakeups {
            orchestrations: true,
            ..Wakeups::default()
        };
        in_transaction!(self, |tx| self.create_in(&tx, &new).await)?;
        self.notify_after_commit(&wake).await;
        self.wake_local(&wake);
        Ok(())
    }

    async fn fetch_orchestration_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        in_transaction!(self, |tx| {
            self.lease_instances(&tx, None, max, lease, true).await
        })
    }

    async fn commit_orchestrations(
        &self,
        commits: Vec<OrchestrationCommit>,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        let mut wake = Wakeups::default();
        let results = in_transaction!(self, |tx| {
            match self.commit_batch(&tx, &commits, &mut wake).await {
                Ok(results) => self.notify(&tx, &wake).await.map(|()| results),
                Err(error) => Err(error),
            }
        })?;
        self.wake_local(&wake);
        Ok(results)
    }

    async fn abandon_orchestration_work_item(
        &self,
        instance_id: &InstanceId,
        lock_token: &str,
        retry_after: Duration,
    ) -> Result<(), StoreError> {
        let wake = Wakeups {
            orchestrations: true,
            ..Wakeups::default()
        };
        // A delayed retry: no token, an expiry in the future (fetches skip the row until then).
        let until =
            (!retry_after.is_zero()).then(|| clock::now_millis() + lease_millis(retry_after));
        in_transaction!(self, |tx| {
            let statement = tx
                .prepare_cached(&self.sql(
                    "UPDATE {s}.instances SET lock_token = NULL, lock_expires = $3 WHERE instance_id = $1 AND lock_token = $2",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&instance_id.as_str(), &lock_token, &until])
                .await
                .map_err(backend)?;
            self.notify(&tx, &wake).await
        })?;
        self.wake_local(&wake);
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
        let token = uuid::Uuid::new_v4().simple().to_string();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(FETCH_ACTIVITIES))
            .await
            .map_err(backend)?;
        let rows = client
            .query(
                &statement,
                &[
                    &token,
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
        let items = in_transaction!(self, |tx| {
            let result: Result<Vec<OrchestrationWorkItem>, StoreError> = async {
                let now = clock::now_millis();
                let statement = tx
                    .prepare_cached(
                        &self.sql("DELETE FROM {s}.activities WHERE id = $1 AND lock_token = $2"),
                    )
                    .await
                    .map_err(backend)?;
                let mut woken: Vec<&str> = Vec::new();
                let mut messages = Vec::new();
                for completion in &completions {
                    if tx
                        .execute(&statement, &[&completion.id, &completion.lock_token])
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
                self.insert_messages(&tx, &messages.iter().collect::<Vec<_>>())
                    .await?;
                let items = match lease_instances {
                    Some(lease) if !woken.is_empty() => {
                        self.lease_instances(
                            &tx,
                            Some(&woken),
                            i64::try_from(woken.len()).unwrap_or(i64::MAX),
                            lease,
                            false,
                        )
                        .await?
                    }
                    _ => Vec::new(),
                };
                wake.orchestrations = woken.len() > items.len();
                self.notify(&tx, &wake).await?;
                Ok(items)
            }
            .await;
            result
        })?;
        self.wake_local(&wake);
        Ok(items)
    }

    async fn renew_activity_leases(
        &self,
        items: Vec<(i64, String)>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let expires = clock::now_millis() + lease_millis(lease);
        let (ids, tokens): (Vec<i64>, Vec<String>) = items.into_iter().unzip();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(
                "UPDATE {s}.activities a SET lock_expires = $1
                 FROM UNNEST($2::bigint[], $3::text[]) AS r(id, token)
                 WHERE a.id = r.id AND a.lock_token = r.token",
            ))
            .await
            .map_err(backend)?;
        client
            .execute(&statement, &[&expires, &ids, &tokens])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn abandon_activities(&self, items: Vec<(i64, String)>) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let wake = Wakeups {
            activities: true,
            ..Wakeups::default()
        };
        let (ids, tokens): (Vec<i64>, Vec<String>) = items.into_iter().unzip();
        in_transaction!(self, |tx| {
            let statement = tx
                .prepare_cached(&self.sql(
                    "UPDATE {s}.activities a SET lock_token = NULL, lock_expires = NULL
                     FROM UNNEST($1::bigint[], $2::text[]) AS r(id, token)
                     WHERE a.id = r.id AND a.lock_token = r.token",
                ))
                .await
                .map_err(backend)?;
            tx.execute(&statement, &[&ids, &tokens])
                .await
                .map_err(backend)?;
            self.notify(&tx, &wake).await
        })?;
        self.wake_local(&wake);
        Ok(())
    }

    async fn get_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<OrchestrationStatus>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(&format!(
                "SELECT {STATUS_COLUMNS} FROM {{s}}.instances WHERE instance_id = $1"
            )))
            .await
            .map_err(backend)?;
        client
            .query_opt(&statement, &[&instance_id.as_str()])
            .await
            .map_err(backend)?
            .map(|row| read_status(&row))
            .transpose()
    }

    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError> {
        let (after, page_size) = super::list_position(query)?;
        // One keyset range per status (`instances_by_status`), merged here, as on SQLite.
        let statuses = super::list_statuses(query);
        let client = self.client().await?;
        let mut instances = Vec::new();
        for status in statuses {
            let (sql, values) = list_sql(query, status, after.as_ref(), page_size);
            let params: Vec<&(dyn ToSql + Sync)> = values
                .iter()
                .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let statement = client
                .prepare_cached(&self.sql(&sql))
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
        let client = self.client().await?;
        if self
            .instance_status(&client, instance_id.as_str(), false)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let statement = client
            .prepare_cached(&self.sql(HISTORY))
            .await
            .map_err(backend)?;
        client
            .query(&statement, &[&instance_id.as_str()])
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                decode_event(row.get(1)).map_err(|error| {
                    StoreError::Corrupt(format!(
                        "history row (instance {instance_id}, seq {}): {error}",
                        row.get::<_, i64>(0)
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    async fn enqueue_message(
        &self,
        message: OutboundMessage,
        accept: &[RuntimeStatus],
    ) -> Result<RuntimeStatus, StoreError> {
        let wake = Wakeups {
            orchestrations: true,
            ..Wakeups::default()
        };
        let status = in_transaction!(self, |tx| {
            let result: Result<RuntimeStatus, StoreError> = async {
                let is_entity = EntityId::from_instance_id(message.instance_id.as_str()).is_some();
                let status = match self
                    .instance_status(&tx, message.instance_id.as_str(), !is_entity)
                    .await?
                {
                    Some(status) => status,
                    // An entity is created by its first message (in `insert_messages`).
                    None if is_entity => RuntimeStatus::Pending,
                    None => return Err(StoreError::InstanceNotFound(message.instance_id.clone())),
                };
                if !accept.contains(&status) {
                    return Err(StoreError::InstanceState {
                        instance_id: message.instance_id.clone(),
                        status,
                    });
                }
                if let Some(next) = super::status_on_enqueue(&message.event) {
                    tx.execute(
                        &self.sql(
                            "UPDATE {s}.instances SET status = $2, failure = NULL WHERE instance_id = $1",
                        ),
                        &[&message.instance_id.as_str(), &next.code()],
                    )
                    .await
                    .map_err(backend)?;
                }
                self.insert_messages(&tx, &[&message]).await?;
                Ok(status)
            }
            .await;
            result
        })?;
        self.notify_after_commit(&wake).await;
        self.wake_local(&wake);
        Ok(status)
    }

    async fn purge_instance(&self, instance_id: &InstanceId) -> Result<(), StoreError> {
        in_transaction!(self, |tx| {
            let result: Result<(), StoreError> = async {
                let status = self
                    .instance_status(&tx, instance_id.as_str(), true)
                    .await?
                    .ok_or_else(|| StoreError::InstanceNotFound(instance_id.clone()))?;
                if !status.is_terminal() {
                    return Err(StoreError::InstanceState {
                        instance_id: instance_id.clone(),
                        status,
                    });
                }
                self.delete_instance(&tx, &[instance_id.as_str()]).await
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
                let count = in_transaction!(self, |tx| {
                    let result: Result<usize, StoreError> = async {
                        let statement = tx
                            .prepare_cached(&self.sql(PURGE_NEXT))
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
                        self.delete_instance(&tx, &refs).await?;
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
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                &self.sql("SELECT EXISTS (SELECT 1 FROM {s}.activities WHERE instance_id = $1)"),
            )
            .await
            .map_err(backend)?;
        Ok(client
            .query_one(&statement, &[&instance_id.as_str()])
            .await
            .map_err(backend)?
            .get(0))
    }

    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(NEXT_VISIBLE))
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
        &self.notifier
    }
}
