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

/// The fetch's claim: up to `$4` instances that are due (`due_at <= $3`), earliest first,
/// read from `instances_by_due` (which holds only instances with work queued, so parked
/// instances, future timers and leased instances cost nothing: a lease moves `due_at` to
/// its expiry) and claimed with `SKIP LOCKED`. A claim moves `due_at` to the lease's expiry,
/// so a dead worker's instances fall due again when their leases run out. Rows of any
/// status code are claimed: one this build does not know (corrupt, or written by a newer
/// build) is set aside by [`Core::lease_instances`](super::Core) (`SET_ASIDE`). The claimed
/// ids are collected into an array first (`= ANY(ARRAY(…))`), so the update finds its rows
/// by primary key: a join here lets a generic plan, which cannot see `$4`, hash-join
/// against a scan of `instances`.
pub(super) const FETCH_DUE: &str =
    "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2, due_at = $2
     WHERE i.instance_id = ANY(ARRAY(
         SELECT c.instance_id FROM {s}.instances c
         WHERE c.due_at <= $3 AND (c.lock_expires IS NULL OR c.lock_expires <= $3)
         ORDER BY c.due_at
         LIMIT $4
         FOR UPDATE SKIP LOCKED))
     RETURNING i.instance_id, i.execution_id, i.name, i.status, i.history_len, i.version";

/// Releases the claim on instances whose status code this build does not know and takes
/// them out of `instances_by_due`: they are not fetched again until a message arrives for
/// them or an operator repairs the row.
pub(super) const SET_ASIDE: &str =
    "UPDATE {s}.instances SET lock_token = NULL, lock_expires = NULL, due_at = NULL
     WHERE instance_id = ANY($1) AND lock_token = $2";

/// Brings the receiving instances' `due_at` forward to their new messages' visibility
/// (`$1` instance ids, `$2` visible times in ms, `$3` control flags, one per message), but
/// not before a live lease expires, and for a suspended instance only for control
/// messages; a row whose `due_at` this would not change is not written. The caller holds
/// the rows' locks, taken by an earlier statement of its transaction (in id order, as every
/// writer takes them): so this statement's snapshot already holds every commit that
/// recomputed a receiver's `due_at` before it, and none can recompute one until it commits.
pub(super) const MARK_DUE: &str = "UPDATE {s}.instances i
     SET due_at = GREATEST(LEAST(i.due_at, CASE WHEN i.status = 7 THEN m.control_at ELSE m.visible_at END), i.lock_expires)
     FROM (SELECT id, MIN(at) AS visible_at, MIN(at) FILTER (WHERE control) AS control_at
           FROM UNNEST($1::text[], $2::bigint[], $3::bool[]) AS u(id, at, control) GROUP BY id) m
     WHERE i.instance_id = m.id
       AND (i.status <> 7 OR m.control_at IS NOT NULL)
       AND i.due_at IS DISTINCT FROM
           GREATEST(LEAST(i.due_at, CASE WHEN i.status = 7 THEN m.control_at ELSE m.visible_at END), i.lock_expires)";

/// Releases the leases `$2` (tokens) of the instances `$1` at once, as an abandon with no
/// delay: each row's `due_at` goes back to its earliest message that may run (a suspended
/// instance's control messages only), `NULL` when none. The caller holds the rows' locks.
pub(super) const RELEASE_LEASES: &str =
    "UPDATE {s}.instances i SET lock_token = NULL, lock_expires = NULL,
         due_at = (SELECT MIN(m.visible_at) FROM {s}.messages m
                   WHERE m.instance_id = i.instance_id AND (m.control OR i.status <> 7))
     FROM UNNEST($1::text[], $2::text[]) AS u(id, token)
     WHERE i.instance_id = u.id AND i.lock_token = u.token";

/// Locks the named instance rows (`$1`) in the order every writer locks instance rows
/// in: orchestrations before entities (whose ids start with `@`), each in id order. A
/// client write batch locks its orchestrations' rows first and its entity rows last, so
/// every writer must take them in this order (the commit's check does); two writers that
/// lock in one order never wait on each other in a cycle.
pub(super) const LOCK_ROWS: &str =
    "SELECT instance_id FROM {s}.instances WHERE instance_id = ANY($1)
     ORDER BY starts_with(instance_id, '@'), instance_id FOR UPDATE";

/// Leases the named instances (`$4`) that have no live lease (and are not suspended unless
/// `$5`), by primary key; as a fetch's claim, the lease moves `due_at` to its expiry.
pub(super) const LEASE_NAMED: &str =
    "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2, due_at = $2
     WHERE i.instance_id = ANY(ARRAY(
         SELECT c.instance_id FROM {s}.instances c
         WHERE c.instance_id = ANY($4)
           AND (c.lock_expires IS NULL OR c.lock_expires <= $3)
           AND c.status BETWEEN 0 AND 7
           AND ($5 OR c.status <> 7)
         FOR UPDATE SKIP LOCKED))
     RETURNING i.instance_id, i.execution_id, i.name, i.status, i.history_len, i.version";

/// Leases the named instances (`$4`) that have no live lease (and are not suspended unless
/// `$5`), as [`LEASE_NAMED`] does, when the caller holds their rows' locks already (a
/// client batch leasing its receivers ahead): no claim of its own, by primary key.
pub(super) const LEASE_LOCKED: &str =
    "UPDATE {s}.instances i SET lock_token = $1, lock_expires = $2, due_at = $2
     WHERE i.instance_id = ANY($4)
       AND (i.lock_expires IS NULL OR i.lock_expires <= $3)
       AND i.status BETWEEN 0 AND 7
       AND ($5 OR i.status <> 7)
     RETURNING i.instance_id, i.execution_id, i.name, i.status, i.history_len, i.version";

/// The visible messages of the instances a fetch leased, in arrival order, through
/// `messages_by_instance`.
pub(super) const INSTANCE_MESSAGES: &str =
    "SELECT id, instance_id, execution_id, event FROM {s}.messages
     WHERE instance_id = ANY($1) AND visible_at <= $2 ORDER BY id";

/// The idle wake-up's next due time: the earliest durable timer, delayed message or lease
/// expiry of any instance, from `instances_by_due`.
pub(super) const NEXT_VISIBLE: &str = "SELECT MIN(due_at) FROM {s}.instances WHERE due_at > $1";

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
        lead_in_bounds: true,
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
