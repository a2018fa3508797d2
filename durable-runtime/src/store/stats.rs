//! What a task hub holds right now, for a dashboard, a metrics scrape or an operator:
//! [`TaskHubStats`], read by [`Store::task_hub_stats`](super::Store::task_hub_stats).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::status::RuntimeStatus;

/// A snapshot of a task hub: how many instances and entities it holds in each status, and
/// how much work is queued. Read with
/// [`Store::task_hub_stats`](super::Store::task_hub_stats) or
/// [`DurableClient::task_hub_stats`](crate::DurableClient::task_hub_stats).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskHubStats {
    /// Orchestration instances by runtime status (entities are not among them).
    pub instances: InstanceCounts,
    /// Entity rows by runtime status: `Pending` before an entity's first operation ran,
    /// `Running` after.
    pub entities: InstanceCounts,
    /// Queued work.
    pub backlog: Backlog,
    /// The store clock's time when this was read.
    pub as_of: DateTime<Utc>,
}

impl TaskHubStats {
    /// A snapshot of `instances` and `entities` counts and the `backlog`, read at `as_of`
    /// (what a store's [`task_hub_stats`](super::Store::task_hub_stats) returns).
    pub fn new(
        instances: InstanceCounts,
        entities: InstanceCounts,
        backlog: Backlog,
        as_of: DateTime<Utc>,
    ) -> Self {
        Self {
            instances,
            entities,
            backlog,
            as_of,
        }
    }
}

/// How many rows a task hub holds in each runtime status.
///
/// The stores keep these counts as rows change (SQLite and PostgreSQL with triggers on the
/// instances table, the memory store in its status index), so reading them costs the same
/// with ten instances or ten million: no pass over the instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceCounts {
    /// By status code, so a code this build does not know is counted too (under
    /// [`RuntimeStatus::Unknown`]).
    by_code: BTreeMap<i32, u64>,
}

impl InstanceCounts {
    /// Counts from `(status code, count)` pairs ([`RuntimeStatus::code`]); a code seen
    /// twice adds up, and zero counts are left out.
    pub fn from_codes(pairs: impl IntoIterator<Item = (i32, u64)>) -> Self {
        let mut by_code = BTreeMap::new();
        for (code, count) in pairs {
            *by_code.entry(code).or_insert(0) += count;
        }
        by_code.retain(|_, count| *count > 0);
        Self { by_code }
    }

    /// How many rows have `status`; for [`RuntimeStatus::Unknown`], how many hold a status
    /// code this build does not know.
    pub fn get(&self, status: RuntimeStatus) -> u64 {
        if status == RuntimeStatus::Unknown {
            return self
                .by_code
                .iter()
                .filter(|(code, _)| RuntimeStatus::from_code(**code).is_none())
                .map(|(_, count)| count)
                .sum();
        }
        self.by_code.get(&status.code()).copied().unwrap_or(0)
    }

    /// How many rows in all.
    pub fn total(&self) -> u64 {
        self.by_code.values().sum()
    }

    /// Every status with at least one row, with its count, in status-code order (rows with
    /// an unknown code last, as one [`RuntimeStatus::Unknown`] entry).
    pub fn iter(&self) -> impl Iterator<Item = (RuntimeStatus, u64)> + '_ {
        let unknown = self.get(RuntimeStatus::Unknown);
        RuntimeStatus::ALL
            .into_iter()
            .map(|status| (status, self.get(status)))
            .chain(std::iter::once((RuntimeStatus::Unknown, unknown)))
            .filter(|(_, count)| *count > 0)
    }
}

/// The work queued in a task hub.
///
/// Unlike [`InstanceCounts`], these are counted when read, from the queues' indexes (the
/// memory store walks its message map): the cost grows with the backlog (about a
/// millisecond per 100,000 queued messages), which suits a scrape or a dashboard refresh
/// every few seconds, not a loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backlog {
    /// Orchestration and entity messages visible now: work ready for a turn.
    pub due_messages: u64,
    /// Messages not visible yet: durable timers pending (and retries' back-off timers).
    pub future_messages: u64,
    /// Activity work items waiting for a worker (never leased, or their lease expired).
    pub queued_activities: u64,
    /// Activity work items leased by a worker: running now.
    pub running_activities: u64,
    /// When the next message becomes visible or the next lease expires (the idle
    /// dispatcher's wake-up time); `None` when nothing is scheduled.
    pub next_due_at: Option<DateTime<Utc>>,
}

/// A [`TaskHubStats`] from what the SQL stores read: the `instance_counts` rows as
/// `(entity, status code, count)`, due and all messages, queued and all activities, the
/// next due time and the time read (ms).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn sql_stats(
    counts: impl IntoIterator<Item = (bool, i32, i64)>,
    (due_messages, messages): (i64, i64),
    (queued_activities, activities): (i64, i64),
    next_due_at: Option<i64>,
    now: i64,
) -> TaskHubStats {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let (entities, instances): (Vec<_>, Vec<_>) =
        counts.into_iter().partition(|(entity, _, _)| *entity);
    let by_code = |rows: Vec<(bool, i32, i64)>| {
        InstanceCounts::from_codes(rows.into_iter().map(|(_, code, n)| (code, count(n))))
    };
    TaskHubStats {
        instances: by_code(instances),
        entities: by_code(entities),
        backlog: Backlog {
            due_messages: count(due_messages),
            future_messages: count(messages - due_messages),
            queued_activities: count(queued_activities),
            running_activities: count(activities - queued_activities),
            next_due_at: next_due_at.and_then(DateTime::from_timestamp_millis),
        },
        as_of: DateTime::from_timestamp_millis(now).unwrap_or_default(),
    }
}

/// The changes a transaction makes to the counts by status, written by the SQL stores in
/// that same transaction (one upsert per changed `(entity, status)`), so the counts commit
/// or roll back with the rows they count. Keeping them in the stores' own write paths
/// rather than in triggers costs a few map updates per turn: triggers (tried first) added
/// 16 % to W4's instructions on SQLite.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[derive(Debug, Default)]
pub(crate) struct CountDeltas(BTreeMap<(bool, i32), i64>);

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl CountDeltas {
    fn add(&mut self, instance_id: &str, status: i32, by: i64) {
        *self
            .0
            .entry((instance_id.starts_with('@'), status))
            .or_insert(0) += by;
    }

    /// A row of `instance_id` was inserted with status code `status`.
    pub(crate) fn inserted(&mut self, instance_id: &str, status: i32) {
        self.add(instance_id, status, 1);
    }

    /// A row of `instance_id` with status code `status` was deleted.
    pub(crate) fn deleted(&mut self, instance_id: &str, status: i32) {
        self.add(instance_id, status, -1);
    }

    /// The row of `instance_id` went from status code `from` to `to`.
    pub(crate) fn moved(&mut self, instance_id: &str, from: i32, to: i32) {
        if from != to {
            self.add(instance_id, from, -1);
            self.add(instance_id, to, 1);
        }
    }

    /// Adds `other`'s changes to these.
    pub(crate) fn merge(&mut self, other: CountDeltas) {
        for ((entity, status), by) in other.0 {
            *self.0.entry((entity, status)).or_insert(0) += by;
        }
    }

    /// The non-zero changes as `(entity, status code, change)`, in key order (so
    /// concurrent writers lock counter rows in one order).
    pub(crate) fn take(&mut self) -> Vec<(bool, i32, i64)> {
        std::mem::take(&mut self.0)
            .into_iter()
            .filter(|(_, by)| *by != 0)
            .map(|((entity, status), by)| (entity, status, by))
            .collect()
    }
}
