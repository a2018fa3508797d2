//! [`HistoryExport`]: the versioned file format for saved histories, and a tolerant reader
//! for every shape the project has produced.
//!
//! See [`HistoryExport`] for the format and the shapes the reader accepts.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::HistoryFormatError;
use crate::client::DurableClient;
use crate::error::ClientError;
use crate::history::{EventKind, HistoryEvent, NO_EVENT_ID, ParentInstance};
use crate::ids::{EntityId, ExecutionId, InstanceId};
use crate::payload::Payload;
use crate::status::{FailureDetails, RuntimeStatus};
use crate::trace_context::TraceContext;

/// The format tag this version writes: `durable-history/1`.
pub const HISTORY_FORMAT: &str = "durable-history/1";

/// A saved history in the versioned export format, version 1.
///
/// The format (`"format": "durable-history/1"`):
///
/// ```json
/// {
///   "format": "durable-history/1",
///   "instance_id": "order-42",
///   "name": "process_order",
///   "version": null,
///   "events": [ {"event_id": -1, "timestamp": "2025-01-01T00:00:00Z", "kind": "OrchestratorStarted"} ]
/// }
/// ```
///
/// `events` holds [`HistoryEvent`]s in their serde shape, the same as `durable history ID
/// --json` and [`DurableClient::read_history`] give. The reader also accepts:
///
/// - a bare array of such events (what the CLI and earlier versions wrote);
/// - an HTTP status body with `historyEvents` (`GET /runtime/webhooks/durabletask/instances/{id}?showHistory=true&showHistoryOutput=true`),
///   either with `EventType` / `EventId` / `Timestamp` / `Details` entries, or in Durable
///   Functions' flat shape (`{"EventType": "TaskCompleted", "TaskScheduledId": 0, "Result": ..}`,
///   with `TaskScheduled`, `TaskCompleted`, `TaskFailed`, `TimerCreated`, `TimerFired`,
///   `EventRaised`, `EventSent`, `SubOrchestrationInstanceCreated/Completed/Failed`,
///   `ExecutionStarted`, `ExecutionCompleted`, `ContinueAsNew`, `ExecutionTerminated`,
///   `ExecutionSuspended`, `ExecutionResumed`, `OrchestratorStarted/Completed`).
///
/// A result left out of an HTTP export (`showHistoryOutput=false`) reads as `null`, which the
/// code may fail to decode: export with the output. Field names are matched ignoring case
/// and underscores.
///
/// Versioning: a change to this wrapper or to the event shape gets a new tag
/// (`durable-history/2`); a reader refuses a tag it does not know, by name
/// ([`HistoryFormatError::UnsupportedFormat`]), and keeps reading every earlier one, bare
/// arrays included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryExport {
    /// Always [`HISTORY_FORMAT`] when written by this version.
    pub format: String,
    /// The instance, when known (a bare event array does not say).
    #[serde(default)]
    pub instance_id: Option<InstanceId>,
    /// The orchestration name, from `ExecutionStarted`.
    #[serde(default)]
    pub name: Option<String>,
    /// The orchestration version, from `ExecutionStarted`.
    #[serde(default)]
    pub version: Option<String>,
    /// The current execution's history, oldest first.
    pub events: Vec<HistoryEvent>,
}

impl HistoryExport {
    /// Wraps `events` (one execution's history), taking name and version from its
    /// `ExecutionStarted`.
    pub fn new(instance_id: Option<InstanceId>, events: Vec<HistoryEvent>) -> Self {
        let (name, version) = events
            .iter()
            .find_map(|event| match &event.kind {
                EventKind::ExecutionStarted { name, version, .. } => {
                    Some((Some(name.clone()), version.clone()))
                }
                _ => None,
            })
            .unwrap_or_default();
        Self {
            format: HISTORY_FORMAT.to_owned(),
            instance_id,
            name,
            version,
            events,
        }
    }

    /// Reads instance `instance_id`'s current history through `client` (any store).
    ///
    /// # Errors
    /// [`ClientError::InstanceNotFound`] or the store's error.
    pub async fn read(
        client: &DurableClient,
        instance_id: &InstanceId,
    ) -> Result<Self, ClientError> {
        let events = client.read_history(instance_id).await?;
        Ok(Self::new(Some(instance_id.clone()), events))
    }

