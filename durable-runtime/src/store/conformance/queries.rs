//! Conformance checks of what operators and clients read and remove: listings, purges, task
//! hub stats, concurrent status and history reads.

use std::sync::Arc;

use chrono::Duration as ChronoDuration;

use crate::clock;
use crate::error::StoreError;
use crate::history::{EventKind, HistoryEvent};
use crate::payload::Payload;
use crate::status::RuntimeStatus;
use crate::store::{InstanceQuery, NewInstance, OutboundMessage, PurgeQuery, Store};

use super::{
    LEASE, activity, commit_one, fetch_activities, fetch_orchestrations, id, new_instance,
    turn_commit,
};

/// Listing filters by status, creation time, id prefix and name, and pages with a token.
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
    let mut seen: Vec<String> = all_pages(
        &*store,
        &InstanceQuery {
            instance_id_prefix: Some("order-".into()),
            page_size: 3,
            ..InstanceQuery::default()
        },
    )
    .await
    .into_iter()
    .map(|s| s.instance_id.to_string())
    .collect();
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

    // By orchestration name, alone or with the other filters.
    store
        .create_instance(NewInstance {
            name: "billing".into(),
            ..new_instance("bill-1", 10)
        })
        .await
        .expect("create");
    let named = |name: &str, prefix: Option<&str>| {
        let query = InstanceQuery {
            name: Some(name.to_owned()),
            instance_id_prefix: prefix.map(str::to_owned),
            ..InstanceQuery::default()
        };
        let store = store.clone();
        async move { first_page_ids(&*store, &query).await }
    };
    assert_eq!(named("billing", None).await, ["bill-1"]);
    assert_eq!(named("conformance", None).await.len(), 8);
    assert_eq!(named("conformance", Some("order-")).await.len(), 7);
    assert!(
        named("Billing", None).await.is_empty(),
        "names match exactly"
    );
    assert!(named("billing", Some("order-")).await.is_empty());
    // With statuses: the name's rows of those statuses only.
    let named_in = |name: &str, statuses: Vec<RuntimeStatus>| {
        let query = InstanceQuery {
            name: Some(name.to_owned()),
            statuses,
            ..InstanceQuery::default()
        };
        let store = store.clone();
        async move { first_page_ids(&*store, &query).await }
    };
    assert_eq!(
        named_in("billing", vec![RuntimeStatus::Pending]).await,
        ["bill-1"]
    );
    assert!(
        named_in(
            "billing",
            vec![RuntimeStatus::Completed, RuntimeStatus::Failed]
        )
        .await
        .is_empty()
    );
    // Each status's share of the name, one status at a time, adds up to the name's rows.
    let mut by_status = 0;
    for status in RuntimeStatus::ALL {
        by_status += named_in("conformance", vec![status]).await.len();
    }
    assert_eq!(by_status, 8);
    assert_eq!(
        named_in("conformance", RuntimeStatus::ALL.to_vec())
            .await
            .len(),
        8
    );
    // Paged by name: every row of the name once, in creation order.
    let pages: Vec<_> = all_pages(
        &*store,
        &InstanceQuery {
            name: Some("conformance".into()),
            page_size: 3,
            ..InstanceQuery::default()
        },
    )
    .await
    .into_iter()
    .map(|s| (s.created_time, s.instance_id))
    .collect();
    assert_eq!(pages.len(), 8, "{pages:?}");
    assert!(pages.windows(2).all(|w| w[0] < w[1]), "{pages:?}");
}

