//! [`TestEnvironment`]: a runtime on the memory store with a virtual clock, fakes, and
//! helpers that wait for what a test cares about.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::calls::{DurableCall, difference};
use super::error::TestError;
use super::fakes::{self, EntityOperationCall, FakeActivity, FakeEntity, FakeOrchestration};
use crate::client::{DurableClient, OrchestrationHandle};
use crate::clock::{Clock, VirtualClock};
use crate::context::ExternalEvent;
use crate::entity::Entity;
use crate::error::{ActivityError, OrchestrationError};
use crate::history::{EventKind, HistoryEvent};
use crate::ids::InstanceId;
use crate::registry::{Activity, Orchestration, Registry, Replacements};
use crate::replay::ReplayEngine;
use crate::runtime::Runtime;
use crate::status::{OrchestrationStatus, RuntimeStatus};
use crate::store::Store;
use crate::store::memory::{MemoryStore, Quiescence};
use crate::worker::WorkerOptions;

/// A task hub for one test: a worker on a [`MemoryStore`] whose clock is virtual.
///
/// **Time** stands still unless the test moves it. It moves in two ways:
///
/// - *Time skipping* (Temporal's time-skipping test server): while the test waits through
///   one of the `wait_*` / [`run_until_complete`](Self::run_until_complete) methods, and
///   everything in the environment is idle (no visible message, no activity queued or
///   running or waiting for its commit, no turn in flight), the clock jumps to the next
///   pending durable timer (or delayed signal, or delayed retry) and the wait goes on. The
///   condition waited for is checked before every jump, so a wait for an event returns
///   while the event's timeout timer is still pending.
/// - [`advance`](Self::advance): moves the clock by a duration, firing every timer due on
///   the way in due order.
///
/// `ctx.current_time()` reads the virtual time (the turn's timestamp), retry policies'
/// back-off waits are durable timers and skip like any other, and so a 72-hour approval
/// timeout takes milliseconds. Idleness is read from the store's own state in one lock,
/// so a jump never races with work that could still run.
///
/// **Fakes** replace an activity, orchestration or entity by a closure for this
/// environment only ([`fake_activity`](Self::fake_activity),
/// [`fake_orchestration`](Self::fake_orchestration), [`fake_entity`](Self::fake_entity)),
/// consulted before the registered functions, and record their inputs. Everything not
/// faked runs for real.
///
/// Nothing is global: each environment has its own store, clock, worker and fakes, so
/// tests run in parallel. Works on any tokio runtime, including `#[tokio::test]`'s
/// current-thread one.
///
/// ```standalone_crate
/// use std::time::Duration;
/// use durable_runtime::prelude::*;
/// use durable_runtime::testing::TestEnvironment;
///
/// #[activity]
/// async fn send_reminder(user: String) -> Result<(), ActivityError> {
///     Err(ActivityError::new(format!("no mail server to remind {user}")))
/// }
///
/// #[orchestrator]
/// async fn remind_tomorrow(ctx: OrchestrationContext, user: String) -> Result<(), OrchestrationError> {
///     ctx.create_timer(Duration::from_secs(24 * 3600)).await;
///     ctx.call_activity(SendReminder, user).await?;
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let env = TestEnvironment::start().await?;
/// let reminders = env.fake_activity(SendReminder, |_user: String| Ok(()));
/// let started = env.now();
/// let instance = RemindTomorrow::start(&env.client(), "ada".into()).await?;
/// env.run_until_complete(&instance).await?;
/// assert_eq!(reminders.calls(), ["ada"]);
/// assert_eq!(env.now() - started, chrono::TimeDelta::hours(24));
/// env.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestEnvironment {
    runtime: Runtime,
    store: Arc<MemoryStore>,
    clock: VirtualClock,
    registry: Registry,
    replacements: Arc<Replacements>,
    timeout: Duration,
}

/// Configures a [`TestEnvironment`]; see [`TestEnvironment::builder`].
#[derive(Debug)]
pub struct TestEnvironmentBuilder {
    registry: Option<Registry>,
    start_time: DateTime<Utc>,
    options: WorkerOptions,
    timeout: Duration,
}

/// The instant a test environment's clock starts at unless told otherwise:
/// 2025-01-01T00:00:00Z, so timestamps in a test are the same on every run.
pub fn default_start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_689_600, 0).unwrap_or_default()
}

