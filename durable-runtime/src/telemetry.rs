//! OpenTelemetry traces (feature `otel`): one trace per orchestration, across processes.
//!
//! Give the runtime a tracer provider built with this module's [`IdGenerator`] and it
//! emits, through the OpenTelemetry API, the spans of Durable Functions' distributed tracing
//! (V2), with their names and `durabletask.*` attributes:
//!
//! | Span | Kind | From → to | Parent |
//! |---|---|---|---|
//! | `create_orchestration:{name}` | producer | the client's start | the caller's span (`tracing`'s current span, OpenTelemetry's current context, or the HTTP `traceparent` header) |
//! | `orchestration:{name}` | server | the execution's first turn → its end (completed, failed, continued as new, terminated) | `create_orchestration`, or the parent's sub-orchestration span |
//! | `activity:{name}` | client | `ActivityScheduled` → its result | the orchestration |
//! | `activity:{name}` | server | the activity function's run on a worker | the client span above |
//! | `orchestration:{child}` | client | `SubOrchestrationCreated` → its result | the orchestration; the child's `orchestration:{child}` server span is its child |
//! | `orchestration:{name}:timer` | internal | `TimerCreated` → `TimerFired` (attribute `durabletask.fire_at`) | the orchestration |
//! | `orchestration:{name}:event:{event}` | internal | the `wait_for_external_event` call → the event | the orchestration |
//! | `entity_operation:{entity}:{operation}` | client / producer | a call → its result; a signal when sent | the orchestration (or the client's start of a signal) |
//! | `entity_operation:{entity}:{operation}` | server | the operation's run in the entity's batch | the call's or signal's span |
//! | `orchestration_event:{name}` | producer | an event raised by a client or sent by an orchestration | the caller, or the orchestration |
//!
//! A version is appended as `@({version})`, as Durable Functions does. Failures set the
//! span's status to error with the failure's message and `error.type` to its type.
//!
//! # Once, at the real time
//!
//! A span is emitted once, when what it describes has happened, with its start and end read
//! from history: the orchestration side records a span only while applying events *live*
//! (never while replaying committed history), and exports a turn's spans after its commit
//! succeeded. So a worker restart, a cache eviction or a takeover of the instance by another
//! worker (PostgreSQL scale-out) replays history without emitting anything twice. An activity
//! or entity operation span describes one real run; a worker that dies mid-run emits none for
//! it, and the run that replaces it emits its own. Export is at most once: a worker that
//! dies between a commit and the export loses that turn's spans.
//!
//! # Off the dispatchers
//!
//! The dispatchers only record what happened; one thread per runtime (`durable-spans`)
//! builds and ends the spans through the provider, so a processor that exports as each
//! span ends (`with_simple_exporter`), however slow its collector, holds up no turn, no
//! activity and no start. The queue holds up to 16,384 records (a turn's spans, an activity
//! run); beyond that, while the provider cannot keep up, records are dropped with a
//! warning (and counted in `durable_span_records_dropped_total` when the runtime also has
//! metrics, feature `metrics`), as the SDK's batch processor drops spans beyond its queue.
//! [`Runtime::shutdown`](crate::Runtime::shutdown) returns once the spans recorded so far
//! were handed to the provider: shut the provider down after it. A process that exits
//! without it (or a `Runtime` dropped without it) loses the spans not yet built.
//!
//! # Sampling
//!
//! The work an orchestration sends carries its starter's trace flags, so the runtime's spans
//! follow the trace's W3C `sampled` flag, as the SDK's default parent-based sampler does: a
//! trace whose starter (the client's `create_orchestration` span, or the caller's context)
//! was not sampled gets none of them, whatever the provider's sampler, and they are not
//! built at all. `Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1)))` on the
//! provider keeps one trace in ten, whole, and costs the other nine almost nothing.
//!
//! # How one trace crosses processes
//!
//! The caller's W3C trace context is recorded in the instance's `ExecutionStarted`
//! ([`EventKind::ExecutionStarted::trace_context`](crate::history::EventKind::ExecutionStarted)),
//! and each piece of work an orchestration sends carries the context of the span that
//! waits for it: activities in their work item's `trace_context` column, sub-orchestrations
//! in the child's `ExecutionStarted`, entity operations in their `EntityRequest`. The
//! orchestration's own span and its call spans have ids derived from the execution id and
//! the call's sequence number, so whichever worker runs a turn emits them under the same
//! ids; [`IdGenerator`] is how the runtime gives the SDK those ids.
//!
//! # Setting it up
//!
//! ```no_run
//! use durable_runtime::telemetry::{IdGenerator, opentelemetry_sdk};
//! use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
//! # #[allow(dead_code)]
//! # async fn run(exporter: impl SpanExporter + 'static) -> Result<(), Box<dyn std::error::Error>> {
//! // Any exporter: OTLP to a collector, or the SDK's in-memory one in tests.
//! let provider = SdkTracerProvider::builder()
//!     .with_id_generator(IdGenerator::default())
//!     .with_batch_exporter(exporter)
//!     .build();
//! let runtime = durable_runtime::Runtime::builder()
//!     .sqlite("app.db")
//!     .tracer_provider(&provider)
//!     .start()
//!     .await?;
//! // … run orchestrations …
//! runtime.shutdown().await; // hands the last spans to the provider
//! provider.shutdown()?; // exports them
//! # Ok(()) }
//! ```
//!
//! Register the same provider with `tracing-opentelemetry` to have the application's own
//! `tracing` spans in the same traces: `start` then records the current span as the parent.
//! `examples/otel.rs` sends traces to an OTLP collector.

use std::cell::Cell;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags,
    TraceId, TraceState, Tracer as _, TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

