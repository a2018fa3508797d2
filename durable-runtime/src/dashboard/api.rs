//! The dashboard's JSON API under `/dashboard/api/`: what its page reads and does, through
//! [`DurableClient`](crate::DurableClient) only. Errors are the HTTP API's
//! ([`ApiError`]: a status code and `{"message": ...}`, the same mapping of client errors).
//!
//! | Route | Answer |
//! |---|---|
//! | `GET stats` | counts of instances and entities by status, and the backlog (`overview.rs`) |
//! | `GET overview` | the same, and what finished in each sampled interval of the last 10 minutes |
//! | `GET instances?status=A,B&name=&prefix=&createdFrom=&createdTo=&pageSize=&continuation=` | a page of summaries and the next page's token |
//! | `GET instances/{id}` | the status with input, output, custom status, failure, and the actions its status allows |
//! | `GET instances/{id}/history?offset=&limit=` | a page of history events, the total, and (first page) the timeline |
//! | `POST instances/{id}/{raise,terminate,suspend,resume,rewind,restart}` | 202; body `{reason, recursive, name, data, newInstanceId}` as the action needs |
//! | `DELETE instances/{id}` | purge |
//! | `GET entities?name=&keyPrefix=&pageSize=&continuation=` | a page of entities (any name) |
//! | `GET entities/{name}/{key}` | one entity with its state (`$` is the empty key) |
//! | `POST entities/{name}/{key}/signal` | 202; body `{operation, input}` |
//! | `DELETE entities/{name}/{key}` | signals `delete` |

use crate::{RestartAs, TerminateScope};
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{DashboardState, overview, timeline};
use crate::entity::{EntityId, EntityMetadata, EntityQuery};
use crate::history::HistoryEvent;
use crate::http::ApiError;
use crate::ids::InstanceId;
use crate::payload::Payload;
use crate::status::{FailureDetails, OrchestrationStatus, RuntimeStatus};
use crate::store::InstanceQuery;

/// Instances or entities per page unless asked otherwise.
const DEFAULT_PAGE_SIZE: usize = 50;
/// The most per page the dashboard asks the store for.
const MAX_PAGE_SIZE: usize = 1_000;
/// History events per page unless asked otherwise, and the most.
const DEFAULT_HISTORY_PAGE: usize = 200;
const MAX_HISTORY_PAGE: usize = 5_000;

pub(super) fn routes() -> Router<DashboardState> {
    Router::new()
        .route("/stats", get(stats))
        .route("/overview", get(overview))
        .route("/instances", get(list_instances))
        .route("/instances/{instance_id}", get(instance).delete(purge))
        .route("/instances/{instance_id}/history", get(history))
        .route("/instances/{instance_id}/{action}", post(act))
        .route("/entities", get(list_entities))
        .route("/entities/{name}/{key}", get(entity).delete(delete_entity))
        .route("/entities/{name}/{key}/signal", post(signal))
}

fn time(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn instance_id(text: &str) -> Result<InstanceId, ApiError> {
    InstanceId::new(text).map_err(|error| ApiError::bad_request(error.to_string()))
}

/// A query value, with an empty one (an empty form field) read as absent.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse_time(value: Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    given(value)
        .map(|text| {
            DateTime::parse_from_rfc3339(text.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "`{field}` must be an RFC 3339 time like 2026-01-31T12:00:00Z: {e}"
                    ))
                })
        })
        .transpose()
}

fn page_size(value: Option<usize>) -> usize {
    value.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE)
}

/// A request body as `T`: an empty body is `T::default()`, whatever the media type.
fn body<T: DeserializeOwned + Default>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("the body is not valid: {error}")))
}

/// One row of the instance list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InstanceSummary<'a> {
    instance_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    runtime_status: RuntimeStatus,
    created_time: String,
    last_updated_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_instance_id: Option<&'a str>,
    /// The failure's message, for a Failed (or set-aside) instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a str>,
}

