use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ActivityFailed, EventError, SubOrchestrationFailed};
use crate::error_types::INPUT_ENCODE_ERROR;
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::registry::{Activity, ActivityInput, Orchestration};
use crate::replay::{Action, ContinueAsNewRequest, Shared};

use super::calls::{
    ActivityCall, DurableTimer, ExternalEvent, OpenHandle, SubOrchestrationCall,
    SubOrchestrationRequest, TimerDeadline, WaitForEvent,
};
use super::retry::RetryPolicy;
use crate::status::FailureDetails;

/// The namespace of [`OrchestrationContext::new_guid`]'s UUID v5, as in Durable Functions'
/// `GuidManager` (`9e952959-5e33-4daf-827f-2fa12937b875`).
const GUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x9e95_2959_5e33_4daf_827f_2fa1_2937_b875);

/// The orchestrator function's handle on the runtime: durable calls and replay-safe helpers.
///
/// Every method is deterministic: on replay it returns what it returned the first time,
/// reading history rather than the outside world. Cloning is cheap; clones share state, so
/// a clone can be moved into a helper `async` block.
#[derive(Clone)]
pub struct OrchestrationContext {
    pub(super) shared: Arc<Shared>,
}

impl fmt::Debug for OrchestrationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrchestrationContext")
            .field("instance_id", &self.shared.instance_id)
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl OrchestrationContext {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Schedules activity `A` with `input` and returns a future of its output.
    ///
    /// The call is recorded when this method runs, not when the future is first polled,
    /// so every call made before the next `.await` goes out in one turn: that is how a
    /// fan-out is written (create the futures, then [`join_all`](crate::join_all) them).
    /// Dropping the future does not cancel the activity; its result is then ignored.
    ///
    /// `input` must be of the activity's input type ([`ActivityInput`](crate::ActivityInput) is implemented only
    /// for it), so a wrong type is a compile error that names the activity. Because of
    /// that bound `"text".into()` cannot infer its target here: write `"text".to_owned()`.
    ///
    /// # Errors
    /// The future resolves to [`ActivityFailed`] when the activity returned an error or
    /// panicked (type name and message kept in `details`), when `input` could not be
    /// encoded (`details.error_type ==` [`INPUT_ENCODE_ERROR`]), or when its output does not
    /// decode as `A::Output` ([`OUTPUT_DECODE_ERROR`](crate::error_types::OUTPUT_DECODE_ERROR)).
    ///
    /// # Determinism
    /// Takes the next sequence number and writes `ActivityScheduled` with it; on replay the
    /// recorded `ActivityScheduled` must name the same activity at the same sequence
    /// number, and the result comes from the recorded `ActivityCompleted`/`ActivityFailed`.
    #[track_caller]
    pub fn call_activity<A: Activity, I: ActivityInput<A>>(
        &self,
        activity: A,
        input: I,
    ) -> ActivityCall<A::Output> {
        let _ = activity;
        let input = match Payload::encode(&input.into_input()) {
            Ok(input) => input,
            Err(error) => {
                return ActivityCall::failed(
                    self.shared.clone(),
                    A::NAME,
                    FailureDetails::new(
                        INPUT_ENCODE_ERROR,
                        format!(
                            "could not encode the input of activity `{}`: {error}",
                            A::NAME
                        ),
                    ),
                );
            }
        };
        self.schedule_activity(A::NAME, input)
    }

    /// Schedules activity `name` with `input` (already encoded): the next sequence number.
    #[track_caller]
    pub(super) fn schedule_activity<O>(
        &self,
        name: &'static str,
        input: Payload,
    ) -> ActivityCall<O> {
        let seq = self.shared.lock().schedule(Action::CallActivity {
            name,
            input: input.clone(),
        });
        ActivityCall {
            handle: OpenHandle::new(self.shared.clone(), seq),
            name,
            early: None,
            again: Some((self.shared.clone(), Ok(input))),
            _output: PhantomData,
        }
    }

    /// Calls activity `A`, retrying failures as `policy` says; returns the first success
    /// or the last failure. The same as `ctx.call_activity(activity, input).retry(policy)`
    /// ([`ActivityCall::retry`]), which writes the same history; kept as its long form.
    ///
    /// # Errors
    /// The last attempt's [`ActivityFailed`] once the policy gives up (attempts used up,
    /// retry timeout passed, a non-retriable failure, or `policy.handle` said no).
    ///
    /// # Determinism
    /// Each attempt writes its own `ActivityScheduled` (a new sequence number) and each wait
    /// a `TimerCreated`/`TimerFired` pair, so the retries replay exactly.
    pub async fn call_activity_with_retry<A: Activity>(
        &self,
        activity: A,
        input: A::Input,
        policy: &RetryPolicy,
    ) -> Result<A::Output, ActivityFailed> {
        // An `async fn`: the first attempt is scheduled when the future is first polled
        // (the chained form schedules it at the call).
        self.call_activity(activity, input).retry(policy).await
    }

    pub(super) fn retry_allowed(
        &self,
        policy: &RetryPolicy,
        attempt: u32,
        started: DateTime<Utc>,
        failure: &FailureDetails,
    ) -> bool {
        if attempt >= policy.max_attempts || !policy.should_retry(failure) {
            return false;
        }
        policy.retry_timeout.is_none_or(|timeout| {
            let elapsed = (self.current_time() - started).to_std().unwrap_or_default();
            elapsed + policy.delay(attempt) <= timeout
        })
    }

    /// Starts orchestration `O` as a sub-orchestration and returns a future of its output.
    ///
    /// The child's instance id is `"{execution_id}:{seq}"` (DTF's deterministic default);
    /// use [`call_sub_orchestrator_with_id`](Self::call_sub_orchestrator_with_id) to choose
    /// one. The child starts on `O`'s version.
    ///
    /// # Errors
    /// The future resolves to [`SubOrchestrationFailed`] with the child's failure details
    /// when it fails or is terminated, when its id belongs to an instance that has not
    /// finished, or when its output does not decode as `O::Output`.
    ///
    /// # Determinism
    /// Writes `SubOrchestrationCreated` with the next sequence number; the result comes
    /// from the recorded `SubOrchestrationCompleted`/`Failed`.
    #[track_caller]
    pub fn call_sub_orchestrator<O: Orchestration>(
        &self,
        orchestration: O,
        input: O::Input,
    ) -> SubOrchestrationCall<O::Output> {
        self.sub_orchestration(orchestration, None, input)
    }

    /// Like [`call_sub_orchestrator`](Self::call_sub_orchestrator), with the child's
    /// instance id given.
    #[track_caller]
    pub fn call_sub_orchestrator_with_id<O: Orchestration>(
        &self,
        orchestration: O,
        instance_id: InstanceId,
        input: O::Input,
    ) -> SubOrchestrationCall<O::Output> {
        self.sub_orchestration(orchestration, Some(instance_id), input)
    }

    #[track_caller]
    fn sub_orchestration<O: Orchestration>(
        &self,
        orchestration: O,
        instance_id: Option<InstanceId>,
        input: O::Input,
    ) -> SubOrchestrationCall<O::Output> {
        let _ = orchestration;
        let input = Payload::encode(&input).map_err(|error| {
            FailureDetails::new(
                INPUT_ENCODE_ERROR,
                format!(
                    "could not encode the input of sub-orchestration `{}`: {error}",
                    O::NAME
                ),
            )
        });
        self.schedule_sub_orchestration(SubOrchestrationRequest {
            name: O::NAME,
            version: O::VERSION,
            instance_id,
            input,
        })
    }

    /// Schedules a sub-orchestration (its input already encoded, or the failure it ends
    /// with at once): the next sequence number, the child's id `"{execution_id}:{seq}"`
    /// unless given; a call inside a critical section breaks its rules.
    #[track_caller]
    pub(super) fn schedule_sub_orchestration<O>(
        &self,
        request: SubOrchestrationRequest,
    ) -> SubOrchestrationCall<O> {
        let mut state = self.shared.lock();
        if state.section.is_some() {
            state.violate(format!(
                "instance {} called sub-orchestration `{}` inside a critical section; a critical \
                 section may only call the entities it locked (release it first by dropping the \
                 `CriticalSection`)",
                self.shared.instance_id, request.name
            ));
        }
        let seq = state.next_seq;
        let instance_id = request.instance_id.clone().unwrap_or_else(|| {
            InstanceId::from_trusted(format!("{}:{seq}", self.shared.execution_id))
        });
        let early = if instance_id == self.shared.instance_id {
            Some(FailureDetails::new(
                INPUT_ENCODE_ERROR,
                format!("a sub-orchestration cannot use its parent's instance id {instance_id}"),
            ))
        } else {
            match &request.input {
                Ok(input) => {
                    state.schedule(Action::CallSubOrchestration {
                        name: request.name,
                        version: request.version,
                        instance_id: instance_id.clone(),
                        input: input.clone(),
                    });
                    None
                }
                Err(failure) => Some(failure.clone()),
            }
        };
        drop(state);
        SubOrchestrationCall {
            handle: if early.is_some() {
                OpenHandle::none()
            } else {
                OpenHandle::new(self.shared.clone(), seq)
            },
            name: request.name,
            instance_id,
            early,
            again: Some((self.shared.clone(), request)),
            _output: PhantomData,
        }
    }

    /// Calls sub-orchestration `O`, retrying failures as `policy` says. The same as
    /// `ctx.call_sub_orchestrator(orchestration, input).retry(policy)`
    /// ([`SubOrchestrationCall::retry`]), which writes the same history; kept as its long
    /// form.
    ///
    /// # Errors
    /// The last attempt's [`SubOrchestrationFailed`] once the policy gives up.
    pub async fn call_sub_orchestrator_with_retry<O: Orchestration>(
        &self,
        orchestration: O,
        input: O::Input,
        policy: &RetryPolicy,
    ) -> Result<O::Output, SubOrchestrationFailed> {
        // An `async fn`: the first attempt is scheduled when the future is first polled
        // (the chained form schedules it at the call).
        self.sub_orchestration(orchestration, None, input)
            .retry(policy)
            .await
    }

    /// Creates a durable timer that fires at `deadline`: a `DateTime<Utc>`, or a duration
    /// from [`current_time`](Self::current_time).
    ///
    /// The timer survives restarts of every worker and fires once. Dropping its future
    /// cancels the wait (the timer still fires in the store, and its `TimerFired` is
    /// ignored), so a timer that lost a race never keeps an instance running.
    ///
    /// # Determinism
    /// Writes `TimerCreated { fire_at }` with the next sequence number; it completes with
    /// the recorded `TimerFired`.
    #[track_caller]
    pub fn create_timer(&self, deadline: impl TimerDeadline) -> DurableTimer {
        Self::timer(&self.shared, deadline)
    }

    #[track_caller]
    pub(super) fn timer(shared: &Arc<Shared>, deadline: impl TimerDeadline) -> DurableTimer {
        let mut state = shared.lock();
        let fire_at = deadline.fire_at(state.current_time);
        let seq = state.schedule(Action::CreateTimer { fire_at });
        if let Some(open) = state.open.get_mut(&seq) {
            open.fire_at = Some(fire_at);
        }
        drop(state);
        DurableTimer {
            handle: OpenHandle::new(shared.clone(), seq),
            fire_at,
        }
    }

    /// Waits for the next external event named `name` and decodes its data as `T`.
    ///
    /// Events raised before anyone waits are kept, in arrival order per name, and handed to
    /// the next waiter; several waiters on one name are served in the order they started
    /// waiting. Names compare case-insensitively. A pending wait does not keep an instance
    /// running: it completes when its function returns.
    ///
    /// # Errors
    /// [`EventError::Decode`] when the data does not decode as `T`.
    ///
    /// # Determinism
    /// Writes nothing; the event comes from the recorded `EventRaised`.
    pub fn wait_for_external_event<T: DeserializeOwned>(&self, name: &str) -> WaitForEvent<T> {
        let waiter = self.shared.lock().wait_for(name);
        WaitForEvent {
            shared: Some(self.shared.clone()),
            waiter,
            name: name.to_owned(),
            _payload: PhantomData,
        }
    }

    /// Waits for the event named `name`, or fails with [`EventError::TimedOut`] once
    /// `timeout` has passed (a durable timer; cancelled if the event wins), as Durable
    /// Functions' `WaitForExternalEvent(name, timeout)`. The same as
    /// `ctx.wait_for_external_event(name).timeout(timeout)` ([`WaitForEvent::timeout`]),
    /// which writes the same history; kept as its long form.
    ///
    /// # Errors
    /// [`EventError::TimedOut`] or [`EventError::Decode`].
    pub async fn wait_for_external_event_with_timeout<T: DeserializeOwned>(
        &self,
        name: &str,
        timeout: std::time::Duration,
    ) -> Result<T, EventError> {
        // An `async fn`: the wait and its timer start when the future is first polled (the
        // chained form starts them at the call).
        self.wait_for_external_event::<T>(name)
            .timeout(timeout)
            .await
    }

    /// Waits for the typed external event `E` (raised under `E::NAME`).
    ///
    /// # Errors
    /// [`EventError::Decode`] when the data does not decode as `E`.
    pub fn wait_for_event<E: ExternalEvent>(&self) -> WaitForEvent<E> {
        self.wait_for_external_event(E::NAME)
    }

    /// Waits for the typed external event `E`, or times out; the same as
    /// `ctx.wait_for_event::<E>().timeout(timeout)` ([`WaitForEvent::timeout`]).
    ///
    /// # Errors
    /// [`EventError::TimedOut`] or [`EventError::Decode`].
    pub async fn wait_for_event_with_timeout<E: ExternalEvent>(
        &self,
        timeout: std::time::Duration,
    ) -> Result<E, EventError> {
        self.wait_for_external_event_with_timeout(E::NAME, timeout)
            .await
    }

    /// Raises event `name` with `data` on another instance, one-way (DTF's `SendEvent`).
    ///
    /// # Errors
    /// A [`serde_json::Error`] when `data` cannot be encoded; nothing is sent.
    ///
    /// # Determinism
    /// Writes `EventSent` with the next sequence number.
    #[track_caller]
    pub fn send_event<T: Serialize + ?Sized>(
        &self,
        instance_id: &InstanceId,
        name: &str,
        data: &T,
    ) -> Result<(), serde_json::Error> {
        let input = Payload::encode(data)?;
        let mut state = self.shared.lock();
        let seq = state.schedule(Action::SendEvent {
            instance_id: instance_id.clone(),
            name: name.to_owned(),
            input,
        });
        // One-way: nothing will complete this call.
        state.open.remove(&seq);
        Ok(())
    }

    /// Restarts this instance with `input` and a fresh history when the function returns
    /// (its return value is then ignored): Durable Functions' `ContinueAsNew`, for eternal
    /// orchestrations. Same instance id, new execution id. Events raised but not consumed
    /// are dropped; [`continue_as_new_keeping_events`](Self::continue_as_new_keeping_events)
    /// carries them over.
    ///
    /// `orchestration` must be this orchestration's marker (it types the input); another
    /// marker fails the instance when the function returns.
    pub fn continue_as_new<O: Orchestration>(&self, orchestration: O, input: O::Input) {
        self.request_continue_as_new(orchestration, input, false);
    }

    /// Like [`continue_as_new`](Self::continue_as_new), carrying events that arrived but
    /// were not consumed over to the new execution (DTF's `preserveUnprocessedEvents`).
    pub fn continue_as_new_keeping_events<O: Orchestration>(
        &self,
        orchestration: O,
        input: O::Input,
    ) {
        self.request_continue_as_new(orchestration, input, true);
    }

    fn request_continue_as_new<O: Orchestration>(
        &self,
        orchestration: O,
        input: O::Input,
        keep_unprocessed_events: bool,
    ) {
        let _ = orchestration;
        let payload = if O::NAME == self.shared.name {
            Payload::encode(&input)
                .map_err(|error| format!("could not encode the continue-as-new input: {error}"))
        } else {
            Err(format!(
                "continue_as_new was given orchestration `{}`, but this instance runs `{}`",
                O::NAME,
                self.shared.name
            ))
        };
        let mut state = self.shared.lock();
        match payload {
            Ok(input) => {
                state.continue_as_new = Some(ContinueAsNewRequest {
                    input,
                    keep_unprocessed_events,
                });
            }
            Err(message) => state.continue_as_new_error = Some(message),
        }
    }

    /// The orchestration version this instance runs (`#[orchestrator(version = "..")]`).
    ///
    /// # Determinism
    /// Read from `ExecutionStarted`.
    pub fn version(&self) -> Option<String> {
        self.shared.lock().version.clone()
    }

    /// The parent's instance id, for a sub-orchestration.
    pub fn parent_instance_id(&self) -> Option<InstanceId> {
        self.shared
            .lock()
            .parent
            .as_ref()
            .map(|p| p.instance_id.clone())
    }

    /// The current time: the timestamp of the turn being run, the same on every replay.
    ///
    /// # Determinism
    /// Reads the latest `OrchestratorStarted` event, as Durable Functions'
    /// `CurrentUtcDateTime`. Subtract two readings to measure elapsed orchestration time.
    pub fn current_time(&self) -> DateTime<Utc> {
        self.shared.lock().current_time
    }

    /// Makes a new UUID that is the same on every replay.
    ///
    /// # Determinism
    /// A UUID v5 (SHA-1) in Durable Functions' namespace
    /// `9e952959-5e33-4daf-827f-2fa12937b875` over
    /// `"{instance_id}_{current_time:o}_{counter}"`, with a per-execution counter from 0
    /// (Durable Functions' `NewGuid`), so ids match what Durable Functions would make.
    /// Nothing is written to history.
    pub fn new_guid(&self) -> uuid::Uuid {
        let mut state = self.shared.lock();
        let counter = state.guid_counter;
        state.guid_counter += 1;
        let time = state.current_time;
        drop(state);
        let name = format!(
            "{}_{}.{:07}Z_{counter}",
            self.shared.instance_id,
            time.format("%Y-%m-%dT%H:%M:%S"),
            time.timestamp_subsec_nanos() / 100,
        );
        uuid::Uuid::new_v5(&GUID_NAMESPACE, name.as_bytes())
    }

    /// True while the runtime feeds committed history to rebuild state; false while the
    /// orchestrator runs past the end of history.
    pub fn is_replaying(&self) -> bool {
        self.shared.lock().is_replaying
    }

    /// The instance id.
    pub fn instance_id(&self) -> &InstanceId {
        &self.shared.instance_id
    }

    /// The current execution id (continue-as-new starts a new one).
    pub fn execution_id(&self) -> &ExecutionId {
        &self.shared.execution_id
    }

    /// The registered orchestration name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Sets a small JSON value that clients read in the instance status.
    ///
    /// # Errors
    /// A [`serde_json::Error`] when `status` cannot be encoded; the previous custom status
    /// is kept.
    ///
    /// # Determinism
    /// Not a history event: stored with the instance status when the turn commits.
    pub fn set_custom_status<T: Serialize + ?Sized>(
        &self,
        status: &T,
    ) -> Result<(), serde_json::Error> {
        let payload = Payload::encode(status)?;
        let mut state = self.shared.lock();
        state.custom_status = Some(payload);
        state.custom_status_dirty = true;
        Ok(())
    }

    /// Clears the custom status.
    pub fn clear_custom_status(&self) {
        let mut state = self.shared.lock();
        state.custom_status = None;
        state.custom_status_dirty = true;
    }

    /// A logger that writes through `tracing` only when not replaying, so each line is
    /// written once per instance rather than once per replay (Durable Functions'
    /// `CreateReplaySafeLogger`). Lines carry the instance id and orchestration name.
    pub fn logger(&self) -> ReplaySafeLogger<'_> {
        ReplaySafeLogger { ctx: self }
    }
}

