//! What the engine notes for tracing (feature `otel`): the spans a turn produced.
//!
//! Pure bookkeeping, no I/O and no clock (the replay module's invariant): every start and
//! end time is a history timestamp, so a span describes when its work really happened, not
//! when a turn looked at it. A span is recorded only for an event applied *live* (not while
//! replaying committed history), so a replay after a restart, a cache eviction or a lost
//! lease records nothing twice; the dispatcher exports a turn's spans only once its commit
//! succeeded (a refused commit's turn runs again, and records them again, once).
//!
//! The orchestration's own span and each durable call's span have ids derived from the
//! execution id (and the call's sequence number), so every worker that runs a turn of the
//! execution, on any machine, names the same parent: an activity's span on another worker
//! is the child of the `activity:{name}` client span that the orchestration emits when the
//! result arrives. This follows Durable Functions' distributed tracing (V2), which stores the
//! orchestration's span id in `ExecutionStarted` instead; deriving it keeps history smaller.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::history::{EventKind, HistoryEvent};
use crate::ids::ExecutionId;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::trace_context::TraceContext;

/// The key of the SipHash-2-4 hashes span and trace ids are derived with.
///
/// Part of the ids' definition, like the hash: changing either changes every derived id,
/// and an execution in flight across such an upgrade would emit its remaining spans under
/// parents its earlier spans do not name.
const ID_KEY: [u8; 16] = *b"durable span ids";

/// The sequence number the orchestration's own span is derived with.
const ORCHESTRATION_SEQ: i64 = -1;

/// How one execution's span ids are derived: 64-bit SipHash-2-4 keyed with [`ID_KEY`] of
/// the execution id's UTF-8 bytes followed by the span's sequence number as 8 little-endian
/// bytes, the hash's 8 little-endian bytes being the id (one that comes out all zeros gets
/// its last byte set to 1). SipHash is a published function (Aumasson and Bernstein, 2012)
/// whose output is fixed by its specification, so every worker, build and version derives
/// the same ids (`DefaultHasher` promises no such thing).
///
/// Keeps the hash's state after the execution id, so each id hashes only its 8 bytes.
#[derive(Clone, Copy)]
struct SpanIds {
    after_execution: siphasher::sip::SipHasher24,
}

impl SpanIds {
    fn new(execution_id: &ExecutionId) -> Self {
        use std::hash::Hasher as _;
        let mut after_execution = siphasher::sip::SipHasher24::new_with_key(&ID_KEY);
        after_execution.write(execution_id.as_str().as_bytes());
        Self { after_execution }
    }

    /// The id of span `seq` of the execution.
    fn span_id(&self, seq: i64) -> [u8; 8] {
        use std::hash::Hasher as _;
        let mut hasher = self.after_execution;
        hasher.write(&seq.to_le_bytes());
        let mut id = hasher.finish().to_le_bytes();
        if id == [0; 8] {
            id[7] = 1;
        }
        id
    }
}

impl std::fmt::Debug for SpanIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanIds")
            .field("orchestration", &self.span_id(ORCHESTRATION_SEQ))
            .finish()
    }
}

/// A span id derived from an execution and a sequence number (never all zeros).
#[cfg(test)]
pub(crate) fn derived_span_id(execution_id: &ExecutionId, seq: i64) -> [u8; 8] {
    SpanIds::new(execution_id).span_id(seq)
}

/// The trace id of an execution started with no trace context: 128-bit SipHash-2-4 keyed
/// with [`ID_KEY`] of the execution id's UTF-8 bytes, as 16 little-endian bytes (the
/// 128-bit variant is initialised differently, so it shares no output with the span ids).
/// Never all zeros.
fn derived_trace_id(execution_id: &ExecutionId) -> [u8; 16] {
    use siphasher::sip128::Hasher128 as _;
    use std::hash::Hasher as _;
    let mut hasher = siphasher::sip128::SipHasher24::new_with_key(&ID_KEY);
    hasher.write(execution_id.as_str().as_bytes());
    let mut id = hasher.finish128().as_bytes();
    if id == [0; 16] {
        id[15] = 1;
    }
    id
}

/// The W3C `sampled` trace flag.
const SAMPLED: u8 = 1;

