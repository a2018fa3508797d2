//! Conformance checks of instance messages: enqueueing, notifications, delayed messages
//! (durable timers), suspension.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;

use crate::clock;
use crate::error::StoreError;
use crate::history::{EventKind, HistoryEvent};
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{ActivityCompletion, OutboundMessage, Store};

use super::{
    LEASE, activity, commit_one, completed, fetch_activities, fetch_orchestrations, id,
    new_instance, token, turn_commit,
};
use crate::store::LockToken;

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
        .abandon_orchestration_work_item(&id("a"), &LockToken::new("not-the-token"), Duration::ZERO)
        .await
        .expect("a wrong token is a no-op");
    assert!(fetch_orchestrations(&*store).await.is_empty());
    store
        .abandon_orchestration_work_item(&id("a"), token(&third[0]), Duration::ZERO)
        .await
        .expect("abandon");
    let fourth = fetch_orchestrations(&*store).await;
    assert_eq!(fourth.len(), 1, "an abandoned work item is fetched again");
    assert_eq!(fourth[0].messages, third[0].messages);
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

/// A start that loses the race for its id to a concurrent start fails alone: the client
/// writes grouped with it (here messages to instances that do not exist) get their own
/// answers, not its `InstanceAlreadyExists`. Rounds of two starts of one new id beside
/// messages to missing instances, so that a back-end that groups writes gets a group whose
/// only new instance is the loser.
pub async fn a_start_that_loses_its_id_fails_alone(store: Arc<dyn Store>) {
    for round in 0..40 {
        let starts = (0..2).map(|i| start(&store, format!("race-{round}"), i));
        let missing = (0..16).map(|i| {
            raise(
                &store,
                format!("gone-{round}-{i}"),
                "e",
                i,
                &[RuntimeStatus::Pending],
            )
        });
        let (starts, missing) = tokio::join!(
            futures::future::join_all(starts),
            futures::future::join_all(missing)
        );
        assert_eq!(
            starts.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: one of two starts of one id wins: {starts:?}"
        );
        for result in starts.iter().filter(|r| r.is_err()) {
            assert!(
                matches!(result, Err(StoreError::InstanceAlreadyExists { .. })),
                "round {round}: {result:?}"
            );
        }
        for result in &missing {
            assert!(
                matches!(result, Err(StoreError::InstanceNotFound(_))),
                "round {round}: a message to a missing instance: {result:?}"
            );
        }
    }
}

/// A client's start of `instance` (input `input`), as a future that owns its store handle.
fn start(
    store: &Arc<dyn Store>,
    instance: String,
    input: i64,
) -> impl std::future::Future<Output = Result<(), StoreError>> + use<> {
    let store = store.clone();
    async move { store.create_instance(new_instance(&instance, input)).await }
}

/// A client's raise of event `name` (value `value`) to `instance`, accepted in `accept`.
fn raise(
    store: &Arc<dyn Store>,
    instance: String,
    name: &'static str,
    value: i64,
    accept: &'static [RuntimeStatus],
) -> impl std::future::Future<Output = Result<RuntimeStatus, StoreError>> + use<> {
    let store = store.clone();
    async move {
        store
            .enqueue_message(to(&instance, raised(name, value)), accept)
            .await
    }
}

pub(super) fn raised(name: &str, value: i64) -> HistoryEvent {
    HistoryEvent::new(
        clock::now(),
        EventKind::EventRaised {
            name: name.into(),
            input: Payload::encode(&value).expect("encode"),
        },
    )
}

