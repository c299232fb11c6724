//! The shipped face workflows (`workflows/face-enrollment.yaml`,
//! `face-verification.yaml`, `blocklist-report.yaml`) run through the engine
//! against a wiremock provider: every path (success, each failure reason,
//! 401, 500 then success, a timeout, a malformed answer, a status that stays
//! pending), checking the run's status, its `outcome`, which outcome step
//! ran, what the provider received, and that no credential (API key, upload
//! link, web token) appears anywhere in the run result.
//!
//! The clock is paused, so the status gates' polls (1 s doubling to 10 s, 10
//! minutes in all) take no time. A paused clock jumps to the next timer
//! whenever the runtime is idle, also while wiremock (on its own thread) is
//! answering, so the face client runs without timers
//! ([`ClientOptions::without_timers`]); the timeout test arms one on purpose
//! against an answer that never comes in time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use idflow_core::StepRegistry;
use idflow_engine::expr::ExprEngine;
use idflow_engine::run::{RunRequest, Runner};
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_face::{ClientOptions, FaceConnection, ProviderSettings};
use idflow_tests::repo_root;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const API_KEY: &str = "wf-api-key-5f1e2d3c4b";
const LINK_SIGNATURE: &str = "sig-upload-7a6b5c4d3e";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.web-token-sig-9z8y";

fn upload_link(server: &MockServer, nonce: &str) -> String {
    format!(
        "{}/v1/uploads/{nonce}?expires=1900000000&signature={LINK_SIGNATURE}",
        server.uri()
    )
}

fn registry(server: &MockServer, options: ClientOptions) -> StepRegistry {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).expect("core steps");
    let settings = ProviderSettings::single_origin(&server.uri(), API_KEY).expect("settings");
    let connection = FaceConnection::with_options(settings, options).expect("client");
    idflow_face::register(&mut registry, connection).expect("face steps");
    registry
}

/// A folder with a JPEG-looking photo in it (the mock provider does not
/// look at it; the content type is detected from these bytes).
fn photo_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(
        dir.path().join("face.jpg"),
        [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'],
    )
    .expect("photo written");
    dir
}

/// Validates the shipped workflow (no diagnostics allowed), checks the
/// inputs as `idflow run` does, runs it, and returns the run result as
/// JSON after checking that no credential appears in it.
async fn run(file: &str, registry: &StepRegistry, inputs: Value, base_dir: &Path) -> Value {
    let path = repo_root().join("workflows").join(file);
    let text = std::fs::read_to_string(&path).expect("workflow file");
    let validated = validate(
        SourceFile::new(format!("workflows/{file}"), text),
        registry,
        &ExprEngine::new(),
    );
    assert!(
        validated.diagnostics.is_empty(),
        "{file}: {:?}",
        validated.diagnostics
    );
    let workflow = Arc::new(validated.workflow.expect("a valid workflow"));
    let given = inputs.as_object().expect("inputs are an object").clone();
    let inputs = idflow_engine::inputs::resolve(&workflow, &given, base_dir).expect("valid inputs");
    let runner = Runner::new(workflow, registry).expect("runner");
    let result = runner
        .run(
            RunRequest::new(inputs)
                .base_dir(base_dir)
                .run_id("run-face-test"),
        )
        .await;
    let text = serde_json::to_string(&result).expect("result as JSON");
    for secret in [API_KEY, LINK_SIGNATURE, TOKEN, "web-token-sig-9z8y"] {
        assert!(
            !text.contains(secret),
            "the run result shows `{secret}`: {text}"
        );
    }
    serde_json::from_str(&text).expect("result from JSON")
}

/// Runs the shipped workflow `file` with `inputs` against `server`, from a
/// folder holding the photo `face.jpg`, the client without timers.
async fn run_against(server: &MockServer, file: &str, inputs: Value) -> Value {
    run_with_options(server, ClientOptions::without_timers(), file, inputs).await
}

/// [`run_against`] with the client's `options`.
async fn run_with_options(
    server: &MockServer,
    options: ClientOptions,
    file: &str,
    inputs: Value,
) -> Value {
    let registry = registry(server, options);
    let dir = photo_dir();
    run(file, &registry, inputs, dir.path()).await
}

/// Runs `face-enrollment.yaml` for the photo `face.jpg` against `server`.
async fn run_enrollment(server: &MockServer) -> Value {
    run_against(server, "face-enrollment.yaml", json!({"photo": "face.jpg"})).await
}

