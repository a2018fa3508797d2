//! Where an activity result of this worker goes: one decision, [`route`], taken by the
//! activity dispatcher when the result is ready and by the orchestration dispatcher when
//! it batches it; every later fallback (the local turn did not run or did not commit, the
//! worker shuts down) sends the result [`through_store`] with its reason.

use std::sync::Arc;

use super::WorkerOptions;
use super::WorkerShared;
use super::activity_dispatcher::{PendingCompletion, enqueue_completion};

/// Where an activity result goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultRoute {
    /// To the instance's next turn, run by the orchestration dispatcher on the instance's
    /// cached engine without a fetch and committed together with the result
    /// ([`CommitAuthority::Unleased`](crate::store::CommitAuthority::Unleased)):
    /// one transaction for a sequential step instead of two.
    LocalTurn,
    /// Through the store: [`Store::complete_activities`](crate::store::Store::complete_activities)
    /// deletes the work item and enqueues the result as a message for whoever runs the
    /// instance (leasing it in process when it is free).
    ThroughStore(Because),
}

impl ResultRoute {
    /// Why the result goes through the store; for a result routed to a local turn whose
    /// engine was gone after all, [`Because::NotCached`].
    pub(crate) fn because(self) -> Because {
        match self {
            Self::ThroughStore(because) => because,
            Self::LocalTurn => Because::NotCached,
        }
    }
}

/// Why a result goes [`ResultRoute::ThroughStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Because {
    /// The worker keeps no engines between turns (`cache_capacity` 0 or `always_replay`).
    NoCache,
    /// The orchestration dispatcher no longer takes work (shutdown).
    DispatcherStopped,
    /// The result is for another execution than the first of its instance in the batch.
    OtherExecution,
    /// The batch also holds a leased work item of the instance (one turn per instance).
    LeasedInBatch,
    /// The instance's engine is not cached in the result's execution.
    NotCached,
    /// The local turn was not run (a store error, a rewind that waits).
    TurnNotRun,
    /// The local turn's commit was refused (its checks failed) or failed.
    NotCommitted,
}

/// What is known of a result when its route is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The activity just finished: only the worker's options are known (while a turn of
    /// the instance commits its engine is out of the cache, so the dispatcher looks).
    Finished,
    /// The orchestration dispatcher batches it.
    InBatch {
        /// Whether it is for the execution of the first result of its instance in the batch.
        same_execution: bool,
        /// Whether the batch also holds a leased work item of the instance.
        leased_in_batch: bool,
        /// Whether the instance's engine was in the cache in that execution.
        cached: bool,
    },
}

/// Where a result goes at `stage`, on a worker with `options`.
pub(crate) fn route(options: &WorkerOptions, stage: Stage) -> ResultRoute {
    use ResultRoute::{LocalTurn, ThroughStore};
    if options.cache_capacity == 0 || options.always_replay {
        return ThroughStore(Because::NoCache);
    }
    match stage {
        Stage::Finished => LocalTurn,
        Stage::InBatch {
            same_execution: false,
            ..
        } => ThroughStore(Because::OtherExecution),
        Stage::InBatch {
            leased_in_batch: true,
            ..
        } => ThroughStore(Because::LeasedInBatch),
        Stage::InBatch { cached: false, .. } => ThroughStore(Because::NotCached),
        Stage::InBatch { .. } => LocalTurn,
    }
}

/// Sends `pending` through the store (see [`ResultRoute::ThroughStore`]): queued for the
/// next batched [`Store::complete_activities`](crate::store::Store::complete_activities).
pub(crate) fn through_store(
    shared: &Arc<WorkerShared>,
    pending: PendingCompletion,
    because: Because,
) {
    tracing::trace!(
        activity_id = pending.0.id,
        instance_id = %pending.0.instance_id,
        ?because,
        "activity result goes through the store"
    );
    enqueue_completion(shared, pending);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let default = WorkerOptions::default();
        let no_cache = WorkerOptions {
            cache_capacity: 0,
            ..WorkerOptions::default()
        };
        let replaying = WorkerOptions {
            always_replay: true,
            ..WorkerOptions::default()
        };
        let batch = |same_execution, leased_in_batch, cached| Stage::InBatch {
            same_execution,
            leased_in_batch,
            cached,
        };
        use Because::*;
        use ResultRoute::{LocalTurn, ThroughStore};
        let rows = [
            // A finished result goes to the dispatcher when engines are kept.
            (&default, Stage::Finished, LocalTurn),
            (&no_cache, Stage::Finished, ThroughStore(NoCache)),
            (&replaying, Stage::Finished, ThroughStore(NoCache)),
            // In a batch: cached, alone and in the same execution runs locally.
            (&default, batch(true, false, true), LocalTurn),
            (&default, batch(true, false, false), ThroughStore(NotCached)),
            (
                &default,
                batch(true, true, true),
                ThroughStore(LeasedInBatch),
            ),
            (
                &default,
                batch(true, true, false),
                ThroughStore(LeasedInBatch),
            ),
            // A stale execution's result never runs on the current engine.
            (
                &default,
                batch(false, false, true),
                ThroughStore(OtherExecution),
            ),
            (
                &default,
                batch(false, true, true),
                ThroughStore(OtherExecution),
            ),
            (&no_cache, batch(true, false, true), ThroughStore(NoCache)),
        ];
        for (row, (options, stage, expected)) in rows.into_iter().enumerate() {
            assert_eq!(route(options, stage), expected, "row {row}: {stage:?}");
        }
    }
}
