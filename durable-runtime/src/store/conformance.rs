//! The store conformance suite: the behaviour every [`Store`] back-end must have.
//!
//! Each check is a public `async fn` taking a fresh, empty store; [`run_all`] runs them
//! all in turn. A back-end's tests call [`store_conformance_tests!`](crate::store_conformance_tests)
//! to get one `#[tokio::test]` per check. Checks panic (with a message naming the rule)
//! when a store breaks the contract; they are test code.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;

use super::{
    ActivityCompletion, InstanceQuery, NewActivity, NewExecution, NewInstance, OrchestrationCommit,
    OutboundMessage, PurgeQuery, Store,
};
use crate::clock;
use crate::error::StoreError;
use crate::history::ParentInstance;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};

const LEASE: Duration = Duration::from_secs(30);

fn id(text: &str) -> InstanceId {
    InstanceId::new(text).expect("valid test id")
}

fn new_instance(instance: &str, input: i64) -> NewInstance {
    let execution_id = ExecutionId::generate();
    let created_at = clock::now();
    let input = Payload::encode(&input).expect("encode");
    NewInstance {
        instance_id: id(instance),
        execution_id: execution_id.clone(),
        name: "conformance".into(),
        version: None,
        input: input.clone(),
        created_at,
        started: HistoryEvent::new(
            created_at,
            EventKind::ExecutionStarted {
                name: "conformance".into(),
                version: None,
                execution_id,
                input,
                parent: None,
                scheduled_start: None,
                trace_context: None,
            },
        ),
        parent_instance_id: None,
    }
}

fn turn_commit(
    item: &super::OrchestrationWorkItem,
    status: RuntimeStatus,
    activities: Vec<NewActivity>,
) -> OrchestrationCommit {
    let now = clock::now();
    let mut events = vec![HistoryEvent::new(now, EventKind::OrchestratorStarted)];
    events.extend(item.messages.iter().map(|m| m.event.clone()));
    for activity in &activities {
        events.push(HistoryEvent::scheduled(
            activity.scheduled_id,
            now,
            EventKind::ActivityScheduled {
                name: activity.name.clone(),
                input: activity.input.clone(),
            },
        ));
    }
    OrchestrationCommit {
        instance_id: item.instance_id.clone(),
        execution_id: item.execution_id.clone(),
        lock_token: Some(item.lock_token.clone()),
        history_len: item.history_len,
        events,
        consumed: item.messages.iter().map(|m| m.id).collect(),
        applied_activities: Vec::new(),
        activities,
        status,
        output: (status == RuntimeStatus::Completed)
            .then(|| Payload::encode("done").expect("encode")),
        failure: None,
        custom_status: Some(Some(
            Payload::encode(&serde_json::json!({"step": 1})).expect("encode"),
        )),
        updated_at: now,
        messages: Vec::new(),
        new_instances: Vec::new(),
        continue_as_new: None,
        lease_activities: None,
    }
}

fn activity(seq: i64) -> NewActivity {
    NewActivity {
        scheduled_id: seq,
        name: "work".into(),
        input: Payload::encode(&seq).expect("encode"),
        trace_context: None,
    }
}

/// A successful completion of `item` with a `null` result, under its lease.
fn completed(item: &super::ActivityWorkItem) -> ActivityCompletion {
    ActivityCompletion {
        id: item.id,
        lock_token: item.lock_token.clone(),
        instance_id: item.instance_id.clone(),
        execution_id: item.execution_id.clone(),
        event: HistoryEvent::new(
            clock::now(),
            EventKind::ActivityCompleted {
                scheduled_id: item.scheduled_id,
                result: Payload::null(),
            },
        ),
    }
}

async fn fetch_orchestrations(store: &dyn Store) -> Vec<super::OrchestrationWorkItem> {
    store
        .fetch_orchestration_work_items(10, LEASE)
        .await
        .expect("fetch orchestration work items")
}

async fn fetch_activities(store: &dyn Store) -> Vec<super::ActivityWorkItem> {
    store
        .fetch_activity_work_items(10, LEASE)
        .await
        .expect("fetch activity work items")
}

async fn commit_one(
    store: &dyn Store,
    commit: OrchestrationCommit,
) -> Result<Vec<super::ActivityWorkItem>, StoreError> {
    let mut results = store
        .commit_orchestrations(vec![commit])
        .await
        .expect("commit batch");
    results.pop().expect("one result")
}

/// Creating an instance makes it `Pending` with its `ExecutionStarted` as a message.
pub async fn create_then_fetch(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Pending);
    assert_eq!(status.input.expect("input").as_json(), "1");
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 1, "one instance has work");
    assert_eq!(items[0].history_len, 0);
    assert_eq!(items[0].messages.len(), 1);
    assert_eq!(
        items[0].messages[0].event.kind.type_name(),
        "ExecutionStarted"
    );
    assert!(
        store
            .read_history(&id("a"))
            .await
            .expect("history")
            .expect("exists")
            .is_empty()
    );
    assert!(
        store
            .get_status(&id("nobody"))
            .await
            .expect("status")
            .is_none()
    );
    assert!(
        store
            .read_history(&id("nobody"))
            .await
            .expect("history")
            .is_none()
    );
}

/// A leased instance is not fetched again until its lease expires; an expired lease
/// cannot commit.
pub async fn leases_exclude_and_expire(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let first = store
        .fetch_orchestration_work_items(10, Duration::from_millis(200))
        .await
        .expect("fetch");
    assert_eq!(first.len(), 1);
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "leased instance fetched twice"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = fetch_orchestrations(&*store).await;
    assert_eq!(
        second.len(),
        1,
        "expired lease must make the instance visible again"
    );
    assert_ne!(first[0].lock_token, second[0].lock_token);
    let stale = commit_one(
        &*store,
        turn_commit(&first[0], RuntimeStatus::Running, vec![]),
    )
    .await;
    assert!(
        matches!(stale, Err(StoreError::LeaseLost(_))),
        "stale lease committed: {stale:?}"
    );
    commit_one(
        &*store,
        turn_commit(&second[0], RuntimeStatus::Running, vec![]),
    )
    .await
    .expect("current lease commits");
}

/// A commit appends history, deletes consumed messages, enqueues activities, updates the
/// status and releases the lease, atomically.
pub async fn commit_applies_everything(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    let commit = turn_commit(
        &items[0],
        RuntimeStatus::Running,
        vec![activity(0), activity(1)],
    );
    let appended = commit.events.clone();
    commit_one(&*store, commit).await.expect("commit");
    let history = store
        .read_history(&id("a"))
        .await
        .expect("history")
        .expect("exists");
    assert_eq!(history, appended, "history round-trips exactly");
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Running);
    assert_eq!(
        status.custom_status.expect("custom status").as_json(),
        r#"{"step":1}"#
    );
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "consumed messages are gone"
    );
    let activities = fetch_activities(&*store).await;
    let mut seqs: Vec<i64> = activities.iter().map(|a| a.scheduled_id).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [0, 1]);
    assert!(
        activities
            .iter()
            .all(|a| a.attempt == 1 && a.instance_id == id("a") && a.name == "work")
    );
}

/// A commit whose history length is stale is refused.
pub async fn stale_history_length_is_refused(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    let mut commit = turn_commit(&items[0], RuntimeStatus::Running, vec![]);
    commit.history_len = 5;
    let result = commit_one(&*store, commit).await;
    assert!(
        matches!(result, Err(StoreError::LeaseLost(_))),
        "{result:?}"
    );
    assert!(
        store
            .read_history(&id("a"))
            .await
            .expect("history")
            .expect("exists")
            .is_empty(),
        "nothing written"
    );
}

