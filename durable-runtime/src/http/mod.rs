//! The HTTP management API, compatible with Durable Functions' built-in HTTP API
//! (`/runtime/webhooks/durabletask/...`: same routes, query parameters, bodies and status
//! codes), so existing clients and habits carry over. Feature `http`.
//!
//! Mount [`router`] in an existing axum app, or let [`Runtime::serve_http`](crate::Runtime::serve_http)
//! serve it. It binds to `127.0.0.1:7071` unless told otherwise; with a key configured every
//! request must carry it (`?code=KEY`, as Durable Functions' system key, or an
//! `x-functions-key` header) or gets 401; request bodies are limited (413 past the limit).
//!
//! Paths match as Durable Functions' do: the fixed segments (`runtime/webhooks/durabletask`,
//! `orchestrators`, `instances`, `raiseEvent`, `terminate`, ..., `entities`) in any case,
//! instance ids, entity names and keys and event names as given; a known path asked with a
//! method it does not take answers 404, as an unknown path does.
//!
//! Architecture Invariant: only this module knows axum.

mod entities;
mod error;
mod history;
mod instances;
mod query;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

pub use error::ApiError;

use crate::client::DurableClient;
use crate::registry::Registry;
use crate::setters::setters;

/// The path every route lives under.
pub const BASE_PATH: &str = "/runtime/webhooks/durabletask";

/// Settings of the HTTP API: start from [`HttpOptions::default`] and chain the setters
/// (one per field, named as it).
///
/// ```
/// use durable_runtime::http::HttpOptions;
///
/// let options = HttpOptions::default()
///     .address(([0, 0, 0, 0], 8080).into())
///     .key("secret");
/// assert_eq!(options.key.as_deref(), Some("secret"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Where to listen (default `127.0.0.1:7071`, loopback only).
    pub address: SocketAddr,
    /// When set, every request must carry this key (`?code=` or `x-functions-key`).
    pub key: Option<String>,
    /// The largest request body accepted, in bytes (default 1 MiB); larger ones get 413.
    pub max_body_bytes: usize,
    /// The base of the URLs in check-status bodies (default: `http://{Host header}`).
    pub public_base_url: Option<String>,
    /// How long a client may take to send a request's headers (default 10 s); a connection
    /// that takes longer is closed. Guards the server against clients that open connections
    /// and send nothing (hyper's `header_read_timeout`).
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body once its headers arrived
    /// (default 30 s); then the request gets 408 (tower-http's `RequestBodyTimeoutLayer`).
    pub body_read_timeout: Duration,
    /// The most connections served at once (default 1,024); further clients wait to be
    /// accepted until one closes, so idle or slow clients cannot exhaust file descriptors.
    pub max_connections: usize,
    /// The task hub name the management URLs carry as `taskHub=` (default `durable`, the
    /// PostgreSQL store's default task hub), as Durable Functions' URLs carry theirs. The
    /// server serves its one task hub whatever a request's `taskHub` says.
    pub task_hub: String,
    /// The connection name the management URLs carry as `connection=` (default `Storage`,
    /// Durable Functions' default); informational, like `task_hub`.
    pub connection: String,
    /// The metrics `GET /metrics` serves (feature `metrics`); `None` (the default) serves no
    /// such route. [`Runtime::http_router`](crate::Runtime::http_router) puts the runtime's
    /// own here.
    #[cfg(feature = "metrics")]
    pub metrics: Option<crate::metrics::Metrics>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 7071)),
            key: None,
            max_body_bytes: 1024 * 1024,
            public_base_url: None,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            task_hub: "durable".to_owned(),
            connection: "Storage".to_owned(),
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }
}

