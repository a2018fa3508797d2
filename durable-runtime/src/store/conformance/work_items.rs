//! Conformance checks of work items: creating, fetching under a lease, committing turns (leased
//! and unleased), id reuse, abandoning.

use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::error::StoreError;
use crate::history::{EventKind, HistoryEvent};
use crate::payload::Payload;
use crate::status::RuntimeStatus;
use crate::store::{ActivityCompletion, CustomStatus, NewActivity, OrchestrationCommit, Store};

use super::{
    LEASE, activity, commit_one, completed, fetch_activities, fetch_orchestrations, id,
    new_instance, raised, to, token, turn_commit,
};
use crate::store::{CommitAuthority, LockToken};

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
    bad.authority = CommitAuthority::Leased(LockToken::new("not-the-token"));
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
pub(super) async fn started_with_leased_activity(
    store: &dyn Store,
    name: &str,
) -> (crate::store::ActivityWorkItem, usize) {
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
pub(super) fn unleased_turn(
    activity: &crate::store::ActivityWorkItem,
    history_len: usize,
) -> OrchestrationCommit {
    let now = clock::now();
    OrchestrationCommit {
        instance_id: activity.instance_id.clone(),
        execution_id: activity.execution_id.clone(),
        authority: CommitAuthority::Unleased {
            applied_activities: vec![activity.lease()],
        },
        history_len,
        events: vec![
            HistoryEvent::new(now, EventKind::OrchestratorStarted),
            completed(activity).event,
        ],
        consumed: Vec::new(),
        activities: vec![crate::store::NewActivity {
            scheduled_id: 1,
            name: "work".into(),
            input: Payload::encode(&1).expect("encode"),
            trace_context: None,
        }],
        status: RuntimeStatus::Running,
        output: None,
        failure: None,
        custom_status: CustomStatus::Unchanged,
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
        .abandon_activities(vec![leased.lease()])
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
    let refused = |result: &Result<Vec<crate::store::ActivityWorkItem>, StoreError>| {
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
    lost.lock_token = LockToken::new("not-the-token");
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
        .abandon_orchestration_work_item(&slow.instance_id, token(slow), Duration::from_millis(400))
        .await
        .expect("abandon");
    let other = first
        .iter()
        .find(|item| item.instance_id == id("other"))
        .expect("fetched");
    store
        .abandon_orchestration_work_item(&other.instance_id, token(other), Duration::ZERO)
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