/// In one batch, a refused commit does not stop the others.
pub async fn batch_commits_are_independent(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    store
        .create_instance(new_instance("b", 2))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 2);
    let mut bad = turn_commit(&items[0], RuntimeStatus::Running, vec![activity(0)]);
    bad.lock_token = Some("not-the-token".into());
    let good = turn_commit(&items[1], RuntimeStatus::Completed, vec![]);
    let results = store
        .commit_orchestrations(vec![bad, good])
        .await
        .expect("batch");
    assert!(matches!(results[0], Err(StoreError::LeaseLost(_))));
    assert!(results[1].is_ok());
    assert!(
        fetch_activities(&*store).await.is_empty(),
        "refused commit enqueued nothing"
    );
    let done = store
        .get_status(&items[1].instance_id)
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(done.runtime_status, RuntimeStatus::Completed);
    assert_eq!(done.output.expect("output").as_json(), r#""done""#);
}

/// Completing an activity turns it into a message for its instance; a completion whose
/// lease was lost is dropped; an expired activity lease redelivers with a higher attempt.
pub async fn activity_lifecycle(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    commit_one(
        &*store,
        turn_commit(
            &items[0],
            RuntimeStatus::Running,
            vec![activity(0), activity(1)],
        ),
    )
    .await
    .expect("commit");
    let leased = store
        .fetch_activity_work_items(10, Duration::from_millis(200))
        .await
        .expect("fetch");
    assert_eq!(leased.len(), 2);
    assert!(
        fetch_activities(&*store).await.is_empty(),
        "leased activities fetched twice"
    );
    let done = |item: &super::ActivityWorkItem, token: &str| ActivityCompletion {
        id: item.id,
        lock_token: token.to_owned(),
        instance_id: item.instance_id.clone(),
        execution_id: item.execution_id.clone(),
        event: HistoryEvent::new(
            clock::now(),
            EventKind::ActivityCompleted {
                scheduled_id: item.scheduled_id,
                result: Payload::encode(&(item.scheduled_id * 10)).expect("encode"),
            },
        ),
    };
    store
        .complete_activities(vec![done(&leased[0], "wrong-token")], None)
        .await
        .expect("complete");
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "completion with a lost lease must be dropped"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = fetch_activities(&*store).await;
    assert_eq!(again.len(), 2, "expired activity leases redeliver");
    assert!(
        again.iter().all(|a| a.attempt == 2),
        "attempt counts deliveries"
    );
    store
        .complete_activities(vec![done(&leased[0], &leased[0].lock_token)], None)
        .await
        .expect("complete");
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "the old lease lost the item"
    );
    store
        .complete_activities(again.iter().map(|a| done(a, &a.lock_token)).collect(), None)
        .await
        .expect("complete");
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 1);
    let mut results: Vec<(String, i64)> = items[0]
        .messages
        .iter()
        .map(|m| match &m.event.kind {
            EventKind::ActivityCompleted {
                scheduled_id,
                result,
            } => (result.as_json().to_owned(), *scheduled_id),
            other => panic!("unexpected message {other:?}"),
        })
        .collect();
    results.sort();
    assert_eq!(results, [("0".to_owned(), 0), ("10".to_owned(), 1)]);
    assert!(
        fetch_activities(&*store).await.is_empty(),
        "completed activities are gone"
    );
}

/// Renewed activity leases hold; abandoned ones are fetched again at once.
pub async fn renew_and_abandon_activity_leases(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    commit_one(
        &*store,
        turn_commit(&items[0], RuntimeStatus::Running, vec![activity(0)]),
    )
    .await
    .expect("commit");
    let leased = store
        .fetch_activity_work_items(10, Duration::from_millis(200))
        .await
        .expect("fetch");
    store
        .renew_activity_leases(vec![(leased[0].id, leased[0].lock_token.clone())], LEASE)
        .await
        .expect("renew");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fetch_activities(&*store).await.is_empty(),
        "renewed lease expired"
    );
    store
        .abandon_activities(vec![(leased[0].id, leased[0].lock_token.clone())])
        .await
        .expect("abandon");
    assert_eq!(
        fetch_activities(&*store).await.len(),
        1,
        "abandoned item not visible"
    );
}

/// Messages that arrive while an instance is leased are neither lost nor consumed by the
/// turn that did not see them; an abandoned work item is fetched again.
pub async fn messages_during_a_lease_are_kept(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let first = fetch_orchestrations(&*store).await;
    commit_one(
        &*store,
        turn_commit(
            &first[0],
            RuntimeStatus::Running,
            vec![activity(0), activity(1)],
        ),
    )
    .await
    .expect("commit");
    let activities = fetch_activities(&*store).await;
    assert_eq!(activities.len(), 2);
    let complete = |index: usize| ActivityCompletion {
        id: activities[index].id,
        lock_token: activities[index].lock_token.clone(),
        instance_id: id("a"),
        execution_id: activities[index].execution_id.clone(),
        event: HistoryEvent::new(
            clock::now(),
            EventKind::ActivityFailed {
                scheduled_id: activities[index].scheduled_id,
                failure: FailureDetails::new("test", format!("failed {index}")),
            },
        ),
    };
    store
        .complete_activities(vec![complete(0)], None)
        .await
        .expect("complete");
    let second = fetch_orchestrations(&*store).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].messages.len(), 1);
    // The instance is leased now; this result arrives during the lease.
    store
        .complete_activities(vec![complete(1)], None)
        .await
        .expect("complete");
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "leased instance fetched"
    );
    commit_one(
        &*store,
        turn_commit(&second[0], RuntimeStatus::Running, vec![]),
    )
    .await
    .expect("commit");
    let third = fetch_orchestrations(&*store).await;
    assert_eq!(
        third.len(),
        1,
        "the message that arrived during the lease waits for the next fetch"
    );
    assert_eq!(third[0].messages.len(), 1);
    let EventKind::ActivityFailed { failure, .. } = &third[0].messages[0].event.kind else {
        panic!("unexpected message {:?}", third[0].messages[0]);
    };
    assert_eq!(failure.message, "failed 1");
    store
        .abandon_orchestration_work_item(&id("a"), "not-the-token", Duration::ZERO)
        .await
        .expect("a wrong token is a no-op");
    assert!(fetch_orchestrations(&*store).await.is_empty());
    store
        .abandon_orchestration_work_item(&id("a"), &third[0].lock_token, Duration::ZERO)
        .await
        .expect("abandon");
    let fourth = fetch_orchestrations(&*store).await;
    assert_eq!(fourth.len(), 1, "an abandoned work item is fetched again");
    assert_eq!(fourth[0].messages, third[0].messages);
}

/// An id is reused only when its instance is terminal; reuse starts a fresh history.
pub async fn instance_id_reuse_rules(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let again = store.create_instance(new_instance("a", 2)).await;
    assert!(
        matches!(
            again,
            Err(StoreError::InstanceAlreadyExists {
                status: RuntimeStatus::Pending,
                ..
            })
        ),
        "{again:?}"
    );
    let items = fetch_orchestrations(&*store).await;
    commit_one(
        &*store,
        turn_commit(&items[0], RuntimeStatus::Completed, vec![]),
    )
    .await
    .expect("commit");
    store
        .create_instance(new_instance("a", 3))
        .await
        .expect("a finished instance's id can be reused");
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Pending);
    assert_eq!(status.input.expect("input").as_json(), "3");
    assert!(status.output.is_none());
    assert!(
        store
            .read_history(&id("a"))
            .await
            .expect("history")
            .expect("exists")
            .is_empty(),
        "old history deleted"
    );
}