setters! {
    impl HttpOptions {
        /// Sets where to listen (default `127.0.0.1:7071`, loopback only).
        address: SocketAddr;
        /// Sets the key every request must carry (`?code=` or `x-functions-key`; default
        /// none: no key is asked for).
        key: Some(String);
        /// Sets the largest request body accepted, in bytes (default 1 MiB); larger ones get
        /// 413.
        max_body_bytes: usize;
        /// Sets the base of the URLs in check-status bodies, e.g. `https://api.example.com`
        /// (default: `http://{Host header}`).
        public_base_url: Some(String);
        /// Sets how long a client may take to send a request's headers (default 10 s).
        header_read_timeout: Duration;
        /// Sets how long a client may take to send a request's body once its headers
        /// arrived (default 30 s; then 408).
        body_read_timeout: Duration;
        /// Sets the most connections served at once (a count; default 1,024).
        max_connections: usize;
        /// Sets the task hub name the management URLs carry as `taskHub=` (default
        /// `durable`).
        task_hub: Into(String);
        /// Sets the connection name the management URLs carry as `connection=` (default
        /// `Storage`).
        connection: Into(String);
        /// Sets the metrics `GET /metrics` serves (feature `metrics`; default none: no such
        /// route).
        #[cfg(feature = "metrics")]
        metrics: Some(crate::metrics::Metrics);
    }
}

/// `text` percent-encoded for a URL's path or query (a space as `%20`).
fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl HttpOptions {
    /// `taskHub=...&connection=...`, and `&code=KEY` with a key: the query every management
    /// URL carries.
    fn management_query(&self) -> String {
        let mut query = format!(
            "taskHub={}&connection={}",
            encoded(&self.task_hub),
            encoded(&self.connection)
        );
        if let Some(key) = &self.key {
            query.push_str("&code=");
            query.push_str(&encoded(key));
        }
        query
    }

    /// Durable Functions' `HttpManagementPayload` (`CreateHttpManagementPayload`) for an
    /// instance: `id` and the URLs that query, signal, terminate, rewind, purge, restart,
    /// suspend and resume it, each carrying `taskHub`, `connection` and (with a key) `code`.
    /// `base_url` is where the API is reached, [`BASE_PATH`] included
    /// (`http://127.0.0.1:7071/runtime/webhooks/durabletask`).
    pub fn management_payload(&self, base_url: &str, instance_id: &str) -> serde_json::Value {
        let instance = format!(
            "{}/instances/{}",
            base_url.trim_end_matches('/'),
            encoded(instance_id)
        );
        let query = self.management_query();
        let url = |path: &str, reason: bool| {
            let reason = if reason { "reason={text}&" } else { "" };
            format!("{instance}{path}?{reason}{query}")
        };
        serde_json::json!({
            "id": instance_id,
            "statusQueryGetUri": url("", false),
            "sendEventPostUri": url("/raiseEvent/{eventName}", false),
            "terminatePostUri": url("/terminate", true),
            "rewindPostUri": url("/rewind", true),
            "purgeHistoryDeleteUri": url("", false),
            "restartPostUri": url("/restart", false),
            "suspendPostUri": url("/suspend", true),
            "resumePostUri": url("/resume", true),
        })
    }

    /// The `durableClient` binding data the Functions host hands a client function, for this
    /// server reached at `base_url` ([`BASE_PATH`] included): Durable Functions' own clients
    /// are constructed from it (`DurableOrchestrationClient(json.dumps(binding))` in Python,
    /// `df.getClient(context)` on a context whose durable client input holds it in
    /// JavaScript). Without a key it includes `rpcBaseUrl`, the base both clients prefer;
    /// with one it leaves it out, so the JavaScript client goes through the management URLs,
    /// which carry the key (the Python client needs `rpcBaseUrl`, so it needs a server
    /// without a key).
    pub fn durable_client_binding(&self, base_url: &str) -> serde_json::Value {
        let base = base_url.trim_end_matches('/');
        let code = self
            .key
            .as_deref()
            .map(|key| format!("code={}", encoded(key)))
            .unwrap_or_default();
        let and_code = if code.is_empty() {
            String::new()
        } else {
            format!("&{code}")
        };
        let start = format!("{base}/orchestrators/{{functionName}}[/{{instanceId}}]");
        let mut binding = serde_json::json!({
            "taskHubName": self.task_hub,
            "creationUrls": {
                "createNewInstancePostUri": if code.is_empty() { start.clone() } else { format!("{start}?{code}") },
                "createAndWaitOnNewInstancePostUri": format!(
                    "{start}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}{and_code}"
                ),
            },
            "managementUrls": self.management_payload(base, "INSTANCEID"),
            "baseUrl": base,
            "requiredQueryStringParameters": code,
        });
        if self.key.is_none() {
            binding["rpcBaseUrl"] = serde_json::Value::String(format!("{base}/"));
        }
        binding
    }
}

