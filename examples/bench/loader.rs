//! W9's bulk loader: fills a store with completed W4 instances fast, by copying one real
//! instance (run by the engine) through the store's own schema.
//!
//! - SQLite and PostgreSQL: `INSERT … SELECT` from the template's rows, once per table, with
//!   a generated id and creation time per copy; every column the store has is copied as the
//!   template has it, so the copies are exactly what the engine would have written (status
//!   Completed, its history, no messages, no lease).
//! - Memory: the same instances, under the same ids, started and run by the engine (there
//!   is no schema to copy into).
//!
//! Copies are created 1 ms apart, ending before the template, so created-time listings
//! have a spread to page through.

use std::time::Duration;

use chrono::{DateTime, Utc};
use durable_runtime::prelude::*;

use std::future::IntoFuture;

use super::{Bench, BenchStore, OneStep, WAIT};

/// The instance id of the template.
pub(super) const TEMPLATE: &str = "w9-template";

/// Rows inserted per transaction.
const CHUNK: usize = 50_000;

/// The instance id of copy `index`.
pub(super) fn instance_id(index: usize) -> InstanceId {
    InstanceId::new(format!("w9-{index:07}")).expect("a valid instance id")
}

/// Loads `count` copies of the template into `store` (no runtime running on it); returns
/// the creation time of the first copy.
pub(super) async fn load(
    bench: &Bench,
    store: &BenchStore,
    count: usize,
) -> anyhow::Result<DateTime<Utc>> {
    match store {
        BenchStore::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || load_sqlite(&path, count)).await?
        }
        BenchStore::Postgres(hub) => load_postgres(&bench.postgres_url()?, hub, count).await,
        BenchStore::Memory(memory) => {
            let runtime = Runtime::builder().store(memory.clone()).start().await?;
            let client = runtime.client();
            for start in (0..count).step_by(10_000) {
                let starts = (start..(start + 10_000).min(count)).map(|i| {
                    OneStep::start(&client, i as u64)
                        .instance_id(instance_id(i).to_string())
                        .into_future()
                });
                let handles = join_all(starts)
                    .await
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()?;
                for result in join_all(handles.iter().map(|h| h.wait_for_completion(WAIT))).await {
                    result?;
                }
            }
            let first = client
                .get_status(&instance_id(0))
                .await?
                .ok_or_else(|| anyhow::anyhow!("W9: the first copy is missing"))?
                .created_time;
            runtime.shutdown().await;
            Ok(first)
        }
    }
}

/// The template's creation time, in the stores' microseconds.
fn first_created(template_micros: i64, count: usize) -> i64 {
    template_micros - (count as i64 + 1) * 1000
}

fn load_sqlite(path: &std::path::Path, count: usize) -> anyhow::Result<DateTime<Utc>> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let template: i64 = conn.query_row(
        "SELECT created_at FROM instances WHERE instance_id = ?1",
        [TEMPLATE],
        |r| r.get(0),
    )?;
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('instances')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "instance_id" => "printf('w9-%07d', n.i)".to_owned(),
            "created_at" | "updated_at" => "?2 + n.i * 1000".to_owned(),
            other => format!("t.{other}"),
        })
        .collect();
    let base = first_created(template, count);
    let series =
        "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?3)";
    let instances = format!(
        "{series} INSERT INTO instances ({}) SELECT {} FROM n, instances t WHERE t.instance_id = '{TEMPLATE}'",
        columns.join(", "),
        select.join(", ")
    );
    let history = format!(
        "{series} INSERT INTO history (instance_id, seq, event) SELECT printf('w9-%07d', n.i), h.seq, h.event
         FROM n, history h WHERE h.instance_id = '{TEMPLATE}' AND ?2 = ?2"
    );
    for start in (0..count).step_by(CHUNK) {
        let end = (start + CHUNK).min(count) as i64;
        let tx = conn.transaction()?;
        tx.execute(&instances, rusqlite::params![start as i64, base, end])?;
        tx.execute(&history, rusqlite::params![start as i64, base, end])?;
        // The store keeps its counts by status in its own writes; this bypasses them.
        tx.execute(
            &format!(
                "INSERT INTO instance_counts (entity, status, n)
                 SELECT 0, status, ?1 FROM instances WHERE instance_id = '{TEMPLATE}'
                 ON CONFLICT (entity, status) DO UPDATE SET n = n + excluded.n"
            ),
            [end - start as i64],
        )?;
        tx.commit()?;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    DateTime::from_timestamp_micros(base).ok_or_else(|| anyhow::anyhow!("bad creation time"))
}

async fn load_postgres(url: &str, hub: &str, count: usize) -> anyhow::Result<DateTime<Utc>> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    let template: i64 = client
        .query_one(
            &format!("SELECT created_at FROM {hub}.instances WHERE instance_id = $1"),
            &[&TEMPLATE],
        )
        .await?
        .get(0);
    let columns: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = 'instances' ORDER BY ordinal_position",
            &[&hub],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let select: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "instance_id" => "'w9-' || lpad(n::text, 7, '0')".to_owned(),
            "created_at" | "updated_at" => "$2 + n * 1000".to_owned(),
            other => format!("t.{other}"),
        })
        .collect();
    let base = first_created(template, count);
    let instances = format!(
        "INSERT INTO {hub}.instances ({}) SELECT {} FROM generate_series($1::bigint, $3::bigint - 1) n, {hub}.instances t
         WHERE t.instance_id = '{TEMPLATE}'",
        columns.join(", "),
        select.join(", ")
    );
    let history = format!(
        "INSERT INTO {hub}.history (instance_id, seq, event) SELECT 'w9-' || lpad(n::text, 7, '0'), h.seq, h.event
         FROM generate_series($1::bigint, $3::bigint - 1) n, {hub}.history h WHERE h.instance_id = '{TEMPLATE}' AND $2::bigint = $2::bigint"
    );
    for start in (0..count).step_by(CHUNK) {
        let end = (start + CHUNK).min(count) as i64;
        let start = start as i64;
        client.execute(&instances, &[&start, &base, &end]).await?;
        client.execute(&history, &[&start, &base, &end]).await?;
        // The store keeps its counts by status in its own writes; this bypasses them.
        client
            .execute(
                &format!(
                    "INSERT INTO {hub}.instance_counts AS c (entity, status, shard, n)
                     SELECT false, status, 0, $1::bigint FROM {hub}.instances WHERE instance_id = '{TEMPLATE}'
                     ON CONFLICT (entity, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n"
                ),
                &[&(end - start)],
            )
            .await?;
    }
    client
        .batch_execute(&format!("ANALYZE {hub}.instances; ANALYZE {hub}.history"))
        .await?;
    drop(client);
    let _ = connection.await;
    DateTime::from_timestamp_micros(base).ok_or_else(|| anyhow::anyhow!("bad creation time"))
}
