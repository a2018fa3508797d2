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

#[durable_runtime::orchestrator]
async fn wait_for_go(
    ctx: durable_runtime::OrchestrationContext,
    _input: (),
) -> Result<u64, durable_runtime::OrchestrationError> {
    Ok(ctx.wait_for_external_event::<u64>("go").await?)
}

/// The instance ids of `items` with the names of their raised events.
fn raised(items: &[durable_runtime::store::OrchestrationWorkItem]) -> Vec<(String, Vec<String>)> {
    let mut raised: Vec<(String, Vec<String>)> = items
        .iter()
        .map(|item| {
            let names = item
                .messages
                .iter()
                .filter_map(|m| match &m.event.kind {
                    EventKind::EventRaised { name, .. } => Some(name.clone()),
                    _ => None,
                })
                .collect();
            (item.instance_id.to_string(), names)
        })
        .collect();
    raised.sort();
    raised
}

/// Two handles on one fresh task hub, standing for two processes.
async fn two_processes(url: &str) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let options = PostgresOptions::default().task_hub(durable_tests::fresh_task_hub());
    let connect = || async {
        Arc::new(
            PostgresStore::connect_with(url, options.clone())
                .await
                .unwrap(),
        )
    };
    (connect().await, connect().await)
}

/// Starts `WaitForGo` instances `ids` through `client`, has a worker on `store` run their
/// first turn (parked on their event), stops it, and leaves `store` not fetching.
async fn park(store: &Arc<PostgresStore>, client: &DurableClient, ids: &[&str]) {
    let runtime = durable_runtime::Runtime::builder()
        .store(store.clone())
        .start()
        .await
        .unwrap();
    for id in ids {
        client
            .start_orchestration(WaitForGo, ())
            .instance_id(*id)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in ids {
        let id = InstanceId::new(*id).unwrap();
        while store.get_status(&id).await.unwrap().unwrap().runtime_status != RuntimeStatus::Running
        {
            assert!(Instant::now() < deadline, "{id} was not parked");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    runtime.shutdown().await;
}

/// Releases the leases of `items` at once.
async fn abandon(store: &PostgresStore, items: &[durable_runtime::store::OrchestrationWorkItem]) {
    for item in items {
        store
            .abandon_orchestration_work_item(
                &item.instance_id,
                item.lock_token.as_ref().unwrap(),
                Duration::ZERO,
            )
            .await
            .unwrap();
    }
}

/// A raised event's instance is leased ahead, in the raise's own transaction, for the
/// raising process's dispatcher (no `MARK_DUE`, no claim by a fetch), only while that
/// process fetches; another process cannot take it meanwhile; `release_prefetched` (what a
/// worker calls when it stops) hands it back to the task hub at once, and nothing is lost.
/// Two store handles on one hub stand for two processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raise_is_leased_ahead_for_the_raising_process_and_released_when_it_stops() {
    let Some(url) = durable_tests::postgres_url("lease_ahead") else {
        return;
    };
    let (here, elsewhere) = two_processes(&url).await;
    let client = DurableClient::new(here.clone());
    let lease = Duration::from_secs(600);

    // A worker elsewhere parks two instances on their event, and stops.
    park(&elsewhere, &client, &["p", "q"]).await;
    assert!(
        elsewhere
            .fetch_orchestration_work_items(10, lease)
            .await
            .unwrap()
            .is_empty(),
        "both parked"
    );
    elsewhere.release_prefetched().await;

    // Once this process fetches, a raise leases its instance ahead for it.
    assert!(
        here.fetch_orchestration_work_items(10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    client
        .raise_event(&InstanceId::new("p").unwrap(), "go", &1_u64)
        .await
        .unwrap();
    assert!(
        elsewhere
            .fetch_orchestration_work_items(10, lease)
            .await
            .unwrap()
            .is_empty(),
        "another process cannot take an instance leased ahead"
    );
    elsewhere.release_prefetched().await;
    let items = here
        .fetch_orchestration_work_items(10, lease)
        .await
        .unwrap();
    assert_eq!(raised(&items), [("p".to_owned(), vec!["go".to_owned()])]);
    assert!(items[0].lock_token.is_some(), "leased");
    abandon(&here, &items).await;

    // Released when this process's worker stops: another takes it at once.
    client
        .raise_event(&InstanceId::new("q").unwrap(), "go", &2_u64)
        .await
        .unwrap();
    here.release_prefetched().await;
    let items = elsewhere
        .fetch_orchestration_work_items(10, lease)
        .await
        .unwrap();
    assert_eq!(
        raised(&items),
        [
            ("p".to_owned(), vec!["go".to_owned()]),
            ("q".to_owned(), vec!["go".to_owned()])
        ],
        "released at once, not after the lease"
    );
    abandon(&elsewhere, &items).await;
    elsewhere.release_prefetched().await;

    // After a release, a process that no longer fetches leases nothing ahead: a raise
    // leaves its instance due for any worker.
    client
        .start_orchestration(WaitForGo, ())
        .instance_id("r")
        .await
        .unwrap();
    let runtime = durable_runtime::Runtime::builder()
        .store(elsewhere.clone())
        .start()
        .await
        .unwrap();
    for (id, value) in [("p", 1), ("q", 2)] {
        let done = client
            .wait_for_completion(&InstanceId::new(id).unwrap(), Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(done.runtime_status, RuntimeStatus::Completed, "{id}");
        assert_eq!(done.output.unwrap().decode::<u64>().unwrap(), value, "{id}");
    }
    let r = InstanceId::new("r").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while here.get_status(&r).await.unwrap().unwrap().runtime_status != RuntimeStatus::Running {
        assert!(Instant::now() < deadline, "r was not parked");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.raise_event(&r, "go", &3_u64).await.unwrap();
    let done = client
        .wait_for_completion(&r, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(done.output.unwrap().decode::<u64>().unwrap(), 3);
    runtime.shutdown().await;
}

/// A fetch takes at most half its batch from what was leased ahead and claims due work
/// for the rest (a stream of raised events does not starve new instances and timers), and
/// an instance left waiting in the queue for over a second is released by the next client
/// write, so any worker takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_shares_its_batch_and_a_lease_left_waiting_is_released() {
    let Some(url) = durable_tests::postgres_url("lease_ahead_bounds") else {
        return;
    };
    let (here, elsewhere) = two_processes(&url).await;
    let client = DurableClient::new(here.clone());
    let lease = Duration::from_secs(600);
    let id = |id: &str| InstanceId::new(id).unwrap();
    let ids = |items: &[durable_runtime::store::OrchestrationWorkItem]| {
        let mut ids: Vec<String> = items.iter().map(|i| i.instance_id.to_string()).collect();
        ids.sort();
        ids
    };

    // Three instances parked on their event by a worker elsewhere, which stops.
    park(&elsewhere, &client, &["p", "q", "s"]).await;
    elsewhere.release_prefetched().await;

    // Two raises leased ahead for this process, and a new instance due for any worker.
    assert!(
        here.fetch_orchestration_work_items(10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    for name in ["p", "q"] {
        client.raise_event(&id(name), "go", &1_u64).await.unwrap();
    }
    client
        .start_orchestration(WaitForGo, ())
        .instance_id("r")
        .await
        .unwrap();
    let items = here.fetch_orchestration_work_items(2, lease).await.unwrap();
    assert_eq!(
        ids(&items),
        ["p", "r"],
        "one from the queue, one due instance claimed"
    );
    abandon(&here, &items).await;

    // `q` waits in the queue; the next raise after a second releases it.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    client.raise_event(&id("s"), "go", &3_u64).await.unwrap();
    let items = elsewhere
        .fetch_orchestration_work_items(10, lease)
        .await
        .unwrap();
    assert_eq!(
        ids(&items),
        ["p", "q", "r"],
        "q released, s leased ahead for this process"
    );
    abandon(&elsewhere, &items).await;
    elsewhere.release_prefetched().await;

    // Nothing lost: a worker elsewhere finishes the raised ones once this process lets go.
    here.release_prefetched().await;
    let runtime = durable_runtime::Runtime::builder()
        .store(elsewhere.clone())
        .start()
        .await
        .unwrap();
    for (name, value) in [("p", 1), ("q", 1), ("s", 3)] {
        let done = client
            .wait_for_completion(&id(name), Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(done.runtime_status, RuntimeStatus::Completed, "{name}");
        assert_eq!(
            done.output.unwrap().decode::<u64>().unwrap(),
            value,
            "{name}"
        );
    }
    runtime.shutdown().await;
}
