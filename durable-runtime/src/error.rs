//! Public error types, one per layer.
//!
//! - [`ActivityError`]: what an activity returns on failure (any `std::error::Error` converts
//!   into it with `?`, keeping its type name and message).
//! - [`ActivityFailed`]: what an orchestrator sees when an activity it called failed.
//! - [`OrchestrationError`]: what an orchestrator returns on failure.
//! - [`StoreError`], [`ClientError`], [`RegistryError`], [`RuntimeError`]: the store, the
//!   client, the registry and the runtime's start-up.
//! - [`NonDeterminismError`]: the code under replay did not do what history recorded.

use std::any::Any;
use std::fmt;
use std::time::Duration;

use crate::ids::{InstanceId, InvalidInstanceId};
use crate::status::{FailureDetails, RuntimeStatus};

/// Builds [`FailureDetails`] from any error: its type name, its message and its sources.
///
/// Errors that already carry failure details (an [`ActivityFailed`] passed on with `?`) keep
/// them as the inner failure, so the cause is not lost.
fn failure_from_error<E: std::error::Error + 'static>(error: &E) -> FailureDetails {
    let any: &dyn Any = error;
    let mut details = FailureDetails::new(std::any::type_name::<E>(), error.to_string());
    if let Some(failed) = any.downcast_ref::<ActivityFailed>() {
        details.inner = Some(Box::new(failed.details.clone()));
        return details;
    }
    if let Some(failed) = any.downcast_ref::<SubOrchestrationFailed>() {
        details.inner = Some(Box::new(failed.details.clone()));
        return details;
    }
    let mut source = error.source();
    let mut chain = Vec::new();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    details.inner = chain.into_iter().rev().fold(None, |inner, message| {
        Some(Box::new(FailureDetails {
            error_type: "source".into(),
            message,
            inner,
            non_retriable: false,
        }))
    });
    details
}

/// The error an activity returns: its failure details, recorded as `ActivityFailed`.
///
/// Any `E: std::error::Error + Send + Sync + 'static` converts into it (so `?` works in
/// activities), keeping `std::any::type_name::<E>()` and the message. `ActivityError` does
/// not implement `std::error::Error` itself, which is what makes that blanket conversion
/// possible (the same trick as `anyhow::Error`).
pub struct ActivityError {
    details: FailureDetails,
}

impl ActivityError {
    /// Makes an error with a message; its type name is `"ActivityError"`.
    pub fn new(message: impl fmt::Display) -> Self {
        Self {
            details: FailureDetails::new("ActivityError", message.to_string()),
        }
    }

    /// Makes an error from explicit failure details.
    pub fn from_details(details: FailureDetails) -> Self {
        Self { details }
    }

    /// Marks the error non-retriable: retry policies stop at once.
    pub fn non_retriable(mut self) -> Self {
        self.details.non_retriable = true;
        self
    }

    /// The failure details that will be recorded.
    pub fn details(&self) -> &FailureDetails {
        &self.details
    }

    /// Takes the failure details.
    pub fn into_details(self) -> FailureDetails {
        self.details
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ActivityError {
    fn from(error: E) -> Self {
        Self {
            details: failure_from_error(&error),
        }
    }
}

impl fmt::Debug for ActivityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.details, f)
    }
}

impl fmt::Display for ActivityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.details, f)
    }
}

/// An activity called from an orchestrator failed: it returned an error, panicked, or its
/// output did not decode as the expected type.
///
/// Durable Functions calls this `TaskFailedException`. The activity's error type name and
/// message are in [`details`](Self::details).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("activity `{name}` failed: {details}")]
pub struct ActivityFailed {
    /// The registered activity name.
    pub name: String,
    /// What went wrong in the activity.
    pub details: FailureDetails,
}

/// An entity operation called from an orchestration failed: it returned an error or
/// panicked (its state change was rolled back), the entity has no such operation, or its
/// result did not decode.
///
/// Follows Durable Functions' `EntitySchedulerException` / `OperationFailedException`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("operation `{operation}` on entity {entity} failed: {details}")]
pub struct EntityOperationFailed {
    /// The entity.
    pub entity: crate::ids::EntityId,
    /// The operation.
    pub operation: String,
    /// What went wrong, with the error type and message of the operation's error.
    pub details: FailureDetails,
}

/// A sub-orchestration called from an orchestrator failed (or could not be started, or
/// was terminated); the child's failure is in [`details`](Self::details).
///
/// Durable Functions calls this `SubOrchestrationFailedException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sub-orchestration `{name}` ({instance_id}) failed: {details}")]
pub struct SubOrchestrationFailed {
    /// The registered orchestration name of the child.
    pub name: String,
    /// The child's instance id.
    pub instance_id: InstanceId,
    /// What went wrong in the child.
    pub details: FailureDetails,
}