#[derive(Clone)]
struct ApiState {
    client: DurableClient,
    registry: Arc<Registry>,
    key: Option<Arc<str>>,
    public_base_url: Option<Arc<str>>,
    /// For the management URLs.
    options: Arc<HttpOptions>,
}

/// Builds the API's router (all routes under [`BASE_PATH`]), to serve or to mount.
///
/// `registry` is used to start orchestrations by name and to check their input.
pub fn router(client: DurableClient, registry: Registry, options: &HttpOptions) -> Router {
    let state = ApiState {
        client,
        registry: Arc::new(registry),
        key: options.key.as_deref().map(Arc::from),
        public_base_url: options
            .public_base_url
            .as_deref()
            .map(|url| Arc::from(url.trim_end_matches('/'))),
        options: Arc::new(options.clone()),
    };
    let routes = Router::new().nest(BASE_PATH, instances::routes().merge(entities::routes()));
    // Prometheus' scrape path, behind the same key as the rest.
    #[cfg(feature = "metrics")]
    let routes = match options.metrics.clone() {
        Some(metrics) => routes.route(
            "/metrics",
            axum::routing::get(move || serve_metrics(metrics.clone())),
        ),
        None => routes,
    };
    // The web dashboard, under `/dashboard/`, behind the same key and limits.
    #[cfg(feature = "dashboard")]
    let routes = routes.merge(crate::dashboard::routes(state.client.clone(), options));
    let routes = routes
        .fallback(|| async { ApiError::not_found("no such route; see the README's route table") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_key,
        ))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        // A `Content-Length` over the limit gets 413 before any of the body is read; a body
        // that arrives too slowly gets 408.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            options.max_body_bytes,
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            options.body_read_timeout,
        ))
        .layer(axum::middleware::map_response(json_error_bodies))
        .with_state(state);
    // The path is put in its canonical case before routing, so around the routes.
    Router::new().fallback_service(tower::util::MapRequest::new(routes, canonical_path))
}

/// `GET /metrics`: the metrics as OpenMetrics text (503 when the task hub cannot be read).
#[cfg(feature = "metrics")]
async fn serve_metrics(metrics: crate::metrics::Metrics) -> Response {
    match metrics.encode().await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                crate::metrics::CONTENT_TYPE,
            )],
            text,
        )
            .into_response(),
        Err(error) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            error.to_string(),
        )
        .into_response(),
    }
}

/// The fixed segments of the routes, as they are spelled in them.
const FIXED_SEGMENTS: [&str; 12] = [
    "orchestrators",
    "instances",
    "entities",
    "raiseEvent",
    "terminate",
    "suspend",
    "resume",
    "restart",
    "rewind",
    "runtime",
    "webhooks",
    "durabletask",
];

/// `segment` spelled as a fixed segment when it is one in another case.
fn canonical(segment: &str) -> Option<&'static str> {
    FIXED_SEGMENTS
        .iter()
        .find(|fixed| fixed.eq_ignore_ascii_case(segment) && **fixed != segment)
        .copied()
}