pub use opentelemetry;
pub use opentelemetry_sdk;

use crate::entity::EntityId;
use crate::ids::ExecutionId;
use crate::replay::spans::{SpanOf, SpanRecord, SpanRoot, TurnSpans};
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{ActivityWorkItem, OrchestrationWorkItem};
use crate::trace_context::TraceContext;

/// The attribute names the runtime's spans carry: Durable Functions' (`durabletask.*`,
/// DurableTask.Core's `Schema`), OpenTelemetry's `error.type`, and `durable.*` for what
/// Durable Functions does not record.
pub mod attributes {
    /// `orchestration`, `activity`, `timer`, `event` or `entity`.
    pub const TYPE: &str = "durabletask.type";
    /// The orchestration, activity, event or entity name.
    pub const NAME: &str = "durabletask.task.name";
    /// The orchestration's version, when it has one.
    pub const VERSION: &str = "durabletask.task.version";
    /// The instance id of the orchestration the span belongs to.
    pub const INSTANCE_ID: &str = "durabletask.task.instance_id";
    /// The execution id (one continue-as-new generation).
    pub const EXECUTION_ID: &str = "durabletask.task.execution_id";
    /// How the execution ended (`Completed`, `Failed`, `Terminated`, `ContinuedAsNew`).
    pub const STATUS: &str = "durabletask.task.status";
    /// The call's sequence number in its orchestration's history.
    pub const TASK_ID: &str = "durabletask.task.task_id";
    /// A timer's fire time (RFC 3339).
    pub const FIRE_AT: &str = "durabletask.fire_at";
    /// The entity operation's name.
    pub const ENTITY_OPERATION: &str = "durabletask.entity.operation";
    /// The instance an event is sent or raised to.
    pub const EVENT_TARGET_INSTANCE_ID: &str = "durabletask.event.target_instance_id";
    /// The failure's type (`FailureDetails::error_type`), on failed spans.
    pub const ERROR_TYPE: &str = "error.type";
    /// Which attempt of a retry policy a call is (from 1).
    pub const RETRY_ATTEMPT: &str = "durable.retry.attempt";
    /// Which delivery of an activity work item this run is (from 1; more after a worker
    /// died or a lease expired).
    pub const DELIVERY_ATTEMPT: &str = "durable.activity.delivery";
    /// The instance a sub-orchestration call started, or the entity (`@name@key`) called.
    pub const TARGET_INSTANCE_ID: &str = "durable.target_instance_id";
}

thread_local! {
    /// The ids the next span built on this thread takes (see [`IdGenerator`]).
    static PRESET_IDS: Cell<(Option<TraceId>, Option<SpanId>)> = const { Cell::new((None, None)) };
}

/// The OpenTelemetry SDK id generator the runtime's spans need: random ids, except for the
/// span the runtime is building at that moment, which takes the id derived for it.
///
/// Orchestrations span processes and time: a turn on one worker emits the `activity:{name}`
/// client span whose child another worker emitted earlier, so both must know its id in
/// advance. The OpenTelemetry API has no way to name a span's id, so the runtime sets it
/// here, on its own thread, for the one span it builds next. Every other span (the
/// application's own) gets the SDK's random ids. Install it with
/// `SdkTracerProvider::builder().with_id_generator(IdGenerator::default())`;
/// [`RuntimeBuilder::tracer_provider`](crate::RuntimeBuilder::tracer_provider) refuses a
/// provider without it.
#[derive(Debug, Clone, Default)]
pub struct IdGenerator {
    random: opentelemetry_sdk::trace::RandomIdGenerator,
}

impl opentelemetry_sdk::trace::IdGenerator for IdGenerator {
    fn new_trace_id(&self) -> TraceId {
        let preset = PRESET_IDS.with(|ids| {
            let (trace, span) = ids.get();
            ids.set((None, span));
            trace
        });
        preset.unwrap_or_else(|| self.random.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        let preset = PRESET_IDS.with(|ids| {
            let (trace, span) = ids.get();
            ids.set((trace, None));
            span
        });
        preset.unwrap_or_else(|| self.random.new_span_id())
    }
}

/// Why a tracer provider cannot trace orchestrations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The provider's spans do not take the ids the runtime gives them: it was not built
    /// with [`IdGenerator`] (or it is a no-op provider).
    #[error(
        "the tracer provider does not give spans the ids the runtime derives for them; build it \
         with `SdkTracerProvider::builder().with_id_generator(durable_runtime::telemetry::IdGenerator::default())`"
    )]
    IdGeneratorMissing,
}

/// The tracer the runtime emits through (shared by its worker and clients), and the queue
/// of spans its span thread builds.
///
/// A client's `create_orchestration` span is started on the caller's thread (its context
/// is recorded in the instance's history, and the provider's sampler decides whether the
/// trace is sampled) and ended on the span thread. Every other span is described by the
/// runtime's own records (a turn's [`TurnSpans`], an activity run, an entity operation),
/// which the dispatchers hand to the queue after their commit; one thread (`durable-spans`)
/// builds and ends their spans through the provider. So a dispatcher pays a queue push per
/// turn or activity run, not the SDK's work per span (see BENCHMARKS.md, "Traces off the
/// dispatchers"), and a processor that exports as each span ends, however slowly, holds up
/// no dispatcher and no client.
pub(crate) struct Telemetry {
    tracer: Arc<RuntimeTracer>,
    queue: Arc<SpanQueue>,
    /// The names kept for spans built inline, when there is no span thread.
    inline_names: std::sync::Mutex<Names>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // The span thread builds what is queued and then stops.
        self.queue.close();
    }
}