/// Where an execution's spans hang: its trace, its own span id, and the span that started it.
#[derive(Debug, Clone)]
pub(crate) struct SpanRoot {
    /// The trace: the starter's, or derived from the execution id when nothing traced it.
    pub(crate) trace_id: [u8; 16],
    /// The orchestration span's id (derived).
    pub(crate) span_id: [u8; 8],
    /// The starter's trace flags (sampled when derived).
    pub(crate) flags: u8,
    /// The starter's `tracestate`.
    pub(crate) tracestate: Option<String>,
    /// The starter's span id; `None` when the orchestration span is the trace's root.
    pub(crate) parent_span_id: Option<[u8; 8]>,
    /// How the execution's call span ids are derived.
    ids: SpanIds,
}

impl SpanRoot {
    /// The root of `execution_id`, started under `parent` (if it parses).
    pub(crate) fn new(execution_id: &ExecutionId, parent: Option<&TraceContext>) -> Self {
        let ids = SpanIds::new(execution_id);
        let span_id = ids.span_id(ORCHESTRATION_SEQ);
        match parent.and_then(|p| p.parts().map(|parts| (parts, p.tracestate()))) {
            Some(((trace_id, parent_span_id, flags), tracestate)) => Self {
                trace_id,
                span_id,
                flags,
                tracestate: tracestate.map(str::to_owned),
                parent_span_id: Some(parent_span_id),
                ids,
            },
            None => Self {
                trace_id: derived_trace_id(execution_id),
                span_id,
                flags: SAMPLED,
                tracestate: None,
                parent_span_id: None,
                ids,
            },
        }
    }

    /// The context this execution started under: its starter's, or its own span's when it
    /// is the trace's root (for the next generation of a continue-as-new).
    pub(crate) fn starter_context(&self) -> TraceContext {
        TraceContext::from_parts(
            self.trace_id,
            self.parent_span_id.unwrap_or(self.span_id),
            self.flags,
            self.tracestate.clone(),
        )
    }

    /// The span id of durable call `seq`'s span.
    pub(crate) fn call_span_id(&self, seq: i64) -> [u8; 8] {
        self.ids.span_id(seq)
    }

    /// The trace context that work sent by call `seq` continues: its client span's.
    pub(crate) fn call_context(&self, seq: i64) -> TraceContext {
        TraceContext::from_parts(
            self.trace_id,
            self.call_span_id(seq),
            self.flags,
            self.tracestate.clone(),
        )
    }
}

/// What a span describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpanOf {
    /// The execution itself, start to end (`orchestration:{name}`, server).
    Orchestration,
    /// An activity, scheduled to result (`activity:{name}`, client).
    Activity,
    /// A sub-orchestration, created to result (`orchestration:{name}`, client).
    SubOrchestration,
    /// A durable timer, created to fired (`orchestration:{name}:timer`, internal).
    Timer,
    /// A wait for an external event, from the call to the event (`orchestration:{name}:event:{event}`).
    EventWait,
    /// An entity operation called and its result (`entity_operation:{entity}:{operation}`, client).
    EntityCall,
    /// An entity operation signalled (`entity_operation:{entity}:{operation}`, producer).
    EntitySignal,
    /// An event sent to another instance (`orchestration_event:{name}`, producer).
    EventSent,
}

/// One span, ready to export.
#[derive(Debug, Clone)]
pub(crate) struct SpanRecord {
    pub(crate) of: SpanOf,
    /// The call's sequence number (the span id derives from it); -1 for the orchestration.
    pub(crate) seq: i64,
    /// The activity, child orchestration, event or entity operation name; empty for timers
    /// and the orchestration.
    pub(crate) name: String,
    /// The entity (`@name@key`), the child's or the receiver's instance id.
    pub(crate) target: Option<String>,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// A timer's fire time.
    pub(crate) fire_at: Option<DateTime<Utc>>,
    /// Which attempt of a retry policy this call was (1 without one).
    pub(crate) attempt: u32,
    /// The failure, for a failed call or execution.
    pub(crate) failure: Option<FailureDetails>,
    /// How the execution ended (the orchestration span).
    pub(crate) status: Option<RuntimeStatus>,
}

impl SpanRecord {
    /// The orchestration's own span: from `start` to `end`, ended with `status`.
    pub(crate) fn orchestration(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        status: RuntimeStatus,
        failure: Option<FailureDetails>,
    ) -> Self {
        let mut record = Self::new(
            SpanOf::Orchestration,
            ORCHESTRATION_SEQ,
            start,
            end.max(start),
        );
        record.status = Some(status);
        record.failure = failure;
        record
    }

