//! Instance routes: start, status, list, raise event, terminate, suspend, resume, restart,
//! purge (Durable Functions' `HttpApiHandler`).

use crate::{RestartAs, TerminateScope};
use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiState};
use crate::ids::InstanceId;
use crate::payload::Payload;
use crate::status::{OrchestrationStatus, RuntimeStatus};
use crate::store::{InstanceQuery, PurgeQuery};

/// The continuation header of instance listings.
const CONTINUATION: &str = "x-ms-continuation-token";

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/orchestrators/{name}", post(start))
        .route("/orchestrators/{name}/{instance_id}", post(start_with_id))
        .route("/instances", get(list).delete(purge_many))
        // Durable Functions trims the path: its clients list and purge through `/instances/`.
        .route("/instances/", get(list).delete(purge_many))
        .route("/instances/{instance_id}", get(status).delete(purge_one))
        .route(
            "/instances/{instance_id}/raiseEvent/{event}",
            post(raise_event),
        )
        .route("/instances/{instance_id}/terminate", post(terminate))
        .route("/instances/{instance_id}/suspend", post(suspend))
        .route("/instances/{instance_id}/resume", post(resume))
        .route("/instances/{instance_id}/rewind", post(rewind))
        .route("/instances/{instance_id}/restart", post(restart))
}

fn instance_id(text: &str) -> Result<InstanceId, ApiError> {
    InstanceId::new(text).map_err(|error| ApiError::bad_request(error.to_string()))
}

