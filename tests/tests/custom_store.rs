//! A `Store` implemented outside the crate: the protocol types are `#[non_exhaustive]`, so
//! this store builds every value it hands back (work items, messages, pages, stats) with
//! their public constructors and setters, never with a struct literal. It keeps its data in
//! a `MemoryStore` and rebuilds each answer field by field; a field a constructor lost
//! (a version, a history length, a message, an attempt, a trace context) would show as a
//! wrong result or a stuck instance below.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use durable_runtime::history::HistoryEvent;
use durable_runtime::prelude::*;
use durable_runtime::store::memory::MemoryStore;
use durable_runtime::store::{
    ActivityCompletion, ActivityLease, ActivityWorkItem, Backlog, CorruptMessage, InstanceCounts,
    InstancePage, InstanceQuery, LockToken, NewActivity, NewInstance, Notifier,
    OrchestrationCommit, OrchestrationMessage, OrchestrationWorkItem, OutboundMessage, PurgeQuery,
    Store, TaskHubStats,
};
use durable_runtime::{Clock, OrchestrationStatus, StoreError};

const WAIT: Duration = Duration::from_secs(30);

/// A store of its own, over a `MemoryStore`, that builds every answer anew; counts the work
/// items it rebuilt.
#[derive(Debug, Default)]
struct RebuildingStore {
    inner: MemoryStore,
    rebuilt: AtomicUsize,
    /// When set, each orchestration commit takes a permit of it, waiting for one if need
    /// be (after counting itself in `gated`).
    commit_gate: std::sync::Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    gated: AtomicUsize,
}

impl RebuildingStore {
    fn orchestration_item(&self, item: OrchestrationWorkItem) -> OrchestrationWorkItem {
        self.rebuilt.fetch_add(1, Ordering::Relaxed);
        let messages = item
            .messages
            .into_iter()
            .map(|m| OrchestrationMessage::new(m.id, m.execution_id, m.event))
            .collect();
        let corrupt = item
            .corrupt_messages
            .into_iter()
            .map(|m| CorruptMessage::new(m.id, m.reason))
            .collect();
        let rebuilt = OrchestrationWorkItem::new(
            item.instance_id,
            item.execution_id,
            item.name,
            item.status,
            item.lock_token
                .expect("a store always sets the lease token"),
        )
        .history_len(item.history_len)
        .messages(messages)
        .corrupt_messages(corrupt);
        match item.version {
            Some(version) => rebuilt.version(version),
            None => rebuilt,
        }
    }

    fn activity_item(&self, item: ActivityWorkItem) -> ActivityWorkItem {
        self.rebuilt.fetch_add(1, Ordering::Relaxed);
        let mut activity = NewActivity::new(item.scheduled_id, item.name, item.input);
        if let Some(context) = item.trace_context {
            activity = activity.trace_context(context);
        }
        let rebuilt = ActivityWorkItem::new(
            item.id,
            item.instance_id,
            item.execution_id,
            activity,
            LockToken::new(item.lock_token.as_str()),
        )
        .attempt(item.attempt);
        match item.corrupt {
            Some(reason) => rebuilt.corrupt(reason),
            None => rebuilt,
        }
    }
}

#[async_trait::async_trait]
impl Store for RebuildingStore {
    async fn create_instance(&self, instance: NewInstance) -> Result<(), StoreError> {
        self.inner.create_instance(instance).await
    }

