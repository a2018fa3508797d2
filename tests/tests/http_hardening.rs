//! The HTTP server does not trust its clients (issue #14), over real sockets: half-sent
//! requests are cut off and cannot starve normal ones, an oversized `Content-Length` is
//! refused before its body, a slow body times out, keys with URL-special characters work
//! in the URLs the server hands out, and huge wait timeouts answer.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns; a panic is a failed test"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use durable_runtime::http::{HttpOptions, HttpServer};
use durable_runtime::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[activity]
async fn echo_back(text: String) -> String {
    text
}

#[orchestrator]
async fn echoes(ctx: OrchestrationContext, text: String) -> Result<String, OrchestrationError> {
    Ok(ctx.call_activity(EchoBack, text).await?)
}

const BASE: &str = "/runtime/webhooks/durabletask";

async fn start(options: HttpOptions) -> (Runtime, HttpServer, SocketAddr) {
    let runtime = Runtime::builder()
        .sqlite(durable_tests::temp_dir("http-hardening").join("durable.db"))
        .start()
        .await
        .unwrap();
    let server = runtime
        .serve_http(options.address("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let address = server.local_addr();
    (runtime, server, address)
}

/// Sends `request` raw and returns the status line's code, or `None` if the server closed
/// the connection without answering.
async fn raw(address: SocketAddr, request: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_off_and_do_not_starve_others() {
    let (runtime, server, address) = start(
        HttpOptions::default()
            .header_read_timeout(Duration::from_millis(300))
            .max_connections(8),
    )
    .await;
    // More half-sent requests than the server serves connections at once.
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /runtime/webhooks/dura")
            .await
            .unwrap();
        idle.push(stream);
    }
    let started = Instant::now();
    let response = reqwest::get(format!("http://{address}{BASE}/instances"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a normal request waited {:?}",
        started.elapsed()
    );
    // The half-sent ones were closed by the server.
    let mut closed = 0;
    for mut stream in idle {
        let mut buffer = [0u8; 256];
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, 20, "every half-sent request was answered or closed");
    server.shutdown().await;
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_slow_bodies_are_refused() {
    let (runtime, server, address) = start(
        HttpOptions::default()
            .max_body_bytes(1024)
            .body_read_timeout(Duration::from_millis(300)),
    )
    .await;
    // A Content-Length over the limit: 413 at once, without waiting for the body.
    let started = Instant::now();
    let code = raw(
        address,
        format!(
            "POST {BASE}/orchestrators/echoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n\"0123456\""
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(code, Some(413));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A body that stops arriving: 408 after the body timeout.
    let code = raw(
        address,
        format!(
            "POST {BASE}/orchestrators/echoes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n\"0123"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(code, Some(408));
    server.shutdown().await;
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_special_characters_round_trip_and_huge_timeouts_answer() {
    let key = "a&b+c%d=e f";
    let (runtime, server, address) = start(HttpOptions::default().key(key.to_owned())).await;
    let http = reqwest::Client::new();
    let encoded: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    // A wait far longer than any real one (1e19 s) still answers, with the result.
    let response = http
        .post(format!(
            "http://{address}{BASE}/orchestrators/echoes?timeout=1e19&code={encoded}"
        ))
        .json(&"hi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), "hi");
    // The URLs a start hands out carry the key encoded, and work as given.
    let response = http
        .post(format!("http://{address}{BASE}/orchestrators/echoes"))
        .header("x-functions-key", key)
        .json(&"there")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    let status_url = body["statusQueryGetUri"].as_str().unwrap().to_owned();
    assert!(
        // Percent-encoded, a space as `%20` (the same key as `+` to a query's reader).
        status_url.contains(&format!("code={}", encoded.replace('+', "%20"))),
        "{status_url}"
    );
    let mut status = StatusCode::ACCEPTED;
    for _ in 0..500 {
        status = http.get(&status_url).send().await.unwrap().status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, StatusCode::OK, "the handed-out URL is accepted");
    // The raw key in the query (not encoded) is not the key.
    let wrong = http
        .get(format!("http://{address}{BASE}/instances?code=a&b+c%d=e f"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    server.shutdown().await;
    runtime.shutdown().await;
}
