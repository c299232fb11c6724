//! The API in-process, on a real SQLite store with the core steps and a
//! worker loop: every route (API and viewer) behind the token but the
//! provider's signed webhooks, starts (idempotent, with files, refused
//! inputs), listing, live progress until the end, cancel, a run's pinned
//! graph, the error shape; signing in to the viewer and out; provider
//! webhooks waking a face gate (against a stub provider on loopback),
//! refused when not signed with the hook's secret, delivered once.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use futures::StreamExt as _;
use idflow_core::StepRegistry;
use idflow_engine::run::{Executor, ExecutorOptions, RunStore};
use idflow_face::webhooks::{WebhookSecret, sign};
use idflow_face::{FaceConnection, ProviderSettings};
use idflow_server::ui::{Access, LOGIN_PATH, ROUTES as UI_ROUTES};
use idflow_server::{Catalog, Changes, ServerParts, ServerState, WatchedStore, tokens};
use idflow_store::{Durability, KeySeal, SqliteStore};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const HELLO: &str = r"
name: hello
inputs:
  who: {type: string}
  times: {type: number, default: 2}
steps:
  greet:
    uses: core.log
    with: {message: 'hello ${{ inputs.who }}'}
  count:
    uses: core.set
    needs: [greet]
    with: {attempt: '${{ attempt }}', done: '${{ attempt >= inputs.times }}'}
    until: outputs.done
    poll: {interval: 10ms, timeout: 5s}
outputs:
  greeted: ${{ inputs.who }}
";

const NAPPING: &str = r"
name: napping
steps:
  nap:
    uses: core.sleep
    with: {duration: 1h}
  tidy:
    uses: core.log
    needs: [nap]
    if: cancelled()
    with: {message: tidied}
";

const AWAITING: &str = r"
name: awaiting
inputs:
  order: {type: string}
steps:
  paid:
    uses: core.await_event
    with: {key: 'order:${{ inputs.order }}:paid', timeout: 1h}
outputs:
  amount: ${{ steps.paid.outputs.payload.amount }}
";

const WITH_FILE: &str = r"
name: with-file
inputs:
  photo: {type: file}
steps:
  note:
    uses: core.log
    with: {message: got a photo}
";

/// A face gate whose fallback poll would come only after an hour: only
/// the provider's webhook can end it within a test.
const FACE_GATE: &str = r"
name: face-gate
inputs:
  enrollment_id: {type: string}
steps:
  processed:
    uses: face.await_enrollment
    with: {enrollment_id: '${{ inputs.enrollment_id }}'}
    poll: {interval: 1h, timeout: 2h}
outputs:
  status: ${{ steps.processed.outputs.status }}
";

/// The secret the test server's provider signs its webhooks with.
const HOOK_SECRET: &str = "hook-secret-for-tests-0123456789";

const SECRETIVE: &str = r"
name: secretive
secrets: [NOT_SET_ANYWHERE_123]
steps:
  call:
    uses: core.http
    with:
      url: http://127.0.0.1:9/
      headers: {authorization: '${{ secrets.NOT_SET_ANYWHERE_123 }}'}
";

struct Server {
    router: Router,
    state: ServerState,
    token: String,
    stop: CancellationToken,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn server() -> Server {
    server_with(FaceConnection::unconfigured()).await
}

/// A server whose face steps talk to `face`.
async fn server_with(face: FaceConnection) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).unwrap();
    for (name, text) in [
        ("hello.yaml", HELLO),
        ("napping.yaml", NAPPING),
        ("awaiting.yaml", AWAITING),
        ("with-file.yaml", WITH_FILE),
        ("secretive.yaml", SECRETIVE),
        ("face-gate.yaml", FACE_GATE),
        (
            "broken.yaml",
            "name: broken\nsteps:\n  a:\n    uses: core.nope\n",
        ),
        ("hello.test.yaml", "not: a workflow"),
    ] {
        std::fs::write(workflows.join(name), text).unwrap();
    }
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).unwrap();
    idflow_face::register(&mut registry, face).unwrap();
    let registry = Arc::new(registry);
    let store = Arc::new(
        SqliteStore::open(dir.path(), Durability::Normal)
            .await
            .unwrap(),
    );
    let changes = Changes::new();
    let watched = Arc::new(WatchedStore::new(
        Arc::clone(&store) as Arc<dyn RunStore>,
        changes.clone(),
    ));
    let executor = Executor::new(
        watched,
        Arc::clone(&registry),
        Arc::new(KeySeal::new([7; 32])),
        Arc::new(|_: &str| None::<String>),
        "test-host:1:a",
        ExecutorOptions {
            poll: Duration::from_millis(50),
            park_after: Duration::from_millis(200),
            ..ExecutorOptions::default()
        },
    );
    let stop = CancellationToken::new();
    tokio::spawn({
        let executor = executor.clone();
        let stop = stop.clone();
        async move { executor.work(stop, false).await }
    });
    let token = tokens::create(&*store, "tests").await.unwrap();
    let state = ServerState::new(ServerParts {
        executor,
        api_store: store,
        catalog: Catalog::load(&workflows, registry).unwrap(),
        changes,
        secrets: Arc::new(|_: &str| None::<String>),
        uploads: dir.path().join("uploads"),
        metrics: None,
        hook_secrets: vec![WebhookSecret::new(HOOK_SECRET).unwrap()],
    });
    Server {
        router: idflow_server::router(state.clone()),
        state,
        token,
        stop,
        dir,
    }
}

