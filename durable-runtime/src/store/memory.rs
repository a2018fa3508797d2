//! [`MemoryStore`]: a store that keeps everything in process memory.
//!
//! For tests, doctests and benchmarks. It has the same semantics as the durable stores
//! (leases, atomic commits, the same conformance suite) but nothing survives the process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    ActivityCompletion, ActivityWorkItem, InstancePage, InstanceQuery, NewInstance, Notifier,
    OrchestrationCommit, OrchestrationMessage, OrchestrationWorkItem, OutboundMessage, PurgeQuery,
    Store, decode_continuation, failed_sub_orchestration, into_page, is_control, lease_millis,
};
use crate::clock;
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{FailureDetails, OrchestrationStatus, RuntimeStatus};

#[derive(Debug)]
struct Instance {
    name: String,
    version: Option<String>,
    execution_id: ExecutionId,
    status: RuntimeStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    input: Payload,
    output: Option<Payload>,
    custom_status: Option<Payload>,
    failure: Option<FailureDetails>,
    history: Vec<HistoryEvent>,
    lock: Option<(String, i64)>,
    parent_instance_id: Option<InstanceId>,
}

#[derive(Debug)]
struct Message {
    instance_id: InstanceId,
    execution_id: Option<ExecutionId>,
    visible_at: i64,
    event: HistoryEvent,
}

#[derive(Debug)]
struct Activity {
    instance_id: InstanceId,
    execution_id: ExecutionId,
    scheduled_id: i64,
    name: String,
    input: Payload,
    dequeue_count: u32,
    lock: Option<(String, i64)>,
}

#[derive(Debug, Default)]
struct State {
    instances: HashMap<InstanceId, Instance>,
    messages: BTreeMap<i64, Message>,
    activities: BTreeMap<i64, Activity>,
    next_id: i64,
}

impl State {
    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn push_message(&mut self, message: OutboundMessage) {
        if let Some(entity) = EntityId::from_instance_id(message.instance_id.as_str())
            && !self.instances.contains_key(&message.instance_id)
        {
            let now = crate::clock::now();
            self.instances.insert(
                message.instance_id.clone(),
                Instance {
                    name: entity.name().to_owned(),
                    version: None,
                    execution_id: ExecutionId::from_trusted(String::new()),
                    status: RuntimeStatus::Pending,
                    created_at: now,
                    updated_at: now,
                    input: Payload::null(),
                    output: None,
                    custom_status: None,
                    failure: None,
                    history: Vec::new(),
                    lock: None,
                    parent_instance_id: None,
                },
            );
        }
        let id = self.next_id();
        self.messages.insert(
            id,
            Message {
                instance_id: message.instance_id,
                execution_id: message.execution_id,
                visible_at: message.visible_at.timestamp_millis(),
                event: message.event,
            },
        );
    }

    /// Creates an instance, or refuses when its id belongs to a non-terminal one.
    fn create(&mut self, new: NewInstance) -> Result<(), StoreError> {
        if let Some(existing) = self.instances.get(&new.instance_id) {
            if !existing.status.is_terminal() {
                return Err(StoreError::InstanceAlreadyExists {
                    instance_id: new.instance_id,
                    status: existing.status,
                });
            }
            self.remove(&new.instance_id.clone());
        }
        self.push_message(OutboundMessage {
            instance_id: new.instance_id.clone(),
            execution_id: Some(new.execution_id.clone()),
            visible_at: new.created_at,
            event: new.started,
        });
        self.instances.insert(
            new.instance_id,
            Instance {
                name: new.name,
                version: new.version,
                execution_id: new.execution_id,
                status: RuntimeStatus::Pending,
                created_at: new.created_at,
                updated_at: new.created_at,
                input: new.input,
                output: None,
                custom_status: None,
                failure: None,
                history: Vec::new(),
                lock: None,
                parent_instance_id: new.parent_instance_id,
            },
        );
        Ok(())
    }

