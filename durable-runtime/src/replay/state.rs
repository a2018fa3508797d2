//! The state an orchestrator's context shares with the replay engine during a turn.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use chrono::{DateTime, Utc};

use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::FailureDetails;

/// What the code asked for at one sequence number.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// `call_activity`.
    CallActivity {
        /// The activity's registered name.
        name: &'static str,
        /// The encoded input.
        input: Payload,
    },
}

impl Action {
    /// Describes the action for a non-determinism error ("scheduled activity `x`").
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::CallActivity { name, .. } => format!("scheduled activity `{name}`"),
        }
    }
}

/// A durable call whose result has not been taken by its future yet.
#[derive(Debug, Default)]
pub(crate) struct OpenCall {
    /// The result, once history delivered it.
    pub(crate) result: Option<Result<Payload, FailureDetails>>,
    /// The waker of the future awaiting it.
    pub(crate) waker: Option<Waker>,
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
    /// Durable calls awaiting (or holding) their result.
    pub(crate) open: HashMap<i64, OpenCall>,
    /// The custom status, and whether this turn changed it.
    pub(crate) custom_status: Option<Payload>,
    pub(crate) custom_status_dirty: bool,
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
                open: HashMap::new(),
                custom_status: None,
                custom_status_dirty: false,
            }),
        }
    }

    /// Locks the state. No user code runs under this lock, so it is never poisoned in
    /// practice; a poisoned lock is taken over as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ReplayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
