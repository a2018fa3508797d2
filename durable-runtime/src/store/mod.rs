//! The [`Store`] trait: where instances, histories and work-item queues live.
//!
//! Work-item oriented like DTF's `IOrchestrationService`: a worker fetches an instance's new
//! messages under a lease ([`OrchestrationWorkItem`]), replays, and commits the turn
//! atomically ([`OrchestrationCommit`]: append history, delete consumed messages, enqueue
//! activities, update status, release the lease). Activities are fetched under leases as
//! competing consumers and completed by turning them into messages for their instance, in
//! one transaction. A lease that expires makes the item visible again, so a crashed worker's
//! work is picked up by the next fetch.
//!
//! Stores treat payloads as opaque JSON text. Every back-end passes
//! [`conformance`] (feature `store-conformance`).

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod codec;
#[cfg(feature = "store-conformance")]
pub mod conformance;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod listing_sql;
pub mod memory;
mod notify;
#[cfg(feature = "postgres")]
pub mod postgres;
mod rules;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod stats;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use notify::Notifier;
pub use stats::{Backlog, InstanceCounts, TaskHubStats};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use stats::{CountDeltas, sql_stats};

use crate::clock::Clock;

use crate::error::StoreError;
use crate::error_types::SUB_ORCHESTRATION_ID_IN_USE;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::setters::setters;
use crate::status::{FailureDetails, OrchestrationStatus, RuntimeStatus};
use crate::trace_context::TraceContext;

/// A request to create an instance; see [`Store::create_instance`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewInstance {
    /// The instance id.
    pub instance_id: InstanceId,
    /// The first execution id.
    pub execution_id: ExecutionId,
    /// The registered orchestration name.
    pub name: String,
    /// The orchestration version, if any.
    pub version: Option<String>,
    /// The input.
    pub input: Payload,
    /// The creation time; also the `ExecutionStarted` timestamp.
    pub created_at: DateTime<Utc>,
    /// The `ExecutionStarted` event enqueued as the instance's first message.
    pub started: HistoryEvent,
    /// The parent, for a sub-orchestration.
    pub parent_instance_id: Option<InstanceId>,
}

/// A message for an instance's queue, visible from `visible_at` (a durable timer's fire
/// time, or now).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OutboundMessage {
    /// The receiving instance.
    pub instance_id: InstanceId,
    /// The execution it is for; `None` for whichever is current when it is applied.
    pub execution_id: Option<ExecutionId>,
    /// When it becomes visible.
    pub visible_at: DateTime<Utc>,
    /// The event to apply.
    pub event: HistoryEvent,
}

impl OutboundMessage {
    /// A message of `event` for `instance_id` (its execution `execution_id`, `None` for the
    /// current one), visible from `visible_at`.
    pub fn new(
        instance_id: InstanceId,
        execution_id: Option<ExecutionId>,
        visible_at: DateTime<Utc>,
        event: HistoryEvent,
    ) -> Self {
        Self {
            instance_id,
            execution_id,
            visible_at,
            event,
        }
    }
}

/// The status an instance takes at once when `event` is enqueued for it: `Pending` for a
/// rewind (as Durable Functions' Azure Storage back-end does), so a failed instance being
/// rewound reads as not finished before a worker applies it. `None`: the status stays.
pub fn status_on_enqueue(event: &HistoryEvent) -> Option<RuntimeStatus> {
    matches!(event.kind, EventKind::ExecutionRewound { .. }).then_some(RuntimeStatus::Pending)
}

/// Does `commit` only drop the messages of a finished instance (it appends no event and
/// reports a terminal status)? Such a commit leaves the row's status as it is at commit
/// time: a rewind enqueued meanwhile has made it Pending, and that must stand.
pub(crate) fn only_drops_messages(commit: &OrchestrationCommit) -> bool {
    commit.events.is_empty() && commit.status.is_terminal()
}

/// Is the message one that a suspended instance still processes (resume, terminate)?
pub(crate) fn is_control(event: &HistoryEvent) -> bool {
    matches!(
        event.kind,
        EventKind::ExecutionResumed { .. } | EventKind::ExecutionTerminated { .. }
    )
}

/// Continue-as-new: the execution ends and the instance restarts with a fresh history.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewExecution {
    /// The new execution id.
    pub execution_id: ExecutionId,
    /// The new input.
    pub input: Payload,
    /// The new execution's `ExecutionStarted`, enqueued as its first message.
    pub started: HistoryEvent,
    /// Events raised but not consumed by the old execution, carried over when asked.
    pub carryover: Vec<HistoryEvent>,
}

/// Which instances [`Store::purge_instances`] deletes.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PurgeQuery {
    /// Only instances created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only instances created before this time.
    pub created_to: Option<DateTime<Utc>>,
    /// Only these statuses; empty means every terminal status. Non-terminal statuses are
    /// never purged.
    pub statuses: Vec<RuntimeStatus>,
}

