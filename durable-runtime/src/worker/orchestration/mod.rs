//! The orchestration dispatcher: fetches orchestration work items, runs their turns and
//! commits them in batches (Durable Task's orchestration dispatcher). This file is the loop
//! (I/O); one file per concept around it:
//!
//! - `batch.rs`: a batch of turns, run together and committed in one call, and the turns on
//!   activity results handed over in process ([`super::route`] decides which results those are);
//! - `turn.rs`: one turn of an orchestration (the store reads it needs, then the pure steps);
//! - `decide.rs`: the pure decisions of a turn (terminate, suspend/resume filtering, registry
//!   lookup, rehydration, the commit skeleton), table-tested;
//! - `translate.rs`: the pure translation of a replay turn's output into its commit (the
//!   history cap, continue-as-new), table-tested;
//! - `ending.rs`: instances that end outside their orchestrator function (terminated, failed
//!   on a corrupt row): what they still tell their parent and entities;
//! - `rewind.rs`, `entity_turn.rs`: a rewind's turn, an entity's turn;
//! - `prepared.rs`: a turn ready to commit, and why a turn was not.
//!
//! Every message a turn sends is built by [`crate::outbound`].

mod batch;
mod decide;
mod ending;
mod entity_turn;
mod prepared;
mod rewind;
mod translate;
mod turn;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc, watch};

use super::route::{Because, through_store};
use super::{ERROR_BACKOFF, Ready, WorkKind, WorkerShared};
use crate::ids::InstanceId;
use crate::store::OrchestrationWorkItem;
use batch::{LocalTurns, commit_batch, prepare_batch};

/// How many batches may be committing at once. While one batch waits for its commit (an
/// fsync on SQLite), the next is fetched and run, so the store's writer and the turns
/// overlap instead of taking turns; an instance never has two turns in flight.
const COMMITS_IN_FLIGHT: usize = 2;

/// The instances whose turns are committing now, and the slots that bound the batches.
struct InFlight {
    instances: Mutex<HashSet<InstanceId>>,
    slots: Arc<Semaphore>,
    /// Signalled each time a batch finished committing.
    finished: Notify,
}

impl InFlight {
    /// These instances' turns are committing now.
    fn begin<'a>(&self, ids: impl Iterator<Item = &'a InstanceId>) {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(ids.cloned());
    }

    /// The instance's turn has committed (or failed to): its work may run again.
    fn settle(&self, id: &InstanceId) {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    fn contains(&self, id: &InstanceId) -> bool {
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }
}

