//! The HTTP management API, compatible with Durable Functions' built-in HTTP API
//! (`/runtime/webhooks/durabletask/...`: same routes, query parameters, bodies and status
//! codes), so existing clients and habits carry over. Feature `http`.
//!
//! Mount [`router`] in an existing axum app, or let [`Runtime::serve_http`](crate::Runtime::serve_http)
//! serve it. It binds to `127.0.0.1:7071` unless told otherwise; with a key configured every
//! request must carry it (`?code=KEY`, as Durable Functions' system key, or an
//! `x-functions-key` header) or gets 401; request bodies are limited (413 past the limit).
//!
//! Architecture Invariant: only this module knows axum.

mod entities;
mod error;
mod instances;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::ApiError;

use crate::client::DurableClient;
use crate::registry::Registry;

/// The path every route lives under.
pub const BASE_PATH: &str = "/runtime/webhooks/durabletask";

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Where to listen (default `127.0.0.1:7071`, loopback only).
    pub address: SocketAddr,
    /// When set, every request must carry this key (`?code=` or `x-functions-key`).
    pub key: Option<String>,
    /// The largest request body accepted, in bytes (default 1 MiB); larger ones get 413.
    pub max_body_bytes: usize,
    /// The base of the URLs in check-status bodies (default: `http://{Host header}`).
    pub public_base_url: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 7071)),
            key: None,
            max_body_bytes: 1024 * 1024,
            public_base_url: None,
        }
    }
}

#[derive(Clone)]
struct ApiState {
    client: DurableClient,
    registry: Arc<Registry>,
    key: Option<Arc<str>>,
    public_base_url: Option<Arc<str>>,
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
    };
    Router::new()
        .nest(BASE_PATH, instances::routes().merge(entities::routes()))
        .fallback(|| async { ApiError::not_found("no such route; see the README's route table") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_key,
        ))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(state)
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
    let from_query = request.uri().query().and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "code")
            .map(|(_, value)| value.to_owned())
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

/// A running HTTP server; see [`Runtime::serve_http`](crate::Runtime::serve_http).
#[derive(Debug)]
pub struct HttpServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `options.address` and serves `router` on the current tokio runtime.
    ///
    /// # Errors
    /// The I/O error when the address cannot be bound.
    pub async fn start(router: Router, options: &HttpOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(options.address).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "the HTTP server stopped");
            }
        });
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