impl<'a> InstanceSummary<'a> {
    fn of(status: &'a OrchestrationStatus) -> Self {
        Self {
            instance_id: status.instance_id.as_str(),
            name: &status.name,
            version: status.version.as_deref(),
            runtime_status: status.runtime_status,
            created_time: time(status.created_time),
            last_updated_time: time(status.last_updated_time),
            parent_instance_id: status.parent_instance_id.as_ref().map(InstanceId::as_str),
            failure: status.failure.as_ref().map(|f| f.message.as_str()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    /// Comma-separated statuses; none means all.
    status: Option<String>,
    /// The orchestration's name, exactly.
    name: Option<String>,
    prefix: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    page_size: Option<usize>,
    continuation: Option<String>,
}

fn statuses(list: Option<String>) -> Result<Vec<RuntimeStatus>, ApiError> {
    given(list)
        .map(|list| {
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    RuntimeStatus::from_str(s.trim())
                        .map_err(|e| ApiError::bad_request(e.to_string()))
                })
                .collect()
        })
        .transpose()
        .map(Option::unwrap_or_default)
}

async fn stats(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    let stats = state.client.task_hub_stats().await?;
    Ok(Json(overview::stats_json(&stats)).into_response())
}

async fn overview(State(state): State<DashboardState>) -> Result<Response, ApiError> {
    let stats = state.client.task_hub_stats().await?;
    let mut body = overview::stats_json(&stats);
    body["series"] = overview::series_json(&state.sampler.samples());
    Ok(Json(body).into_response())
}

async fn list_instances(
    State(state): State<DashboardState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let prefix = given(query.prefix);
    if prefix.as_deref().is_some_and(|p| p.starts_with('@')) {
        return Err(ApiError::bad_request(
            "ids starting with `@` are entities: list them on the entities page",
        ));
    }
    let page = state
        .client
        .list_instances(&InstanceQuery {
            statuses: statuses(query.status)?,
            created_from: parse_time(query.created_from, "createdFrom")?,
            created_to: parse_time(query.created_to, "createdTo")?,
            instance_id_prefix: prefix,
            name: given(query.name).map(|name| name.trim().to_owned()),
            page_size: page_size(query.page_size),
            continuation_token: given(query.continuation),
            parent_instance_id: None,
        })
        .await?;
    let instances: Vec<InstanceSummary<'_>> =
        page.instances.iter().map(InstanceSummary::of).collect();
    Ok(Json(json!({
        "instances": instances,
        "continuationToken": page.continuation_token,
    }))
    .into_response())
}

/// The actions the page offers for an instance in `status`. A hint for the buttons only:
/// the client decides what it accepts when asked.
fn actions(status: RuntimeStatus) -> Vec<&'static str> {
    match status {
        RuntimeStatus::Suspended => vec!["raise", "terminate", "resume", "restart"],
        status if crate::client::LIVE.contains(&status) => {
            vec!["raise", "terminate", "suspend", "restart"]
        }
        RuntimeStatus::Failed => vec!["rewind", "restart", "purge"],
        status if status.is_terminal() => vec!["restart", "purge"],
        // Unknown: set aside until an operator repairs the row.
        _ => Vec::new(),
    }
}

/// One instance, in full.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InstanceDetail<'a> {
    #[serde(flatten)]
    summary: InstanceSummary<'a>,
    execution_id: &'a str,
    input: Option<&'a Payload>,
    output: Option<&'a Payload>,
    custom_status: Option<&'a Payload>,
    failure_details: Option<&'a FailureDetails>,
    actions: Vec<&'static str>,
}

async fn instance(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = instance_id(&id)?;
    let status = state
        .client
        .get_status(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no instance with id {id}")))?;
    Ok(Json(InstanceDetail {
        summary: InstanceSummary::of(&status),
        execution_id: status.execution_id.as_str(),
        input: status.input.as_ref(),
        output: status.output.as_ref(),
        custom_status: status.custom_status.as_ref(),
        failure_details: status.failure.as_ref(),
        actions: actions(status.runtime_status),
    })
    .into_response())
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

/// One history event as the table shows it.
fn event_json(index: usize, event: &HistoryEvent) -> Value {
    // Externally tagged: `{"ActivityScheduled": {fields}}`, or a bare name for events
    // without fields.
    let details = match serde_json::to_value(&event.kind) {
        Ok(Value::Object(mut tagged)) if tagged.len() == 1 => tagged
            .values_mut()
            .next()
            .map(Value::take)
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    json!({
        "index": index,
        "eventId": (event.event_id >= 0).then_some(event.event_id),
        "timestamp": time(event.timestamp),
        "type": event.kind.type_name(),
        "details": details,
    })
}

async fn history(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let id = instance_id(&id)?;
    let history = state.client.read_history(&id).await?;
    let offset = query.offset.unwrap_or(0).min(history.len());
    let limit = query
        .limit
        .unwrap_or(DEFAULT_HISTORY_PAGE)
        .clamp(1, MAX_HISTORY_PAGE);
    let events: Vec<Value> = history
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(index, event)| event_json(index, event))
        .collect();
    let mut body = json!({
        "total": history.len(),
        "offset": offset,
        "events": events,
    });
    // The timeline covers the whole history; the page asks for it with the first events.
    if offset == 0 {
        body["timeline"] = serde_json::to_value(timeline::build(&history))
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    }
    Ok(Json(body).into_response())
}

/// The body of an instance action; each action reads the fields it needs.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ActionBody {
    /// terminate, suspend, resume, rewind.
    reason: Option<String>,
    /// terminate: its unfinished sub-orchestrations too.
    recursive: bool,
    /// raise: the event name.
    name: Option<String>,
    /// raise: the event data.
    data: Value,
    /// restart: under a new instance id (default) or the same one.
    new_instance_id: Option<bool>,
}

async fn act(
    State(state): State<DashboardState>,
    Path((id, action)): Path<(String, String)>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = instance_id(&id)?;
    let request: ActionBody = body(request)?;
    let reason = given(request.reason);
    let reason = reason.as_deref();
    let client = &state.client;
    let message = match action.as_str() {
        "raise" => {
            let Some(name) = given(request.name) else {
                return Err(ApiError::bad_request("name the event to raise: `name`"));
            };
            client.raise_event(&id, &name, &request.data).await?;
            format!("raised `{name}` on {id}")
        }
        "terminate" => {
            client
                .terminate(&id, reason, TerminateScope::recursive(request.recursive))
                .await?;
            format!("terminating {id}")
        }
        "suspend" => {
            client.suspend(&id, reason).await?;
            format!("suspending {id}")
        }
        "resume" => {
            client.resume(&id, reason).await?;
            format!("resuming {id}")
        }
        "rewind" => {
            client.rewind(&id, reason).await?;
            format!("rewinding {id}")
        }
        "restart" => {
            let restarted = client
                .restart(
                    &id,
                    RestartAs::new_instance_id(request.new_instance_id.unwrap_or(true)),
                )
                .await?;
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({
                    "message": format!("restarted {id} as {restarted}"),
                    "instanceId": restarted.as_str(),
                })),
            )
                .into_response());
        }
        other => {
            return Err(ApiError::not_found(format!(
                "no action `{other}`; the actions are raise, terminate, suspend, resume, rewind, restart"
            )));
        }
    };
    Ok((StatusCode::ACCEPTED, Json(json!({ "message": message }))).into_response())
}