pub(crate) async fn run(
    shared: Arc<WorkerShared>,
    mut shutdown: watch::Receiver<bool>,
    mut ready: mpsc::UnboundedReceiver<Ready>,
) {
    let store = shared.store.clone();
    let batch = shared.options.orchestration_batch_size.max(1);
    let in_flight = Arc::new(InFlight {
        instances: Mutex::new(HashSet::new()),
        slots: Arc::new(Semaphore::new(COMMITS_IN_FLIGHT)),
        finished: Notify::new(),
    });
    // Work for instances whose turn is committing waits here for the next batch.
    let mut held_items: Vec<OrchestrationWorkItem> = Vec::new();
    let mut held_local = LocalTurns::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let Ok(slot) = in_flight.slots.clone().acquire_owned().await else {
            break;
        };
        // Work handed over in process comes first (turns that activity completions leased,
        // activity results for cached instances); the store tops the batch up, so new
        // instances, timers and events are never starved.
        let mut items = std::mem::take(&mut held_items);
        let mut local = std::mem::take(&mut held_local);
        while items.len() + local.len() < batch {
            match ready.try_recv() {
                Ok(Ready::Turn(item)) => items.push(item),
                Ok(Ready::Completion(pending)) => local.push(pending),
                Err(_) => break,
            }
        }
        // Hold back work for instances that are committing; it goes in a later batch.
        let (items, later): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|item| !in_flight.contains(&item.instance_id));
        held_items.extend(later);
        let (local, later) = local.split(|id| !in_flight.contains(id));
        held_local.merge(later);
        // The store tops the batch up. Its fetch waits behind the commit in flight (one
        // writer), so the handed-over turns run meanwhile instead of after it.
        let room = batch.saturating_sub(items.len() + local.len());
        let fetch = async {
            if room == 0 {
                return Ok(Vec::new());
            }
            store
                .fetch_orchestration_work_items(room, shared.options.orchestration_lease)
                .await
        };
        let handed_over = async {
            if items.is_empty() && local.is_empty() {
                None
            } else {
                Some(prepare_batch(&shared, items, local).await)
            }
        };
        let (fetched, mut prepared) = tokio::join!(fetch, handed_over);
        let fetched = match fetched {
            Ok(fetched) => {
                if let Some(metrics) = shared.metrics() {
                    metrics.fetched(WorkKind::Orchestration, fetched.len());
                }
                fetched
            }
            Err(error) => {
                tracing::error!(%error, "fetching orchestration work items failed; retrying");
                if prepared.is_none() {
                    drop(slot);
                    tokio::time::sleep(ERROR_BACKOFF).await;
                    continue;
                }
                Vec::new()
            }
        };
        // An instance fetched while its handed-over turn was being run waits for the next
        // batch too: one turn per instance per batch.
        let running: HashSet<&InstanceId> = prepared
            .iter()
            .flat_map(|p| p.commits.iter().map(|c| &c.instance_id))
            .collect();
        let (fetched, later): (Vec<_>, Vec<_>) = fetched.into_iter().partition(|item| {
            !in_flight.contains(&item.instance_id) && !running.contains(&item.instance_id)
        });
        drop(running);
        held_items.extend(later);
        if !fetched.is_empty() {
            let more = prepare_batch(&shared, fetched, LocalTurns::default()).await;
            prepared = Some(match prepared {
                Some(mut first) => {
                    first.merge(more);
                    first
                }
                None => more,
            });
        }
        let Some(prepared) = prepared else {
            drop(slot);
            // Sleep until woken, until a commit in flight ends (if work waits for it), until
            // the next durable timer is due, or the fallback poll.
            let holding = !held_items.is_empty() || !held_local.is_empty();
            let mut idle = shared.options.poll_interval;
            if let Ok(Some(next)) = store.next_visible_at().await {
                let until = (next - shared.clock.now()).to_std().unwrap_or_default();
                idle = idle.min(until + std::time::Duration::from_millis(1));
            }
            tokio::select! {
                () = store.notifier().wait_orchestration_work() => {}
                () = in_flight.finished.notified(), if holding => {}
                Some(handed) = ready.recv() => match handed {
                    Ready::Turn(item) => held_items.push(item),
                    Ready::Completion(pending) => held_local.push(pending),
                },
                () = tokio::time::sleep(idle) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        in_flight.begin(prepared.commits.iter().map(|c| &c.instance_id));
        let (shared, in_flight) = (shared.clone(), in_flight.clone());
        tokio::spawn(async move {
            commit_batch(&shared, &in_flight, prepared).await;
            drop(slot);
            in_flight.finished.notify_one();
        });
    }
    // Let the commits in flight finish, then release the turns handed over or held but not
    // run, so they need not wait for their leases, and complete the handed-over activity
    // results the ordinary way.
    let _ = in_flight
        .slots
        .acquire_many(u32::try_from(COMMITS_IN_FLIGHT).unwrap_or(u32::MAX))
        .await;
    ready.close();
    while let Some(handed) = ready.recv().await {
        match handed {
            Ready::Turn(item) => held_items.push(item),
            Ready::Completion(pending) => held_local.push(pending),
        }
    }
    for pending in held_local.groups.into_iter().flat_map(|(_, group)| group) {
        through_store(&shared, pending, Because::DispatcherStopped);
    }
    for item in held_items {
        super::release(&*store, &item, Duration::ZERO).await;
    }
    // And what the store leased ahead for this dispatcher (`Store::release_prefetched`),
    // now rather than after the activities drain (`Worker::shutdown` calls it once more at
    // its end).
    store.release_prefetched().await;
}
