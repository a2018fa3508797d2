//! The store conformance suite: the behaviour every [`Store`] back-end must have.
//!
//! Each check is a public `async fn` taking a fresh, empty store; [`run_all`] runs them
//! all in turn. A back-end's tests call [`store_conformance_tests!`](crate::store_conformance_tests)
//! to get one `#[tokio::test]` per check. Checks panic (with a message naming the rule)
//! when a store breaks the contract; they are test code.

mod activities;
mod lifecycle;
mod messages;
mod queries;
mod work_items;

use std::sync::Arc;
use std::time::Duration;

use super::{
    ActivityCompletion, CommitAuthority, CustomStatus, LockToken, NewActivity, NewInstance,
    OrchestrationCommit, Store,
};
use crate::clock;
use crate::error::StoreError;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::RuntimeStatus;
pub use activities::{
    activity_lifecycle, completions_can_lease_the_instance, renew_and_abandon_activity_leases,
};
pub use lifecycle::{
    commits_create_sub_orchestrations, continue_as_new_starts_a_fresh_history,
    corrupt_rows_affect_only_their_own_work, entities_are_created_by_their_first_message,
    rewinding_a_failed_instance,
};
pub use messages::{
    a_start_that_loses_its_id_fails_alone, concurrent_client_writes_get_their_own_answers,
    delayed_messages_wait_until_due, enqueue_checks_the_status, messages_during_a_lease_are_kept,
    notifications, suspended_instances_wait_for_control_messages,
};
use messages::{raised, to};
pub use queries::{
    concurrent_status_and_history_reads_get_their_own_answers, list_by_id_prefix,
    list_children_of_a_parent, list_filters_and_pages, purge_rules,
    task_hub_stats_follow_every_change,
};
pub use work_items::{
    abandon_with_a_delay_waits, batch_commits_are_independent,
    batched_turns_get_their_own_activities, commit_applies_everything,
    commits_can_lease_their_activities, create_then_fetch, instance_id_reuse_rules,
    leases_exclude_and_expire, stale_history_length_is_refused,
    unleased_turns_apply_activity_results, unleased_turns_are_refused_when_anything_moved,
};

const LEASE: Duration = Duration::from_secs(30);

fn id(text: &str) -> InstanceId {
    InstanceId::new(text).expect("valid test id")
}

/// The lease token of a fetched work item: a store always sets one.
fn token(item: &super::OrchestrationWorkItem) -> &LockToken {
    item.lock_token
        .as_ref()
        .expect("a fetched orchestration work item holds a lease token")
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
        authority: CommitAuthority::Leased(token(item).clone()),
        history_len: item.history_len,
        events,
        consumed: item.messages.iter().map(|m| m.id).collect(),
        activities,
        status,
        output: (status == RuntimeStatus::Completed)
            .then(|| Payload::encode("done").expect("encode")),
        failure: None,
        custom_status: CustomStatus::Set(
            Payload::encode(&serde_json::json!({"step": 1})).expect("encode"),
        ),
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
    list_by_id_prefix(factory().await).await;
    list_children_of_a_parent(factory().await).await;
    notifications(factory().await).await;
    delayed_messages_wait_until_due(factory().await).await;
    enqueue_checks_the_status(factory().await).await;
    concurrent_client_writes_get_their_own_answers(factory().await).await;
    a_start_that_loses_its_id_fails_alone(factory().await).await;
    concurrent_status_and_history_reads_get_their_own_answers(factory().await).await;
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
            instance_id_reuse_rules, list_filters_and_pages, list_by_id_prefix,
            list_children_of_a_parent, notifications,
            delayed_messages_wait_until_due, enqueue_checks_the_status,
            concurrent_client_writes_get_their_own_answers,
            concurrent_status_and_history_reads_get_their_own_answers,
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
