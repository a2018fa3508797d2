//! The futures the context's durable calls return ([`ActivityCall`],
//! [`SubOrchestrationCall`], [`DurableTimer`], [`WaitForEvent`]), what they share
//! ([`OpenHandle`]), and the options that wrap a call already scheduled: `.retry(..)`
//! ([`RetryActivityCall`], [`RetrySubOrchestrationCall`]) and `.timeout(..)`
//! ([`WaitWithTimeout`]). Scheduling itself is in `orchestration.rs`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ActivityFailed, EventError, SubOrchestrationFailed};
use crate::error_types::OUTPUT_DECODE_ERROR;
use crate::ids::InstanceId;
use crate::payload::Payload;
use crate::replay::Shared;
use crate::status::FailureDetails;

use super::orchestration::OrchestrationContext;
use super::retry::RetryPolicy;

/// The part every durable call future shares: an open call in the replay state, removed
/// when the future is dropped (the call itself is not cancelled; its result is ignored).
pub(super) struct OpenHandle {
    shared: Option<Arc<Shared>>,
    seq: i64,
}

impl OpenHandle {
    pub(super) fn new(shared: Arc<Shared>, seq: i64) -> Self {
        Self {
            shared: Some(shared),
            seq,
        }
    }

    pub(super) fn none() -> Self {
        Self {
            shared: None,
            seq: -1,
        }
    }

    pub(super) fn poll_result(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Payload, FailureDetails>> {
        let Some(shared) = &self.shared else {
            return Poll::Pending;
        };
        let mut state = shared.lock();
        let Some(open) = state.open.get_mut(&self.seq) else {
            return Poll::Pending;
        };
        let Some(result) = open.result.take() else {
            if !open.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                open.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        state.open.remove(&self.seq);
        drop(state);
        self.shared = None;
        Poll::Ready(result)
    }
}

impl Drop for OpenHandle {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.lock().open.remove(&self.seq);
        }
    }
}

pub(super) fn decode_output<O: DeserializeOwned>(
    kind: &str,
    name: &str,
    payload: &Payload,
) -> Result<O, FailureDetails> {
    payload.decode().map_err(|error| {
        FailureDetails::new(
            OUTPUT_DECODE_ERROR,
            format!(
                "the output of {kind} `{name}` does not decode as `{}`: {error}",
                std::any::type_name::<O>()
            ),
        )
    })
}

/// The future of one activity call; see [`OrchestrationContext::call_activity`].
///
/// Resolves to the activity's output, or to [`ActivityFailed`].
#[must_use = "an activity call does nothing for the orchestrator unless awaited"]
pub struct ActivityCall<O> {
    pub(super) handle: OpenHandle,
    pub(super) name: &'static str,
    pub(super) early: Option<FailureDetails>,
    /// What [`retry`](Self::retry) needs to make the call again: the context's state and the
    /// encoded input, or the failure each attempt ends with at once (an input that does not
    /// encode). `None` only after `retry` took it.
    pub(super) again: Option<(Arc<Shared>, Result<Payload, FailureDetails>)>,
    pub(super) _output: PhantomData<fn() -> O>,
}

impl<O> ActivityCall<O> {
    pub(super) fn failed(shared: Arc<Shared>, name: &'static str, failure: FailureDetails) -> Self {
        Self {
            handle: OpenHandle::none(),
            name,
            early: Some(failure.clone()),
            again: Some((shared, Err(failure))),
            _output: PhantomData,
        }
    }
}