pub(super) fn to(instance: &str, event: HistoryEvent) -> OutboundMessage {
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

/// Many client writes at once (as a burst of start and raise calls makes them) each get
/// the answer they would get alone, whatever a back-end groups: duplicate starts of one id
/// (one wins), messages to missing instances (refused), to instances started in the same
/// burst (accepted), to refusing statuses, and signals that create entities.
pub async fn concurrent_client_writes_get_their_own_answers(store: Arc<dyn Store>) {
    store
        .create_instance(new_instance("old", 0))
        .await
        .expect("create");
    let starts = (0..300).map(|i| start(&store, format!("new-{i}"), i));
    let duplicates = (0..20).map(|i| start(&store, "twin".into(), i));
    let again = start(&store, "old".into(), 1);
    let missing = (0..50).map(|i| {
        raise(
            &store,
            format!("nobody-{i}"),
            "e",
            i,
            &[RuntimeStatus::Pending],
        )
    });
    let accepted = (0..100).map(|i| raise(&store, "old".into(), "e", i, &[RuntimeStatus::Pending]));
    let refused =
        (0..30).map(|i| raise(&store, "old".into(), "no", i, &[RuntimeStatus::Suspended]));
    let signals = (0..40).map(|i| {
        let store = store.clone();
        async move {
            let entity = crate::ids::EntityId::new("counter", format!("c{}", i % 8))
                .expect("valid entity id");
            let request = HistoryEvent::new(
                clock::now(),
                EventKind::EntityRequest {
                    operation: "add".into(),
                    input: Payload::encode(&i).expect("encode"),
                    caller: None,
                    trace_context: None,
                },
            );
            let message = OutboundMessage {
                instance_id: entity.instance_id(),
                execution_id: None,
                visible_at: request.timestamp,
                event: request,
            };
            store.enqueue_message(message, &RuntimeStatus::ALL).await
        }
    });
    let (starts, duplicates, again, missing, accepted, refused, signals) = tokio::join!(
        futures::future::join_all(starts),
        futures::future::join_all(duplicates),
        again,
        futures::future::join_all(missing),
        futures::future::join_all(accepted),
        futures::future::join_all(refused),
        futures::future::join_all(signals),
    );
    for result in &starts {
        assert!(result.is_ok(), "a start of a new id: {result:?}");
    }
    assert_eq!(
        duplicates.iter().filter(|r| r.is_ok()).count(),
        1,
        "one of 20 starts of the same id wins: {duplicates:?}"
    );
    for result in duplicates.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(
                result,
                Err(StoreError::InstanceAlreadyExists {
                    status: RuntimeStatus::Pending,
                    ..
                })
            ),
            "{result:?}"
        );
    }
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
    for result in &missing {
        assert!(
            matches!(result, Err(StoreError::InstanceNotFound(_))),
            "{result:?}"
        );
    }
    for result in &accepted {
        assert!(matches!(result, Ok(RuntimeStatus::Pending)), "{result:?}");
    }
    for result in &refused {
        assert!(
            matches!(
                result,
                Err(StoreError::InstanceState {
                    status: RuntimeStatus::Pending,
                    ..
                })
            ),
            "{result:?}"
        );
    }
    for result in &signals {
        assert!(
            matches!(result, Ok(RuntimeStatus::Pending | RuntimeStatus::Running)),
            "{result:?}"
        );
    }

    let stats = store.task_hub_stats().await.expect("stats");
    assert_eq!(
        stats.instances.get(RuntimeStatus::Pending),
        302,
        "300 new, the twin and the old one"
    );
    assert_eq!(stats.entities.total(), 8, "one row per signalled entity");
    // Every accepted message is queued: the old instance's 100 events beside its start.
    let mut seen = std::collections::BTreeMap::new();
    loop {
        let items = fetch_orchestrations(&*store).await;
        if items.is_empty() {
            break;
        }
        for item in items {
            seen.insert(item.instance_id.to_string(), item.messages.len());
        }
    }
    assert_eq!(
        seen.get("old"),
        Some(&101),
        "the start and 100 accepted events"
    );
    assert_eq!(seen.len(), 302 + 8, "every instance and entity has work");
    let signalled: usize = (0..8).map(|i| seen[&format!("@counter@c{i}")]).sum();
    assert_eq!(signalled, 40, "every signal queued once");
}
