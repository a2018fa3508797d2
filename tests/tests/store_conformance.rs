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
