//! What the SQL stores share: error mapping, time columns and the JSON encoding of
//! payloads, events and statuses.

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::trace_context::TraceContext;

/// The columns an `OrchestrationStatus` is read from, in order.
pub(crate) const STATUS_COLUMNS: &str = "instance_id, execution_id, name, version, status, input, output, custom_status, failure, created_at, updated_at, parent_instance_id";

pub(crate) fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// [`StoreError::Corrupt`]: the stored `what` does not decode, for `reason`.
pub(crate) fn corrupt(what: impl Into<String>, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// What a decode failure says, without the advice of [`StoreError::Corrupt`]'s message: for
/// a message that names the row itself.
pub(crate) fn reason(error: StoreError) -> String {
    match error {
        StoreError::Corrupt { what, reason } => format!("{what}: {reason}"),
        other => other.to_string(),
    }
}

/// A timestamp column: microseconds since the Unix epoch.
pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn from_micros(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value).unwrap_or_default()
}

/// `value` as JSON text for a column; [`StoreError::Encode`] (of `what`) when serde fails.
pub(crate) fn encode_json<T: serde::Serialize>(
    what: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Encode {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// An activity's `trace_context` column: the context's JSON, or NULL.
pub(crate) fn encode_trace_context(context: Option<&TraceContext>) -> Option<String> {
    context.and_then(|context| serde_json::to_string(context).ok())
}

/// Reads an activity's `trace_context` column. One that does not decode is dropped (it only
/// links spans; the activity runs the same without it).
pub(crate) fn decode_trace_context(text: Option<&str>) -> Option<TraceContext> {
    text.and_then(|text| serde_json::from_str(text).ok())
}

pub(crate) fn decode_event(text: &str) -> Result<HistoryEvent, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("history event", e))
}

pub(crate) fn status_from_code(code: i32) -> Result<RuntimeStatus, StoreError> {
    RuntimeStatus::from_code(code).ok_or_else(|| corrupt("runtime status", code))
}

/// The stored columns of a status whose content may be damaged.
pub(crate) struct StoredStatus {
    pub(crate) code: i32,
    pub(crate) input: Option<String>,
    pub(crate) output: Option<String>,
    pub(crate) custom_status: Option<String>,
    pub(crate) failure: Option<String>,
}

/// A status's decoded parts: runtime status, input, output, custom status, failure.
pub(crate) type DecodedStatus = (
    RuntimeStatus,
    Option<Payload>,
    Option<Payload>,
    Option<Payload>,
    Option<FailureDetails>,
);

/// Decodes a stored status without failing on its content, so one damaged row never fails a
/// status read or a whole listing: a status code this build does not know reads as
/// [`RuntimeStatus::Unknown`], a payload or failure that does not decode as `None`, and the
/// failure details then say what was found ([`CORRUPT_HISTORY`](crate::error_types::CORRUPT_HISTORY)).
pub(crate) fn decode_status(instance_id: &str, stored: StoredStatus) -> DecodedStatus {
    let mut problems = Vec::new();
    let status = RuntimeStatus::from_code(stored.code).unwrap_or_else(|| {
        problems.push(format!(
            "status code {} is not one this build knows; the instance is set aside",
            stored.code
        ));
        RuntimeStatus::Unknown
    });
    let mut payload = |column: &str, text: Option<String>| {
        text.and_then(|text| match Payload::from_json(text) {
            Ok(payload) => Some(payload),
            Err(error) => {
                problems.push(format!("`{column}` does not decode: {error}"));
                None
            }
        })
    };
    let input = payload("input", stored.input);
    let output = payload("output", stored.output);
    let custom_status = payload("custom_status", stored.custom_status);
    let failure =
        stored
            .failure
            .and_then(|text| match serde_json::from_str::<FailureDetails>(&text) {
                Ok(failure) => Some(failure),
                Err(error) => {
                    problems.push(format!("`failure` does not decode: {error}"));
                    None
                }
            });
    let failure = if problems.is_empty() {
        failure
    } else {
        let note = FailureDetails::new(
            crate::error_types::CORRUPT_HISTORY,
            format!("instance row {instance_id}: {}", problems.join("; ")),
        );
        Some(match failure {
            Some(failure) => note.with_inner(failure),
            None => note,
        })
    };
    (status, input, output, custom_status, failure)
}