    /// The export as pretty-printed JSON.
    ///
    /// # Errors
    /// A [`serde_json::Error`] (not expected: events are JSON already).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Writes the export to `path` as JSON.
    ///
    /// # Errors
    /// The I/O error (an encoding error comes back as [`std::io::ErrorKind::InvalidData`]).
    pub fn write(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let json = self
            .to_json()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        std::fs::write(path, json)
    }

    /// Reads a saved history in any of the accepted shapes (see the [type docs](Self)).
    ///
    /// # Errors
    /// [`HistoryFormatError`]: not JSON, a newer format, an unknown shape, or an event that
    /// cannot be read (with its index).
    pub fn parse(json: &str) -> Result<Self, HistoryFormatError> {
        let value: Value = serde_json::from_str(json)?;
        let (instance_id, events) = match value {
            Value::Array(events) => (None, events),
            Value::Object(mut object) => {
                if let Some(format) = field(&object, &["format"]).cloned() {
                    let format = format.as_str().unwrap_or_default().to_owned();
                    if format != HISTORY_FORMAT {
                        return Err(HistoryFormatError::UnsupportedFormat(format));
                    }
                }
                let instance_id = field(&object, &["instance_id", "instanceId", "id"])
                    .and_then(Value::as_str)
                    .and_then(|id| InstanceId::new(id).ok());
                let key = object
                    .keys()
                    .find(|k| {
                        let k = normalize(k);
                        k == "events" || k == "historyevents"
                    })
                    .cloned()
                    .ok_or(HistoryFormatError::UnknownShape)?;
                match object.remove(&key) {
                    Some(Value::Array(events)) => (instance_id, events),
                    _ => return Err(HistoryFormatError::UnknownShape),
                }
            }
            _ => return Err(HistoryFormatError::UnknownShape),
        };
        let events = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                read_event(event).map_err(|message| HistoryFormatError::Event { index, message })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(instance_id, events))
    }
}

/// Lower-cases and drops underscores: `TaskScheduledId`, `task_scheduled_id` and
/// `taskScheduledId` compare equal.
fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The first of `names` present in `object`, compared normalized.
fn field<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|name| {
        let name = normalize(name);
        object
            .iter()
            .find(|(key, _)| normalize(key) == name)
            .map(|(_, value)| value)
    })
}

/// One event in any accepted shape.
fn read_event(event: Value) -> Result<HistoryEvent, String> {
    let Value::Object(object) = event else {
        return Err("not a JSON object".to_owned());
    };
    if object.contains_key("kind") {
        return serde_json::from_value(Value::Object(object)).map_err(|e| e.to_string());
    }
    let event_type = field(&object, &["EventType"])
        .and_then(Value::as_str)
        .ok_or("no `kind` or `EventType`")?
        .to_owned();
    let event_id = field(&object, &["EventId"])
        .and_then(Value::as_i64)
        .unwrap_or(NO_EVENT_ID);
    let timestamp = match field(&object, &["Timestamp"]) {
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map_err(|e| format!("timestamp {text:?}: {e}"))?
            .with_timezone(&Utc),
        _ => DateTime::<Utc>::UNIX_EPOCH,
    };
    // Our HTTP shape: `Details` holds the externally tagged kind.
    if let Some(details) = field(&object, &["Details"])
        && let Ok(kind) = serde_json::from_value::<EventKind>(details.clone())
    {
        return Ok(HistoryEvent {
            event_id,
            timestamp,
            kind,
        });
    }
    // Otherwise flat: the fields at the top, or inside `Details: {Kind: {..}}` without the
    // result (`showHistoryOutput=false`).
    let mut fields = object.clone();
    if let Some(Value::Object(details)) = field(&object, &["Details"]) {
        let inner = match details.values().next() {
            Some(Value::Object(inner)) if details.len() == 1 => inner.clone(),
            _ => details.clone(),
        };
        fields.extend(inner);
    }
    let kind = flat_kind(&event_type, &fields)?;
    Ok(HistoryEvent {
        event_id,
        timestamp,
        kind,
    })
}