async fn purge(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = instance_id(&id)?;
    state.client.purge(&id).await?;
    Ok(Json(json!({ "message": format!("purged {id}"), "instancesDeleted": 1 })).into_response())
}

/// One entity, with its state when read alone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EntityJson<'a> {
    name: &'a str,
    key: &'a str,
    last_modified: String,
    locked_by: Option<&'a str>,
    backlog: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a Payload>,
}

impl<'a> EntityJson<'a> {
    fn of(metadata: &'a EntityMetadata) -> Self {
        Self {
            name: metadata.id.name(),
            key: metadata.id.key(),
            last_modified: time(metadata.last_modified),
            locked_by: metadata.locked_by.as_ref().map(InstanceId::as_str),
            backlog: metadata.backlog_queue_size,
            state: metadata.state.as_ref(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntityListQuery {
    name: Option<String>,
    key_prefix: Option<String>,
    page_size: Option<usize>,
    continuation: Option<String>,
}

async fn list_entities(
    State(state): State<DashboardState>,
    query: Result<Query<EntityListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let name = given(query.name);
    let key_prefix = given(query.key_prefix);
    if name.is_none() && key_prefix.is_some() {
        return Err(ApiError::bad_request(
            "a key prefix needs an entity name (`name`)",
        ));
    }
    if let Some(name) = &name {
        EntityId::new(name, "").map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let page = state
        .client
        .list_entities(&EntityQuery {
            name,
            key_prefix,
            page_size: page_size(query.page_size),
            continuation_token: given(query.continuation),
            ..EntityQuery::default()
        })
        .await?;
    let entities: Vec<EntityJson<'_>> = page.entities.iter().map(EntityJson::of).collect();
    Ok(Json(json!({
        "entities": entities,
        "continuationToken": page.continuation_token,
    }))
    .into_response())
}

/// The entity id from the path; `$` is the empty key, as in Durable Functions' API.
fn entity_id(name: &str, key: &str) -> Result<EntityId, ApiError> {
    let key = if key == "$" { "" } else { key };
    EntityId::new(name, key).map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn entity(
    State(state): State<DashboardState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = entity_id(&name, &key)?;
    let metadata = state.client.get_entity(&id, true).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "entity {id} does not exist (no operation has created it, or it was deleted)"
        ))
    })?;
    Ok(Json(EntityJson::of(&metadata)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignalBody {
    operation: String,
    input: Value,
}

async fn signal(
    State(state): State<DashboardState>,
    Path((name, key)): Path<(String, String)>,
    request: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = entity_id(&name, &key)?;
    let request: SignalBody = body(request)?;
    if request.operation.trim().is_empty() {
        return Err(ApiError::bad_request(
            "name the operation to signal: `operation`",
        ));
    }
    let input =
        Payload::encode(&request.input).map_err(|e| ApiError::bad_request(e.to_string()))?;
    state
        .client
        .signal_entity_raw(&id, &request.operation, input, None)
        .await?;
    let message = format!("signalled `{}` to {id}", request.operation);
    Ok((StatusCode::ACCEPTED, Json(json!({ "message": message }))).into_response())
}

async fn delete_entity(
    State(state): State<DashboardState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = entity_id(&name, &key)?;
    state.client.delete_entity(&id).await?;
    let message = format!("deleting {id} (its `delete` operation is signalled)");
    Ok((StatusCode::ACCEPTED, Json(json!({ "message": message }))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_status() {
        assert_eq!(
            actions(RuntimeStatus::Running),
            ["raise", "terminate", "suspend", "restart"]
        );
        assert_eq!(
            actions(RuntimeStatus::Suspended),
            ["raise", "terminate", "resume", "restart"]
        );
        assert_eq!(
            actions(RuntimeStatus::Failed),
            ["rewind", "restart", "purge"]
        );
        assert_eq!(actions(RuntimeStatus::Completed), ["restart", "purge"]);
        assert_eq!(actions(RuntimeStatus::Terminated), ["restart", "purge"]);
        assert!(actions(RuntimeStatus::Unknown).is_empty());
    }
}
