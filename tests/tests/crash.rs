//! Crash tests: a worker process is killed with SIGKILL in the middle of a long chain and
//! of a fan-out, restarted on the same SQLite file, and every instance must complete with
//! the right output, with each sequence number scheduled exactly once.

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
use durable_runtime::{InstanceId, RuntimeStatus};

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
    let mut child = spawn_worker(db, &[]);
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