setters! {
    impl PurgeQuery {
        /// Purges only instances created at or after this time (default: no bound).
        created_from: Some(DateTime<Utc>);
        /// Purges only instances created before this time (default: no bound).
        created_to: Some(DateTime<Utc>);
        /// Purges only these terminal statuses (default empty: every terminal status).
        statuses: Into(Vec<RuntimeStatus>);
    }
}

/// A message waiting in an instance's queue.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OrchestrationMessage {
    /// The store's id for the message, to delete it at commit.
    pub id: i64,
    /// The execution it is for; `None` for any (e.g. a raised event).
    pub execution_id: Option<ExecutionId>,
    /// The event to apply.
    pub event: HistoryEvent,
}

impl OrchestrationMessage {
    /// The queued message `id` (the store's own id) of `event`, for execution
    /// `execution_id` (`None`: any).
    pub fn new(id: i64, execution_id: Option<ExecutionId>, event: HistoryEvent) -> Self {
        Self {
            id,
            execution_id,
            event,
        }
    }
}

/// An instance's new messages, fetched under a lease.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OrchestrationWorkItem {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its current execution.
    pub execution_id: ExecutionId,
    /// Its orchestration name.
    pub name: String,
    /// Its orchestration version.
    pub version: Option<String>,
    /// Its status when fetched.
    pub status: RuntimeStatus,
    /// How many history events it has; a cached replay state with another length is stale.
    pub history_len: usize,
    /// The messages, oldest first.
    pub messages: Vec<OrchestrationMessage>,
    /// Queued messages of this instance whose stored event does not decode (a corrupt row):
    /// a store returns them here instead of failing the whole fetch, and the dispatcher
    /// fails the instance with [`CORRUPT_HISTORY`](crate::error_types::CORRUPT_HISTORY) (an entity
    /// drops them, logged), consuming them with the turn.
    pub corrupt_messages: Vec<CorruptMessage>,
    /// The lease's token; commit ([`CommitAuthority::Leased`]) and abandon must present it.
    /// A store always sets it; `None` only on a work item the worker makes itself for a
    /// turn on activity results it holds ([`CommitAuthority::Unleased`]).
    pub lock_token: Option<LockToken>,
}

impl OrchestrationWorkItem {
    /// The work item a store hands out for the instance `instance_id` (current execution
    /// `execution_id`, orchestration `name`, status `status`) leased under `lock_token`;
    /// set the rest with the setters (default: no version, `history_len` 0, no messages).
    pub fn new(
        instance_id: InstanceId,
        execution_id: ExecutionId,
        name: impl Into<String>,
        status: RuntimeStatus,
        lock_token: LockToken,
    ) -> Self {
        Self {
            instance_id,
            execution_id,
            name: name.into(),
            version: None,
            status,
            history_len: 0,
            messages: Vec::new(),
            corrupt_messages: Vec::new(),
            lock_token: Some(lock_token),
        }
    }
}

setters! {
    impl OrchestrationWorkItem {
        /// Sets the orchestration version (default none).
        version: Some(String);
        /// Sets how many history events the instance has (a count; default 0).
        history_len: usize;
        /// Sets the messages, oldest first (default none).
        messages: Vec<OrchestrationMessage>;
        /// Sets the queued messages whose stored event does not decode (default none).
        corrupt_messages: Vec<CorruptMessage>;
    }
}

/// A lease's token: who holds an instance's or an activity work item's lease. Stores hand
/// one out with every lease and check it on commit, completion, renewal and abandon; it
/// is opaque text (a UUID in the built-in stores).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockToken(String);

impl LockToken {
    /// A token of the text a store generated (or read back from its lease row).
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// A fresh random token (UUID v4, 32 hex digits).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The token's text, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for LockToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An activity work item's lease: its id and the token that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActivityLease {
    /// The work item's id ([`ActivityWorkItem::id`]).
    pub id: i64,
    /// The lease's token ([`ActivityWorkItem::lock_token`]).
    pub lock_token: LockToken,
}

impl ActivityLease {
    /// The lease of work item `id` held by `lock_token`.
    pub fn new(id: i64, lock_token: LockToken) -> Self {
        Self { id, lock_token }
    }
}

/// What entitles a commit to write to its instance; the store checks it first and
/// refuses the commit ([`StoreError::LeaseLost`], writing nothing) when it no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitAuthority {
    /// A turn of a leased orchestration work item: the instance row must still hold this
    /// token.
    Leased(LockToken),
    /// A turn the worker ran without a lease on the instance, on activity results it holds
    /// itself: the commit goes through only if no live lease holds the instance, the
    /// instance is `Running` in the commit's execution and its history length is still the
    /// commit's, and every one of these activity leases is still held; the commit deletes
    /// those work items, so a result and the orchestrator's next step become durable in one
    /// transaction. The caller still holds the leases when the commit is refused and
    /// completes them with [`Store::complete_activities`].
    Unleased {
        /// The activity work items whose results the commit's events carry.
        applied_activities: Vec<ActivityLease>,
    },
    /// A leased entity turn ([`crate::EntityId`] instance ids): checked as
    /// [`Leased`](Self::Leased); the commit appends no history and its `output` is the
    /// entity's scheduler state.
    EntityTurn(LockToken),
}

