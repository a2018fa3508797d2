//! The PostgreSQL store's schema: task hub names, migrations and the migration lock.

use deadpool_postgres::{GenericClient, Pool};

use crate::error::StoreError;
use crate::store::codec::backend;

/// The schema, one migration per entry; `{s}` stands for the task hub's schema.
pub(super) const MIGRATIONS: &[&str] = &[
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
-- Rows by (entity or not, status), kept by every transaction that inserts, deletes or
-- changes the status of instance rows (`CountDeltas`, one upsert before it commits), so the
-- counts by status (`Store::task_hub_stats`) are read without a pass over the instances.
-- Each connection adds to rows of its own (`shard` = its backend pid), so concurrent
-- commits never wait on one another's counter rows; a read sums the shards, and folds those
-- of ended connections into shard 0 when they pile up (`FOLD_COUNTS`).
CREATE TABLE {s}.instance_counts (
    entity BOOLEAN NOT NULL,
    status INTEGER NOT NULL,
    shard  INTEGER NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (entity, status, shard)
);
INSERT INTO {s}.instance_counts (entity, status, shard, n)
    SELECT starts_with(instance_id, '@'), status, 0, COUNT(*) FROM {s}.instances GROUP BY 1, 2;
"#,
    r#"
-- The W3C trace context an activity's span continues (JSON; NULL when none was recorded).
ALTER TABLE {s}.activities ADD COLUMN trace_context TEXT;
"#,
    r#"
-- Listings filtered by orchestration name (`InstanceQuery::name`) page through the name's
-- rows in (created_at, instance_id) order, so a rare name costs what its page holds.
CREATE INDEX instances_by_name ON {s}.instances (name, created_at, instance_id);
"#,
    r#"
-- Listings by id prefix read the range of `instances_pkey` from the prefix to its
-- successor, computed in byte order (code point order of the UTF-8 ids, as SQLite's BINARY
-- and Rust compare). That range holds exactly the ids with the prefix only when ids
-- compare in byte order, which a linguistic collation (en_US, an ICU locale) does not do:
-- on a database whose default collation is one, instance ids get the "C" collation, in
-- every table (so joins and the tables' indexes agree). A C, POSIX or C.UTF-8 database
-- (or PostgreSQL 17's builtin provider) already compares them so and is left as it is.
DO $$
DECLARE
    db jsonb;
BEGIN
    SELECT to_jsonb(d) INTO db FROM pg_database d WHERE d.datname = current_database();
    IF NOT (db->>'datlocprovider' = 'b'
            OR (COALESCE(db->>'datlocprovider', 'c') = 'c'
                AND db->>'datcollate' IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8'))) THEN
        ALTER TABLE {s}.instances
            ALTER COLUMN instance_id TYPE TEXT COLLATE "C",
            ALTER COLUMN parent_instance_id TYPE TEXT COLLATE "C";
        ALTER TABLE {s}.history ALTER COLUMN instance_id TYPE TEXT COLLATE "C";
        ALTER TABLE {s}.messages ALTER COLUMN instance_id TYPE TEXT COLLATE "C";
        ALTER TABLE {s}.activities ALTER COLUMN instance_id TYPE TEXT COLLATE "C";
    END IF;
END
$$;
"#,
    r#"
-- `due_at` (ms) is when a fetch should next look at the instance: the earliest visible_at
-- of the messages it would process now (only control messages while it is suspended), but
-- not before its lease (or a delayed retry) expires; NULL when it has nothing queued. The
-- fetch and the timer wake-up read `instances_by_due`, which holds only instances with
-- work queued, so parked instances, future timers and leased instances cost a fetch
-- nothing (ARCHITECTURE.md, "Access paths"). Every writer of a message keeps it
-- (`MARK_DUE`), every claim moves it to the lease's expiry, every commit and abandon
-- recomputes it from the instance's own messages. `messages_by_visible` served the old
-- fetch and wake-up, which read the messages themselves, and goes.
ALTER TABLE {s}.instances ADD COLUMN due_at BIGINT;
UPDATE {s}.instances i SET due_at = GREATEST(d.visible_at, i.lock_expires)
    FROM (SELECT m.instance_id, MIN(m.visible_at) AS visible_at
          FROM {s}.messages m JOIN {s}.instances o ON o.instance_id = m.instance_id
          WHERE m.control OR o.status <> 7
          GROUP BY m.instance_id) d
    WHERE i.instance_id = d.instance_id;
CREATE INDEX instances_by_due ON {s}.instances (due_at) WHERE due_at IS NOT NULL;
DROP INDEX {s}.messages_by_visible;
"#,
    r#"
-- Only sub-orchestrations have a parent, and only the listing of a parent's children (a
-- recursive terminate, `InstanceQuery::parent_instance_id`) reads this index, whose `=`
-- implies `IS NOT NULL`: rows without a parent stay out of it, so every insert, delete and
-- non-HOT update of a top-level instance's row (a start, a raise's `MARK_DUE`, a claim, a
-- commit) writes one index entry fewer. Its columns are the listing's order after the
-- parent, so a page of children is a range, not a sort of them all.
DROP INDEX {s}.instances_by_parent;
CREATE INDEX instances_by_parent ON {s}.instances (parent_instance_id, created_at, instance_id)
    WHERE parent_instance_id IS NOT NULL;
"#,
];

pub(super) fn valid_task_hub(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 48
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Creates the schema and runs the migrations it lacks, under a transaction-scoped
/// advisory lock so concurrent workers do it once.
pub(super) async fn migrate(pool: &Pool, schema: &str) -> Result<(), StoreError> {
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
