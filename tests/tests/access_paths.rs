//! Every access path of the SQL stores reads through its index, on a store holding a backlog:
//! the plans, not timings (ARCHITECTURE.md, "Access paths"). A path that regresses to a scan
//! of a table, or to sorting every match, fails here.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::time::Duration;

use durable_runtime::prelude::*;
use durable_runtime::store::QueryPlan;
use durable_runtime::store::postgres::{PostgresOptions, PostgresStore};
use durable_runtime::store::sqlite::SqliteStore;

#[activity]
async fn bump(value: u64) -> u64 {
    value + 1
}

#[orchestrator]
async fn finishes(ctx: OrchestrationContext, value: u64) -> Result<u64, OrchestrationError> {
    Ok(ctx.call_activity(Bump, value).await?)
}

#[orchestrator]
async fn parks(ctx: OrchestrationContext, hours: u64) -> Result<u64, OrchestrationError> {
    ctx.create_timer(Duration::from_secs(hours * 3600)).await;
    Ok(hours)
}

/// A fan-out of `children` sub-orchestrations parked on timers an hour away.
#[orchestrator]
async fn fans_out(ctx: OrchestrationContext, children: u64) -> Result<u64, OrchestrationError> {
    let calls = (0..children).map(|_| ctx.call_sub_orchestrator(Parks, 1));
    let hours = join_all(calls).await;
    Ok(hours.into_iter().map(|h| h.unwrap_or(0)).sum())
}

/// The index each path must use; `None` for the primary key (or rowid) of its table.
const EXPECTED: &[(&str, Option<&str>)] = &[
    ("fetch: due instances", Some("instances_by_due")),
    (
        "fetch: a leased instance's messages",
        Some("messages_by_instance"),
    ),
    ("timer wake-up: next due time", Some("instances_by_due")),
    ("commit: recompute due time", Some("messages_by_instance")),
    ("enqueue: mark due", None),
    ("fetch: activities", Some("activities_by_visible")),
    ("status read", None),
    ("history read", None),
    (
        "list: by id prefix, first page",
        Some("sqlite_autoindex_instances_1"),
    ),
    (
        "list: by id prefix, deep page",
        Some("sqlite_autoindex_instances_1"),
    ),
    (
        "list: entities by name, deep page",
        Some("sqlite_autoindex_instances_1"),
    ),
    ("list: by name, first page", Some("instances_by_name")),
    ("list: by name, deep page", Some("instances_by_name")),
    ("list: by status, first page", Some("instances_by_status")),
    ("list: by status, deep page", Some("instances_by_status")),
    (
        "list: by created time, first page",
        Some("instances_by_created"),
    ),
    (
        "list: by created time, deep page",
        Some("instances_by_created"),
    ),
    ("list: all, deep page", Some("instances_by_created")),
    (
        "list: children of a parent, deep page",
        Some("instances_by_parent"),
    ),
    ("purge: next chunk", Some("instances_by_status")),
    ("purge: history", None),
    ("purge: messages", Some("messages_by_instance")),
    ("purge: activities", Some("activities_by_instance")),
];

/// Checks every SQLite plan: no full scan of a table, no sort of all matches, the intended
/// index.
fn check(plans: &[QueryPlan]) {
    assert_eq!(
        plans.iter().map(|p| p.access_path).collect::<Vec<_>>(),
        EXPECTED.iter().map(|(path, _)| *path).collect::<Vec<_>>(),
        "every access path is checked"
    );
    for (plan, (_, index)) in plans.iter().zip(EXPECTED) {
        let text = plan.plan.join(" | ");
        for step in &plan.plan {
            // `SCAN CONSTANT ROW` is the bound time of `(SELECT ?1)`, not a table.
            assert!(
                !step.starts_with("SCAN") || step == "SCAN CONSTANT ROW",
                "{}: `{step}` scans a table\n{}\nplan: {text}",
                plan.access_path,
                plan.sql
            );
            assert!(
                !step.contains("TEMP B-TREE"),
                "{}: `{step}` sorts every match\nplan: {text}",
                plan.access_path
            );
        }
        // A deep page of a name's or a parent's rows seeks to the token: SQLite uses a row
        // value only when it begins after the equality columns.
        if [
            "list: by name, deep page",
            "list: children of a parent, deep page",
        ]
        .contains(&plan.access_path)
        {
            assert!(
                text.contains("(created_at,instance_id)>"),
                "{}: a deep page must start at the token, not at the range's first row\nplan: {text}",
                plan.access_path
            );
        }
        match index {
            Some(index) => assert!(
                plan.plan.iter().any(|s| s.contains(index)),
                "{} should use {index}: {text}",
                plan.access_path
            ),
            None => assert!(
                plan.plan
                    .iter()
                    .any(|s| s.contains("PRIMARY KEY") || s.contains("sqlite_autoindex")),
                "{} should use its primary key: {text}",
                plan.access_path
            ),
        }
    }
}