impl CommitAuthority {
    /// The instance lease the commit presents, if any.
    pub fn lock_token(&self) -> Option<&LockToken> {
        match self {
            Self::Leased(token) | Self::EntityTurn(token) => Some(token),
            Self::Unleased { .. } => None,
        }
    }

    /// The activity work items the commit applies (and deletes); empty for a leased turn.
    pub fn applied_activities(&self) -> &[ActivityLease] {
        match self {
            Self::Unleased { applied_activities } => applied_activities,
            Self::Leased(_) | Self::EntityTurn(_) => &[],
        }
    }
}

/// A queued message whose stored event does not decode; see
/// [`OrchestrationWorkItem::corrupt_messages`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorruptMessage {
    /// The message's id (as in [`OrchestrationMessage::id`]).
    pub id: i64,
    /// What is wrong with it, e.g. the decode error.
    pub reason: String,
}

impl CorruptMessage {
    /// The corrupt message `id`, and what is wrong with it.
    pub fn new(id: i64, reason: impl Into<String>) -> Self {
        Self {
            id,
            reason: reason.into(),
        }
    }
}

/// An activity to enqueue.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewActivity {
    /// The sequence number of its `ActivityScheduled` event.
    pub scheduled_id: i64,
    /// The registered activity name.
    pub name: String,
    /// The input.
    pub input: Payload,
    /// The W3C trace context the activity's execution span continues (the scheduling
    /// orchestration's `activity:{name}` client span); stored with the work item and handed
    /// back in [`ActivityWorkItem::trace_context`], so it reaches whichever worker runs it.
    pub trace_context: Option<TraceContext>,
}

impl NewActivity {
    /// The activity `name` with `input`, scheduled by the event of sequence number
    /// `scheduled_id`; no trace context (set one with [`trace_context`](Self::trace_context)).
    pub fn new(scheduled_id: i64, name: impl Into<String>, input: Payload) -> Self {
        Self {
            scheduled_id,
            name: name.into(),
            input,
            trace_context: None,
        }
    }

    /// Sets the W3C trace context the activity's execution span continues (default none).
    #[must_use]
    pub fn trace_context(mut self, trace_context: TraceContext) -> Self {
        self.trace_context = Some(trace_context);
        self
    }

    /// The work item of this activity as created leased by a commit
    /// ([`OrchestrationCommit::lease_activities`]): first delivery, under `lock_token`.
    pub(crate) fn leased(
        &self,
        id: i64,
        instance_id: &InstanceId,
        execution_id: &ExecutionId,
        lock_token: &LockToken,
    ) -> ActivityWorkItem {
        ActivityWorkItem {
            id,
            instance_id: instance_id.clone(),
            execution_id: execution_id.clone(),
            scheduled_id: self.scheduled_id,
            name: self.name.clone(),
            input: self.input.clone(),
            attempt: 1,
            lock_token: lock_token.clone(),
            corrupt: None,
            trace_context: self.trace_context.clone(),
        }
    }
}

/// The result of one orchestration turn, committed atomically.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OrchestrationCommit {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its execution (stamped on the activities).
    pub execution_id: ExecutionId,
    /// What entitles the commit to write: the work item's lease, or (a turn without a
    /// lease) the activity results it applies; see [`CommitAuthority`].
    pub authority: CommitAuthority,
    /// The history length the turn started from; the store refuses the commit if it moved.
    pub history_len: usize,
    /// Events to append.
    pub events: Vec<HistoryEvent>,
    /// Ids of the messages the turn consumed.
    pub consumed: Vec<i64>,
    /// Activities to enqueue.
    pub activities: Vec<NewActivity>,
    /// The status after the turn.
    pub status: RuntimeStatus,
    /// The output, when completed.
    pub output: Option<Payload>,
    /// The failure, when failed.
    pub failure: Option<FailureDetails>,
    /// What the turn did to the custom status.
    pub custom_status: CustomStatus,
    /// The commit time.
    pub updated_at: DateTime<Utc>,
    /// Messages to enqueue: durable timers, results for a parent, events to others.
    pub messages: Vec<OutboundMessage>,
    /// Sub-orchestrations to create. One whose id belongs to a running instance is not
    /// created; its parent gets `SubOrchestrationFailed` instead.
    pub new_instances: Vec<NewInstance>,
    /// Set for continue-as-new: replaces the history and starts the new execution.
    pub continue_as_new: Option<NewExecution>,
    /// When set, the activities are created already leased to the committing worker for
    /// this long and returned by the commit, so the worker runs them at once without a
    /// fetch; they are durable before they run, and a dead worker's lease expires as usual.
    pub lease_activities: Option<Duration>,
}

/// What a turn did to its instance's custom status (`OrchestrationContext::set_custom_status`
/// and `clear_custom_status`); the last call of the turn counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CustomStatus {
    /// Left as it was.
    #[default]
    Unchanged,
    /// Set to this value.
    Set(Payload),
    /// Cleared: the status reads `None` from now on.
    Cleared,
}

