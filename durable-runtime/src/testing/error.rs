//! The test kit's errors: [`TestError`] from a [`TestEnvironment`](super::TestEnvironment),
//! [`ReplayError`] from the [`Replayer`](super::Replayer), [`HistoryFormatError`] from
//! reading a saved history.
//!
//! Error policy: nothing in the kit panics on user input; the `assert_*` helpers panic on
//! purpose (they are test assertions) and say so in their docs.

use std::fmt;
use std::path::PathBuf;

use crate::error::{ClientError, RuntimeError};
use crate::ids::InstanceId;
use crate::status::{FailureDetails, RuntimeStatus};

/// An error from a [`TestEnvironment`](super::TestEnvironment).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The environment's runtime did not start (no functions registered, names clash).
    #[error("the test environment did not start: {0}")]
    Start(#[from] RuntimeError),
    /// A client call failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// No instance has this id.
    #[error("no instance with id {0} in this test environment")]
    InstanceNotFound(InstanceId),
    /// Everything is idle, nothing waits on time, and the instance has not reached what
    /// the test waits for: nothing but the test itself (an event, a signal) can move it
    /// on. Returned instead of hanging.
    #[error(
        "instance {instance_id} is {status} and idle, and no durable timer is pending: it will not \
         {waiting_for} unless the test raises an event or signals an entity"
    )]
    Stalled {
        /// The instance.
        instance_id: InstanceId,
        /// Its status.
        status: RuntimeStatus,
        /// What the test waited for ("complete", "wait for event `Approval`").
        waiting_for: String,
    },
    /// The instance ended before reaching what the test waits for.
    #[error("instance {instance_id} ended ({status}) before it would {waiting_for}")]
    Ended {
        /// The instance.
        instance_id: InstanceId,
        /// Its final status.
        status: RuntimeStatus,
        /// What the test waited for.
        waiting_for: String,
    },
    /// The orchestration failed; its recorded failure.
    #[error("instance {instance_id} failed: {failure}")]
    Failed {
        /// The instance.
        instance_id: InstanceId,
        /// The recorded failure.
        failure: FailureDetails,
    },
    /// The output does not decode as the orchestration's output type.
    #[error("the output of instance {instance_id} does not decode: {source}")]
    Output {
        /// The instance.
        instance_id: InstanceId,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// The work did not settle within the environment's real-time limit
    /// ([`TestEnvironmentBuilder::timeout`](super::TestEnvironmentBuilder::timeout)): an
    /// activity that runs for a long time, or one that never returns.
    #[error("the test environment was still busy after {0:?} of wall time")]
    Timeout(std::time::Duration),
}

/// Where in the user's source a durable call was made (`#[track_caller]` on the
/// `OrchestrationContext` methods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file, as the compiler names it (relative to the package root).
    pub file: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl From<&std::panic::Location<'_>> for SourceLocation {
    fn from(location: &std::panic::Location<'_>) -> Self {
        Self {
            file: location.file().to_owned(),
            line: location.line(),
            column: location.column(),
        }
    }
}

fn at(location: &Option<SourceLocation>) -> String {
    location
        .as_ref()
        .map(|l| format!(" (at {l})"))
        .unwrap_or_default()
}

/// Why a saved history does not replay against the current code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The code does not do what the history recorded at `sequence_number`: the first
    /// non-determinism, as the runtime would report it (`durable::NonDeterminismError`).
    #[error(
        "non-determinism at sequence number {sequence_number}: history has {expected}, the code {actual}{}",
        at(location)
    )]
    Nondeterminism {
        /// The action sequence number (a scheduling event's `event_id`).
        sequence_number: i64,
        /// What history holds there, e.g. "activity `charge_card`".
        expected: String,
        /// What the code did, e.g. "scheduled activity `refund`".
        actual: String,
        /// Where the code made the call that disagrees, when known.
        location: Option<SourceLocation>,
    },
    /// History records that the execution ended, but the code has not returned at that
    /// point: it waits for something the history never delivered.
    #[error(
        "history records the execution ended ({recorded}), but the code has not returned: it still waits for a durable call or event"
    )]
    DidNotEnd {
        /// How history says it ended.
        recorded: RuntimeStatus,
    },
    /// The code fails on this history for another reason than non-determinism (it panics
    /// during replay, its input no longer decodes), where history does not record a
    /// failure.
    #[error("the code fails on this history: {0}")]
    Failed(FailureDetails),
    /// The orchestration the history names is not registered (with that version).
    #[error(
        "orchestration `{name}`{} is not registered; registered: [{registered}]",
        version.as_deref().map(|v| format!(" version `{v}`")).unwrap_or_default()
    )]
    NotRegistered {
        /// The recorded name.
        name: String,
        /// The recorded version.
        version: Option<String>,
        /// The registered orchestration names, comma-separated.
        registered: String,
    },
    /// The history has no `ExecutionStarted` event.
    #[error("the history has no `ExecutionStarted` event")]
    NoExecutionStarted,
    /// The saved history could not be read.
    #[error(transparent)]
    Format(#[from] HistoryFormatError),
    /// A file or directory could not be read.
    #[error("could not read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A saved history that cannot be read; see [`HistoryExport::parse`](super::HistoryExport::parse).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryFormatError {
    /// Not JSON.
    #[error("the history is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A `"format"` this version cannot read (a newer one).
    #[error(
        "unsupported history format `{0}`; this version reads `durable-history/1` and bare event arrays"
    )]
    UnsupportedFormat(String),
    /// JSON of no known shape.
    #[error(
        "no history found: expected an array of events, an object with `\"format\": \"durable-history/1\"` and `events`, or an HTTP status body with `historyEvents`"
    )]
    UnknownShape,
    /// One event that does not fit any known shape.
    #[error("event {index} of the history cannot be read: {message}")]
    Event {
        /// Its position in the history, from 0.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
}
