use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ActivityFailed;
use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::registry::{Activity, ActivityInput};
use crate::replay::{Action, OpenCall, Shared};
use crate::status::FailureDetails;

/// The namespace of [`OrchestrationContext::new_guid`]'s UUID v5, as in Durable Functions'
/// `GuidManager` (`9e952959-5e33-4daf-827f-2fa12937b875`).
const GUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x9e95_2959_5e33_4daf_827f_2fa1_2937_b875);

/// The `error_type` of an input that could not be encoded for a durable call.
pub const INPUT_ENCODE_ERROR: &str = "durable::InputEncodeError";
/// The `error_type` of a durable call's output that did not decode as the expected type.
pub const OUTPUT_DECODE_ERROR: &str = "durable::OutputDecodeError";

/// The orchestrator function's handle on the runtime: durable calls and replay-safe helpers.
///
/// Every method is deterministic: on replay it returns what it returned the first time,
/// reading history rather than the outside world. Cloning is cheap; clones share state, so
/// a clone can be moved into a helper `async` block.
#[derive(Clone)]
pub struct OrchestrationContext {
    shared: Arc<Shared>,
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
    /// decode as `A::Output` ([`OUTPUT_DECODE_ERROR`]).
    ///
    /// # Determinism
    /// Takes the next sequence number and writes `ActivityScheduled` with it; on replay the
    /// recorded `ActivityScheduled` must name the same activity at the same sequence
    /// number, and the result comes from the recorded `ActivityCompleted`/`ActivityFailed`.
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
        let mut state = self.shared.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        state.pending.insert(
            seq,
            Action::CallActivity {
                name: A::NAME,
                input,
            },
        );
        state.open.insert(seq, OpenCall::default());
        drop(state);
        ActivityCall {
            shared: Some(self.shared.clone()),
            seq,
            name: A::NAME,
            early: None,
            _output: PhantomData,
        }
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

/// The future of one activity call; see [`OrchestrationContext::call_activity`].
///
/// Resolves to the activity's output, or to [`ActivityFailed`].
#[must_use = "an activity call does nothing for the orchestrator unless awaited"]
pub struct ActivityCall<O> {
    shared: Option<Arc<Shared>>,
    seq: i64,
    name: &'static str,
    early: Option<FailureDetails>,
    _output: PhantomData<fn() -> O>,
}

impl<O> ActivityCall<O> {
    fn failed(name: &'static str, failure: FailureDetails) -> Self {
        Self {
            shared: None,
            seq: -1,
            name,
            early: Some(failure),
            _output: PhantomData,
        }
    }

    fn failure(&self, details: FailureDetails) -> ActivityFailed {
        ActivityFailed {
            name: self.name.to_owned(),
            details,
        }
    }
}

impl<O> fmt::Debug for ActivityCall<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivityCall")
            .field("activity", &self.name)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<O> Unpin for ActivityCall<O> {}

impl<O: DeserializeOwned> Future for ActivityCall<O> {
    type Output = Result<O, ActivityFailed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(failure) = this.early.take() {
            return Poll::Ready(Err(this.failure(failure)));
        }
        let Some(shared) = &this.shared else {
            return Poll::Pending;
        };
        let mut state = shared.lock();
        let Some(open) = state.open.get_mut(&this.seq) else {
            return Poll::Pending;
        };
        let Some(result) = open.result.take() else {
            if !open.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                open.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        state.open.remove(&this.seq);
        drop(state);
        this.shared = None;
        Poll::Ready(match result {
            Ok(payload) => payload.decode().map_err(|error| {
                this.failure(FailureDetails::new(
                    OUTPUT_DECODE_ERROR,
                    format!(
                        "the output of activity `{}` does not decode as `{}`: {error}",
                        this.name,
                        std::any::type_name::<O>()
                    ),
                ))
            }),
            Err(details) => Err(this.failure(details)),
        })
    }
}

impl<O> Drop for ActivityCall<O> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.lock().open.remove(&self.seq);
        }
    }
}
