//! The PostgreSQL store's statements (each access path of ARCHITECTURE.md's table), the
//! listing's query builder and the status row decoder.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::StoreError;
use crate::ids::{ExecutionId, InstanceId};
use crate::status::{OrchestrationStatus, RuntimeStatus};
use crate::store::codec::{
    STATUS_COLUMNS, StoredStatus, backend, decode_status, from_micros, micros,
};
use crate::store::{InstanceQuery, list_prefix, prefix_range};

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
/// earliest `$4 * 8` of them), each candidate's row found by its primary key and claimed
/// with `SKIP LOCKED`. A row whose status code this build does not know (corrupt, or
/// written by a newer build) is never claimed: it is set aside until an operator repairs it.
/// The claimed ids are collected into an array first (`= ANY(ARRAY(…))`),
/// so the update finds its rows by primary key too: a join here lets a generic plan, which
/// cannot see `$4`, hash-join against a scan of `instances`.
pub(super) const FETCH_DUE: &str = "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2
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

/// A listing's statement for one status (any, if `None`) after the keyset position `after`,
/// and its bound values: served by `instances_by_status` with a status, `instances_by_name`
/// with a name, `instances_by_created` without, and `instances_pkey` (in id order) with an
/// id prefix, from one range start (the later of `created_from` and the token, or of the
/// prefix and the token's id), so a deep page costs what the first does.
pub(super) fn list_sql(
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
    if let Some(prefix) = list_prefix(query) {
        // By id prefix: the primary key's range from the prefix (or the token's id) to the
        // prefix's successor, in id order (`instance_id` compares in byte order: migration
        // 6); the other fields filter it.
        let ((start, exclusive), end) = prefix_range(prefix, after);
        values.push(Box::new(start.to_owned()));
        let op = if exclusive { ">" } else { ">=" };
        sql.push_str(&format!(" AND instance_id {op} ${}", values.len()));
        if let Some(end) = end {
            // The end as a row comparison: beside the start, a plain `instance_id < $n`
            // makes the generic plan estimate the pair as a narrow range (0.5% of rows),
            // under a page's LIMIT on a small table, and pick a bitmap scan with a sort of
            // every match; estimated on its own, the plan reads `instances_pkey` in order
            // and stops at the end (index condition `instance_id <= $n`, the row filter
            // dropping the end itself, which has not the prefix).
            values.push(Box::new(end));
            sql.push_str(&format!(
                " AND (instance_id, true) < (${}, true)",
                values.len()
            ));
        }
        if !query.statuses.is_empty() {
            let codes: Vec<String> = query
                .statuses
                .iter()
                .map(|s| s.code().to_string())
                .collect();
            sql.push_str(&format!(" AND status IN ({})", codes.join(", ")));
        }
        if let Some(name) = &query.name {
            values.push(Box::new(name.clone()));
            sql.push_str(&format!(" AND name = ${}", values.len()));
        }
        if let Some(from) = from {
            values.push(Box::new(from));
            sql.push_str(&format!(" AND created_at >= ${}", values.len()));
        }
        if let Some(to) = query.created_to {
            values.push(Box::new(micros(to)));
            sql.push_str(&format!(" AND created_at < ${}", values.len()));
        }
    } else if let Some(name) = &query.name {
        // One name: a range of `instances_by_name (name, created_at, instance_id)`, its
        // bounds written as row values of that index (beside the equality, which the
        // planner's estimate of the name's rows needs), so a deep page starts where the
        // token points and reads no row of another name.
        values.push(Box::new(name.clone()));
        let k = values.len();
        sql.push_str(&format!(" AND name = ${k}"));
        match after {
            Some((micros, id)) if from.is_none_or(|from| *micros >= from) => {
                values.push(Box::new(*micros));
                values.push(Box::new(id.clone()));
                let n = values.len();
                sql.push_str(&format!(
                    " AND (name, created_at, instance_id) > (${k}, ${}, ${n})",
                    n - 1
                ));
            }
            _ => {
                if let Some(from) = from {
                    values.push(Box::new(from));
                    sql.push_str(&format!(
                        " AND (name, created_at) >= (${k}, ${})",
                        values.len()
                    ));
                }
            }
        }
        if let Some(to) = query.created_to {
            values.push(Box::new(micros(to)));
            sql.push_str(&format!(
                " AND (name, created_at) < (${k}, ${})",
                values.len()
            ));
        }
    } else {
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
    }
    if let Some(parent) = &query.parent_instance_id {
        values.push(Box::new(parent.to_string()));
        sql.push_str(&format!(" AND parent_instance_id = ${}", values.len()));
    }
    if list_prefix(query).is_none() {
        // Entities are listed only when asked for by their `@` prefix.
        sql.push_str(" AND left(instance_id, 1) <> '@'");
    }
    // One name: the order of `instances_by_name` (the same order, `name` being fixed).
    let order = if list_prefix(query).is_some() {
        "instance_id"
    } else if query.name.is_some() {
        "name, created_at, instance_id"
    } else {
        "created_at, instance_id"
    };
    sql.push_str(&format!(
        " ORDER BY {order} LIMIT {}",
        page_size.saturating_add(1)
    ));
    (sql, values)
}