    async fn fetch_orchestration_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let items = self
            .inner
            .fetch_orchestration_work_items(max, lease)
            .await?;
        Ok(items
            .into_iter()
            .map(|i| self.orchestration_item(i))
            .collect())
    }

    async fn release_prefetched(&self) {
        self.inner.release_prefetched().await;
    }

    async fn commit_orchestrations(
        &self,
        commits: Vec<OrchestrationCommit>,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        let gate = self.commit_gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            self.gated.fetch_add(1, Ordering::SeqCst);
            gate.acquire().await.unwrap().forget();
        }
        let results = self.inner.commit_orchestrations(commits).await?;
        Ok(results
            .into_iter()
            .map(|r| r.map(|items| items.into_iter().map(|i| self.activity_item(i)).collect()))
            .collect())
    }

    async fn abandon_orchestration_work_item(
        &self,
        instance_id: &InstanceId,
        lock_token: &LockToken,
        retry_after: Duration,
    ) -> Result<(), StoreError> {
        self.inner
            .abandon_orchestration_work_item(instance_id, lock_token, retry_after)
            .await
    }

    async fn fetch_activity_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let items = self.inner.fetch_activity_work_items(max, lease).await?;
        Ok(items.into_iter().map(|i| self.activity_item(i)).collect())
    }

    async fn complete_activities(
        &self,
        completions: Vec<ActivityCompletion>,
        lease_instances: Option<Duration>,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        // Rebuilt on the way in too: what a store that forwards completions would do.
        let completions = completions
            .into_iter()
            .map(|c| {
                ActivityCompletion::new(
                    ActivityLease::new(c.id, c.lock_token),
                    c.instance_id,
                    c.execution_id,
                    c.event,
                )
            })
            .collect();
        let items = self
            .inner
            .complete_activities(completions, lease_instances)
            .await?;
        Ok(items
            .into_iter()
            .map(|i| self.orchestration_item(i))
            .collect())
    }

    async fn renew_activity_leases(
        &self,
        items: Vec<ActivityLease>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        self.inner.renew_activity_leases(items, lease).await
    }

    async fn abandon_activities(&self, items: Vec<ActivityLease>) -> Result<(), StoreError> {
        self.inner.abandon_activities(items).await
    }

    async fn get_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<OrchestrationStatus>, StoreError> {
        self.inner.get_status(instance_id).await
    }

    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError> {
        let page = self.inner.list_instances(query).await?;
        Ok(InstancePage::new(page.instances, page.continuation_token))
    }

    async fn read_history(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<Vec<HistoryEvent>>, StoreError> {
        self.inner.read_history(instance_id).await
    }

    async fn enqueue_message(
        &self,
        message: OutboundMessage,
        accept: &[RuntimeStatus],
    ) -> Result<RuntimeStatus, StoreError> {
        let message = OutboundMessage::new(
            message.instance_id,
            message.execution_id,
            message.visible_at,
            message.event,
        );
        self.inner.enqueue_message(message, accept).await
    }

    async fn purge_instance(&self, instance_id: &InstanceId) -> Result<(), StoreError> {
        self.inner.purge_instance(instance_id).await
    }

    async fn purge_instances(&self, query: &PurgeQuery) -> Result<usize, StoreError> {
        self.inner.purge_instances(query).await
    }

    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.next_visible_at().await
    }

    async fn has_activity_work(&self, instance_id: &InstanceId) -> Result<bool, StoreError> {
        self.inner.has_activity_work(instance_id).await
    }

    async fn task_hub_stats(&self) -> Result<TaskHubStats, StoreError> {
        let stats = self.inner.task_hub_stats().await?;
        let counts = |counts: &InstanceCounts| {
            InstanceCounts::from_codes(counts.iter().map(|(status, n)| (status.code(), n)))
        };
        let mut backlog = Backlog::default();
        backlog.due_messages = stats.backlog.due_messages;
        backlog.future_messages = stats.backlog.future_messages;
        backlog.queued_activities = stats.backlog.queued_activities;
        backlog.running_activities = stats.backlog.running_activities;
        backlog.next_due_at = stats.backlog.next_due_at;
        Ok(TaskHubStats::new(
            counts(&stats.instances),
            counts(&stats.entities),
            backlog,
            stats.as_of,
        ))
    }

    fn notifier(&self) -> &Notifier {
        self.inner.notifier()
    }

    fn clock(&self) -> Clock {
        self.inner.clock()
    }
}

#[activity]
async fn add_one(value: u64) -> u64 {
    value + 1
}