impl CustomStatus {
    /// The change that makes the custom status `value` (`None`: cleared).
    pub fn to(value: Option<Payload>) -> Self {
        value.map_or(Self::Cleared, Self::Set)
    }

    /// Whether the custom status changes.
    pub fn is_changed(&self) -> bool {
        !matches!(self, Self::Unchanged)
    }

    /// The value after a change (`None` when cleared or unchanged).
    pub fn value(&self) -> Option<&Payload> {
        match self {
            Self::Set(value) => Some(value),
            Self::Unchanged | Self::Cleared => None,
        }
    }

    /// Applies the change to `current`.
    pub fn apply(self, current: &mut Option<Payload>) {
        match self {
            Self::Unchanged => {}
            Self::Set(value) => *current = Some(value),
            Self::Cleared => *current = None,
        }
    }
}

/// An activity fetched under a lease.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ActivityWorkItem {
    /// The store's id for the work item.
    pub id: i64,
    /// The instance that scheduled it.
    pub instance_id: InstanceId,
    /// That instance's execution.
    pub execution_id: ExecutionId,
    /// The sequence number of its `ActivityScheduled` event.
    pub scheduled_id: i64,
    /// The registered activity name.
    pub name: String,
    /// The input.
    pub input: Payload,
    /// Which delivery this is, from 1.
    pub attempt: u32,
    /// The lease's token; completion, renewal and abandon must present it.
    pub lock_token: LockToken,
    /// Why the stored input does not decode, when it does not (a corrupt row; `input` is
    /// then `null`): a store returns the item anyway instead of failing the whole fetch, and
    /// the dispatcher fails the activity with [`CORRUPT_HISTORY`](crate::error_types::CORRUPT_HISTORY)
    /// without running it, so only its orchestration sees the failure.
    pub corrupt: Option<String>,
    /// The trace context stored with it ([`NewActivity::trace_context`]); `None` when none
    /// was, or when the stored one does not decode.
    pub trace_context: Option<TraceContext>,
}

impl ActivityWorkItem {
    /// The work item `id` of `activity`, scheduled by the instance `instance_id` in
    /// execution `execution_id`, leased under `lock_token`: first delivery (`attempt` 1),
    /// not corrupt, with the activity's trace context.
    pub fn new(
        id: i64,
        instance_id: InstanceId,
        execution_id: ExecutionId,
        activity: NewActivity,
        lock_token: LockToken,
    ) -> Self {
        Self {
            id,
            instance_id,
            execution_id,
            scheduled_id: activity.scheduled_id,
            name: activity.name,
            input: activity.input,
            attempt: 1,
            lock_token,
            corrupt: None,
            trace_context: activity.trace_context,
        }
    }

    /// Sets which delivery this is, from 1 (default 1).
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Marks the item corrupt: its stored input does not decode, for `reason` (give the
    /// activity a `null` input then).
    #[must_use]
    pub fn corrupt(mut self, reason: impl Into<String>) -> Self {
        self.corrupt = Some(reason.into());
        self
    }

    /// The work item's lease: its id and token.
    pub fn lease(&self) -> ActivityLease {
        ActivityLease::new(self.id, self.lock_token.clone())
    }
}

/// An activity's result, to turn into a message for its instance.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ActivityCompletion {
    /// The work item's id.
    pub id: i64,
    /// The lease's token from the work item.
    pub lock_token: LockToken,
    /// The instance to notify.
    pub instance_id: InstanceId,
    /// Its execution.
    pub execution_id: ExecutionId,
    /// `ActivityCompleted` or `ActivityFailed`.
    pub event: HistoryEvent,
}

impl ActivityCompletion {
    /// The result `event` (`ActivityCompleted` or `ActivityFailed`) of the work item whose
    /// lease is `lease`, for the instance `instance_id` in execution `execution_id`.
    pub fn new(
        lease: ActivityLease,
        instance_id: InstanceId,
        execution_id: ExecutionId,
        event: HistoryEvent,
    ) -> Self {
        Self {
            id: lease.id,
            lock_token: lease.lock_token,
            instance_id,
            execution_id,
            event,
        }
    }
}

