//! `core.http` against a real HTTP server on loopback (wiremock, port 0):
//! what is sent, what comes back as outputs, and how failures are
//! classified and redacted.

use std::time::Duration;

use idflow_core::{ErrorClass, Outputs, Redactor, Step, StepContext, StepError};
use idflow_steps::{HttpOptions, HttpStep, USER_AGENT};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn run_with(step: &HttpStep, ctx: &StepContext, with: Value) -> Result<Outputs, StepError> {
    step.run(ctx, with).await
}

async fn run(with: Value) -> Result<Outputs, StepError> {
    let step = HttpStep::new(HttpOptions::default());
    run_with(&step, &StepContext::new("run-1", "call", 1), with).await
}

#[tokio::test]
async fn get_parses_a_json_body_and_reports_status_and_lowercase_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users/7"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 7, "tags": ["a"], "active": true}))
                .insert_header("X-Request-Id", "req-1"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let outputs = run(json!({"url": format!("{}/users/7", server.uri())}))
        .await
        .unwrap();

    assert_eq!(outputs["status"], 200);
    assert_eq!(
        outputs["body"],
        json!({"id": 7, "tags": ["a"], "active": true})
    );
    assert_eq!(outputs["headers"]["x-request-id"], "req-1");
    assert_eq!(outputs["headers"]["content-type"], "application/json");
    assert_eq!(
        outputs.keys().collect::<Vec<_>>(),
        ["status", "headers", "body"]
    );
}

#[tokio::test]
async fn a_text_body_stays_text_even_when_it_looks_like_json() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"not\": \"parsed\"}"))
        .mount(&server)
        .await;

    let outputs = run(json!({"url": server.uri()})).await.unwrap();

    assert_eq!(outputs["body"], "{\"not\": \"parsed\"}");
    assert!(
        outputs["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn post_sends_a_json_body_with_its_content_type() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/enrollments"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"type": "face", "n": [1, 2.5, null]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "enr-1"})))
        .expect(1)
        .mount(&server)
        .await;

    let outputs = run(json!({
        "method": "POST",
        "url": format!("{}/enrollments", server.uri()),
        "json": {"type": "face", "n": [1, 2.5, null]},
    }))
    .await
    .unwrap();

    assert_eq!(outputs["status"], 201);
    assert_eq!(outputs["body"]["id"], "enr-1");
}

#[tokio::test]
async fn post_sends_a_url_encoded_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("count=3&name=J%C3%BCrgen+O%27Neil&ok=true"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    let outputs = run(json!({
        "method": "POST",
        "url": server.uri(),
        "form": {"name": "Jürgen O'Neil", "count": 3, "ok": true},
    }))
    .await
    .unwrap();

    assert_eq!(outputs["status"], 200);
    assert_eq!(outputs["body"], "");
}

#[tokio::test]
async fn put_sends_a_raw_body_as_it_is() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(header("content-type", "text/csv"))
        .and(body_string("a,b\n1,2\n"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    let outputs = run(json!({
        "method": "PUT",
        "url": server.uri(),
        "headers": {"Content-Type": "text/csv"},
        "body": "a,b\n1,2\n",
    }))
    .await
    .unwrap();

    assert_eq!(outputs["status"], 204);
}

#[tokio::test]
async fn query_headers_and_user_agent_are_sent() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/items"))
        .and(query_param("existing", "1"))
        .and(query_param("q", "a b&c"))
        .and(query_param("limit", "10"))
        .and(query_param("all", "false"))
        .and(header("x-tenant", "acme"))
        .and(header("authorization", "Bearer tok-abc-123"))
        .and(header("user-agent", USER_AGENT))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    let outputs = run(json!({
        "method": "DELETE",
        "url": format!("{}/items?existing=1", server.uri()),
        "query": {"q": "a b&c", "limit": 10, "all": false},
        "headers": {"X-Tenant": "acme", "Authorization": "Bearer tok-abc-123"},
    }))
    .await
    .unwrap();

    assert_eq!(outputs["status"], 200);
    assert!(USER_AGENT.starts_with("idflow/"));
}

#[tokio::test]
async fn head_returns_status_and_headers_with_an_empty_body() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .respond_with(ResponseTemplate::new(200).insert_header("etag", "\"v1\""))
        .expect(1)
        .mount(&server)
        .await;

    let outputs = run(json!({"method": "HEAD", "url": server.uri()}))
        .await
        .unwrap();

    assert_eq!(outputs["headers"]["etag"], "\"v1\"");
    assert_eq!(outputs["body"], "");
}