fn time(value: DateTime<Utc>) -> String {
    value.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn json_of(payload: Option<&Payload>) -> Value {
    payload
        .and_then(|p| serde_json::from_str(p.as_json()).ok())
        .unwrap_or(Value::Null)
}

/// The URL base for check-status bodies.
fn base_url(state: &ApiState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.public_base_url {
        return format!("{base}{}", super::BASE_PATH);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:7071");
    format!("http://{host}{}", super::BASE_PATH)
}

/// Durable Functions' check-status body (`CreateCheckStatusResponse`): the management
/// payload without `rewindPostUri`, as Durable Functions sends it.
fn check_status_body(state: &ApiState, headers: &HeaderMap, id: &InstanceId) -> Value {
    let mut body = state
        .options
        .management_payload(&base_url(state, headers), id.as_str());
    if let Some(fields) = body.as_object_mut() {
        fields.remove("rewindPostUri");
    }
    body
}

/// 202 with the check-status body, `Location` and `Retry-After: 10`.
fn accepted(state: &ApiState, headers: &HeaderMap, id: &InstanceId) -> Response {
    let body = check_status_body(state, headers, id);
    let location = body["statusQueryGetUri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

/// Durable Functions' status body (`StatusResponsePayload`).
fn status_body(status: &OrchestrationStatus, show_input: bool) -> Value {
    let output = match (&status.output, &status.failure) {
        (Some(output), _) => json_of(Some(output)),
        (None, Some(failure)) => Value::String(failure.message.clone()),
        (None, None) => Value::Null,
    };
    let mut body = json!({
        "name": status.name,
        "instanceId": status.instance_id.as_str(),
        "runtimeStatus": status.runtime_status.as_str(),
        "input": if show_input { json_of(status.input.as_ref()) } else { Value::Null },
        "customStatus": json_of(status.custom_status.as_ref()),
        "output": output,
        "createdTime": time(status.created_time),
        "lastUpdatedTime": time(status.last_updated_time),
    });
    if let Some(failure) = &status.failure {
        body["failureDetails"] = serde_json::to_value(failure).unwrap_or(Value::Null);
    }
    if let Some(version) = &status.version {
        body["version"] = Value::String(version.clone());
    }
    body
}

/// The API's client, recording the request's W3C `traceparent` (and `tracestate`) header as
/// the caller's trace context ([`DurableClient::with_trace_context`]). A header that breaks
/// the W3C format is ignored, as the W3C Trace Context specification asks of a receiver
/// (the instance then starts a trace of its own).
///
/// [`DurableClient::with_trace_context`]: crate::DurableClient::with_trace_context
pub(super) fn traced_client(state: &ApiState, headers: &HeaderMap) -> crate::DurableClient {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(traceparent) = header("traceparent") else {
        return state.client.clone();
    };
    match crate::TraceContext::parse(traceparent, header("tracestate")) {
        Ok(context) => state.client.with_trace_context(context),
        Err(error) => {
            tracing::debug!(%error, "ignoring a traceparent header");
            state.client.clone()
        }
    }
}

pub(super) fn body_is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// A start's body as a JSON payload: empty means `null`; anything else must be JSON,
/// whatever its `Content-Type` says (Durable Functions does not check the media type of a
/// start, and `curl -d` sends `application/x-www-form-urlencoded`).
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Payload, ApiError> {
    let body = body?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Payload::null());
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    Payload::from_json(text)
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitQuery {
    /// Seconds to wait for completion before answering 202.
    timeout: Option<f64>,
    /// Seconds between checks (Durable Functions'; must not exceed `timeout`).
    polling_interval: Option<f64>,
    /// For restart.
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    restart_with_new_instance_id: Option<bool>,
}

fn seconds(value: f64, name: &str) -> Result<Duration, ApiError> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        ApiError::bad_request(format!("`{name}` must be a non-negative number of seconds"))
    })
}

async fn start(
    state: State<ApiState>,
    Path(name): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    start_instance(state, name, None, query, headers, body).await
}

async fn start_with_id(
    state: State<ApiState>,
    Path((name, id)): Path<(String, String)>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    start_instance(state, name, Some(id), query, headers, body).await
}

async fn start_instance(
    State(state): State<ApiState>,
    name: String,
    id: Option<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let mut input = json_body(body)?;
    if let Some(id) = &id {
        instance_id(id)?;
    }
    let version = match state
        .registry
        .check_orchestration_input(&name, None, &input)
    {
        // The JavaScript client sends the body `""` when it has no input: taken as no input
        // (`null`) by an orchestration that takes no string.
        Err(_) if input.as_json() == "\"\"" => {
            input = Payload::null();
            state
                .registry
                .check_orchestration_input(&name, None, &input)
        }
        checked => checked,
    }
    .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let id = traced_client(&state, &headers)
        .start_orchestration_by_name(&name, version, id, input)
        .await?;
    wait_or_accept(&state, &headers, &id, &query).await
}

/// With `timeout`, waits that long: 200 with the output when it completed, the status body
/// when it failed or was terminated; otherwise (or without `timeout`) 202.
async fn wait_or_accept(
    state: &ApiState,
    headers: &HeaderMap,
    id: &InstanceId,
    query: &WaitQuery,
) -> Result<Response, ApiError> {
    let Some(timeout) = query.timeout else {
        return Ok(accepted(state, headers, id));
    };
    let timeout = seconds(timeout, "timeout")?;
    if let Some(interval) = query.polling_interval
        && seconds(interval, "pollingInterval")? > timeout
    {
        return Err(ApiError::bad_request(
            "`pollingInterval` must not be larger than `timeout`",
        ));
    }
    match state.client.wait_for_completion(id, timeout).await {
        Ok(status) if status.runtime_status == RuntimeStatus::Completed => {
            Ok((StatusCode::OK, Json(json_of(status.output.as_ref()))).into_response())
        }
        Ok(status) => Ok((StatusCode::OK, Json(status_body(&status, true))).into_response()),
        Err(crate::error::ClientError::Timeout { .. }) => Ok(accepted(state, headers, id)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusQuery {
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    show_history: Option<bool>,
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    show_history_output: Option<bool>,
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    show_input: Option<bool>,
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    return_internal_server_error_on_failure: Option<bool>,
}

async fn status(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<StatusQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let id = instance_id(&id)?;
    let status = state
        .client
        .get_status(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no instance with id {id}")))?;
    let mut body = status_body(&status, query.show_input.unwrap_or(true));
    if query.show_history.unwrap_or(false) {
        let history = state.client.read_history(&id).await?;
        let shown = super::history::Shown {
            output: query.show_history_output.unwrap_or(false),
            input: query.show_input.unwrap_or(true),
        };
        body["historyEvents"] =
            Value::Array(super::history::durable_functions_history(&history, shown));
    }
    let code = match status.runtime_status {
        RuntimeStatus::Running
        | RuntimeStatus::Pending
        | RuntimeStatus::ContinuedAsNew
        | RuntimeStatus::Suspended => StatusCode::ACCEPTED,
        RuntimeStatus::Failed
            if query
                .return_internal_server_error_on_failure
                .unwrap_or(false) =>
        {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::OK,
    };
    let mut response = (code, Json(body)).into_response();
    if code == StatusCode::ACCEPTED {
        let location = check_status_body(&state, &headers, &id)["statusQueryGetUri"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    instance_id_prefix: Option<String>,
    #[serde(default, deserialize_with = "super::query::lenient_time")]
    created_time_from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::query::lenient_time")]
    created_time_to: Option<DateTime<Utc>>,
    runtime_status: Option<String>,
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    show_input: Option<bool>,
    top: Option<usize>,
}

fn statuses(list: Option<&str>) -> Result<Vec<RuntimeStatus>, ApiError> {
    list.map(|list| {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                RuntimeStatus::from_str(s.trim()).map_err(|e| ApiError::bad_request(e.to_string()))
            })
            .collect()
    })
    .transpose()
    .map(Option::unwrap_or_default)
}

async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    // Entities are listed by `/entities`: an `@` prefix (an entity id's) lists no
    // orchestration instance here.
    if query
        .instance_id_prefix
        .as_deref()
        .is_some_and(|prefix| prefix.starts_with('@'))
    {
        return Ok(Json(Vec::<Value>::new()).into_response());
    }
    let continuation_token = continuation_token(&headers);
    let page = state
        .client
        .list_instances(&InstanceQuery {
            statuses: statuses(query.runtime_status.as_deref())?,
            created_from: query.created_time_from,
            created_to: query.created_time_to,
            instance_id_prefix: query.instance_id_prefix,
            page_size: query.top.unwrap_or(100).clamp(1, 1000),
            continuation_token,
            ..InstanceQuery::default()
        })
        .await?;
    let show_input = query.show_input.unwrap_or(true);
    let body: Vec<Value> = page
        .instances
        .iter()
        .map(|s| status_body(s, show_input))
        .collect();
    Ok(with_continuation(
        Json(body).into_response(),
        page.continuation_token,
    ))
}

/// The continuation token a list request carries in its header, if any.
pub(super) fn continuation_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTINUATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Adds the next page's continuation header to a list response.
pub(super) fn with_continuation(mut response: Response, token: Option<String>) -> Response {
    if let Some(token) = token
        && let Ok(token) = HeaderValue::from_str(&token)
    {
        response.headers_mut().insert(CONTINUATION, token);
    }
    response
}

async fn purge_one(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = instance_id(&id)?;
    match state.client.purge(&id).await {
        // Durable Functions refuses to purge an orchestration that has not finished.
        Err(crate::error::ClientError::InvalidState { status, .. }) if !status.is_terminal() => {
            Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                format!(
                    "instance {id} is {status}: only a completed, failed or terminated instance can be purged (terminate it first)"
                ),
            ))
        }
        other => {
            other?;
            Ok(Json(json!({ "instancesDeleted": 1 })).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurgeManyQuery {
    #[serde(default, deserialize_with = "super::query::lenient_time")]
    created_time_from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::query::lenient_time")]
    created_time_to: Option<DateTime<Utc>>,
    runtime_status: Option<String>,
}

async fn purge_many(
    State(state): State<ApiState>,
    query: Result<Query<PurgeManyQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let Some(from) = query.created_time_from else {
        return Err(ApiError::bad_request(
            "`createdTimeFrom` is required to purge by filter",
        ));
    };
    let deleted = state
        .client
        .purge_instances(&PurgeQuery {
            created_from: Some(from),
            created_to: query.created_time_to,
            statuses: statuses(query.runtime_status.as_deref())?,
        })
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found("no finished instance matched"));
    }
    Ok(Json(json!({ "instancesDeleted": deleted })).into_response())
}

async fn raise_event(
    State(state): State<ApiState>,
    Path((id, event)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = instance_id(&id)?;
    let body = body?;
    if !body_is_json(&headers) {
        return Err(ApiError::bad_request(
            "raiseEvent needs a JSON body sent with `Content-Type: application/json`",
        ));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    let data: Value = serde_json::from_str(if text.trim().is_empty() { "null" } else { text })
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    traced_client(&state, &headers)
        .raise_event(&id, &event, &data)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Debug, Deserialize)]
struct ReasonQuery {
    reason: Option<String>,
    #[serde(default, deserialize_with = "super::query::lenient_bool")]
    recursive: Option<bool>,
}

/// The three control operations, which share their shape.
#[derive(Clone, Copy)]
enum Control {
    Terminate,
    Suspend,
    Resume,
    Rewind,
}

/// `POST /instances/{id}/terminate|suspend|resume|rewind?reason=..`: 202, or the client's
/// error (404 unknown; 410 finished, or for rewind finished other than Failed; 409 a
/// rewind of an instance that has not finished).
async fn control(
    state: &ApiState,
    operation: Control,
    id: &str,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let id = instance_id(id)?;
    let reason = query.reason.as_deref();
    match operation {
        Control::Terminate => {
            let recursive = query.recursive.unwrap_or(false);
            state
                .client
                .terminate(&id, reason, TerminateScope::recursive(recursive))
                .await?;
        }
        Control::Suspend => state.client.suspend(&id, reason).await?,
        Control::Resume => state.client.resume(&id, reason).await?,
        Control::Rewind => state.client.rewind(&id, reason).await?,
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn terminate(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    control(&state, Control::Terminate, &id, query).await
}

async fn suspend(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    control(&state, Control::Suspend, &id, query).await
}

async fn resume(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    control(&state, Control::Resume, &id, query).await
}

/// `POST /instances/{id}/rewind?reason=..` (Durable Functions' rewind): 202 for a Failed
/// instance.
async fn rewind(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<ReasonQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    control(&state, Control::Rewind, &id, query).await
}

async fn restart(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let id = instance_id(&id)?;
    let new_id = query.restart_with_new_instance_id.unwrap_or(true);
    let restarted = match state
        .client
        .restart(&id, RestartAs::new_instance_id(new_id))
        .await
    {
        Err(crate::error::ClientError::InstanceNotFound(id)) => {
            return Err(ApiError::bad_request(format!(
                "no instance with id {id} to restart"
            )));
        }
        other => other?,
    };
    wait_or_accept(&state, &headers, &restarted, &query).await
}
