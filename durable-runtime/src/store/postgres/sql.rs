//! The PostgreSQL store's statements (each access path of ARCHITECTURE.md's table), the
//! listing's query builder and the status row decoder.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::StoreError;
use crate::ids::{ExecutionId, InstanceId};
use crate::status::{OrchestrationStatus, RuntimeStatus};
use crate::store::InstanceQuery;
use crate::store::codec::{StoredStatus, backend, decode_status, from_micros};

/// Adds a transaction's counts-by-status changes to its connection's shard.
pub(super) const WRITE_COUNTS: &str = "INSERT INTO {s}.instance_counts AS c (entity, status, shard, n)
     SELECT e, st, pg_backend_pid(), d FROM UNNEST($1::boolean[], $2::integer[], $3::bigint[]) AS u(e, st, d)
     ON CONFLICT (entity, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n";

/// The counts by (entity, status), summed over the connections' shards.
pub(super) const READ_COUNTS: &str =
    "SELECT entity, status, SUM(n)::BIGINT, COUNT(*) FROM {s}.instance_counts GROUP BY 1, 2";

/// Folds the counter rows of connections that have ended into shard 0 (one statement, so
/// the total never changes): run when the shards pile up.
pub(super) const FOLD_COUNTS: &str = "WITH gone AS (
         DELETE FROM {s}.instance_counts
         WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
         RETURNING entity, status, n)
     INSERT INTO {s}.instance_counts AS c (entity, status, shard, n)
         SELECT entity, status, 0, SUM(n) FROM gone GROUP BY 1, 2
     ON CONFLICT (entity, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n";

/// Due and all messages, queued and all activities, at `$1` (ms).
pub(super) const COUNT_BACKLOG: &str = "SELECT
         (SELECT COUNT(*) FROM {s}.messages WHERE visible_at <= $1),
         (SELECT COUNT(*) FROM {s}.messages),
         (SELECT COUNT(*) FROM {s}.activities WHERE COALESCE(lock_expires, 0) <= $1),
         (SELECT COUNT(*) FROM {s}.activities)";

/// The fetch's claim: up to `$4` instances with visible messages and no live lease, oldest
/// message first. Driven by `messages_by_visible` (only messages already visible, the
/// earliest `$4 * 8` of them *that an instance could take now*: each message's instance row
/// is probed by primary key, and messages of leased instances, and the non-control messages
/// of suspended ones, are passed over, so a leased entity or a suspended instance with a
/// long queue never hides the rest of the hub's work), each candidate's row found by its
/// primary key and claimed with `SKIP LOCKED`. A row whose status code this build does not know (corrupt, or
/// written by a newer build) is never claimed: it is set aside until an operator repairs it.
/// The claimed ids are collected into an array first (`= ANY(ARRAY(…))`),
/// so the update finds its rows by primary key too: a join here lets a generic plan, which
/// cannot see `$4`, hash-join against a scan of `instances`.
pub(super) const FETCH_DUE: &str = "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2
     WHERE i.instance_id = ANY(ARRAY(
         SELECT c.instance_id FROM {s}.instances c
         JOIN (SELECT w.instance_id, MIN(w.visible_at) AS visible_at
               FROM (SELECT m.instance_id, m.visible_at FROM {s}.messages m
                     JOIN {s}.instances o ON o.instance_id = m.instance_id
                     WHERE m.visible_at <= $3
                       AND (o.lock_expires IS NULL OR o.lock_expires <= $3)
                       AND o.status BETWEEN 0 AND 7
                       AND (o.status <> 7 OR m.control)
                     ORDER BY m.visible_at LIMIT $4::bigint * 8) w
               GROUP BY w.instance_id) d ON d.instance_id = c.instance_id
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
pub(super) const LEASE_NAMED: &str = "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2
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
pub(super) const INSTANCE_MESSAGES: &str =
    "SELECT id, instance_id, execution_id, event FROM {s}.messages
     WHERE instance_id = ANY($1) AND visible_at + 0 <= $2 ORDER BY id";

/// An instance's history, in order.
pub(super) const HISTORY: &str =
    "SELECT seq, event FROM {s}.history WHERE instance_id = $1 ORDER BY seq";

/// The idle wake-up's next due time: the earliest message not visible yet.
pub(super) const NEXT_VISIBLE: &str =
    "SELECT MIN(visible_at) FROM {s}.messages WHERE visible_at > $1";

/// Leases up to `$4` activities that are not leased or whose lease expired, oldest first,
/// through `activities_by_visible`; the update finds the claimed rows by primary key (see
/// [`FETCH_DUE`] for why the ids go through an array).
pub(super) const FETCH_ACTIVITIES: &str = "UPDATE {s}.activities a SET lock_token = $1, lock_expires = $2, dequeue_count = a.dequeue_count + 1
     WHERE a.id = ANY(ARRAY(
         SELECT c.id FROM {s}.activities c
         WHERE COALESCE(c.lock_expires, 0) <= $3
         ORDER BY COALESCE(c.lock_expires, 0), c.id LIMIT $4
         FOR UPDATE SKIP LOCKED))
     RETURNING a.id, a.instance_id, a.execution_id, a.scheduled_id, a.name, a.input, a.dequeue_count,
               a.trace_context";

/// A purge chunk's next instances: the oldest of the given terminal statuses in the range.
pub(super) const PURGE_NEXT: &str = "SELECT instance_id FROM {s}.instances
     WHERE status = $1 AND created_at >= $2 AND created_at < $3 AND left(instance_id, 1) <> '@'
     ORDER BY created_at, instance_id LIMIT $4
     FOR UPDATE SKIP LOCKED";

/// Instances a purge deletes per transaction.
pub(super) const PURGE_CHUNK: i64 = 1000;

pub(super) fn read_status(row: &Row) -> Result<OrchestrationStatus, StoreError> {
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

/// A listing's statement and its bound values (see
/// [`listing_sql::list_sql`](crate::store::listing_sql::list_sql)).
pub(super) fn list_sql(
    query: &InstanceQuery,
    status: Option<RuntimeStatus>,
    after: Option<&(i64, String)>,
    page_size: usize,
) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    use crate::store::listing_sql::{Dialect, SqlValue};
    const POSTGRES: Dialect = Dialect {
        sigil: '$',
        table: "{s}.instances",
        bind_status: true,
        filter_mark: "",
        // The end as a row comparison: beside the start, a plain `instance_id < $n` makes
        // the generic plan estimate the pair as a narrow range (0.5% of rows), under a
        // page's LIMIT on a small table, and pick a bitmap scan with a sort of every match;
        // estimated on its own, the plan reads `instances_pkey` in order and stops at the
        // end (index condition `instance_id <= $n`, the row filter dropping the end itself,
        // which has not the prefix).
        prefix_end: |n| format!("(instance_id, true) < ({n}, true)"),
        not_entity: "left(instance_id, 1) <> '@'",
    };
    let (sql, values) =
        crate::store::listing_sql::list_sql(&POSTGRES, query, status, after, page_size);
    let values = values
        .into_iter()
        .map(|value| -> Box<dyn ToSql + Sync + Send> {
            match value {
                SqlValue::Code(code) => Box::new(code),
                SqlValue::Micros(micros) => Box::new(micros),
                SqlValue::Text(text) => Box::new(text),
            }
        })
        .collect();
    (sql, values)
}
