//! [`MemoryStore`]: a store that keeps everything in process memory.
//!
//! For tests, doctests and benchmarks. It has the same semantics as the durable stores
//! (leases, atomic commits, the same conformance suite) but nothing survives the process.
//!
//! Its access paths are the SQLite store's, as ordered sets: each instance's message ids
//! (`queues`), the instances with work queued by due time (`due`), instances by creation
//! time, by status, by name and by parent (each then by creation time), activities by
//! visibility. So a fetch, a timer wake-up, a listing page and a purge chunk cost
//! O(log n + what they return), never a pass over the backlog.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::rules::{self, InstanceRow};
use super::{
    ActivityCompletion, ActivityLease, ActivityWorkItem, Backlog, InstanceCounts, InstancePage,
    InstanceQuery, LockToken, NewInstance, Notifier, OrchestrationCommit, OrchestrationMessage,
    OrchestrationWorkItem, OutboundMessage, PurgeQuery, Store, TaskHubStats,
    failed_sub_orchestration, into_page, is_control, lease_millis,
};
use crate::clock::Clock;
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{FailureDetails, OrchestrationStatus, RuntimeStatus};
use crate::trace_context::TraceContext;

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
    /// When a fetch should next look at it (ms), as the SQLite store's `due_at`.
    due: Option<i64>,
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
    trace_context: Option<TraceContext>,
    dequeue_count: u32,
    lock: Option<(String, i64)>,
}

/// A position in creation order.
type Created = (DateTime<Utc>, InstanceId);

#[derive(Debug, Default)]
struct State {
    instances: HashMap<InstanceId, Instance>,
    messages: BTreeMap<i64, Message>,
    /// Each instance's queued message ids, oldest first.
    queues: HashMap<InstanceId, BTreeSet<i64>>,
    /// Instances with work queued, by [`Instance::due`].
    due: BTreeSet<(i64, InstanceId)>,
    by_created: BTreeSet<Created>,
    by_status: HashMap<RuntimeStatus, BTreeSet<Created>>,
    /// Rows by orchestration (or entity) name, for listings filtered by name.
    by_name: HashMap<String, BTreeSet<Created>>,
    /// Sub-orchestration rows by parent instance, for listings of a parent's children (a
    /// recursive terminate; the SQL stores' partial `instances_by_parent`).
    by_parent: HashMap<InstanceId, BTreeSet<Created>>,
    /// Every row's id in id order, for listings by id prefix (the SQL stores' primary key).
    by_id: BTreeSet<InstanceId>,
    /// How many of each status's rows in `by_status` are entities.
    entities_by_status: HashMap<RuntimeStatus, u64>,
    activities: BTreeMap<i64, Activity>,
    /// Activities by when a fetch may take them (0 if never leased, else the lease's
    /// expiry), then id.
    activity_queue: BTreeSet<(i64, i64)>,
    /// Each instance's activity ids.
    instance_activities: HashMap<InstanceId, BTreeSet<i64>>,
    next_id: i64,
}