    /// Leases one instance for a turn if no live lease holds it and it is not suspended.
    fn lease_instance(
        &mut self,
        instance_id: &InstanceId,
        now: i64,
        lease: Duration,
    ) -> Option<OrchestrationWorkItem> {
        let instance = self.instances.get_mut(instance_id)?;
        if instance.status == RuntimeStatus::Suspended || lease_is_live(&instance.lock, now) {
            return None;
        }
        let token = new_token();
        instance.lock = Some((token.clone(), now + lease_millis(lease)));
        let messages = self
            .messages
            .iter()
            .filter(|(_, m)| m.instance_id == *instance_id && m.visible_at <= now)
            .map(|(&id, m)| OrchestrationMessage {
                id,
                execution_id: m.execution_id.clone(),
                event: m.event.clone(),
            })
            .collect();
        Some(OrchestrationWorkItem {
            instance_id: instance_id.clone(),
            execution_id: instance.execution_id.clone(),
            name: instance.name.clone(),
            version: instance.version.clone(),
            status: instance.status,
            history_len: instance.history.len(),
            messages,
            lock_token: token,
        })
    }

    /// Deletes an instance with its messages and activities.
    fn remove(&mut self, id: &InstanceId) {
        self.instances.remove(id);
        self.messages.retain(|_, m| m.instance_id != *id);
        self.activities.retain(|_, a| a.instance_id != *id);
    }
}

/// A store in process memory; see the [module docs](self).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    notifier: Notifier,
}

impl MemoryStore {
    /// Makes an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn lease_is_live(lock: &Option<(String, i64)>, now: i64) -> bool {
    lock.as_ref().is_some_and(|(_, expires)| *expires > now)
}

fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn status_of(id: &InstanceId, instance: &Instance) -> OrchestrationStatus {
    OrchestrationStatus {
        name: instance.name.clone(),
        version: instance.version.clone(),
        instance_id: id.clone(),
        execution_id: instance.execution_id.clone(),
        runtime_status: instance.status,
        created_time: instance.created_at,
        last_updated_time: instance.updated_at,
        input: Some(instance.input.clone()),
        output: instance.output.clone(),
        custom_status: instance.custom_status.clone(),
        failure: instance.failure.clone(),
        parent_instance_id: instance.parent_instance_id.clone(),
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn create_instance(&self, new: NewInstance) -> Result<(), StoreError> {
        self.lock().create(new)?;
        self.notifier.orchestration_work();
        Ok(())
    }

    async fn fetch_orchestration_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = clock::now_millis();
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut items: Vec<OrchestrationWorkItem> = Vec::new();
        let mut index: HashMap<InstanceId, usize> = HashMap::new();
        let mut skipped: Vec<&InstanceId> = Vec::new();
        let controlled: HashSet<&InstanceId> = state
            .messages
            .values()
            .filter(|m| m.visible_at <= now && is_control(&m.event))
            .map(|m| &m.instance_id)
            .collect();
        for (&id, message) in &state.messages {
            if message.visible_at > now {
                continue;
            }
            if let Some(&at) = index.get(&message.instance_id) {
                items[at].messages.push(OrchestrationMessage {
                    id,
                    execution_id: message.execution_id.clone(),
                    event: message.event.clone(),
                });
                continue;
            }
            if items.len() >= max || skipped.contains(&&message.instance_id) {
                continue;
            }
            let Some(instance) = state.instances.get_mut(&message.instance_id) else {
                continue;
            };
            let suspended = instance.status == RuntimeStatus::Suspended
                && !controlled.contains(&message.instance_id);
            if suspended || lease_is_live(&instance.lock, now) {
                skipped.push(&message.instance_id);
                continue;
            }
            let token = new_token();
            instance.lock = Some((token.clone(), now + lease_millis(lease)));
            index.insert(message.instance_id.clone(), items.len());
            items.push(OrchestrationWorkItem {
                instance_id: message.instance_id.clone(),
                execution_id: instance.execution_id.clone(),
                name: instance.name.clone(),
                version: instance.version.clone(),
                status: instance.status,
                history_len: instance.history.len(),
                messages: vec![OrchestrationMessage {
                    id,
                    execution_id: message.execution_id.clone(),
                    event: message.event.clone(),
                }],
                lock_token: token,
            });
        }
        Ok(items)
    }

    async fn commit_orchestrations(
        &self,
        commits: Vec<OrchestrationCommit>,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        let mut state = self.lock();
        let mut results = Vec::with_capacity(commits.len());
        let mut finished = Vec::new();
        let (mut new_activities, mut more_messages) = (false, false);
        for commit in commits {
            let Some(instance) = state.instances.get_mut(&commit.instance_id) else {
                results.push(Err(StoreError::InstanceNotFound(commit.instance_id)));
                continue;
            };
            let holds_lock = match &commit.lock_token {
                Some(lock_token) => instance
                    .lock
                    .as_ref()
                    .is_some_and(|(token, _)| token == lock_token),
                // A turn without a lease: nobody else may be working on the instance.
                None => {
                    !lease_is_live(&instance.lock, clock::now_millis())
                        && instance.execution_id == commit.execution_id
                        && instance.status == RuntimeStatus::Running
                }
            };
            if !holds_lock || instance.history.len() != commit.history_len {
                results.push(Err(StoreError::LeaseLost(format!(
                    "instance {}",
                    commit.instance_id
                ))));
                continue;
            }
            let lost = commit.applied_activities.iter().find(|(id, lock_token)| {
                !state.activities.get(id).is_some_and(|a| {
                    a.lock
                        .as_ref()
                        .is_some_and(|(token, _)| token == lock_token)
                })
            });
            if let Some((id, _)) = lost {
                results.push(Err(StoreError::LeaseLost(format!("activity {id}"))));
                continue;
            }
            for (id, _) in &commit.applied_activities {
                state.activities.remove(id);
            }
            let Some(instance) = state.instances.get_mut(&commit.instance_id) else {
                results.push(Err(StoreError::InstanceNotFound(commit.instance_id)));
                continue;
            };
            instance.history.extend(commit.events);
            instance.status = commit.status;
            instance.updated_at = commit.updated_at;
            if commit.output.is_some() {
                instance.output = commit.output;
            }
            if commit.failure.is_some() {
                instance.failure = commit.failure;
            }
            if let Some(custom_status) = commit.custom_status {
                instance.custom_status = custom_status;
            }
            instance.lock = None;
            if commit.status.is_terminal() {
                finished.push(commit.instance_id.clone());
            }
            for id in &commit.consumed {
                state.messages.remove(id);
            }
            let pushed_any = commit.continue_as_new.is_some()
                || !commit.messages.is_empty()
                || !commit.new_instances.is_empty();
            if let Some(next) = commit.continue_as_new {
                if let Some(instance) = state.instances.get_mut(&commit.instance_id) {
                    instance.history.clear();
                    instance.execution_id = next.execution_id.clone();
                    instance.input = next.input;
                    instance.output = None;
                    instance.failure = None;
                }
                let started = std::iter::once(next.started).chain(next.carryover);
                for event in started {
                    state.push_message(OutboundMessage {
                        instance_id: commit.instance_id.clone(),
                        execution_id: Some(next.execution_id.clone()),
                        visible_at: commit.updated_at,
                        event,
                    });
                }
            }
            for message in commit.messages {
                state.push_message(message);
            }
            for child in commit.new_instances {
                let refused = failed_sub_orchestration(&commit.instance_id, &child);
                if state.create(child).is_err()
                    && let Some(message) = refused
                {
                    state.push_message(message);
                }
            }
            let lease = commit
                .lease_activities
                .map(|lease| (new_token(), clock::now_millis() + lease_millis(lease)));
            let mut leased = Vec::new();
            for activity in commit.activities {
                let id = state.next_id();
                match &lease {
                    Some((token, _)) => leased.push(activity.leased(
                        id,
                        &commit.instance_id,
                        &commit.execution_id,
                        token,
                    )),
                    None => new_activities = true,
                }
                state.activities.insert(
                    id,
                    Activity {
                        instance_id: commit.instance_id.clone(),
                        execution_id: commit.execution_id.clone(),
                        scheduled_id: activity.scheduled_id,
                        name: activity.name,
                        input: activity.input,
                        dequeue_count: u32::from(lease.is_some()),
                        lock: lease.clone(),
                    },
                );
            }
            more_messages |= pushed_any
                || state
                    .messages
                    .values()
                    .any(|m| m.instance_id == commit.instance_id);
            results.push(Ok(leased));
        }
        drop(state);
        if new_activities {
            self.notifier.activity_work();
        }
        if more_messages {
            self.notifier.orchestration_work();
        }
        for id in &finished {
            self.notifier.instance_finished(id);
        }
        Ok(results)
    }

    async fn abandon_orchestration_work_item(
        &self,
        instance_id: &InstanceId,
        lock_token: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(instance) = state.instances.get_mut(instance_id)
            && instance.lock.as_ref().is_some_and(|(t, _)| t == lock_token)
        {
            instance.lock = None;
        }
        drop(state);
        self.notifier.orchestration_work();
        Ok(())
    }

    async fn fetch_activity_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = clock::now_millis();
        let mut state = self.lock();
        let mut items = Vec::new();
        for (&id, activity) in state.activities.iter_mut() {
            if items.len() >= max {
                break;
            }
            if lease_is_live(&activity.lock, now) {
                continue;
            }
            let token = new_token();
            activity.lock = Some((token.clone(), now + lease_millis(lease)));
            activity.dequeue_count += 1;
            items.push(ActivityWorkItem {
                id,
                instance_id: activity.instance_id.clone(),
                execution_id: activity.execution_id.clone(),
                scheduled_id: activity.scheduled_id,
                name: activity.name.clone(),
                input: activity.input.clone(),
                attempt: activity.dequeue_count,
                lock_token: token,
            });
        }
        Ok(items)
    }

    async fn complete_activities(
        &self,
        completions: Vec<ActivityCompletion>,
        lease_instances: Option<Duration>,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = clock::now_millis();
        let mut state = self.lock();
        let mut woken: Vec<InstanceId> = Vec::new();
        for completion in completions {
            let held = state.activities.get(&completion.id).is_some_and(|a| {
                a.lock
                    .as_ref()
                    .is_some_and(|(t, _)| *t == completion.lock_token)
            });
            if !held {
                continue;
            }
            state.activities.remove(&completion.id);
            if !woken.contains(&completion.instance_id) {
                woken.push(completion.instance_id.clone());
            }
            let id = state.next_id();
            state.messages.insert(
                id,
                Message {
                    instance_id: completion.instance_id,
                    execution_id: Some(completion.execution_id),
                    visible_at: now,
                    event: completion.event,
                },
            );
        }
        let mut items = Vec::new();
        if let Some(lease) = lease_instances {
            for instance_id in &woken {
                if let Some(item) = state.lease_instance(instance_id, now, lease) {
                    items.push(item);
                }
            }
        }
        drop(state);
        if woken.len() > items.len() {
            self.notifier.orchestration_work();
        }
        Ok(items)
    }

    async fn renew_activity_leases(
        &self,
        items: Vec<(i64, String)>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let expires = clock::now_millis() + lease_millis(lease);
        let mut state = self.lock();
        for (id, token) in items {
            if let Some(activity) = state.activities.get_mut(&id)
                && let Some((held, expiry)) = &mut activity.lock
                && *held == token
            {
                *expiry = expires;
            }
        }
        Ok(())
    }

    async fn abandon_activities(&self, items: Vec<(i64, String)>) -> Result<(), StoreError> {
        let mut state = self.lock();
        for (id, token) in items {
            if let Some(activity) = state.activities.get_mut(&id)
                && activity
                    .lock
                    .as_ref()
                    .is_some_and(|(held, _)| *held == token)
            {
                activity.lock = None;
            }
        }
        drop(state);
        self.notifier.activity_work();
        Ok(())
    }

    async fn get_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<OrchestrationStatus>, StoreError> {
        let state = self.lock();
        Ok(state
            .instances
            .get(instance_id)
            .map(|i| status_of(instance_id, i)))
    }

    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError> {
        let after = query
            .continuation_token
            .as_deref()
            .map(decode_continuation)
            .transpose()?;
        let state = self.lock();
        let mut matching: Vec<(&InstanceId, &Instance)> = state
            .instances
            .iter()
            .filter(|(id, i)| {
                (query.statuses.is_empty() || query.statuses.contains(&i.status))
                    && query.created_from.is_none_or(|from| i.created_at >= from)
                    && query.created_to.is_none_or(|to| i.created_at < to)
                    && query
                        .parent_instance_id
                        .as_ref()
                        .is_none_or(|parent| i.parent_instance_id.as_ref() == Some(parent))
                    && match query.instance_id_prefix.as_deref() {
                        Some(prefix) => id.as_str().starts_with(prefix),
                        // Entities are listed only when asked for by their `@` prefix.
                        None => !id.as_str().starts_with('@'),
                    }
                    && after.as_ref().is_none_or(|(micros, after_id)| {
                        (i.created_at.timestamp_micros(), id.as_str())
                            > (*micros, after_id.as_str())
                    })
            })
            .collect();
        matching.sort_by(|a, b| (a.1.created_at, a.0).cmp(&(b.1.created_at, b.0)));
        let page_size = query.page_size.max(1);
        let statuses = matching
            .into_iter()
            .take(page_size + 1)
            .map(|(id, i)| status_of(id, i))
            .collect();
        Ok(into_page(statuses, page_size))
    }

    async fn read_history(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<Vec<HistoryEvent>>, StoreError> {
        Ok(self
            .lock()
            .instances
            .get(instance_id)
            .map(|i| i.history.clone()))
    }

    async fn enqueue_message(
        &self,
        message: OutboundMessage,
        accept: &[RuntimeStatus],
    ) -> Result<RuntimeStatus, StoreError> {
        let mut state = self.lock();
        let is_entity = EntityId::from_instance_id(message.instance_id.as_str()).is_some();
        let status = match state.instances.get(&message.instance_id) {
            Some(instance) => instance.status,
            // An entity is created by its first message.
            None if is_entity => RuntimeStatus::Pending,
            None => return Err(StoreError::InstanceNotFound(message.instance_id.clone())),
        };
        if !accept.contains(&status) {
            return Err(StoreError::InstanceState {
                instance_id: message.instance_id,
                status,
            });
        }
        state.push_message(message);
        drop(state);
        self.notifier.orchestration_work();
        Ok(status)
    }

    async fn purge_instance(&self, instance_id: &InstanceId) -> Result<(), StoreError> {
        let mut state = self.lock();
        let status = state
            .instances
            .get(instance_id)
            .map(|i| i.status)
            .ok_or_else(|| StoreError::InstanceNotFound(instance_id.clone()))?;
        if !status.is_terminal() {
            return Err(StoreError::InstanceState {
                instance_id: instance_id.clone(),
                status,
            });
        }
        state.remove(instance_id);
        Ok(())
    }

    async fn purge_instances(&self, query: &PurgeQuery) -> Result<usize, StoreError> {
        let mut state = self.lock();
        let doomed: Vec<InstanceId> = state
            .instances
            .iter()
            .filter(|(_, i)| {
                i.status.is_terminal()
                    && (query.statuses.is_empty() || query.statuses.contains(&i.status))
                    && query.created_from.is_none_or(|from| i.created_at >= from)
                    && query.created_to.is_none_or(|to| i.created_at < to)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &doomed {
            state.remove(id);
        }
        Ok(doomed.len())
    }

    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = clock::now_millis();
        let state = self.lock();
        Ok(state
            .messages
            .values()
            .map(|m| m.visible_at)
            .filter(|&at| at > now)
            .min()
            .and_then(DateTime::from_timestamp_millis))
    }

    fn notifier(&self) -> &Notifier {
        &self.notifier
    }
}