/// Checks how a run ended: its status and its `outcome` output.
fn assert_ended(result: &Value, status: &str, outcome: &str) {
    assert_eq!(result["status"], status, "{result:#}");
    assert_eq!(result["outputs"]["outcome"], outcome, "{result:#}");
}

fn step<'a>(result: &'a Value, id: &str) -> &'a Value {
    &result["steps"][id]
}

fn statuses(result: &Value) -> Vec<(String, String)> {
    result["steps"]
        .as_object()
        .expect("steps")
        .iter()
        .map(|(id, step)| {
            (
                id.clone(),
                step["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

async fn requests(server: &MockServer, method_name: &str, path_start: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("recording")
        .into_iter()
        .filter(|request| {
            request.method.as_str() == method_name && request.url.path().starts_with(path_start)
        })
        .collect()
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// The form of the first `method_name` request to a path starting with
/// `path_start`.
async fn first_form(
    server: &MockServer,
    method_name: &str,
    path_start: &str,
) -> Vec<(String, String)> {
    let sent = requests(server, method_name, path_start).await;
    form(sent.first().expect("the request was sent"))
}

/// Name/value pairs as owned strings, to compare with forms and step
/// statuses.
fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// The `http_method` requests to `route`.
fn on(http_method: &str, route: &str) -> MockBuilder {
    Mock::given(method(http_method)).and(path(route))
}

/// The `http_method` requests, whatever their path.
fn on_any_path(http_method: &str) -> MockBuilder {
    Mock::given(method(http_method))
}

/// Answers every one of `requests` with `response`.
async fn answer(server: &MockServer, requests: MockBuilder, response: ResponseTemplate) {
    requests.respond_with(response).mount(server).await;
}

/// Answers the first `times` of `requests` with `response`; later ones go
/// to the mocks mounted after it.
async fn answer_first(
    server: &MockServer,
    times: u64,
    requests: MockBuilder,
    response: ResponseTemplate,
) {
    requests
        .respond_with(response)
        .up_to_n_times(times)
        .mount(server)
        .await;
}

/// An answer with a JSON body.
fn json_answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// The provider's error answer: `{code, http_code, message}`.
fn provider_error(http_code: u16, code: u32, message: &str) -> ResponseTemplate {
    json_answer(
        http_code,
        json!({"code": code, "http_code": http_code, "message": message}),
    )
}

/// A provider that answers every POST (the first request of each
/// workflow) with `response`.
async fn provider_answering_posts(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    answer(&server, on_any_path("POST"), response).await;
    server
}

// ---------------------------------------------------------------------------
// face-enrollment.yaml

/// Mounts a provider whose enrollment `ENR1` is pending for `pending_reads`
/// reads, then has `status` and `reason`.
async fn enrollment_provider(pending_reads: u64, status: &str, reason: Option<&str>) -> MockServer {
    let server = MockServer::start().await;
    let link = upload_link(&server, "n1");
    let created = json!({
        "enrollment_id": "ENR1", "account_id": "ACC1", "validation_type": "face-recognition",
        "status": "pending", "reason": "waiting_file_upload",
        "creation_date": "2026-01-02T03:04:05Z", "file_upload_link": link,
    });
    answer(
        &server,
        on("POST", "/v1/enrollments"),
        json_answer(201, created),
    )
    .await;
    answer(
        &server,
        on("PUT", "/v1/uploads/n1"),
        json_answer(200, json!({"status": "pending"})),
    )
    .await;
    mount_enrollment_reads(&server, "ENR1", pending_reads, status, reason).await;
    let token = json!({"api_key": TOKEN, "message": "API key created successfully"});
    answer(&server, on("POST", "/v1/api-keys"), json_answer(201, token)).await;
    server
}

async fn mount_enrollment_reads(
    server: &MockServer,
    id: &str,
    pending_reads: u64,
    status: &str,
    reason: Option<&str>,
) {
    let read = |status: &str, reason: Option<&str>| {
        json_answer(
            200,
            json!({
                "enrollment_id": id, "account_id": "ACC1", "status": status, "reason": reason,
                "creation_date": "2026-01-02T03:04:05Z", "update_date": "2026-01-02T03:04:09Z",
            }),
        )
    };
    let route = format!("/v1/enrollments/{id}");
    if pending_reads > 0 {
        answer_first(
            server,
            pending_reads,
            on("GET", &route),
            read("pending", None),
        )
        .await;
    }
    answer(server, on("GET", &route), read(status, reason)).await;
}

#[tokio::test(start_paused = true)]
async fn enrollment_success_polls_until_processed_and_issues_the_token() {
    let server = enrollment_provider(2, "success", None).await;
    let result = run_enrollment(&server).await;

    assert_ended(&result, "succeeded", "enrolled");
    assert_eq!(result["outputs"]["enrollment_id"], "ENR1");
    assert_eq!(result["outputs"]["account_id"], "ACC1");
    assert_eq!(result["outputs"]["status"], "success");
    // A credential: the run result never shows it.
    assert_eq!(result["outputs"]["verification_url"], "[redacted]");
    assert_eq!(
        result["outputs"]["token_expires_at"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        statuses(&result),
        pairs(&[
            ("enroll", "succeeded"),
            ("upload", "succeeded"),
            ("processed", "succeeded"),
            ("issue_token", "succeeded"),
            ("no_face_detected", "skipped"),
            ("face_in_blocklist", "skipped"),
            ("file_format_not_supported", "skipped"),
            ("enrollment_failed", "skipped"),
        ])
    );
    assert_eq!(
        step(&result, "processed")["attempts"],
        3,
        "two pending reads, then success"
    );
    assert_eq!(
        step(&result, "enroll")["outputs"]["file_upload_link"],
        "[redacted]"
    );
    assert_eq!(
        step(&result, "issue_token")["outputs"]["api_key"],
        "[redacted]"
    );
    assert_eq!(
        step(&result, "upload")["outputs"]["content_type"],
        "image/jpeg"
    );

    // What the provider received.
    let creates = requests(&server, "POST", "/v1/enrollments").await;
    assert_eq!(creates.len(), 1);
    assert_eq!(
        form(&creates[0]),
        pairs(&[("type", "face-recognition"), ("user_authorized", "true")]),
        "no account_id when the input is not given"
    );
    assert_eq!(creates[0].headers["truora-api-key"], API_KEY);
    assert!(
        creates[0].headers["idempotency-key"]
            .to_str()
            .unwrap()
            .starts_with("idf-")
    );
    let uploads = requests(&server, "PUT", "/v1/uploads/n1").await;
    assert_eq!(uploads.len(), 1);
    assert!(uploads[0].headers.get("truora-api-key").is_none());
    assert_eq!(uploads[0].headers["content-type"], "image/jpeg");
    assert_eq!(
        requests(&server, "GET", "/v1/enrollments/ENR1").await.len(),
        3
    );
    let tokens = requests(&server, "POST", "/v1/api-keys").await;
    assert_eq!(tokens.len(), 1);
    let token_form = form(&tokens[0]);
    for field in pairs(&[("account_id", "ACC1"), ("country", "ALL")]) {
        assert!(token_form.contains(&field), "{token_form:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn enrollment_sends_the_given_account_id() {
    let server = enrollment_provider(0, "success", None).await;
    let result = run_against(
        &server,
        "face-enrollment.yaml",
        json!({"photo": "face.jpg", "account_id": "customer-42"}),
    )
    .await;
    assert_eq!(result["status"], "succeeded", "{result:#}");
    let sent = first_form(&server, "POST", "/v1/enrollments").await;
    assert!(
        sent.contains(&("account_id".into(), "customer-42".into())),
        "{sent:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_failure_reason_ends_in_its_own_outcome() {
    for (reason, outcome_step, message) in [
        (
            Some("no_face_detected"),
            "no_face_detected",
            "enrollment ENR1 failed: no face was detected in the photo; ask for a clear, well-lit photo of the face",
        ),
        (
            Some("face_in_blocklist"),
            "face_in_blocklist",
            "enrollment ENR1 failed: the face is on the blocklist",
        ),
        (
            Some("file_format_not_supported"),
            "file_format_not_supported",
            "enrollment ENR1 failed: the photo's format is not supported; send a JPEG, PNG or WebP image",
        ),
        (
            Some("internal_error"),
            "enrollment_failed",
            "enrollment ENR1 failed (reason: internal_error)",
        ),
        (
            None,
            "enrollment_failed",
            "enrollment ENR1 failed (reason: none given)",
        ),
    ] {
        let server = enrollment_provider(1, "failure", reason).await;
        let result = run_enrollment(&server).await;
        assert_eq!(result["status"], "failed", "{reason:?}: {result:#}");
        assert_eq!(result["outputs"]["outcome"], outcome_step, "{reason:?}");
        assert_eq!(result["outputs"]["status"], "failure");
        assert_eq!(result["outputs"]["reason"], json!(reason));
        assert_eq!(result["outputs"]["verification_url"], Value::Null);
        let failed = step(&result, outcome_step);
        assert_eq!(failed["status"], "failed", "{reason:?}");
        assert_eq!(failed["error"]["code"], "failed");
        assert_eq!(failed["error"]["message"], message);
        for (id, status) in statuses(&result) {
            let expected = match id.as_str() {
                "enroll" | "upload" | "processed" => "succeeded",
                id if id == outcome_step => "failed",
                _ => "skipped",
            };
            assert_eq!(status, expected, "{reason:?}: step {id}");
        }
        assert!(requests(&server, "POST", "/v1/api-keys").await.is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_api_key_fails_the_run_at_once_with_the_providers_message() {
    let server =
        provider_answering_posts(provider_error(401, 40102, "the API key is not valid")).await;
    let result = run_enrollment(&server).await;
    assert_ended(&result, "failed", "error");
    let enroll = step(&result, "enroll");
    assert_eq!(enroll["status"], "failed");
    assert_eq!(enroll["attempts"], 1, "a 401 is terminal: not retried");
    assert_eq!(enroll["error"]["code"], "http_status");
    assert_eq!(enroll["error"]["class"], "terminal");
    assert_eq!(
        enroll["error"]["message"],
        format!(
            "POST {}/v1/enrollments answered HTTP 401: the API key is not valid (provider code 40102)",
            server.uri()
        )
    );
    assert_eq!(enroll["error"]["details"]["status"], 401);
    for id in ["upload", "processed", "issue_token", "no_face_detected"] {
        assert_eq!(step(&result, id)["status"], "skipped", "{id}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_500_while_polling_is_retried_and_the_run_succeeds() {
    let server = MockServer::start().await;
    let link = upload_link(&server, "n1");
    let created = json!({
        "enrollment_id": "ENR1", "account_id": "ACC1", "status": "pending",
        "file_upload_link": link,
    });
    answer(
        &server,
        on("POST", "/v1/enrollments"),
        json_answer(201, created),
    )
    .await;
    let busy = ResponseTemplate::new(503).insert_header("retry-after", "2");
    answer_first(&server, 1, on_any_path("PUT"), busy).await;
    answer(&server, on_any_path("PUT"), ResponseTemplate::new(200)).await;
    let broken = provider_error(500, 50001, "internal error");
    answer_first(&server, 1, on_any_path("GET"), broken).await;
    mount_enrollment_reads(&server, "ENR1", 1, "success", None).await;
    answer(
        &server,
        on("POST", "/v1/api-keys"),
        json_answer(201, json!({"api_key": TOKEN})),
    )
    .await;
    let result = run_enrollment(&server).await;
    assert_ended(&result, "succeeded", "enrolled");
    assert_eq!(
        step(&result, "upload")["attempts"],
        2,
        "503, then the upload"
    );
    assert_eq!(
        step(&result, "processed")["attempts"],
        3,
        "500, then pending, then success"
    );
}

#[tokio::test(start_paused = true)]
async fn a_500_on_create_is_ambiguous_and_not_retried() {
    let server = provider_answering_posts(provider_error(500, 50001, "internal error")).await;
    let result = run_enrollment(&server).await;
    assert_ended(&result, "failed", "error");
    let enroll = step(&result, "enroll");
    assert_eq!(
        enroll["attempts"], 1,
        "the step allows 3 attempts, but not after an ambiguous failure"
    );
    assert_eq!(enroll["error"]["class"], "terminal");
    assert_eq!(enroll["error"]["details"]["ambiguous"], true);
    assert!(
        enroll["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry_ambiguous"),
        "{enroll:#}"
    );
    assert_eq!(requests(&server, "POST", "/v1/enrollments").await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_create_that_times_out_is_not_retried() {
    let late = json_answer(201, json!({"enrollment_id": "ENR1", "status": "pending"}))
        .set_delay(Duration::from_mins(10));
    let server = provider_answering_posts(late).await;
    let options = ClientOptions {
        request_timeout: Some(Duration::from_secs(30)),
        ..ClientOptions::without_timers()
    };
    let result = run_with_options(
        &server,
        options,
        "face-enrollment.yaml",
        json!({"photo": "face.jpg"}),
    )
    .await;
    assert_ended(&result, "failed", "error");
    let enroll = step(&result, "enroll");
    assert_eq!(enroll["attempts"], 1);
    assert_eq!(enroll["error"]["code"], "timeout");
    assert_eq!(enroll["error"]["class"], "terminal");
    // The paused clock fires the timeout as soon as the runtime waits, so
    // wiremock may not even have recorded the request; it never sees two.
    assert!(requests(&server, "POST", "/v1/enrollments").await.len() <= 1);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_answer_fails_the_step_without_retrying() {
    let server = MockServer::start().await;
    let link = upload_link(&server, "n1");
    let created = json!({"enrollment_id": "ENR1", "status": "pending", "file_upload_link": link});
    answer(
        &server,
        on("POST", "/v1/enrollments"),
        json_answer(201, created),
    )
    .await;
    answer(&server, on_any_path("PUT"), ResponseTemplate::new(200)).await;
    let login_page = ResponseTemplate::new(200)
        .insert_header("content-type", "text/html")
        .set_body_string("<html><body>Please log in</body></html>");
    answer(&server, on_any_path("GET"), login_page).await;
    let result = run_enrollment(&server).await;
    assert_ended(&result, "failed", "error");
    let processed = step(&result, "processed");
    assert_eq!(processed["attempts"], 1);
    assert_eq!(processed["error"]["code"], "invalid_response");
    assert_eq!(processed["error"]["class"], "terminal");
    assert_eq!(
        processed["error"]["details"]["body"],
        "<html><body>Please log in</body></html>"
    );
}

#[tokio::test(start_paused = true)]
async fn an_enrollment_that_stays_pending_times_out_after_ten_minutes_of_polling() {
    let server = enrollment_provider(u64::MAX, "success", None).await;
    let started = tokio::time::Instant::now();
    let result = run_enrollment(&server).await;
    assert_ended(&result, "failed", "error");
    let processed = step(&result, "processed");
    assert_eq!(processed["error"]["code"], "poll_timeout");
    assert_eq!(processed["outputs"]["status"], "pending");
    // No webhook comes (this run has no inbox): the fallback polls, with
    // waits of 5, 10, 20, then 30 s: 10 minutes of polling.
    assert_eq!(started.elapsed(), Duration::from_mins(10));
    let reads = requests(&server, "GET", "/v1/enrollments/ENR1").await.len();
    assert_eq!(reads, 1 + 3 + (600 - 35) / 30 + 1, "{reads} reads");
}

#[tokio::test(start_paused = true)]
async fn a_missing_photo_is_refused_before_the_run_starts() {
    let server = MockServer::start().await;
    let registry = registry(&server, ClientOptions::without_timers());
    let path = repo_root().join("workflows/face-enrollment.yaml");
    let validated = validate(
        SourceFile::new(
            "face-enrollment.yaml",
            std::fs::read_to_string(path).unwrap(),
        ),
        &registry,
        &ExprEngine::new(),
    );
    let workflow = validated.workflow.unwrap();
    let dir = tempfile::tempdir().expect("temporary folder");
    let given = json!({"photo": "nobody.jpg"}).as_object().unwrap().clone();
    let errors = idflow_engine::inputs::resolve(&workflow, &given, dir.path()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("nobody.jpg"),
        "{}",
        errors[0]
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// face-verification.yaml

async fn verification_provider(status: &str, reason: Option<&str>, score: f64) -> MockServer {
    let server = MockServer::start().await;
    let created = json!({
        "validation_id": "VLD1", "validation_status": "pending",
        "instructions": {"file_upload_link": upload_link(&server, "v1")},
    });
    answer(
        &server,
        on("POST", "/v1/validations"),
        json_answer(201, created),
    )
    .await;
    answer(
        &server,
        on("PUT", "/v1/uploads/v1"),
        ResponseTemplate::new(200),
    )
    .await;
    let pending = json!({"validation_id": "VLD1", "validation_status": "pending"});
    answer_first(
        &server,
        1,
        on("GET", "/v1/validations/VLD1"),
        json_answer(200, pending),
    )
    .await;
    let decided = if status == "failure" {
        json!({"validation_id": "VLD1", "validation_status": status, "declined_reason": reason,
               "details": {"face_recognition_validations": {"similarity_status": status, "confidence_score": score}}})
    } else {
        json!({"validation_id": "VLD1", "validation_status": status,
               "details": {"face_recognition_validations": {"similarity_status": status, "confidence_score": score}}})
    };
    answer(
        &server,
        on("GET", "/v1/validations/VLD1"),
        json_answer(200, decided),
    )
    .await;
    server
}

#[tokio::test(start_paused = true)]
async fn a_matching_selfie_is_verified() {
    let server = verification_provider("success", None, 0.93).await;
    let result = run_against(
        &server,
        "face-verification.yaml",
        json!({"account_id": "ACC1", "selfie": "face.jpg", "threshold": 0.8}),
    )
    .await;
    assert_eq!(result["status"], "succeeded", "{result:#}");
    assert_eq!(
        result["outputs"],
        json!({
            "outcome": "verified",
            "validation_id": "VLD1",
            "validation_status": "success",
            "similarity_status": "success",
            "confidence_score": 0.93,
            "reason": null,
        })
    );
    assert_eq!(step(&result, "not_verified")["status"], "skipped");
    assert_eq!(step(&result, "decision")["attempts"], 2);
    assert_eq!(
        first_form(&server, "POST", "/v1/validations").await,
        pairs(&[
            ("type", "face-recognition"),
            ("account_id", "ACC1"),
            ("threshold", "0.8"),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_selfie_of_someone_else_is_not_verified() {
    let server =
        verification_provider("failure", Some("similarity_threshold_not_passed"), 0.21).await;
    let result = run_against(
        &server,
        "face-verification.yaml",
        json!({"account_id": "ACC1", "selfie": "face.jpg"}),
    )
    .await;
    assert_ended(&result, "failed", "not_verified");
    assert_eq!(
        result["outputs"]["reason"],
        "similarity_threshold_not_passed"
    );
    let failed = step(&result, "not_verified");
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"]["message"],
        "validation VLD1 of account ACC1 was not verified (reason: similarity_threshold_not_passed, confidence score: 0.21)"
    );
    assert!(
        !first_form(&server, "POST", "/v1/validations")
            .await
            .iter()
            .any(|(name, _)| name == "threshold"),
        "no threshold when the input is not given"
    );
}

#[tokio::test(start_paused = true)]
async fn verifying_an_account_that_is_not_enrolled_fails_with_the_providers_message() {
    let server = provider_answering_posts(provider_error(404, 40401, "account not found")).await;
    let result = run_against(
        &server,
        "face-verification.yaml",
        json!({"account_id": "nobody", "selfie": "face.jpg"}),
    )
    .await;
    assert_ended(&result, "failed", "error");
    let validation = step(&result, "validation");
    assert_eq!(validation["attempts"], 1);
    assert!(
        validation["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("answered HTTP 404: account not found (provider code 40401)"),
        "{validation:#}"
    );
}

// ---------------------------------------------------------------------------
// blocklist-report.yaml

#[tokio::test(start_paused = true)]
async fn a_reported_face_is_blocklisted() {
    let server = enrollment_provider(1, "success", None).await;
    let result = run_against(
        &server,
        "blocklist-report.yaml",
        json!({"photo": "face.jpg", "country": "CO"}),
    )
    .await;
    assert_eq!(result["status"], "succeeded", "{result:#}");
    assert_eq!(
        result["outputs"],
        json!({"outcome": "blocklisted", "enrollment_id": "ENR1", "status": "success", "reason": null})
    );
    assert_eq!(
        first_form(&server, "POST", "/v1/enrollments").await,
        pairs(&[
            ("type", "face-search"),
            ("user_authorized", "true"),
            ("country", "CO"),
            ("fraud_reason", "manipulated_photo"),
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_report_the_provider_cannot_process_fails_the_run() {
    let server = enrollment_provider(0, "failure", Some("no_face_detected")).await;
    let result = run_against(
        &server,
        "blocklist-report.yaml",
        json!({"photo": "face.jpg", "country": "MX", "fraud_reason": "non_payment"}),
    )
    .await;
    assert_ended(&result, "failed", "not_blocklisted");
    assert_eq!(
        step(&result, "not_blocklisted")["error"]["message"],
        "blocklist report ENR1 failed (reason: no_face_detected)"
    );
}