impl State {
    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds an instance row and indexes it.
    fn insert_instance(&mut self, id: InstanceId, instance: Instance) {
        let key = (instance.created_at, id.clone());
        self.by_status
            .entry(instance.status)
            .or_default()
            .insert(key.clone());
        self.by_name
            .entry(instance.name.clone())
            .or_default()
            .insert(key.clone());
        if let Some(parent) = &instance.parent_instance_id {
            self.by_parent
                .entry(parent.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_created.insert(key);
        self.by_id.insert(id.clone());
        if id.is_entity() {
            *self.entities_by_status.entry(instance.status).or_default() += 1;
        }
        if let Some(due) = instance.due {
            self.due.insert((due, id.clone()));
        }
        self.instances.insert(id, instance);
    }

    /// Moves an instance to `status`, keeping the status index.
    fn set_status(&mut self, id: &InstanceId, status: RuntimeStatus) {
        let Some(instance) = self.instances.get_mut(id) else {
            return;
        };
        if instance.status == status {
            return;
        }
        let key = (instance.created_at, id.clone());
        let old = std::mem::replace(&mut instance.status, status);
        if let Some(set) = self.by_status.get_mut(&old) {
            set.remove(&key);
        }
        self.by_status.entry(status).or_default().insert(key);
        if id.is_entity() {
            self.count_entity(old, status);
        }
    }

    /// Moves one entity row's count from `from` to `to`.
    fn count_entity(&mut self, from: RuntimeStatus, to: RuntimeStatus) {
        if let Some(count) = self.entities_by_status.get_mut(&from) {
            *count = count.saturating_sub(1);
        }
        *self.entities_by_status.entry(to).or_default() += 1;
    }

    /// Sets an instance's due time, keeping the due index.
    fn set_due(&mut self, id: &InstanceId, due: Option<i64>) {
        let Some(instance) = self.instances.get_mut(id) else {
            return;
        };
        if instance.due == due {
            return;
        }
        if let Some(old) = instance.due {
            self.due.remove(&(old, id.clone()));
        }
        instance.due = due;
        if let Some(new) = due {
            self.due.insert((new, id.clone()));
        }
    }

    /// Brings an instance's due time forward to a message visible at `visible` (see the
    /// SQLite store's `mark_due`).
    fn mark_due(&mut self, id: &InstanceId, visible: i64, control: bool) {
        let Some(instance) = self.instances.get(id) else {
            return;
        };
        if instance.status == RuntimeStatus::Suspended && !control {
            return;
        }
        let lease = instance.lock.as_ref().map_or(0, |(_, expires)| *expires);
        let due = instance
            .due
            .map_or(visible, |due| due.min(visible))
            .max(lease);
        self.set_due(id, Some(due));
    }

    /// Recomputes an unleased instance's due time from its queued messages.
    fn refresh_due(&mut self, id: &InstanceId) {
        let Some(instance) = self.instances.get(id) else {
            return;
        };
        let suspended = instance.status == RuntimeStatus::Suspended;
        let due = self.queues.get(id).and_then(|queue| {
            queue
                .iter()
                .filter_map(|m| self.messages.get(m))
                .filter(|m| !suspended || is_control(&m.event))
                .map(|m| m.visible_at)
                .min()
        });
        self.set_due(id, due);
    }

    /// The earliest due time after `now` (ms) of an instance with work queued.
    fn next_due(&self, now: i64) -> Option<DateTime<Utc>> {
        self.due
            .range((now + 1, InstanceId::from_trusted(String::new()))..)
            .next()
            .and_then(|(due, _)| DateTime::from_timestamp_millis(*due))
    }

    /// Stores a message without touching any instance row.
    fn insert_message(&mut self, message: Message) {
        let id = self.next_id();
        self.queues
            .entry(message.instance_id.clone())
            .or_default()
            .insert(id);
        self.messages.insert(id, message);
    }

    fn remove_message(&mut self, id: i64) {
        if let Some(message) = self.messages.remove(&id)
            && let Some(queue) = self.queues.get_mut(&message.instance_id)
        {
            queue.remove(&id);
            if queue.is_empty() {
                self.queues.remove(&message.instance_id);
            }
        }
    }

    fn insert_activity(&mut self, id: i64, activity: Activity) {
        self.activity_queue
            .insert((activity.lock.as_ref().map_or(0, |(_, e)| *e), id));
        self.instance_activities
            .entry(activity.instance_id.clone())
            .or_default()
            .insert(id);
        self.activities.insert(id, activity);
    }

    fn remove_activity(&mut self, id: i64) -> Option<Activity> {
        let activity = self.activities.remove(&id)?;
        self.activity_queue
            .remove(&(activity.lock.as_ref().map_or(0, |(_, e)| *e), id));
        if let Some(set) = self.instance_activities.get_mut(&activity.instance_id) {
            set.remove(&id);
            if set.is_empty() {
                self.instance_activities.remove(&activity.instance_id);
            }
        }
        Some(activity)
    }

    /// Whether `token` holds the lease of activity `id`.
    fn holds_activity(&self, id: i64, token: &str) -> bool {
        self.activities
            .get(&id)
            .and_then(|a| a.lock.as_ref())
            .is_some_and(|(held, _)| held == token)
    }

    /// Sets an activity's lease, keeping the activity queue.
    fn set_activity_lock(&mut self, id: i64, lock: Option<(String, i64)>) {
        let Some(activity) = self.activities.get_mut(&id) else {
            return;
        };
        self.activity_queue
            .remove(&(activity.lock.as_ref().map_or(0, |(_, e)| *e), id));
        self.activity_queue
            .insert((lock.as_ref().map_or(0, |(_, e)| *e), id));
        activity.lock = lock;
    }

    fn push_message(&mut self, message: OutboundMessage, now: DateTime<Utc>) {
        if let Some(entity) = EntityId::from_instance_id(message.instance_id.as_str())
            && !self.instances.contains_key(&message.instance_id)
        {
            self.insert_instance(
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
                    due: None,
                },
            );
        }
        let visible = message.visible_at.timestamp_millis();
        let control = is_control(&message.event);
        self.mark_due(&message.instance_id, visible, control);
        self.insert_message(Message {
            instance_id: message.instance_id,
            execution_id: message.execution_id,
            visible_at: visible,
            event: message.event,
        });
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
        let visible = new.created_at.timestamp_millis();
        self.insert_message(Message {
            instance_id: new.instance_id.clone(),
            execution_id: Some(new.execution_id.clone()),
            visible_at: visible,
            event: new.started,
        });
        self.insert_instance(
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
                due: Some(visible),
            },
        );
        Ok(())
    }

