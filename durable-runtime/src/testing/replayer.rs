//! [`Replayer`]: replays saved histories against the current code and reports the first
//! non-determinism, as Temporal's `WorkflowReplayer` does, without a store or a worker.

use std::path::{Path, PathBuf};

use super::error::{ReplayError, SourceLocation};
use super::export::HistoryExport;
use crate::error::RegistryError;
use crate::error_types::NON_DETERMINISM_ERROR;
use crate::history::{EventKind, HistoryEvent};
use crate::ids::InstanceId;
use crate::registry::Registry;
use crate::replay::{Outcome, ReplayEngine};
use crate::status::RuntimeStatus;

/// Replays saved histories against the orchestrator code linked into this binary.
///
/// Each history is fed to a fresh replay engine exactly as a worker would after a restart
/// (every event with `is_replaying() == true`); no activity runs, nothing is stored. The
/// result is `Ok` or the first problem:
///
/// - [`ReplayError::Nondeterminism`]: a recorded scheduling event that the code no longer
///   makes at that sequence number (another activity, a timer where an activity was, a
///   call after the point where the code now returns), with the source location of the
///   disagreeing call where the durable call recorded one (`#[track_caller]`);
/// - [`ReplayError::DidNotEnd`]: history records the end of the execution, but the code has
///   not returned there (it schedules more, or waits);
/// - [`ReplayError::Failed`]: the code fails on the history for another reason (a panic, an
///   input that no longer decodes) where history records no failure;
/// - [`ReplayError::NotRegistered`]: the recorded name and version are not registered.
///
/// As on a worker, calls the code makes after the last recorded event of a running
/// instance are new work, not non-determinism (Durable Functions' rule: "extra trailing
/// actions are simply treated as new work"). Inputs are not compared.
///
/// Use it before a deploy: export the histories of running instances
/// (`durable history ID --json > histories/ID.json`, the HTTP API's
/// `?showHistory=true&showHistoryOutput=true`, or [`HistoryExport::read`]) and replay the
/// directory in a test with [`replay_dir`](Self::replay_dir).
///
/// ```no_run
/// # use durable_runtime::testing::Replayer;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let results = Replayer::new()?.replay_dir("tests/histories")?;
/// for file in &results {
///     assert!(file.result.is_ok(), "{}: {:?}", file.path.display(), file.result);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Replayer {
    registry: Registry,
}

/// The outcome of replaying one file of a directory; see [`Replayer::replay_dir`].
#[derive(Debug)]
pub struct FileReplay {
    /// The file.
    pub path: PathBuf,
    /// `Ok`, or why it does not replay (including a file that cannot be read or parsed).
    pub result: Result<(), ReplayError>,
}

impl Replayer {
    /// Replays against every orchestration registered through the macros.
    ///
    /// # Errors
    /// [`RegistryError`] when names clash or nothing is registered.
    pub fn new() -> Result<Self, RegistryError> {
        Ok(Self::with_registry(Registry::from_inventory()?))
    }

    /// Replays against the orchestrations in `registry`.
    pub fn with_registry(registry: Registry) -> Self {
        Self { registry }
    }

    /// Replays one execution's history.
    ///
    /// # Errors
    /// See the [type docs](Self).
    pub fn replay(&self, history: &[HistoryEvent]) -> Result<(), ReplayError> {
        self.replay_instance(None, history)
    }

    /// Replays a saved history.
    ///
    /// # Errors
    /// See the [type docs](Self).
    pub fn replay_export(&self, export: &HistoryExport) -> Result<(), ReplayError> {
        self.replay_instance(export.instance_id.clone(), &export.events)
    }

    /// Replays a saved history given as JSON, in any shape [`HistoryExport::parse`] reads.
    ///
    /// # Errors
    /// [`ReplayError::Format`], or see the [type docs](Self).
    pub fn replay_json(&self, json: &str) -> Result<(), ReplayError> {
        self.replay_export(&HistoryExport::parse(json)?)
    }

    /// Replays the saved history in the file at `path`.
    ///
    /// # Errors
    /// [`ReplayError::Io`], [`ReplayError::Format`], or see the [type docs](Self).
    pub fn replay_file(&self, path: impl AsRef<Path>) -> Result<(), ReplayError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| ReplayError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.replay_json(&json)
    }

    /// Replays every `*.json` file directly in `dir`, in file-name order, and returns one
    /// result per file (a file that does not parse is a failed result, not an error).
    ///
    /// # Errors
    /// [`ReplayError::Io`] when the directory cannot be listed.
    pub fn replay_dir(&self, dir: impl AsRef<Path>) -> Result<Vec<FileReplay>, ReplayError> {
        let dir = dir.as_ref();
        let io = |source| ReplayError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "json") {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths
            .into_iter()
            .map(|path| FileReplay {
                result: self.replay_file(&path),
                path,
            })
            .collect())
    }

    fn replay_instance(
        &self,
        instance_id: Option<InstanceId>,
        history: &[HistoryEvent],
    ) -> Result<(), ReplayError> {
        let (name, version, execution_id) = history
            .iter()
            .find_map(|event| match &event.kind {
                EventKind::ExecutionStarted {
                    name,
                    version,
                    execution_id,
                    ..
                } => Some((name.clone(), version.clone(), execution_id.clone())),
                _ => None,
            })
            .ok_or(ReplayError::NoExecutionStarted)?;
        let Some(orchestrator) = self.registry.orchestration(&name, version.as_deref()) else {
            return Err(ReplayError::NotRegistered {
                name,
                version,
                registered: self
                    .registry
                    .orchestration_names()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let instance_id =
            instance_id.unwrap_or_else(|| InstanceId::from_trusted("replayed".to_owned()));
        let mut engine =
            ReplayEngine::new(instance_id, execution_id, name, orchestrator).with_version(version);
        engine.replay(history);
        check(&engine, history)
    }
}

/// What the engine did with `history`, as a replay result.
pub(crate) fn check(engine: &ReplayEngine, history: &[HistoryEvent]) -> Result<(), ReplayError> {
    if let Some(divergence) = engine.divergence() {
        return Err(ReplayError::Nondeterminism {
            sequence_number: divergence.error.event_id,
            expected: divergence.error.expected.clone(),
            actual: divergence.error.actual.clone(),
            location: divergence.location.map(SourceLocation::from),
        });
    }
    let recorded_end = history.iter().rev().find_map(|event| match &event.kind {
        EventKind::ExecutionCompleted { status, .. } => Some(*status),
        EventKind::ContinuedAsNew { .. } => Some(RuntimeStatus::ContinuedAsNew),
        EventKind::ExecutionTerminated { .. } => Some(RuntimeStatus::Terminated),
        _ => None,
    });
    match (engine.outcome(), recorded_end) {
        // A failure history does not record is the code's own (a panic on replay).
        (Some(Outcome::Failed(failure)), end)
            if end != Some(RuntimeStatus::Failed)
                && failure.error_type != NON_DETERMINISM_ERROR =>
        {
            Err(ReplayError::Failed(failure.clone()))
        }
        // A terminated instance stopped wherever it was.
        (None, Some(RuntimeStatus::Terminated)) => Ok(()),
        (None, Some(recorded)) => match engine.first_unrecorded_call() {
            Some((sequence_number, actual, location)) => Err(ReplayError::Nondeterminism {
                sequence_number,
                expected: format!("the end of the execution ({recorded})"),
                actual,
                location: location.map(SourceLocation::from),
            }),
            None => Err(ReplayError::DidNotEnd { recorded }),
        },
        _ => Ok(()),
    }
}