impl Default for TestEnvironmentBuilder {
    fn default() -> Self {
        Self {
            registry: None,
            start_time: default_start_time(),
            options: WorkerOptions {
                // Every turn replays the whole history, so a determinism mistake fails the
                // test instead of hiding behind the instance cache.
                always_replay: true,
                shutdown_timeout: Duration::from_secs(5),
                ..WorkerOptions::default()
            },
            timeout: Duration::from_secs(30),
        }
    }
}

impl TestEnvironmentBuilder {
    /// Runs the functions in `registry` instead of every function registered through the
    /// macros (for a test binary that links two versions of one orchestration under one
    /// name, say).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Starts the virtual clock at `start` (default: [`default_start_time`]).
    pub fn start_time(mut self, start: DateTime<Utc>) -> Self {
        self.start_time = start;
        self
    }

    /// Replaces the worker options (the kit's default sets
    /// [`always_replay`](WorkerOptions::always_replay), which catches non-determinism on
    /// every turn).
    pub fn options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets how much wall time one wait may take for the work to settle before it gives up
    /// with [`TestError::Timeout`] (default 30 s; only real work, such as an activity doing
    /// I/O, takes wall time).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Starts the environment's worker on the current tokio runtime.
    ///
    /// # Errors
    /// [`TestError::Start`] when no registry was given and the macros' registrations clash
    /// or there are none.
    pub async fn start(self) -> Result<TestEnvironment, TestError> {
        let clock = VirtualClock::new(self.start_time);
        let store = Arc::new(MemoryStore::with_clock(Clock::Virtual(clock.clone())));
        let registry = match self.registry {
            Some(registry) => registry,
            None => Registry::from_inventory().map_err(crate::error::RuntimeError::from)?,
        };
        let replacements = Arc::new(Replacements::default());
        let registry = registry.with_replacements(replacements.clone());
        let runtime = Runtime::builder()
            .store(store.clone())
            .registry(registry.clone())
            .options(self.options)
            .start()
            .await?;
        Ok(TestEnvironment {
            runtime,
            store,
            clock,
            registry,
            replacements,
            timeout: self.timeout,
        })
    }
}

/// What a wait waits for.
enum Until<'a> {
    Finished,
    WaitingForEvent(&'a str),
    WaitingForTimer,
}

impl Until<'_> {
    fn describe(&self) -> String {
        match self {
            Self::Finished => "complete".to_owned(),
            Self::WaitingForEvent(name) => format!("wait for event `{name}`"),
            Self::WaitingForTimer => "wait for a durable timer".to_owned(),
        }
    }
}

impl TestEnvironment {
    /// Starts configuring an environment.
    pub fn builder() -> TestEnvironmentBuilder {
        TestEnvironmentBuilder::default()
    }

    /// Starts an environment with every function registered through the macros, the
    /// clock at [`default_start_time`].
    ///
    /// # Errors
    /// See [`TestEnvironmentBuilder::start`].
    pub async fn start() -> Result<Self, TestError> {
        Self::builder().start().await
    }

    /// A client of the environment's store (its timestamps follow the virtual clock).
    pub fn client(&self) -> DurableClient {
        self.runtime.client()
    }

    /// The virtual clock. Moving it directly skips the settling that
    /// [`advance`](Self::advance) does; prefer that.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The virtual time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts an instance of `O` with `input` (the same as `O::start(&env.client(), input)`).
    ///
    /// # Errors
    /// [`TestError::Client`] as [`DurableClient::start_orchestration`].
    pub async fn start_orchestration<O: Orchestration>(
        &self,
        orchestration: O,
        input: O::Input,
    ) -> Result<OrchestrationHandle<O>, TestError> {
        Ok(self
            .client()
            .start_orchestration(orchestration, input)
            .await?)
    }