    /// Leases one instance for a turn if no live lease holds it (and, unless
    /// `allow_suspended`, it is not suspended), with its visible messages.
    fn lease_instance(
        &mut self,
        instance_id: &InstanceId,
        now: i64,
        lease: Duration,
        allow_suspended: bool,
    ) -> Option<OrchestrationWorkItem> {
        let instance = self.instances.get_mut(instance_id)?;
        if (!allow_suspended && instance.status == RuntimeStatus::Suspended)
            || lease_is_live(&instance.lock, now)
        {
            return None;
        }
        let token = new_token();
        let expires = now + lease_millis(lease);
        instance.lock = Some((token.clone(), expires));
        self.set_due(instance_id, Some(expires));
        let instance = self.instances.get(instance_id)?;
        let messages = self
            .queues
            .get(instance_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.messages.get(id).map(|m| (*id, m)))
            .filter(|(_, m)| m.visible_at <= now)
            .map(|(id, m)| OrchestrationMessage {
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
            // Events are kept typed here: nothing to decode.
            corrupt_messages: Vec::new(),
            lock_token: Some(LockToken::new(token)),
        })
    }

    /// Removes an instance's row, its queued messages and its activities; returns the row,
    /// so that a caller holding the lock can free it (its history) after releasing it.
    fn remove(&mut self, id: &InstanceId) -> Option<Instance> {
        self.set_due(id, None);
        let removed = self.instances.remove(id);
        if let Some(instance) = &removed {
            let key = (instance.created_at, id.clone());
            self.by_created.remove(&key);
            self.by_id.remove(id);
            if let Some(set) = self.by_status.get_mut(&instance.status) {
                set.remove(&key);
            }
            if let Some(set) = self.by_name.get_mut(&instance.name) {
                set.remove(&key);
                if set.is_empty() {
                    self.by_name.remove(&instance.name);
                }
            }
            if let Some(parent) = &instance.parent_instance_id
                && let Some(set) = self.by_parent.get_mut(parent)
            {
                set.remove(&key);
                if set.is_empty() {
                    self.by_parent.remove(parent);
                }
            }
            if id.is_entity()
                && let Some(count) = self.entities_by_status.get_mut(&instance.status)
            {
                *count = count.saturating_sub(1);
            }
        }
        for message in self.queues.remove(id).into_iter().flatten() {
            self.messages.remove(&message);
        }
        for activity in self.instance_activities.remove(id).into_iter().flatten() {
            self.remove_activity(activity);
        }
        removed
    }

    /// The first `limit` instances of `index` at or after `from` (exclusive of `after`),
    /// before `to`, that pass `keep`, in creation order.
    fn range<'a>(
        &'a self,
        index: &'a BTreeSet<Created>,
        start: std::ops::Bound<Created>,
        to: Option<DateTime<Utc>>,
        keep: impl Fn(&InstanceId, &Instance) -> bool + 'a,
    ) -> impl Iterator<Item = (&'a InstanceId, &'a Instance)> + 'a {
        index
            .range((start, std::ops::Bound::Unbounded))
            .take_while(move |(created, _)| to.is_none_or(|to| *created < to))
            .filter_map(move |(_, id)| self.instances.get(id).map(|i| (id, i)))
            .filter(move |(id, i)| keep(id, i))
    }
}

/// A store in process memory; see the [module docs](self).
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    notifier: Notifier,
    clock: Clock,
}