/// Waiting for an external event did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The timeout passed first (Durable Functions' `TimeoutException`).
    #[error("no `{name}` event arrived within {timeout:?}")]
    TimedOut {
        /// The event name.
        name: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The event data does not decode as the expected type.
    #[error("the `{name}` event's data does not decode as `{expected}`: {message}")]
    Decode {
        /// The event name.
        name: String,
        /// The expected type.
        expected: &'static str,
        /// The decoder's message.
        message: String,
    },
}

/// The error an orchestrator function returns; the instance becomes `Failed` with it.
///
/// Like [`ActivityError`], any `std::error::Error` converts into it with `?`; an
/// [`ActivityFailed`] keeps the activity's failure as the inner failure.
pub struct OrchestrationError {
    details: FailureDetails,
}

impl OrchestrationError {
    /// Makes an error with a message; its type name is `"OrchestrationError"`.
    pub fn new(message: impl fmt::Display) -> Self {
        Self {
            details: FailureDetails::new("OrchestrationError", message.to_string()),
        }
    }

    /// Makes an error from explicit failure details.
    pub fn from_details(details: FailureDetails) -> Self {
        Self { details }
    }

    /// The failure details that will be recorded.
    pub fn details(&self) -> &FailureDetails {
        &self.details
    }

    /// Takes the failure details.
    pub fn into_details(self) -> FailureDetails {
        self.details
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for OrchestrationError {
    fn from(error: E) -> Self {
        Self {
            details: failure_from_error(&error),
        }
    }
}

impl fmt::Debug for OrchestrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.details, f)
    }
}

impl fmt::Display for OrchestrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.details, f)
    }
}

/// The orchestrator code did something other than what its history records.
///
/// Follows DTF's `NonDeterministicOrchestrationException`: raised when history holds a
/// scheduling event at sequence number `event_id` and the code, on replay, produced no
/// action there, or an action of another kind or name. The instance fails with this error;
/// it is not retried. The usual cause is a code change deployed under running instances.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "non-deterministic orchestration: instance {instance_id} at sequence number {event_id}: \
     history holds {expected}, but the code {actual}; was the orchestrator code changed \
     after this instance started? Keep old code paths for running instances, or version \
     the orchestration"
)]
pub struct NonDeterminismError {
    /// The instance that failed.
    pub instance_id: InstanceId,
    /// The sequence number where history and code disagree.
    pub event_id: i64,
    /// What history holds, e.g. "activity `charge_card`".
    pub expected: String,
    /// What the code did, e.g. "scheduled activity `refund`" or "scheduled nothing".
    pub actual: String,
}