    /// Replaces activity `A` in this environment by `fake`, which gets each call's input
    /// and returns its output or an [`ActivityError`] (mark it
    /// [`non_retriable`](ActivityError::non_retriable) to stop a retry policy); returns the
    /// handle that records the inputs. A later fake of the same activity replaces this one.
    /// A panic in `fake` fails the activity as a panicking activity does.
    ///
    /// ```standalone_crate
    /// # use durable_runtime::prelude::*;
    /// # use durable_runtime::testing::TestEnvironment;
    /// #[activity]
    /// async fn get_weather(city: String) -> Result<f64, ActivityError> {
    ///     Err(ActivityError::new(format!("no weather service for {city}")))
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = TestEnvironment::start().await?;
    /// let weather = env.fake_activity(GetWeather, |city: String| match city.as_str() {
    ///     "Oslo" => Ok(-3.5),
    ///     _ => Err(ActivityError::new(format!("no station in {city}")).non_retriable()),
    /// });
    /// # let _ = weather;
    /// # Ok(()) }
    /// ```
    pub fn fake_activity<A, F>(&self, activity: A, fake: F) -> FakeActivity<A>
    where
        A: Activity,
        F: Fn(A::Input) -> Result<A::Output, ActivityError> + Send + Sync + 'static,
    {
        let _ = activity;
        let (body, handle) = fakes::activity::<A, F>(fake);
        self.replacements
            .activities
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(A::NAME, body);
        handle
    }

    /// Replaces orchestration `O` (its name and version) in this environment by `fake`:
    /// an instance of it, started by a client or as a sub-orchestration, completes in its
    /// first turn with what `fake` returns for its input (or fails with its error), without
    /// running the real orchestrator or its activities.
    pub fn fake_orchestration<O, F>(&self, orchestration: O, fake: F) -> FakeOrchestration<O>
    where
        O: Orchestration,
        F: Fn(O::Input) -> Result<O::Output, OrchestrationError> + Send + Sync + 'static,
    {
        let _ = orchestration;
        let (body, handle) = fakes::orchestration::<O, F>(fake);
        self.replacements
            .orchestrations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((O::NAME, O::VERSION), body);
        handle
    }

    /// Replaces entity `E` in this environment by `fake`: every operation sent to any
    /// `E` entity (signal or call) goes to `fake`, whose `Ok` JSON value is a call's result
    /// and whose error fails the call. The stored state is left as it is (a faked entity that
    /// never existed stays absent).
    ///
    /// ```standalone_crate
    /// # use durable_runtime::prelude::*;
    /// # use durable_runtime::testing::TestEnvironment;
    /// #[derive(Debug, Default, Serialize, Deserialize)]
    /// struct Counter { value: i64 }
    /// #[entity]
    /// impl Counter {
    ///     fn add(&mut self, amount: i64) { self.value += amount; }
    ///     fn get(&self) -> i64 { self.value }
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = TestEnvironment::start().await?;
    /// let counters = env.fake_entity::<Counter>(|call| match call.operation.as_str() {
    ///     "get" => Ok(serde_json::json!(42)),
    ///     _ => Ok(serde_json::Value::Null),
    /// });
    /// # let _ = counters;
    /// # Ok(()) }
    /// ```
    pub fn fake_entity<E: Entity>(
        &self,
        fake: impl Fn(&EntityOperationCall) -> Result<serde_json::Value, ActivityError>
        + Send
        + Sync
        + 'static,
    ) -> FakeEntity<E> {
        let (factory, handle) = fakes::entity::<E, serde_json::Value, _>(fake);
        self.replacements
            .entities
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(E::NAME, factory);
        handle
    }

    /// Raises event `E` on instance `instance_id` (as [`DurableClient::raise`]).
    ///
    /// # Errors
    /// [`TestError::Client`]: the instance does not exist or has ended.
    pub async fn raise_event<E: ExternalEvent>(
        &self,
        instance_id: &InstanceId,
        event: &E,
    ) -> Result<(), TestError> {
        Ok(self.client().raise(instance_id, event).await?)
    }

    /// Waits until nothing in the environment can run without time passing, without
    /// moving the clock.
    ///
    /// # Errors
    /// [`TestError::Timeout`].
    pub async fn wait_idle(&self) -> Result<(), TestError> {
        self.settle().await.map(drop)
    }

    /// Lets the work settle, then moves the clock forward by `by`, stopping at every
    /// pending timer due on the way (in due order, letting its work settle) so each turn
    /// sees the time it would have seen; returns the new time.
    ///
    /// # Errors
    /// [`TestError::Timeout`].
    pub async fn advance(&self, by: Duration) -> Result<DateTime<Utc>, TestError> {
        let target = self.now() + chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        loop {
            let quiescence = self.settle().await?;
            match quiescence.next_due {
                Some(due) if due <= target => self.jump(due),
                _ => break,
            }
        }
        self.jump(target);
        self.settle().await?;
        Ok(self.now())
    }

