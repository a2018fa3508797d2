//! `historyEvents` in Durable Functions' shape (`DurableClient.GetDurableOrchestrationStatusAsync`
//! with `showHistory`): a flat object per event named by DTF's `EventType`, with PascalCase
//! fields; the `OrchestratorStarted`/`OrchestratorCompleted` brackets dropped; a completed or
//! failed task or sub-orchestration merged with its scheduling event (which is dropped) as
//! `FunctionName`, `ScheduledTime` and `Input`; `EventId`s left out; results only with
//! `showHistoryOutput`; inputs only with `showInput` (default true).
//!
//! The full-fidelity history stays what [`DurableClient::read_history`](crate::DurableClient::read_history)
//! returns (and `durable history --json` prints): this is only the HTTP API's rendering.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::history::{EventKind, HistoryEvent};
use crate::payload::Payload;
use crate::status::FailureDetails;

/// What to include, from the status route's query.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shown {
    /// `showHistoryOutput`: results of tasks, sub-orchestrations and the execution.
    pub(super) output: bool,
    /// `showInput`: inputs of the execution, tasks, events.
    pub(super) input: bool,
}

/// A UTC time as .NET's JSON writes a `DateTime` (`...T17:01:45.123456Z`).
fn time(value: DateTime<Utc>) -> Value {
    Value::String(value.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn json_of(payload: &Payload) -> Value {
    serde_json::from_str(payload.as_json()).unwrap_or(Value::Null)
}

/// DTF's `FailureDetails` (`ErrorType`, `ErrorMessage`, `InnerFailure`, `IsNonRetriable`).
fn failure_details(failure: &FailureDetails) -> Value {
    json!({
        "ErrorType": failure.error_type,
        "ErrorMessage": failure.message,
        "InnerFailure": failure.inner.as_deref().map(failure_details),
        "IsNonRetriable": failure.non_retriable,
    })
}

/// `Reason`, `Details` and `FailureDetails` of a failed task or sub-orchestration.
fn add_failure(event: &mut Map<String, Value>, failure: &FailureDetails) {
    event.insert("Reason".into(), Value::String(failure.message.clone()));
    event.insert("Details".into(), Value::String(failure.error_type.clone()));
    event.insert("FailureDetails".into(), failure_details(failure));
}

/// `snake_case` to `PascalCase`, for the fields of events rendered generically.
fn pascal(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect()
}

/// An event with no Durable Functions rendering of its own (entity events, and any kind
/// added later, such as `ExecutionRewound { reason }` → `"Reason"`): its variant name as
/// `EventType`, its fields in PascalCase.
fn generic(kind: &EventKind) -> Map<String, Value> {
    let mut event = Map::new();
    event.insert(
        "EventType".into(),
        Value::String(kind.type_name().to_owned()),
    );
    if let Ok(Value::Object(outer)) = serde_json::to_value(kind)
        && let Some(Value::Object(fields)) = outer.into_iter().next().map(|(_, v)| v)
    {
        for (name, value) in fields {
            event.insert(pascal(&name), value);
        }
    }
    event
}

/// The scheduling event a completion is merged with.
struct Scheduled<'a> {
    name: &'a str,
    input: &'a Payload,
    at: DateTime<Utc>,
}

/// The events of `history` in Durable Functions' shape.
pub(super) fn durable_functions_history(history: &[HistoryEvent], shown: Shown) -> Vec<Value> {
    // Scheduling events by sequence number, and those a completion answers (dropped).
    let mut scheduled: HashMap<i64, Scheduled<'_>> = HashMap::new();
    let mut answered: Vec<i64> = Vec::new();
    for event in history {
        match &event.kind {
            EventKind::ActivityScheduled { name, input }
            | EventKind::SubOrchestrationCreated { name, input, .. } => {
                scheduled.insert(
                    event.event_id,
                    Scheduled {
                        name,
                        input,
                        at: event.timestamp,
                    },
                );
            }
            EventKind::ActivityCompleted { scheduled_id, .. }
            | EventKind::ActivityFailed { scheduled_id, .. }
            | EventKind::SubOrchestrationCompleted { scheduled_id, .. }
            | EventKind::SubOrchestrationFailed { scheduled_id, .. } => {
                answered.push(*scheduled_id);
            }
            _ => {}
        }
    }
    let mut events = Vec::new();
    for event in history {
        let mut out = Map::new();
        let put = |out: &mut Map<String, Value>, name: &str, value: Value| {
            out.insert(name.to_owned(), value);
        };
        let merge = |out: &mut Map<String, Value>, scheduled_id: &i64| {
            if let Some(origin) = scheduled.get(scheduled_id) {
                out.insert("ScheduledTime".into(), time(origin.at));
                out.insert("FunctionName".into(), Value::String(origin.name.to_owned()));
                out.insert("Input".into(), json_of(origin.input));
            }
        };
        match &event.kind {
            EventKind::OrchestratorStarted | EventKind::OrchestratorCompleted => continue,
            EventKind::ActivityScheduled { .. } | EventKind::SubOrchestrationCreated { .. }
                if answered.contains(&event.event_id) =>
            {
                continue;
            }
            EventKind::ExecutionStarted {
                name,
                input,
                scheduled_start,
                ..
            } => {
                put(&mut out, "EventType", json!("ExecutionStarted"));
                put(&mut out, "FunctionName", json!(name));
                put(&mut out, "Input", json_of(input));
                if let Some(at) = scheduled_start {
                    put(&mut out, "ScheduledStartTime", time(*at));
                }
            }
            EventKind::ActivityScheduled { name, input } => {
                put(&mut out, "EventType", json!("TaskScheduled"));
                put(&mut out, "Name", json!(name));
                put(&mut out, "Input", json_of(input));
            }
            EventKind::ActivityCompleted {
                scheduled_id,
                result,
            } => {
                put(&mut out, "EventType", json!("TaskCompleted"));
                if shown.output {
                    put(&mut out, "Result", json_of(result));
                }
                merge(&mut out, scheduled_id);
            }
            EventKind::ActivityFailed {
                scheduled_id,
                failure,
            } => {
                out.insert("EventType".into(), json!("TaskFailed"));
                add_failure(&mut out, failure);
                merge(&mut out, scheduled_id);
            }
            EventKind::SubOrchestrationCreated {
                name,
                instance_id,
                input,
            } => {
                put(
                    &mut out,
                    "EventType",
                    json!("SubOrchestrationInstanceCreated"),
                );
                put(&mut out, "Name", json!(name));
                put(&mut out, "InstanceId", json!(instance_id.as_str()));
                put(&mut out, "Input", json_of(input));
            }
            EventKind::SubOrchestrationCompleted {
                scheduled_id,
                result,
            } => {
                put(
                    &mut out,
                    "EventType",
                    json!("SubOrchestrationInstanceCompleted"),
                );
                if shown.output {
                    put(&mut out, "Result", json_of(result));
                }
                merge(&mut out, scheduled_id);
            }
            EventKind::SubOrchestrationFailed {
                scheduled_id,
                failure,
            } => {
                out.insert("EventType".into(), json!("SubOrchestrationInstanceFailed"));
                add_failure(&mut out, failure);
                merge(&mut out, scheduled_id);
            }
            EventKind::TimerCreated { fire_at } => {
                put(&mut out, "EventType", json!("TimerCreated"));
                put(&mut out, "FireAt", time(*fire_at));
            }
            EventKind::TimerFired { fire_at, .. } => {
                put(&mut out, "EventType", json!("TimerFired"));
                put(&mut out, "FireAt", time(*fire_at));
            }
            EventKind::EventRaised { name, input } => {
                put(&mut out, "EventType", json!("EventRaised"));
                put(&mut out, "Name", json!(name));
                put(&mut out, "Input", json_of(input));
            }
            EventKind::EventSent {
                instance_id,
                name,
                input,
            } => {
                put(&mut out, "EventType", json!("EventSent"));
                put(&mut out, "InstanceId", json!(instance_id.as_str()));
                put(&mut out, "Name", json!(name));
                put(&mut out, "Input", json_of(input));
            }
            EventKind::ExecutionCompleted {
                status,
                result,
                failure,
            } => {
                put(&mut out, "EventType", json!("ExecutionCompleted"));
                put(&mut out, "OrchestrationStatus", json!(status.as_str()));
                if shown.output {
                    let result = match (result, failure) {
                        (Some(result), _) => json_of(result),
                        (None, Some(failure)) => json!(failure.message),
                        (None, None) => Value::Null,
                    };
                    put(&mut out, "Result", result);
                }
                if let Some(failure) = failure {
                    put(&mut out, "FailureDetails", failure_details(failure));
                }
            }
            EventKind::ContinuedAsNew { input } => {
                // DTF's `ContinueAsNewEvent`: an `ExecutionCompleted` whose result is the next
                // execution's input.
                put(&mut out, "EventType", json!("ContinueAsNew"));
                put(&mut out, "OrchestrationStatus", json!("ContinuedAsNew"));
                put(&mut out, "Result", json_of(input));
            }
            EventKind::ExecutionTerminated { reason } => {
                // DTF keeps the reason as the event's `Input`.
                put(&mut out, "EventType", json!("ExecutionTerminated"));
                put(&mut out, "Input", json!(reason));
            }
            EventKind::ExecutionSuspended { reason } => {
                put(&mut out, "EventType", json!("ExecutionSuspended"));
                put(&mut out, "Reason", json!(reason));
            }
            EventKind::ExecutionResumed { reason } => {
                put(&mut out, "EventType", json!("ExecutionResumed"));
                put(&mut out, "Reason", json!(reason));
            }
            other => out = generic(other),
        }
        out.insert("Timestamp".into(), time(event.timestamp));
        if !shown.input {
            out.remove("Input");
        }
        events.push(Value::Object(out));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::NO_EVENT_ID;
    use crate::status::RuntimeStatus;

    fn at(second: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 31, 12, 0, second).unwrap()
    }

    fn event(event_id: i64, second: u32, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            event_id,
            timestamp: at(second),
            kind,
        }
    }

    fn payload(json: &str) -> Payload {
        Payload::from_json(json).unwrap()
    }

    #[test]
    fn a_completed_task_carries_its_scheduling_and_brackets_are_dropped() {
        let history = [
            event(NO_EVENT_ID, 0, EventKind::OrchestratorStarted),
            event(
                NO_EVENT_ID,
                0,
                EventKind::ExecutionStarted {
                    name: "hello".into(),
                    version: None,
                    execution_id: crate::ids::ExecutionId::generate(),
                    input: payload("[\"Tokyo\"]"),
                    parent: None,
                    scheduled_start: None,
                    trace_context: None,
                },
            ),
            event(
                0,
                1,
                EventKind::ActivityScheduled {
                    name: "say_hello".into(),
                    input: payload("\"Tokyo\""),
                },
            ),
            event(
                1,
                1,
                EventKind::ActivityScheduled {
                    name: "pending".into(),
                    input: payload("null"),
                },
            ),
            event(NO_EVENT_ID, 2, EventKind::OrchestratorCompleted),
            event(
                NO_EVENT_ID,
                3,
                EventKind::ActivityCompleted {
                    scheduled_id: 0,
                    result: payload("\"Hello Tokyo!\""),
                },
            ),
            event(
                NO_EVENT_ID,
                4,
                EventKind::ExecutionCompleted {
                    status: RuntimeStatus::Completed,
                    result: Some(payload("[\"Hello Tokyo!\"]")),
                    failure: None,
                },
            ),
        ];
        let hidden = durable_functions_history(
            &history,
            Shown {
                output: false,
                input: true,
            },
        );
        let types: Vec<&str> = hidden
            .iter()
            .map(|e| e["EventType"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "ExecutionStarted",
                "TaskScheduled",
                "TaskCompleted",
                "ExecutionCompleted"
            ]
        );
        assert_eq!(hidden[0]["FunctionName"], "hello");
        assert_eq!(hidden[1]["Name"], "pending");
        assert_eq!(hidden[2]["FunctionName"], "say_hello");
        assert_eq!(hidden[2]["Input"], "Tokyo");
        assert_eq!(hidden[2]["ScheduledTime"], "2026-01-31T12:00:01Z");
        assert_eq!(hidden[2]["Timestamp"], "2026-01-31T12:00:03Z");
        assert!(hidden[2].get("Result").is_none() && hidden[3].get("Result").is_none());
        assert!(hidden.iter().all(|e| e.get("EventId").is_none()));

        let shown = durable_functions_history(
            &history,
            Shown {
                output: true,
                input: false,
            },
        );
        assert_eq!(shown[2]["Result"], "Hello Tokyo!");
        assert_eq!(shown[3]["Result"], json!(["Hello Tokyo!"]));
        assert_eq!(shown[3]["OrchestrationStatus"], "Completed");
        assert!(shown.iter().all(|e| e.get("Input").is_none()));
    }

    #[test]
    fn events_without_a_rendering_of_their_own_keep_their_fields_in_pascal_case() {
        assert_eq!(pascal("scheduled_id"), "ScheduledId");
        let history = [event(
            3,
            0,
            EventKind::EntityLockGranted { scheduled_id: 2 },
        )];
        let shown = durable_functions_history(
            &history,
            Shown {
                output: true,
                input: true,
            },
        );
        assert_eq!(shown[0]["EventType"], "EntityLockGranted");
        assert_eq!(shown[0]["ScheduledId"], 2);
    }
}
