//! Instances leased ahead by client writes for this process's dispatchers.
//!
//! A raised event (or any other message) for a parked instance used to write the
//! instance's row three times: the client's batch moved its `due_at` forward (`MARK_DUE`),
//! the dispatcher's fetch claimed it (`FETCH_DUE`), and the turn's commit released it.
//! While a dispatcher of this process fetches from the store, the client's batch leases the
//! receivers instead (`LEASE_NAMED`, in the same transaction as the messages, reading them
//! back) and queues the work items here; the next fetch returns them before it claims
//! anything else. One write of the row and one statement per raise fewer, and the instance
//! runs in the process that raised the event (as an activity result's instance runs in the
//! process that ran the activity: `complete_activities`' `lease_instances`).
//!
//! Bounds, so that a lease never waits long in the queue:
//! - only while the store has a fetcher: from a fetch until
//!   [`Store::release_prefetched`](crate::store::Store::release_prefetched) (a worker calls
//!   it when its dispatcher stops), never in a process that only runs clients;
//! - at most [`CAPACITY`] items queued;
//! - nothing more while the oldest queued item has waited longer than [`STALE`] (the
//!   dispatcher is not draining the queue: busy, or gone without a shutdown);
//! - a fetch returns an item only while at least half of its lease is left; it releases
//!   the others so any worker fetches them at once.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::store::OrchestrationWorkItem;

/// The most work items queued ahead.
const CAPACITY: usize = 1024;

/// How long the oldest queued item may wait before client writes stop leasing ahead.
const STALE: Duration = Duration::from_secs(1);

/// The queue of work items leased ahead, and whether (and for how long) to lease more.
#[derive(Debug, Default)]
pub(super) struct Prefetched {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The lease of the last fetch; `None` before the first fetch and after a release.
    lease: Option<Duration>,
    /// Leased items, oldest first, with when they were leased.
    items: VecDeque<(Instant, OrchestrationWorkItem)>,
}

impl Prefetched {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fetch with `lease` is under way: client writes may lease ahead for that long.
    /// Returns up to `max` queued items that still hold at least half of their lease, and
    /// (second) the items whose lease is running out, to release.
    pub(super) fn take(
        &self,
        max: usize,
        lease: Duration,
    ) -> (Vec<OrchestrationWorkItem>, Vec<OrchestrationWorkItem>) {
        let mut state = self.state();
        state.lease = Some(lease);
        let mut fresh = Vec::new();
        let mut stale = Vec::new();
        while fresh.len() < max {
            let Some((leased_at, item)) = state.items.pop_front() else {
                break;
            };
            // The item's own lease (the one it was leased with) may differ from this fetch's.
            if leased_at.elapsed() <= lease / 2 {
                fresh.push(item);
            } else {
                stale.push(item);
            }
        }
        (fresh, stale)
    }

    /// How long to lease ahead for, and how many items at most, or `None` if nothing
    /// should be leased ahead now (no fetcher, the queue full or not drained).
    pub(super) fn room(&self) -> Option<(Duration, usize)> {
        let state = self.state();
        let lease = state.lease?;
        if state
            .items
            .front()
            .is_some_and(|(leased_at, _)| leased_at.elapsed() > STALE)
        {
            return None;
        }
        let room = CAPACITY.saturating_sub(state.items.len());
        (room > 0).then_some((lease, room))
    }

    /// Queues `items`, leased at `leased_at` by a committed client write. While no
    /// fetcher is registered (a release came between the lease and its commit) they come
    /// back, to release.
    pub(super) fn push(
        &self,
        leased_at: Instant,
        items: Vec<OrchestrationWorkItem>,
    ) -> Vec<OrchestrationWorkItem> {
        let mut state = self.state();
        if state.lease.is_none() {
            return items;
        }
        state
            .items
            .extend(items.into_iter().map(|item| (leased_at, item)));
        Vec::new()
    }

    /// Stops leasing ahead until the next fetch; returns what is queued, to release.
    pub(super) fn release_all(&self) -> Vec<OrchestrationWorkItem> {
        let mut state = self.state();
        state.lease = None;
        state.items.drain(..).map(|(_, item)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ExecutionId, InstanceId};
    use crate::status::RuntimeStatus;
    use crate::store::LockToken;

    fn item(id: &str) -> OrchestrationWorkItem {
        OrchestrationWorkItem::new(
            InstanceId::new(id).expect("id"),
            ExecutionId::generate(),
            "o",
            RuntimeStatus::Running,
            LockToken::generate(),
        )
    }

    fn ids(items: &[OrchestrationWorkItem]) -> Vec<&str> {
        items.iter().map(|i| i.instance_id.as_str()).collect()
    }

    #[test]
    fn nothing_is_leased_ahead_without_a_fetcher() {
        let queue = Prefetched::default();
        assert_eq!(queue.room(), None);
        // A write that leased before a release gets its items back, to release.
        assert_eq!(ids(&queue.push(Instant::now(), vec![item("a")])), ["a"]);
        let lease = Duration::from_secs(30);
        let (fresh, stale) = queue.take(10, lease);
        assert!(fresh.is_empty() && stale.is_empty());
        assert_eq!(queue.room(), Some((lease, CAPACITY)));
        assert!(queue.push(Instant::now(), vec![item("b")]).is_empty());
        assert_eq!(ids(&queue.release_all()), ["b"]);
        assert_eq!(queue.room(), None);
    }

    #[test]
    fn a_fetch_takes_the_oldest_first_up_to_its_max() {
        let queue = Prefetched::default();
        let lease = Duration::from_secs(30);
        let _ = queue.take(1, lease);
        assert!(
            queue
                .push(Instant::now(), vec![item("a"), item("b"), item("c")])
                .is_empty()
        );
        assert_eq!(queue.room(), Some((lease, CAPACITY - 3)));
        let (fresh, stale) = queue.take(2, lease);
        assert_eq!(ids(&fresh), ["a", "b"]);
        assert!(stale.is_empty());
        let (fresh, _) = queue.take(2, lease);
        assert_eq!(ids(&fresh), ["c"]);
    }

    #[test]
    fn a_full_or_undrained_queue_takes_no_more() {
        let queue = Prefetched::default();
        let lease = Duration::from_secs(30);
        let _ = queue.take(1, lease);
        let many = (0..CAPACITY).map(|n| item(&format!("i{n}"))).collect();
        assert!(queue.push(Instant::now(), many).is_empty());
        assert_eq!(queue.room(), None, "full");
        let _ = queue.release_all();
        let _ = queue.take(1, lease);
        let long_ago = Instant::now()
            .checked_sub(STALE * 2)
            .expect("a monotonic clock this far back");
        assert!(queue.push(long_ago, vec![item("old")]).is_empty());
        assert_eq!(queue.room(), None, "not drained");
    }

    #[test]
    fn an_item_whose_lease_runs_out_is_released_not_fetched() {
        let queue = Prefetched::default();
        let lease = Duration::from_secs(2);
        let _ = queue.take(1, lease);
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(5))
            .expect("a monotonic clock this far back");
        assert!(queue.push(long_ago, vec![item("old")]).is_empty());
        assert!(queue.push(Instant::now(), vec![item("new")]).is_empty());
        let (fresh, stale) = queue.take(10, lease);
        assert_eq!(ids(&fresh), ["new"]);
        assert_eq!(ids(&stale), ["old"]);
    }
}