/// Listing filters by status, creation time and id prefix, and pages with a token.
pub async fn list_filters_and_pages(store: Arc<dyn Store>) {
    let before = clock::now() - ChronoDuration::seconds(1);
    for index in 0..7 {
        store
            .create_instance(new_instance(&format!("order-{index}"), index))
            .await
            .expect("create");
    }
    store
        .create_instance(new_instance("other", 9))
        .await
        .expect("create");
    let items = store
        .fetch_orchestration_work_items(1, LEASE)
        .await
        .expect("fetch");
    commit_one(
        &*store,
        turn_commit(&items[0], RuntimeStatus::Completed, vec![]),
    )
    .await
    .expect("commit");
    let everything = store
        .list_instances(&InstanceQuery::default())
        .await
        .expect("list");
    assert_eq!(everything.instances.len(), 8);
    assert!(everything.continuation_token.is_none());
    let completed = store
        .list_instances(&InstanceQuery {
            statuses: vec![RuntimeStatus::Completed],
            ..InstanceQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(completed.instances.len(), 1);
    assert_eq!(completed.instances[0].instance_id, items[0].instance_id);
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .list_instances(&InstanceQuery {
                instance_id_prefix: Some("order-".into()),
                page_size: 3,
                continuation_token: token.clone(),
                ..InstanceQuery::default()
            })
            .await
            .expect("list");
        assert!(page.instances.len() <= 3);
        seen.extend(
            page.instances
                .into_iter()
                .map(|s| s.instance_id.to_string()),
        );
        token = page.continuation_token;
        if token.is_none() {
            break;
        }
    }
    let mut expected: Vec<String> = (0..7).map(|i| format!("order-{i}")).collect();
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected, "pages cover every match exactly once");
    let in_range = store
        .list_instances(&InstanceQuery {
            created_from: Some(before),
            created_to: Some(clock::now() + ChronoDuration::seconds(1)),
            ..InstanceQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(in_range.instances.len(), 8);
    let future = store
        .list_instances(&InstanceQuery {
            created_from: Some(clock::now() + ChronoDuration::seconds(60)),
            ..InstanceQuery::default()
        })
        .await
        .expect("list");
    assert!(future.instances.is_empty());
    let bad = store
        .list_instances(&InstanceQuery {
            continuation_token: Some("garbage".into()),
            ..InstanceQuery::default()
        })
        .await;
    assert!(
        matches!(bad, Err(StoreError::InvalidContinuationToken(_))),
        "a garbage token is bad input: {bad:?}"
    );
}

/// Work made visible wakes the dispatchers through the notifier; a finished instance
/// wakes its watchers.
pub async fn notifications(store: Arc<dyn Store>) {
    let watcher = store.notifier().watch_instance(&id("a"));
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    tokio::time::timeout(
        Duration::from_secs(5),
        store.notifier().wait_orchestration_work(),
    )
    .await
    .expect("create must signal orchestration work");
    let items = fetch_orchestrations(&*store).await;
    commit_one(
        &*store,
        turn_commit(&items[0], RuntimeStatus::Running, vec![activity(0)]),
    )
    .await
    .expect("commit");
    tokio::time::timeout(
        Duration::from_secs(5),
        store.notifier().wait_activity_work(),
    )
    .await
    .expect("enqueued activities must signal activity work");
    let items = fetch_orchestrations(&*store).await;
    assert!(items.is_empty());
    let activity = fetch_activities(&*store).await.remove(0);
    store
        .complete_activities(vec![completed(&activity)], None)
        .await
        .expect("complete");
    tokio::time::timeout(
        Duration::from_secs(5),
        store.notifier().wait_orchestration_work(),
    )
    .await
    .expect("activity results must signal orchestration work");
    let items = fetch_orchestrations(&*store).await;
    commit_one(
        &*store,
        turn_commit(&items[0], RuntimeStatus::Completed, vec![]),
    )
    .await
    .expect("commit");
    tokio::time::timeout(Duration::from_secs(5), watcher)
        .await
        .expect("finishing must wake watchers")
        .expect("watcher kept");
}

fn raised(name: &str, value: i64) -> HistoryEvent {
    HistoryEvent::new(
        clock::now(),
        EventKind::EventRaised {
            name: name.into(),
            input: Payload::encode(&value).expect("encode"),
        },
    )
}

fn to(instance: &str, event: HistoryEvent) -> OutboundMessage {
    OutboundMessage {
        instance_id: id(instance),
        execution_id: None,
        visible_at: event.timestamp,
        event,
    }
}

/// A message is invisible until its `visible_at` (durable timers), and
/// `next_visible_at` reports when the next one comes due.
pub async fn delayed_messages_wait_until_due(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    let fire_at = clock::now() + ChronoDuration::milliseconds(300);
    let mut commit = turn_commit(&items[0], RuntimeStatus::Running, vec![]);
    commit.messages.push(OutboundMessage {
        instance_id: id("a"),
        execution_id: Some(items[0].execution_id.clone()),
        visible_at: fire_at,
        event: HistoryEvent::new(
            fire_at,
            EventKind::TimerFired {
                timer_id: 0,
                fire_at,
            },
        ),
    });
    commit_one(&*store, commit).await.expect("commit");
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "a timer must not fire early"
    );
    let next = store
        .next_visible_at()
        .await
        .expect("next")
        .expect("a timer is pending");
    assert!(
        (next - fire_at).num_milliseconds().abs() <= 1,
        "next_visible_at reports the fire time"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    let due = fetch_orchestrations(&*store).await;
    assert_eq!(due.len(), 1, "a due timer is fetched");
    assert_eq!(due[0].messages[0].event.kind.type_name(), "TimerFired");
    // Nothing else is due: the next wake-up is at most the expiry of the lease just taken
    // (work a dead worker leaves behind is due again then), never sooner.
    let lease_ends = clock::now() + ChronoDuration::seconds(LEASE.as_secs() as i64 - 1);
    assert!(
        store
            .next_visible_at()
            .await
            .expect("next")
            .is_none_or(|next| next >= lease_ends),
        "no wake-up before the lease expires"
    );
}

/// `enqueue_message` checks the instance's status atomically.
pub async fn enqueue_checks_the_status(store: Arc<dyn Store>) {
    let missing = store
        .enqueue_message(to("nobody", raised("e", 1)), &[RuntimeStatus::Running])
        .await;
    assert!(
        matches!(missing, Err(StoreError::InstanceNotFound(_))),
        "{missing:?}"
    );
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let status = store
        .enqueue_message(
            to("a", raised("e", 1)),
            &[RuntimeStatus::Pending, RuntimeStatus::Running],
        )
        .await
        .expect("pending accepts");
    assert_eq!(status, RuntimeStatus::Pending);
    let refused = store
        .enqueue_message(to("a", raised("e", 2)), &[RuntimeStatus::Suspended])
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::InstanceState {
                status: RuntimeStatus::Pending,
                ..
            })
        ),
        "{refused:?}"
    );
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items[0].messages.len(), 2, "started + one accepted event");
}

/// A suspended instance is fetched only for a resume or terminate message.
pub async fn suspended_instances_wait_for_control_messages(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    commit_one(
        &*store,
        turn_commit(&items[0], RuntimeStatus::Suspended, vec![]),
    )
    .await
    .expect("commit");
    store
        .enqueue_message(to("a", raised("e", 1)), &[RuntimeStatus::Suspended])
        .await
        .expect("events queue while suspended");
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "a suspended instance is not run for events"
    );
    let resume = HistoryEvent::new(clock::now(), EventKind::ExecutionResumed { reason: None });
    store
        .enqueue_message(to("a", resume), &[RuntimeStatus::Suspended])
        .await
        .expect("resume");
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 1);
    let kinds: Vec<_> = items[0]
        .messages
        .iter()
        .map(|m| m.event.kind.type_name())
        .collect();
    assert_eq!(
        kinds,
        ["EventRaised", "ExecutionResumed"],
        "queued events come with the resume, in order"
    );
}

