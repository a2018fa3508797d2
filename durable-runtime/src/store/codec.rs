//! What the SQL stores share: error mapping, time columns and the JSON encoding of
//! payloads, events and statuses.

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::history::HistoryEvent;
use crate::payload::Payload;
use crate::status::RuntimeStatus;

/// The columns an `OrchestrationStatus` is read from, in order.
pub(crate) const STATUS_COLUMNS: &str = "instance_id, execution_id, name, version, status, input, output, custom_status, failure, created_at, updated_at, parent_instance_id";

pub(crate) fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

/// A timestamp column: microseconds since the Unix epoch.
pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn from_micros(value: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value).unwrap_or_default()
}

pub(crate) fn encode_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt("encoding", e))
}

pub(crate) fn decode_event(text: &str) -> Result<HistoryEvent, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("history event", e))
}

pub(crate) fn decode_payload(text: Option<String>) -> Result<Option<Payload>, StoreError> {
    text.map(Payload::from_json)
        .transpose()
        .map_err(|e| corrupt("payload", e))
}

pub(crate) fn status_from_code(code: i32) -> Result<RuntimeStatus, StoreError> {
    RuntimeStatus::from_code(code).ok_or_else(|| corrupt("runtime status", code))
}