/// An error from a [`Store`](crate::store::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An instance with this id exists and is not in a state that allows reuse.
    #[error(
        "instance {instance_id} already exists with status {status}; pick another instance id, or wait until it finishes"
    )]
    InstanceAlreadyExists {
        /// The id that was asked for.
        instance_id: InstanceId,
        /// The existing instance's status.
        status: RuntimeStatus,
    },
    /// No instance has this id.
    #[error("no instance with id {0}")]
    InstanceNotFound(InstanceId),
    /// The instance's status does not allow the operation.
    #[error("instance {instance_id} is {status}")]
    InstanceState {
        /// The instance.
        instance_id: InstanceId,
        /// Its status.
        status: RuntimeStatus,
    },
    /// A work item's lease expired and another worker may own it now; its result was
    /// not committed and will be produced again.
    #[error("the lease on {0} was lost before commit; the work item will be processed again")]
    LeaseLost(String),
    /// Stored data does not decode: a corrupt row (damaged, or written by a build with
    /// another format). The runtime fails only the instance it belongs to with
    /// [`CORRUPT_HISTORY`](crate::error_types::CORRUPT_HISTORY), never the task hub (see
    /// ARCHITECTURE.md, "Corrupt rows").
    #[error(
        "corrupt store data: {what} does not decode: {reason}; repair the row or purge its instance (ARCHITECTURE.md, \"Corrupt rows\")"
    )]
    Corrupt {
        /// What did not decode, e.g. "history row (instance order-1, seq 3)".
        what: String,
        /// Why, e.g. the decode error.
        reason: String,
    },
    /// A value could not be encoded for storage (nothing was written): serde failed on it,
    /// e.g. a map with non-string keys inside a payload.
    #[error("cannot store {what}: {reason}; nothing was written")]
    Encode {
        /// What could not be encoded, e.g. "history event".
        what: String,
        /// Why, e.g. the encode error.
        reason: String,
    },
    /// A task hub name that the store cannot use (bad configuration; nothing was opened).
    #[error(
        "invalid task hub name {name:?}: use lower-case letters, digits and `_`, starting with a letter or `_`, at most 48 characters"
    )]
    InvalidTaskHub {
        /// The name given.
        name: String,
    },
    /// A listing's continuation token is not one a listing handed out (bad input, not a
    /// store fault: HTTP answers 400, the CLI exits with 5).
    #[error(
        "invalid continuation token {0:?}: pass back the token a previous page returned, unchanged"
    )]
    InvalidContinuationToken(String),
    /// The database is not a `durable` store: it holds someone else's tables, or (opened
    /// read-only) none of ours. Nothing was changed in it.
    #[error("{location} is not a durable store: {reason}")]
    NotAStore {
        /// The file or task hub.
        location: String,
        /// What was found instead.
        reason: String,
    },
    /// The store's schema is of a version this build cannot use: newer than it knows (a
    /// newer build migrated it), or older while opened read-only (it cannot migrate).
    #[error(
        "{location} has schema version {found}, and this build uses version {supported}: {advice}"
    )]
    SchemaVersion {
        /// The file or task hub.
        location: String,
        /// The version found in the store.
        found: i64,
        /// The version this build writes.
        supported: i64,
        /// What to do about it.
        advice: &'static str,
    },
    /// The store can no longer take work: its worker thread (SQLite) or its client-write
    /// tasks (PostgreSQL: they run on the Tokio runtime that connected the store, and end
    /// with it) have stopped. Open or connect the store again.
    #[error("the store is closed")]
    Closed,
    /// An error from the database back-end (the driver's error, as the
    /// [`source`](std::error::Error::source)). When a PostgreSQL server sent the error,
    /// the text adds what the server said: its severity, SQLSTATE code and message, and
    /// its detail and hint when it gave them, as in `store back-end error: db error: ERROR
    /// 42P01: relation "durable.history" does not exist` (the PostgreSQL client's own text
    /// for every server error is `db error` alone). The server's message is in the
    /// server's language (`lc_messages`).
    #[error("store back-end error: {}", BackendText(&**.0))]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// A copy of this error for the other callers of a grouped statement that failed (the
    /// first caller gets the error itself): the same variant with the same fields, except
    /// that a [`StoreError::Backend`] holds its error's text (the server's words included)
    /// instead of the error, so its copy has no source.
    #[cfg(any(feature = "postgres", test))]
    pub(crate) fn copy_for_another_caller(&self) -> StoreError {
        match self {
            StoreError::InstanceAlreadyExists {
                instance_id,
                status,
            } => StoreError::InstanceAlreadyExists {
                instance_id: instance_id.clone(),
                status: *status,
            },
            StoreError::InstanceNotFound(instance_id) => {
                StoreError::InstanceNotFound(instance_id.clone())
            }
            StoreError::InstanceState {
                instance_id,
                status,
            } => StoreError::InstanceState {
                instance_id: instance_id.clone(),
                status: *status,
            },
            StoreError::LeaseLost(what) => StoreError::LeaseLost(what.clone()),
            StoreError::Corrupt { what, reason } => StoreError::Corrupt {
                what: what.clone(),
                reason: reason.clone(),
            },
            StoreError::Encode { what, reason } => StoreError::Encode {
                what: what.clone(),
                reason: reason.clone(),
            },
            StoreError::InvalidTaskHub { name } => {
                StoreError::InvalidTaskHub { name: name.clone() }
            }
            StoreError::InvalidContinuationToken(token) => {
                StoreError::InvalidContinuationToken(token.clone())
            }
            StoreError::NotAStore { location, reason } => StoreError::NotAStore {
                location: location.clone(),
                reason: reason.clone(),
            },
            StoreError::SchemaVersion {
                location,
                found,
                supported,
                advice,
            } => StoreError::SchemaVersion {
                location: location.clone(),
                found: *found,
                supported: *supported,
                advice,
            },
            StoreError::Closed => StoreError::Closed,
            StoreError::Backend(source) => {
                StoreError::Backend(BackendText(&**source).to_string().into())
            }
        }
    }
}

/// The text of a back-end error: its own, then, for an error a PostgreSQL server sent
/// (anywhere in its chain of sources), the server's words, which the PostgreSQL client's
/// own text leaves out.
struct BackendText<'a>(&'a (dyn std::error::Error + Send + Sync + 'static));

impl fmt::Display for BackendText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        #[cfg(feature = "postgres")]
        {
            let chain =
                std::iter::successors(Some(self.0 as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                });
            for error in chain {
                if let Some(db) = error.downcast_ref::<tokio_postgres::error::DbError>() {
                    // The severity unlocalized when the server sent it (PostgreSQL 9.6+).
                    match db.parsed_severity() {
                        Some(severity) => write!(f, ": {severity}")?,
                        None => write!(f, ": {}", db.severity())?,
                    }
                    write!(f, " {}: {}", db.code().code(), db.message())?;
                    if let Some(detail) = db.detail() {
                        write!(f, " (detail: {detail})")?;
                    }
                    if let Some(hint) = db.hint() {
                        write!(f, " (hint: {hint})")?;
                    }
                    break;
                }
            }
        }
        Ok(())
    }
}