/// A commit creates sub-orchestrations with their parent; an id in use is refused and
/// the parent is told.
pub async fn commits_create_sub_orchestrations(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("parent", 1))
        .await
        .expect("create");
    store
        .create_instance(new_instance("busy", 2))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    let parent = items
        .iter()
        .find(|i| i.instance_id == id("parent"))
        .expect("parent fetched");
    let busy = items
        .iter()
        .find(|i| i.instance_id == id("busy"))
        .expect("busy fetched");
    commit_one(&*store, turn_commit(busy, RuntimeStatus::Running, vec![]))
        .await
        .expect("commit");
    let child = |name: &str, seq: i64| {
        let mut child = new_instance(name, 10);
        child.parent_instance_id = Some(id("parent"));
        if let EventKind::ExecutionStarted { parent: link, .. } = &mut child.started.kind {
            *link = Some(ParentInstance {
                instance_id: id("parent"),
                execution_id: parent.execution_id.clone(),
                scheduled_id: seq,
            });
        }
        child
    };
    let mut commit = turn_commit(parent, RuntimeStatus::Running, vec![]);
    commit.new_instances = vec![child("child", 0), child("busy", 1)];
    commit_one(&*store, commit).await.expect("commit");
    let status = store
        .get_status(&id("child"))
        .await
        .expect("status")
        .expect("child created");
    assert_eq!(status.parent_instance_id, Some(id("parent")));
    assert_eq!(status.runtime_status, RuntimeStatus::Pending);
    let children = store
        .list_instances(&InstanceQuery {
            parent_instance_id: Some(id("parent")),
            ..InstanceQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(
        children.instances.len(),
        1,
        "only the created child is listed"
    );
    assert_eq!(
        store
            .get_status(&id("busy"))
            .await
            .expect("status")
            .expect("busy")
            .input
            .expect("input")
            .as_json(),
        "2",
        "a running instance is not replaced"
    );
    let items = fetch_orchestrations(&*store).await;
    let to_parent = items
        .iter()
        .find(|i| i.instance_id == id("parent"))
        .expect("the parent is told");
    let EventKind::SubOrchestrationFailed {
        scheduled_id,
        failure,
    } = &to_parent.messages[0].event.kind
    else {
        panic!(
            "expected SubOrchestrationFailed, got {:?}",
            to_parent.messages[0].event.kind
        );
    };
    assert_eq!(*scheduled_id, 1);
    assert!(failure.message.contains("busy"), "{failure}");
}

/// Continue-as-new replaces the history and starts the new execution with its carryover.
pub async fn continue_as_new_starts_a_fresh_history(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    let mut commit = turn_commit(&items[0], RuntimeStatus::ContinuedAsNew, vec![]);
    let next = ExecutionId::generate();
    let input = Payload::encode(&2).expect("encode");
    commit.continue_as_new = Some(NewExecution {
        execution_id: next.clone(),
        input: input.clone(),
        started: HistoryEvent::new(
            clock::now(),
            EventKind::ExecutionStarted {
                name: "conformance".into(),
                version: None,
                execution_id: next.clone(),
                input,
                parent: None,
                scheduled_start: None,
                trace_context: None,
            },
        ),
        carryover: vec![raised("kept", 7)],
    });
    commit_one(&*store, commit).await.expect("commit");
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::ContinuedAsNew);
    assert_eq!(status.execution_id, next);
    assert_eq!(status.input.expect("input").as_json(), "2");
    assert!(
        store
            .read_history(&id("a"))
            .await
            .expect("history")
            .expect("exists")
            .is_empty(),
        "fresh history"
    );
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items[0].history_len, 0);
    assert_eq!(items[0].execution_id, next);
    let kinds: Vec<_> = items[0]
        .messages
        .iter()
        .map(|m| m.event.kind.type_name())
        .collect();
    assert_eq!(kinds, ["ExecutionStarted", "EventRaised"]);
}

/// Only finished instances are purged, one at a time or by filter.
pub async fn purge_rules(store: Arc<dyn Store>) {
    let missing = store.purge_instance(&id("nobody")).await;
    assert!(
        matches!(missing, Err(StoreError::InstanceNotFound(_))),
        "{missing:?}"
    );
    for name in ["done-1", "done-2", "running"] {
        store
            .create_instance(new_instance(name, 1))
            .await
            .expect("create");
    }
    let items = fetch_orchestrations(&*store).await;
    for item in &items {
        let status = if item.instance_id == id("running") {
            RuntimeStatus::Running
        } else {
            RuntimeStatus::Completed
        };
        commit_one(&*store, turn_commit(item, status, vec![activity(0)]))
            .await
            .expect("commit");
    }
    let running = store.purge_instance(&id("running")).await;
    assert!(
        matches!(
            running,
            Err(StoreError::InstanceState {
                status: RuntimeStatus::Running,
                ..
            })
        ),
        "{running:?}"
    );
    store
        .purge_instance(&id("done-1"))
        .await
        .expect("purge one");
    assert!(
        store
            .get_status(&id("done-1"))
            .await
            .expect("status")
            .is_none()
    );
    assert!(
        store
            .read_history(&id("done-1"))
            .await
            .expect("history")
            .is_none()
    );
    let none = store
        .purge_instances(&PurgeQuery {
            statuses: vec![RuntimeStatus::Failed],
            ..PurgeQuery::default()
        })
        .await
        .expect("purge");
    assert_eq!(none, 0);
    let purged = store
        .purge_instances(&PurgeQuery::default())
        .await
        .expect("purge");
    assert_eq!(purged, 1, "only the finished instance left is purged");
    assert!(
        store
            .get_status(&id("running"))
            .await
            .expect("status")
            .is_some()
    );
    let activities = fetch_activities(&*store).await;
    assert!(
        activities.iter().all(|a| a.instance_id == id("running")),
        "purged instances' work is gone too"
    );
}