impl<O: DeserializeOwned + Send + 'static> ActivityCall<O> {
    /// Retries this call's failures as `policy` says: resolves to the first success, or
    /// to the last attempt's [`ActivityFailed`] once the policy gives up (attempts used up,
    /// retry timeout passed, a non-retriable failure, or `policy.handle` said no).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use durable_runtime::prelude::*;
    /// # #[activity]
    /// # async fn charge_card(amount: u64) -> Result<u64, ActivityError> { Ok(amount) }
    /// #[orchestrator]
    /// async fn checkout(ctx: OrchestrationContext, amount: u64) -> Result<u64, OrchestrationError> {
    ///     let policy = RetryPolicy::new(3, Duration::from_secs(5));
    ///     Ok(ctx.call_activity(ChargeCard, amount).retry(&policy).await?)
    /// }
    /// ```
    ///
    /// The retry timeout counts from this call (the turn's time when it is chained on
    /// `call_activity(..)`, as above).
    ///
    /// # Determinism
    /// The first attempt is this call, already scheduled with its sequence number; each
    /// wait writes a `TimerCreated`/`TimerFired` pair and each later attempt its own
    /// `ActivityScheduled`, exactly as
    /// [`call_activity_with_retry`](OrchestrationContext::call_activity_with_retry) does,
    /// so histories of either form replay with the other.
    pub fn retry(mut self, policy: &RetryPolicy) -> RetryActivityCall<O> {
        let name = self.name;
        let Some((shared, input)) = self.again.take() else {
            // Not reached (`retry` consumes the call, and only `retry` takes `again`); kept
            // total: a call with nothing to repeat waits forever, as a finished call would.
            return RetryActivityCall {
                inner: Box::pin(futures::future::pending()),
                name,
            };
        };
        let ctx = OrchestrationContext { shared };
        let policy = policy.clone();
        let started = ctx.current_time();
        let inner = Box::pin(async move {
            let mut call = self;
            let mut attempt = 1;
            loop {
                let error = match call.await {
                    Ok(output) => return Ok(output),
                    Err(error) => error,
                };
                if !ctx.retry_allowed(&policy, attempt, started, &error.details) {
                    return Err(error);
                }
                ctx.create_timer(policy.delay(attempt)).await;
                attempt += 1;
                #[cfg(any(feature = "otel", feature = "metrics"))]
                ctx.shared.lock().set_retry_attempt(attempt);
                call = match &input {
                    Ok(input) => ctx.schedule_activity(name, input.clone()),
                    Err(failure) => ActivityCall::failed(ctx.shared.clone(), name, failure.clone()),
                };
            }
        });
        RetryActivityCall { inner, name }
    }
}

/// An activity call with retries; see [`ActivityCall::retry`].
///
/// Resolves to the activity's output, or to the last attempt's [`ActivityFailed`].
#[must_use = "an activity call does nothing for the orchestrator unless awaited"]
pub struct RetryActivityCall<O> {
    inner: Pin<Box<dyn Future<Output = Result<O, ActivityFailed>> + Send>>,
    name: &'static str,
}

impl<O> fmt::Debug for RetryActivityCall<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryActivityCall")
            .field("activity", &self.name)
            .finish_non_exhaustive()
    }
}

impl<O> Future for RetryActivityCall<O> {
    type Output = Result<O, ActivityFailed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<O> fmt::Debug for ActivityCall<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivityCall")
            .field("activity", &self.name)
            .field("seq", &self.handle.seq)
            .finish_non_exhaustive()
    }
}

impl<O> Unpin for ActivityCall<O> {}

impl<O: DeserializeOwned> Future for ActivityCall<O> {
    type Output = Result<O, ActivityFailed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let name = this.name;
        let failed = |details| ActivityFailed {
            name: name.to_owned(),
            details,
        };
        if let Some(failure) = this.early.take() {
            return Poll::Ready(Err(failed(failure)));
        }
        this.handle.poll_result(cx).map(|result| {
            result
                .and_then(|payload| decode_output("activity", name, &payload))
                .map_err(failed)
        })
    }
}