/// An error from a [`DurableClient`](crate::DurableClient) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The instance id breaks the id rules.
    #[error(transparent)]
    InvalidInstanceId(#[from] InvalidInstanceId),
    /// The input could not be encoded as JSON.
    #[error("could not encode the input of `{name}` as JSON: {source}")]
    InputEncode {
        /// The orchestration name.
        name: &'static str,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// The orchestration's output did not decode as the expected type.
    #[error("the output of instance {instance_id} does not decode as the expected type: {source}")]
    OutputDecode {
        /// The instance.
        instance_id: InstanceId,
        /// The decoder's error.
        source: serde_json::Error,
    },
    /// The instance is still running after the timeout.
    #[error("instance {instance_id} did not finish within {timeout:?}; it is still {status}")]
    Timeout {
        /// The instance.
        instance_id: InstanceId,
        /// How long the client waited.
        timeout: Duration,
        /// Its status when the wait ended.
        status: RuntimeStatus,
    },
    /// The instance failed.
    #[error("instance {instance_id} failed: {failure}")]
    OrchestrationFailed {
        /// The instance.
        instance_id: InstanceId,
        /// What went wrong.
        failure: FailureDetails,
    },
    /// The instance was terminated.
    #[error("instance {instance_id} was terminated{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    OrchestrationTerminated {
        /// The instance.
        instance_id: InstanceId,
        /// The reason given to terminate, if any.
        reason: Option<String>,
    },
    /// No instance has this id.
    #[error("no instance with id {0}; check the id, or list instances to find it")]
    InstanceNotFound(InstanceId),
    /// The instance's status does not allow the operation (raising an event to a finished
    /// instance, resuming one that is not suspended, purging one that is running, ...).
    #[error("cannot {operation} instance {instance_id}: it is {status}{}", hint_for(*.status))]
    InvalidState {
        /// The instance.
        instance_id: InstanceId,
        /// Its status.
        status: RuntimeStatus,
        /// What was attempted ("raise an event to", "resume", ...).
        operation: &'static str,
    },
    /// No orchestration with this name (and version) is registered.
    #[error("no orchestration `{name}`{} is registered here", version.as_deref().map(|v| format!(" version `{v}`")).unwrap_or_default())]
    UnknownOrchestration {
        /// The name asked for.
        name: String,
        /// The version asked for, if any.
        version: Option<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn hint_for(status: RuntimeStatus) -> &'static str {
    if status.is_terminal() {
        "; it has finished"
    } else {
        ""
    }
}

/// The set of registered functions is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two or more functions share a name; every clash is listed.
    #[error("duplicate registered names: {}; give each a distinct `name = \"...\"`", .0.join(", "))]
    DuplicateNames(Vec<String>),
    /// Nothing is registered at all.
    #[error(
        "no orchestrations or activities are registered; annotate functions with #[orchestrator] / #[activity], and make sure the worker binary uses every crate that defines them (inventory links only referenced crates)"
    )]
    Empty,
}

/// The runtime could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The registry is unusable.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No store was configured.
    #[error(
        "no store configured; call `.sqlite(path)`, `.in_memory()` or `.store(store)` on the builder"
    )]
    NoStore,
    /// The tracer provider cannot trace orchestrations (feature `otel`).
    #[cfg(feature = "otel")]
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn errors_keep_type_message_and_sources() {
        let err: ActivityError = Outer(std::io::Error::other("disk full")).into();
        assert!(err.details().error_type.ends_with("Outer"));
        assert_eq!(err.details().message, "outer");
        assert_eq!(err.details().inner.as_ref().unwrap().message, "disk full");

        let failed = ActivityFailed {
            name: "copy".into(),
            details: FailureDetails::new("io", "nope"),
        };
        let err: OrchestrationError = failed.into();
        assert_eq!(err.details().inner.as_ref().unwrap().message, "nope");
        assert!(err.to_string().contains("activity `copy` failed"));
    }

    #[test]
    fn a_copied_store_error_reads_as_the_original() {
        let backend = StoreError::Backend("disk I/O error".into());
        let copy = backend.copy_for_another_caller();
        assert!(matches!(copy, StoreError::Backend(_)));
        assert_eq!(copy.to_string(), "store back-end error: disk I/O error");
        let corrupt = StoreError::Corrupt {
            what: "history event".into(),
            reason: "expected value".into(),
        };
        assert!(matches!(
            corrupt.copy_for_another_caller(),
            StoreError::Corrupt { what, reason } if what == "history event" && reason == "expected value"
        ));
        assert!(matches!(
            StoreError::Closed.copy_for_another_caller(),
            StoreError::Closed
        ));
    }
}
