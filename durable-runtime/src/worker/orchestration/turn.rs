//! One turn of an orchestration: the store reads it needs (the cached engine or the
//! history, the closing links of an instance that ends outside its function), around the
//! pure steps of `decide.rs` and `translate.rs`.

use chrono::{DateTime, Utc};

use super::batch::LocalTurn;
use super::decide::{self, EngineSource, Rehydration};
use super::ending::{
    cached_span_root, closing_links, ended_outside, engine_links, fail_corrupt, send_closing,
};
use super::entity_turn::prepare_entity_turn;
#[cfg(feature = "otel")]
use super::prepared::TurnTrace;
use super::prepared::{Prepared, TurnError, TurnTally, turn_trace};
use super::rewind::prepare_rewind;
use super::translate::{self, Verdict};
use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::replay::ReplayEngine;
use crate::status::RuntimeStatus;
use crate::store::{OrchestrationCommit, OrchestrationWorkItem};
use crate::worker::WorkerShared;

/// Runs one turn and builds its commit; the engine comes back for the cache.
///
/// `local` is a turn on a cached engine for activity results this worker holds (see
/// [`LocalTurn`]); its commit carries no lease and no consumed messages.
pub(super) async fn prepare_turn(
    shared: &WorkerShared,
    item: OrchestrationWorkItem,
    local: Option<LocalTurn>,
) -> Result<Prepared, (OrchestrationWorkItem, TurnError)> {
    let now = shared.clock.now();
    let is_local = local.is_some();
    let (local_engine, applied) = match local {
        Some(turn) => (Some(turn.engine), Some(turn.applied)),
        None => (None, None),
    };
    let mut commit = decide::commit_skeleton(
        &item,
        applied,
        now,
        shared
            .options
            .dispatch_activities_in_process
            .then_some(shared.options.activity_lease),
    );
    if let Some(entity) = crate::entity::EntityId::from_instance_id(item.instance_id.as_str()) {
        // Boxed, as the rarer paths below: their futures are several times the size of an
        // orchestration turn's, and every turn's future is as large as its largest await.
        return Box::pin(prepare_entity_turn(shared, item, entity, commit)).await;
    }
    if let Some(rewind) = decide::rewind_message(&item) {
        let rewind = rewind.clone();
        return Box::pin(prepare_rewind(shared, item, commit, rewind, now)).await;
    }
    if item.status.is_terminal() {
        tracing::debug!(status = %item.status, count = item.messages.len(), "dropping messages for a finished instance");
        commit.consumed = super::ending::all_message_ids(&item);
        return Ok(Prepared::new(commit, None));
    }

    let cached = match decide::engine_source(is_local, shared.options.always_replay) {
        EngineSource::Local => local_engine,
        EngineSource::None => None,
        EngineSource::Cache => {
            let engine = shared
                .cache
                .take(&item.instance_id, &item.execution_id, item.history_len);
            if let Some(metrics) = shared.metrics() {
                if engine.is_some() {
                    metrics.cache_hit();
                } else {
                    metrics.cache_miss();
                }
            }
            engine
        }
    };
    if let Some(reason) = decide::corrupt_reason(&item) {
        return Box::pin(fail_corrupt(shared, item, commit, cached, now, reason)).await;
    }
    // Control messages first: terminate wins over everything; a suspend stops the turn
    // at that point, leaving later messages queued until resume.
    if let Some(failure) = decide::terminate(&item, &mut commit, now) {
        let links = engine_links(cached.as_ref());
        let root = cached_span_root(cached.as_ref());
        drop(cached);
        // A terminated orchestration releases the entities it held locked, and its parent
        // sees the typed failure.
        let links = match closing_links(shared, &item, links).await {
            Ok(links) => links,
            Err(error) => return Err((item, error.into())),
        };
        let trace = ended_outside(
            shared,
            &item,
            root,
            &[],
            now,
            RuntimeStatus::Terminated,
            &failure,
        )
        .await;
        send_closing(&mut commit, &item.instance_id, links, now, failure);
        return Ok(Prepared::traced(commit, None, trace));
    }
    let applied = decide::apply_messages(&item, is_local);
    commit.consumed.clone_from(&applied.consumed);
    if !applied.runs() {
        // Only markers (or stale messages): record them without running the orchestrator.
        commit.status = applied.idle_status(item.status);
        if !applied.markers.is_empty() {
            commit.events.push(HistoryEvent::new(
                now,
                crate::history::EventKind::OrchestratorStarted,
            ));
            commit.events.extend(applied.markers);
        }
        if let Some(engine) = cached
            && commit.events.is_empty()
        {
            return Ok(Prepared::new(commit, Some(engine)));
        }
        return Ok(Prepared::new(commit, None));
    }
    let version = item.version.as_deref();
    let Some(orchestrator) = shared.registry.orchestration(&item.name, version) else {
        let failure = decide::not_registered(
            &item.name,
            version,
            &shared.registry.orchestration_versions(&item.name),
            &shared.registry.orchestration_names().collect::<Vec<_>>(),
        );
        let events = applied.into_events();
        let trace = ended_outside(
            shared,
            &item,
            cached_span_root(cached.as_ref()),
            &events,
            now,
            RuntimeStatus::Failed,
            &failure,
        )
        .await;
        translate::fail_commit(&mut commit, now, events, failure);
        return Ok(Prepared::traced(commit, None, trace));
    };
    let mut engine = match decide::rehydration(cached, item.history_len) {
        Rehydration::Cached(engine) => engine,
        Rehydration::Fresh => fresh_engine(shared, &item, orchestrator),
        Rehydration::Replay => {
            let history = match read_leased_history(shared, &item).await {
                Ok(history) => history,
                Err(StoreError::Corrupt { what, reason }) => {
                    let reason = format!("{what}: {reason}");
                    return Box::pin(fail_corrupt(shared, item, commit, None, now, reason)).await;
                }
                Err(error) => return Err((item, error.into())),
            };
            tracing::Span::current().record("replayed", history.len());
            let mut engine = fresh_engine(shared, &item, orchestrator);
            engine.replay(&history);
            engine
        }
    };
    let output = engine.run_turn(now, applied.into_events());
    Ok(finish_turn(
        shared,
        &item,
        commit,
        engine,
        output,
        Vec::new(),
        now,
    ))
}

