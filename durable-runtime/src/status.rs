//! Instance status: [`RuntimeStatus`], [`OrchestrationStatus`] and [`FailureDetails`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ExecutionId, InstanceId};
use crate::payload::Payload;

/// The runtime status of an orchestration instance.
///
/// Values and codes follow Durable Functions' `OrchestrationRuntimeStatus` (and
/// durabletask-protobuf): Unknown=-1, Running=0, Completed=1, ContinuedAsNew=2, Failed=3,
/// Canceled=4 (reserved, unused), Terminated=5, Pending=6, Suspended=7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    /// Started and not finished.
    Running,
    /// The orchestrator function returned `Ok`.
    Completed,
    /// Between two executions of continue-as-new.
    ContinuedAsNew,
    /// The orchestrator function returned `Err`, panicked, or broke a replay rule.
    Failed,
    /// Reserved by Durable Functions; never set by this runtime.
    Canceled,
    /// A client terminated the instance.
    Terminated,
    /// Created, but its first turn has not run yet.
    Pending,
    /// A client suspended the instance.
    Suspended,
    /// The store holds a status code this build does not know (a corrupt row, or one a
    /// newer build wrote). Such an instance is set aside: never fetched, never purged, shown
    /// in status reads and listings with failure details saying what was found, until an
    /// operator repairs the row. Never written by this runtime; not in [`ALL`](Self::ALL).
    Unknown,
}

impl RuntimeStatus {
    /// Every status a store records, in code order ([`Unknown`](Self::Unknown) is not one).
    pub const ALL: [RuntimeStatus; 8] = [
        Self::Running,
        Self::Completed,
        Self::ContinuedAsNew,
        Self::Failed,
        Self::Canceled,
        Self::Terminated,
        Self::Pending,
        Self::Suspended,
    ];

    /// The numeric code of Durable Functions' enum.
    pub fn code(self) -> i32 {
        match self {
            Self::Running => 0,
            Self::Completed => 1,
            Self::ContinuedAsNew => 2,
            Self::Failed => 3,
            Self::Canceled => 4,
            Self::Terminated => 5,
            Self::Pending => 6,
            Self::Suspended => 7,
            Self::Unknown => -1,
        }
    }

    /// The status with numeric code `code`, if any.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    /// True for Completed, Failed, Canceled and Terminated: the instance will not run again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Canceled | Self::Terminated
        )
    }

    /// The name as Durable Functions spells it (`"Running"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::ContinuedAsNew => "ContinuedAsNew",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
            Self::Terminated => "Terminated",
            Self::Pending => "Pending",
            Self::Suspended => "Suspended",
            Self::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`RuntimeStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown runtime status {0:?}; expected one of Running, Completed, ContinuedAsNew, Failed, Canceled, Terminated, Pending, Suspended"
)]
pub struct UnknownRuntimeStatus(pub String);

impl FromStr for RuntimeStatus {
    type Err = UnknownRuntimeStatus;
    /// Parses a status name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRuntimeStatus(s.to_owned()))
    }
}

/// What went wrong in a failed activity, sub-orchestration or orchestration.
///
/// Follows DTF's `FailureDetails`: the error's type name, its message, an optional inner
/// failure (the cause), and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetails {
    /// The Rust type name of the error (`std::any::type_name`), or `"panic"` for a panic.
    pub error_type: String,
    /// The error's `Display` text, or the panic message.
    pub message: String,
    /// The failure that caused this one, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner: Option<Box<FailureDetails>>,
    /// True when retrying cannot succeed; retry policies stop at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_retriable: bool,
}

impl FailureDetails {
    /// Makes failure details from a type name and a message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            message: message.into(),
            inner: None,
            non_retriable: false,
        }
    }

    /// Sets the inner (causing) failure.
    pub fn with_inner(mut self, inner: FailureDetails) -> Self {
        self.inner = Some(Box::new(inner));
        self
    }
}

impl fmt::Display for FailureDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.error_type)?;
        if let Some(inner) = &self.inner {
            write!(f, ": caused by {inner}")?;
        }
        Ok(())
    }
}

/// The status of one orchestration instance, as clients see it.
///
/// Fields follow Durable Functions' `DurableOrchestrationStatus`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrchestrationStatus {
    /// The registered orchestration name.
    pub name: String,
    /// The orchestration version, if any.
    pub version: Option<String>,
    /// The instance id.
    pub instance_id: InstanceId,
    /// The current execution (changes with continue-as-new).
    pub execution_id: ExecutionId,
    /// The runtime status.
    pub runtime_status: RuntimeStatus,
    /// When the instance was created (UTC).
    pub created_time: DateTime<Utc>,
    /// When its status last changed (UTC).
    pub last_updated_time: DateTime<Utc>,
    /// The input of the current execution.
    pub input: Option<Payload>,
    /// The output, once completed.
    pub output: Option<Payload>,
    /// The custom status last set with `set_custom_status`.
    pub custom_status: Option<Payload>,
    /// What went wrong, once failed.
    pub failure: Option<FailureDetails>,
    /// The parent's instance id, for a sub-orchestration.
    pub parent_instance_id: Option<InstanceId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_names() {
        for status in RuntimeStatus::ALL {
            assert_eq!(RuntimeStatus::from_code(status.code()), Some(status));
            assert_eq!(status.as_str().parse::<RuntimeStatus>().unwrap(), status);
        }
        assert_eq!(
            "running".parse::<RuntimeStatus>().unwrap(),
            RuntimeStatus::Running
        );
        assert!("Done".parse::<RuntimeStatus>().is_err());
        assert!(RuntimeStatus::Terminated.is_terminal());
        assert!(!RuntimeStatus::Suspended.is_terminal());
    }
}