/// Fills the runtime's store with a backlog of both kinds: 1,500 instances parked on timers
/// an hour away, and 1,500 completed; and one fan-out waiting for 400 sub-orchestrations
/// parked the same way.
async fn build_backlog(runtime: &Runtime) {
    let client = runtime.client();
    FansOut::start(&client, 400).await.unwrap();
    let parked =
        join_all((0..1500).map(|_| std::future::IntoFuture::into_future(Parks::start(&client, 1))))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
    let done = join_all(
        (0..1500u64).map(|i| std::future::IntoFuture::into_future(Finishes::start(&client, i))),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .unwrap();
    for handle in &done {
        handle
            .wait_for_completion(Duration::from_secs(60))
            .await
            .unwrap();
    }
    loop {
        let pending = client
            .list_instances(
                &durable_runtime::store::InstanceQuery::default()
                    .statuses(vec![RuntimeStatus::Pending])
                    .page_size(1),
            )
            .await
            .unwrap();
        if pending.instances.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(parked.len(), 1500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_access_paths_use_their_indexes_on_a_backlog() {
    let dir = durable_tests::temp_dir("access-paths");
    let path = dir.join("store.db");
    let runtime = Runtime::builder().sqlite(&path).start().await.unwrap();
    build_backlog(&runtime).await;
    runtime.shutdown().await;

    let store = SqliteStore::open(&path).unwrap();
    check(&store.query_plans().await.unwrap());
    // The same after ANALYZE, whose statistics (STAT4 samples in the bundled SQLite) the
    // planner then weighs: the indexes must still win.
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("ANALYZE").unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    let plans = store.query_plans().await.unwrap();
    check(&plans);

    // With those statistics, the bundled SQLite re-prepares a statement whenever a value
    // bound against an indexed column changes, unless the store keeps the value out of the
    // planner's sight: the paths every fetch and idle wake-up runs must not re-prepare.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for path in ["fetch: due instances", "timer wake-up: next due time"] {
        let plan = plans.iter().find(|p| p.access_path == path).unwrap();
        let mut statement = conn.prepare(&plan.sql).unwrap();
        for now in [1_i64, 2, 3_000_000_000_000, 4_000_000_000_000] {
            let mut rows = statement.query([now]).unwrap();
            while rows.next().unwrap().is_some() {}
        }
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "{path} re-prepared on new values"
        );
    }
    // The control: the same fetch with the time bound directly does re-prepare, which is
    // why the store hides it in `(SELECT ?1)`.
    let plan = plans
        .iter()
        .find(|p| p.access_path == "fetch: due instances")
        .unwrap();
    let mut naive = conn
        .prepare(&plan.sql.replace("(SELECT ?1)", "?1"))
        .unwrap();
    for now in [1_i64, 2, 3_000_000_000_000] {
        let mut rows = naive.query([now]).unwrap();
        while rows.next().unwrap().is_some() {}
    }
    assert!(naive.get_status(rusqlite::StatementStatus::RePrepare) > 0);
}

/// The index each PostgreSQL path must use (the schema's names, primary keys included).
const EXPECTED_POSTGRES: &[(&str, &str)] = &[
    ("fetch: due instances", "instances_by_due"),
    ("fetch: named instances", "instances_pkey"),
    ("client write: lease receivers ahead", "instances_pkey"),
    ("release: leased ahead, not fetched", "instances_pkey"),
    (
        "fetch: a leased instance's messages",
        "messages_by_instance",
    ),
    ("timer wake-up: next due time", "instances_by_due"),
    ("fetch: activities", "activities_by_visible"),
    ("status read", "instances_pkey"),
    ("history read", "history_pkey"),
    ("list: by id prefix, first page", "instances_pkey"),
    ("list: by id prefix, deep page", "instances_pkey"),
    ("list: entities by name, deep page", "instances_pkey"),
    ("list: by name, first page", "instances_by_name"),
    ("list: by name, deep page", "instances_by_name"),
    ("list: by status, first page", "instances_by_status"),
    ("list: by status, deep page", "instances_by_status"),
    ("list: by created time, first page", "instances_by_created"),
    ("list: by created time, deep page", "instances_by_created"),
    ("list: all, deep page", "instances_by_created"),
    (
        "list: children of a parent, deep page",
        "instances_by_parent",
    ),
    ("purge: next chunk", "instances_by_status"),
    ("purge: history", "history_pkey"),
    ("purge: messages", "messages_by_instance"),
    ("purge: activities", "activities_by_instance"),
];

/// Checks every PostgreSQL plan: no sequential scan, no sort of a whole table, and the
/// intended index. The fetch claims instance rows by their primary key as well.
fn check_postgres(plans: &[QueryPlan]) {
    assert_eq!(
        plans.iter().map(|p| p.access_path).collect::<Vec<_>>(),
        EXPECTED_POSTGRES
            .iter()
            .map(|(path, _)| *path)
            .collect::<Vec<_>>(),
        "every access path is checked"
    );
    for (plan, (_, index)) in plans.iter().zip(EXPECTED_POSTGRES) {
        let text = plan.plan.join("\n");
        assert!(
            !text.contains("Seq Scan"),
            "{} scans a table\n{}\nplan:\n{text}",
            plan.access_path,
            plan.sql
        );
        assert!(
            text.contains(&format!("using {index} "))
                || text.contains(&format!("Index Scan on {index} ")),
            "{} should use {index}\n{}\nplan:\n{text}",
            plan.access_path,
            plan.sql
        );
        // A sort is allowed only above a bounded input: the fetch's candidates (a limited
        // index range) by their earliest message, the leased instances' messages by id.
        if !plan.access_path.starts_with("fetch: ") {
            assert!(
                !text.contains("Sort"),
                "{} sorts every match\nplan:\n{text}",
                plan.access_path
            );
        }
    }
    let fetch = &plans[0];
    assert!(
        fetch
            .plan
            .iter()
            .any(|s| s.contains("using instances_pkey ")
                || s.contains("Bitmap Index Scan on instances_pkey ")),
        "the fetch claims instances by primary key\nplan:\n{}",
        fetch.plan.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_access_paths_use_their_indexes_on_a_backlog() {
    let Some(url) = durable_tests::postgres_url("postgres_access_paths") else {
        return;
    };
    let options = PostgresOptions::default().task_hub(durable_tests::fresh_task_hub());
    let runtime = Runtime::builder()
        .postgres_with(&url, options.clone())
        .start()
        .await
        .unwrap();
    build_backlog(&runtime).await;
    runtime.shutdown().await;

    // After ANALYZE, so the planner weighs the real row counts (autovacuum would get there
    // on its own, later), and the generic plans, which ignore the bound values.
    let (connection_client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // The engine leaves no activity queued; 5,000 rows of a dead worker's leftovers give
    // that table a backlog too. A hub runs more than two orchestrations: 5,000 completed
    // instances of 4 other names make each name a sixth of the table (with two names, each
    // half of it, reading the by-created index and filtering costs about what the by-name
    // one does, and the planner's pick between them is a coin toss; with many names on a
    // table this small, a name's estimated 150 rows are cheaper to sort than to read in
    // order, which a real hub's thousands per name are not).
    connection_client
        .batch_execute(&format!(
            "INSERT INTO {hub}.activities (instance_id, execution_id, scheduled_id, name, input)
             SELECT 'gone' || n, 'e', 0, 'Bump', '1' FROM generate_series(1, 5000) n;
             INSERT INTO {hub}.instances (instance_id, execution_id, name, status, input, created_at, updated_at)
             SELECT 'other-' || n, 'e', 'Other' || (n % 4), {completed}, 'null', n, n
             FROM generate_series(1, 5000) n;
             ANALYZE {hub}.instances, {hub}.messages, {hub}.history, {hub}.activities",
            hub = options.task_hub,
            completed = RuntimeStatus::Completed.code(),
        ))
        .await
        .unwrap();
    let store = PostgresStore::connect_with(&url, options.clone())
        .await
        .unwrap();
    let plans = store.query_plans().await.unwrap();
    for plan in &plans {
        println!("{}:\n{}\n", plan.access_path, plan.plan.join("\n"));
    }
    check_postgres(&plans);
    connection_client
        .batch_execute(&format!("DROP SCHEMA {} CASCADE", options.task_hub))
        .await
        .unwrap();
}
