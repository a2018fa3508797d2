//! Instances leased ahead by client writes for this process's dispatchers.
//!
//! A raised event (or any other message) for a parked instance used to write the
//! instance's row three times: the client's batch moved its `due_at` forward (`MARK_DUE`),
//! the dispatcher's fetch claimed it (`FETCH_DUE`), and the turn's commit released it.
//! While a dispatcher of this process fetches from the store, the client's batch leases the
//! receivers instead (`LEASE_LOCKED`, on the rows it has locked, in the same transaction as
//! the messages, reading them back) and queues the work items here; the next fetch takes
//! them (up to half of its batch before it claims due work, then the rest of its room).
//! One write of the row and one statement per raise fewer, and the instance runs in the
//! process that raised the event (as an activity result's instance runs in the process
//! that ran the activity: `complete_activities`' `lease_instances`).
//!
//! Bounds, so that a lease never waits long in the queue:
//! - only while the store has a fetcher: from a fetch until
//!   [`Store::release_prefetched`](crate::store::Store::release_prefetched) (a worker calls
//!   it when its dispatcher stops), never in a process that only runs clients;
//! - a batch leases ahead only while fewer than [`CAPACITY`] items are queued, at most as
//!   many as are missing (the store's three client writers check at once, so the queue
//!   can pass the bound by what two batches add);
//! - an item that has waited longer than [`STALE`] (the dispatcher is busy, or gone
//!   without a shutdown) is released by the next client batch, and one whose own lease is
//!   half gone by the next fetch, so any worker fetches it at once.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::store::OrchestrationWorkItem;

/// The most work items queued ahead (see the module docs for how far it may be passed).
const CAPACITY: usize = 1024;

/// How long an item may wait in the queue before a client batch releases it.
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
    /// Leased items, oldest first.
    items: VecDeque<Queued>,
}

#[derive(Debug)]
struct Queued {
    leased_at: Instant,
    lease: Duration,
    item: OrchestrationWorkItem,
}

/// What a client batch may lease ahead: for how long and how many at most (`None`:
/// nothing now), and the queued items that waited too long, to release after its commit.
pub(super) struct Room {
    pub(super) lease: Option<(Duration, usize)>,
    pub(super) stale: Vec<OrchestrationWorkItem>,
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
            let Some(queued) = state.items.pop_front() else {
                break;
            };
            if queued.leased_at.elapsed() <= queued.lease / 2 {
                fresh.push(queued.item);
            } else {
                stale.push(queued.item);
            }
        }
        (fresh, stale)
    }

    /// What a client batch may lease ahead now (see [`Room`]); the items that waited
    /// longer than [`STALE`] leave the queue.
    pub(super) fn room(&self) -> Room {
        let mut state = self.state();
        let mut stale = Vec::new();
        while state
            .items
            .front()
            .is_some_and(|queued| queued.leased_at.elapsed() > STALE)
        {
            stale.extend(state.items.pop_front().map(|queued| queued.item));
        }
        let room = CAPACITY.saturating_sub(state.items.len());
        let lease = state.lease.filter(|_| room > 0).map(|lease| (lease, room));
        Room { lease, stale }
    }

    /// Queues `items`, leased for `lease` at `leased_at` by a committed client write.
    /// While no fetcher is registered (a release came between the lease and its commit)
    /// they come back, to release.
    pub(super) fn push(
        &self,
        leased_at: Instant,
        lease: Duration,
        items: Vec<OrchestrationWorkItem>,
    ) -> Vec<OrchestrationWorkItem> {
        let mut state = self.state();
        if state.lease.is_none() {
            return items;
        }
        state.items.extend(items.into_iter().map(|item| Queued {
            leased_at,
            lease,
            item,
        }));
        Vec::new()
    }

    /// Stops leasing ahead until the next fetch; returns what is queued, to release.
    pub(super) fn release_all(&self) -> Vec<OrchestrationWorkItem> {
        let mut state = self.state();
        state.lease = None;
        state.items.drain(..).map(|queued| queued.item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ExecutionId, InstanceId};
    use crate::status::RuntimeStatus;
    use crate::store::LockToken;

    const LEASE: Duration = Duration::from_secs(30);

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

    fn ago(by: Duration) -> Instant {
        Instant::now()
            .checked_sub(by)
            .expect("a monotonic clock this far back")
    }

    #[test]
    fn nothing_is_leased_ahead_without_a_fetcher() {
        let queue = Prefetched::default();
        assert_eq!(queue.room().lease, None);
        // A write that leased before a release gets its items back, to release.
        assert_eq!(
            ids(&queue.push(Instant::now(), LEASE, vec![item("a")])),
            ["a"]
        );
        let (fresh, stale) = queue.take(10, LEASE);
        assert!(fresh.is_empty() && stale.is_empty());
        assert_eq!(queue.room().lease, Some((LEASE, CAPACITY)));
        assert!(
            queue
                .push(Instant::now(), LEASE, vec![item("b")])
                .is_empty()
        );
        assert_eq!(ids(&queue.release_all()), ["b"]);
        assert_eq!(queue.room().lease, None);
    }

    #[test]
    fn a_fetch_takes_the_oldest_first_up_to_its_max() {
        let queue = Prefetched::default();
        let _ = queue.take(1, LEASE);
        let three = vec![item("a"), item("b"), item("c")];
        assert!(queue.push(Instant::now(), LEASE, three).is_empty());
        assert_eq!(queue.room().lease, Some((LEASE, CAPACITY - 3)));
        let (fresh, stale) = queue.take(2, LEASE);
        assert_eq!(ids(&fresh), ["a", "b"]);
        assert!(stale.is_empty());
        let (fresh, _) = queue.take(2, LEASE);
        assert_eq!(ids(&fresh), ["c"]);
    }

    #[test]
    fn a_full_queue_takes_no_more_and_a_waiting_item_is_released() {
        let queue = Prefetched::default();
        let _ = queue.take(1, LEASE);
        let many = (0..CAPACITY).map(|n| item(&format!("i{n}"))).collect();
        assert!(queue.push(Instant::now(), LEASE, many).is_empty());
        let room = queue.room();
        assert_eq!(room.lease, None, "full");
        assert!(room.stale.is_empty());
        let _ = queue.release_all();
        let _ = queue.take(1, LEASE);
        assert!(
            queue
                .push(ago(STALE * 2), LEASE, vec![item("old")])
                .is_empty()
        );
        assert!(
            queue
                .push(Instant::now(), LEASE, vec![item("new")])
                .is_empty()
        );
        let room = queue.room();
        assert_eq!(ids(&room.stale), ["old"], "waited too long");
        assert_eq!(room.lease, Some((LEASE, CAPACITY - 1)));
    }

    #[test]
    fn an_item_whose_own_lease_runs_out_is_released_not_fetched() {
        let queue = Prefetched::default();
        let _ = queue.take(1, LEASE);
        let short = Duration::from_secs(4);
        assert!(queue.push(ago(short), short, vec![item("old")]).is_empty());
        assert!(
            queue
                .push(Instant::now(), LEASE, vec![item("new")])
                .is_empty()
        );
        // Judged by the lease it was leased with, not by this fetch's.
        let (fresh, stale) = queue.take(10, LEASE);
        assert_eq!(ids(&fresh), ["new"]);
        assert_eq!(ids(&stale), ["old"]);
    }
}
