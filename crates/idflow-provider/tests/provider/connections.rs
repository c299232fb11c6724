//! The server's own answers and limits over raw TCP: requests hyper refuses
//! before any handler runs get the JSON error shape, and connections that
//! never finish their headers do not lock others out.

use std::time::Duration;

use idflow_provider::ManualClock;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::{TestProvider, assert_error, config, new_client};

/// Sends `request` on a new connection; the status and JSON body of the
/// answer, read until the server closes the connection.
async fn raw(provider: &TestProvider, request: &[u8]) -> (StatusCode, Value) {
    let mut stream = TcpStream::connect(provider.provider.addr()).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer:?}"));
    (StatusCode::from_u16(status).unwrap(), body)
}

/// Issue 17: the server's own 400, 414 and 431 had empty, non-JSON bodies.
#[tokio::test]
async fn requests_refused_before_any_handler_get_the_json_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let provider = TestProvider::start(dir.path(), &clock).await;

    let (status, body) = raw(&provider, b"GET / HTTP/1.1\r\nContent-Length: many\r\n\r\n").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, None);
    assert_eq!(body["code"], 40004, "{body}");
    let (status, body) = raw(&provider, b"GET / HTTP/9.1\r\nHost: x\r\n\r\n").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, None);
    assert_eq!(body["code"], 40004, "{body}");

    let long_target = format!(
        "GET /v1/enrollments/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let (status, body) = raw(&provider, long_target.as_bytes()).await;
    assert_error(status, &body, StatusCode::URI_TOO_LONG, None);
    assert_eq!(body["code"], 41401, "{body}");

    let many_headers = (0..101).fold(String::new(), |headers, i| {
        headers + &format!("X-H{i}: v\r\n")
    });
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n");
    let (status, body) = raw(&provider, request.as_bytes()).await;
    assert_error(
        status,
        &body,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        None,
    );
    assert_eq!(body["code"], 43101, "{body}");

    let request = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(100_000)
    );
    let (status, body) = raw(&provider, request.as_bytes()).await;
    assert_error(
        status,
        &body,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        None,
    );
    assert_eq!(body["code"], 43101, "{body}");

    // The handlers' own 400s are untouched, and the server goes on.
    let (status, body) = provider.get("nonsense", "/v1/enrollments/ENR1").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
    provider.stop().await;
}

/// Issue 17: with 256 file descriptors, 350 connections that never finish
/// their headers locked a normal request out. With the real provider at a
/// limit of 32 connections and a header-read timeout of an hour, 300 such
/// connections do not stop a normal, authenticated request: the oldest
/// silent connections make room.
#[tokio::test]
async fn connections_that_never_finish_their_headers_do_not_lock_requests_out() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let key = new_client(dir.path(), "client-a").await;
    let mut config = config(dir.path(), &clock);
    config.max_connections = 32;
    config.header_read_timeout = Duration::from_hours(1);
    let provider = TestProvider::start_with(config, &clock).await;

    let mut silent = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(provider.provider.addr()).await.unwrap();
        stream
            .write_all(b"GET /v1/enrollments/ENR1 HTTP/1.1\r\nHost: x\r\nTruora-API")
            .await
            .unwrap();
        silent.push(stream);
    }
    let (status, body) = provider.get(&key, "/v1/enrollments/ENR1").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    // The first ones were closed to make room.
    let mut first = silent.swap_remove(0);
    let mut rest = Vec::new();
    assert_eq!(first.read_to_end(&mut rest).await.unwrap_or(0), 0);
    drop(silent);
    provider.stop().await;
}
