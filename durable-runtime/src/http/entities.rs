//! Entity routes: signal, read, list, delete (Durable Functions' `/entities/...`).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiState;
use super::error::ApiError;
use super::instances::{body_is_json, continuation_token, with_continuation};
use crate::entity::{EntityId, EntityMetadata, EntityQuery};
use crate::payload::Payload;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        // Every entity, of all names (Durable Functions' `/entities` with no name).
        .route("/entities", get(list_all))
        .route("/entities/", get(list_all))
        .route("/entities/{name}", get(list))
        .route(
            "/entities/{name}/{key}",
            get(read).post(signal).delete(delete),
        )
}

/// The entity id from the path; `$` is the empty key, as in Durable Functions.
fn entity_id(state: &ApiState, name: &str, key: &str) -> Result<EntityId, ApiError> {
    let key = if key == "$" { "" } else { key };
    let id = EntityId::new(name, key).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let registered: Vec<&str> = state.registry.entity_names().collect();
    if !registered.contains(&id.name()) {
        return Err(ApiError::not_found(format!(
            "no entity `{}` is registered here; registered entities: [{}]",
            id.name(),
            registered.join(", ")
        )));
    }
    Ok(id)
}

fn entity_body(metadata: &EntityMetadata) -> Value {
    let mut body = json!({
        "entityId": { "name": metadata.id.name(), "key": metadata.id.key() },
        "lastOperationTime": metadata.last_modified.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if let Some(state) = &metadata.state {
        body["state"] = serde_json::from_str(state.as_json()).unwrap_or(Value::Null);
    }
    if let Some(owner) = &metadata.locked_by {
        body["lockedBy"] = Value::String(owner.to_string());
    }
    body
}

async fn read(
    State(state): State<ApiState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = entity_id(&state, &name, &key)?;
    match state.client.get_entity(&id, true).await? {
        Some(EntityMetadata {
            state: Some(entity_state),
            ..
        }) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            entity_state.as_json().to_owned(),
        )
            .into_response()),
        _ => Err(ApiError::not_found(format!("entity {id} does not exist"))),
    }
}

#[derive(Debug, Deserialize)]
struct SignalQuery {
    op: Option<String>,
}

async fn signal(
    State(state): State<ApiState>,
    Path((name, key)): Path<(String, String)>,
    query: Result<Query<SignalQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let id = entity_id(&state, &name, &key)?;
    let Some(operation) = query.op.filter(|op| !op.is_empty()) else {
        return Err(ApiError::bad_request(
            "name the operation to signal: `?op=NAME`",
        ));
    };
    let body = body?;
    // JSON when sent as JSON, otherwise the body is one string (Durable Functions' rule).
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        Payload::null()
    } else {
        let text = std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
        if body_is_json(&headers) {
            Payload::from_json(text).map_err(|error| {
                ApiError::bad_request(format!("the body is not valid JSON: {error}"))
            })?
        } else {
            Payload::encode(text).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
    };
    super::instances::traced_client(&state, &headers)
        .signal_entity_raw(&id, &operation, input, None)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn delete(
    State(state): State<ApiState>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = entity_id(&state, &name, &key)?;
    state.client.delete_entity(&id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    #[serde(default, deserialize_with = "super::query::lenient_time")]
    last_operation_time_from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::query::lenient_time")]
    last_operation_time_to: Option<DateTime<Utc>>,
    top: Option<usize>,
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    fetch_state: Option<bool>,
}

async fn list(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = entity_id(&state, &name, "")?;
    list_entities(&state, Some(id.name().to_owned()), query, &headers).await
}

async fn list_all(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    list_entities(&state, None, query, &headers).await
}

/// `GET /entities[/{name}]`: the entities (of `name`, or of all names), a page at a time.
async fn list_entities(
    state: &ApiState,
    name: Option<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let continuation_token = continuation_token(headers);
    let page = state
        .client
        .list_entities(&EntityQuery {
            name,
            include_state: query.fetch_state.unwrap_or(false),
            page_size: query.top.unwrap_or(100).clamp(1, 1000),
            continuation_token,
            last_modified_from: query.last_operation_time_from,
            last_modified_to: query.last_operation_time_to,
            ..EntityQuery::default()
        })
        .await?;
    let body: Vec<Value> = page.entities.iter().map(entity_body).collect();
    Ok(with_continuation(
        Json(body).into_response(),
        page.continuation_token,
    ))
}