/// The future of a sub-orchestration; see [`OrchestrationContext::call_sub_orchestrator`].
///
/// Resolves to the child's output, or to [`SubOrchestrationFailed`].
#[must_use = "a sub-orchestration call does nothing for the orchestrator unless awaited"]
pub struct SubOrchestrationCall<O> {
    pub(super) handle: OpenHandle,
    pub(super) name: &'static str,
    pub(super) instance_id: InstanceId,
    pub(super) early: Option<FailureDetails>,
    /// What [`retry`](Self::retry) needs to make the call again; `None` once taken.
    pub(super) again: Option<(Arc<Shared>, SubOrchestrationRequest)>,
    pub(super) _output: PhantomData<fn() -> O>,
}

/// A sub-orchestration call as made: what its retries make again.
#[derive(Debug, Clone)]
pub(super) struct SubOrchestrationRequest {
    pub(super) name: &'static str,
    pub(super) version: Option<&'static str>,
    /// The id given, if any (`None`: each attempt gets `"{execution_id}:{seq}"`).
    pub(super) instance_id: Option<InstanceId>,
    /// The encoded input, or the failure each attempt ends with at once.
    pub(super) input: Result<Payload, FailureDetails>,
}

impl<O: DeserializeOwned + Send + 'static> SubOrchestrationCall<O> {
    /// Retries this call's failures as `policy` says: resolves to the first success, or
    /// to the last attempt's [`SubOrchestrationFailed`] once the policy gives up.
    ///
    /// Each later attempt is a new child: with the default id (`"{execution_id}:{seq}"`,
    /// from its own sequence number), or again the id given to
    /// [`call_sub_orchestrator_with_id`](OrchestrationContext::call_sub_orchestrator_with_id)
    /// (the failed child has finished, so its id can be reused). The retry timeout counts
    /// from this call.
    ///
    /// # Determinism
    /// The first attempt is this call, already scheduled with its sequence number; each
    /// wait writes a `TimerCreated`/`TimerFired` pair and each later attempt its own
    /// `SubOrchestrationCreated`, as
    /// [`call_sub_orchestrator_with_retry`](OrchestrationContext::call_sub_orchestrator_with_retry)
    /// does.
    pub fn retry(mut self, policy: &RetryPolicy) -> RetrySubOrchestrationCall<O> {
        let name = self.name;
        let Some((shared, request)) = self.again.take() else {
            return RetrySubOrchestrationCall {
                inner: Box::pin(futures::future::pending()),
                name,
            };
        };
        let ctx = OrchestrationContext { shared };
        let policy = policy.clone();
        let started = ctx.current_time();
        let inner = Box::pin(async move {
            let mut call = self;
            let mut attempt = 1;
            loop {
                let error = match call.await {
                    Ok(output) => return Ok(output),
                    Err(error) => error,
                };
                if !ctx.retry_allowed(&policy, attempt, started, &error.details) {
                    return Err(error);
                }
                ctx.create_timer(policy.delay(attempt)).await;
                attempt += 1;
                #[cfg(any(feature = "otel", feature = "metrics"))]
                ctx.shared.lock().set_retry_attempt(attempt);
                call = ctx.schedule_sub_orchestration(request.clone());
            }
        });
        RetrySubOrchestrationCall { inner, name }
    }
}

/// A sub-orchestration call with retries; see [`SubOrchestrationCall::retry`].
///
/// Resolves to the child's output, or to the last attempt's [`SubOrchestrationFailed`].
#[must_use = "a sub-orchestration call does nothing for the orchestrator unless awaited"]
pub struct RetrySubOrchestrationCall<O> {
    inner: Pin<Box<dyn Future<Output = Result<O, SubOrchestrationFailed>> + Send>>,
    name: &'static str,
}

impl<O> fmt::Debug for RetrySubOrchestrationCall<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetrySubOrchestrationCall")
            .field("orchestration", &self.name)
            .finish_non_exhaustive()
    }
}

impl<O> Future for RetrySubOrchestrationCall<O> {
    type Output = Result<O, SubOrchestrationFailed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<O> SubOrchestrationCall<O> {
    /// The child's instance id.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance_id
    }
}

