//! A turn ready to commit ([`Prepared`]: the commit, the engine to cache after it, what to
//! trace and count once it committed), and why a turn was not prepared ([`TurnError`]).

use std::time::Duration;

use crate::error::StoreError;
use crate::replay::ReplayEngine;
use crate::store::{OrchestrationCommit, OrchestrationWorkItem};
use crate::worker::WorkerShared;

#[cfg(feature = "otel")]
pub(super) use crate::telemetry::TurnTrace;

/// What a turn traces once committed: nothing without feature `otel`.
#[cfg(not(feature = "otel"))]
#[derive(Debug, Default)]
pub(super) struct TurnTrace;

/// A turn ready to commit: the commit, the engine to cache after it, and its spans.
pub(super) struct Prepared {
    pub(super) commit: OrchestrationCommit,
    pub(super) engine: Option<ReplayEngine>,
    /// What to trace once the commit succeeded (nothing without feature `otel`).
    pub(super) trace: TurnTrace,
    /// What to count once the commit succeeded (with feature `metrics`).
    pub(super) tally: TurnTally,
}

/// The metrics a turn adds once committed: calls a retry policy made again, timers fired.
#[cfg(feature = "metrics")]
#[derive(Debug, Clone, Copy)]
pub(super) struct TurnTally {
    activity_retries: usize,
    sub_orchestration_retries: usize,
    timers_fired: usize,
}

/// Nothing to count without feature `metrics`.
#[cfg(not(feature = "metrics"))]
#[derive(Debug, Clone, Copy)]
pub(super) struct TurnTally;

#[cfg(not(feature = "metrics"))]
impl TurnTally {
    pub(super) const NONE: Self = Self;

    pub(super) fn record(self, metrics: &crate::worker::Recorder) {
        match *metrics {}
    }

    pub(super) fn of(_: &WorkerShared, _: &crate::replay::TurnOutput) -> Self {
        Self
    }
}

#[cfg(feature = "metrics")]
impl TurnTally {
    pub(super) const NONE: Self = Self {
        activity_retries: 0,
        sub_orchestration_retries: 0,
        timers_fired: 0,
    };

    pub(super) fn record(self, metrics: &crate::worker::Recorder) {
        for _ in 0..self.activity_retries {
            metrics.retry(crate::worker::RetryKind::Activity);
        }
        for _ in 0..self.sub_orchestration_retries {
            metrics.retry(crate::worker::RetryKind::SubOrchestration);
        }
        metrics.timers_fired(self.timers_fired);
    }

    /// What `output`, a turn's output, counts.
    pub(super) fn of(shared: &WorkerShared, output: &crate::replay::TurnOutput) -> Self {
        if shared.metrics().is_some() {
            return Self {
                activity_retries: output
                    .activities
                    .iter()
                    .filter(|a| a.retry_attempt > 1)
                    .count(),
                sub_orchestration_retries: output
                    .sub_orchestrations
                    .iter()
                    .filter(|s| s.retry_attempt > 1)
                    .count(),
                timers_fired: output
                    .events
                    .iter()
                    .filter(|e| matches!(e.kind, crate::history::EventKind::TimerFired { .. }))
                    .count(),
            };
        }
        Self::NONE
    }
}

impl Prepared {
    pub(super) fn new(commit: OrchestrationCommit, engine: Option<ReplayEngine>) -> Self {
        #[cfg(feature = "otel")]
        let trace = TurnTrace::Nothing;
        #[cfg(not(feature = "otel"))]
        let trace = TurnTrace;
        Self::traced(commit, engine, trace)
    }

    pub(super) fn traced(
        commit: OrchestrationCommit,
        engine: Option<ReplayEngine>,
        trace: TurnTrace,
    ) -> Self {
        Self {
            commit,
            engine,
            trace,
            tally: TurnTally::NONE,
        }
    }
}

/// The trace of a turn of `item` that recorded `spans`.
#[cfg(feature = "otel")]
pub(super) fn turn_trace(
    item: &OrchestrationWorkItem,
    spans: crate::replay::TurnSpans,
) -> TurnTrace {
    TurnTrace::turn(item, spans)
}

/// Nothing to trace without feature `otel`.
#[cfg(not(feature = "otel"))]
pub(super) fn turn_trace(_: &OrchestrationWorkItem, _: crate::replay::TurnSpans) -> TurnTrace {
    TurnTrace
}

/// Why a turn was not prepared: its work item is released for a later attempt.
#[derive(Debug)]
pub(super) enum TurnError {
    /// The store failed (or the lease was lost): retried with the growing back-off of
    /// [`Retries`](crate::worker::Retries), with a warning per attempt.
    Store(StoreError),
    /// The turn cannot run yet (a rewind waits for the failed execution's activities):
    /// retried after `retry_after`, without a warning.
    Wait {
        retry_after: Duration,
        reason: &'static str,
    },
}

impl From<StoreError> for TurnError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl std::fmt::Display for TurnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(error) => error.fmt(f),
            Self::Wait { reason, .. } => f.write_str(reason),
        }
    }
}
