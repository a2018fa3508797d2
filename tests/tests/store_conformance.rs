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
                let options = PostgresOptions {
                    task_hub: durable_tests::fresh_task_hub(),
                    ..PostgresOptions::default()
                };
                Arc::new(
                    PostgresStore::connect_with(&url, options)
                        .await
                        .expect("connect to the test PostgreSQL"),
                ) as Arc<dyn Store>
            }
        })
        .await;
    }

    /// Task hubs sharing one database are independent, and migrations are idempotent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn task_hubs_are_independent() {
        let Some(url) = durable_tests::postgres_url("postgres::task_hubs_are_independent") else {
            return;
        };
        let hub = durable_tests::fresh_task_hub();
        let options = |task_hub: &str| PostgresOptions {
            task_hub: task_hub.to_owned(),
            ..PostgresOptions::default()
        };
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
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("invalid task hub name")
        );
    }
}
