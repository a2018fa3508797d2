//! Conformance checks of activity work items: their leases, renewals, completions.

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::history::{EventKind, HistoryEvent};
use crate::payload::Payload;
use crate::status::RuntimeStatus;
use crate::store::{ActivityCompletion, Store};

use super::{
    LEASE, activity, commit_one, fetch_activities, fetch_orchestrations, id, new_instance,
    turn_commit,
};
use crate::store::LockToken;

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
    let done = |item: &crate::store::ActivityWorkItem, token: &LockToken| ActivityCompletion {
        id: item.id,
        lock_token: token.clone(),
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
        .complete_activities(vec![done(&leased[0], &LockToken::new("wrong-token"))], None)
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
        .renew_activity_leases(vec![leased[0].lease()], LEASE)
        .await
        .expect("renew");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        fetch_activities(&*store).await.is_empty(),
        "renewed lease expired"
    );
    store
        .abandon_activities(vec![leased[0].lease()])
        .await
        .expect("abandon");
    assert_eq!(
        fetch_activities(&*store).await.len(),
        1,
        "abandoned item not visible"
    );
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
