//! The state an orchestrator's context shares with the replay engine during a turn.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::panic::Location;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use chrono::{DateTime, Utc};

use crate::history::{EventKind, ParentInstance};
use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::FailureDetails;

/// What the code asked for at one sequence number.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// `call_activity`.
    CallActivity { name: &'static str, input: Payload },
    /// `create_timer`.
    CreateTimer { fire_at: DateTime<Utc> },
    /// `call_sub_orchestrator`.
    CallSubOrchestration {
        name: &'static str,
        version: Option<&'static str>,
        instance_id: InstanceId,
        input: Payload,
    },
    /// `send_event`.
    SendEvent {
        instance_id: InstanceId,
        name: String,
        input: Payload,
    },
    /// A call to an entity operation.
    CallEntity {
        entity: EntityId,
        operation: String,
        input: Payload,
    },
    /// A signal to an entity operation.
    SignalEntity {
        entity: EntityId,
        operation: String,
        input: Payload,
        at: Option<DateTime<Utc>>,
    },
    /// `lock_entities`.
    LockEntities { entities: Vec<EntityId> },
    /// The end of a critical section.
    UnlockEntities { entities: Vec<EntityId> },
}

/// The kind of a durable call, as compared between the code and a recorded scheduling
/// event (DTF compares the action type, then the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    Activity,
    Timer,
    SubOrchestration,
    SentEvent,
    EntityCall,
    EntitySignal,
    EntityLock,
    EntityUnlock,
}

impl CallKind {
    /// The kind as error messages name it ("sub-orchestration").
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Activity => "activity",
            Self::Timer => "timer",
            Self::SubOrchestration => "sub-orchestration",
            Self::SentEvent => "sent event",
            Self::EntityCall => "entity call",
            Self::EntitySignal => "entity signal",
            Self::EntityLock => "entity lock",
            Self::EntityUnlock => "entity unlock",
        }
    }

    /// Names the recorded call for a non-determinism error ("activity `x`", "a timer").
    pub(crate) fn expected(self, name: &str) -> String {
        if name.is_empty() {
            format!("a {}", self.noun())
        } else {
            format!("{} `{name}`", self.noun())
        }
    }
}

impl Action {
    /// The kind and name, as compared with a recorded scheduling event.
    pub(crate) fn signature(&self) -> (CallKind, &str) {
        match self {
            Self::CallActivity { name, .. } => (CallKind::Activity, name),
            Self::CreateTimer { .. } => (CallKind::Timer, ""),
            Self::CallSubOrchestration { name, .. } => (CallKind::SubOrchestration, name),
            Self::SendEvent { name, .. } => (CallKind::SentEvent, name),
            Self::CallEntity { operation, .. } => (CallKind::EntityCall, operation),
            Self::SignalEntity { operation, .. } => (CallKind::EntitySignal, operation),
            Self::LockEntities { .. } => (CallKind::EntityLock, ""),
            Self::UnlockEntities { .. } => (CallKind::EntityUnlock, ""),
        }
    }

    /// Describes the action for a non-determinism error ("scheduled activity `x`").
    pub(crate) fn describe(&self) -> String {
        match self.signature() {
            (CallKind::Timer, _) => "created a durable timer".to_owned(),
            (CallKind::EntityLock, _) => "locked entities".to_owned(),
            (CallKind::EntityUnlock, _) => "released its locked entities".to_owned(),
            (kind, name) => format!("scheduled {} `{name}`", kind.noun()),
        }
    }
}

/// The kind and name of a recorded scheduling event, if it is one.
pub(crate) fn scheduled_signature(kind: &EventKind) -> Option<(CallKind, &str)> {
    match kind {
        EventKind::ActivityScheduled { name, .. } => Some((CallKind::Activity, name)),
        EventKind::TimerCreated { .. } => Some((CallKind::Timer, "")),
        EventKind::SubOrchestrationCreated { name, .. } => Some((CallKind::SubOrchestration, name)),
        EventKind::EventSent { name, .. } => Some((CallKind::SentEvent, name)),
        EventKind::EntityOperationCalled { operation, .. } => {
            Some((CallKind::EntityCall, operation))
        }
        EventKind::EntityOperationSignaled { operation, .. } => {
            Some((CallKind::EntitySignal, operation))
        }
        EventKind::EntityLockRequested { .. } => Some((CallKind::EntityLock, "")),
        EventKind::EntityUnlockSent { .. } => Some((CallKind::EntityUnlock, "")),
        _ => None,
    }
}

/// A durable call whose result has not been taken by its future yet.
#[derive(Debug, Default)]
pub(crate) struct OpenCall {
    /// The result, once history delivered it.
    pub(crate) result: Option<Result<Payload, FailureDetails>>,
    /// The waker of the future awaiting it.
    pub(crate) waker: Option<Waker>,
    /// When it fires, for a durable timer (`None` for every other call).
    pub(crate) fire_at: Option<DateTime<Utc>>,
}