/// How many records (a turn's spans, an activity run) may wait for the span thread; more
/// are dropped (and counted in a warning) rather than held, as the SDK's batch processor
/// drops spans beyond its queue. A client's span to end is never dropped: there is one per
/// start, signal or raise, and dropping it would end it on the caller's thread.
const SPAN_QUEUE_CAPACITY: usize = 16_384;

/// How long the span thread, finding its queue empty, looks again without being woken
/// before it sleeps until a push wakes it: records that keep coming cost no wake-up each.
const SPAN_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

/// The most queue slots the span thread keeps allocated after a burst.
const SPAN_QUEUE_KEPT: usize = 1_024;

/// What the span thread builds spans from.
enum SpanJob {
    /// A committed turn's spans.
    Turn(TurnTrace),
    /// One run of an activity.
    Activity(ActivityRun),
    /// A span built elsewhere (a client's), to end at the time given.
    End(Box<RuntimeSpan>, SystemTime),
}

/// One run of an activity, for its `activity:{name}` server span.
struct ActivityRun {
    name: String,
    instance_id: String,
    execution_id: String,
    scheduled_id: i64,
    attempt: u32,
    /// The work item's trace context (parsed on the span thread).
    trace_context: Option<TraceContext>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    failure: Option<FailureDetails>,
}

/// The records waiting for the span thread, and who waits for them to be built.
#[derive(Default)]
struct SpanQueue {
    state: std::sync::Mutex<QueueState>,
    ready: std::sync::Condvar,
    dropped: std::sync::atomic::AtomicU64,
    /// `durable_span_records_dropped_total`, when the runtime records metrics.
    #[cfg(feature = "metrics")]
    dropped_metric: std::sync::OnceLock<prometheus_client::metrics::counter::Counter>,
}

#[derive(Default)]
struct QueueState {
    jobs: Vec<SpanJob>,
    /// Woken once everything queued before them is built.
    flushes: Vec<tokio::sync::oneshot::Sender<()>>,
    /// The span thread waits on `ready` (so a push must wake it).
    asleep: bool,
    closed: bool,
}