impl Server {
    async fn call(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, headers, body)
    }

    fn get(&self, path: &str) -> Request<Body> {
        Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap()
    }

    fn post(&self, path: &str, body: &Value) -> Request<Body> {
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    async fn start(&self, body: &Value) -> String {
        let (status, _, answer) = self.call(self.post("/api/v1/runs", body)).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["run_id"].as_str().unwrap().to_owned()
    }

    /// The run's events (name, data) until the stream closes.
    async fn events_until_end(&self, run_id: &str) -> Vec<(String, Value)> {
        let response = self
            .router
            .clone()
            .oneshot(self.get(&format!("/api/v1/runs/{run_id}/events")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        let mut text = String::new();
        let mut stream = response.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        parse_events(&text)
    }

    /// Reads the run's events until `wanted` says stop; returns them.
    async fn events_until(
        &self,
        run_id: &str,
        wanted: impl Fn(&(String, Value)) -> bool,
    ) -> Vec<(String, Value)> {
        let response = self
            .router
            .clone()
            .oneshot(self.get(&format!("/api/v1/runs/{run_id}/events")))
            .await
            .unwrap();
        let mut text = String::new();
        let mut stream = response.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            let events = parse_events(&text);
            if events.iter().any(&wanted) {
                return events;
            }
        }
        panic!("the stream ended without the event wanted: {text}");
    }
}

fn parse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| block.contains("data:"))
        .map(|block| {
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    value.trim().clone_into(&mut name);
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            (name, serde_json::from_str(&data).unwrap_or(Value::Null))
        })
        .collect()
}

/// Every route the document lists as needing a token (all but those
/// whose `security` is `[{}]`: `signed`), with its path parameters filled
/// in.
fn documented_routes(signed: &mut Vec<(Method, String)>) -> Vec<(Method, String)> {
    let document = serde_json::to_value(idflow_server::openapi()).unwrap();
    let mut routes = vec![(Method::GET, "/api/v1/openapi.json".to_owned())];
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation["security"] == json!([{}]) {
                signed.push((
                    method.to_uppercase().parse().unwrap(),
                    format!("/api/v1{path}"),
                ));
                continue;
            }
            let path = path
                .replace("{run_id}", "0190c1d2-0000-7000-8000-000000000000")
                .replace("{name}", "hello");
            routes.push((
                method.to_uppercase().parse().unwrap(),
                format!("/api/v1{path}"),
            ));
        }
    }
    routes
}

