//! Crash tests: a worker process is killed with SIGKILL in the middle of a long chain, of a
//! fan-out and of thousands of entity operations, restarted on the same SQLite file, and
//! every instance must complete with the right output, with each sequence number scheduled
//! exactly once, and the entity must count every signal exactly once.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use durable_runtime::history::{EventKind, HistoryEvent};
use durable_runtime::store::Store;
use durable_runtime::store::sqlite::SqliteStore;
use durable_runtime::{DurableClient, InstanceId, RuntimeStatus};
use durable_tests::Tally;

const WORKER: &str = env!("CARGO_BIN_EXE_crash_worker");

fn spawn_worker(db: &Path, starts: &[&str]) -> Child {
    let mut child = Command::new(WORKER)
        .arg(db)
        .args(starts)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn crash_worker");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read ready line");
    assert_eq!(line.trim(), "ready", "worker did not start");
    // Keep draining so the worker never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

async fn history(store: &SqliteStore, id: &str) -> Vec<HistoryEvent> {
    store
        .read_history(&InstanceId::new(id).unwrap())
        .await
        .unwrap()
        .unwrap_or_default()
}

fn completed_activities(history: &[HistoryEvent]) -> usize {
    history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ActivityCompleted { .. }))
        .count()
}

/// Waits until `condition` holds on the instance's history, polling the file.
async fn wait_until(
    store: &SqliteStore,
    id: &str,
    what: &str,
    condition: impl Fn(&[HistoryEvent]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if condition(&history(store, id).await) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {id}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn kill(mut child: Child) {
    child.kill().expect("SIGKILL the worker");
    child.wait().expect("reap the worker");
}

fn finish(db: &Path) {
    finish_with(db, &[]);
}

fn finish_with(db: &Path, args: &[&str]) {
    let mut child = spawn_worker(db, args);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("poll worker") {
            assert!(status.success(), "restarted worker failed: {status}");
            return;
        }
        assert!(Instant::now() < deadline, "restarted worker did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn assert_completed_exactly_once(store: &SqliteStore, id: &str, expected: u64, calls: usize) {
    let status = store
        .get_status(&InstanceId::new(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status.runtime_status,
        RuntimeStatus::Completed,
        "{id}: {:?}",
        status.failure
    );
    assert_eq!(
        status.output.unwrap().decode::<u64>().unwrap(),
        expected,
        "{id} output"
    );
    let history = history(store, id).await;
    let mut scheduled: Vec<i64> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ActivityScheduled { .. }))
        .map(|e| e.event_id)
        .collect();
    scheduled.sort_unstable();
    assert_eq!(
        scheduled,
        (0..calls as i64).collect::<Vec<_>>(),
        "{id}: each sequence number scheduled exactly once"
    );
    let results = history
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::ActivityCompleted { .. } | EventKind::ActivityFailed { .. }
            )
        })
        .count();
    assert!(results >= calls, "{id}: every call has a result");
    let ends = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }))
        .count();
    assert_eq!(ends, 1, "{id}: exactly one completion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_survives_sigkill_twice() {
    let dir = durable_tests::temp_dir("crash-chain");
    let db = dir.join("durable.db");
    let worker = spawn_worker(&db, &["start", "chain", "chain-1", "60"]);
    let observer = SqliteStore::open(&db).unwrap();
    wait_until(&observer, "chain-1", "10 steps done", |h| {
        completed_activities(h) >= 10
    })
    .await;
    kill(worker);
    let before = completed_activities(&history(&observer, "chain-1").await);
    assert!(
        before < 60,
        "killed too late to test anything ({before} steps done)"
    );

    let worker = spawn_worker(&db, &[]);
    wait_until(&observer, "chain-1", "10 more steps", |h| {
        completed_activities(h) >= before + 10
    })
    .await;
    kill(worker);
    assert!(
        completed_activities(&history(&observer, "chain-1").await) < 60,
        "killed too late"
    );

    finish(&db);
    assert_completed_exactly_once(&observer, "chain-1", 60, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_survives_sigkill() {
    let dir = durable_tests::temp_dir("crash-fanout");
    let db = dir.join("durable.db");
    let worker = spawn_worker(
        &db,
        &[
            "start", "fanout", "fan-1", "300", "start", "chain", "chain-2", "20",
        ],
    );
    let observer = SqliteStore::open(&db).unwrap();
    wait_until(&observer, "fan-1", "some results in", |h| {
        completed_activities(h) >= 40
    })
    .await;
    kill(worker);
    let before = completed_activities(&history(&observer, "fan-1").await);
    assert!(
        before < 300,
        "killed too late to test anything ({before} results in)"
    );

    finish(&db);
    assert_completed_exactly_once(&observer, "fan-1", (1..=300).sum(), 300).await;
    assert_completed_exactly_once(&observer, "chain-2", 20, 20).await;
}

/// Reads the crash tally through a client on the shared file.
async fn tally(client: &DurableClient) -> Tally {
    Tally::read(client, "crash")
        .await
        .unwrap()
        .unwrap_or_default()
}

async fn wait_for_tally(client: &DurableClient, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally(client).await.count < at_least {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the tally to reach {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_operations_take_effect_exactly_once_across_sigkill() {
    const FROM_CLIENT: u64 = 4_000;
    const FROM_ORCHESTRATION: u64 = 1_000;
    const TOTAL: u64 = FROM_CLIENT + FROM_ORCHESTRATION;
    let dir = durable_tests::temp_dir("crash-entity");
    let db = dir.join("durable.db");
    let store = std::sync::Arc::new(SqliteStore::open(&db).unwrap());
    let client = DurableClient::new(store);
    // Thousands of signals queued before any worker runs (sent concurrently, so they
    // share commits), plus an orchestration that signals in turns of 100.
    for _ in 0..FROM_CLIENT / 100 {
        let signals = (0..100).map(|_| Tally::signal(&client, "crash").add(1));
        for sent in futures::future::join_all(signals).await {
            sent.unwrap();
        }
    }
    let total = TOTAL.to_string();
    let from_orchestration = FROM_ORCHESTRATION.to_string();
    let wait = ["wait", "tally", "crash", total.as_str()];
    let mut first = vec!["start", "signals", "crash", from_orchestration.as_str()];
    first.extend(wait);
    let worker = spawn_worker(&db, &first);
    wait_for_tally(&client, 800).await;
    kill(worker);
    let before = tally(&client).await;
    assert!(
        before.count < TOTAL,
        "killed too late to test anything ({} done)",
        before.count
    );
    assert_eq!(before.count, before.ops, "every op adds 1");

    let worker = spawn_worker(&db, &wait);
    wait_for_tally(&client, before.count + 800).await;
    kill(worker);
    let middle = tally(&client).await;
    assert!(
        middle.count < TOTAL,
        "killed too late ({} done)",
        middle.count
    );

    eprintln!(
        "entity crash test: killed at {} and {} of {TOTAL} operations",
        before.count, middle.count
    );
    finish_with(&db, &wait);
    let after = tally(&client).await;
    assert_eq!(after.count, TOTAL, "every signal counted exactly once");
    assert_eq!(after.ops, TOTAL);
    // Nothing is left queued to be counted twice later.
    let worker = spawn_worker(&db, &[]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(worker);
    assert_eq!(tally(&client).await.count, TOTAL);
}
