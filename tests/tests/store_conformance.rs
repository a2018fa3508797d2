//! The store conformance suite, run against every back-end built here.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

mod memory {
    use std::sync::Arc;

    use durable_runtime::store::Store;
    use durable_runtime::store::memory::MemoryStore;

    durable_runtime::store_conformance_tests!(|| async {
        Arc::new(MemoryStore::new()) as Arc<dyn Store>
    });
}

mod sqlite {
    use std::sync::Arc;

    use durable_runtime::store::Store;
    use durable_runtime::store::sqlite::SqliteStore;

    async fn fresh() -> Arc<dyn Store> {
        let dir = durable_tests::temp_dir("conformance");
        Arc::new(SqliteStore::open(dir.join("store.db")).expect("open sqlite store"))
    }

    durable_runtime::store_conformance_tests!(fresh);

    /// Poison isolation, with rows damaged through a second connection to the file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corrupt_rows_affect_only_their_own_work() {
        let dir = durable_tests::temp_dir("poison");
        let path = dir.join("store.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let damage = |sql: &'static str| {
            let path = path.clone();
            move |id: durable_runtime::InstanceId| {
                let path = path.clone();
                async move {
                    let conn = rusqlite::Connection::open(&path).unwrap();
                    conn.busy_timeout(std::time::Duration::from_secs(10))
                        .unwrap();
                    assert_eq!(conn.execute(sql, [id.as_str()]).unwrap(), 1);
                }
            }
        };
        durable_runtime::store::conformance::corrupt_rows_affect_only_their_own_work(
            store,
            damage("UPDATE messages SET event = 'not json' WHERE instance_id = ?1"),
            damage("UPDATE activities SET input = '{\"truncated' WHERE instance_id = ?1"),
        )
        .await;
    }

    /// A store made before the counts by status existed gets them counted from its rows
    /// when it is opened (migration 5), entities apart.
    #[tokio::test]
    async fn an_older_store_gets_its_counts_on_opening() {
        let dir = durable_tests::temp_dir("counts-migration");
        let path = dir.join("store.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        durable_runtime::store::conformance::commit_applies_everything(store.clone()).await;
        let before = store.task_hub_stats().await.unwrap();
        assert_eq!(before.instances.total(), 1, "{before:?}");
        drop(store);
        // Back to schema version 4, as a build of before the counts left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP INDEX instances_by_name; DROP TABLE instance_counts;
             ALTER TABLE activities DROP COLUMN trace_context;
             PRAGMA user_version = 4;
             INSERT INTO instances (instance_id, execution_id, name, status, input, created_at, updated_at)
                 VALUES ('@counter@x', '', 'counter', 0, 'null', 0, 0);",
        )
        .unwrap();
        drop(conn);
        let reopened = SqliteStore::open(&path).unwrap();
        let after = reopened.task_hub_stats().await.unwrap();
        assert_eq!(after.instances, before.instances);
        assert_eq!(
            after.entities.get(durable_runtime::RuntimeStatus::Running),
            1
        );
    }

    /// A store made before activities carried a trace context gets the column when it is
    /// opened (migration 6), the name index (migration 7) and the partial parent index
    /// (migration 8); its queued activities read without a trace context.
    #[tokio::test]
    async fn an_older_store_gets_the_trace_context_column_on_opening() {
        let dir = durable_tests::temp_dir("trace-migration");
        let path = dir.join("store.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        // Leaves two activities of instance `a`, leased.
        durable_runtime::store::conformance::commit_applies_everything(store.clone()).await;
        drop(store);
        // Back to schema version 5, as a build of before the column left it, with the
        // activities' leases released.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP INDEX instances_by_name;
             DROP INDEX instances_by_parent;
             CREATE INDEX instances_by_parent ON instances (parent_instance_id);
             ALTER TABLE activities DROP COLUMN trace_context; PRAGMA user_version = 5;
             UPDATE activities SET lock_token = NULL, lock_expires = NULL;",
        )
        .unwrap();
        drop(conn);
        let reopened = SqliteStore::open(&path).unwrap();
        let items = reopened
            .fetch_activity_work_items(10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(items.len(), 2, "the queued activities are still there");
        assert!(items.iter().all(|item| item.trace_context.is_none()));
        let conn = rusqlite::Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, 8, "migrations 6, 7 and 8 ran");
        let name_index: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'instances_by_name'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(name_index, 1, "migration 7 adds the name index");
        let parent_index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'instances_by_parent'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(
            parent_index.contains("(parent_instance_id, created_at, instance_id)")
                && parent_index.contains("WHERE parent_instance_id IS NOT NULL"),
            "migration 8 rebuilds the parent index, partial: {parent_index}"
        );
    }

    #[tokio::test]
    async fn committed_data_survives_reopening() {
        let dir = durable_tests::temp_dir("reopen");
        let path = dir.join("store.db");
        {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
            durable_runtime::store::conformance::commit_applies_everything(store).await;
        }
        let reopened = SqliteStore::open(&path).unwrap();
        let id = durable_runtime::InstanceId::new("a").unwrap();
        let status = reopened.get_status(&id).await.unwrap().unwrap();
        assert_eq!(
            status.runtime_status,
            durable_runtime::RuntimeStatus::Running
        );
        assert_eq!(reopened.read_history(&id).await.unwrap().unwrap().len(), 4);
    }
}