    fn new(of: SpanOf, seq: i64, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self {
            of,
            seq,
            name: String::new(),
            target: None,
            start,
            end,
            fire_at: None,
            attempt: 1,
            failure: None,
            status: None,
        }
    }
}

/// A turn's spans and the root they hang from.
#[derive(Debug, Default)]
pub(crate) struct TurnSpans {
    /// Shared with the engine's log (a turn takes a reference count, not a copy).
    pub(crate) root: Option<Arc<SpanRoot>>,
    pub(crate) records: Vec<SpanRecord>,
}

impl TurnSpans {
    /// Whether there is nothing to export.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// A durable call still waiting for its result.
#[derive(Debug)]
struct OpenSpan {
    of: SpanOf,
    name: String,
    target: Option<String>,
    start: DateTime<Utc>,
    fire_at: Option<DateTime<Utc>>,
    attempt: u32,
}

/// The engine's tracing state for one execution (only when the worker traces).
#[derive(Debug, Default)]
pub(crate) struct SpanLog {
    root: Option<Arc<SpanRoot>>,
    /// When the execution started running (the first turn's time).
    started_at: Option<DateTime<Utc>>,
    /// By sequence number (a `BTreeMap`: no hashing, and calls open mostly in order).
    open: BTreeMap<i64, OpenSpan>,
    records: Vec<SpanRecord>,
}

impl SpanLog {
    /// `ExecutionStarted` was applied at `now` (the turn's time).
    pub(crate) fn started(
        &mut self,
        execution_id: &ExecutionId,
        parent: Option<&TraceContext>,
        now: DateTime<Utc>,
    ) {
        if self.root.is_none() {
            self.root = Some(Arc::new(SpanRoot::new(execution_id, parent)));
            self.started_at = Some(now);
        }
    }

    /// The root, once `ExecutionStarted` was applied.
    pub(crate) fn root(&self) -> Option<&SpanRoot> {
        self.root.as_deref()
    }

    /// When the execution started running, and the trace context it started under.
    pub(crate) fn started_at(&self) -> Option<DateTime<Utc>> {
        self.started_at
    }

    /// A scheduling event was applied (replayed) or produced (live), as `attempt` of its
    /// retry policy: opens its span, or for a one-way send records it at once when `live`.
    pub(crate) fn opened(&mut self, event: &HistoryEvent, live: bool, attempt: u32) {
        let seq = event.event_id;
        let (of, name, target, fire_at) = match &event.kind {
            EventKind::ActivityScheduled { name, .. } => {
                (SpanOf::Activity, name.clone(), None, None)
            }
            EventKind::SubOrchestrationCreated {
                name, instance_id, ..
            } => (
                SpanOf::SubOrchestration,
                name.clone(),
                Some(instance_id.as_str().to_owned()),
                None,
            ),
            EventKind::TimerCreated { fire_at } => {
                (SpanOf::Timer, String::new(), None, Some(*fire_at))
            }
            EventKind::EntityOperationCalled {
                entity, operation, ..
            } => (
                SpanOf::EntityCall,
                operation.clone(),
                Some(entity.to_string()),
                None,
            ),
            EventKind::EntityOperationSignaled {
                entity, operation, ..
            } => {
                if live {
                    let mut record = SpanRecord::new(
                        SpanOf::EntitySignal,
                        seq,
                        event.timestamp,
                        event.timestamp,
                    );
                    record.name.clone_from(operation);
                    record.target = Some(entity.to_string());
                    self.records.push(record);
                }
                return;
            }
            EventKind::EventSent {
                instance_id, name, ..
            } => {
                if live {
                    let mut record =
                        SpanRecord::new(SpanOf::EventSent, seq, event.timestamp, event.timestamp);
                    record.name.clone_from(name);
                    record.target = Some(instance_id.as_str().to_owned());
                    self.records.push(record);
                }
                return;
            }
            _ => return,
        };
        self.open.insert(
            seq,
            OpenSpan {
                of,
                name,
                target,
                start: event.timestamp,
                fire_at,
                attempt,
            },
        );
    }