impl Default for MemoryStore {
    fn default() -> Self {
        let notifier = Notifier::default();
        // No other process can change it.
        notifier.set_watches_others(true);
        Self {
            state: Mutex::new(State::default()),
            notifier,
            clock: Clock::System,
        }
    }
}

impl MemoryStore {
    /// Makes an empty store on the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes an empty store on `clock`: with a [`Clock::Virtual`], leases, message
    /// visibility and durable timers follow that clock, and so do the worker and clients
    /// that use this store (they read [`Store::clock`]).
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            clock,
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether anything can run now, and when the next thing that waits only on time comes
    /// due, read in one lock so the answer is consistent: busy while an activity work item
    /// exists (queued, running, or its result not yet committed), an instance is leased
    /// for a turn, or a message is visible. The test kit skips time only when not busy.
    #[cfg(feature = "testing")]
    pub(crate) fn quiescence(&self) -> Quiescence {
        let now = self.clock.now_millis();
        let state = self.lock();
        let leased = state.instances.values().any(|instance| {
            instance
                .lock
                .as_ref()
                .is_some_and(|(token, expires)| *expires > now && token != RETRY_LOCK)
        });
        let visible = state.due.first().is_some_and(|(due, _)| *due <= now);
        Quiescence {
            busy: !state.activities.is_empty() || leased || visible,
            next_due: state
                .due
                .first()
                .and_then(|(due, _)| DateTime::from_timestamp_millis(*due)),
        }
    }
}

/// See [`MemoryStore::quiescence`].
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quiescence {
    /// Something can run now (or is running).
    pub(crate) busy: bool,
    /// When the earliest queued message (a durable timer, a delayed signal) or delayed
    /// retry comes due.
    pub(crate) next_due: Option<DateTime<Utc>>,
}

fn lease_is_live(lock: &Option<(String, i64)>, now: i64) -> bool {
    lock.as_ref().is_some_and(|(_, expires)| *expires > now)
}

/// The token of a lease that nobody holds: a delayed retry (see
/// `abandon_orchestration_work_item`); it expires like any lease.
const RETRY_LOCK: &str = "retry-after";

