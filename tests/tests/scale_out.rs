//! Scale-out on PostgreSQL: three worker processes share one task hub and run W1 (200
//! ten-step chains) and W2 (a fan-out of 1,000); one is SIGKILLed mid-run. Every instance
//! must complete with the right output, each sequence number scheduled once and each
//! orchestration completed once; the test prints how long the survivors took to take over.
//!
//! Needs `DURABLE_POSTGRES_URL` (`eval "$(scripts/postgres.sh start)"`; `.ci/run` does it).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use durable_runtime::history::EventKind;
use durable_runtime::store::postgres::{PostgresOptions, PostgresStore};
use durable_runtime::store::{InstanceQuery, Store};
use durable_runtime::{DurableClient, InstanceId, RuntimeStatus};
use durable_tests::{LongChain, WideFanOut};

const WORKER: &str = env!("CARGO_BIN_EXE_crash_worker");
const CHAINS: usize = 200;
const STEPS: u64 = 10;
const FAN_OUT: u64 = 1_000;

fn spawn_worker(url: &str, hub: &str) -> Child {
    let mut child = Command::new(WORKER)
        .arg(url)
        .env("DURABLE_TASK_HUB", hub)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn crash_worker");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read ready line");
    assert_eq!(line.trim(), "ready", "worker did not start");
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

/// Every instance's status, by id.
async fn statuses(
    store: &PostgresStore,
) -> HashMap<String, (RuntimeStatus, chrono::DateTime<chrono::Utc>)> {
    let mut all = HashMap::new();
    let mut query = InstanceQuery::default().page_size(1_000);
    loop {
        let page = store.list_instances(&query).await.unwrap();
        for status in page.instances {
            all.insert(
                status.instance_id.to_string(),
                (status.runtime_status, status.last_updated_time),
            );
        }
        match page.continuation_token {
            Some(token) => query.continuation_token = Some(token),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::disallowed_methods,
    reason = "compares the kill time with the stores' update times"
)]
async fn three_workers_share_a_task_hub_and_survive_a_sigkill() {
    let Some(url) = durable_tests::postgres_url("scale_out") else {
        return;
    };
    let hub = durable_tests::fresh_task_hub();
    let store = Arc::new(
        PostgresStore::connect_with(&url, PostgresOptions::default().task_hub(hub.clone()))
            .await
            .unwrap(),
    );
    let client = DurableClient::new(store.clone());
    for index in 0..CHAINS {
        client
            .start_orchestration(LongChain, STEPS)
            .instance_id(format!("chain-{index}"))
            .await
            .unwrap();
    }
    client
        .start_orchestration(WideFanOut, FAN_OUT)
        .instance_id("fan-out")
        .await
        .unwrap();

    let started = Instant::now();
    let mut workers: Vec<Child> = (0..3).map(|_| spawn_worker(&url, &hub)).collect();
    // Let all three take work, then kill one.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = statuses(&store)
            .await
            .values()
            .filter(|(s, _)| *s == RuntimeStatus::Completed)
            .count();
        if done >= CHAINS / 4 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut victim = workers.remove(0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed_at = chrono::Utc::now();
    let kill_instant = Instant::now();
    let at_kill = statuses(&store).await;
    let unfinished: Vec<String> = at_kill
        .iter()
        .filter(|(_, (s, _))| !s.is_terminal())
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!unfinished.is_empty(), "killed too late to test anything");

    // Takeover: every instance unfinished at the kill has been worked on again.
    let mut takeover = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = statuses(&store).await;
        if takeover.is_none()
            && unfinished.iter().all(|id| {
                now.get(id)
                    .is_some_and(|(s, t)| s.is_terminal() || *t > killed_at)
            })
        {
            takeover = Some(kill_instant.elapsed());
        }
        if now.values().all(|(s, _)| *s == RuntimeStatus::Completed) && now.len() == CHAINS + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the survivors did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = started.elapsed();
    eprintln!(
        "scale-out: {} unfinished instances at the kill; every one worked on again {:.0} ms after it; all done in {:.2} s",
        unfinished.len(),
        takeover.unwrap_or_default().as_secs_f64() * 1000.0,
        total.as_secs_f64()
    );

    // Outputs right, each sequence number scheduled once, one completion each.
    for index in 0..=CHAINS {
        let (id, expected, calls) = if index == CHAINS {
            (
                "fan-out".to_owned(),
                (1..=FAN_OUT).sum::<u64>(),
                FAN_OUT as usize,
            )
        } else {
            (format!("chain-{index}"), STEPS, STEPS as usize)
        };
        let instance = InstanceId::new(id.as_str()).unwrap();
        let status = store.get_status(&instance).await.unwrap().unwrap();
        assert_eq!(
            status.output.unwrap().decode::<u64>().unwrap(),
            expected,
            "{id}"
        );
        let history = store.read_history(&instance).await.unwrap().unwrap();
        let mut scheduled: Vec<i64> = history
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ActivityScheduled { .. }))
            .map(|e| e.event_id)
            .collect();
        scheduled.sort_unstable();
        assert_eq!(
            scheduled,
            (0..calls as i64).collect::<Vec<_>>(),
            "{id}: each step scheduled once"
        );
        let completions = history
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }))
            .count();
        assert_eq!(completions, 1, "{id}: completed exactly once");
    }
    for mut worker in workers {
        let status = worker.wait().unwrap();
        assert!(status.success(), "a surviving worker failed: {status}");
    }
}