    /// Waits, skipping time, until instance `handle` has ended, and returns its output.
    ///
    /// # Errors
    /// [`TestError::Failed`] with the recorded failure, [`TestError::Ended`] when it was
    /// terminated, [`TestError::Stalled`] when it waits for something only the test can
    /// send, [`TestError::Output`], [`TestError::Timeout`].
    pub async fn run_until_complete<O: Orchestration>(
        &self,
        handle: &OrchestrationHandle<O>,
    ) -> Result<O::Output, TestError> {
        let instance_id = handle.instance_id();
        let status = self.wait_for_completion(instance_id).await?;
        match status.runtime_status {
            RuntimeStatus::Completed => status
                .output
                .unwrap_or_else(crate::payload::Payload::null)
                .decode()
                .map_err(|source| TestError::Output {
                    instance_id: instance_id.clone(),
                    source,
                }),
            RuntimeStatus::Failed => Err(TestError::Failed {
                instance_id: instance_id.clone(),
                failure: status.failure.unwrap_or_else(|| {
                    crate::status::FailureDetails::new("unknown", "no failure recorded")
                }),
            }),
            other => Err(TestError::Ended {
                instance_id: instance_id.clone(),
                status: other,
                waiting_for: Until::Finished.describe(),
            }),
        }
    }

    /// Waits, skipping time, until instance `instance_id` has ended (completed, failed or
    /// terminated), and returns its status.
    ///
    /// # Errors
    /// [`TestError::Stalled`], [`TestError::InstanceNotFound`], [`TestError::Timeout`].
    pub async fn wait_for_completion(
        &self,
        instance_id: &InstanceId,
    ) -> Result<OrchestrationStatus, TestError> {
        self.drive(instance_id, &Until::Finished).await
    }

    /// Waits, skipping time, until instance `instance_id` waits for event `E`
    /// (`wait_for_event::<E>`, with or without a timeout), so a test can raise it at the
    /// right moment. A wait with a timeout returns before the timeout's timer fires.
    ///
    /// # Errors
    /// [`TestError::Ended`] when the instance ended first, [`TestError::Stalled`],
    /// [`TestError::InstanceNotFound`], [`TestError::Timeout`].
    pub async fn wait_for_event_waiter<E: ExternalEvent>(
        &self,
        instance_id: &InstanceId,
    ) -> Result<(), TestError> {
        self.wait_for_event_waiter_named(instance_id, E::NAME).await
    }

    /// [`wait_for_event_waiter`](Self::wait_for_event_waiter) by event name (compared
    /// case-insensitively).
    ///
    /// # Errors
    /// As [`wait_for_event_waiter`](Self::wait_for_event_waiter).
    pub async fn wait_for_event_waiter_named(
        &self,
        instance_id: &InstanceId,
        name: &str,
    ) -> Result<(), TestError> {
        self.drive(instance_id, &Until::WaitingForEvent(name))
            .await
            .map(drop)
    }

    /// Waits, skipping time, until instance `instance_id` has a durable timer pending, and
    /// returns the earliest one's fire time (the clock is not moved to it).
    ///
    /// # Errors
    /// As [`wait_for_event_waiter`](Self::wait_for_event_waiter).
    pub async fn wait_for_timer(
        &self,
        instance_id: &InstanceId,
    ) -> Result<DateTime<Utc>, TestError> {
        self.drive(instance_id, &Until::WaitingForTimer).await?;
        let history = self.history(instance_id).await?;
        pending_timers(&history)
            .into_iter()
            .min()
            .ok_or_else(|| TestError::InstanceNotFound(instance_id.clone()))
    }

    /// Instance `instance_id`'s current history (after the work settled).
    ///
    /// # Errors
    /// [`TestError::InstanceNotFound`], [`TestError::Timeout`].
    pub async fn history(&self, instance_id: &InstanceId) -> Result<Vec<HistoryEvent>, TestError> {
        self.settle().await?;
        match self.store.read_history(instance_id).await {
            Ok(Some(history)) => Ok(history),
            Ok(None) => Err(TestError::InstanceNotFound(instance_id.clone())),
            Err(error) => Err(TestError::Client(error.into())),
        }
    }

    /// The durable calls instance `instance_id` made, in sequence-number order.
    ///
    /// # Errors
    /// As [`history`](Self::history).
    pub async fn durable_calls(
        &self,
        instance_id: &InstanceId,
    ) -> Result<Vec<DurableCall>, TestError> {
        Ok(DurableCall::from_history(&self.history(instance_id).await?))
    }

