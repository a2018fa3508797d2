//! The SQLite store's schema: its migrations, connection settings and the check that a file is
//! a store this build can use.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::StoreError;
use crate::store::codec::backend;

use super::{Durability, STATEMENT_CACHE, SqliteOptions};

/// `PRAGMA application_id` of a `durable` store ("dura"), set when the schema is created or
/// migrated; a file with another application id is not opened.
pub(super) const APPLICATION_ID: i32 = 0x6475_7261;

/// The schema, one migration per entry; `PRAGMA user_version` records how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
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
-- Rows by (entity or not, status), kept by every write that inserts, deletes or changes
-- the status of an instance row, in its own transaction (`CountDeltas`), so the counts by
-- status (`Store::task_hub_stats`) are read without a pass over the instances.
CREATE TABLE instance_counts (
    entity INTEGER NOT NULL,
    status INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (entity, status)
) WITHOUT ROWID;
INSERT INTO instance_counts (entity, status, n)
    SELECT substr(instance_id, 1, 1) = '@', status, COUNT(*) FROM instances GROUP BY 1, 2;
"#,
    r#"
-- The W3C trace context an activity's span continues (JSON; NULL when none was recorded).
ALTER TABLE activities ADD COLUMN trace_context TEXT;
"#,
    r#"
-- Listings filtered by orchestration name (`InstanceQuery::name`) page through the name's
-- rows in (created_at, instance_id) order, so a rare name costs what its page holds.
CREATE INDEX instances_by_name ON instances (name, created_at, instance_id);
"#,
    r#"
-- Only sub-orchestrations have a parent, and only the listing of a parent's children (a
-- recursive terminate, `InstanceQuery::parent_instance_id`) reads this index, whose `=`
-- implies `IS NOT NULL`: rows without a parent stay out of it, so inserting or deleting a
-- top-level instance (a start, a purge) writes one B-tree fewer. Its columns are the
-- listing's order after the parent, so a page of children is a range, not a sort of them
-- all.
DROP INDEX instances_by_parent;
CREATE INDEX instances_by_parent ON instances (parent_instance_id, created_at, instance_id)
    WHERE parent_instance_id IS NOT NULL;
"#,
];

pub(super) fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
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

pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
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
pub(super) fn check_schema(
    conn: &Connection,
    path: &Path,
    options: &SqliteOptions,
) -> Result<(), StoreError> {
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