/// Turns a turn's output into its commit ([`translate::translate`]: the events to append
/// after `prefix`, the work and messages it started, how the execution stands) and what
/// follows it: the engine to cache, the spans to export, the metrics to count.
pub(super) fn finish_turn(
    shared: &WorkerShared,
    item: &OrchestrationWorkItem,
    mut commit: OrchestrationCommit,
    engine: ReplayEngine,
    mut output: crate::replay::TurnOutput,
    prefix: Vec<HistoryEvent>,
    now: DateTime<Utc>,
) -> Prepared {
    let spans = std::mem::take(&mut output.spans);
    let tally = TurnTally::of(shared, &output);
    let parent = || engine.parent();
    let next_context = || next_generation_context(&engine);
    let turn = translate::Turn {
        item,
        parent: &parent,
        next_context: &next_context,
        max_history_events: shared.options.max_history_events,
        now,
    };
    match translate::translate(&turn, &mut commit, output, prefix) {
        Verdict::TooLong(failure) => {
            // The turn's calls are dropped with it; only the execution's end is traced.
            #[cfg(feature = "otel")]
            let trace = engine
                .span_root()
                .map_or(TurnTrace::Nothing, |(root, started)| {
                    let started = started.unwrap_or(now);
                    TurnTrace::ended(
                        item,
                        root,
                        started,
                        now,
                        RuntimeStatus::Failed,
                        Some(failure),
                    )
                });
            #[cfg(not(feature = "otel"))]
            let trace = {
                drop(failure);
                turn_trace(item, spans)
            };
            Prepared::traced(commit, None, trace)
        }
        verdict => {
            // A continued-as-new engine is done; an ended one is dropped after the commit.
            let engine = (verdict != Verdict::ContinuedAsNew).then_some(engine);
            let mut prepared = Prepared::traced(commit, engine, turn_trace(item, spans));
            prepared.tally = tally;
            prepared
        }
    }
}

/// The trace context the next generation of a continue-as-new starts under: this one's
/// starter, so every generation is in the caller's trace (Durable Functions carries its
/// `ParentTraceContext` the same way); this execution's own span when nothing started it
/// traced. `None` when the worker does not trace.
fn next_generation_context(
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))] engine: &ReplayEngine,
) -> Option<crate::TraceContext> {
    #[cfg(feature = "otel")]
    {
        engine.span_root().map(|(root, _)| root.starter_context())
    }
    #[cfg(not(feature = "otel"))]
    {
        None
    }
}

/// An engine for the work item's execution, with nothing replayed yet; it records spans
/// when the worker traces.
pub(super) fn fresh_engine(
    #[cfg_attr(not(feature = "otel"), allow(unused_variables))] shared: &WorkerShared,
    item: &OrchestrationWorkItem,
    orchestrator: crate::registry::OrchestratorBody,
) -> ReplayEngine {
    let engine = ReplayEngine::new(
        item.instance_id.clone(),
        item.execution_id.clone(),
        item.name.clone(),
        orchestrator,
    )
    .with_version(item.version.clone());
    #[cfg(feature = "otel")]
    let engine = engine.traced(shared.telemetry.is_some());
    engine
}

/// Reads the leased instance's history, which must be as long as the work item says
/// (otherwise another worker moved it: the lease was lost).
pub(super) async fn read_leased_history(
    shared: &WorkerShared,
    item: &OrchestrationWorkItem,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let history = shared
        .store
        .read_history(&item.instance_id)
        .await?
        .ok_or_else(|| StoreError::InstanceNotFound(item.instance_id.clone()))?;
    if history.len() != item.history_len {
        return Err(StoreError::LeaseLost(format!(
            "history moved from {} to {} events",
            item.history_len,
            history.len()
        )));
    }
    Ok(history)
}