/// In a batch of several turns, each turn gets back exactly its own leased activities,
/// and its history has exactly its own scheduling events.
pub async fn batched_turns_get_their_own_activities(store: Arc<dyn Store>) {
    for (name, input) in [("a", 1), ("b", 2), ("c", 3)] {
        store
            .create_instance(new_instance(name, input))
            .await
            .expect("create");
    }
    let mut items = fetch_orchestrations(&*store).await;
    items.sort_by(|x, y| x.instance_id.as_str().cmp(y.instance_id.as_str()));
    assert_eq!(items.len(), 3);
    let commits: Vec<OrchestrationCommit> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let count = i64::try_from(index).expect("small") + 1;
            let mut commit = turn_commit(
                item,
                RuntimeStatus::Running,
                (0..count)
                    .map(|seq| NewActivity {
                        scheduled_id: seq,
                        name: format!("work-{}", item.instance_id),
                        input: Payload::encode(&(count * 100 + seq)).expect("encode"),
                        trace_context: None,
                    })
                    .collect(),
            );
            commit.lease_activities = Some(LEASE);
            commit
        })
        .collect();
    let results = store.commit_orchestrations(commits).await.expect("batch");
    for (index, (item, result)) in items.iter().zip(results).enumerate() {
        let count = i64::try_from(index).expect("small") + 1;
        let leased = result.expect("every turn commits");
        let mut got: Vec<(i64, String, String)> = leased
            .iter()
            .map(|a| {
                assert_eq!(a.instance_id, item.instance_id, "activity of another turn");
                assert_eq!(a.execution_id, item.execution_id);
                (a.scheduled_id, a.name.clone(), a.input.as_json().to_owned())
            })
            .collect();
        got.sort();
        let want: Vec<(i64, String, String)> = (0..count)
            .map(|seq| {
                (
                    seq,
                    format!("work-{}", item.instance_id),
                    (count * 100 + seq).to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "instance {}", item.instance_id);
        let history = store
            .read_history(&item.instance_id)
            .await
            .expect("history")
            .expect("exists");
        let scheduled = history
            .iter()
            .filter(|e| e.kind.type_name() == "ActivityScheduled")
            .count();
        assert_eq!(scheduled, usize::try_from(count).expect("small"));
    }
}

/// A commit can create its activities already leased to the committing worker and hand
/// them back; they are not fetched by others while leased, complete as usual, and come
/// back when the lease expires.
pub async fn commits_can_lease_their_activities(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    // The second carries a trace context, kept with the work item wherever it is fetched.
    let trace = crate::TraceContext::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        Some("k=v"),
    )
    .expect("valid");
    let mut traced = activity(1);
    traced.trace_context = Some(trace.clone());
    let mut commit = turn_commit(&items[0], RuntimeStatus::Running, vec![activity(0), traced]);
    commit.lease_activities = Some(Duration::from_millis(200));
    let leased = commit_one(&*store, commit).await.expect("commit");
    assert_eq!(leased.len(), 2, "both activities come back leased");
    assert!(leased.iter().all(|a| a.attempt == 1 && a.name == "work"));
    assert_eq!(
        (&leased[0].trace_context, leased[1].trace_context.as_ref()),
        (&None, Some(&trace)),
        "each leased activity carries its own trace context"
    );
    assert!(
        fetch_activities(&*store).await.is_empty(),
        "leased activities are not fetched"
    );
    store
        .complete_activities(
            vec![ActivityCompletion {
                id: leased[0].id,
                lock_token: leased[0].lock_token.clone(),
                instance_id: id("a"),
                execution_id: leased[0].execution_id.clone(),
                event: HistoryEvent::new(
                    clock::now(),
                    EventKind::ActivityCompleted {
                        scheduled_id: leased[0].scheduled_id,
                        result: Payload::null(),
                    },
                ),
            }],
            None,
        )
        .await
        .expect("complete");
    assert_eq!(
        fetch_orchestrations(&*store).await.len(),
        1,
        "the completion reached the instance"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = fetch_activities(&*store).await;
    assert_eq!(
        again.len(),
        1,
        "the unfinished one comes back after its lease"
    );
    assert_eq!((again[0].id, again[0].attempt), (leased[1].id, 2));
    assert_eq!(
        again[0].trace_context.as_ref(),
        Some(&trace),
        "a fetched activity carries the trace context stored with it"
    );
}

/// Starts instance `name`, commits a first turn that schedules activity 0 leased to the
/// caller, and returns that activity and the history length after the turn.
async fn started_with_leased_activity(
    store: &dyn Store,
    name: &str,
) -> (super::ActivityWorkItem, usize) {
    store
        .create_instance(new_instance(name, 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(store).await;
    let mut commit = turn_commit(&items[0], RuntimeStatus::Running, vec![activity(0)]);
    commit.lease_activities = Some(LEASE);
    let history_len = commit.events.len();
    let mut leased = commit_one(store, commit).await.expect("first turn");
    assert_eq!(leased.len(), 1, "the turn leased its activity");
    (leased.remove(0), history_len)
}

/// The next turn of `activity`'s instance with its result applied directly: no lease on
/// the instance, the activity's lease presented instead.
fn unleased_turn(activity: &super::ActivityWorkItem, history_len: usize) -> OrchestrationCommit {
    let now = clock::now();
    OrchestrationCommit {
        instance_id: activity.instance_id.clone(),
        execution_id: activity.execution_id.clone(),
        lock_token: None,
        history_len,
        events: vec![
            HistoryEvent::new(now, EventKind::OrchestratorStarted),
            completed(activity).event,
        ],
        consumed: Vec::new(),
        applied_activities: vec![(activity.id, activity.lock_token.clone())],
        activities: vec![super::NewActivity {
            scheduled_id: 1,
            name: "work".into(),
            input: Payload::encode(&1).expect("encode"),
            trace_context: None,
        }],
        status: RuntimeStatus::Running,
        output: None,
        failure: None,
        custom_status: None,
        updated_at: now,
        messages: Vec::new(),
        new_instances: Vec::new(),
        continue_as_new: None,
        lease_activities: Some(LEASE),
    }
}

/// A turn without a lease that applies activity results of the caller commits result and
/// turn together: the activity is gone, no message is queued, the history has the result.
pub async fn unleased_turns_apply_activity_results(store: Arc<dyn Store>) {
    let (leased, history_len) = started_with_leased_activity(&*store, "a").await;
    let next = commit_one(&*store, unleased_turn(&leased, history_len))
        .await
        .expect("an unleased turn on an idle instance commits");
    assert_eq!(next.len(), 1, "its new activity comes back leased");
    let history = store
        .read_history(&id("a"))
        .await
        .expect("history")
        .expect("exists");
    assert_eq!(history.len(), history_len + 2);
    assert_eq!(
        history[history_len + 1].kind.type_name(),
        "ActivityCompleted"
    );
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "the result went into history, not into the queue"
    );
    store
        .abandon_activities(vec![(leased.id, leased.lock_token.clone())])
        .await
        .expect("abandon");
    assert!(
        fetch_activities(&*store).await.is_empty(),
        "the applied activity was deleted"
    );
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Running);
}

/// A turn without a lease is refused, writing nothing, when another lease holds the
/// instance, when its history moved, or when one of its activity leases was lost; the
/// caller can then still complete the activity the ordinary way.
pub async fn unleased_turns_are_refused_when_anything_moved(store: Arc<dyn Store>) {
    let refused = |result: &Result<Vec<super::ActivityWorkItem>, StoreError>| {
        matches!(result, Err(StoreError::LeaseLost(_)))
    };
    // Another lease holds the instance.
    let (leased, history_len) = started_with_leased_activity(&*store, "held").await;
    store
        .enqueue_message(to("held", raised("go", 0)), &[RuntimeStatus::Running])
        .await
        .expect("raise");
    let holder = fetch_orchestrations(&*store).await;
    assert_eq!(holder.len(), 1, "the event leases the instance");
    let result = commit_one(&*store, unleased_turn(&leased, history_len)).await;
    assert!(refused(&result), "a leased instance refuses: {result:?}");
    // The activity lease survived the refusal: the ordinary completion still works.
    store
        .complete_activities(vec![completed(&leased)], None)
        .await
        .expect("complete");
    commit_one(
        &*store,
        turn_commit(&holder[0], RuntimeStatus::Running, vec![]),
    )
    .await
    .expect("the lease holder commits");
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].messages[0].event.kind.type_name(),
        "ActivityCompleted",
        "the refused result arrived as a message"
    );

    // The history moved.
    let (leased, history_len) = started_with_leased_activity(&*store, "moved").await;
    let result = commit_one(&*store, unleased_turn(&leased, history_len - 1)).await;
    assert!(
        refused(&result),
        "a stale history length refuses: {result:?}"
    );

    // The activity lease was lost.
    let mut lost = leased.clone();
    lost.lock_token = "not-the-token".into();
    let result = commit_one(&*store, unleased_turn(&lost, history_len)).await;
    assert!(
        refused(&result),
        "a lost activity lease refuses: {result:?}"
    );
    assert_eq!(
        store
            .read_history(&id("moved"))
            .await
            .expect("history")
            .expect("exists")
            .len(),
        history_len,
        "refused turns write nothing"
    );
    commit_one(&*store, unleased_turn(&leased, history_len))
        .await
        .expect("with everything current the turn commits");
}