fn payload(fields: &Map<String, Value>, names: &[&str]) -> Result<Payload, String> {
    match field(fields, names) {
        None | Some(Value::Null) => Ok(Payload::null()),
        Some(value) => Payload::encode(value).map_err(|e| e.to_string()),
    }
}

fn text(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    field(fields, names)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn required_text(fields: &Map<String, Value>, names: &[&str]) -> Result<String, String> {
    text(fields, names).ok_or_else(|| format!("missing `{}`", names[0]))
}

fn number(fields: &Map<String, Value>, names: &[&str]) -> Result<i64, String> {
    field(fields, names)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("missing `{}`", names[0]))
}

fn time(fields: &Map<String, Value>, names: &[&str]) -> Result<Option<DateTime<Utc>>, String> {
    match field(fields, names) {
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| format!("`{}` {text:?}: {e}", names[0])),
        _ => Ok(None),
    }
}

fn required_time(fields: &Map<String, Value>, names: &[&str]) -> Result<DateTime<Utc>, String> {
    time(fields, names)?.ok_or_else(|| format!("missing `{}`", names[0]))
}

fn instance(fields: &Map<String, Value>, names: &[&str]) -> Result<InstanceId, String> {
    let id = match field(fields, names) {
        Some(Value::String(id)) => id.clone(),
        // DF nests it: `OrchestrationInstance: {InstanceId, ExecutionId}`.
        Some(Value::Object(nested)) => required_text(nested, &["InstanceId"])?,
        _ => return Err(format!("missing `{}`", names[0])),
    };
    InstanceId::new(id).map_err(|e| e.to_string())
}

/// Failure details from our field (`failure`) or Durable Functions' (`FailureDetails`
/// with `ErrorType`/`ErrorMessage`, or `Reason`/`Details`).
fn failure(fields: &Map<String, Value>) -> FailureDetails {
    if let Some(value) = field(fields, &["failure", "FailureDetails"]) {
        if let Ok(details) = serde_json::from_value::<FailureDetails>(value.clone()) {
            return details;
        }
        if let Value::Object(df) = value {
            let mut details = FailureDetails::new(
                text(df, &["ErrorType"]).unwrap_or_else(|| "unknown".to_owned()),
                text(df, &["ErrorMessage"]).unwrap_or_default(),
            );
            details.non_retriable = field(df, &["IsNonRetriable"])
                .and_then(Value::as_bool)
                .unwrap_or(false);
            return details;
        }
    }
    FailureDetails::new(
        text(fields, &["Reason"]).unwrap_or_else(|| "unknown".to_owned()),
        text(fields, &["Details", "message"]).unwrap_or_default(),
    )
}

/// The trace context of a flat `ExecutionStarted`: ours (`trace_context`), or Durable
/// Functions' `ParentTraceContext { TraceParent, TraceState }`; one that does not parse is
/// left out (it only links spans, it changes nothing in replay).
fn trace_context(fields: &Map<String, Value>) -> Option<TraceContext> {
    let context = field(fields, &["trace_context", "ParentTraceContext"])?.as_object()?;
    let traceparent = text(context, &["traceparent", "TraceParent"])?;
    let tracestate = text(context, &["tracestate", "TraceState"]);
    TraceContext::parse(&traceparent, tracestate.as_deref()).ok()
}

fn entity(fields: &Map<String, Value>) -> Result<EntityId, String> {
    let value = field(fields, &["entity"]).ok_or("missing `entity`")?;
    serde_json::from_value(value.clone()).map_err(|e| e.to_string())
}