/// Every route of the viewer's table, with its parameters filled in.
fn ui_routes() -> Vec<(Method, String, Access)> {
    UI_ROUTES
        .iter()
        .map(|route| {
            let method = if route.method == "*" {
                Method::GET
            } else {
                route.method.parse().unwrap()
            };
            let path = route
                .path
                .replace("{run_id}", "0190c1d2-0000-7000-8000-000000000000")
                .replace("{*rest}", "no/such/page");
            (method, path, route.access)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_a_valid_token() {
    let server = server().await;
    let mut signed = Vec::new();
    let routes = documented_routes(&mut signed);
    assert!(routes.len() >= 8, "{routes:?}");
    // Only the provider's webhooks go without a token: they are signed
    // (their own tests below).
    assert_eq!(
        signed,
        [(Method::POST, "/api/v1/hooks/truora".to_owned())],
        "routes documented without a token"
    );
    for (method, path) in routes {
        for authorization in [None, Some("Bearer idf_wrong"), Some("Basic dGVzdDp0ZXN0")] {
            let mut request = Request::builder().method(method.clone()).uri(&path);
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let (status, _, body) = server.call(request.body(Body::empty()).unwrap()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {authorization:?}"
            );
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {}", server.token));
        if method == Method::POST {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let response = server
            .router
            .clone()
            .oneshot(request.body(Body::from("{}")).unwrap())
            .await
            .unwrap();
        assert_ne!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    // The viewer: every route of its table, the public ones aside.
    let ui = ui_routes();
    assert!(ui.len() >= 8, "{ui:?}");
    for (method, path, access) in ui {
        if access == Access::Public {
            continue;
        }
        for authorization in [None, Some("Bearer idf_wrong"), Some("Basic dGVzdDp0ZXN0")] {
            for accept in ["application/json", "text/html,application/xhtml+xml"] {
                let mut request = Request::builder()
                    .method(method.clone())
                    .uri(&path)
                    .header(header::ACCEPT, accept);
                if let Some(value) = authorization {
                    request = request.header(header::AUTHORIZATION, value);
                }
                let response = server
                    .router
                    .clone()
                    .oneshot(request.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let what = format!("{method} {path} with {authorization:?}, {accept}");
                if accept.starts_with("text/html") {
                    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what}");
                    let location = response.headers()[header::LOCATION].to_str().unwrap();
                    assert!(location.starts_with(LOGIN_PATH), "{what}: {location}");
                } else {
                    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
                }
                assert!(
                    response.headers().get(header::SET_COOKIE).is_none(),
                    "{what}"
                );
            }
        }
        let request = Request::builder()
            .method(method.clone())
            .uri(&path)
            .header(header::ACCEPT, "text/html")
            .header(header::AUTHORIZATION, format!("Bearer {}", server.token))
            .body(Body::empty())
            .unwrap();
        let response = server.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert!(
            status != StatusCode::SEE_OTHER || response.headers().contains_key(header::SET_COOKIE),
            "{method} {path}: sent to sign in with a valid token"
        );
    }
    // Paths that do not exist say nothing without a token either.
    let (status, _, _) = server
        .call(Request::get("/api/v1/nothing").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = server.call(server.get("/api/v1/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "no_such_route");
    let (status, _, body) = server
        .call(server.post("/api/v1/workflows", &json!({})))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_works_for_reads_and_for_same_origin_writes_only() {
    let server = server().await;
    let cookie = format!("{}={}", tokens::SESSION_COOKIE, server.token);
    let (status, _, _) = server
        .call(
            Request::get("/api/v1/workflows")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let write = |origin: &str| {
        Request::post("/api/v1/runs")
            .header(header::COOKIE, &cookie)
            .header(header::HOST, "idflow.test")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"workflow": "hello", "inputs": {"who": "c"}}).to_string(),
            ))
            .unwrap()
    };
    let (status, _, body) = server.call(write("https://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "cross_site_request");
    let (status, _, body) = server.call(write("http://idflow.test")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_are_listed_valid_or_not_with_their_diagnostics() {
    let server = server().await;
    let (status, _, body) = server.call(server.get("/api/v1/workflows")).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<(&str, bool)> = body["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["valid"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("awaiting", true),
            ("broken", false),
            ("face-gate", true),
            ("hello", true),
            ("napping", true),
            ("secretive", true),
            ("with-file", true)
        ]
    );
    let broken = &body["workflows"][1];
    assert_eq!(broken["diagnostics"][0]["code"], "IDF0008", "{broken}");
    assert_eq!(broken["diagnostics"][0]["line"], 4);

    let (status, _, hello) = server.call(server.get("/api/v1/workflows/hello")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hello["inputs"][0]["name"], "who");
    assert_eq!(hello["outputs"], json!(["greeted"]));
    assert_eq!(hello["hash"].as_str().unwrap().len(), 64);
    assert_eq!(hello["graph"]["steps"]["count"]["needs"], json!(["greet"]));

    let (status, _, body) = server.call(server.get("/api/v1/workflows/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "workflow_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_by_the_api_is_watched_live_to_its_end() {
    let server = server().await;
    let run_id = server
        .start(&json!({"workflow": "hello", "inputs": {"who": "ada", "times": 3}}))
        .await;
    let events = server.events_until_end(&run_id).await;
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"run"), "{events:?}");
    assert_eq!(names.last(), Some(&"end"), "{events:?}");
    let (_, end) = events.last().unwrap();
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(end["outputs"]["greeted"], "ada");
    assert!(
        events.iter().any(|(name, data)| name == "step"
            && data["step"] == "count"
            && data["status"] == "succeeded"),
        "{events:?}"
    );

    let (status, _, run) = server
        .call(server.get(&format!("/api/v1/runs/{run_id}")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["steps"]["count"]["attempts"], 3);
    assert_eq!(run["workflow_hash"].as_str().unwrap().len(), 64);

    let (status, _, timeline) = server
        .call(server.get(&format!("/api/v1/runs/{run_id}/timeline")))
        .await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<(&str, &str)> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["step"] == "count")
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["outcome"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("attempt", "succeeded"),
            ("poll_wait", "-"),
            ("attempt", "succeeded"),
            ("poll_wait", "-"),
            ("attempt", "succeeded")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_gives_the_same_run_and_another_body_is_refused() {
    let server = server().await;
    let body = json!({"workflow": "hello", "inputs": {"who": "ada"}});
    let keyed = |body: &Value| {
        let mut request = server.post("/api/v1/runs", body);
        request
            .headers_mut()
            .insert("idempotency-key", "signup-42".parse().unwrap());
        request
    };
    let (status, headers, first) = server.call(keyed(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get("idempotent-replayed").is_none());
    assert_eq!(
        headers[header::LOCATION],
        format!("/api/v1/runs/{}", first["run_id"].as_str().unwrap())
    );
    let (status, headers, again) = server.call(keyed(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["run_id"], first["run_id"]);
    let (status, _, refused) = server
        .call(keyed(
            &json!({"workflow": "hello", "inputs": {"who": "bob"}}),
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    let (_, _, list) = server.call(server.get("/api/v1/runs")).await;
    assert_eq!(
        list["runs"].as_array().unwrap().len(),
        1,
        "one run for three requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_starts_get_the_right_status_and_a_message_that_says_what_to_do() {
    let server = server().await;
    let cases = [
        (
            json!({"workflow": "hello", "inputs": {"whom": "x"}}),
            422,
            "invalid_inputs",
            "did you mean `who`",
        ),
        (
            json!({"workflow": "hello", "inputs": {"who": "x", "times": "many"}}),
            422,
            "invalid_inputs",
            "must be a number",
        ),
        (
            json!({"workflow": "hello"}),
            422,
            "invalid_inputs",
            "`who` is required",
        ),
        (
            json!({"workflow": "broken"}),
            422,
            "workflow_invalid",
            "broken.yaml:4:",
        ),
        (
            json!({"workflow": "nope"}),
            404,
            "workflow_not_found",
            "GET /api/v1/workflows",
        ),
        (
            json!({"workflow": "with-file", "inputs": {"photo": "/etc/passwd"}}),
            422,
            "invalid_inputs",
            "$file",
        ),
        (
            json!({"workflow": "with-file", "inputs": {"photo": {"$file": {"name": "a.jpg", "content_base64": "%%%"}}}}),
            422,
            "invalid_inputs",
            "not base64",
        ),
        (
            json!({"workflow": "secretive"}),
            422,
            "secret_missing",
            "NOT_SET_ANYWHERE_123",
        ),
        (
            json!({"workflow": "hello", "extra": 1}),
            400,
            "invalid_body",
            "unknown field",
        ),
        (
            json!(["not", "an", "object"]),
            400,
            "invalid_body",
            "workflow",
        ),
    ];
    for (body, status, code, says) in cases {
        let (got, _, answer) = server.call(server.post("/api/v1/runs", &body)).await;
        assert_eq!(got.as_u16(), status, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: `{message}` lacks `{says}`");
    }
    let request = Request::post("/api/v1/runs")
        .header(header::AUTHORIZATION, format!("Bearer {}", server.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (status, _, answer) = server.call(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], "invalid_json");
    let request = Request::post("/api/v1/runs")
        .header(header::AUTHORIZATION, format!("Bearer {}", server.token))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _, _) = server.call(request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = "x".repeat(idflow_server::api::MAX_BODY_BYTES + 1);
    let request = Request::post("/api/v1/runs")
        .header(header::AUTHORIZATION, format!("Bearer {}", server.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(huge))
        .unwrap();
    let (status, _, answer) = server.call(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    // Nothing was started by any of them.
    let (_, _, list) = server.call(server.get("/api/v1/runs")).await;
    assert_eq!(list["runs"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_input_is_kept_for_the_run_under_a_safe_name() {
    let server = server().await;
    let photo = base64::engine::general_purpose::STANDARD.encode(b"\xff\xd8 not really a jpeg");
    let run_id = server
        .start(&json!({"workflow": "with-file", "inputs": {"photo": {"$file": {"name": "../../etc/me.jpg", "content_base64": photo}}}}))
        .await;
    let events = server.events_until_end(&run_id).await;
    let (_, end) = events.last().unwrap();
    assert_eq!(end["status"], "succeeded", "{end}");
    let kept = server
        .dir
        .path()
        .join("uploads")
        .join(&run_id)
        .join("me.jpg");
    assert_eq!(std::fs::read(kept).unwrap(), b"\xff\xd8 not really a jpeg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_newest_first_in_pages_and_filtered() {
    let server = server().await;
    let mut started = Vec::new();
    for who in ["a", "b", "c"] {
        started.push(
            server
                .start(&json!({"workflow": "hello", "inputs": {"who": who, "times": 1}}))
                .await,
        );
    }
    let napping = server.start(&json!({"workflow": "napping"})).await;
    let (status, _, page) = server
        .call(server.get("/api/v1/runs?workflow=hello&limit=2"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids = |page: &Value| -> Vec<String> {
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["run_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&page), [started[2].clone(), started[1].clone()]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, next) = server
        .call(server.get(&format!(
            "/api/v1/runs?workflow=hello&limit=2&cursor={cursor}"
        )))
        .await;
    assert_eq!(ids(&next), [started[0].clone()]);
    assert!(next.get("next_cursor").is_none(), "{next}");
    let (_, _, all) = server.call(server.get("/api/v1/runs")).await;
    assert_eq!(ids(&all)[0], napping);
    for (query, code) in [
        ("status=sleeping", "invalid_status"),
        ("limit=0", "invalid_limit"),
        ("limit=x", "invalid_query"),
    ] {
        let (status, _, body) = server
            .call(server.get(&format!("/api/v1/runs?{query}")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_is_cancelled_with_its_cleanup_and_a_finished_one_cannot_be() {
    let server = server().await;
    let run_id = server.start(&json!({"workflow": "napping"})).await;
    server
        .events_until(&run_id, |(name, data)| {
            name == "step" && data["step"] == "nap" && data["status"] == "running"
        })
        .await;
    let (status, _, accepted) = server
        .call(server.post(&format!("/api/v1/runs/{run_id}/cancel"), &json!({})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let events = server.events_until_end(&run_id).await;
    let (_, end) = events.last().unwrap();
    assert_eq!(end["status"], "cancelled", "{end}");
    assert_eq!(
        end["steps"]["tidy"]["status"], "succeeded",
        "cleanup ran: {end}"
    );
    let (status, _, body) = server
        .call(server.post(&format!("/api/v1/runs/{run_id}/cancel"), &json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "run_finished");
    let (status, _, body) = server
        .call(server.post("/api/v1/runs/no-such-run/cancel", &json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "run_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_wakes_the_parked_run_that_waits_for_it_and_is_delivered_once() {
    let server = server().await;
    let run_id = server
        .start(&json!({"workflow": "awaiting", "inputs": {"order": "42"}}))
        .await;
    // Parked: no process holds it while it waits.
    server
        .events_until(&run_id, |(name, data)| {
            name == "run" && data["status"] == "waiting"
        })
        .await;
    let send = |key: &str, amount: u32| {
        Request::post("/api/v1/events")
            .header(header::AUTHORIZATION, format!("Bearer {}", server.token))
            .header(header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", format!("payment-{amount}"))
            .body(Body::from(
                json!({"key": key, "payload": {"amount": amount}}).to_string(),
            ))
            .unwrap()
    };
    let (status, _, answer) = server.call(send("order:42:paid", 12)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "delivered", "run_id": run_id, "step": "paid"})
    );
    let (_, end) = server.events_until_end(&run_id).await.pop().unwrap();
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(end["outputs"]["amount"], 12);

    // The same event again is ignored; one nobody waits for yet is kept
    // and received by the first run that waits.
    let (_, _, again) = server.call(send("order:42:paid", 12)).await;
    assert_eq!(again, json!({"status": "duplicate"}));
    let (_, _, kept) = server.call(send("order:43:paid", 5)).await;
    assert_eq!(kept, json!({"status": "kept"}));
    let early = server
        .start(&json!({"workflow": "awaiting", "inputs": {"order": "43"}}))
        .await;
    let (_, end) = server.events_until_end(&early).await.pop().unwrap();
    assert_eq!(end["outputs"]["amount"], 5, "{end}");

    // Keys no step could name are refused, with the error shape.
    for body in [
        json!({"key": ""}),
        json!({"key": "a\u{0}b"}),
        json!({"payload": 1}),
    ] {
        let (status, _, answer) = server.call(server.post("/api/v1/events", &body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_needs_no_token_and_the_document_is_openapi_3_1() {
    let server = server().await;
    for path in ["/healthz", "/readyz"] {
        let (status, _, _) = server
            .call(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _, document) = server.call(server.get("/api/v1/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    assert_eq!(document["servers"][0]["url"], "/api/v1");
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

/// A form post to the viewer as a page of `site` would send it.
fn form_post(path: &str, body: &str, site: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html")
        .header(header::HOST, "idflow.test")
        .header("sec-fetch-site", site)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn answer(
    server: &Server,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = server.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_signs_in_with_a_token_and_out_from_its_own_pages_only() {
    let server = server().await;
    // Without a session, a page sends the browser to sign in and back.
    let (status, headers, _) = answer(
        &server,
        Request::get("/ui/runs/abc?x=1")
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        "/ui/login?next=/ui/runs/abc%3Fx%3D1"
    );

    let (status, headers, form) = answer(
        &server,
        Request::get("/ui/login?next=/ui/runs/abc")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(form.contains("name=\"token\""), "{form}");
    assert!(form.contains("value=\"/ui/runs/abc\""), "{form}");
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");

    // A bad token: the form again, with 401 and no cookie.
    let (status, headers, page) = answer(
        &server,
        form_post(LOGIN_PATH, "token=idf_wrong", "same-origin"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("not valid"), "{page}");
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert!(
        !page.contains("idf_wrong"),
        "the refused token is not shown back"
    );

    // A good token: the cookie, and on to where the browser was going.
    let body = format!("token={}&next=%2Fui%2Fruns%2Fabc", server.token);
    let (status, headers, _) = answer(&server, form_post(LOGIN_PATH, &body, "same-origin")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/runs/abc");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert_eq!(
        cookie,
        format!(
            "idflow_session={}; HttpOnly; SameSite=Strict; Path=/",
            server.token
        )
    );
    // Never on to another site.
    let body = format!("token={}&next=%2F%2Fevil.example", server.token);
    let (_, headers, _) = answer(&server, form_post(LOGIN_PATH, &body, "same-origin")).await;
    assert_eq!(headers[header::LOCATION], "/ui");
    // Behind an https proxy the cookie is Secure.
    let mut request = form_post(
        LOGIN_PATH,
        &format!("token={}", server.token),
        "same-origin",
    );
    request
        .headers_mut()
        .insert("x-forwarded-proto", "https".parse().unwrap());
    let (_, headers, _) = answer(&server, request).await;
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .ends_with("; Secure"),
        "{:?}",
        headers[header::SET_COOKIE]
    );

    // Another site cannot sign a visitor in (nor can a post that does
    // not say where it comes from).
    for site in ["cross-site", "same-site", "none"] {
        let (status, headers, _) = answer(
            &server,
            form_post(LOGIN_PATH, &format!("token={}", server.token), site),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{site}");
        assert!(headers.get(header::SET_COOKIE).is_none(), "{site}");
    }

    // The cookie opens the pages and the API.
    let session = cookie.split(';').next().unwrap().to_owned();
    for path in ["/ui", "/ui/runs/abc", "/ui/assets/run.js"] {
        let (status, headers, _) = answer(
            &server,
            Request::get(path)
                .header(header::COOKIE, &session)
                .header(header::ACCEPT, "text/html")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
    }

    // Signing out from another site is refused; from the viewer it clears
    // the cookie.
    let mut request = form_post("/ui/logout", "", "cross-site");
    request
        .headers_mut()
        .insert(header::COOKIE, session.parse().unwrap());
    let (status, headers, _) = answer(&server, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get(header::SET_COOKIE).is_none());
    let mut request = form_post("/ui/logout", "", "same-origin");
    request
        .headers_mut()
        .insert(header::COOKIE, session.parse().unwrap());
    let (status, headers, _) = answer(&server, request).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], LOGIN_PATH);
    assert_eq!(
        headers[header::SET_COOKIE],
        "idflow_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_s_graph_is_its_pinned_workflow_whatever_the_file_says_now() {
    let server = server().await;
    let run_id = server
        .start(&json!({"workflow": "hello", "inputs": {"who": "ada", "times": 1}}))
        .await;
    let edited = HELLO.replace("outputs:\n", "  later:\n    uses: core.log\n    needs: [count]\n    if: failure()\n    with: {message: late}\noutputs:\n");
    std::fs::write(server.dir.path().join("workflows/hello.yaml"), edited).unwrap();
    server.state.catalog().reload().unwrap();
    let (_, _, now) = server.call(server.get("/api/v1/workflows/hello")).await;
    assert_eq!(now["graph"]["steps"]["later"]["if"], "failure()", "{now}");
    let (status, _, graph) = server
        .call(server.get(&format!("/api/v1/runs/{run_id}/graph")))
        .await;
    assert_eq!(status, StatusCode::OK, "{graph}");
    assert_eq!(graph["order"], json!(["greet", "count"]), "{graph}");
    assert_eq!(graph["steps"]["count"]["needs"], json!(["greet"]));
    let (status, _, body) = server
        .call(server.get("/api/v1/runs/no-such-run/graph"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "run_not_found");
}

/// A stub of the provider's `GET /v1/enrollments/{id}` on loopback: every
/// enrollment has the status set last.
struct StubProvider {
    status: Arc<std::sync::Mutex<&'static str>>,
    url: String,
}

impl StubProvider {
    async fn start() -> Self {
        let status = Arc::new(std::sync::Mutex::new("pending"));
        let app = Router::new().route(
            "/v1/enrollments/{id}",
            axum::routing::get({
                let status = Arc::clone(&status);
                move |axum::extract::Path(id): axum::extract::Path<String>| {
                    let status = *status.lock().unwrap();
                    async move {
                        axum::Json(json!({
                            "enrollment_id": id, "account_id": "ACC1", "status": status,
                        }))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { status, url }
    }

    fn set(&self, status: &'static str) {
        *self.status.lock().unwrap() = status;
    }

    fn connection(&self) -> FaceConnection {
        let settings = ProviderSettings::single_origin(&self.url, "stub-key").unwrap();
        FaceConnection::configured(settings).unwrap()
    }
}

/// The claims of a webhook as the provider signs them, dated now.
fn webhook(jti: &str, event: &str, data: &Value) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": "idflow-provider", "iat": now, "jti": jti, "event": event, "webhook_id": "WHK1", "data": data})
}

fn signed(secret: &str, claims: &Value) -> String {
    sign(&WebhookSecret::new(secret).unwrap(), claims)
}

/// `POST /api/v1/hooks/truora` with `body`, without any token.
fn hook(body: &str) -> Request<Body> {
    Request::post("/api/v1/hooks/truora")
        .header(header::CONTENT_TYPE, "application/jwt")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

impl Server {
    /// Starts `face-gate` for `enrollment_id` and returns once its gate has
    /// read the enrollment once and waits (its wait for the webhook is
    /// registered by then).
    async fn start_awaiting(&self, enrollment_id: &str) -> String {
        let run_id = self
            .start(&json!({"workflow": "face-gate", "inputs": {"enrollment_id": enrollment_id}}))
            .await;
        self.events_until(&run_id, |(name, data)| {
            name == "step" && data["step"] == "processed" && data["status"] == "waiting"
        })
        .await;
        run_id
    }

    /// The run's end (30 s at most: the gate's fallback poll is an hour
    /// away, so only a webhook can end it in time).
    async fn end_of(&self, run_id: &str) -> Value {
        let events = tokio::time::timeout(Duration::from_secs(30), self.events_until_end(run_id))
            .await
            .expect("the webhook woke the gate: the run ended long before its next poll");
        let (name, result) = events.last().unwrap().clone();
        assert_eq!(name, "end", "{events:?}");
        result
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_provider_webhook_wakes_the_waiting_gate_at_once() {
    let provider = StubProvider::start().await;
    let server = server_with(provider.connection()).await;
    let run_id = server.start_awaiting("ENR1").await;

    provider.set("success");
    let data = json!({"enrollment_id": "ENR1", "account_id": "ACC1", "status": "success"});
    let token = signed(HOOK_SECRET, &webhook("EVT1", "enrollment.succeeded", &data));
    let (status, _, body) = server.call(hook(&token)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        body,
        json!({
            "event": "enrollment.succeeded",
            "deliveries": [{"key": "truora:enrollment:ENR1", "outcome": "delivered"}],
        })
    );
    let result = server.end_of(&run_id).await;
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["outputs"]["status"], "success");
    assert_eq!(result["steps"]["processed"]["attempts"], 2, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_expired_or_wrongly_signed_webhooks_are_refused_and_move_no_run() {
    let provider = StubProvider::start().await;
    let server = server_with(provider.connection()).await;
    let run_id = server.start_awaiting("ENR2").await;
    provider.set("success");

    let data = json!({"enrollment_id": "ENR2", "status": "success"});
    let claims = webhook("EVT2", "enrollment.succeeded", &data);
    let genuine = signed(HOOK_SECRET, &claims);
    let parts: Vec<&str> = genuine.split('.').collect();
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let mut forged_claims = claims.clone();
    forged_claims["jti"] = json!("EVT-forged");
    let mut expired = claims.clone();
    expired["iat"] = json!(claims["iat"].as_i64().unwrap() - 7200);
    for (what, body) in [
        ("no body", String::new()),
        ("not a JWT", "enrollment_id=ENR2".to_owned()),
        (
            "unsigned",
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), parts[1]),
        ),
        ("another secret", signed("not-the-hook-secret", &claims)),
        (
            "claims changed after signing",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&forged_claims.to_string()),
                parts[2]
            ),
        ),
        ("signed two hours ago", signed(HOOK_SECRET, &expired)),
    ] {
        let (status, _, body) = server.call(hook(&body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_webhook", "{what}: {body}");
        assert!(!body.to_string().contains(HOOK_SECRET), "{body}");
    }
    // An API token does not stand in for the signature.
    let mut with_token = hook("not.a.jwt");
    with_token.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {}", server.token).parse().unwrap(),
    );
    let (status, _, _) = server.call(with_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A signed webhook whose record lacks its id delivers nothing either.
    let without_id = signed(
        HOOK_SECRET,
        &webhook("EVT3", "enrollment.failed", &json!({})),
    );
    let (status, _, body) = server.call(hook(&without_id)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_webhook_claims");

    // Nothing reached the wait: the genuine webhook is the one delivered to
    // it (a wait takes one event), and the gate read the status only once
    // more.
    let (status, _, body) = server.call(hook(&genuine)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["deliveries"][0]["outcome"], "delivered", "{body}");
    let result = server.end_of(&run_id).await;
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["steps"]["processed"]["attempts"], 2, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_retry_of_a_webhook_is_delivered_once() {
    let provider = StubProvider::start().await;
    let server = server_with(provider.connection()).await;
    let run_id = server.start_awaiting("ENR3").await;
    provider.set("failure");

    let data = json!({"enrollment_id": "ENR3", "status": "failure", "reason": "no_face_detected"});
    let token = signed(HOOK_SECRET, &webhook("EVT4", "enrollment.failed", &data));
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let (status, _, body) = server.call(hook(&token)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        outcomes.push(body["deliveries"][0]["outcome"].clone());
    }
    assert_eq!(
        outcomes,
        [json!("delivered"), json!("duplicate"), json!("duplicate")]
    );
    let result = server.end_of(&run_id).await;
    assert_eq!(result["outputs"]["status"], "failure", "{result}");
    assert_eq!(result["steps"]["processed"]["attempts"], 2, "{result}");

    // A web process is an event of the process and one of its account;
    // no step waits for them yet: both are kept, and a retry is ignored.
    let process = json!({"process_id": "PRC1", "account_id": "ACC1", "status": "success"});
    let token = signed(HOOK_SECRET, &webhook("EVT5", "process.succeeded", &process));
    for outcome in ["kept", "duplicate"] {
        let (status, _, body) = server.call(hook(&token)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(
            body["deliveries"],
            json!([
                {"key": "truora:process:PRC1", "outcome": outcome},
                {"key": "truora:account:ACC1:process", "outcome": outcome},
            ])
        );
    }
}

/// The route alone, as `idflow run` serves it for an in-memory run:
/// refused until it has a secret, then delivering to the run's inbox.
#[tokio::test]
async fn the_hook_alone_delivers_to_an_in_memory_inbox_once_it_has_a_secret() {
    use idflow_core::{Inbox as _, WaitFor};
    let inbox = idflow_engine::run::MemoryInbox::new();
    let hooks = idflow_server::Hooks::new(Vec::new(), Arc::new(inbox.clone()));
    let router = idflow_server::api::hooks::router(hooks.clone());
    let data = json!({"validation_id": "VLD1", "validation_status": "success"});
    let token = signed(HOOK_SECRET, &webhook("EVT6", "validation.succeeded", &data));

    let response = router.clone().oneshot(hook(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "hook_not_configured");

    hooks.add_secret(WebhookSecret::new(HOOK_SECRET).unwrap());
    let response = router.clone().oneshot(hook(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let received = inbox
        .receive(WaitFor {
            run_id: "run-1",
            step_id: "decision",
            key: "truora:validation:VLD1",
        })
        .await
        .unwrap()
        .expect("the webhook's event was kept for the first wait");
    assert_eq!(
        received.payload,
        json!({"validation_id": "VLD1", "validation_status": "success", "event": "validation.succeeded"})
    );

    hooks.remove_secret(&WebhookSecret::new(HOOK_SECRET).unwrap());
    let response = router.oneshot(hook(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