/// A completion can lease the instance it woke and return its work item, unless the
/// instance is leased already or suspended.
pub async fn completions_can_lease_the_instance(store: Arc<dyn Store>) {
    for name in ["a", "b"] {
        store
            .create_instance(new_instance(name, 1))
            .await
            .expect("create");
    }
    let mut leased = Vec::new();
    for item in fetch_orchestrations(&*store).await {
        let status = if item.instance_id == id("b") {
            RuntimeStatus::Suspended
        } else {
            RuntimeStatus::Running
        };
        let mut commit = turn_commit(&item, status, vec![activity(0), activity(1)]);
        commit.lease_activities = Some(LEASE);
        leased.extend(commit_one(&*store, commit).await.expect("commit"));
    }
    let done = |instance: &str, seq: i64| {
        let item = leased
            .iter()
            .find(|a| a.instance_id == id(instance) && a.scheduled_id == seq)
            .expect("leased activity");
        ActivityCompletion {
            id: item.id,
            lock_token: item.lock_token.clone(),
            instance_id: item.instance_id.clone(),
            execution_id: item.execution_id.clone(),
            event: HistoryEvent::new(
                clock::now(),
                EventKind::ActivityCompleted {
                    scheduled_id: seq,
                    result: Payload::null(),
                },
            ),
        }
    };
    let ready = store
        .complete_activities(vec![done("a", 0)], Some(LEASE))
        .await
        .expect("complete");
    assert_eq!(ready.len(), 1, "the woken instance comes back leased");
    assert_eq!(ready[0].instance_id, id("a"));
    assert_eq!(ready[0].messages.len(), 1);
    assert_eq!(
        ready[0].messages[0].event.kind.type_name(),
        "ActivityCompleted"
    );
    let again = store
        .complete_activities(vec![done("a", 1)], Some(LEASE))
        .await
        .expect("complete");
    assert!(again.is_empty(), "a leased instance is not leased twice");
    assert!(
        fetch_orchestrations(&*store).await.is_empty(),
        "and not fetched either"
    );
    let suspended = store
        .complete_activities(vec![done("b", 0)], Some(LEASE))
        .await
        .expect("complete");
    assert!(suspended.is_empty(), "a suspended instance is not leased");
    commit_one(
        &*store,
        turn_commit(&ready[0], RuntimeStatus::Running, vec![]),
    )
    .await
    .expect("the lease commits");
    let next = fetch_orchestrations(&*store).await;
    assert_eq!(next.len(), 1, "the second result waits for the next turn");
    assert_eq!(next[0].messages.len(), 1);
}

/// A message to an entity creates its row; entity rows commit their state in `output`,
/// keep their messages in order, and stay out of instance listings unless asked for by
/// their `@` prefix; purges never touch them.
pub async fn entities_are_created_by_their_first_message(store: Arc<dyn Store>) {
    let entity = crate::ids::EntityId::new("counter", "a").expect("valid entity id");
    let entity_instance = entity.instance_id();
    let request = |n: i64| OutboundMessage {
        instance_id: entity_instance.clone(),
        execution_id: None,
        visible_at: clock::now(),
        event: HistoryEvent::new(
            clock::now(),
            EventKind::EntityRequest {
                operation: "add".into(),
                input: Payload::encode(&n).expect("encode"),
                caller: None,
                trace_context: None,
            },
        ),
    };
    assert!(
        store
            .get_status(&entity_instance)
            .await
            .expect("status")
            .is_none()
    );
    // From a client: `enqueue_message` accepts an entity that has no row yet.
    store
        .enqueue_message(request(1), &RuntimeStatus::ALL)
        .await
        .expect("the first message creates the entity");
    let status = store
        .get_status(&entity_instance)
        .await
        .expect("status")
        .expect("entity row");
    assert_eq!(status.runtime_status, RuntimeStatus::Pending);
    assert_eq!(status.name, "counter");
    // From a turn's commit: a message to an entity also creates its row (here a second
    // entity) and queues behind earlier ones in order.
    store
        .create_instance(new_instance("sender", 0))
        .await
        .expect("create");
    let items = store
        .fetch_orchestration_work_items(10, LEASE)
        .await
        .expect("fetch");
    let sender = items
        .iter()
        .find(|i| i.instance_id == id("sender"))
        .expect("sender item");
    for item in items.iter().filter(|i| i.instance_id != id("sender")) {
        store
            .abandon_orchestration_work_item(&item.instance_id, &item.lock_token, Duration::ZERO)
            .await
            .expect("abandon");
    }
    let other = crate::ids::EntityId::new("counter", "b").expect("valid entity id");
    let mut commit = turn_commit(sender, RuntimeStatus::Running, Vec::new());
    commit.messages = vec![
        request(2),
        OutboundMessage {
            instance_id: other.instance_id(),
            ..request(9)
        },
    ];
    for result in store
        .commit_orchestrations(vec![commit])
        .await
        .expect("commit")
    {
        result.expect("sender commit");
    }
    let entity_item = loop {
        let items = store
            .fetch_orchestration_work_items(10, LEASE)
            .await
            .expect("fetch");
        if let Some(item) = items.into_iter().find(|i| i.instance_id == entity_instance) {
            break item;
        }
    };
    let inputs: Vec<i64> = entity_item
        .messages
        .iter()
        .map(|m| match &m.event.kind {
            EventKind::EntityRequest { input, .. } => input.decode().expect("decode"),
            other => panic!("unexpected message {other:?}"),
        })
        .collect();
    assert_eq!(inputs, [1, 2], "messages from each sender stay in order");
    assert!(
        store
            .get_status(&other.instance_id())
            .await
            .expect("status")
            .is_some()
    );
    // The entity turn commits its state in `output`.
    let state = Payload::encode(&serde_json::json!({ "state": 3 })).expect("encode");
    let commit = OrchestrationCommit {
        instance_id: entity_item.instance_id.clone(),
        execution_id: entity_item.execution_id.clone(),
        lock_token: Some(entity_item.lock_token.clone()),
        history_len: entity_item.history_len,
        events: Vec::new(),
        consumed: entity_item.messages.iter().map(|m| m.id).collect(),
        applied_activities: Vec::new(),
        activities: Vec::new(),
        status: RuntimeStatus::Running,
        output: Some(state.clone()),
        failure: None,
        custom_status: None,
        updated_at: clock::now(),
        messages: Vec::new(),
        new_instances: Vec::new(),
        continue_as_new: None,
        lease_activities: None,
    };
    for result in store
        .commit_orchestrations(vec![commit])
        .await
        .expect("commit")
    {
        result.expect("entity commit");
    }
    let status = store
        .get_status(&entity_instance)
        .await
        .expect("status")
        .expect("entity row");
    assert_eq!(status.runtime_status, RuntimeStatus::Running);
    assert_eq!(
        status.output.as_ref().map(Payload::as_json),
        Some(state.as_json())
    );
    // Listings: orchestrations only by default, entities by their `@` prefix.
    let page = store
        .list_instances(&InstanceQuery::default())
        .await
        .expect("list");
    assert!(
        page.instances
            .iter()
            .all(|s| !s.instance_id.as_str().starts_with('@')),
        "entity rows are not orchestration instances"
    );
    let page = store
        .list_instances(&InstanceQuery {
            instance_id_prefix: Some("@counter@".into()),
            ..InstanceQuery::default()
        })
        .await
        .expect("list entities");
    assert_eq!(page.instances.len(), 2);
    assert_eq!(
        store
            .purge_instances(&PurgeQuery::default())
            .await
            .expect("purge"),
        0,
        "entities are never purged as finished instances"
    );
}