/// Maps a flat event (Durable Functions' names, or ours) to an [`EventKind`].
fn flat_kind(event_type: &str, fields: &Map<String, Value>) -> Result<EventKind, String> {
    let scheduled_id = || number(fields, &["TaskScheduledId", "scheduled_id"]);
    Ok(match event_type {
        "OrchestratorStarted" => EventKind::OrchestratorStarted,
        "OrchestratorCompleted" => EventKind::OrchestratorCompleted,
        "ExecutionStarted" => EventKind::ExecutionStarted {
            name: required_text(fields, &["Name", "FunctionName"])?,
            version: text(fields, &["Version"]).filter(|v| !v.is_empty()),
            execution_id: text(fields, &["ExecutionId"])
                .or_else(|| {
                    field(fields, &["OrchestrationInstance"])
                        .and_then(Value::as_object)
                        .and_then(|o| text(o, &["ExecutionId"]))
                })
                .and_then(|id| serde_json::from_value(Value::String(id)).ok())
                .unwrap_or_else(ExecutionId::generate),
            input: payload(fields, &["Input"])?,
            parent: field(fields, &["parent", "ParentInstance"])
                .and_then(|p| serde_json::from_value::<ParentInstance>(p.clone()).ok()),
            scheduled_start: time(fields, &["ScheduledStartTime", "scheduled_start"])?,
            trace_context: trace_context(fields),
        },
        "TaskScheduled" | "ActivityScheduled" => EventKind::ActivityScheduled {
            name: required_text(fields, &["Name"])?,
            input: payload(fields, &["Input"])?,
        },
        "TaskCompleted" | "ActivityCompleted" => EventKind::ActivityCompleted {
            scheduled_id: scheduled_id()?,
            result: payload(fields, &["Result"])?,
        },
        "TaskFailed" | "ActivityFailed" => EventKind::ActivityFailed {
            scheduled_id: scheduled_id()?,
            failure: failure(fields),
        },
        "TimerCreated" => EventKind::TimerCreated {
            fire_at: required_time(fields, &["FireAt"])?,
        },
        "TimerFired" => EventKind::TimerFired {
            timer_id: number(fields, &["TimerId"])?,
            fire_at: required_time(fields, &["FireAt"])?,
        },
        "EventRaised" => EventKind::EventRaised {
            name: required_text(fields, &["Name"])?,
            input: payload(fields, &["Input"])?,
        },
        "EventSent" => EventKind::EventSent {
            instance_id: instance(fields, &["InstanceId"])?,
            name: required_text(fields, &["Name"])?,
            input: payload(fields, &["Input"])?,
        },
        "SubOrchestrationInstanceCreated" | "SubOrchestrationCreated" => {
            EventKind::SubOrchestrationCreated {
                name: required_text(fields, &["Name"])?,
                instance_id: instance(fields, &["InstanceId"])?,
                input: payload(fields, &["Input"])?,
            }
        }
        "SubOrchestrationInstanceCompleted" | "SubOrchestrationCompleted" => {
            EventKind::SubOrchestrationCompleted {
                scheduled_id: scheduled_id()?,
                result: payload(fields, &["Result"])?,
            }
        }
        "SubOrchestrationInstanceFailed" | "SubOrchestrationFailed" => {
            EventKind::SubOrchestrationFailed {
                scheduled_id: scheduled_id()?,
                failure: failure(fields),
            }
        }
        "ExecutionCompleted" => {
            let status = match field(fields, &["OrchestrationStatus", "status"]) {
                Some(Value::String(status)) => {
                    status.parse::<RuntimeStatus>().map_err(|e| e.to_string())?
                }
                // DF's `OrchestrationStatus` numbers: 1 Completed, 3 Failed.
                Some(Value::Number(code)) if code.as_i64() == Some(3) => RuntimeStatus::Failed,
                _ => RuntimeStatus::Completed,
            };
            let failed = status == RuntimeStatus::Failed;
            EventKind::ExecutionCompleted {
                status,
                result: (!failed)
                    .then(|| payload(fields, &["Result"]))
                    .transpose()?,
                failure: failed.then(|| failure(fields)),
            }
        }
        "ContinueAsNew" | "ContinuedAsNew" => EventKind::ContinuedAsNew {
            input: payload(fields, &["Input", "Result"])?,
        },
        "ExecutionTerminated" => EventKind::ExecutionTerminated {
            reason: text(fields, &["reason", "Input"]),
        },
        "ExecutionSuspended" => EventKind::ExecutionSuspended {
            reason: text(fields, &["reason", "Reason"]),
        },
        "ExecutionResumed" => EventKind::ExecutionResumed {
            reason: text(fields, &["reason", "Reason"]),
        },
        "EntityOperationCalled" => EventKind::EntityOperationCalled {
            entity: entity(fields)?,
            operation: required_text(fields, &["operation"])?,
            input: payload(fields, &["Input"])?,
        },
        "EntityOperationSignaled" => EventKind::EntityOperationSignaled {
            entity: entity(fields)?,
            operation: required_text(fields, &["operation"])?,
            input: payload(fields, &["Input"])?,
            scheduled_time: time(fields, &["scheduled_time"])?,
        },
        "EntityOperationCompleted" => EventKind::EntityOperationCompleted {
            scheduled_id: scheduled_id()?,
            result: payload(fields, &["Result"])?,
        },
        "EntityOperationFailed" => EventKind::EntityOperationFailed {
            scheduled_id: scheduled_id()?,
            failure: failure(fields),
        },
        other => return Err(format!("unknown event type `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<HistoryEvent> {
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        vec![
            HistoryEvent::new(at, EventKind::OrchestratorStarted),
            HistoryEvent::new(
                at,
                EventKind::ExecutionStarted {
                    name: "hello".into(),
                    version: None,
                    execution_id: ExecutionId::from_trusted("e1".into()),
                    input: Payload::encode(&["Tokyo"]).unwrap(),
                    parent: None,
                    scheduled_start: None,
                    trace_context: None,
                },
            ),
            HistoryEvent::scheduled(
                0,
                at,
                EventKind::ActivityScheduled {
                    name: "say_hello".into(),
                    input: Payload::encode("Tokyo").unwrap(),
                },
            ),
            HistoryEvent::new(
                at,
                EventKind::ActivityCompleted {
                    scheduled_id: 0,
                    result: Payload::encode("Hello Tokyo!").unwrap(),
                },
            ),
        ]
    }

    #[test]
    fn the_export_and_a_bare_array_read_back_the_same_events() {
        let export = HistoryExport::new(Some(InstanceId::new("i-1").unwrap()), sample());
        let json = export.to_json().unwrap();
        assert!(json.contains(r#""format": "durable-history/1""#), "{json}");
        assert_eq!(HistoryExport::parse(&json).unwrap(), export);
        let bare = serde_json::to_string(&sample()).unwrap();
        let read = HistoryExport::parse(&bare).unwrap();
        assert_eq!(read.events, sample());
        assert_eq!(read.name.as_deref(), Some("hello"));
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let error =
            HistoryExport::parse(r#"{"format": "durable-history/2", "events": []}"#).unwrap_err();
        assert!(
            matches!(&error, HistoryFormatError::UnsupportedFormat(f) if f == "durable-history/2"),
            "{error}"
        );
    }

    #[test]
    fn the_http_details_shape_and_the_durable_functions_flat_shape_are_read() {
        let details = serde_json::json!({"historyEvents": [
            {"EventType": "ActivityScheduled", "EventId": 0, "Timestamp": "2025-01-01T00:00:00Z",
             "Details": {"ActivityScheduled": {"name": "say_hello", "input": "Tokyo"}}},
            // `showHistoryOutput=false` drops the result.
            {"EventType": "ActivityCompleted", "EventId": -1, "Timestamp": "2025-01-01T00:00:01Z",
             "Details": {"ActivityCompleted": {"scheduled_id": 0}}},
        ]});
        let read = HistoryExport::parse(&details.to_string()).unwrap();
        assert!(
            matches!(&read.events[0].kind, EventKind::ActivityScheduled { name, .. } if name == "say_hello")
        );
        assert!(
            matches!(&read.events[1].kind, EventKind::ActivityCompleted { scheduled_id: 0, result } if *result == Payload::null())
        );

        let flat = serde_json::json!({"instanceId": "i-2", "historyEvents": [
            {"EventType": "ExecutionStarted", "EventId": -1, "Timestamp": "2025-01-01T00:00:00Z", "Name": "hello", "Input": ["Tokyo"]},
            {"EventType": "TaskScheduled", "EventId": 0, "Timestamp": "2025-01-01T00:00:00Z", "Name": "say_hello", "Input": "Tokyo"},
            {"EventType": "TaskCompleted", "EventId": -1, "Timestamp": "2025-01-01T00:00:01Z", "TaskScheduledId": 0, "Result": "Hello Tokyo!"},
            {"EventType": "TimerCreated", "EventId": 1, "Timestamp": "2025-01-01T00:00:01Z", "FireAt": "2025-01-02T00:00:01Z"},
            {"EventType": "TimerFired", "EventId": -1, "Timestamp": "2025-01-02T00:00:01Z", "TimerId": 1, "FireAt": "2025-01-02T00:00:01Z"},
            {"EventType": "EventRaised", "EventId": -1, "Timestamp": "2025-01-02T00:00:02Z", "Name": "Approval", "Input": {"ok": true}},
            {"EventType": "TaskFailed", "EventId": -1, "Timestamp": "2025-01-02T00:00:03Z", "TaskScheduledId": 2,
             "FailureDetails": {"ErrorType": "IOError", "ErrorMessage": "disk full"}},
            {"EventType": "ExecutionCompleted", "EventId": -1, "Timestamp": "2025-01-02T00:00:04Z", "OrchestrationStatus": "Completed", "Result": ["Hello Tokyo!"]},
        ]});
        let read = HistoryExport::parse(&flat.to_string()).unwrap();
        assert_eq!(
            read.instance_id.as_ref().map(InstanceId::as_str),
            Some("i-2")
        );
        assert_eq!(read.name.as_deref(), Some("hello"));
        let kinds: Vec<&str> = read.events.iter().map(|e| e.kind.type_name()).collect();
        assert_eq!(
            kinds,
            [
                "ExecutionStarted",
                "ActivityScheduled",
                "ActivityCompleted",
                "TimerCreated",
                "TimerFired",
                "EventRaised",
                "ActivityFailed",
                "ExecutionCompleted"
            ]
        );
        assert_eq!(read.events[1].event_id, 0);
        assert!(
            matches!(&read.events[6].kind, EventKind::ActivityFailed { failure, .. } if failure.message == "disk full")
        );
    }

    #[test]
    fn trace_contexts_are_read_in_every_shape_and_need_not_be_there() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        // Ours, as the serde shape writes it.
        let mut events = sample();
        if let EventKind::ExecutionStarted { trace_context, .. } = &mut events[1].kind {
            *trace_context = Some(TraceContext::parse(parent, Some("k=v")).unwrap());
        }
        let json = HistoryExport::new(None, events.clone()).to_json().unwrap();
        assert!(json.contains(parent), "{json}");
        assert_eq!(HistoryExport::parse(&json).unwrap().events, events);
        // Durable Functions' flat shape, with its `ParentTraceContext`; a malformed one is
        // left out, and so is an absent one.
        let flat = |context: serde_json::Value| {
            serde_json::json!([{"EventType": "ExecutionStarted", "EventId": -1,
                "Timestamp": "2025-01-01T00:00:00Z", "Name": "hello", "Input": "null",
                "ParentTraceContext": context}])
            .to_string()
        };
        let started = |json: String| match HistoryExport::parse(&json).unwrap().events[0].kind {
            EventKind::ExecutionStarted {
                ref trace_context, ..
            } => trace_context.clone(),
            ref other => panic!("{other:?}"),
        };
        let read = started(flat(
            serde_json::json!({"TraceParent": parent, "TraceState": "a=b"}),
        ))
        .unwrap();
        assert_eq!(
            (read.traceparent(), read.tracestate()),
            (parent, Some("a=b"))
        );
        assert_eq!(
            started(flat(serde_json::json!({"TraceParent": "junk"}))),
            None
        );
        assert_eq!(started(flat(serde_json::Value::Null)), None);
    }

    #[test]
    fn an_unreadable_event_is_reported_with_its_index() {
        let error = HistoryExport::parse(r#"[{"EventType": "TaskCompleted"}]"#).unwrap_err();
        assert!(
            matches!(&error, HistoryFormatError::Event { index: 0, message } if message.contains("TaskScheduledId")),
            "{error}"
        );
    }
}