/// Rewrites the fixed segments of a path under [`BASE_PATH`] (in any case) to their
/// spelling in the routes, leaving every other segment (instance ids, entity names and keys,
/// event and orchestration names) as it came: Durable Functions' routes match their fixed
/// segments case-insensitively.
fn canonical_path(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    let base_segments = BASE_PATH.trim_start_matches('/').split('/').count();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut fixed: Vec<usize> = (0..base_segments.min(segments.len())).collect();
    if fixed.len() < base_segments
        || !fixed
            .iter()
            .zip(BASE_PATH.trim_start_matches('/').split('/'))
            .all(|(&i, base)| segments[i].eq_ignore_ascii_case(base))
    {
        return request;
    }
    // The resource segment, and for instances the operation after the id.
    fixed.push(base_segments);
    if segments
        .get(base_segments)
        .is_some_and(|s| s.eq_ignore_ascii_case("instances"))
    {
        fixed.push(base_segments + 2);
    }
    let mut changed = false;
    let rewritten: Vec<&str> = segments
        .iter()
        .enumerate()
        .map(|(i, segment)| match canonical(segment) {
            Some(spelled) if fixed.contains(&i) => {
                changed = true;
                spelled
            }
            _ => segment,
        })
        .collect();
    if !changed {
        return request;
    }
    let mut path_and_query = format!("/{}", rewritten.join("/"));
    if let Some(query) = uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(value) = path_and_query.parse() {
        parts.path_and_query = Some(value);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Gives the bare 413 and 408 answers of tower-http's limit and timeout layers the API's JSON
/// error body, so every error a client sees has a `message`; a known path asked with the
/// wrong method answers 404, as in Durable Functions (axum's own answer is 405).
async fn json_error_bodies(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    match response.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE if !is_json => ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than the limit (`HttpOptions::max_body_bytes`)",
        )
        .into_response(),
        axum::http::StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::not_found("no such route for this method; see the README's route table")
                .into_response()
        }
        axum::http::StatusCode::REQUEST_TIMEOUT if !is_json => ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time (`HttpOptions::body_read_timeout`)",
        )
        .into_response(),
        _ => response,
    }
}

/// Compares without stopping at the first difference, so timing does not leak the key.
fn same_key(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn require_key(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.key else {
        return next.run(request).await;
    };
    // Percent- and `+`-decoded, as the URLs the server hands out encode it.
    let from_query = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned())
    });
    let from_header = request
        .headers()
        .get("x-functions-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match from_query.or(from_header) {
        Some(given) if same_key(&given, expected) => next.run(request).await,
        Some(_) => ApiError::unauthorized("the key is wrong").into_response(),
        None => ApiError::unauthorized(
            "this API needs a key: add `?code=KEY` or an `x-functions-key` header",
        )
        .into_response(),
    }
}

/// The accept loop: one task per connection, at most as many as `connections` has permits
/// (a client over the limit waits in the listen backlog), each closed if its headers do not
/// arrive within `header_read_timeout`. On `stop`, accepting ends and open connections
/// finish their requests.
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    connections: Arc<Semaphore>,
    header_read_timeout: Duration,
    stop: oneshot::Receiver<()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, do not spin.
                    tracing::warn!(%error, "could not accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A running HTTP server; see [`Runtime::serve_http`](crate::Runtime::serve_http).
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `options.address` and serves `router` on the current tokio runtime, with
    /// `options`' connection limit and header read timeout (HTTP/1.1, on hyper).
    ///
    /// # Errors
    /// The I/O error when the address cannot be bound.
    pub async fn start(router: Router, options: &HttpOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(options.address).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
        let header_read_timeout = options.header_read_timeout;
        let task = tokio::spawn(serve(
            listener,
            router,
            connections,
            header_read_timeout,
            stopped,
        ));
        tracing::info!(address = %local_addr, "durable HTTP API listening");
        Ok(Self {
            local_addr,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for open requests to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