impl SpanQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job`, waking the span thread only when it sleeps (a push while it builds is
    /// a lock and a `Vec` push, no system call); gives it back when the queue is closed (no
    /// span thread).
    fn push(&self, job: SpanJob) -> Option<SpanJob> {
        let mut state = self.lock();
        if state.closed {
            return Some(job);
        }
        if state.jobs.len() >= SPAN_QUEUE_CAPACITY && !matches!(job, SpanJob::End(..)) {
            drop(state);
            let dropped = self
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            if let Some(metric) = self.dropped_metric.get() {
                metric.inc();
            }
            if dropped.is_power_of_two() || dropped == 0 {
                tracing::warn!(
                    dropped = dropped + 1,
                    capacity = SPAN_QUEUE_CAPACITY,
                    "the span queue is full: spans are dropped (the exporter cannot keep up)"
                );
            }
            return None;
        }
        state.jobs.push(job);
        let wake = std::mem::take(&mut state.asleep);
        drop(state);
        if wake {
            self.ready.notify_one();
        }
        None
    }

    /// Has `done` woken once everything queued before it is built; at once (dropped) when
    /// there is no span thread.
    fn flush(&self, done: tokio::sync::oneshot::Sender<()>) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.flushes.push(done);
        drop(state);
        self.ready.notify_one();
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        drop(state);
        self.ready.notify_one();
    }

    /// The span thread: builds the queued records' spans in the order they came, until the
    /// queue is closed and empty.
    fn run(&self, tracer: &RuntimeTracer) {
        /// However the thread ends, the queue is closed and its waiting flushes answered
        /// (their senders dropped), so nothing waits for a thread that is gone.
        struct Stopped<'a>(&'a SpanQueue);
        impl Drop for Stopped<'_> {
            fn drop(&mut self) {
                let mut state = self.0.lock();
                state.closed = true;
                state.flushes.clear();
            }
        }
        let _stopped = Stopped(self);
        let mut jobs = Vec::new();
        let mut names = Names::default();
        loop {
            let (flushes, closed) = {
                let mut state = self.lock();
                // While records keep coming, the thread looks for them every
                // `SPAN_POLL_INTERVAL` without being woken (a wake per push would cost a
                // system call each); only once nothing came for that long does it sleep
                // until a push wakes it.
                let mut polled = false;
                while state.jobs.is_empty() && state.flushes.is_empty() && !state.closed {
                    state.asleep = polled;
                    state = if polled {
                        self.ready
                            .wait(state)
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                    } else {
                        polled = true;
                        self.ready
                            .wait_timeout(state, SPAN_POLL_INTERVAL)
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .0
                    };
                }
                state.asleep = false;
                std::mem::swap(&mut jobs, &mut state.jobs);
                (std::mem::take(&mut state.flushes), state.closed)
            };
            for job in jobs.drain(..) {
                // A panicking exporter or processor loses its spans, not the thread.
                let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tracer.export(job, &mut names);
                }));
                if built.is_err() {
                    tracing::error!("the tracer provider panicked while building a span");
                }
            }
            jobs.shrink_to(SPAN_QUEUE_KEPT);
            for done in flushes {
                let _ = done.send(());
            }
            if closed && self.lock().jobs.is_empty() {
                return;
            }
        }
    }
}

/// The SDK's tracer as it is (the usual case: its spans are built without a box each and
/// without dynamic calls), or any other provider's behind the API's box.
enum RuntimeTracer {
    Sdk(SdkTracer),
    Other(BoxedTracer),
}

/// A span of a [`RuntimeTracer`].
#[allow(
    clippy::large_enum_variant,
    reason = "a span lives on the stack of the function that builds and ends it (a client's is boxed to cross to the span thread); a box is the allocation per span this type saves"
)]
enum RuntimeSpan {
    Sdk(opentelemetry_sdk::trace::Span),
    Other(BoxedSpan),
}

impl RuntimeSpan {
    fn span_context(&self) -> &SpanContext {
        match self {
            Self::Sdk(span) => span.span_context(),
            Self::Other(span) => span.span_context(),
        }
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        match self {
            Self::Sdk(span) => span.set_attribute(attribute),
            Self::Other(span) => span.set_attribute(attribute),
        }
    }

    fn set_status(&mut self, status: Status) {
        match self {
            Self::Sdk(span) => span.set_status(status),
            Self::Other(span) => span.set_status(status),
        }
    }

    fn end_with_timestamp(&mut self, at: SystemTime) {
        match self {
            Self::Sdk(span) => span.end_with_timestamp(at),
            Self::Other(span) => span.end_with_timestamp(at),
        }
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

/// What a turn's spans name: the instance (every span), and the execution's id, name and
/// version when a span of the turn needs them.
#[derive(Debug)]
pub(crate) struct ExecutionFacts {
    /// Shared by the turn's spans (a reference count each, not a copy).
    instance_id: Arc<str>,
    /// Only for a turn that records the orchestration's span, a timer or an event wait, so
    /// a turn that records activity calls alone copies nothing else.
    names: Option<ExecutionNames>,
}

/// The execution's id, name and version, for the spans that carry them.
#[derive(Debug)]
struct ExecutionNames {
    execution_id: ExecutionId,
    name: Arc<str>,
    version: Option<String>,
}

fn time(at: DateTime<Utc>) -> SystemTime {
    SystemTime::from(at)
}

/// `{what}:{name}`, with `@({version})` when there is one (Durable Functions' span names).
fn span_name(what: &str, name: &str, version: Option<&str>) -> String {
    match version {
        Some(version) => joined(&[what, ":", name, "@(", version, ")"]),
        None => joined(&[what, ":", name]),
    }
}

/// `parts` one after the other, in one allocation (a span name is built per span; the
/// formatting machinery costs several times as much).
fn joined(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

/// The strings kept for the rest of the process (function names and span names), each
/// leaked once whatever the number of runtimes: at most this many, then spans allocate
/// their names again.
const KEPT_MAX: usize = 4_096;

/// `text`, kept for the rest of the process (once per process: every runtime's span thread
/// shares the table); `None` once [`KEPT_MAX`] strings are kept.
fn kept(text: &str) -> Option<&'static str> {
    static KEPT: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let mut kept = KEPT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(&text) = kept.get(text) {
        return Some(text);
    }
    if kept.len() >= KEPT_MAX {
        return None;
    }
    let text: &'static str = Box::leak(Box::from(text));
    kept.insert(text);
    Some(text)
}

/// Span names and function names a span thread has seen, kept (see [`kept`]), so the
/// spans of a registered activity or orchestration take their names without an allocation
/// per span (and without a free on the exporter's thread).
///
/// The names used last are compared first (a W1 turn's spans are all `step`s), the rest
/// found by hash; only a name this thread has not seen goes to the process's table.
/// Bounded by the process's table: each entry holds a kept string, so past [`KEPT_MAX`]
/// strings (activity and orchestration names are the registered functions', a handful)
/// spans get a fresh allocation for their names instead.
#[derive(Default)]
struct Names {
    entries: Vec<Interned>,
    by_name: std::collections::HashMap<&'static str, usize>,
    /// Indexes into `entries`, the one used last first.
    recent: [usize; Names::RECENT],
}

/// One function name and the span names made from it, as they were first needed.
struct Interned {
    name: &'static str,
    activity: Option<&'static str>,
    orchestration: Option<&'static str>,
    timer: Option<&'static str>,
}

/// A span name: kept (see [`Names`]) or made for this span.
type SpanName = std::borrow::Cow<'static, str>;

impl Names {
    /// How many of the names used last are compared before the hash lookup.
    const RECENT: usize = 4;

    /// `name`'s entry, or `None` once the process keeps no more strings ([`KEPT_MAX`]).
    fn entry(&mut self, name: &str) -> Option<&mut Interned> {
        let recent = self
            .recent
            .iter()
            .position(|&i| self.entries.get(i).is_some_and(|entry| entry.name == name));
        let index = match recent {
            Some(position) => self.recent[position],
            None => {
                let index = match self.by_name.get(name) {
                    Some(&index) => index,
                    None => {
                        let kept = kept(name)?;
                        self.entries.push(Interned {
                            name: kept,
                            activity: None,
                            orchestration: None,
                            timer: None,
                        });
                        self.by_name.insert(kept, self.entries.len() - 1);
                        self.entries.len() - 1
                    }
                };
                self.recent.rotate_right(1);
                self.recent[0] = index;
                index
            }
        };
        self.entries.get_mut(index)
    }

    /// `make(name)` kept in `slot` of `name`'s entry, and the kept name; both made for this
    /// span once the process keeps no more strings.
    fn span(
        &mut self,
        name: &str,
        slot: fn(&mut Interned) -> &mut Option<&'static str>,
        make: impl FnOnce(&str) -> String,
    ) -> (SpanName, Option<&'static str>) {
        match self.entry(name) {
            Some(entry) => {
                let name = entry.name;
                let span = match *slot(entry) {
                    Some(span) => span,
                    None => {
                        let made = make(name);
                        let Some(span) = kept(&made) else {
                            return (SpanName::Owned(made), Some(name));
                        };
                        *slot(entry) = Some(span);
                        span
                    }
                };
                (SpanName::Borrowed(span), Some(name))
            }
            None => (SpanName::Owned(make(name)), None),
        }
    }

    /// `activity:{name}`, and `name`.
    fn activity(&mut self, name: &str) -> (SpanName, Option<&'static str>) {
        self.span(
            name,
            |entry| &mut entry.activity,
            |name| span_name("activity", name, None),
        )
    }

    /// `orchestration:{name}` (unversioned), and `name`.
    fn orchestration(&mut self, name: &str) -> (SpanName, Option<&'static str>) {
        self.span(
            name,
            |entry| &mut entry.orchestration,
            |name| span_name("orchestration", name, None),
        )
    }

    /// `orchestration:{name}:timer`.
    fn timer(&mut self, name: &str) -> SpanName {
        self.span(
            name,
            |entry| &mut entry.timer,
            |name| joined(&["orchestration:", name, ":timer"]),
        )
        .0
    }
}

/// Sets the error status and type of a failed span.
fn set_failure(span: &mut RuntimeSpan, failure: &FailureDetails) {
    span.set_attribute(KeyValue::new(
        attributes::ERROR_TYPE,
        failure.error_type.clone(),
    ));
    span.set_status(Status::error(failure.message.clone()));
}

/// A remote context for `context`'s span, if it parses.
pub(crate) fn remote_context(context: &TraceContext) -> Option<Context> {
    let (trace, span, flags) = context.parts()?;
    let state = context
        .tracestate()
        .and_then(|state| state.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span),
        TraceFlags::new(flags),
        true,
        state,
    )))
}

/// A span builder with its name, kind, start and attributes (one value, not the API's
/// chain of moves).
fn builder(
    name: impl Into<std::borrow::Cow<'static, str>>,
    kind: SpanKind,
    start: SystemTime,
    attributes: Vec<KeyValue>,
) -> SpanBuilder {
    SpanBuilder {
        name: name.into(),
        span_kind: Some(kind),
        start_time: Some(start),
        attributes: Some(attributes),
        ..SpanBuilder::default()
    }
}

/// The parent of a span run for work that carried `context`: its remote span when it
/// parses, a new trace when there is none (or it does not parse); `None` when the trace is
/// not sampled, so the span is not built (see [`Telemetry::export_turn`]).
fn sampled_parent(context: Option<&TraceContext>) -> Option<Context> {
    match context.and_then(remote_context) {
        Some(parent) if !parent.span().span_context().is_sampled() => None,
        Some(parent) => Some(parent),
        None => Some(Context::new()),
    }
}

/// The W3C trace context of `context`'s span, if it has a valid one.
pub(crate) fn trace_context_of(context: &Context) -> Option<TraceContext> {
    let span = context.span();
    let span = span.span_context();
    if !span.is_valid() {
        return None;
    }
    let state = span.trace_state().header();
    Some(TraceContext::from_parts(
        span.trace_id().to_bytes(),
        span.span_id().to_bytes(),
        span.trace_flags().to_u8(),
        (!state.is_empty()).then_some(state),
    ))
}

/// The caller's current span: `tracing`'s current span (through `tracing-opentelemetry`),
/// or else OpenTelemetry's current context.
pub(crate) fn current_context() -> Context {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        context
    } else {
        Context::current()
    }
}

impl Telemetry {
    /// The runtime's tracer from `provider`, and its span thread.
    ///
    /// # Errors
    /// [`TelemetryError::IdGeneratorMissing`] when the provider does not use
    /// [`IdGenerator`]: checked with a span under a parent that is not sampled, which a
    /// parent-based sampler (the SDK's default) does not export.
    pub(crate) fn new<P>(provider: &P) -> Result<Self, TelemetryError>
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        let scope = InstrumentationScope::builder("durable")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        // The SDK's own tracer is kept as it is (a clone shares its provider); any other
        // goes behind the API's box.
        let tracer = provider.tracer_with_scope(scope);
        let tracer = match (&tracer as &dyn std::any::Any).downcast_ref::<SdkTracer>() {
            Some(sdk) => RuntimeTracer::Sdk(sdk.clone()),
            None => RuntimeTracer::Other(BoxedTracer::new(Box::new(tracer))),
        };
        let probe = SpanId::from_bytes(*b"durable!");
        let parent = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(*b"durable id check"),
            SpanId::from_bytes(*b"parent!!"),
            TraceFlags::NOT_SAMPLED,
            true,
            TraceState::NONE,
        ));
        let span = tracer.build(
            SpanBuilder::from_name("durable.id_check"),
            &parent,
            None,
            Some(probe),
        );
        if span.span_context().span_id() != probe {
            return Err(TelemetryError::IdGeneratorMissing);
        }
        drop(span);
        let tracer = Arc::new(tracer);
        let queue = Arc::new(SpanQueue::default());
        let thread = {
            let (tracer, queue) = (tracer.clone(), queue.clone());
            std::thread::Builder::new()
                .name("durable-spans".into())
                .spawn(move || queue.run(&tracer))
        };
        if let Err(error) = thread {
            // Spans are then built where they are recorded (see `submit`).
            tracing::warn!(%error, "could not start the span thread; spans are built inline");
            queue.close();
        }
        Ok(Self {
            tracer,
            queue,
            inline_names: std::sync::Mutex::default(),
        })
    }

    /// Counts the span records the queue drops in `metrics`
    /// (`durable_span_records_dropped_total`) from now on; the first metrics given win.
    #[cfg(feature = "metrics")]
    pub(crate) fn count_drops_in(&self, metrics: &crate::metrics::Metrics) {
        let _ = self
            .queue
            .dropped_metric
            .set(metrics.span_records_dropped());
    }

    /// Hands `job` to the span thread (or builds it here when there is no span thread).
    fn submit(&self, job: SpanJob) {
        if let Some(job) = self.queue.push(job) {
            let mut names = self
                .inline_names
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.tracer.export(job, &mut names);
        }
    }

    /// Exports the spans of a turn that committed (on the span thread).
    pub(crate) fn export_turn(&self, trace: TurnTrace) {
        if !matches!(trace, TurnTrace::Nothing) {
            self.submit(SpanJob::Turn(trace));
        }
    }

    /// Returns once every span recorded before the call was built and handed to the
    /// provider (the provider's own processor may still hold it: flush that too), or after
    /// `timeout` (a provider that exports as each span ends, to a collector that does not
    /// answer), with a warning.
    pub(crate) async fn flush(&self, timeout: std::time::Duration) {
        let (done, built) = tokio::sync::oneshot::channel();
        self.queue.flush(done);
        if tokio::time::timeout(timeout, built).await.is_err() {
            tracing::warn!(
                ?timeout,
                "spans still being built at shutdown; the provider may not get them"
            );
        }
    }
}

impl Telemetry {
    /// Emits a client's producer span `name` under `parent` at `now` and returns its trace
    /// context, for the history.
    pub(crate) fn export_client_span(
        &self,
        name: String,
        attributes: Vec<KeyValue>,
        parent: &Context,
        now: DateTime<Utc>,
    ) -> Option<TraceContext> {
        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Producer)
            .with_start_time(time(now))
            .with_attributes(attributes);
        let span = self.tracer.build(builder, parent, None, None);
        let context = span.span_context().clone();
        // Ended (and so exported) on the span thread: a processor that exports as each
        // span ends (`with_simple_exporter`) does not hold up the start.
        self.submit(SpanJob::End(Box::new(span), time(now)));
        trace_context_of(&Context::new().with_remote_span_context(context))
    }

    /// Records one run of an activity for its `activity:{name}` server span (built on the
    /// span thread), the child of the context stored with its work item (`trace_context`);
    /// nothing when that trace is not sampled. Takes the activity's name and context from
    /// the caller, who no longer needs them.
    pub(crate) fn export_activity(
        &self,
        item: &ActivityWorkItem,
        name: String,
        trace_context: Option<TraceContext>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        failure: Option<&FailureDetails>,
    ) {
        if trace_context
            .as_ref()
            .is_some_and(TraceContext::is_unsampled)
        {
            return;
        }
        self.submit(SpanJob::Activity(ActivityRun {
            name,
            instance_id: item.instance_id.as_str().to_owned(),
            execution_id: item.execution_id.as_str().to_owned(),
            scheduled_id: item.scheduled_id,
            attempt: item.attempt,
            trace_context,
            start,
            end,
            failure: failure.cloned(),
        }));
    }
}

impl RuntimeTracer {
    /// Builds a span, giving it `trace_id` (used only when it has no parent) and `span_id`
    /// through [`IdGenerator`].
    fn build(
        &self,
        builder: SpanBuilder,
        parent: &Context,
        trace_id: Option<TraceId>,
        span_id: Option<SpanId>,
    ) -> RuntimeSpan {
        PRESET_IDS.with(|ids| ids.set((trace_id, span_id)));
        let span = match self {
            Self::Sdk(tracer) => RuntimeSpan::Sdk(tracer.build_with_context(builder, parent)),
            Self::Other(tracer) => RuntimeSpan::Other(tracer.build_with_context(builder, parent)),
        };
        PRESET_IDS.with(|ids| ids.set((None, None)));
        span
    }

    /// Builds and ends the spans `job` describes.
    fn export(&self, job: SpanJob, names: &mut Names) {
        match job {
            SpanJob::Turn(TurnTrace::Nothing) => {}
            SpanJob::Turn(TurnTrace::Orchestration { facts, spans }) => {
                self.export_turn(facts, spans, names);
            }
            SpanJob::Turn(TurnTrace::Entity(operations)) => {
                for operation in &operations {
                    self.export_entity_operation(operation);
                }
            }
            SpanJob::Activity(run) => self.export_activity(run, names),
            SpanJob::End(mut span, at) => span.end_with_timestamp(at),
        }
    }

    /// Exports the spans of a turn that committed.
    ///
    /// Nothing for a trace that is not sampled: the work the execution sends carries the
    /// starter's trace flags, so the runtime's spans follow the trace's `sampled` flag as a
    /// parent-based sampler (the SDK's default) would, and are not built at all when it is
    /// off.
    fn export_turn(&self, facts: ExecutionFacts, spans: TurnSpans, interned: &mut Names) {
        let Some(root) = spans.root else {
            return;
        };
        let flags = TraceFlags::new(root.flags);
        if !flags.is_sampled() {
            return;
        }
        let trace_id = TraceId::from_bytes(root.trace_id);
        let state = root
            .tracestate
            .as_deref()
            .and_then(|state| state.parse::<TraceState>().ok())
            .unwrap_or_default();
        let remote = |span: [u8; 8]| {
            Context::new().with_remote_span_context(SpanContext::new(
                trace_id,
                SpanId::from_bytes(span),
                flags,
                true,
                state.clone(),
            ))
        };
        let orchestration = remote(root.span_id);
        // The values every span of the turn carries, shared rather than copied per span.
        let instance = opentelemetry::Value::from(facts.instance_id);
        let names = facts.names.as_ref();
        for record in spans.records {
            let SpanRecord {
                of,
                seq,
                name,
                target,
                start,
                end,
                fire_at,
                attempt,
                failure,
                status,
            } = record;
            let mut attributes = Vec::with_capacity(8);
            attributes.push(KeyValue::new(attributes::INSTANCE_ID, instance.clone()));
            let (span_name, kind, parent, span_id): (SpanName, SpanKind, Context, Option<[u8; 8]>) =
                match (of, names) {
                    // `ExecutionFacts::of` gives the names to every turn with these records.
                    (SpanOf::Orchestration | SpanOf::Timer | SpanOf::EventWait, None) => continue,
                    (SpanOf::Orchestration, Some(names)) => {
                        let (span_name, name) = match &names.version {
                            Some(version) => (
                                span_name("orchestration", &names.name, Some(version)).into(),
                                None,
                            ),
                            None => interned.orchestration(&names.name),
                        };
                        attributes.extend([
                            KeyValue::new(attributes::TYPE, "orchestration"),
                            KeyValue::new(
                                attributes::NAME,
                                name.map_or_else(
                                    || opentelemetry::Value::from(names.name.clone()),
                                    Into::into,
                                ),
                            ),
                            KeyValue::new(
                                attributes::EXECUTION_ID,
                                names.execution_id.as_str().to_owned(),
                            ),
                        ]);
                        if let Some(version) = &names.version {
                            attributes.push(KeyValue::new(attributes::VERSION, version.clone()));
                        }
                        if let Some(status) = status {
                            attributes.push(KeyValue::new(attributes::STATUS, status.as_str()));
                        }
                        (
                            span_name,
                            SpanKind::Server,
                            root.parent_span_id.map(remote).unwrap_or_default(),
                            Some(root.span_id),
                        )
                    }
                    (SpanOf::Activity, _) => {
                        let (span_name, interned_name) = interned.activity(&name);
                        attributes.extend([
                            KeyValue::new(attributes::TYPE, "activity"),
                            KeyValue::new(
                                attributes::NAME,
                                interned_name
                                    .map_or_else(|| opentelemetry::Value::from(name), Into::into),
                            ),
                            KeyValue::new(attributes::TASK_ID, seq),
                            KeyValue::new(attributes::RETRY_ATTEMPT, i64::from(attempt)),
                        ]);
                        (
                            span_name,
                            SpanKind::Client,
                            orchestration.clone(),
                            Some(root.call_span_id(seq)),
                        )
                    }
                    (SpanOf::SubOrchestration, _) => {
                        attributes.extend([
                            KeyValue::new(attributes::TYPE, "orchestration"),
                            KeyValue::new(attributes::NAME, name.clone()),
                            KeyValue::new(attributes::TASK_ID, seq),
                            KeyValue::new(attributes::RETRY_ATTEMPT, i64::from(attempt)),
                        ]);
                        (
                            span_name("orchestration", &name, None).into(),
                            SpanKind::Client,
                            orchestration.clone(),
                            Some(root.call_span_id(seq)),
                        )
                    }
                    (SpanOf::Timer, Some(names)) => {
                        attributes.extend([
                            KeyValue::new(attributes::TYPE, "timer"),
                            KeyValue::new(attributes::NAME, names.name.clone()),
                            KeyValue::new(attributes::TASK_ID, seq),
                        ]);
                        if let Some(fire_at) = fire_at {
                            attributes.push(KeyValue::new(
                                attributes::FIRE_AT,
                                fire_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                            ));
                        }
                        (
                            interned.timer(&names.name),
                            SpanKind::Internal,
                            orchestration.clone(),
                            Some(root.call_span_id(seq)),
                        )
                    }
                    (SpanOf::EventWait, Some(names)) => {
                        attributes.extend([
                            KeyValue::new(attributes::TYPE, "event"),
                            KeyValue::new(attributes::NAME, name.clone()),
                        ]);
                        (
                            joined(&["orchestration:", &names.name, ":event:", &name]).into(),
                            SpanKind::Internal,
                            orchestration.clone(),
                            None,
                        )
                    }
                    (SpanOf::EntityCall | SpanOf::EntitySignal, _) => {
                        let entity = target
                            .as_deref()
                            .and_then(EntityId::from_instance_id)
                            .map(|entity| entity.name().to_owned())
                            .unwrap_or_default();
                        attributes.extend([
                            KeyValue::new(attributes::TYPE, "entity"),
                            KeyValue::new(attributes::NAME, entity.clone()),
                            KeyValue::new(attributes::ENTITY_OPERATION, name.clone()),
                            KeyValue::new(attributes::TASK_ID, seq),
                        ]);
                        let kind = if of == SpanOf::EntityCall {
                            SpanKind::Client
                        } else {
                            SpanKind::Producer
                        };
                        (
                            joined(&["entity_operation:", &entity, ":", &name]).into(),
                            kind,
                            orchestration.clone(),
                            Some(root.call_span_id(seq)),
                        )
                    }
                    (SpanOf::EventSent, _) => {
                        attributes.extend([
                            KeyValue::new(attributes::TYPE, "event"),
                            KeyValue::new(attributes::NAME, name.clone()),
                            KeyValue::new(attributes::TASK_ID, seq),
                        ]);
                        if let Some(target) = &target {
                            attributes.push(KeyValue::new(
                                attributes::EVENT_TARGET_INSTANCE_ID,
                                target.clone(),
                            ));
                        }
                        (
                            span_name("orchestration_event", &name, None).into(),
                            SpanKind::Producer,
                            orchestration.clone(),
                            Some(root.call_span_id(seq)),
                        )
                    }
                };
            if let (
                Some(target),
                SpanOf::SubOrchestration | SpanOf::EntityCall | SpanOf::EntitySignal,
            ) = (target, of)
            {
                attributes.push(KeyValue::new(attributes::TARGET_INSTANCE_ID, target));
            }
            let builder = builder(span_name, kind, time(start), attributes);
            let mut span = self.build(
                builder,
                &parent,
                Some(trace_id),
                span_id.map(SpanId::from_bytes),
            );
            if let Some(failure) = &failure {
                set_failure(&mut span, failure);
            } else if status == Some(RuntimeStatus::Terminated) {
                span.set_status(Status::error("terminated"));
            }
            span.end_with_timestamp(time(end));
        }
    }

    /// Builds the span of one run of an activity (`activity:{name}`, server).
    fn export_activity(&self, run: ActivityRun, names: &mut Names) {
        let Some(parent) = sampled_parent(run.trace_context.as_ref()) else {
            return;
        };
        let (span_name, name) = names.activity(&run.name);
        let attributes = vec![
            KeyValue::new(attributes::TYPE, "activity"),
            KeyValue::new(
                attributes::NAME,
                name.map_or_else(|| opentelemetry::Value::from(run.name), Into::into),
            ),
            KeyValue::new(attributes::INSTANCE_ID, run.instance_id),
            KeyValue::new(attributes::EXECUTION_ID, run.execution_id),
            KeyValue::new(attributes::TASK_ID, run.scheduled_id),
            KeyValue::new(attributes::DELIVERY_ATTEMPT, i64::from(run.attempt)),
        ];
        let builder = builder(span_name, SpanKind::Server, time(run.start), attributes);
        let mut span = self.build(builder, &parent, None, None);
        if let Some(failure) = &run.failure {
            set_failure(&mut span, failure);
        }
        span.end_with_timestamp(time(run.end.max(run.start)));
    }

    /// Emits the span of one entity operation's run (`entity_operation:{entity}:{op}`,
    /// server), the child of the context its request carried; nothing when that trace is
    /// not sampled.
    pub(crate) fn export_entity_operation(&self, operation: &EntityOperationSpan) {
        let Some(parent) = sampled_parent(operation.trace_context.as_ref()) else {
            return;
        };
        let builder = SpanBuilder::from_name(format!(
            "entity_operation:{}:{}",
            operation.entity.name(),
            operation.operation
        ))
        .with_kind(SpanKind::Server)
        .with_start_time(time(operation.start))
        .with_attributes([
            KeyValue::new(attributes::TYPE, "entity"),
            KeyValue::new(attributes::NAME, operation.entity.name().to_owned()),
            KeyValue::new(attributes::ENTITY_OPERATION, operation.operation.clone()),
            KeyValue::new(
                attributes::INSTANCE_ID,
                operation.entity.instance_id().to_string(),
            ),
        ]);
        let mut span = self.build(builder, &parent, None, None);
        if let Some(failure) = &operation.failure {
            set_failure(&mut span, failure);
        }
        span.end_with_timestamp(time(operation.end.max(operation.start)));
    }
}

/// What one committed turn traces, kept with the prepared turn until its commit succeeded.
#[derive(Debug, Default)]
pub(crate) enum TurnTrace {
    /// Nothing (the worker does not trace, or the turn recorded no span).
    #[default]
    Nothing,
    /// An orchestration turn's spans.
    Orchestration {
        facts: ExecutionFacts,
        spans: TurnSpans,
    },
    /// The operations an entity turn ran.
    Entity(Vec<EntityOperationSpan>),
}

impl TurnTrace {
    /// The spans of a turn of `item`'s execution.
    pub(crate) fn turn(item: &OrchestrationWorkItem, spans: TurnSpans) -> Self {
        if spans.is_empty() {
            return Self::Nothing;
        }
        let needs_names = spans.records.iter().any(|record| {
            matches!(
                record.of,
                SpanOf::Orchestration | SpanOf::Timer | SpanOf::EventWait
            )
        });
        let facts = ExecutionFacts {
            instance_id: Arc::from(item.instance_id.as_str()),
            names: needs_names.then(|| ExecutionNames {
                execution_id: item.execution_id.clone(),
                name: Arc::from(item.name.as_str()),
                version: item.version.clone(),
            }),
        };
        Self::Orchestration { facts, spans }
    }

    /// The span of `item`'s execution when it ended outside its orchestrator function
    /// (terminated, or failed before its code could run), from `started` to `now`.
    pub(crate) fn ended(
        item: &OrchestrationWorkItem,
        root: SpanRoot,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
        status: RuntimeStatus,
        failure: Option<FailureDetails>,
    ) -> Self {
        let spans = TurnSpans {
            root: Some(Arc::new(root)),
            records: vec![SpanRecord::orchestration(started, now, status, failure)],
        };
        Self::turn(item, spans)
    }

    /// Hands the spans to `telemetry`'s span thread.
    pub(crate) fn export(self, telemetry: &Telemetry) {
        telemetry.export_turn(self);
    }
}

/// One run of an entity operation, to export once its batch committed.
#[derive(Debug)]
pub(crate) struct EntityOperationSpan {
    pub(crate) entity: EntityId,
    pub(crate) operation: String,
    pub(crate) trace_context: Option<TraceContext>,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    pub(crate) failure: Option<FailureDetails>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_names_are_shared_by_every_span_thread_of_the_process() {
        let (mut first, mut second) = (Names::default(), Names::default());
        let (span, name) = first.activity("kept_names_test_activity");
        let (again, again_name) = second.activity("kept_names_test_activity");
        assert_eq!(span, "activity:kept_names_test_activity");
        assert_eq!(name, Some("kept_names_test_activity"));
        // The same leaked strings, not a copy per thread.
        let (SpanName::Borrowed(span), SpanName::Borrowed(again)) = (span, again) else {
            panic!("kept names are borrowed");
        };
        assert!(std::ptr::eq(span, again));
        assert!(std::ptr::eq(name.unwrap(), again_name.unwrap()));
        assert_eq!(
            first.timer("kept_names_test_activity"),
            "orchestration:kept_names_test_activity:timer"
        );
    }
}