    /// A completion event was applied: closes its call's span, recording it when `live`.
    pub(crate) fn closed(&mut self, event: &HistoryEvent, live: bool) {
        let (seq, failure) = match &event.kind {
            EventKind::ActivityCompleted { scheduled_id, .. }
            | EventKind::SubOrchestrationCompleted { scheduled_id, .. }
            | EventKind::EntityOperationCompleted { scheduled_id, .. } => (*scheduled_id, None),
            EventKind::ActivityFailed {
                scheduled_id,
                failure,
            }
            | EventKind::SubOrchestrationFailed {
                scheduled_id,
                failure,
            }
            | EventKind::EntityOperationFailed {
                scheduled_id,
                failure,
            } => (*scheduled_id, Some(failure.clone())),
            EventKind::TimerFired { timer_id, .. } => (*timer_id, None),
            _ => return,
        };
        let Some(open) = self.open.remove(&seq) else {
            return;
        };
        if live {
            let mut record =
                SpanRecord::new(open.of, seq, open.start, event.timestamp.max(open.start));
            record.name = open.name;
            record.target = open.target;
            record.fire_at = open.fire_at;
            record.attempt = open.attempt;
            record.failure = failure;
            self.records.push(record);
        }
    }

    /// A waiter for event `name`, waiting since `since`, was given an event at `at`.
    pub(crate) fn event_received(&mut self, name: &str, since: DateTime<Utc>, at: DateTime<Utc>) {
        let mut record = SpanRecord::new(SpanOf::EventWait, -2, since, at.max(since));
        record.name = name.to_owned();
        self.records.push(record);
    }

    /// The execution ended at `now` with `status`.
    pub(crate) fn ended(
        &mut self,
        now: DateTime<Utc>,
        status: RuntimeStatus,
        failure: Option<FailureDetails>,
    ) {
        let start = self.started_at.unwrap_or(now);
        self.records
            .push(SpanRecord::orchestration(start, now, status, failure));
    }

    /// The spans recorded since the last call, with the root.
    pub(crate) fn take(&mut self) -> TurnSpans {
        TurnSpans {
            root: self.root.clone(),
            records: std::mem::take(&mut self.records),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_derived_from_the_execution_and_the_call() {
        let execution = ExecutionId::from_trusted("0190e4a1-0000-7000-8000-000000000001".into());
        let other = ExecutionId::from_trusted("0190e4a1-0000-7000-8000-000000000002".into());
        assert_eq!(
            derived_span_id(&execution, 3),
            derived_span_id(&execution, 3)
        );
        assert_ne!(
            derived_span_id(&execution, 3),
            derived_span_id(&execution, 4)
        );
        assert_ne!(derived_span_id(&execution, 3), derived_span_id(&other, 3));
        // Without a parent the trace is derived too, and sampled.
        let root = SpanRoot::new(&execution, None);
        let again = SpanRoot::new(&execution, None);
        assert_eq!(
            (root.trace_id, root.span_id),
            (again.trace_id, again.span_id)
        );
        assert_eq!((root.flags, root.parent_span_id), (SAMPLED, None));
        // With one, the trace, flags and state are the parent's.
        let parent = TraceContext::parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            Some("k=v"),
        )
        .unwrap();
        let root = SpanRoot::new(&execution, Some(&parent));
        let child = root.call_context(2);
        assert_eq!(child.trace_id(), parent.trace_id());
        assert!(child.traceparent().ends_with("-00"), "{child:?}");
        assert_eq!(child.tracestate(), Some("k=v"));
        assert_eq!(
            child.parts().unwrap().1,
            derived_span_id(&execution, 2),
            "the child continues the call's span"
        );
        assert_eq!(root.parent_span_id, parent.parts().map(|p| p.1));
    }

    /// The derived ids are part of what a history means (a replay on another worker, or
    /// after an upgrade, must name the same spans), so they are pinned to values computed
    /// outside this crate: a Python transcription of SipHash-2-4's reference C code
    /// (`veorq/SipHash`, checked against its `vectors.h`) over the same bytes.
    #[test]
    fn derived_ids_are_siphash_2_4_of_the_execution_and_the_call() {
        let execution = ExecutionId::from_trusted("0190e4a1-0000-7000-8000-000000000001".into());
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let root = SpanRoot::new(&execution, None);
        assert_eq!(
            hex(&root.span_id),
            "9e09eaf38649cb34",
            "the orchestration's (-1)"
        );
        assert_eq!(hex(&root.call_span_id(3)), "c0d825794a48834d");
        assert_eq!(hex(&root.trace_id), "42ce395b25379c438df9a8bbae16b551");
    }
}