/// A `tracing` logger that is silent while replaying; see [`OrchestrationContext::logger`].
///
/// ```standalone_crate
/// use durable_runtime::prelude::*;
///
/// #[orchestrator]
/// async fn greet(ctx: OrchestrationContext, city: String) -> Result<(), OrchestrationError> {
///     ctx.logger().info(format_args!("greeting {city}"));
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReplaySafeLogger<'a> {
    ctx: &'a OrchestrationContext,
}

macro_rules! log_method {
    ($(#[$doc:meta])* $method:ident, $level:ident) => {
        $(#[$doc])*
        pub fn $method(&self, message: fmt::Arguments<'_>) {
            if !self.ctx.is_replaying() {
                tracing::$level!(
                    instance_id = %self.ctx.shared.instance_id,
                    orchestration = %self.ctx.shared.name,
                    "{message}"
                );
            }
        }
    };
}

impl ReplaySafeLogger<'_> {
    log_method!(
        /// Logs at `ERROR` level unless replaying.
        error, error
    );
    log_method!(
        /// Logs at `WARN` level unless replaying.
        warn, warn
    );
    log_method!(
        /// Logs at `INFO` level unless replaying.
        info, info
    );
    log_method!(
        /// Logs at `DEBUG` level unless replaying.
        debug, debug
    );
}