/// One `wait_for_external_event` that has not been given its event yet.
#[derive(Debug)]
pub(crate) struct EventWaiter {
    /// The event name, lower-cased (names compare case-insensitively).
    pub(crate) name: String,
    /// The event data, once delivered.
    pub(crate) result: Option<Payload>,
    /// The waker of the future awaiting it.
    pub(crate) waker: Option<Waker>,
    /// When the wait began (the turn's time), for its span.
    #[cfg(feature = "otel")]
    pub(crate) since: DateTime<Utc>,
}

/// A continue-as-new the code asked for; it takes effect when the function returns.
#[derive(Debug, Clone)]
pub(crate) struct ContinueAsNewRequest {
    pub(crate) input: Payload,
    pub(crate) keep_unprocessed_events: bool,
}

/// The critical section an orchestration is in (or waiting to enter).
#[derive(Debug)]
pub(crate) struct CriticalSectionState {
    /// The sequence number of its `EntityLockRequested`.
    pub(crate) seq: i64,
    /// The locked entities, in lock order.
    pub(crate) entities: Vec<EntityId>,
    /// The entities with a call in flight (no parallel calls to one locked entity).
    pub(crate) in_use: HashSet<EntityId>,
    /// Set when the lock future was dropped before the lock was granted: release on grant.
    pub(crate) abandoned: bool,
}

/// Mutable replay state.
#[derive(Debug)]
pub(crate) struct ReplayState {
    /// The timestamp of the latest `OrchestratorStarted` applied.
    pub(crate) current_time: DateTime<Utc>,
    /// True while committed history is being fed.
    pub(crate) is_replaying: bool,
    /// The next action sequence number.
    pub(crate) next_seq: i64,
    /// How many GUIDs `new_guid` has made in this execution.
    pub(crate) guid_counter: u64,
    /// Actions the code produced that history has not confirmed yet.
    pub(crate) pending: BTreeMap<i64, Action>,
    /// Where in the user's code each pending action was made (`#[track_caller]` on the
    /// durable calls), for non-determinism errors; absent when the runtime made it.
    pub(crate) locations: HashMap<i64, &'static Location<'static>>,
    /// Durable calls awaiting (or holding) their result.
    pub(crate) open: HashMap<i64, OpenCall>,
    /// Raised events nobody has waited for yet, per lower-cased name, oldest first.
    pub(crate) buffered_events: BTreeMap<String, VecDeque<(String, Payload)>>,
    /// Waiting `wait_for_external_event`s, by registration order.
    pub(crate) event_waiters: BTreeMap<u64, EventWaiter>,
    pub(crate) next_waiter: u64,
    /// The custom status, and whether this turn changed it.
    pub(crate) custom_status: Option<Payload>,
    pub(crate) custom_status_dirty: bool,
    /// Set by `continue_as_new`.
    pub(crate) continue_as_new: Option<ContinueAsNewRequest>,
    /// Set by a `continue_as_new` that could not be honoured (wrong marker, bad input).
    pub(crate) continue_as_new_error: Option<String>,
    /// From `ExecutionStarted`.
    pub(crate) version: Option<String>,
    pub(crate) parent: Option<ParentInstance>,
    /// The critical section, if any.
    pub(crate) section: Option<CriticalSectionState>,
    /// Entity calls made inside the critical section: sequence number → entity.
    pub(crate) section_calls: HashMap<i64, EntityId>,
    /// A rule broken by the code (critical sections): fails the instance after this poll.
    pub(crate) fatal: Option<FailureDetails>,
    /// The spans of this execution, when the worker traces (feature `otel`).
    #[cfg(feature = "otel")]
    pub(crate) spans: Option<Box<super::spans::SpanLog>>,
    /// Which retry-policy attempt each call is (features `otel`, `metrics`).
    #[cfg(any(feature = "otel", feature = "metrics"))]
    pub(crate) retry_attempts: RetryAttempts,
}

/// Which attempt of a retry policy each call is (for its span and the retries metric): the
/// retry helpers mark the attempt before each call, and the call's sequence number takes it.
#[cfg(any(feature = "otel", feature = "metrics"))]
#[derive(Debug, Default)]
pub(crate) struct RetryAttempts {
    /// The attempt of the next call scheduled (0: not a retry helper's call).
    next: u32,
    /// The attempts above the first, by sequence number, until the call is recorded.
    by_seq: HashMap<i64, u32>,
}

#[cfg(any(feature = "otel", feature = "metrics"))]
impl RetryAttempts {
    /// Which attempt call `seq` is (1 unless a retry helper made it as a later one); read
    /// once, when its scheduling event is recorded or replayed.
    pub(crate) fn take(&mut self, seq: i64) -> u32 {
        if self.by_seq.is_empty() {
            return 1;
        }
        self.by_seq.remove(&seq).unwrap_or(1)
    }
}

