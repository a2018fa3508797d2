//! The replay engine: (history, new events) → (history to append, work to send).
//!
//! Architecture Invariant: this module does no I/O and never reads the clock; the
//! dispatcher passes the turn's timestamp in.
//!
//! A turn follows DTF's `TaskOrchestrationExecutor`: committed events are fed with
//! `is_replaying() == true`, new events with `false`, and the orchestrator future is polled
//! after each event that woke it, so completions reach the code in history order and
//! `select`-style code picks the same winner on every replay. Each durable call takes the
//! next sequence number and records an [`Action`]; a scheduling event in history must find
//! the action with its sequence number, kind and name, otherwise the instance fails with a
//! [`NonDeterminismError`]. Completions that match no open call (duplicates from
//! at-least-once delivery) are ignored.

pub(crate) mod rewind;
#[cfg(feature = "otel")]
pub(crate) mod spans;
mod state;

/// The spans a turn produced, for the dispatcher to export once the turn committed; nothing
/// without feature `otel`.
#[cfg(feature = "otel")]
pub(crate) type TurnSpans = spans::TurnSpans;
/// The spans a turn produced: nothing without feature `otel`.
#[cfg(not(feature = "otel"))]
#[derive(Debug, Default)]
pub(crate) struct TurnSpans;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use chrono::{DateTime, Utc};

use state::scheduled_signature;
pub(crate) use state::{Action, ContinueAsNewRequest, CriticalSectionState, Shared};

use crate::context::OrchestrationContext;
use crate::error::NonDeterminismError;
use crate::error_types::{
    CONTINUE_AS_NEW_ERROR, NON_DETERMINISM_ERROR, NON_DURABLE_AWAIT_ERROR, panic_failure,
};
use crate::history::ParentInstance;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::registry::{BoxFuture, OrchestratorBody};
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::OutboundMessage;

/// How many times in a row an orchestrator may wake itself during one poll.
const MAX_SELF_WAKES: usize = 10_000;

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Completed(Payload),
    Failed(FailureDetails),
    /// The function returned after `continue_as_new`: restart with `input`, carrying over
    /// the raised events nobody consumed when asked to.
    ContinuedAsNew {
        input: Payload,
        carryover: Vec<(String, Payload)>,
        keep_unprocessed_events: bool,
    },
}

/// A sub-orchestration to create.
#[derive(Debug, Clone)]
pub(crate) struct SubOrchestrationRequest {
    pub(crate) scheduled_id: i64,
    pub(crate) name: &'static str,
    pub(crate) version: Option<&'static str>,
    pub(crate) instance_id: InstanceId,
    pub(crate) input: Payload,
    /// The context the child's spans continue (the parent's call span), when traced.
    pub(crate) trace_context: Option<crate::TraceContext>,
    /// Which attempt of a retry policy this call is (1 without one), for the metrics.
    #[cfg(feature = "metrics")]
    pub(crate) retry_attempt: u32,
}

/// An activity to enqueue.
#[derive(Debug, Clone)]
pub(crate) struct ActivityRequest {
    pub(crate) scheduled_id: i64,
    pub(crate) name: &'static str,
    pub(crate) input: Payload,
    /// The context the activity's span continues (the call span), when traced.
    pub(crate) trace_context: Option<crate::TraceContext>,
    /// Which attempt of a retry policy this call is (1 without one), for the metrics.
    #[cfg(feature = "metrics")]
    pub(crate) retry_attempt: u32,
}

/// What one turn produced.
#[derive(Debug, Default)]
pub(crate) struct TurnOutput {
    /// Events to append to history, in order.
    pub(crate) events: Vec<HistoryEvent>,
    /// Activities to enqueue.
    pub(crate) activities: Vec<ActivityRequest>,
    /// Durable timers to set: (sequence number, fire time).
    pub(crate) timers: Vec<(i64, DateTime<Utc>)>,
    /// Sub-orchestrations to create.
    pub(crate) sub_orchestrations: Vec<SubOrchestrationRequest>,
    /// One-way events to other instances: (receiver, name, data).
    pub(crate) sent_events: Vec<(InstanceId, String, Payload)>,
    /// Messages to entities: operations, lock requests, unlocks.
    pub(crate) entity_messages: Vec<OutboundMessage>,
    /// Set when the execution ended in this turn.
    pub(crate) outcome: Option<Outcome>,
    /// `Some(new)` when the custom status changed in this turn.
    pub(crate) custom_status: crate::store::CustomStatus,
    /// The spans of this turn (feature `otel`, when the worker traces).
    pub(crate) spans: TurnSpans,
}