mod postgres {
    use std::sync::Arc;

    use durable_runtime::store::Store;
    use durable_runtime::store::postgres::{PostgresOptions, PostgresStore};

    /// Every check, each on a fresh task hub (schema) of the test server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_suite() {
        let Some(url) = durable_tests::postgres_url("postgres::conformance_suite") else {
            return;
        };
        durable_runtime::store::conformance::run_all(|| {
            let url = url.clone();
            async move {
                let options = PostgresOptions::default().task_hub(durable_tests::fresh_task_hub());
                Arc::new(
                    PostgresStore::connect_with(&url, options)
                        .await
                        .expect("connect to the test PostgreSQL"),
                ) as Arc<dyn Store>
            }
        })
        .await;
    }

    /// On a database whose default collation is linguistic (ICU `en-US`, where `B` sorts
    /// after `a` and punctuation weighs little), migration 6 gives instance ids the C
    /// collation, so listings by id prefix hold exactly the prefix's ids in byte order, as
    /// on a C database and the other stores; the rest of the listings and the entity rows
    /// work there as well. Needs PostgreSQL 15 or later built with ICU (Debian's is).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_linguistic_collation_gets_byte_order_instance_ids() {
        let Some(url) = durable_tests::postgres_url("postgres::linguistic_collation") else {
            return;
        };
        let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let database = format!("icu_{}", durable_tests::fresh_task_hub());
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {database} TEMPLATE template0 ENCODING 'UTF8' \
                 LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            ))
            .await
            .expect("create an ICU en-US database (PostgreSQL 15+ with ICU)");
        let (base, _) = url.rsplit_once('/').unwrap();
        let icu_url = format!("{base}/{database}");
        let store = || {
            let icu_url = icu_url.clone();
            async move {
                let options = PostgresOptions::default().task_hub(durable_tests::fresh_task_hub());
                Arc::new(
                    PostgresStore::connect_with(&icu_url, options)
                        .await
                        .unwrap(),
                ) as Arc<dyn Store>
            }
        };
        let (client, connection) = tokio_postgres::connect(&icu_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let linguistic: bool = client
            .query_one("SELECT 'a' < 'B' AND 'a-c' < 'ab'", &[])
            .await
            .unwrap()
            .get(0);
        assert!(linguistic, "the database's default collation is linguistic");
        use durable_runtime::store::conformance as c;
        c::list_by_id_prefix(store().await).await;
        c::list_filters_and_pages(store().await).await;
        c::list_children_of_a_parent(store().await).await;
        c::entities_are_created_by_their_first_message(store().await).await;
        c::commit_applies_everything(store().await).await;
        // Every instance id column of a task hub compares in byte order.
        let hub = durable_tests::fresh_task_hub();
        drop(
            PostgresStore::connect_with(&icu_url, PostgresOptions::default().task_hub(hub.clone()))
                .await
                .unwrap(),
        );
        let collations: Vec<(String, String, Option<String>)> = client
            .query(
                "SELECT table_name::text, column_name::text, collation_name::text
                 FROM information_schema.columns
                 WHERE table_schema = $1 AND column_name IN ('instance_id', 'parent_instance_id')
                 ORDER BY 1, 2",
                &[&hub],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(collations.len(), 5, "{collations:?}");
        assert!(
            collations.iter().all(|(_, _, c)| c.as_deref() == Some("C")),
            "{collations:?}"
        );
        drop(client);
        admin
            .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
            .await
            .unwrap();
    }

    /// Poison isolation, with rows damaged through a second connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corrupt_rows_affect_only_their_own_work() {
        let Some(url) = durable_tests::postgres_url("postgres::corrupt_rows") else {
            return;
        };
        let hub = durable_tests::fresh_task_hub();
        let options = PostgresOptions::default().task_hub(hub.clone());
        let store: Arc<dyn Store> =
            Arc::new(PostgresStore::connect_with(&url, options).await.unwrap());
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let client = Arc::new(client);
        let damage = |sql: String| {
            let client = client.clone();
            move |id: durable_runtime::InstanceId| {
                let (client, sql) = (client.clone(), sql.clone());
                async move {
                    assert_eq!(client.execute(&sql, &[&id.as_str()]).await.unwrap(), 1);
                }
            }
        };
        durable_runtime::store::conformance::corrupt_rows_affect_only_their_own_work(
            store,
            damage(format!(
                "UPDATE {hub}.messages SET event = 'not json' WHERE instance_id = $1"
            )),
            damage(format!(
                "UPDATE {hub}.activities SET input = '{{\"truncated' WHERE instance_id = $1"
            )),
        )
        .await;
    }

    /// Task hubs sharing one database are independent, and migrations are idempotent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn task_hubs_are_independent() {
        let Some(url) = durable_tests::postgres_url("postgres::task_hubs_are_independent") else {
            return;
        };
        let hub = durable_tests::fresh_task_hub();
        let options = |task_hub: &str| PostgresOptions::default().task_hub(task_hub.to_owned());
        let a: Arc<dyn Store> = Arc::new(
            PostgresStore::connect_with(&url, options(&hub))
                .await
                .unwrap(),
        );
        durable_runtime::store::conformance::commit_applies_everything(a.clone()).await;
        let other = durable_tests::fresh_task_hub();
        let b = PostgresStore::connect_with(&url, options(&other))
            .await
            .unwrap();
        let id = durable_runtime::InstanceId::new("a").unwrap();
        assert!(
            b.get_status(&id).await.unwrap().is_none(),
            "another hub sees nothing"
        );
        // Reconnecting to the same hub runs no migration twice and sees the data.
        let again = PostgresStore::connect_with(&url, options(&hub))
            .await
            .unwrap();
        assert_eq!(again.read_history(&id).await.unwrap().unwrap().len(), 4);
        let bad = PostgresStore::connect_with(&url, options("Bad-Name")).await;
        let error = bad.unwrap_err();
        assert!(
            matches!(&error, durable_runtime::StoreError::InvalidTaskHub { name } if name == "Bad-Name"),
            "{error:?}"
        );
        assert!(error.to_string().contains("invalid task hub name"));
    }

    /// Counter rows left by connections that ended are folded into one when they pile up,
    /// and the counts stay exact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counts_of_ended_connections_are_folded() {
        let Some(url) = durable_tests::postgres_url("postgres::counts_folded") else {
            return;
        };
        let hub = durable_tests::fresh_task_hub();
        let options = PostgresOptions::default().task_hub(hub.clone());
        let store = PostgresStore::connect_with(&url, options).await.unwrap();
        durable_runtime::store::conformance::commit_applies_everything(Arc::new(
            PostgresStore::connect_with(&url, PostgresOptions::default().task_hub(hub.clone()))
                .await
                .unwrap(),
        ))
        .await;
        let before = store.task_hub_stats().await.unwrap();
        assert_eq!(before.instances.total(), 1);
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        // 1,100 shards of connections that no longer exist (no backend has a negative
        // pid): +1 Completed each, then -1 Completed each on half of them.
        client
            .batch_execute(&format!(
                "INSERT INTO {hub}.instance_counts (entity, status, shard, n)
                     SELECT false, 1, -g, CASE WHEN g <= 550 THEN 0 ELSE 1 END
                     FROM generate_series(1, 1100) g"
            ))
            .await
            .unwrap();
        let with_shards = store.task_hub_stats().await.unwrap();
        let completed = before
            .instances
            .get(durable_runtime::RuntimeStatus::Completed);
        assert_eq!(
            with_shards
                .instances
                .get(durable_runtime::RuntimeStatus::Completed),
            completed + 550
        );
        let rows: i64 = client
            .query_one(&format!("SELECT COUNT(*) FROM {hub}.instance_counts"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(
            rows < 50,
            "the ended connections' rows were folded: {rows} left"
        );
        let folded = store.task_hub_stats().await.unwrap();
        assert_eq!(
            folded.instances, with_shards.instances,
            "folding changes no count"
        );
    }
}