/// An abandon with a delay keeps the instance out of fetches until the delay has passed,
/// then it is fetched with its messages (the dispatcher's backoff for failing turns).
pub async fn abandon_with_a_delay_waits(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("slow", 1))
        .await
        .expect("create");
    store
        .create_instance(new_instance("other", 2))
        .await
        .expect("create");
    let first = fetch_orchestrations(&*store).await;
    assert_eq!(first.len(), 2);
    let slow = first
        .iter()
        .find(|item| item.instance_id == id("slow"))
        .expect("fetched");
    store
        .abandon_orchestration_work_item(
            &slow.instance_id,
            &slow.lock_token,
            Duration::from_millis(400),
        )
        .await
        .expect("abandon");
    let other = first
        .iter()
        .find(|item| item.instance_id == id("other"))
        .expect("fetched");
    store
        .abandon_orchestration_work_item(&other.instance_id, &other.lock_token, Duration::ZERO)
        .await
        .expect("abandon");
    let again = fetch_orchestrations(&*store).await;
    assert_eq!(
        again
            .iter()
            .map(|i| i.instance_id.as_str())
            .collect::<Vec<_>>(),
        ["other"],
        "an instance abandoned with a delay is not fetched before it"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let later = fetch_orchestrations(&*store).await;
    assert_eq!(later.len(), 1, "fetched once the delay passed");
    assert_eq!(later[0].instance_id, id("slow"));
    assert_eq!(later[0].messages, slow.messages);
}

/// Poison isolation: a queued message, or an activity's input, that does not decode does
/// not fail a fetch. The fetch returns the message as [`CorruptMessage`](super::CorruptMessage)
/// of its own work item (the activity with [`ActivityWorkItem::corrupt`](super::ActivityWorkItem::corrupt)
/// set), and every other instance's work as usual.
///
/// A back-end that stores text calls this from its tests with two hooks that damage rows
/// with its own SQL: `corrupt_message(instance)` makes one queued message of that instance
/// undecodable, `corrupt_activity(instance)` one queued activity's input. (The memory store
/// keeps values typed: nothing there can fail to decode.)
pub async fn corrupt_rows_affect_only_their_own_work<M, MF, A, AF>(
    store: Arc<dyn Store>,
    corrupt_message: M,
    corrupt_activity: A,
) where
    M: Fn(InstanceId) -> MF,
    MF: std::future::Future<Output = ()>,
    A: Fn(InstanceId) -> AF,
    AF: std::future::Future<Output = ()>,
{
    for name in ["bad", "good"] {
        store
            .create_instance(new_instance(name, 1))
            .await
            .expect("create");
    }
    corrupt_message(id("bad")).await;
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 2, "both instances are fetched: {items:?}");
    for item in &items {
        if item.instance_id == id("bad") {
            assert!(
                item.messages.is_empty(),
                "the corrupt message is not decoded"
            );
            assert_eq!(item.corrupt_messages.len(), 1, "{item:?}");
            assert!(!item.corrupt_messages[0].reason.is_empty());
        } else {
            assert_eq!(item.messages.len(), 1);
            assert!(item.corrupt_messages.is_empty());
        }
    }
    // Both schedule an activity; one activity's input is then damaged.
    let mut commits = Vec::new();
    for item in &items {
        let mut commit = turn_commit(
            item,
            RuntimeStatus::Running,
            vec![NewActivity {
                scheduled_id: 0,
                name: "work".into(),
                input: Payload::encode(&7).expect("encode"),
                trace_context: None,
            }],
        );
        commit
            .consumed
            .extend(item.corrupt_messages.iter().map(|m| m.id));
        commits.push(commit);
    }
    for result in store.commit_orchestrations(commits).await.expect("commit") {
        result.expect("each commit applies");
    }
    corrupt_activity(id("bad")).await;
    let activities = fetch_activities(&*store).await;
    assert_eq!(
        activities.len(),
        2,
        "both activities are fetched: {activities:?}"
    );
    for activity in &activities {
        if activity.instance_id == id("bad") {
            assert!(activity.corrupt.is_some(), "{activity:?}");
        } else {
            assert!(activity.corrupt.is_none(), "{activity:?}");
            assert_eq!(activity.input.as_json(), "7");
        }
    }
}

/// A rewind (Durable Functions' `RewindAsync`) is accepted for a Failed instance only; on
/// enqueue the instance reads `Pending` with its failure cleared; a worker fetches it with
/// its history and the request, and its commit makes it run again without the old failure.
pub async fn rewinding_a_failed_instance(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("a", 1))
        .await
        .expect("create");
    let items = fetch_orchestrations(&*store).await;
    let mut failed = turn_commit(&items[0], RuntimeStatus::Failed, vec![]);
    failed.failure = Some(FailureDetails::new("Boom", "it broke"));
    commit_one(&*store, failed)
        .await
        .expect("commit the failure");
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Failed);
    assert_eq!(
        status.failure.as_ref().map(|f| f.message.as_str()),
        Some("it broke"),
        "a Failed instance keeps its failure"
    );
    let rewind = || {
        to(
            "a",
            HistoryEvent::new(
                clock::now(),
                EventKind::ExecutionRewound {
                    reason: Some("fixed".into()),
                },
            ),
        )
    };
    let refused = store
        .enqueue_message(rewind(), &[RuntimeStatus::Running])
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::InstanceState {
                status: RuntimeStatus::Failed,
                ..
            })
        ),
        "a rewind must be refused by the status check like any message: {refused:?}"
    );
    let before = store
        .enqueue_message(rewind(), &[RuntimeStatus::Failed])
        .await
        .expect("rewind a Failed instance");
    assert_eq!(before, RuntimeStatus::Failed);
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(
        status.runtime_status,
        RuntimeStatus::Pending,
        "a rewound instance reads Pending at once"
    );
    assert!(status.failure.is_none(), "the rewind clears the failure");
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 1, "the rewind is work for a worker");
    let item = &items[0];
    assert_eq!(item.status, RuntimeStatus::Pending);
    assert!(item.history_len > 0, "fetched with its history");
    assert_eq!(
        item.messages
            .iter()
            .map(|m| m.event.kind.type_name())
            .collect::<Vec<_>>(),
        ["ExecutionRewound"]
    );
    let mut running = turn_commit(item, RuntimeStatus::Running, vec![activity(0)]);
    running.custom_status = None;
    commit_one(&*store, running)
        .await
        .expect("commit the rewound turn");
    let status = store
        .get_status(&id("a"))
        .await
        .expect("status")
        .expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Running);
    assert!(
        status.failure.is_none(),
        "a running instance has no failure"
    );
    let history = store
        .read_history(&id("a"))
        .await
        .expect("history")
        .expect("exists");
    assert!(
        history.iter().any(
            |e| matches!(&e.kind, EventKind::ExecutionRewound { reason: Some(r) } if r == "fixed")
        ),
        "the rewind is recorded in history"
    );
    assert!(
        store
            .has_activity_work(&id("a"))
            .await
            .expect("has_activity_work"),
        "a queued activity is activity work"
    );
    let leased = fetch_activities(&*store).await;
    assert_eq!(leased.len(), 1, "the failed work runs again");
    assert!(
        store
            .has_activity_work(&id("a"))
            .await
            .expect("has_activity_work"),
        "a running activity is activity work"
    );
    store
        .complete_activities(vec![completed(&leased[0])], None)
        .await
        .expect("complete");
    assert!(
        !store
            .has_activity_work(&id("a"))
            .await
            .expect("has_activity_work"),
        "a completed activity is not"
    );
}