#[tokio::test]
async fn expect_status_accepts_one_code() {
    let server = MockServer::start().await;
    Mock::given(path("/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such thing"))
        .mount(&server)
        .await;
    Mock::given(path("/ok"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;

    let outputs = run(json!({"url": format!("{}/missing", server.uri()), "expect_status": 404}))
        .await
        .unwrap();
    assert_eq!(outputs["status"], 404);
    assert_eq!(outputs["body"], "no such thing");

    // With an explicit code, a 200 is no longer a success.
    let error = run(json!({"url": format!("{}/ok", server.uri()), "expect_status": 404}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "http_status");
    assert_eq!(error.class, ErrorClass::Terminal);
    assert!(
        error.message.contains("(expected 404)"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn expect_status_accepts_a_list() {
    let server = MockServer::start().await;
    Mock::given(path("/conflict"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({"error": "exists"})))
        .mount(&server)
        .await;
    Mock::given(path("/created"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;

    for (route, status) in [("conflict", 409), ("created", 201)] {
        let outputs = run(json!({
            "url": format!("{}/{route}", server.uri()),
            "expect_status": [201, 409],
        }))
        .await
        .unwrap();
        assert_eq!(outputs["status"], status);
    }
    let outputs =
        run(json!({"url": format!("{}/conflict", server.uri()), "expect_status": [201, 409]}))
            .await
            .unwrap();
    assert_eq!(outputs["body"], json!({"error": "exists"}));
}

#[tokio::test]
async fn a_404_is_terminal_with_method_status_url_and_a_body_excerpt() {
    let server = MockServer::start().await;
    let long_body = format!("user not found {}", "x".repeat(5000));
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string(long_body))
        .mount(&server)
        .await;
    let url = format!("{}/users/9", server.uri());

    let error = run(json!({"url": url})).await.unwrap_err();

    assert_eq!(error.class, ErrorClass::Terminal);
    assert_eq!(error.code, "http_status");
    assert_eq!(
        error.message,
        format!("GET {url} returned HTTP 404 Not Found (expected 2xx)")
    );
    assert_eq!(error.retry_after, None);
    let details = error.details.unwrap();
    assert_eq!(details["status"], 404);
    let excerpt = details["body"].as_str().unwrap();
    assert!(excerpt.starts_with("user not found xxx"), "{excerpt}");
    assert!(excerpt.ends_with('…'), "{excerpt}");
    assert!(excerpt.chars().count() <= 513, "{}", excerpt.len());
}

#[tokio::test]
async fn a_500_is_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": "boom"})))
        .expect(1)
        .mount(&server)
        .await;

    let error = run(json!({"method": "POST", "url": server.uri(), "json": {}}))
        .await
        .unwrap_err();

    assert_eq!(error.class, ErrorClass::Retryable);
    assert_eq!(error.code, "http_status");
    assert!(error.message.starts_with("POST "), "{}", error.message);
    assert!(
        error.message.contains("500 Internal Server Error"),
        "{}",
        error.message
    );
    assert_eq!(error.retry_after, None);
    assert_eq!(error.details.unwrap()["body"], "{\"error\":\"boom\"}");
}

#[tokio::test]
async fn a_429_is_retryable_after_the_seconds_the_server_asks_for() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .mount(&server)
        .await;

    let error = run(json!({"url": server.uri()})).await.unwrap_err();

    assert_eq!(error.class, ErrorClass::Retryable);
    assert_eq!(error.code, "http_status");
    assert!(
        error.message.contains("429 Too Many Requests"),
        "{}",
        error.message
    );
    assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let error = run(json!({"url": format!("http://127.0.0.1:{port}/x")}))
        .await
        .unwrap_err();

    assert_eq!(error.class, ErrorClass::Retryable);
    assert_eq!(error.code, "connection");
    assert!(
        error
            .message
            .starts_with(&format!("GET http://127.0.0.1:{port}/x: could not connect")),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_retryably() {
    // The kernel accepts the connection into the backlog; nobody ever answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let step = HttpStep::new(HttpOptions {
        request_timeout: Duration::from_millis(200),
        ..HttpOptions::default()
    });

    let error = run_with(
        &step,
        &StepContext::new("r", "s", 1),
        json!({"url": format!("http://127.0.0.1:{port}/slow")}),
    )
    .await
    .unwrap_err();

    assert_eq!(error.class, ErrorClass::Retryable);
    assert_eq!(error.code, "timeout");
    assert!(error.message.contains("timed out"), "{}", error.message);
    drop(listener);
}

#[tokio::test]
async fn secrets_in_the_url_and_the_echoed_body_are_redacted() {
    let secret = "sk_live_4f9a8b7c6d";
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(format!("bad api_key {secret} given")),
        )
        .mount(&server)
        .await;
    let redactor = Redactor::new();
    redactor.add(secret);
    let ctx = StepContext::new("r", "s", 1).with_redactor(redactor);
    let step = HttpStep::new(HttpOptions::default());

    let error = run_with(
        &step,
        &ctx,
        json!({"url": format!("{}/v1/me?api_key={secret}", server.uri())}),
    )
    .await
    .unwrap_err();

    assert_eq!(error.code, "http_status");
    assert!(
        error
            .message
            .contains("/v1/me?api_key=[redacted] returned HTTP 401"),
        "{}",
        error.message
    );
    assert_eq!(
        error.details.as_ref().unwrap()["body"],
        "bad api_key [redacted] given"
    );
    assert!(!serde_json::to_string(&error).unwrap().contains(secret));

    // The same holds when there is no server at all.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = run_with(
        &step,
        &ctx,
        json!({"url": format!("http://127.0.0.1:{port}/{secret}/x")}),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code, "connection");
    assert!(
        !serde_json::to_string(&error).unwrap().contains(secret),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn an_authorization_header_echoed_back_is_redacted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403).set_body_string("token tok-echoed-999 is not allowed"),
        )
        .mount(&server)
        .await;

    let error = run(json!({
        "url": server.uri(),
        "headers": {"Authorization": "Bearer tok-echoed-999"},
    }))
    .await
    .unwrap_err();

    assert_eq!(
        error.details.unwrap()["body"],
        "token [redacted] is not allowed"
    );
}

#[tokio::test]
async fn json_and_form_together_are_invalid_input_and_nothing_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;

    let error = run(json!({
        "method": "POST",
        "url": server.uri(),
        "json": {"a": 1},
        "form": {"a": "1"},
    }))
    .await
    .unwrap_err();

    assert_eq!(error.class, ErrorClass::Terminal);
    assert_eq!(error.code, "invalid_input");
    assert!(error.message.contains("`json`"), "{}", error.message);
}

#[tokio::test]
async fn an_invalid_url_is_terminal_invalid_input() {
    for url in [
        "http://",
        "example.com/no-scheme",
        "file:///etc/passwd",
        "http://[::1",
    ] {
        let error = run(json!({"url": url})).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Terminal, "{url}");
        assert_eq!(error.code, "invalid_input", "{url}");
        assert!(error.message.contains("`url`"), "{}", error.message);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("y".repeat(1025)))
        .mount(&server)
        .await;
    Mock::given(path("/fits"))
        .respond_with(ResponseTemplate::new(200).set_body_string("y".repeat(1024)))
        .mount(&server)
        .await;
    let step = HttpStep::new(HttpOptions {
        max_response_bytes: 1024,
        ..HttpOptions::default()
    });
    let ctx = StepContext::new("r", "s", 1);

    let error = run_with(&step, &ctx, json!({"url": format!("{}/big", server.uri())}))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Terminal);
    assert_eq!(error.code, "response_too_large");
    assert!(error.message.contains("1024 bytes"), "{}", error.message);

    let outputs = run_with(
        &step,
        &ctx,
        json!({"url": format!("{}/fits", server.uri())}),
    )
    .await
    .unwrap();
    assert_eq!(outputs["body"].as_str().unwrap().len(), 1024);
}

#[tokio::test]
async fn a_json_content_type_with_a_broken_body_is_a_terminal_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"truncated\": ", "application/json"),
        )
        .mount(&server)
        .await;

    let error = run(json!({"url": server.uri()})).await.unwrap_err();

    assert_eq!(error.class, ErrorClass::Terminal);
    assert_eq!(error.code, "invalid_response");
    assert_eq!(error.details.unwrap()["body"], "{\"truncated\": ");
}

#[tokio::test]
async fn a_chunked_body_without_a_length_is_cut_off_at_the_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A hand-written HTTP/1.1 server: no Content-Length, two 600-byte chunks.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await.unwrap();
        let chunk = format!("258\r\n{}\r\n", "z".repeat(600));
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n"
        );
        // The client may hang up as soon as it has seen too much.
        let _ = socket.write_all(response.as_bytes()).await;
    });
    let step = HttpStep::new(HttpOptions {
        max_response_bytes: 1024,
        ..HttpOptions::default()
    });

    let error = run_with(
        &step,
        &StepContext::new("r", "s", 1),
        json!({"url": format!("http://127.0.0.1:{port}/stream")}),
    )
    .await
    .unwrap_err();

    assert_eq!(error.code, "response_too_large");
    server.await.unwrap();
}