/// Listings by id prefix: the prefix's ids only, in instance-id order (byte order, as
/// Durable Functions' Azure Storage provider lists a prefix from its table keyed by id),
/// paged so that every match comes once; statuses, name and created time filter them; a
/// prefix whose successor needs care (a last char of `z`, `U+D7FF` or `char::MAX`) holds
/// exactly its ids; an empty prefix lists what no prefix does.
pub async fn list_by_id_prefix(store: Arc<dyn Store>) {
    // Created out of id order, with neighbours just outside each prefix's range.
    let ids = [
        "pfx-c",
        "pfx-a",
        "pfx-\u{e9}",
        "pfx.",
        "pfx-b",
        "pfw-x",
        "pfx-z",
        "pfx-",
        "pfxz",
        "pfx{",
        "pfx\u{10FFFF}a",
        "pfy",
        "pfx\u{10FFFF}",
        "pfx\u{D7FF}1",
        "pfx\u{E000}2",
    ];
    for (index, instance) in ids.iter().enumerate() {
        store
            .create_instance(new_instance(instance, index as i64))
            .await
            .expect("create");
    }
    store
        .create_instance(NewInstance {
            name: "billing".into(),
            ..new_instance("pfx-n", 99)
        })
        .await
        .expect("create");
    // An entity row: listed only by an `@` prefix.
    store
        .enqueue_message(
            OutboundMessage {
                instance_id: crate::ids::EntityId::new("counter", "k")
                    .expect("entity id")
                    .instance_id(),
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
            },
            &RuntimeStatus::ALL,
        )
        .await
        .expect("enqueue");
    // `pfx-b` and `pfx-z` complete.
    complete(&*store, &["pfx-b", "pfx-z"]).await;
    // Every page of a listing, as ids.
    let all_pages = |query: InstanceQuery| {
        let store = store.clone();
        async move { all_page_ids(&*store, &query).await }
    };
    let by_prefix = |prefix: &str, page_size: usize| InstanceQuery {
        instance_id_prefix: Some(prefix.to_owned()),
        page_size,
        ..InstanceQuery::default()
    };
    // The expected listing: the created ids with the prefix, sorted as Rust sorts `str`.
    let expected = |prefix: &str, except: &[&str]| {
        let mut matching: Vec<String> = ids
            .iter()
            .chain(&["pfx-n"])
            .filter(|id| id.starts_with(prefix) && !except.contains(id))
            .map(|id| (*id).to_owned())
            .collect();
        matching.sort();
        matching
    };
    let dashed = all_pages(by_prefix("pfx-", 2)).await;
    assert_eq!(
        dashed,
        [
            "pfx-",
            "pfx-a",
            "pfx-b",
            "pfx-c",
            "pfx-n",
            "pfx-z",
            "pfx-\u{e9}"
        ],
        "instance-id order, every match once, not `pfx.`"
    );
    for page_size in [1, 3, 100] {
        assert_eq!(all_pages(by_prefix("pfx-", page_size)).await, dashed);
    }
    assert_eq!(all_pages(by_prefix("pfx", 4)).await, expected("pfx", &[]));
    assert_eq!(
        all_pages(by_prefix("pfx\u{10FFFF}", 1)).await,
        ["pfx\u{10FFFF}", "pfx\u{10FFFF}a"],
        "a prefix ending in char::MAX ends before `pfy`"
    );
    assert_eq!(
        all_pages(by_prefix("pfx\u{D7FF}", 1)).await,
        ["pfx\u{D7FF}1"],
        "the char after U+D7FF is U+E000"
    );
    assert_eq!(
        all_pages(by_prefix("pfxz", 1)).await,
        ["pfxz"],
        "not `pfx{{`"
    );
    assert_eq!(all_pages(by_prefix("pfx-é", 1)).await, ["pfx-\u{e9}"]);
    assert!(all_pages(by_prefix("pfx-zz", 1)).await.is_empty());
    assert!(
        all_pages(by_prefix("PFX", 1)).await.is_empty(),
        "case-sensitive"
    );
    // Statuses filter the range: one query, still in id order.
    let with_statuses = |statuses: Vec<RuntimeStatus>, page_size: usize| InstanceQuery {
        statuses,
        ..by_prefix("pfx-", page_size)
    };
    assert_eq!(
        all_pages(with_statuses(vec![RuntimeStatus::Completed], 1)).await,
        ["pfx-b", "pfx-z"]
    );
    assert_eq!(
        all_pages(with_statuses(
            vec![RuntimeStatus::Failed, RuntimeStatus::Completed],
            100
        ))
        .await,
        ["pfx-b", "pfx-z"]
    );
    let mut others = Vec::new();
    for status in RuntimeStatus::ALL {
        if status != RuntimeStatus::Completed {
            others.extend(all_pages(with_statuses(vec![status], 2)).await);
        }
    }
    others.sort();
    assert_eq!(others, expected("pfx-", &["pfx-b", "pfx-z"]));
    assert_eq!(
        all_pages(with_statuses(RuntimeStatus::ALL.to_vec(), 2)).await,
        dashed
    );
    // Name and created time filter it too.
    let named = |name: &str| InstanceQuery {
        name: Some(name.to_owned()),
        ..by_prefix("pfx-", 2)
    };
    assert_eq!(all_pages(named("billing")).await, ["pfx-n"]);
    assert_eq!(
        all_pages(named("conformance")).await,
        expected("pfx-", &["pfx-n"])
    );
    assert_eq!(
        all_pages(InstanceQuery {
            statuses: vec![RuntimeStatus::Completed],
            ..named("billing")
        })
        .await,
        Vec::<String>::new()
    );
    assert!(
        all_pages(InstanceQuery {
            created_from: Some(clock::now() + ChronoDuration::seconds(60)),
            ..by_prefix("pfx-", 2)
        })
        .await
        .is_empty()
    );
    assert_eq!(
        all_pages(InstanceQuery {
            created_from: Some(clock::now() - ChronoDuration::seconds(60)),
            created_to: Some(clock::now() + ChronoDuration::seconds(60)),
            ..by_prefix("pfx-", 2)
        })
        .await,
        dashed
    );
    // An empty prefix is no filter: creation order, no entity rows.
    let unfiltered = all_pages(InstanceQuery {
        page_size: 4,
        ..InstanceQuery::default()
    })
    .await;
    assert_eq!(unfiltered.len(), ids.len() + 1);
    assert!(unfiltered.iter().all(|id| !id.starts_with('@')));
    assert_eq!(all_pages(by_prefix("", 4)).await, unfiltered);
    // The entity row by its prefix.
    assert_eq!(all_pages(by_prefix("@counter@", 1)).await, ["@counter@k"]);
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

/// The task hub's counts by status follow every write path (create, commit, enqueue to a
/// new entity, purge, id reuse), entities apart from orchestrations; the backlog counts due
/// and future messages, queued and running activities.
pub async fn task_hub_stats_follow_every_change(store: Arc<dyn Store>) {
    let stats = store.task_hub_stats().await.expect("stats");
    assert_eq!(stats.instances.total(), 0);
    assert_eq!(stats.entities.total(), 0);
    assert_eq!(
        stats.backlog,
        crate::store::Backlog::default(),
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

/// A listing of one parent's sub-orchestrations (a recursive terminate's) returns exactly
/// that parent's children, in creation order (not id order), filtered by status, name and
/// creation time, across pages, whatever other rows share those statuses and that name;
/// by id prefix too, in id order.
pub async fn list_children_of_a_parent(store: Arc<dyn Store>) {
    // In the past, so every start is visible to the fetch below.
    let base = clock::now() - ChronoDuration::seconds(1);
    let at = |ms: i64| base + ChronoDuration::milliseconds(ms);
    let row = |instance: &str, parent: Option<&str>, name: &str, ms: i64| NewInstance {
        name: name.into(),
        parent_instance_id: parent.map(id),
        created_at: at(ms),
        ..new_instance(instance, 0)
    };
    for new in [
        row("top-a", None, "conformance", 0),
        row("c9", Some("p1"), "conformance", 1),
        row("c1", Some("p1"), "conformance", 2),
        row("c2", Some("p2"), "conformance", 3),
        row("c5", Some("p1"), "billing", 4),
        row("top-b", None, "conformance", 5),
        row("c3", Some("p1"), "conformance", 6),
        row("c7", Some("p1"), "billing", 7),
        row("top-c", None, "billing", 8),
    ] {
        store.create_instance(new).await.expect("create");
    }
    // `c1`, `c3` and `top-b` complete; the rest stay pending.
    complete(&*store, &["c1", "c3", "top-b"]).await;
    let ids = |query: InstanceQuery| {
        let store = store.clone();
        async move { all_page_ids(&*store, &query).await }
    };
    let children = |parent: &str| InstanceQuery {
        parent_instance_id: Some(id(parent)),
        page_size: 2,
        ..InstanceQuery::default()
    };
    assert_eq!(
        ids(children("p1")).await,
        ["c9", "c1", "c5", "c3", "c7"],
        "in creation order"
    );
    let unfinished = RuntimeStatus::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .collect::<Vec<_>>();
    assert_eq!(
        ids(InstanceQuery {
            statuses: unfinished.clone(),
            ..children("p1")
        })
        .await,
        ["c9", "c5", "c7"],
        "a recursive terminate's listing: the unfinished children only"
    );
    assert_eq!(
        ids(InstanceQuery {
            statuses: vec![RuntimeStatus::Completed],
            ..children("p1")
        })
        .await,
        ["c1", "c3"]
    );
    assert_eq!(
        ids(InstanceQuery {
            name: Some("billing".into()),
            statuses: unfinished,
            ..children("p1")
        })
        .await,
        ["c5", "c7"]
    );
    assert_eq!(
        ids(InstanceQuery {
            created_from: Some(at(2)),
            created_to: Some(at(7)),
            ..children("p1")
        })
        .await,
        ["c1", "c5", "c3"],
        "created in [from, to)"
    );
    assert_eq!(
        ids(InstanceQuery {
            instance_id_prefix: Some("c".into()),
            ..children("p1")
        })
        .await,
        ["c1", "c3", "c5", "c7", "c9"],
        "by id prefix: in id order, another parent's child left out"
    );
    assert_eq!(ids(children("p2")).await, ["c2"]);
    assert!(ids(children("top-a")).await.is_empty(), "no children");

    // A terminal child's id reused: `c1` under another parent, `c3` at the top level.
    // Neither is `p1`'s child any more; `c1` is `p2`'s, in its new creation order.
    store
        .create_instance(row("c1", Some("p2"), "conformance", 9))
        .await
        .expect("reuse a completed child's id under another parent");
    store
        .create_instance(row("c3", None, "conformance", 10))
        .await
        .expect("reuse a completed child's id at the top level");
    assert_eq!(ids(children("p1")).await, ["c9", "c5", "c7"]);
    assert_eq!(ids(children("p2")).await, ["c2", "c1"]);
    assert_eq!(
        ids(InstanceQuery {
            statuses: vec![RuntimeStatus::Completed],
            ..children("p1")
        })
        .await,
        Vec::<String>::new(),
        "the reused ids' old rows are gone from the parent's range"
    );
}

/// Completes the instances `ids` among the orchestration work the store has due now (the
/// rest stay as they are, their leases held).
async fn complete(store: &dyn Store, ids: &[&str]) {
    let items = store
        .fetch_orchestration_work_items(100, LEASE)
        .await
        .expect("fetch");
    for item in &items {
        if ids.contains(&item.instance_id.as_str()) {
            commit_one(store, turn_commit(item, RuntimeStatus::Completed, vec![]))
                .await
                .expect("commit");
        }
    }
}

/// The ids of every page of a listing by `query` (see [`all_pages`]).
async fn all_page_ids(store: &dyn Store, query: &InstanceQuery) -> Vec<String> {
    all_pages(store, query)
        .await
        .into_iter()
        .map(|s| s.instance_id.to_string())
        .collect()
}

/// The ids of the first page of a listing by `query`.
async fn first_page_ids(store: &dyn Store, query: &InstanceQuery) -> Vec<String> {
    let page = store.list_instances(query).await.expect("list");
    page.instances
        .into_iter()
        .map(|s| s.instance_id.to_string())
        .collect()
}

/// Every page of a listing by `query`, following its continuation tokens; each page at most
/// `page_size` long.
async fn all_pages(store: &dyn Store, query: &InstanceQuery) -> Vec<crate::OrchestrationStatus> {
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .list_instances(&InstanceQuery {
                continuation_token: token,
                ..query.clone()
            })
            .await
            .expect("list");
        assert!(page.instances.len() <= query.page_size.max(1));
        seen.extend(page.instances);
        token = page.continuation_token;
        if token.is_none() {
            return seen;
        }
    }
}

/// Many status and history reads at once (a burst of clients waiting for completion, of
/// status polls, or a worker's batch of turns loading their histories) each get their own
/// instance's answer, whatever a back-end groups: distinct ids, the same id many times,
/// ids that do not exist (`None`), histories of different lengths (each in order, each its
/// own instance's), an instance created with no history yet (empty, not missing), and more
/// reads at once than one statement of a grouping back-end takes.
pub async fn concurrent_status_and_history_reads_get_their_own_answers(store: Arc<dyn Store>) {
    // Twenty instances with histories of 2 to 6 events: a turn that schedules
    // `index % 5` activities.
    for index in 0..20 {
        store
            .create_instance(new_instance(&format!("hist-{index}"), index))
            .await
            .expect("create");
    }
    let mut committed = 0;
    while committed < 20 {
        let items = fetch_orchestrations(&*store).await;
        assert!(!items.is_empty(), "every created instance is fetched");
        for item in &items {
            let index: i64 = item.instance_id.as_str()["hist-".len()..]
                .parse()
                .expect("an index");
            let activities = (0..index % 5).map(activity).collect();
            commit_one(
                &*store,
                turn_commit(item, RuntimeStatus::Running, activities),
            )
            .await
            .expect("commit");
            committed += 1;
        }
    }
    for index in 0..200 {
        store
            .create_instance(new_instance(&format!("read-{index}"), index))
            .await
            .expect("create");
    }
    let names = (0..20)
        .flat_map(|index| [format!("hist-{index}"), format!("hist-{index}")])
        .chain((0..200).flat_map(|index| [format!("read-{index}"), format!("read-{index}")]))
        .chain((0..200).map(|index| format!("read-{index}")))
        .chain((0..40).map(|index| format!("nobody-{index}")))
        .collect::<Vec<_>>();
    let statuses = names.iter().map(|name| {
        let store = store.clone();
        async move {
            let status = store.get_status(&id(name)).await.expect("status read");
            (name, status)
        }
    });
    let histories = names.iter().map(|name| {
        let store = store.clone();
        async move {
            let history = store.read_history(&id(name)).await.expect("history read");
            (name, history)
        }
    });
    let (statuses, histories) = futures::future::join(
        futures::future::join_all(statuses),
        futures::future::join_all(histories),
    )
    .await;
    let index_of = |name: &str| -> i64 {
        name.rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("an index")
    };
    for (name, status) in statuses {
        if name.starts_with("nobody-") {
            assert!(status.is_none(), "{name} does not exist");
            continue;
        }
        let status = status.unwrap_or_else(|| panic!("{name} exists"));
        assert_eq!(status.instance_id.as_str(), name.as_str());
        let expected = if name.starts_with("hist-") {
            RuntimeStatus::Running
        } else {
            RuntimeStatus::Pending
        };
        assert_eq!(status.runtime_status, expected, "{name}");
        assert_eq!(
            status
                .input
                .expect("an input")
                .decode::<i64>()
                .expect("decode"),
            index_of(name),
            "{name} got another instance's input"
        );
    }
    for (name, history) in histories {
        if name.starts_with("nobody-") {
            assert!(history.is_none(), "{name} does not exist");
            continue;
        }
        let events = history.unwrap_or_else(|| panic!("{name} exists"));
        if name.starts_with("read-") {
            assert!(events.is_empty(), "{name} was created with no history yet");
            continue;
        }
        let index = index_of(name);
        assert_eq!(
            events.len() as i64,
            2 + index % 5,
            "{name}'s history length"
        );
        assert!(
            matches!(events[0].kind, EventKind::OrchestratorStarted),
            "{name}: the turn's first event comes first"
        );
        match &events[1].kind {
            EventKind::ExecutionStarted { input, .. } => assert_eq!(
                input.decode::<i64>().expect("decode"),
                index,
                "{name} got another instance's history"
            ),
            other => panic!("{name}: expected ExecutionStarted second, got {other:?}"),
        }
        for (seq, event) in events[2..].iter().enumerate() {
            assert!(
                matches!(event.kind, EventKind::ActivityScheduled { .. }),
                "{name}: event {} is a scheduled activity",
                seq + 2
            );
            assert_eq!(event.event_id, seq as i64, "{name}: events in order");
        }
    }
}