impl<O> fmt::Debug for SubOrchestrationCall<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubOrchestrationCall")
            .field("orchestration", &self.name)
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl<O> Unpin for SubOrchestrationCall<O> {}

impl<O: DeserializeOwned> Future for SubOrchestrationCall<O> {
    type Output = Result<O, SubOrchestrationFailed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let failed = |details| SubOrchestrationFailed {
            name: this.name.to_owned(),
            instance_id: this.instance_id.clone(),
            details,
        };
        if let Some(failure) = this.early.take() {
            return Poll::Ready(Err(failed(failure)));
        }
        let name = this.name;
        match this.handle.poll_result(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => Poll::Ready(
                result
                    .and_then(|payload| decode_output("sub-orchestration", name, &payload))
                    .map_err(failed),
            ),
        }
    }
}

/// A durable timer; see [`OrchestrationContext::create_timer`]. Resolves to its fire time.
///
/// Dropping it cancels the wait: the timer still fires in the store (its `TimerFired` is
/// then ignored), but nothing waits for it and it never keeps an instance running.
#[must_use = "a timer does nothing for the orchestrator unless awaited"]
#[derive(Debug)]
pub struct DurableTimer {
    pub(super) handle: OpenHandle,
    pub(super) fire_at: DateTime<Utc>,
}

impl DurableTimer {
    /// When the timer fires.
    pub fn fire_at(&self) -> DateTime<Utc> {
        self.fire_at
    }
}

impl fmt::Debug for OpenHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenHandle")
            .field("seq", &self.seq)
            .finish()
    }
}

impl Future for DurableTimer {
    type Output = DateTime<Utc>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.handle.poll_result(cx).map(|_| this.fire_at)
    }
}

/// When a durable timer fires: a [`DateTime<Utc>`], or a duration from
/// [`OrchestrationContext::current_time`] (`std::time::Duration` or `chrono::TimeDelta`).
pub trait TimerDeadline {
    /// The fire time, given the orchestration's current time.
    fn fire_at(self, now: DateTime<Utc>) -> DateTime<Utc>;
}

impl TimerDeadline for DateTime<Utc> {
    fn fire_at(self, _now: DateTime<Utc>) -> DateTime<Utc> {
        self
    }
}