/// Filters and paging for [`Store::list_instances`].
///
/// Follows Durable Functions' `OrchestrationStatusQueryCondition`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InstanceQuery {
    /// Only these statuses; empty means all.
    pub statuses: Vec<RuntimeStatus>,
    /// Only instances created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only instances created before this time.
    pub created_to: Option<DateTime<Utc>>,
    /// Only ids starting with this prefix (compared by bytes, case-sensitive; an empty
    /// prefix is no filter).
    ///
    /// A listing with a prefix reads the primary key's range of ids from `prefix` to the
    /// prefix's successor and comes in **instance-id order** (byte order of the UTF-8 ids),
    /// as Durable Functions' Azure Storage provider lists a prefix query from its instances
    /// table, keyed by instance id; every other listing comes in creation order. The other
    /// fields filter that range, so a page costs the prefix's rows it reads, whatever the
    /// backlog holds (ARCHITECTURE.md, "Access paths"). A prefix starting with `@` lists
    /// entities ([`Store::list_instances`]).
    pub instance_id_prefix: Option<String>,
    /// Only instances of the orchestration of this name (exactly as registered and stored,
    /// `process_order`). Without a prefix the listing reads the name's rows in creation
    /// order (an index of its own: a rare name costs its page); with one, it filters the
    /// prefix's range. Not in Durable Functions' query condition; the dashboard's name
    /// filter uses it.
    pub name: Option<String>,
    /// At most this many per page (default 100).
    ///
    /// At most [`MAX_PAGE_SIZE`]; a larger value asks for that many, and 0 for one.
    pub page_size: usize,
    /// The token of the previous page's end.
    pub continuation_token: Option<String>,
    /// Only sub-orchestrations of this parent.
    pub parent_instance_id: Option<InstanceId>,
}

impl Default for InstanceQuery {
    fn default() -> Self {
        Self {
            statuses: Vec::new(),
            created_from: None,
            created_to: None,
            parent_instance_id: None,
            instance_id_prefix: None,
            name: None,
            page_size: 100,
            continuation_token: None,
        }
    }
}

setters! {
    impl InstanceQuery {
        /// Lists only these statuses (default empty: every status).
        statuses: Into(Vec<RuntimeStatus>);
        /// Lists only instances created at or after this time (default: no bound).
        created_from: Some(DateTime<Utc>);
        /// Lists only instances created before this time (default: no bound).
        created_to: Some(DateTime<Utc>);
        /// Lists only ids starting with this prefix, in instance-id order (default: none;
        /// see the field for the order and the cost).
        instance_id_prefix: Some(String);
        /// Lists only instances of the orchestration of this registered name (default: every
        /// name).
        name: Some(String);
        /// Sets the most instances per page (a count; default 100, at most
        /// [`MAX_PAGE_SIZE`]).
        page_size: usize;
        /// Sets where the page starts: the previous page's `continuation_token` (default
        /// `None`: the first page).
        continuation_token: Option<String>;
        /// Lists only sub-orchestrations of this parent (default: any).
        parent_instance_id: Some(InstanceId);
    }
}

/// One page of [`Store::list_instances`], ordered by creation time then instance id, or by
/// instance id alone for a listing by [`InstanceQuery::instance_id_prefix`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InstancePage {
    /// The instances.
    pub instances: Vec<OrchestrationStatus>,
    /// The token for the next page; `None` on the last.
    pub continuation_token: Option<String>,
}

impl InstancePage {
    /// A page of `instances`, with the token of the next page (`None` on the last).
    pub fn new(instances: Vec<OrchestrationStatus>, continuation_token: Option<String>) -> Self {
        Self {
            instances,
            continuation_token,
        }
    }
}

/// How a store reads one of its access paths: the statement and the database's plan for it
/// (see ARCHITECTURE.md, "Access paths"). The SQL stores list theirs with `query_plans`, so
/// operators and tests can check that no path scans the backlog.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueryPlan {
    /// What the statement is for, e.g. `"fetch: due instances"`.
    pub access_path: &'static str,
    /// The statement.
    pub sql: String,
    /// The plan, one line per step, as the database prints it (SQLite's `EXPLAIN QUERY
    /// PLAN` details; PostgreSQL's `EXPLAIN` lines).
    pub plan: Vec<String>,
}

impl QueryPlan {
    /// The plan `plan` (one line per step) of the statement `sql` of `access_path`.
    pub fn new(access_path: &'static str, sql: impl Into<String>, plan: Vec<String>) -> Self {
        Self {
            access_path,
            sql: sql.into(),
            plan,
        }
    }
}

