//! The web dashboard (feature `dashboard`): instances, their history as a timeline and a
//! table, the actions a client can take on them, and entities, in a browser.
//!
//! It is served beside the HTTP management API, under [`PATH`] (`/dashboard/`): every
//! router [`crate::http::router`] builds holds it when the feature is on, so
//! [`Runtime::serve_http`](crate::Runtime::serve_http) serves it, and `durable dashboard`
//! (feature `cli`) serves it over a store with no user code. The page, its script and its
//! style sheet are compiled into the binary (`assets/`); nothing is fetched from elsewhere.
//!
//! - **Data.** The page reads and acts through a small JSON API of its own under
//!   `/dashboard/api/` (`api.rs`), built on [`DurableClient`] alone, so the dashboard can do
//!   nothing a client cannot, and needs no registry: it lists entities of any name and
//!   works on stores whose orchestrations this process does not know. ARCHITECTURE.md
//!   ("Dashboard") says which store index serves each of its queries.
//! - **Overview.** Counts by status and the backlog come from
//!   [`DurableClient::task_hub_stats`] when the page asks; throughput and failures over the
//!   last minutes from samples of the same stats, taken every 5 s into a ring buffer from
//!   the first dashboard request until 10 minutes pass without one (`overview.rs`).
//! - **Timeline.** `timeline.rs` pairs each scheduling event with its result (by sequence
//!   number, rewinds included) into spans, server-side, so the page only draws them.
//! - **Access.** The HTTP API's key applies (`?code=KEY` on the page's URL, which the page
//!   passes on to its script, style sheet and API calls as `x-functions-key`). Without a
//!   key the dashboard answers only requests addressed to a loopback host name (`Host:
//!   localhost`, `127.0.0.1`, `[::1]`), so a web page that rebinds its DNS name to
//!   127.0.0.1 cannot read it or act through it; serve it elsewhere only with a key. Its
//!   requests that change something must carry an `x-durable-dashboard` header, which
//!   other sites' pages cannot send without a CORS preflight this server never grants.
//!   The page never injects data as HTML, and its content security policy allows only
//!   its own script and style sheet.
//!
//! Architecture Invariant: the dashboard knows axum (as `http/` does) and nothing of the
//! store: every read and action goes through [`DurableClient`].

mod api;
mod overview;
mod timeline;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::client::DurableClient;
use crate::http::{ApiError, HttpOptions};

/// The path the dashboard is served under; its page is `/dashboard/`.
pub const PATH: &str = "/dashboard";

/// The header every dashboard request that changes something carries.
const ACTION_HEADER: &str = "x-durable-dashboard";

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The content security policy of the page: its own script, style sheet and API, nothing
/// else (no inline script, no frames, no forms posting elsewhere).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

#[derive(Clone)]
struct DashboardState {
    client: DurableClient,
    /// No key is configured: answer only requests addressed to a loopback host.
    loopback_only: bool,
    /// The task hub stats sampled for the overview's charts (`overview.rs`).
    sampler: std::sync::Arc<overview::Sampler>,
}

/// The dashboard's routes under [`PATH`], for [`crate::http::router`] to merge before its key
/// check and limits apply. Generic over the outer router's state, which it does not use.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(
    client: DurableClient,
    options: &HttpOptions,
) -> Router<S> {
    let state = DashboardState {
        sampler: overview::Sampler::new(client.clone()),
        client,
        loopback_only: options.key.is_none(),
    };
    Router::new()
        .route(PATH, get(to_page))
        .route(&format!("{PATH}/"), get(page))
        .route(&format!("{PATH}/app.js"), get(script))
        .route(&format!("{PATH}/app.css"), get(style))
        .nest(&format!("{PATH}/api"), api::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// `/dashboard` → `/dashboard/` (the page's relative URLs need the slash), keeping the
/// query (the key).
async fn to_page(request: Request) -> Redirect {
    match request.uri().query() {
        Some(query) => Redirect::to(&format!("{PATH}/?{query}")),
        None => Redirect::to(&format!("{PATH}/")),
    }
}

/// The page, with the request's key (if it came as `?code=`) on its script and style URLs,
/// which a browser fetches without the page's headers.
async fn page(request: Request) -> Response {
    let code = request.uri().query().and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned())
    });
    // Percent-encoded, the result holds only `[A-Za-z0-9*._+%-]`: safe in an attribute.
    let asset_query = match code {
        Some(code) => format!(
            "?code={}",
            form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
        ),
        None => String::new(),
    };
    let html = INDEX_HTML
        .replace("{{asset_query}}", &asset_query)
        .replace("{{version}}", env!("CARGO_PKG_VERSION"));
    let mut response = asset("text/html; charset=utf-8", html);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Revalidated on every load, so a new build's page never runs an old script.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.into(),
    )
        .into_response()
}

/// Refuses what the dashboard must not answer (see the module docs: a non-loopback host
/// without a key, an action without [`ACTION_HEADER`]) and sets the headers every answer
/// carries.
async fn guard(State(state): State<DashboardState>, request: Request, next: Next) -> Response {
    if state.loopback_only && !host_is_loopback(request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "without a key the dashboard answers only on a loopback address (localhost, \
             127.0.0.1, [::1]); set a key (`HttpOptions::key`, `--key`) to serve it elsewhere",
        )
        .into_response();
    }
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if !reads && !request.headers().contains_key(ACTION_HEADER) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "dashboard actions must carry an `{ACTION_HEADER}` header (the dashboard's page \
                 sends it; other sites' pages cannot)"
            ),
        )
        .into_response();
    }
    state.sampler.requested();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The page's URL may hold the key.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Whether the request is addressed to a loopback host (`Host: localhost:7071`,
/// `127.0.0.1`, `[::1]:7071`, `app.localhost`). A request without a `Host` header comes
/// from no browser, so it passes.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::host_is_loopback;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn host(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        host_is_loopback(&headers)
    }

    #[test]
    fn loopback_hosts_pass_and_others_do_not() {
        for loopback in [
            "localhost",
            "localhost:7071",
            "LOCALHOST.:80",
            "app.localhost:7071",
            "127.0.0.1",
            "127.0.0.1:7071",
            "127.1.2.3:9",
            "[::1]",
            "[::1]:7071",
        ] {
            assert!(host(loopback), "{loopback} is loopback");
        }
        for other in [
            "example.com",
            "evil.example:7071",
            "localhost.evil.example",
            "10.0.0.7:7071",
            "0.0.0.0:7071",
            "[::]:7071",
            "[2001:db8::1]:80",
            "127.0.0.1.nip.io",
        ] {
            assert!(!host(other), "{other} is not loopback");
        }
        assert!(host_is_loopback(&HeaderMap::new()), "no Host header");
    }
}