impl TimerDeadline for std::time::Duration {
    fn fire_at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::TimeDelta::from_std(self)
            .ok()
            .and_then(|delta| now.checked_add_signed(delta))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl TimerDeadline for chrono::TimeDelta {
    fn fire_at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_add_signed(self)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// A typed external event: a payload type with the name it is raised under.
///
/// ```
/// use durable_runtime::ExternalEvent;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct ApprovalEvent {
///     pub approved: bool,
/// }
///
/// impl ExternalEvent for ApprovalEvent {
///     const NAME: &'static str = "ApprovalEvent";
/// }
///
/// let event = ApprovalEvent { approved: true };
/// assert!(event.approved && ApprovalEvent::NAME == "ApprovalEvent");
/// ```
/// Then `ctx.wait_for_event::<ApprovalEvent>()` in the orchestrator and
/// `client.raise(&id, &ApprovalEvent { approved: true })` from a client: the name is written
/// once and the payload type is checked on both sides.
pub trait ExternalEvent: Serialize + DeserializeOwned + Send + 'static {
    /// The event name (compared case-insensitively, as in Durable Functions).
    const NAME: &'static str;
}

/// Waiting for an external event; see [`OrchestrationContext::wait_for_external_event`].
#[must_use = "waiting does nothing unless awaited"]
pub struct WaitForEvent<T> {
    pub(super) shared: Option<Arc<Shared>>,
    pub(super) waiter: u64,
    pub(super) name: String,
    pub(super) _payload: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for WaitForEvent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForEvent")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<T> Unpin for WaitForEvent<T> {}

impl<T: DeserializeOwned> Future for WaitForEvent<T> {
    type Output = Result<T, EventError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(shared) = &this.shared else {
            return Poll::Pending;
        };
        let mut state = shared.lock();
        let Some(waiter) = state.event_waiters.get_mut(&this.waiter) else {
            return Poll::Pending;
        };
        let Some(payload) = waiter.result.take() else {
            if !waiter
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                waiter.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        state.event_waiters.remove(&this.waiter);
        drop(state);
        this.shared = None;
        Poll::Ready(payload.decode().map_err(|error| EventError::Decode {
            name: this.name.clone(),
            expected: std::any::type_name::<T>(),
            message: error.to_string(),
        }))
    }
}

impl<T: DeserializeOwned> WaitForEvent<T> {
    /// Fails the wait with [`EventError::TimedOut`] once `timeout` has passed, as Durable
    /// Functions' `WaitForExternalEvent(name, timeout)`: a durable timer, cancelled if the
    /// event wins.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use durable_runtime::prelude::*;
    /// #[derive(Debug, Serialize, Deserialize)]
    /// struct Approved;
    /// impl ExternalEvent for Approved {
    ///     const NAME: &'static str = "Approved";
    /// }
    ///
    /// #[orchestrator]
    /// async fn approval(ctx: OrchestrationContext, _: ()) -> Result<bool, OrchestrationError> {
    ///     match ctx.wait_for_event::<Approved>().timeout(Duration::from_secs(3600)).await {
    ///         Ok(Approved) => Ok(true),
    ///         Err(EventError::TimedOut { .. }) => Ok(false),
    ///         Err(error) => Err(error.into()),
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// [`EventError::TimedOut`], or [`EventError::Decode`] as without a timeout.
    ///
    /// # Determinism
    /// Writes `TimerCreated` with the next sequence number at this call (the wait itself
    /// writes nothing), exactly as
    /// [`wait_for_external_event_with_timeout`](OrchestrationContext::wait_for_external_event_with_timeout)
    /// does, so histories of either form replay with the other.
    #[track_caller]
    pub fn timeout(self, timeout: std::time::Duration) -> WaitWithTimeout<T> {
        let timer = self
            .shared
            .as_ref()
            .map(|shared| OrchestrationContext::timer(shared, timeout));
        WaitWithTimeout {
            event: self,
            timer,
            timeout,
        }
    }
}

/// Waiting for an external event with a timeout; see [`WaitForEvent::timeout`].
#[must_use = "waiting does nothing unless awaited"]
pub struct WaitWithTimeout<T> {
    event: WaitForEvent<T>,
    /// `None` when the wait had ended before the timeout was set.
    timer: Option<DurableTimer>,
    timeout: std::time::Duration,
}

impl<T> fmt::Debug for WaitWithTimeout<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitWithTimeout")
            .field("name", &self.event.name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T> Unpin for WaitWithTimeout<T> {}

impl<T: DeserializeOwned> Future for WaitWithTimeout<T> {
    type Output = Result<T, EventError>;

    /// Polls the event first, then the timer (as `select(event, timer)`); the loser is
    /// dropped at once: a cancelled timer, or a wait that no longer takes an event.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(result) = Pin::new(&mut this.event).poll(cx) {
            this.timer = None;
            return Poll::Ready(result);
        }
        let Some(timer) = &mut this.timer else {
            return Poll::Pending;
        };
        if Pin::new(timer).poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.timer = None;
        if let Some(shared) = this.event.shared.take() {
            shared.lock().event_waiters.remove(&this.event.waiter);
        }
        Poll::Ready(Err(EventError::TimedOut {
            name: this.event.name.clone(),
            timeout: this.timeout,
        }))
    }
}

impl<T> Drop for WaitForEvent<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.lock().event_waiters.remove(&self.waiter);
        }
    }
}
