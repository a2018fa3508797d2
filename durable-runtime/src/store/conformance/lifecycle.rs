//! Conformance checks of an instance's life beyond one turn: sub-orchestrations, continue-as-
//! new, entities, rewind, corrupt rows.

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::error::StoreError;
use crate::history::ParentInstance;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{
    CustomStatus, InstanceQuery, NewActivity, NewExecution, OrchestrationCommit, OutboundMessage,
    PurgeQuery, Store,
};

use super::{
    LEASE, activity, commit_one, completed, fetch_activities, fetch_orchestrations, id,
    new_instance, raised, to, token, turn_commit,
};
use crate::store::CommitAuthority;

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
            .abandon_orchestration_work_item(&item.instance_id, token(item), Duration::ZERO)
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
        authority: CommitAuthority::EntityTurn(token(&entity_item).clone()),
        history_len: entity_item.history_len,
        events: Vec::new(),
        consumed: entity_item.messages.iter().map(|m| m.id).collect(),
        activities: Vec::new(),
        status: RuntimeStatus::Running,
        output: Some(state.clone()),
        failure: None,
        custom_status: CustomStatus::Unchanged,
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
    // One name's entities, a page at a time, in key order; with a status (as
    // `list_entities` asks for running ones), only those.
    let entity_page = |statuses: Vec<RuntimeStatus>, token: Option<String>| {
        let store = store.clone();
        async move {
            store
                .list_instances(&InstanceQuery {
                    instance_id_prefix: Some("@counter@".into()),
                    statuses,
                    page_size: 1,
                    continuation_token: token,
                    ..InstanceQuery::default()
                })
                .await
                .expect("list entities")
        }
    };
    let first = entity_page(Vec::new(), None).await;
    let next = entity_page(Vec::new(), first.continuation_token.clone()).await;
    let keys: Vec<&str> = first
        .instances
        .iter()
        .chain(&next.instances)
        .map(|s| s.instance_id.as_str())
        .collect();
    assert_eq!(keys, ["@counter@a", "@counter@b"]);
    assert!(next.continuation_token.is_none());
    let b_status = next.instances[0].runtime_status;
    let running = entity_page(vec![RuntimeStatus::Running], None).await;
    assert_eq!(running.instances[0].instance_id, entity_instance);
    assert_eq!(
        running.continuation_token.is_some(),
        b_status == RuntimeStatus::Running,
        "`@counter@b` is listed as running only if it is"
    );
    assert_eq!(
        store
            .purge_instances(&PurgeQuery::default())
            .await
            .expect("purge"),
        0,
        "entities are never purged as finished instances"
    );
}

/// Poison isolation: a queued message, or an activity's input, that does not decode does
/// not fail a fetch. The fetch returns the message as [`CorruptMessage`](crate::store::CorruptMessage)
/// of its own work item (the activity with [`ActivityWorkItem::corrupt`](crate::store::ActivityWorkItem::corrupt)
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
    running.custom_status = CustomStatus::Unchanged;
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