fn new_token() -> String {
    LockToken::generate().into_string()
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
        let now = self.clock.now_millis();
        let mut state = self.lock();
        let due: Vec<InstanceId> = state
            .due
            .range(..(now + 1, InstanceId::from_trusted(String::new())))
            .take(max)
            .map(|(_, id)| id.clone())
            .collect();
        Ok(due
            .iter()
            .filter_map(|id| state.lease_instance(id, now, lease, true))
            .collect())
    }

    async fn commit_orchestrations(
        &self,
        commits: Vec<OrchestrationCommit>,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let mut results = Vec::with_capacity(commits.len());
        let mut finished = Vec::new();
        let (mut new_activities, mut more_messages) = (false, false);
        for commit in commits {
            let Some(instance) = state.instances.get_mut(&commit.instance_id) else {
                results.push(Err(StoreError::InstanceNotFound(commit.instance_id)));
                continue;
            };
            let row = InstanceRow {
                lock_token: instance.lock.as_ref().map(|(token, _)| token.as_str()),
                lock_expires: instance.lock.as_ref().map(|(_, expires)| *expires),
                history_len: instance.history.len(),
                execution_id: instance.execution_id.as_str(),
                status: instance.status.code(),
            };
            let verdict =
                rules::check_instance(&commit, row, self.clock.now_millis()).and_then(|()| {
                    rules::check_activities(&commit, |id, lock_token| {
                        state.activities.get(&id).is_some_and(|a| {
                            a.lock
                                .as_ref()
                                .is_some_and(|(token, _)| token == lock_token)
                        })
                    })
                });
            if let Err(lost) = verdict {
                results.push(Err(lost));
                continue;
            }
            for lease in commit.authority.applied_activities() {
                state.remove_activity(lease.id);
            }
            // A commit that only drops messages keeps the status (see
            // `only_drops_messages`): a rewind may have made the instance Pending.
            let drops_only = super::only_drops_messages(&commit);
            if !drops_only {
                state.set_status(&commit.instance_id, commit.status);
            }
            let Some(instance) = state.instances.get_mut(&commit.instance_id) else {
                results.push(Err(StoreError::InstanceNotFound(commit.instance_id)));
                continue;
            };
            instance.history.extend(commit.events);
            instance.updated_at = commit.updated_at;
            if commit.output.is_some() {
                instance.output = commit.output;
            }
            // A failure is kept only while the instance is Failed: a rewound one runs
            // again without it.
            if !drops_only && commit.status != RuntimeStatus::Failed {
                instance.failure = None;
            } else if !drops_only && commit.failure.is_some() {
                instance.failure = commit.failure;
            }
            commit.custom_status.apply(&mut instance.custom_status);
            instance.lock = None;
            if commit.status.is_terminal() {
                finished.push(commit.instance_id.clone());
            }
            for id in &commit.consumed {
                state.remove_message(*id);
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
                    state.push_message(
                        OutboundMessage {
                            instance_id: commit.instance_id.clone(),
                            execution_id: Some(next.execution_id.clone()),
                            visible_at: commit.updated_at,
                            event,
                        },
                        now,
                    );
                }
            }
            for message in commit.messages {
                state.push_message(message, now);
            }
            for child in commit.new_instances {
                let refused = failed_sub_orchestration(&commit.instance_id, &child);
                if state.create(child).is_err()
                    && let Some(message) = refused
                {
                    state.push_message(message, now);
                }
            }
            let lease = commit.lease_activities.map(|lease| {
                (
                    LockToken::generate(),
                    self.clock.now_millis() + lease_millis(lease),
                )
            });
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
                state.insert_activity(
                    id,
                    Activity {
                        instance_id: commit.instance_id.clone(),
                        execution_id: commit.execution_id.clone(),
                        scheduled_id: activity.scheduled_id,
                        name: activity.name,
                        input: activity.input,
                        trace_context: activity.trace_context,
                        dequeue_count: u32::from(lease.is_some()),
                        lock: lease
                            .as_ref()
                            .map(|(token, expires)| (token.as_str().to_owned(), *expires)),
                    },
                );
            }
            state.refresh_due(&commit.instance_id);
            more_messages |= pushed_any || state.queues.contains_key(&commit.instance_id);
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
        lock_token: &LockToken,
        retry_after: Duration,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(instance) = state.instances.get_mut(instance_id)
            && instance
                .lock
                .as_ref()
                .is_some_and(|(t, _)| t == lock_token.as_str())
        {
            // A delayed retry: a lease nobody holds, expiring then (as on SQLite).
            let until = (!retry_after.is_zero())
                .then(|| self.clock.now_millis() + lease_millis(retry_after));
            instance.lock = until.map(|until| (RETRY_LOCK.to_owned(), until));
            state.refresh_due(instance_id);
            if let Some(until) = until
                && let Some(due) = state.instances.get(instance_id).and_then(|i| i.due)
            {
                state.set_due(instance_id, Some(due.max(until)));
            }
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
        let now = self.clock.now_millis();
        let mut state = self.lock();
        let ready: Vec<i64> = state
            .activity_queue
            .range(..(now + 1, i64::MIN))
            .take(max)
            .map(|(_, id)| *id)
            .collect();
        let mut items = Vec::with_capacity(ready.len());
        for id in ready {
            let token = new_token();
            state.set_activity_lock(id, Some((token.clone(), now + lease_millis(lease))));
            let Some(activity) = state.activities.get_mut(&id) else {
                continue;
            };
            activity.dequeue_count += 1;
            items.push(ActivityWorkItem {
                id,
                instance_id: activity.instance_id.clone(),
                execution_id: activity.execution_id.clone(),
                scheduled_id: activity.scheduled_id,
                name: activity.name.clone(),
                input: activity.input.clone(),
                attempt: activity.dequeue_count,
                lock_token: LockToken::new(token),
                corrupt: None,
                trace_context: activity.trace_context.clone(),
            });
        }
        Ok(items)
    }

    async fn complete_activities(
        &self,
        completions: Vec<ActivityCompletion>,
        lease_instances: Option<Duration>,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = self.clock.now_millis();
        let mut state = self.lock();
        let mut woken: Vec<InstanceId> = Vec::new();
        for completion in completions {
            let held = state.activities.get(&completion.id).is_some_and(|a| {
                a.lock
                    .as_ref()
                    .is_some_and(|(t, _)| t == completion.lock_token.as_str())
            });
            if !held {
                continue;
            }
            state.remove_activity(completion.id);
            if !woken.contains(&completion.instance_id) {
                woken.push(completion.instance_id.clone());
            }
            state.mark_due(&completion.instance_id, now, false);
            state.insert_message(Message {
                instance_id: completion.instance_id,
                execution_id: Some(completion.execution_id),
                visible_at: now,
                event: completion.event,
            });
        }
        let mut items = Vec::new();
        if let Some(lease) = lease_instances {
            for instance_id in &woken {
                if let Some(item) = state.lease_instance(instance_id, now, lease, false) {
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
        items: Vec<ActivityLease>,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let expires = self.clock.now_millis() + lease_millis(lease);
        let mut state = self.lock();
        for ActivityLease { id, lock_token } in items {
            if state.holds_activity(id, lock_token.as_str()) {
                state.set_activity_lock(id, Some((lock_token.as_str().to_owned(), expires)));
            }
        }
        Ok(())
    }

    async fn abandon_activities(&self, items: Vec<ActivityLease>) -> Result<(), StoreError> {
        let mut state = self.lock();
        for ActivityLease { id, lock_token } in items {
            if state.holds_activity(id, lock_token.as_str()) {
                state.set_activity_lock(id, None);
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
        let (after, page_size) = super::list_position(query)?;
        let limit = page_size.saturating_add(1);
        // The range start: the later of `created_from` and the token's position.
        let start = match (&after, query.created_from) {
            (Some((micros, id)), from)
                if from.is_none_or(|from| *micros >= from.timestamp_micros()) =>
            {
                let created = DateTime::from_timestamp_micros(*micros).unwrap_or_default();
                std::ops::Bound::Excluded((created, InstanceId::from_trusted(id.clone())))
            }
            (_, Some(from)) => {
                std::ops::Bound::Included((from, InstanceId::from_trusted(String::new())))
            }
            (_, None) => std::ops::Bound::Unbounded,
        };
        let keep = |id: &InstanceId, i: &Instance| {
            query
                .parent_instance_id
                .as_ref()
                .is_none_or(|parent| i.parent_instance_id.as_ref() == Some(parent))
                && query.name.as_ref().is_none_or(|name| i.name == *name)
                && (query.statuses.is_empty() || query.statuses.contains(&i.status))
                // Entities are listed only when asked for by their `@` prefix (a listing by
                // prefix reads only the prefix's ids).
                && (super::list_prefix(query).is_some() || !id.as_str().starts_with('@'))
        };
        let state = self.lock();
        if let Some(prefix) = super::list_prefix(query) {
            // The ids' range from the prefix (or the token's id) to the prefix's successor,
            // in id order; the other fields filter it.
            use std::ops::Bound;
            let ((start, exclusive), end) = super::prefix_range(prefix, after.as_ref());
            let start = InstanceId::from_trusted(start.to_owned());
            let start = if exclusive {
                Bound::Excluded(start)
            } else {
                Bound::Included(start)
            };
            let end = end.map_or(Bound::Unbounded, |end| {
                Bound::Excluded(InstanceId::from_trusted(end))
            });
            let statuses = state
                .by_id
                .range((start, end))
                .filter_map(|id| state.instances.get(id).map(|i| (id, i)))
                .filter(|(id, i)| {
                    keep(id, i)
                        && query.created_from.is_none_or(|from| i.created_at >= from)
                        && query.created_to.is_none_or(|to| i.created_at < to)
                })
                .take(limit)
                .map(|(id, i)| status_of(id, i))
                .collect();
            return Ok(into_page(statuses, page_size));
        }
        let empty = BTreeSet::new();
        let by_name = query
            .name
            .as_ref()
            .map(|name| state.by_name.get(name).unwrap_or(&empty));
        let by_status_len = || {
            query
                .statuses
                .iter()
                .map(|s| state.by_status.get(s).map_or(0, BTreeSet::len))
                .sum::<usize>()
        };
        // A parent's children when a parent is asked for; else the name's rows when a name
        // is asked for (filtered by status in `keep`), unless the statuses asked for hold
        // fewer rows.
        let indexes: Vec<&BTreeSet<Created>> = if let Some(parent) = &query.parent_instance_id {
            vec![state.by_parent.get(parent).unwrap_or(&empty)]
        } else if let Some(by_name) = by_name
            && (query.statuses.is_empty() || by_name.len() <= by_status_len())
        {
            vec![by_name]
        } else if query.statuses.is_empty() {
            vec![&state.by_created]
        } else {
            query
                .statuses
                .iter()
                .map(|s| state.by_status.get(s).unwrap_or(&empty))
                .collect()
        };
        let mut matching: Vec<(&InstanceId, &Instance)> = indexes
            .into_iter()
            .flat_map(|index| {
                state
                    .range(index, start.clone(), query.created_to, keep)
                    .take(limit)
            })
            .collect();
        matching.sort_by(|a, b| (a.1.created_at, a.0).cmp(&(b.1.created_at, b.0)));
        let statuses = matching
            .into_iter()
            .take(limit)
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
        if let Some(next) = super::status_on_enqueue(&message.event) {
            state.set_status(&message.instance_id, next);
            if let Some(instance) = state.instances.get_mut(&message.instance_id) {
                instance.failure = None;
            }
        }
        state.push_message(message, self.clock.now());
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
        // A chunk holds the lock until `HOLD` has passed (checked after each `STEP` of 16)
        // or `CHUNK` instances are removed, and frees what it removed (the histories) after
        // releasing it; the pause after it lets running work take the lock (a yield alone
        // would let the purge take it straight back: the lock is not fair). At a million
        // rows a removal costs several microseconds, so a chunk of 256 held the lock for
        // milliseconds.
        const CHUNK: usize = 256;
        const STEP: usize = 16;
        const HOLD: std::time::Duration = std::time::Duration::from_micros(300);
        const PAUSE: std::time::Duration = std::time::Duration::from_millis(1);
        let statuses = super::purge_statuses(query);
        let start = query
            .created_from
            .map_or(std::ops::Bound::Unbounded, |from| {
                std::ops::Bound::Included((from, InstanceId::from_trusted(String::new())))
            });
        let mut purged = 0;
        let mut removed = Vec::with_capacity(CHUNK);
        for status in statuses {
            // In chunks, the lock released between them, so running work goes on.
            loop {
                let exhausted = {
                    let mut state = self.lock();
                    let held = std::time::Instant::now();
                    loop {
                        let doomed: Vec<Created> = state
                            .by_status
                            .get(&status)
                            .into_iter()
                            .flat_map(|index| {
                                index.range((start.clone(), std::ops::Bound::Unbounded))
                            })
                            .take_while(|(created, _)| {
                                query.created_to.is_none_or(|to| *created < to)
                            })
                            .take(STEP)
                            .cloned()
                            .collect();
                        for key in &doomed {
                            match state.remove(&key.1) {
                                Some(row) => removed.push(row),
                                // An index entry without its row: dropped, so that the
                                // next step does not take it again.
                                None => {
                                    if let Some(index) = state.by_status.get_mut(&status) {
                                        index.remove(key);
                                    }
                                }
                            }
                        }
                        if doomed.len() < STEP {
                            break true;
                        }
                        if removed.len() >= CHUNK || held.elapsed() >= HOLD {
                            break false;
                        }
                    }
                };
                purged += removed.len();
                // Freed outside the lock.
                removed.clear();
                if exhausted {
                    break;
                }
                tokio::time::sleep(PAUSE).await;
            }
        }
        Ok(purged)
    }

    async fn has_activity_work(&self, instance_id: &InstanceId) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .instance_activities
            .get(instance_id)
            .is_some_and(|set| !set.is_empty()))
    }

    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.clock.now_millis();
        Ok(self.lock().next_due(now))
    }

    async fn task_hub_stats(&self) -> Result<TaskHubStats, StoreError> {
        let now = self.clock.now_millis();
        let state = self.lock();
        let rows = |entities: bool| {
            InstanceCounts::from_codes(state.by_status.iter().map(|(status, set)| {
                let entity_rows = state.entities_by_status.get(status).copied().unwrap_or(0);
                let count = if entities {
                    entity_rows
                } else {
                    (set.len() as u64).saturating_sub(entity_rows)
                };
                (status.code(), count)
            }))
        };
        let due_messages = state
            .messages
            .values()
            .filter(|message| message.visible_at <= now)
            .count() as u64;
        let queued_activities = state.activity_queue.range(..(now + 1, 0)).count() as u64;
        Ok(TaskHubStats {
            instances: rows(false),
            entities: rows(true),
            backlog: Backlog {
                due_messages,
                future_messages: state.messages.len() as u64 - due_messages,
                queued_activities,
                running_activities: state.activities.len() as u64 - queued_activities,
                next_due_at: state.next_due(now),
            },
            as_of: DateTime::from_timestamp_millis(now).unwrap_or_default(),
        })
    }

    fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    fn clock(&self) -> Clock {
        self.clock.clone()
    }
}