/// The listing access paths every SQL store explains in `query_plans`: first and deep
/// pages by status, by created time, and of everything; `list` makes a store's statement
/// for a query, one status (`None`: any) and a keyset position.
pub(crate) fn listing_plan_paths(
    list: impl Fn(&InstanceQuery, Option<RuntimeStatus>, Option<&(i64, String)>) -> String,
) -> Vec<(&'static str, String)> {
    let after = (0, String::new());
    let by_status = InstanceQuery {
        statuses: vec![RuntimeStatus::Completed],
        ..InstanceQuery::default()
    };
    let by_created = InstanceQuery {
        created_from: Some(DateTime::<Utc>::UNIX_EPOCH),
        ..InstanceQuery::default()
    };
    let by_name = InstanceQuery {
        name: Some("name".to_owned()),
        ..InstanceQuery::default()
    };
    let by_prefix = InstanceQuery {
        instance_id_prefix: Some("prefix".to_owned()),
        ..InstanceQuery::default()
    };
    // `list_entities`: an entity name's `@name@` prefix, running entities only.
    let entities = InstanceQuery {
        instance_id_prefix: Some("@name@".to_owned()),
        statuses: vec![RuntimeStatus::Running],
        ..InstanceQuery::default()
    };
    // A recursive terminate's listing of a parent's unfinished sub-orchestrations.
    let children = InstanceQuery {
        parent_instance_id: InstanceId::new("parent").ok(),
        statuses: vec![RuntimeStatus::Running, RuntimeStatus::Pending],
        ..InstanceQuery::default()
    };
    let prefix_after = (0, "prefix-1".to_owned());
    let completed = Some(RuntimeStatus::Completed);
    vec![
        (
            "list: by id prefix, first page",
            list(&by_prefix, None, None),
        ),
        (
            "list: by id prefix, deep page",
            list(&by_prefix, None, Some(&prefix_after)),
        ),
        (
            "list: entities by name, deep page",
            list(&entities, None, Some(&(0, "@name@key".to_owned()))),
        ),
        ("list: by name, first page", list(&by_name, None, None)),
        (
            "list: by name, deep page",
            list(&by_name, None, Some(&after)),
        ),
        (
            "list: by status, first page",
            list(&by_status, completed, None),
        ),
        (
            "list: by status, deep page",
            list(&by_status, completed, Some(&after)),
        ),
        (
            "list: by created time, first page",
            list(&by_created, None, None),
        ),
        (
            "list: by created time, deep page",
            list(&by_created, None, Some(&after)),
        ),
        (
            "list: all, deep page",
            list(&InstanceQuery::default(), None, Some(&after)),
        ),
        (
            "list: children of a parent, deep page",
            list(&children, None, Some(&after)),
        ),
    ]
}

/// Where a listing page starts (the continuation token's keyset position, if any) and how
/// many it holds.
///
/// # Errors
/// [`StoreError::InvalidContinuationToken`] for a token no listing handed out.
pub(crate) fn list_position(
    query: &InstanceQuery,
) -> Result<(Option<(i64, String)>, usize), StoreError> {
    let after = query
        .continuation_token
        .as_deref()
        .map(decode_continuation)
        .transpose()?;
    Ok((after, page_size(query)))
}

/// The terminal statuses a purge by `query` deletes (every terminal status when it names
/// none; non-terminal statuses never).
pub(crate) fn purge_statuses(query: &PurgeQuery) -> Vec<RuntimeStatus> {
    let wanted = |s: &RuntimeStatus| query.statuses.is_empty() || query.statuses.contains(s);
    RuntimeStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal() && wanted(s))
        .collect()
}

/// The status of each keyset range a listing by `query` reads (`None`: any status); the
/// ranges' rows are merged with [`merge_ranges`]. A listing by id prefix reads one range
/// of the primary key in id order, and one of a parent's children one range of
/// `instances_by_parent`, their statuses a filter on it.
pub(crate) fn list_statuses(query: &InstanceQuery) -> Vec<Option<RuntimeStatus>> {
    if query.statuses.is_empty()
        || list_prefix(query).is_some()
        || query.parent_instance_id.is_some()
    {
        vec![None]
    } else {
        query.statuses.iter().copied().map(Some).collect()
    }
}

/// The id prefix a listing by `query` reads the primary key's range of: `None` when it
/// has none or an empty one (which every id has).
pub(crate) fn list_prefix(query: &InstanceQuery) -> Option<&str> {
    query
        .instance_id_prefix
        .as_deref()
        .filter(|prefix| !prefix.is_empty())
}