    /// Asserts that instance `instance_id` made exactly the durable calls `expected`, in
    /// order.
    ///
    /// # Panics
    /// When they differ (a test assertion): the message lists both sequences and marks
    /// the first difference. Also when the history cannot be read.
    #[track_caller]
    pub fn assert_durable_calls<'a>(
        &'a self,
        instance_id: &'a InstanceId,
        expected: &'a [DurableCall],
    ) -> impl std::future::Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let actual = match self.durable_calls(instance_id).await {
                Ok(actual) => actual,
                Err(error) => panic!("{caller}: cannot read the history of {instance_id}: {error}"),
            };
            if let Some(report) = difference(instance_id, &actual, expected) {
                panic!("{caller}: {report}");
            }
        }
    }

    /// Stops the worker (see [`Runtime::shutdown`]).
    pub async fn shutdown(self) {
        self.runtime.shutdown().await;
    }

    /// Moves the clock to `to` and wakes the dispatchers.
    fn jump(&self, to: DateTime<Utc>) {
        self.clock.advance_to(to);
        self.store.notifier().orchestration_work();
        self.store.notifier().activity_work();
    }

    /// Waits until the store says nothing can run now.
    async fn settle(&self) -> Result<Quiescence, TestError> {
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            let quiescence = self.store.quiescence();
            if !quiescence.busy {
                return Ok(quiescence);
            }
            if started.elapsed() > self.timeout {
                return Err(TestError::Timeout(self.timeout));
            }
            // Yielding lets the worker's tasks run on a current-thread runtime; real work
            // (an activity's I/O) gets a short sleep instead of a spin.
            spins += 1;
            if spins < 200 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Settles, checks `until`, skips to the next pending due time; repeats.
    async fn drive(
        &self,
        instance_id: &InstanceId,
        until: &Until<'_>,
    ) -> Result<OrchestrationStatus, TestError> {
        loop {
            let quiescence = self.settle().await?;
            let status = self
                .client()
                .get_status(instance_id)
                .await?
                .ok_or_else(|| TestError::InstanceNotFound(instance_id.clone()))?;
            let ended = status.runtime_status.is_terminal();
            let reached = match until {
                Until::Finished => ended,
                Until::WaitingForEvent(name) => {
                    !ended
                        && self
                            .waiting_for_events(instance_id)
                            .await?
                            .iter()
                            .any(|waiting| waiting.eq_ignore_ascii_case(name))
                }
                Until::WaitingForTimer => {
                    !ended && !pending_timers(&self.history(instance_id).await?).is_empty()
                }
            };
            if reached {
                return Ok(status);
            }
            if ended {
                return Err(TestError::Ended {
                    instance_id: instance_id.clone(),
                    status: status.runtime_status,
                    waiting_for: until.describe(),
                });
            }
            match quiescence.next_due {
                Some(due) => self.jump(due),
                None => {
                    return Err(TestError::Stalled {
                        instance_id: instance_id.clone(),
                        status: status.runtime_status,
                        waiting_for: until.describe(),
                    });
                }
            }
        }
    }

    /// The events the instance's code waits for now: its history replayed on a fresh
    /// engine (the wait itself writes nothing to history).
    async fn waiting_for_events(&self, instance_id: &InstanceId) -> Result<Vec<String>, TestError> {
        let history = self.history(instance_id).await?;
        let Some((name, version, execution_id)) =
            history.iter().find_map(|event| match &event.kind {
                EventKind::ExecutionStarted {
                    name,
                    version,
                    execution_id,
                    ..
                } => Some((name.clone(), version.clone(), execution_id.clone())),
                _ => None,
            })
        else {
            return Ok(Vec::new());
        };
        let Some(orchestrator) = self.registry.orchestration(&name, version.as_deref()) else {
            return Ok(Vec::new());
        };
        let mut engine = ReplayEngine::new(instance_id.clone(), execution_id, name, orchestrator)
            .with_version(version);
        engine.replay(&history);
        Ok(engine.waiting_for_events())
    }
}

/// The fire times of the timers in `history` that have not fired.
fn pending_timers(history: &[HistoryEvent]) -> Vec<DateTime<Utc>> {
    let fired: std::collections::HashSet<i64> = history
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TimerFired { timer_id, .. } => Some(*timer_id),
            _ => None,
        })
        .collect();
    history
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TimerCreated { fire_at } if !fired.contains(&event.event_id) => {
                Some(*fire_at)
            }
            _ => None,
        })
        .collect()
}