/// What the context and the engine share: fixed instance facts plus the replay state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) instance_id: InstanceId,
    pub(crate) execution_id: ExecutionId,
    pub(crate) name: String,
    state: Mutex<ReplayState>,
}

impl Shared {
    pub(crate) fn new(
        instance_id: InstanceId,
        execution_id: ExecutionId,
        name: String,
        start_time: DateTime<Utc>,
    ) -> Self {
        Self {
            instance_id,
            execution_id,
            name,
            state: Mutex::new(ReplayState {
                current_time: start_time,
                is_replaying: true,
                next_seq: 0,
                guid_counter: 0,
                pending: BTreeMap::new(),
                locations: HashMap::new(),
                open: HashMap::new(),
                buffered_events: BTreeMap::new(),
                event_waiters: BTreeMap::new(),
                next_waiter: 0,
                custom_status: None,
                custom_status_dirty: false,
                continue_as_new: None,
                continue_as_new_error: None,
                version: None,
                parent: None,
                section: None,
                section_calls: HashMap::new(),
                fatal: None,
                #[cfg(feature = "otel")]
                spans: None,
                #[cfg(any(feature = "otel", feature = "metrics"))]
                retry_attempts: RetryAttempts::default(),
            }),
        }
    }

    /// Locks the state. No user code runs under this lock, so it is never poisoned in
    /// practice; a poisoned lock is taken over as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ReplayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ReplayState {
    /// Records a new action and opens its call; returns its sequence number.
    #[track_caller]
    pub(crate) fn schedule(&mut self, action: Action) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(seq, action);
        #[cfg(any(feature = "otel", feature = "metrics"))]
        {
            let attempt = std::mem::take(&mut self.retry_attempts.next);
            if attempt > 1 {
                self.retry_attempts.by_seq.insert(seq, attempt);
            }
        }
        // Durable calls are `#[track_caller]` down to here, so this is the user's call
        // site, unless the runtime itself made the call (a retry helper in `context/`, an
        // unlock here).
        let location = Location::caller();
        let src = file!().trim_end_matches("replay/state.rs");
        let in_context = location
            .file()
            .strip_prefix(src)
            .is_some_and(|rest| rest.starts_with("context/"));
        if location.file() != file!() && !in_context {
            self.locations.insert(seq, location);
        }
        self.open.insert(seq, OpenCall::default());
        seq
    }

    /// Hands a raised event (recorded at `at`) to the oldest waiter for its name, or
    /// buffers it; returns the waiter's waker.
    pub(crate) fn raise(
        &mut self,
        name: &str,
        input: Payload,
        #[cfg_attr(not(feature = "otel"), allow(unused_variables))] at: DateTime<Utc>,
    ) -> Option<Waker> {
        let key = name.to_lowercase();
        let waiter = self
            .event_waiters
            .values_mut()
            .find(|w| w.name == key && w.result.is_none());
        match waiter {
            Some(waiter) => {
                waiter.result = Some(input);
                let waker = waiter.waker.take();
                #[cfg(feature = "otel")]
                if !self.is_replaying
                    && let Some(spans) = self.spans.as_mut()
                {
                    spans.event_received(name, waiter.since, at);
                }
                waker
            }
            None => {
                self.buffered_events
                    .entry(key)
                    .or_default()
                    .push_back((name.to_owned(), input));
                None
            }
        }
    }

    /// Registers a waiter for `name`, handing it a buffered event at once if there is one.
    pub(crate) fn wait_for(&mut self, name: &str) -> u64 {
        let key = name.to_lowercase();
        let buffered = self
            .buffered_events
            .get_mut(&key)
            .and_then(VecDeque::pop_front)
            .map(|(_, input)| input);
        let id = self.next_waiter;
        self.next_waiter += 1;
        self.event_waiters.insert(
            id,
            EventWaiter {
                name: key,
                result: buffered,
                waker: None,
                #[cfg(feature = "otel")]
                since: self.current_time,
            },
        );
        id
    }
}

impl ReplayState {
    /// The next call scheduled is attempt `attempt` of a retry policy (for its span and
    /// the retries metric).
    #[cfg(any(feature = "otel", feature = "metrics"))]
    pub(crate) fn set_retry_attempt(&mut self, attempt: u32) {
        self.retry_attempts.next = attempt;
    }

    /// Records a broken critical-section rule; the instance fails after the current poll.
    pub(crate) fn violate(&mut self, message: String) {
        if self.fatal.is_none() {
            self.fatal = Some(FailureDetails::new(
                crate::error_types::LOCKING_RULES_VIOLATION,
                message,
            ));
        }
    }

    /// Ends the critical section `seq`: records the unlock (one-way).
    pub(crate) fn release_section(&mut self, seq: i64) {
        if self.section.as_ref().is_some_and(|s| s.seq == seq)
            && let Some(section) = self.section.take()
        {
            self.section_calls.clear();
            let unlock = self.schedule(Action::UnlockEntities {
                entities: section.entities,
            });
            self.open.remove(&unlock);
        }
    }
}