#[orchestrator]
async fn add_three(ctx: OrchestrationContext, value: u64) -> Result<u64, OrchestrationError> {
    let mut value = value;
    for _ in 0..3 {
        value = ctx.call_activity(AddOne, value).await?;
    }
    // A durable timer and an external event: messages that wait in the queue.
    ctx.create_timer(Duration::from_millis(20)).await;
    let bonus: u64 = ctx.wait_for_external_event("bonus").await?;
    Ok(value + bonus)
}

#[tokio::test]
async fn a_store_built_outside_the_crate_runs_orchestrations() {
    let store = Arc::new(RebuildingStore::default());
    // No cache and no in-process activities: every turn and every activity goes through
    // the items this store rebuilt.
    let options = durable_runtime::WorkerOptions::default()
        .cache_capacity(0)
        .dispatch_activities_in_process(false)
        .poll_interval(Duration::from_millis(50));
    let runtime = Runtime::builder()
        .store(store.clone())
        .options(options)
        .start()
        .await
        .unwrap();
    let client = runtime.client();
    let instance = AddThree::start(&client, 1)
        .instance_id("custom-store-1")
        .await
        .unwrap();
    client
        .raise_event(instance.instance_id(), "bonus", &10_u64)
        .await
        .unwrap();
    assert_eq!(instance.wait_for_completion(WAIT).await.unwrap(), 14);

    let page = client
        .list_instances(&InstanceQuery::default().statuses([RuntimeStatus::Completed]))
        .await
        .unwrap();
    let ids: Vec<String> = page
        .instances
        .iter()
        .map(|s| s.instance_id.to_string())
        .collect();
    assert_eq!(ids, ["custom-store-1"]);
    let stats = client.task_hub_stats().await.unwrap();
    assert_eq!(stats.instances.get(RuntimeStatus::Completed), 1);
    assert_eq!(stats.instances.total(), 1);
    assert!(
        store.rebuilt.load(Ordering::Relaxed) >= 7,
        "the turns and activities went through the rebuilt work items"
    );
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_at_once_the_activities_a_late_commit_leased() {
    let store = Arc::new(RebuildingStore::default());
    // The first turn commits; the second (the first `add_one`'s result, which also leases
    // the next `add_one` to this worker) waits until shutdown has begun.
    let gate = Arc::new(tokio::sync::Semaphore::new(1));
    *store.commit_gate.lock().unwrap() = Some(gate.clone());
    // A lease far longer than the test may wait, and a shutdown timeout longer still: only
    // a lease released at shutdown lets the next worker run the activity in time.
    let options = durable_runtime::WorkerOptions::default()
        .activity_lease(Duration::from_secs(300))
        .shutdown_timeout(Duration::from_secs(600));
    let first = Runtime::builder()
        .store(store.clone())
        .options(options)
        .start()
        .await
        .unwrap();
    let instance = AddThree::start(&first.client(), 1)
        .instance_id("late-commit")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.gated.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second commit never came"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Shutdown takes every activity slot (nothing runs: at once) and waits for the held
    // result's commit; that commit then leases an activity that can never get a slot. (Had
    // shutdown not taken the slots within the pause, the test would pass without showing
    // anything; it failed on the code before the fix.)
    let shutdown = tokio::spawn(first.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    *store.commit_gate.lock().unwrap() = None;
    gate.add_permits(1_000);
    tokio::time::timeout(WAIT, shutdown)
        .await
        .expect("shutdown waited for an activity that could never get a slot")
        .unwrap();

    let second = Runtime::builder()
        .store(store.clone())
        .start()
        .await
        .unwrap();
    let client = second.client();
    client
        .raise_event(instance.instance_id(), "bonus", &10_u64)
        .await
        .unwrap();
    let handle = client.instance::<AddThree>(instance.instance_id().clone());
    assert_eq!(handle.wait_for_completion(WAIT).await.unwrap(), 14);
    second.shutdown().await;
}