#[derive(Debug, Default)]
struct WakeFlag(AtomicBool);

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// One live orchestration execution: the user's future plus its replay state.
///
/// Kept in the worker's instance cache between turns, so a turn applies only its new
/// events instead of replaying the whole history.
pub(crate) struct ReplayEngine {
    shared: Arc<Shared>,
    orchestrator: OrchestratorBody,
    future: Option<BoxFuture<Result<Payload, FailureDetails>>>,
    flag: Arc<WakeFlag>,
    waker: Waker,
    outcome: Option<Outcome>,
    outcome_recorded: bool,
    history_len: usize,
    version: Option<String>,
    /// The first non-determinism found, with the user's call site when known (the test
    /// kit's replayer reports it typed).
    divergence: Option<Divergence>,
}

/// A non-determinism the engine found, with the source location of the call that
/// disagreed with history (where `#[track_caller]` recorded one).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) struct Divergence {
    pub(crate) error: NonDeterminismError,
    pub(crate) location: Option<&'static std::panic::Location<'static>>,
}

impl std::fmt::Debug for ReplayEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayEngine")
            .field("instance_id", &self.shared.instance_id)
            .field("history_len", &self.history_len)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl ReplayEngine {
    /// Makes an engine for one execution; nothing runs until `ExecutionStarted` is applied.
    pub(crate) fn new(
        instance_id: InstanceId,
        execution_id: ExecutionId,
        name: String,
        orchestrator: OrchestratorBody,
    ) -> Self {
        let flag = Arc::new(WakeFlag::default());
        let waker = Waker::from(flag.clone());
        Self {
            shared: Arc::new(Shared::new(
                instance_id,
                execution_id,
                name,
                DateTime::<Utc>::UNIX_EPOCH,
            )),
            orchestrator,
            future: None,
            flag,
            waker,
            outcome: None,
            outcome_recorded: false,
            history_len: 0,
            version: None,
            divergence: None,
        }
    }

    /// Records this execution's spans (feature `otel`): the worker traces.
    #[cfg(feature = "otel")]
    pub(crate) fn traced(self, traced: bool) -> Self {
        if traced {
            self.shared.lock().spans = Some(Box::default());
        }
        self
    }

    /// The root of this execution's spans and when it started running, once
    /// `ExecutionStarted` was applied and when the worker traces.
    #[cfg(feature = "otel")]
    pub(crate) fn span_root(&self) -> Option<(spans::SpanRoot, Option<DateTime<Utc>>)> {
        let state = self.shared.lock();
        let log = state.spans.as_ref()?;
        Some((log.root()?.clone(), log.started_at()))
    }

    /// Records the orchestration version this engine runs (for a turn run from the cache
    /// alone, which has no work item to read it from).
    pub(crate) fn with_version(mut self, version: Option<String>) -> Self {
        self.version = version;
        self
    }

    /// The registered orchestration name.
    pub(crate) fn name(&self) -> &str {
        &self.shared.name
    }

    /// The orchestration version, as given to [`with_version`](Self::with_version).
    pub(crate) fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The execution this engine runs.
    pub(crate) fn execution_id(&self) -> &ExecutionId {
        &self.shared.execution_id
    }

    /// How many committed history events this engine has consumed.
    pub(crate) fn history_len(&self) -> usize {
        self.history_len
    }

    /// The parent, for a sub-orchestration (known once `ExecutionStarted` was applied).
    pub(crate) fn parent(&self) -> Option<crate::history::ParentInstance> {
        self.shared.lock().parent.clone()
    }

    /// True once the execution has ended (completed or failed).
    pub(crate) fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// When the instance next needs to run, if all it waits for are durable timers (and
    /// external events): the earliest of those timers. `None` while it waits for anything
    /// else (an activity, a sub-orchestration, an entity), waits for events alone, or has
    /// ended. The worker does not cache an instance parked far beyond its next turn.
    pub(crate) fn parked_until(&self) -> Option<DateTime<Utc>> {
        if self.outcome.is_some() {
            return None;
        }
        let state = self.shared.lock();
        let mut earliest: Option<DateTime<Utc>> = None;
        for call in state.open.values().filter(|call| call.result.is_none()) {
            let fire_at = call.fire_at?;
            earliest = Some(earliest.map_or(fire_at, |e| e.min(fire_at)));
        }
        earliest
    }

    /// How the execution ended, if it has.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The names (lower-cased) of the external events the code waits for now.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn waiting_for_events(&self) -> Vec<String> {
        self.shared
            .lock()
            .event_waiters
            .values()
            .filter(|waiter| waiter.result.is_none())
            .map(|waiter| waiter.name.clone())
            .collect()
    }

    /// The first non-determinism found, if any.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn divergence(&self) -> Option<&Divergence> {
        self.divergence.as_ref()
    }

    /// The oldest call the code made that history has not confirmed: its sequence number,
    /// a description ("scheduled activity `x`") and its call site, if known.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn first_unrecorded_call(
        &self,
    ) -> Option<(i64, String, Option<&'static std::panic::Location<'static>>)> {
        let state = self.shared.lock();
        let (seq, action) = state.pending.iter().next()?;
        Some((*seq, action.describe(), state.locations.get(seq).copied()))
    }

    /// Feeds committed history with `is_replaying() == true`.
    ///
    /// A history that holds rewinds is read through [`rewind::view`].
    pub(crate) fn replay(&mut self, history: &[HistoryEvent]) {
        self.shared.lock().is_replaying = true;
        for event in rewind::view(history).iter() {
            match (&self.outcome, &event.kind) {
                (None, _) => self.apply(event),
                (
                    Some(_),
                    EventKind::ExecutionCompleted { .. }
                    | EventKind::ExecutionTerminated { .. }
                    | EventKind::ContinuedAsNew { .. },
                ) => self.outcome_recorded = true,
                // The code returned, yet history records a call after that point.
                (Some(Outcome::Completed(_) | Outcome::ContinuedAsNew { .. }), kind)
                    if scheduled_signature(kind).is_some() =>
                {
                    let expected = scheduled_signature(kind)
                        .map(|(recorded_kind, name)| recorded_kind.expected(name))
                        .unwrap_or_default();
                    let error = NonDeterminismError {
                        instance_id: self.shared.instance_id.clone(),
                        event_id: event.event_id,
                        expected,
                        actual: "had already returned".to_owned(),
                    };
                    self.outcome = None;
                    self.fail(FailureDetails::new(
                        NON_DETERMINISM_ERROR,
                        error.to_string(),
                    ));
                    self.divergence.get_or_insert(Divergence {
                        error,
                        location: None,
                    });
                }
                (Some(_), _) => {}
            }
        }
        self.history_len += history.len();
        // Actions confirmed by history are done; anything left is new work for this turn.
    }

    /// Runs one turn: applies `new_events` with `is_replaying() == false` at time `now`
    /// and returns what to append and send.
    pub(crate) fn run_turn(
        &mut self,
        now: DateTime<Utc>,
        new_events: Vec<HistoryEvent>,
    ) -> TurnOutput {
        self.check_no_outside_wake();
        self.shared.lock().is_replaying = false;
        let mut output = TurnOutput::default();
        let started = HistoryEvent::new(now, EventKind::OrchestratorStarted);
        self.apply(&started);
        output.events.push(started);
        for event in new_events {
            match (&mut self.outcome, &event.kind) {
                (None, _) => self.apply(&event),
                // Events after the generation ended go to the next one when asked.
                (
                    Some(Outcome::ContinuedAsNew {
                        carryover,
                        keep_unprocessed_events: true,
                        ..
                    }),
                    EventKind::EventRaised { name, input },
                ) => carryover.push((name.clone(), input.clone())),
                (Some(_), _) => {}
            }
            output.events.push(event);
        }
        self.check_waiting_on_durable_work();
        let mut state = self.shared.lock();
        state.locations.clear();
        // The trace context the work sent by call `seq` continues, when the worker traces.
        #[cfg(feature = "otel")]
        let call_context = |state: &state::ReplayState, seq: i64| {
            state
                .spans
                .as_ref()
                .and_then(|log| log.root())
                .map(|root| root.call_context(seq))
        };
        #[cfg(not(feature = "otel"))]
        let call_context = |_: &state::ReplayState, _: i64| None;
        for (seq, action) in std::mem::take(&mut state.pending) {
            #[cfg(any(feature = "otel", feature = "metrics"))]
            let attempt = state.retry_attempts.take(seq);
            let kind = match action {
                Action::CallActivity { name, input } => {
                    output.activities.push(ActivityRequest {
                        scheduled_id: seq,
                        name,
                        input: input.clone(),
                        trace_context: call_context(&state, seq),
                        #[cfg(feature = "metrics")]
                        retry_attempt: attempt,
                    });
                    EventKind::ActivityScheduled {
                        name: name.to_owned(),
                        input,
                    }
                }
                Action::CreateTimer { fire_at } => {
                    output.timers.push((seq, fire_at));
                    EventKind::TimerCreated { fire_at }
                }
                Action::CallSubOrchestration {
                    name,
                    version,
                    instance_id,
                    input,
                } => {
                    output.sub_orchestrations.push(SubOrchestrationRequest {
                        scheduled_id: seq,
                        name,
                        version,
                        instance_id: instance_id.clone(),
                        input: input.clone(),
                        trace_context: call_context(&state, seq),
                        #[cfg(feature = "metrics")]
                        retry_attempt: attempt,
                    });
                    EventKind::SubOrchestrationCreated {
                        name: name.to_owned(),
                        instance_id,
                        input,
                    }
                }
                Action::SendEvent {
                    instance_id,
                    name,
                    input,
                } => {
                    output
                        .sent_events
                        .push((instance_id.clone(), name.clone(), input.clone()));
                    EventKind::EventSent {
                        instance_id,
                        name,
                        input,
                    }
                }
                Action::CallEntity {
                    entity,
                    operation,
                    input,
                } => {
                    let caller = ParentInstance {
                        instance_id: self.shared.instance_id.clone(),
                        execution_id: self.shared.execution_id.clone(),
                        scheduled_id: seq,
                    };
                    output.entity_messages.push(crate::outbound::entity_request(
                        &entity,
                        operation.clone(),
                        input.clone(),
                        Some(caller),
                        call_context(&state, seq),
                        now,
                        now,
                    ));
                    EventKind::EntityOperationCalled {
                        entity,
                        operation,
                        input,
                    }
                }
                Action::SignalEntity {
                    entity,
                    operation,
                    input,
                    at,
                } => {
                    output.entity_messages.push(crate::outbound::entity_request(
                        &entity,
                        operation.clone(),
                        input.clone(),
                        None,
                        call_context(&state, seq),
                        at.unwrap_or(now),
                        now,
                    ));
                    EventKind::EntityOperationSignaled {
                        entity,
                        operation,
                        input,
                        scheduled_time: at,
                    }
                }
                Action::LockEntities { entities } => {
                    let owner = ParentInstance {
                        instance_id: self.shared.instance_id.clone(),
                        execution_id: self.shared.execution_id.clone(),
                        scheduled_id: seq,
                    };
                    output
                        .entity_messages
                        .extend(crate::outbound::entity_lock_request(
                            owner,
                            entities.clone(),
                            0,
                            now,
                        ));
                    EventKind::EntityLockRequested { entities }
                }
                Action::UnlockEntities { entities } => {
                    output
                        .entity_messages
                        .extend(crate::outbound::entity_unlocks(
                            &self.shared.instance_id,
                            &entities,
                            now,
                        ));
                    EventKind::EntityUnlockSent { entities }
                }
            };
            let event = HistoryEvent::scheduled(seq, now, kind);
            #[cfg(feature = "otel")]
            if let Some(log) = state.spans.as_mut() {
                log.opened(&event, true, attempt);
            }
            output.events.push(event);
        }
        if state.custom_status_dirty {
            state.custom_status_dirty = false;
            output.custom_status = crate::store::CustomStatus::to(state.custom_status.clone());
        }
        drop(state);
        if let Some(outcome) = &self.outcome
            && !self.outcome_recorded
        {
            self.outcome_recorded = true;
            let kind = match outcome {
                Outcome::Completed(result) => EventKind::ExecutionCompleted {
                    status: RuntimeStatus::Completed,
                    result: Some(result.clone()),
                    failure: None,
                },
                Outcome::Failed(failure) => EventKind::ExecutionCompleted {
                    status: RuntimeStatus::Failed,
                    result: None,
                    failure: Some(failure.clone()),
                },
                Outcome::ContinuedAsNew { input, .. } => EventKind::ContinuedAsNew {
                    input: input.clone(),
                },
            };
            output.events.push(HistoryEvent::new(now, kind));
            output.outcome = Some(outcome.clone());
            #[cfg(feature = "otel")]
            if let Some(log) = self.shared.lock().spans.as_mut() {
                let (status, failure) = match outcome {
                    Outcome::Completed(_) => (RuntimeStatus::Completed, None),
                    Outcome::Failed(failure) => (RuntimeStatus::Failed, Some(failure.clone())),
                    Outcome::ContinuedAsNew { .. } => (RuntimeStatus::ContinuedAsNew, None),
                };
                log.ended(now, status, failure);
            }
        }
        self.history_len += output.events.len();
        #[cfg(feature = "otel")]
        if let Some(log) = self.shared.lock().spans.as_mut() {
            output.spans = log.take();
        }
        output
    }

    fn apply(&mut self, event: &HistoryEvent) {
        #[cfg(feature = "otel")]
        {
            let mut state = self.shared.lock();
            let live = !state.is_replaying;
            if let Some(log) = state.spans.as_mut() {
                log.closed(event, live);
            }
        }
        let woke = match &event.kind {
            EventKind::OrchestratorStarted => {
                self.shared.lock().current_time = event.timestamp;
                false
            }
            EventKind::ExecutionStarted {
                input,
                version,
                parent,
                #[cfg(feature = "otel")]
                trace_context,
                ..
            } => {
                if self.future.is_none() {
                    let mut state = self.shared.lock();
                    state.version.clone_from(version);
                    state.parent.clone_from(parent);
                    #[cfg(feature = "otel")]
                    {
                        let now = state.current_time;
                        if let Some(log) = state.spans.as_mut() {
                            log.started(&self.shared.execution_id, trace_context.as_ref(), now);
                        }
                    }
                    drop(state);
                    let ctx = OrchestrationContext::new(self.shared.clone());
                    self.future = Some(self.orchestrator.call(ctx, input.clone()));
                }
                true
            }
            kind if scheduled_signature(kind).is_some() => {
                #[cfg(any(feature = "otel", feature = "metrics"))]
                {
                    let mut state = self.shared.lock();
                    #[cfg_attr(not(feature = "otel"), allow(unused_variables))]
                    let attempt = state.retry_attempts.take(event.event_id);
                    #[cfg(feature = "otel")]
                    if let Some(log) = state.spans.as_mut() {
                        log.opened(event, false, attempt);
                    }
                }
                if let Err(divergence) = self.match_scheduled(event.event_id, kind)
                    && self.outcome.is_none()
                {
                    self.fail(FailureDetails::new(
                        NON_DETERMINISM_ERROR,
                        divergence.error.to_string(),
                    ));
                    self.divergence.get_or_insert(divergence);
                }
                false
            }
            EventKind::ActivityCompleted {
                scheduled_id,
                result,
            }
            | EventKind::SubOrchestrationCompleted {
                scheduled_id,
                result,
            } => self.deliver(*scheduled_id, Ok(result.clone())),
            EventKind::ActivityFailed {
                scheduled_id,
                failure,
            }
            | EventKind::SubOrchestrationFailed {
                scheduled_id,
                failure,
            } => self.deliver(*scheduled_id, Err(failure.clone())),
            EventKind::EntityOperationCompleted {
                scheduled_id,
                result,
            } => {
                self.end_section_call(*scheduled_id);
                self.deliver(*scheduled_id, Ok(result.clone()))
            }
            EventKind::EntityOperationFailed {
                scheduled_id,
                failure,
            } => {
                self.end_section_call(*scheduled_id);
                self.deliver(*scheduled_id, Err(failure.clone()))
            }
            EventKind::EntityLockGranted { scheduled_id } => {
                let mut state = self.shared.lock();
                if state
                    .section
                    .as_ref()
                    .is_some_and(|s| s.seq == *scheduled_id && s.abandoned)
                {
                    // Nobody waits for this section any more: release it at once.
                    state.release_section(*scheduled_id);
                }
                drop(state);
                self.deliver(*scheduled_id, Ok(Payload::null()))
            }
            EventKind::TimerFired { timer_id, .. } => self.deliver(*timer_id, Ok(Payload::null())),
            EventKind::EventRaised { name, input } => {
                let waker = self
                    .shared
                    .lock()
                    .raise(name, input.clone(), event.timestamp);
                waker.map(Waker::wake).is_some()
            }
            _ => false,
        };
        if woke || self.flag.0.load(Ordering::Acquire) {
            self.poll();
        }
    }

    /// Checks a scheduling event from history against the action the code produced.
    fn match_scheduled(&self, event_id: i64, recorded: &EventKind) -> Result<(), Divergence> {
        let Some((recorded_kind, recorded_name)) = scheduled_signature(recorded) else {
            return Ok(());
        };
        let expected = recorded_kind.expected(recorded_name);
        let error = |actual: String| NonDeterminismError {
            instance_id: self.shared.instance_id.clone(),
            event_id,
            expected: expected.clone(),
            actual,
        };
        let mut state = self.shared.lock();
        let location = state.locations.remove(&event_id);
        match state.pending.remove(&event_id) {
            Some(action) => {
                let (kind, name) = action.signature();
                if kind == recorded_kind && name.eq_ignore_ascii_case(recorded_name) {
                    Ok(())
                } else {
                    let at = location
                        .map(|l| format!(" at {}:{}", l.file(), l.line()))
                        .unwrap_or_default();
                    Err(Divergence {
                        error: error(format!("{}{at}", action.describe())),
                        location,
                    })
                }
            }
            None => Err(Divergence {
                error: error("scheduled nothing at that point".to_owned()),
                location: None,
            }),
        }
    }

    /// A call made inside a critical section returned: its entity may be called again.
    fn end_section_call(&self, seq: i64) {
        let mut state = self.shared.lock();
        if let Some(entity) = state.section_calls.remove(&seq)
            && let Some(section) = state.section.as_mut()
        {
            section.in_use.remove(&entity);
        }
    }

    /// The entities this execution holds locked (to release when it is terminated).
    pub(crate) fn held_locks(&self) -> Vec<crate::ids::EntityId> {
        self.shared
            .lock()
            .section
            .as_ref()
            .map(|s| s.entities.clone())
            .unwrap_or_default()
    }

    /// Hands a result to the open call `seq`; returns whether a waiter was woken.
    fn deliver(&self, seq: i64, result: Result<Payload, FailureDetails>) -> bool {
        let mut state = self.shared.lock();
        let Some(open) = state.open.get_mut(&seq) else {
            tracing::debug!(instance_id = %self.shared.instance_id, seq, "ignoring a completion that matches no open call (duplicate)");
            return false;
        };
        if open.result.is_some() {
            return false;
        }
        open.result = Some(result);
        if let Some(waker) = open.waker.take() {
            drop(state);
            waker.wake();
        }
        true
    }

    fn fail(&mut self, failure: FailureDetails) {
        if self.outcome.is_none() {
            tracing::warn!(instance_id = %self.shared.instance_id, error = %failure, "orchestration failed");
            self.outcome = Some(Outcome::Failed(failure));
            self.future = None;
        }
    }

    /// Polls the orchestrator until it stops waking itself.
    ///
    /// A future may wake itself while being polled (a combinator yielding cooperatively);
    /// it is polled again at once so no progress waits for the next event. A future that
    /// keeps doing so is busy-waiting on something outside the history and fails the
    /// instance.
    fn poll(&mut self) {
        for _ in 0..MAX_SELF_WAKES {
            if self.outcome.is_some() {
                return;
            }
            let Some(future) = self.future.as_mut() else {
                return;
            };
            self.flag.0.store(false, Ordering::Release);
            let mut cx = Context::from_waker(&self.waker);
            let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
            let fatal = self.shared.lock().fatal.take();
            if let Some(failure) = fatal {
                return self.fail(failure);
            }
            match polled {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(Ok(output))) => {
                    let mut state = self.shared.lock();
                    if let Some(message) = state.continue_as_new_error.take() {
                        drop(state);
                        return self.fail(FailureDetails::new(CONTINUE_AS_NEW_ERROR, message));
                    }
                    self.outcome = Some(match state.continue_as_new.take() {
                        Some(request) => Outcome::ContinuedAsNew {
                            input: request.input,
                            keep_unprocessed_events: request.keep_unprocessed_events,
                            carryover: if request.keep_unprocessed_events {
                                let mut carried: Vec<(String, Payload)> = Vec::new();
                                for queue in state.buffered_events.values_mut() {
                                    carried.extend(queue.drain(..));
                                }
                                carried
                            } else {
                                Vec::new()
                            },
                        },
                        None => Outcome::Completed(output),
                    });
                    drop(state);
                    self.future = None;
                    return;
                }
                Ok(Poll::Ready(Err(failure))) => return self.fail(failure),
                Err(panic) => return self.fail(panic_failure(panic)),
            }
            if !self.flag.0.load(Ordering::Acquire) {
                return;
            }
        }
        self.fail_non_durable("keeps waking itself without waiting on a durable call (a busy loop, or `yield_now` in a loop)");
    }

    /// Fails the instance because its code awaited something that is not a durable call.
    fn fail_non_durable(&mut self, what: &str) {
        let message = format!(
            "non-durable await in instance {}: the orchestrator {what}. Orchestrators may only await \
             durable calls made through `OrchestrationContext` (activities, and the combinators over \
             them); a `tokio::time::sleep`, channel, socket or HTTP request — perhaps inside a helper \
             function — is not recorded in history and cannot be replayed. Move that work into an \
             `#[activity]`",
            self.shared.instance_id
        );
        self.fail(FailureDetails::new(NON_DURABLE_AWAIT_ERROR, message));
    }

    /// The backstop for awaits the compile-time lints cannot see: called when a turn ends.
    ///
    /// If the orchestrator is still pending but no durable call is open, nothing in the
    /// history can ever wake it: it awaits something else, and would otherwise hang.
    fn check_waiting_on_durable_work(&mut self) {
        let nothing_durable = {
            let state = self.shared.lock();
            state.open.is_empty() && state.event_waiters.is_empty()
        };
        if self.outcome.is_none() && self.future.is_some() && nothing_durable {
            self.fail_non_durable("is waiting, but not on any durable call");
        }
    }

    /// The other half of the backstop, called when a turn starts: the engine's waker was
    /// woken between turns, which only something outside the history can do.
    fn check_no_outside_wake(&mut self) {
        if self.future.is_some() && self.flag.0.swap(false, Ordering::AcqRel) {
            self.fail_non_durable("was woken by something outside the history");
        }
    }
}

#[cfg(test)]
mod tests;