/// The bounds of the id range a listing by `prefix` reads after the keyset position
/// `after` (its id part): the start, and whether it is exclusive (the token's id) or
/// inclusive (the prefix); and the end (exclusive), the smallest string above every string
/// that starts with `prefix`, or `None` when there is none (`prefix` is empty or only
/// `char::MAX`). Strings compare by code point, which for UTF-8 is byte order: SQLite's
/// `BINARY` collation, PostgreSQL's `"C"`, Rust's `str` order.
pub(crate) fn prefix_range<'a>(
    prefix: &'a str,
    after: Option<&'a (i64, String)>,
) -> ((&'a str, bool), Option<String>) {
    let start = match after {
        Some((_, id)) if id.as_str() >= prefix => (id.as_str(), true),
        _ => (prefix, false),
    };
    (start, prefix_successor(prefix))
}

/// The smallest string greater than every string starting with `prefix`: `prefix` without
/// its trailing `char::MAX`s, its last char then replaced by the next (surrogates are not
/// chars, so `U+D7FF` is followed by `U+E000`); `None` when no char is left.
fn prefix_successor(prefix: &str) -> Option<String> {
    let trimmed = prefix.trim_end_matches(char::MAX);
    let last = trimmed.chars().next_back()?;
    let next = match last {
        '\u{D7FF}' => '\u{E000}',
        c => char::from_u32(u32::from(c) + 1)?,
    };
    let mut successor = trimmed[..trimmed.len() - last.len_utf8()].to_owned();
    successor.push(next);
    Some(successor)
}

/// Merges the rows of several keyset ranges (each sorted, up to `page_size + 1` long) into
/// one page in (creation time, instance id) order.
pub(crate) fn merge_ranges(mut rows: Vec<OrchestrationStatus>, page_size: usize) -> InstancePage {
    if rows.len() > page_size + 1 {
        rows.sort_by(|a, b| {
            (a.created_time, &a.instance_id).cmp(&(b.created_time, &b.instance_id))
        });
        rows.truncate(page_size + 1);
    }
    into_page(rows, page_size)
}

/// A lease duration in whole milliseconds, saturating far in the future.
pub(crate) fn lease_millis(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Cuts `matches` (sorted, up to `page_size + 1` long) into a page, with a continuation
/// token when there was one more.
pub(crate) fn into_page(mut matches: Vec<OrchestrationStatus>, page_size: usize) -> InstancePage {
    let more = matches.len() > page_size;
    matches.truncate(page_size);
    let continuation_token = if more {
        matches
            .last()
            .map(|s| encode_continuation(s.created_time, &s.instance_id))
    } else {
        None
    };
    InstancePage {
        instances: matches,
        continuation_token,
    }
}

/// The most instances one listing page holds (a larger [`InstanceQuery::page_size`] is cut
/// to it, so no page size can overflow a store's query).
pub const MAX_PAGE_SIZE: usize = 10_000;

/// A listing's page size as the stores use it: 1 to [`MAX_PAGE_SIZE`].
pub(crate) fn page_size(query: &InstanceQuery) -> usize {
    query.page_size.clamp(1, MAX_PAGE_SIZE)
}

/// A page position: (creation time in microseconds, instance id).
pub(crate) fn encode_continuation(created_at: DateTime<Utc>, id: &InstanceId) -> String {
    format!("{}:{}", created_at.timestamp_micros(), id)
}

pub(crate) fn decode_continuation(token: &str) -> Result<(i64, String), StoreError> {
    let invalid = || StoreError::InvalidContinuationToken(token.to_owned());
    let (micros, id) = token.split_once(':').ok_or_else(invalid)?;
    Ok((micros.parse().map_err(|_| invalid())?, id.to_owned()))
}

/// Where instances, histories and queues are kept.
///
/// Implementations: [`memory::MemoryStore`] (tests, benchmarks), `sqlite::SqliteStore`
/// (the embedded default) and `postgres::PostgresStore` (many workers on one database,
/// feature `postgres`). Every method is safe to call from several tasks at once; each
/// commit is atomic.
///
/// Entities live in the same tables as instances, under their instance id `@name@key`
/// ([`EntityId::instance_id`](crate::EntityId::instance_id)): a message for an entity that
/// has no row yet creates one (status `Pending`), whether it comes from
/// [`enqueue_message`](Store::enqueue_message) or from a commit's `messages`; an entity
/// turn commits with no history events and its scheduler state in `output`.
#[async_trait::async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Creates an instance in status `Pending` and enqueues its `ExecutionStarted`.
    ///
    /// An existing id is reused only when that instance is terminal (Durable Functions'
    /// default `NonRunningStates` rule): its old history and messages are deleted.
    ///
    /// # Errors
    /// [`StoreError::InstanceAlreadyExists`] when the id belongs to a non-terminal instance.
    async fn create_instance(&self, instance: NewInstance) -> Result<(), StoreError>;

    /// Leases up to `max` instances that have visible messages and no live lease.
    ///
    /// A store may also lease instances ahead, in the transaction of the client write that
    /// gave them their work, for the dispatchers of this process (the PostgreSQL store does,
    /// for the receivers of raised events and other messages, while a dispatcher fetches
    /// from it): later fetches return those beside the due work they claim. Such a store
    /// releases what it holds when [`release_prefetched`](Store::release_prefetched) is
    /// called.
    async fn fetch_orchestration_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError>;

    /// Releases the instances this store leased ahead for this process's dispatchers and
    /// that no fetch has taken yet (see
    /// [`fetch_orchestration_work_items`](Store::fetch_orchestration_work_items)), so any
    /// worker fetches them at once instead of after their leases expire; until the next
    /// fetch, the store leases nothing ahead. A worker calls it when its orchestration
    /// dispatcher has stopped. The default does nothing (a store that leases nothing
    /// ahead); errors are the store's to log (the leases then expire).
    async fn release_prefetched(&self) {}

    /// Commits turns; each gets its own result ([`StoreError::LeaseLost`] when its lease
    /// was taken over or its history moved), and all that succeed commit together. A
    /// successful commit returns the activities it created leased (see
    /// [`OrchestrationCommit::lease_activities`]); none otherwise.
    async fn commit_orchestrations(
        &self,
        commits: Vec<OrchestrationCommit>,
    ) -> Result<Vec<Result<Vec<ActivityWorkItem>, StoreError>>, StoreError>;

    /// Releases a lease without committing, so the messages are fetched again, not before
    /// `retry_after` from now (`Duration::ZERO`: at once). The dispatcher backs off this way
    /// when a turn fails again and again (as Durable Functions' Azure Storage provider
    /// abandons a message with a visibility delay).
    async fn abandon_orchestration_work_item(
        &self,
        instance_id: &InstanceId,
        lock_token: &LockToken,
        retry_after: Duration,
    ) -> Result<(), StoreError>;

    /// Leases up to `max` activity work items.
    async fn fetch_activity_work_items(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError>;

    /// Completes activities: each one whose lease is still held is deleted and its result
    /// enqueued for its instance, atomically; a completion whose lease was lost is dropped
    /// (the current lease holder will produce the result).
    ///
    /// With `lease_instances`, each instance that received a result and is neither leased
    /// nor suspended is leased in the same transaction and returned as a work item, so the
    /// caller can run its next turn without a separate fetch.
    async fn complete_activities(
        &self,
        completions: Vec<ActivityCompletion>,
        lease_instances: Option<Duration>,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError>;

    /// Extends the leases of activities still running (those still held by their token).
    async fn renew_activity_leases(
        &self,
        items: Vec<ActivityLease>,
        lease: Duration,
    ) -> Result<(), StoreError>;

    /// Releases activity leases so other workers take the items at once (shutdown).
    async fn abandon_activities(&self, items: Vec<ActivityLease>) -> Result<(), StoreError>;

    /// Reads an instance's current status; `None` when unknown.
    async fn get_status(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<OrchestrationStatus>, StoreError>;

    /// Lists instances matching `query`, one page at a time. Entity rows are left out unless
    /// `instance_id_prefix` asks for them (it starts with `@`).
    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError>;

    /// Reads the current execution's history; `None` when the instance is unknown.
    async fn read_history(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Option<Vec<HistoryEvent>>, StoreError>;

    /// Enqueues `message` if its instance exists and has one of the `accept` statuses,
    /// atomically; returns the status it had. A message for an entity that does not exist
    /// yet creates it (and reports `Pending`). A rewind (`ExecutionRewound`) also sets the
    /// instance `Pending` and clears its failure in the same step (see
    /// [`status_on_enqueue`]), so nobody waiting for it reads the old failure as its end.
    ///
    /// # Errors
    /// [`StoreError::InstanceNotFound`], or [`StoreError::InstanceState`] with the status
    /// that refused it.
    async fn enqueue_message(
        &self,
        message: OutboundMessage,
        accept: &[RuntimeStatus],
    ) -> Result<RuntimeStatus, StoreError>;

    /// Deletes a terminal instance with its history and queued messages.
    ///
    /// # Errors
    /// [`StoreError::InstanceNotFound`], or [`StoreError::InstanceState`] when it has not
    /// finished.
    async fn purge_instance(&self, instance_id: &InstanceId) -> Result<(), StoreError>;

    /// Deletes every terminal instance that matches `query`; returns how many.
    async fn purge_instances(&self, query: &PurgeQuery) -> Result<usize, StoreError>;

    /// The earliest future time at which an instance becomes due: a queued message becomes
    /// visible (a durable timer fires), or the lease of an instance with queued work
    /// expires (a dead worker's turn is taken over); so an idle dispatcher sleeps exactly
    /// until then. Served by an index (or ordered set) of due times, never a pass over the
    /// queue.
    async fn next_visible_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Whether an activity work item of `instance_id` is queued or running (leased). A
    /// rewind waits until the failed execution's activities have all finished (their
    /// results are dropped with it), so that none of them delivers a result after the
    /// rewind to the call made again. Served by the activities' instance index.
    async fn has_activity_work(&self, instance_id: &InstanceId) -> Result<bool, StoreError>;

    /// How many instances and entities the task hub holds in each status, and how much work
    /// is queued; see [`TaskHubStats`]. The counts by status are kept as rows change (read in
    /// O(statuses)); the backlog is counted from the queues' indexes when read.
    async fn task_hub_stats(&self) -> Result<TaskHubStats, StoreError>;

    /// The wake-up channel for dispatchers and waiting clients in this process.
    fn notifier(&self) -> &Notifier;

    /// The clock this store runs on; its worker and clients read the time from it too.
    /// [`Clock::System`] unless the store was made with a virtual clock (only the memory
    /// store supports one: [`MemoryStore::with_clock`](memory::MemoryStore::with_clock)).
    fn clock(&self) -> Clock {
        Clock::System
    }
}

/// The message that tells a parent its sub-orchestration could not be created.
pub(crate) fn failed_sub_orchestration(
    parent: &InstanceId,
    child: &NewInstance,
) -> Option<OutboundMessage> {
    let EventKind::ExecutionStarted {
        parent: Some(link), ..
    } = &child.started.kind
    else {
        return None;
    };
    Some(OutboundMessage {
        instance_id: parent.clone(),
        execution_id: Some(link.execution_id.clone()),
        visible_at: child.created_at,
        event: HistoryEvent::new(
            child.created_at,
            EventKind::SubOrchestrationFailed {
                scheduled_id: link.scheduled_id,
                failure: FailureDetails::new(
                    SUB_ORCHESTRATION_ID_IN_USE,
                    format!(
                        "could not start sub-orchestration `{}`: instance id {} belongs to an instance that has not finished",
                        child.name, child.instance_id
                    ),
                ),
            },
        ),
    })
}
