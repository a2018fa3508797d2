//! A rewind's turn (Durable Functions' `RewindAsync`): the failed execution replayed
//! through the rewound view, its failed work scheduled again, its children told.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ending::{all_message_ids, fail_corrupt};
use super::prepared::{Prepared, TurnError};
use super::turn::{finish_turn, fresh_engine, read_leased_history};
use crate::error::StoreError;
use crate::error_types::TERMINATED;
use crate::history::{EventKind, HistoryEvent, ParentInstance};
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::store::{OrchestrationCommit, OrchestrationWorkItem};
use crate::worker::WorkerShared;

/// Rewinds a failed instance (Durable Functions' `RewindAsync`): records `rewind`, replays
/// the execution through the rewound view (`replay::rewind`) and runs the turn that
/// schedules the failed work again; failed sub-orchestrations are sent a rewind of their
/// own. Every other queued message is dropped, as for any finished instance.
pub(super) async fn prepare_rewind(
    shared: &WorkerShared,
    item: OrchestrationWorkItem,
    mut commit: OrchestrationCommit,
    rewind: HistoryEvent,
    now: DateTime<Utc>,
) -> Result<Prepared, (OrchestrationWorkItem, TurnError)> {
    commit.consumed = all_message_ids(&item);
    drop(
        shared
            .cache
            .take_current(&item.instance_id, &item.execution_id),
    );
    let version = item.version.as_deref();
    let Some(orchestrator) = shared.registry.orchestration(&item.name, version) else {
        tracing::warn!(name = %item.name, "cannot rewind: the orchestration is not registered on this worker; the instance stays Failed");
        return Ok(Prepared::new(commit, None));
    };
    let mut history = match read_leased_history(shared, &item).await {
        Ok(history) => history,
        Err(StoreError::Corrupt { what, reason }) => {
            let reason = format!("{what}: {reason}");
            return fail_corrupt(shared, item, commit, None, now, reason).await;
        }
        Err(error) => return Err((item, error.into())),
    };
    // A rewind waits for the failed execution's activities still running to finish (their
    // results are dropped with the rest), so none answers the call made again.
    match shared.store.has_activity_work(&item.instance_id).await {
        Ok(false) => {}
        Ok(true) => {
            return Err((
                item,
                TurnError::Wait {
                    retry_after: Duration::from_millis(200),
                    reason: "the rewind waits for the failed execution's activities to finish",
                },
            ));
        }
        Err(error) => return Err((item, error.into())),
    }
    // Recorded as of now, after the check: every earlier attempt's result is older (see
    // `replay::rewind`), every new attempt's younger.
    let rewind = HistoryEvent::new(shared.clock.now().max(now), rewind.kind);
    history.push(rewind.clone());
    let waiting = crate::replay::rewind::waiting(&crate::replay::rewind::view(&history));
    let mut engine = fresh_engine(shared, &item, orchestrator);
    engine.replay(&history);
    let output = engine.run_turn(now, Vec::new());
    let reason = match &rewind.kind {
        EventKind::ExecutionRewound { reason } => reason.clone(),
        _ => None,
    };
    // Timers that fired while the instance was Failed fire again (a duplicate is ignored).
    for (seq, fire_at) in waiting.timers {
        commit.messages.push(crate::outbound::timer_fired(
            &item.instance_id,
            &item.execution_id,
            seq,
            fire_at,
        ));
    }
    // A failed child is rewound in turn; one that ended meanwhile sends its end again (it
    // was dropped while this instance was Failed); a running one will answer.
    for (seq, child) in waiting.children {
        let to_self = ParentInstance {
            instance_id: item.instance_id.clone(),
            execution_id: item.execution_id.clone(),
            scheduled_id: seq,
        };
        let status = match shared.store.get_status(&child).await {
            Ok(status) => status,
            Err(error) => return Err((item, error.into())),
        };
        match status {
            Some(status) if status.runtime_status == RuntimeStatus::Failed => {
                commit
                    .messages
                    .push(crate::outbound::rewind(child, reason.clone(), now));
            }
            Some(status) if status.runtime_status == RuntimeStatus::Completed => {
                let output = status.output.unwrap_or_else(Payload::null);
                commit
                    .messages
                    .push(crate::outbound::sub_orchestration_result(
                        &to_self,
                        now,
                        Ok(output),
                    ));
            }
            Some(status) if status.runtime_status == RuntimeStatus::Terminated => {
                let failure = FailureDetails::new(
                    TERMINATED,
                    format!("sub-orchestration {child} was terminated"),
                );
                commit
                    .messages
                    .push(crate::outbound::sub_orchestration_result(
                        &to_self,
                        now,
                        Err(failure),
                    ));
            }
            Some(_) => {}
            None => {
                let failure = FailureDetails::new(
                    crate::error_types::SUB_ORCHESTRATION_NOT_FOUND,
                    format!(
                        "sub-orchestration {child} no longer exists (purged while its parent was Failed)"
                    ),
                );
                commit
                    .messages
                    .push(crate::outbound::sub_orchestration_result(
                        &to_self,
                        now,
                        Err(failure),
                    ));
            }
        }
    }
    tracing::info!(instance_id = %item.instance_id, "rewinding a failed instance");
    Ok(finish_turn(
        shared,
        &item,
        commit,
        engine,
        output,
        vec![rewind],
        now,
    ))
}