/// The task hub's counts by status follow every write path (create, commit, enqueue to a
/// new entity, purge, id reuse), entities apart from orchestrations; the backlog counts due
/// and future messages, queued and running activities.
pub async fn task_hub_stats_follow_every_change(store: Arc<dyn Store>) {
    let stats = store.task_hub_stats().await.expect("stats");
    assert_eq!(stats.instances.total(), 0);
    assert_eq!(stats.entities.total(), 0);
    assert_eq!(
        stats.backlog,
        super::Backlog::default(),
        "an empty store has no backlog"
    );
    for name in ["a", "b", "c"] {
        store
            .create_instance(new_instance(name, 1))
            .await
            .expect("create");
    }
    let stats = store.task_hub_stats().await.expect("stats");
    assert_eq!(stats.instances.get(RuntimeStatus::Pending), 3);
    assert_eq!(stats.instances.total(), 3);
    assert_eq!(
        stats.backlog.due_messages, 3,
        "three ExecutionStarted messages"
    );
    let items = fetch_orchestrations(&*store).await;
    assert_eq!(items.len(), 3);
    let fire_at = clock::now() + ChronoDuration::hours(1);
    for item in &items {
        let status = match item.instance_id.as_str() {
            "a" => RuntimeStatus::Running,
            "b" => RuntimeStatus::Completed,
            _ => RuntimeStatus::Failed,
        };
        let activities = if status == RuntimeStatus::Running {
            vec![activity(0)]
        } else {
            vec![]
        };
        let mut commit = turn_commit(item, status, activities);
        if status == RuntimeStatus::Running {
            commit.messages.push(OutboundMessage {
                instance_id: id("a"),
                execution_id: Some(item.execution_id.clone()),
                visible_at: fire_at,
                event: HistoryEvent::new(
                    fire_at,
                    EventKind::TimerFired {
                        timer_id: 1,
                        fire_at,
                    },
                ),
            });
        }
        commit_one(&*store, commit).await.expect("commit");
    }
    let stats = store.task_hub_stats().await.expect("stats");
    let counts: Vec<_> = stats.instances.iter().collect();
    assert_eq!(
        counts,
        vec![
            (RuntimeStatus::Running, 1),
            (RuntimeStatus::Completed, 1),
            (RuntimeStatus::Failed, 1)
        ]
    );
    assert_eq!(stats.backlog.due_messages, 0);
    assert_eq!(stats.backlog.future_messages, 1, "the durable timer");
    assert_eq!(stats.backlog.queued_activities, 1);
    assert_eq!(stats.backlog.running_activities, 0);
    let next = stats
        .backlog
        .next_due_at
        .expect("the timer is the next wake-up");
    assert!(
        (next - fire_at).num_milliseconds().abs() <= 1,
        "{next} vs {fire_at}"
    );
    assert_eq!(fetch_activities(&*store).await.len(), 1);
    let stats = store.task_hub_stats().await.expect("stats");
    assert_eq!(stats.backlog.queued_activities, 0);
    assert_eq!(
        stats.backlog.running_activities, 1,
        "the leased activity runs"
    );

    let entity = crate::ids::EntityId::new("counter", "a").expect("valid entity id");
    let signal = OutboundMessage {
        instance_id: entity.instance_id(),
        execution_id: None,
        visible_at: clock::now(),
        event: HistoryEvent::new(
            clock::now(),
            EventKind::EntityRequest {
                operation: "add".into(),
                input: Payload::encode(&1).expect("encode"),
                caller: None,
                trace_context: None,
            },
        ),
    };
    store
        .enqueue_message(signal, &RuntimeStatus::ALL)
        .await
        .expect("signal creates the entity");
    let stats = store.task_hub_stats().await.expect("stats");
    assert_eq!(stats.entities.get(RuntimeStatus::Pending), 1);
    assert_eq!(stats.entities.total(), 1);
    assert_eq!(stats.instances.total(), 3, "entities are counted apart");
    assert_eq!(stats.backlog.due_messages, 1, "the signal");

    store.purge_instance(&id("b")).await.expect("purge");
    store
        .create_instance(new_instance("c", 2))
        .await
        .expect("a failed instance's id is reused");
    let stats = store.task_hub_stats().await.expect("stats");
    assert_eq!(stats.instances.get(RuntimeStatus::Completed), 0, "purged");
    assert_eq!(stats.instances.get(RuntimeStatus::Failed), 0, "replaced");
    assert_eq!(stats.instances.get(RuntimeStatus::Pending), 1);
    assert_eq!(stats.instances.get(RuntimeStatus::Running), 1);
    assert_eq!(stats.instances.total(), 2);
    let purged = store
        .purge_instances(&PurgeQuery::default())
        .await
        .expect("purge");
    assert_eq!(purged, 0, "nothing finished is left");
    assert_eq!(
        store
            .task_hub_stats()
            .await
            .expect("stats")
            .instances
            .total(),
        2
    );
}

/// Runs every check, each on a fresh store from `factory`.
pub async fn run_all<F, Fut>(factory: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    create_then_fetch(factory().await).await;
    leases_exclude_and_expire(factory().await).await;
    commit_applies_everything(factory().await).await;
    stale_history_length_is_refused(factory().await).await;
    batch_commits_are_independent(factory().await).await;
    activity_lifecycle(factory().await).await;
    renew_and_abandon_activity_leases(factory().await).await;
    messages_during_a_lease_are_kept(factory().await).await;
    instance_id_reuse_rules(factory().await).await;
    list_filters_and_pages(factory().await).await;
    notifications(factory().await).await;
    delayed_messages_wait_until_due(factory().await).await;
    enqueue_checks_the_status(factory().await).await;
    suspended_instances_wait_for_control_messages(factory().await).await;
    commits_create_sub_orchestrations(factory().await).await;
    continue_as_new_starts_a_fresh_history(factory().await).await;
    purge_rules(factory().await).await;
    commits_can_lease_their_activities(factory().await).await;
    batched_turns_get_their_own_activities(factory().await).await;
    completions_can_lease_the_instance(factory().await).await;
    unleased_turns_apply_activity_results(factory().await).await;
    unleased_turns_are_refused_when_anything_moved(factory().await).await;
    entities_are_created_by_their_first_message(factory().await).await;
    abandon_with_a_delay_waits(factory().await).await;
    rewinding_a_failed_instance(factory().await).await;
    task_hub_stats_follow_every_change(factory().await).await;
}

/// Generates one `#[tokio::test]` per conformance check for a back-end.
///
/// `$factory` is an expression of type `async fn() -> Arc<dyn Store>`-like closure that
/// makes a fresh, empty store.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::store_conformance_tests!(@each $factory;
            create_then_fetch, leases_exclude_and_expire, commit_applies_everything,
            stale_history_length_is_refused, batch_commits_are_independent, activity_lifecycle,
            renew_and_abandon_activity_leases, messages_during_a_lease_are_kept,
            instance_id_reuse_rules, list_filters_and_pages, notifications,
            delayed_messages_wait_until_due, enqueue_checks_the_status,
            suspended_instances_wait_for_control_messages, commits_create_sub_orchestrations,
            continue_as_new_starts_a_fresh_history, purge_rules,
            commits_can_lease_their_activities,
            batched_turns_get_their_own_activities,
            completions_can_lease_the_instance,
            unleased_turns_apply_activity_results,
            unleased_turns_are_refused_when_anything_moved,
            entities_are_created_by_their_first_message,
            abandon_with_a_delay_waits,
            rewinding_a_failed_instance,
            task_hub_stats_follow_every_change);
    };
    (@each $factory:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store = ($factory)().await;
                $crate::store::conformance::$check(store).await;
            }
        )*
    };
}
