//! The step types against a wiremock provider: inputs checked before any
//! request, the Idempotency-Key across attempts, ambiguous failures,
//! credentials kept out of everything a person sees, and the waits for the
//! provider's webhooks in a run's inbox ([`RecordingInbox`]).

use std::sync::Arc;

use idflow_core::{Redactor, Step, StepContext, StepRegistry};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::client::{API_KEY_HEADER, ClientOptions, IDEMPOTENCY_HEADER};
use crate::{FaceConnection, ProviderSettings};

const KEY: &str = "step-test-api-key-42";

fn registry(connection: FaceConnection) -> StepRegistry {
    let mut registry = StepRegistry::new();
    crate::register(&mut registry, connection).unwrap();
    registry
}

fn connected(server: &MockServer) -> StepRegistry {
    let settings = ProviderSettings::single_origin(&server.uri(), KEY).unwrap();
    registry(FaceConnection::with_options(settings, ClientOptions::default()).unwrap())
}

fn step(registry: &StepRegistry, name: &str) -> Arc<dyn Step> {
    Arc::clone(registry.get(name).unwrap())
}

fn ctx(attempt: u32, redactor: &Redactor) -> StepContext {
    StepContext::new("run-1", "enroll", attempt).with_redactor(redactor.clone())
}

fn created(link: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "enrollment_id": "ENR1", "account_id": "ACC1", "status": "pending",
        "reason": "waiting_file_upload", "creation_date": "2026-01-02T03:04:05Z",
        "file_upload_link": link,
    }))
}

#[test]
fn every_step_type_is_registered_and_documents_its_inputs() {
    let registry = registry(FaceConnection::unconfigured());
    assert_eq!(
        registry.names().collect::<Vec<_>>(),
        [
            "face.await_enrollment",
            "face.await_validation",
            "face.await_verification",
            "face.create_enrollment",
            "face.create_validation",
            "face.get_enrollment",
            "face.issue_token",
            "face.upload_photo",
        ]
    );
    for (name, step) in registry.iter() {
        let metadata = step.metadata();
        assert_eq!(
            metadata.input_schema["additionalProperties"], false,
            "{name}"
        );
        for (key, property) in metadata.input_schema["properties"].as_object().unwrap() {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name}.{key}"
            );
        }
        assert!(!metadata.outputs.is_empty(), "{name}");
    }
    let sensitive: Vec<(String, String)> = registry
        .iter()
        .flat_map(|(name, step)| {
            step.metadata()
                .outputs
                .iter()
                .filter(|output| output.sensitive)
                .map(|output| (name.to_owned(), output.name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        sensitive,
        [
            ("face.create_enrollment".into(), "file_upload_link".into()),
            ("face.create_validation".into(), "file_upload_link".into()),
            ("face.issue_token".into(), "api_key".into()),
            ("face.issue_token".into(), "verification_url".into()),
        ]
    );
}

#[test]
fn the_await_steps_have_default_gates_and_get_enrollment_has_none() {
    let registry = registry(FaceConnection::unconfigured());
    let enrollment = registry.metadata("face.await_enrollment").unwrap();
    assert_eq!(
        enrollment.default_until.as_deref(),
        Some("outputs.status != 'pending'")
    );
    let poll = enrollment.default_poll.unwrap();
    // Polling is the fallback of the webhook's wake-up: slow.
    assert_eq!(poll.interval, std::time::Duration::from_secs(5));
    assert!((poll.backoff_factor - 2.0).abs() < f64::EPSILON);
    assert_eq!(poll.max_interval, std::time::Duration::from_secs(30));
    assert_eq!(poll.timeout, std::time::Duration::from_mins(10));
    let validation = registry.metadata("face.await_validation").unwrap();
    assert_eq!(
        validation.default_until.as_deref(),
        Some("outputs.validation_status != 'pending'")
    );
    assert_eq!(validation.default_poll, Some(poll));
    assert!(
        registry
            .metadata("face.get_enrollment")
            .unwrap()
            .default_until
            .is_none()
    );
    // `user_authorized: false` is refused by the schema, before any run.
    let schema = &registry
        .metadata("face.create_enrollment")
        .unwrap()
        .input_schema;
    assert_eq!(schema["properties"]["user_authorized"]["const"], true);
}

#[tokio::test]
async fn an_unconfigured_connection_fails_clearly_and_terminally() {
    let registry = registry(FaceConnection::unconfigured());
    let error = step(&registry, "face.get_enrollment")
        .run(&ctx(1, &Redactor::new()), json!({"enrollment_id": "E1"}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "provider_not_configured");
    assert!(!error.is_retryable());
    assert!(
        error.message.contains("TRUORA_API_KEY"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn create_enrollment_sends_one_idempotency_key_for_every_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/enrollments"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let link = format!("{}/v1/uploads/n1?signature=s3cr3t-sig", server.uri());
    Mock::given(method("POST"))
        .and(path("/v1/enrollments"))
        .respond_with(created(&link))
        .mount(&server)
        .await;
    let registry = connected(&server);
    let create = step(&registry, "face.create_enrollment");
    let redactor = Redactor::new();
    let with = json!({"user_authorized": true, "account_id": "acc-7", "retry_ambiguous": true});

    let first = create
        .run(&ctx(1, &redactor), with.clone())
        .await
        .unwrap_err();
    assert!(first.is_retryable(), "{first:?}");
    let outputs = create.run(&ctx(2, &redactor), with.clone()).await.unwrap();
    assert_eq!(outputs["enrollment_id"], "ENR1");
    assert_eq!(outputs["account_id"], "ACC1");
    assert_eq!(outputs["status"], "pending");
    assert_eq!(outputs["reason"], "waiting_file_upload");
    assert_eq!(outputs["file_upload_link"], link.as_str());
    assert_eq!(outputs["creation_date"], "2026-01-02T03:04:05Z");

    let requests = server.received_requests().await.unwrap();
    let keys: Vec<&str> = requests
        .iter()
        .map(|request| request.headers[IDEMPOTENCY_HEADER].to_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the key is the same on every attempt");
    assert_eq!(
        keys[0],
        StepContext::new("run-1", "enroll", 9).idempotency_key(&json!([
            ["type", "face-recognition"],
            ["user_authorized", "true"],
            ["account_id", "acc-7"]
        ]))
    );
    // Another run gets another key.
    create
        .run(
            &StepContext::new("run-2", "enroll", 1).with_redactor(redactor.clone()),
            with,
        )
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_ne!(
        requests[2].headers[IDEMPOTENCY_HEADER].to_str().unwrap(),
        keys[0]
    );

    // The credentials are known to the run's redactor.
    assert_eq!(
        redactor.redact(&format!("{KEY} {link}")),
        "[redacted] [redacted]"
    );
}

#[tokio::test]
async fn an_ambiguous_create_failure_is_terminal_unless_the_workflow_allows_a_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "code": 50001, "http_code": 500, "message": "internal error",
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let registry = connected(&server);
    let create = step(&registry, "face.create_enrollment");
    let redactor = Redactor::new();
    let error = create
        .run(&ctx(1, &redactor), json!({"user_authorized": true}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "http_status");
    assert!(!error.is_retryable());
    assert!(
        error.message.contains("may have carried it out")
            && error.message.contains("retry_ambiguous"),
        "{}",
        error.message
    );
    assert_eq!(error.details.as_ref().unwrap()["ambiguous"], true);
    assert_eq!(error.details.as_ref().unwrap()["provider_code"], 50001);

    let error = create
        .run(
            &ctx(1, &redactor),
            json!({"user_authorized": true, "retry_ambiguous": true}),
        )
        .await
        .unwrap_err();
    assert!(error.is_retryable());

    // Reads are safe to repeat: a 5xx is simply retryable.
    let error = step(&registry, "face.await_enrollment")
        .run(&ctx(1, &redactor), json!({"enrollment_id": "ENR1"}))
        .await
        .unwrap_err();
    assert!(error.is_retryable());
}

#[tokio::test]
async fn create_enrollment_refuses_bad_input_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created("http://x/"))
        .expect(0)
        .mount(&server)
        .await;
    let registry = connected(&server);
    let create = step(&registry, "face.create_enrollment");
    for (with, expected) in [
        (json!({"user_authorized": false}), "must consent"),
        (json!({}), "user_authorized"),
        (
            json!({"user_authorized": true, "type": "face-search", "country": "CO"}),
            "needs `country`",
        ),
        (
            json!({"user_authorized": true, "country": "CO"}),
            "for `type: face-search`",
        ),
        (
            json!({"user_authorized": true, "type": "face-lookup"}),
            "unknown variant",
        ),
    ] {
        let error = create
            .run(&ctx(1, &Redactor::new()), with.clone())
            .await
            .unwrap_err();
        assert_eq!(error.code, "invalid_input", "{with}");
        assert!(
            error.message.contains(expected),
            "{with}: {}",
            error.message
        );
    }
}

#[tokio::test]
async fn upload_refuses_a_missing_photo_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let registry = connected(&server);
    let dir = tempfile::tempdir().unwrap();
    let redactor = Redactor::new();
    let link = format!("{}/v1/uploads/n1?signature=link-secret", server.uri());
    let error = step(&registry, "face.upload_photo")
        .run(
            &ctx(1, &redactor).with_base_dir(dir.path()),
            json!({"file_upload_link": link, "photo": "missing.jpg"}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, "photo_not_found");
    assert!(!error.is_retryable());
    assert_eq!(error.message, "the photo `missing.jpg` does not exist");
    assert_eq!(redactor.redact(&link), "[redacted]");
}

#[tokio::test]
async fn upload_sends_the_photo_from_the_base_folder_without_the_api_key() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/v1/uploads/n1"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let registry = connected(&server);
    let dir = tempfile::tempdir().unwrap();
    let webp = b"RIFF\x10\0\0\0WEBPVP8 \x04\0\0\0abcd".to_vec();
    std::fs::write(dir.path().join("selfie.jpg"), &webp).unwrap();
    let outputs = step(&registry, "face.upload_photo")
        .run(
            &ctx(1, &Redactor::new()).with_base_dir(dir.path()),
            json!({
                "file_upload_link": format!("{}/v1/uploads/n1?signature=s", server.uri()),
                "photo": "selfie.jpg",
            }),
        )
        .await
        .unwrap();
    assert_eq!(outputs["bytes"], webp.len());
    assert_eq!(outputs["content_type"], "image/webp");
    let request = &server.received_requests().await.unwrap()[0];
    assert!(request.headers.get(API_KEY_HEADER).is_none());
    assert_eq!(request.headers["content-type"], "image/webp");
    assert_eq!(request.body, webp);
}

#[tokio::test]
async fn issue_token_outputs_the_page_url_and_keeps_both_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/api-keys"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "api_key": "web-token-abc.def.ghi", "message": "API key created successfully",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let registry = connected(&server);
    let redactor = Redactor::new();
    let outputs = step(&registry, "face.issue_token")
        .run(
            &ctx(1, &redactor),
            json!({"account_id": "ACC1", "country": "co"}),
        )
        .await
        .unwrap();
    assert_eq!(outputs["api_key"], "web-token-abc.def.ghi");
    assert_eq!(
        outputs["verification_url"],
        format!("{}/?token=web-token-abc.def.ghi", server.uri())
    );
    assert_eq!(outputs["expires_at"], serde_json::Value::Null);
    assert_eq!(
        redactor.redact(&serde_json::Value::Object(outputs).to_string()),
        r#"{"api_key":"[redacted]","verification_url":"[redacted]","expires_at":null}"#
    );
    let request = &server.received_requests().await.unwrap()[0];
    let body = String::from_utf8(request.body.clone()).unwrap();
    assert!(body.contains("country=CO&account_id=ACC1"), "{body}");
    assert!(request.headers.get(IDEMPOTENCY_HEADER).is_some());
}

#[tokio::test]
async fn validations_map_the_providers_fields_to_outputs() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/validations"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "validation_id": "VLD9", "validation_status": "pending",
            "instructions": {"file_upload_link": "http://up.example/v/9?signature=vs"},
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/validations/VLD9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "validation_id": "VLD9", "validation_status": "failure",
            "declined_reason": "similarity_threshold_not_passed",
            "details": {"face_recognition_validations": {"similarity_status": "failure", "confidence_score": 0.41}},
        })))
        .mount(&server)
        .await;
    let registry = connected(&server);
    let redactor = Redactor::new();
    let created = step(&registry, "face.create_validation")
        .run(
            &ctx(1, &redactor),
            json!({"account_id": "ACC1", "threshold": 0.8, "subvalidations": ["similarity"]}),
        )
        .await
        .unwrap();
    assert_eq!(created["validation_id"], "VLD9");
    assert_eq!(
        redactor.redact(created["file_upload_link"].as_str().unwrap()),
        "[redacted]"
    );
    let decided = step(&registry, "face.await_validation")
        .run(&ctx(1, &redactor), json!({"validation_id": "VLD9"}))
        .await
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(decided),
        json!({
            "validation_status": "failure",
            "similarity_status": "failure",
            "confidence_score": 0.41,
            "reason": "similarity_threshold_not_passed",
        })
    );
    let error = step(&registry, "face.create_validation")
        .run(
            &ctx(1, &redactor),
            json!({"account_id": "ACC1", "threshold": 1.5}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, "invalid_input");
}

#[tokio::test]
async fn provider_messages_are_redacted_in_step_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": 40102, "http_code": 401,
            "message": format!("the API key {KEY} is not valid"),
        })))
        .mount(&server)
        .await;
    let registry = connected(&server);
    let error = step(&registry, "face.get_enrollment")
        .run(&ctx(1, &Redactor::new()), json!({"enrollment_id": "ENR1"}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "http_status");
    assert!(!error.is_retryable());
    let shown = serde_json::to_string(&error).unwrap();
    assert!(!shown.contains(KEY), "{shown}");
    assert!(
        shown.contains("the API key [redacted] is not valid"),
        "{shown}"
    );
}

/// An inbox that records the waits asked for, answering `answer` (which
/// [`RecordingInbox::send`] changes to an event).
struct RecordingInbox {
    waits: std::sync::Mutex<Vec<(String, String, String)>>,
    answer: std::sync::Mutex<Result<Option<idflow_core::ReceivedEvent>, idflow_core::StepError>>,
}

impl RecordingInbox {
    /// From now on, answers an event with `payload`.
    fn send(&self, payload: serde_json::Value) {
        *self.answer.lock().unwrap() = Ok(Some(idflow_core::ReceivedEvent {
            payload,
            received_at: "2026-12-01T20:00:00Z".to_owned(),
        }));
    }
}

#[async_trait::async_trait]
impl idflow_core::Inbox for RecordingInbox {
    async fn receive(
        &self,
        wait: idflow_core::WaitFor<'_>,
    ) -> Result<Option<idflow_core::ReceivedEvent>, idflow_core::StepError> {
        self.waits.lock().unwrap().push((
            wait.run_id.to_owned(),
            wait.step_id.to_owned(),
            wait.key.to_owned(),
        ));
        self.answer.lock().unwrap().clone()
    }
}

fn recording(
    answer: Result<Option<idflow_core::ReceivedEvent>, idflow_core::StepError>,
) -> Arc<RecordingInbox> {
    Arc::new(RecordingInbox {
        waits: std::sync::Mutex::new(Vec::new()),
        answer: std::sync::Mutex::new(answer),
    })
}

/// The gates register their wait for the provider's webhook (under the
/// documented keys) on every attempt before reading the status; a plain
/// read does not; an inbox that fails costs only the wake-up.
#[tokio::test]
async fn the_gates_wait_for_their_webhook_and_still_read_the_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/enrollments/ENR1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "enrollment_id": "ENR1", "account_id": "ACC1", "status": "success",
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/validations/VLD1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "validation_id": "VLD1", "validation_status": "pending",
        })))
        .mount(&server)
        .await;
    let registry = connected(&server);
    let redactor = Redactor::new();
    let inbox = recording(Ok(None));
    let with_inbox = |attempt| {
        ctx(attempt, &redactor).with_inbox(Arc::clone(&inbox) as Arc<dyn idflow_core::Inbox>)
    };
    for attempt in [1, 2] {
        let read = step(&registry, "face.await_enrollment")
            .run(&with_inbox(attempt), json!({"enrollment_id": " ENR1 "}))
            .await
            .unwrap();
        assert_eq!(read["status"], "success");
    }
    step(&registry, "face.get_enrollment")
        .run(&with_inbox(1), json!({"enrollment_id": "ENR1"}))
        .await
        .unwrap();
    let read = step(&registry, "face.await_validation")
        .run(&with_inbox(1), json!({"validation_id": "VLD1"}))
        .await
        .unwrap();
    assert_eq!(read["validation_status"], "pending");
    let wait = |key: &str| ("run-1".to_owned(), "enroll".to_owned(), key.to_owned());
    assert_eq!(
        *inbox.waits.lock().unwrap(),
        [
            wait("truora:enrollment:ENR1"),
            wait("truora:enrollment:ENR1"),
            wait("truora:validation:VLD1"),
        ]
    );

    // Without an inbox the gate just polls; a failing inbox changes nothing.
    let failing = recording(Err(idflow_core::StepError::retryable(
        "inbox",
        "store down",
    )));
    for ctx in [
        ctx(1, &redactor),
        ctx(1, &redactor).with_inbox(Arc::clone(&failing) as Arc<dyn idflow_core::Inbox>),
    ] {
        let read = step(&registry, "face.await_enrollment")
            .run(&ctx, json!({"enrollment_id": "ENR1"}))
            .await
            .unwrap();
        assert_eq!(read["status"], "success");
    }
    assert_eq!(failing.waits.lock().unwrap().len(), 1);
}

/// A process as the embedded provider shows it.
fn process(status: &str, declined_reason: Option<&str>, score: f64) -> serde_json::Value {
    let mut validation = json!({
        "validation_id": "VLD1", "type": "face-recognition", "validation_status": status,
        "threshold": 0.65,
        "details": {"face_recognition_validations": {"similarity_status": status, "confidence_score": score}},
    });
    if let Some(reason) = declined_reason {
        validation["declined_reason"] = reason.into();
    }
    json!({
        "process_id": "IDP1", "account_id": "ACC1", "status": status,
        "creation_date": "2026-12-01T19:59:58Z", "validations": [validation],
    })
}

#[test]
fn await_verification_waits_24_hours_by_its_timeout_input_and_polls_slowly() {
    let registry = registry(FaceConnection::unconfigured());
    let metadata = registry.metadata("face.await_verification").unwrap();
    assert_eq!(
        metadata.default_until.as_deref(),
        Some("outputs.status != 'pending'")
    );
    let poll = metadata.default_poll.unwrap();
    assert_eq!(poll.interval, std::time::Duration::from_mins(1));
    assert_eq!(poll.max_interval, std::time::Duration::from_mins(10));
    assert_eq!(poll.timeout, std::time::Duration::from_hours(24));
    let deadline = metadata.gate_deadline.as_ref().unwrap();
    assert_eq!(
        (deadline.input.as_str(), deadline.code.as_str()),
        ("timeout", "verification_timeout")
    );
    assert!(metadata.input_schema["properties"]["timeout"].is_object());
    assert!(metadata.repeatable);
}

#[tokio::test]
async fn await_verification_waits_for_the_accounts_event_then_reads_the_process() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/processes/IDP1/result"))
        .and(wiremock::matchers::header(API_KEY_HEADER, KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(process("success", None, 0.9731)))
        .expect(1)
        .mount(&server)
        .await;
    let registry = connected(&server);
    let wait = step(&registry, "face.await_verification");
    let inbox = recording(Ok(None));
    let ctx = |attempt| {
        StepContext::new("run-1", "verified", attempt)
            .with_inbox(Arc::clone(&inbox) as Arc<dyn idflow_core::Inbox>)
    };
    let with = json!({"account_id": "ACC1", "timeout": "2h"});

    // Nobody came yet: pending, and the provider is not asked.
    let outputs = wait.run(&ctx(1), with.clone()).await.unwrap();
    assert_eq!(
        serde_json::Value::Object(outputs.into_iter().collect()),
        json!({"status": "pending", "reason": null, "process_id": null, "confidence_score": null})
    );
    assert!(server.received_requests().await.unwrap().is_empty());

    // The webhook came: its process is read from the provider.
    inbox.send(json!({"event": "process.succeeded", "process_id": "IDP1", "status": "success"}));
    let outputs = wait.run(&ctx(2), with).await.unwrap();
    assert_eq!(outputs["status"], "success");
    assert_eq!(outputs["process_id"], "IDP1");
    assert_eq!(outputs["confidence_score"], 0.9731);
    assert_eq!(outputs["reason"], serde_json::Value::Null);
    assert_eq!(
        *inbox.waits.lock().unwrap(),
        [
            (
                "run-1".into(),
                "verified".into(),
                "truora:account:ACC1:process".into()
            ),
            (
                "run-1".into(),
                "verified".into(),
                "truora:account:ACC1:process".into()
            ),
        ]
    );
}

#[tokio::test]
async fn await_verification_of_a_known_process_reads_it_with_or_without_an_inbox() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/processes/IDP1/result"))
        .respond_with(ResponseTemplate::new(200).set_body_json(process(
            "failure",
            Some("similarity_threshold_not_passed"),
            0.12,
        )))
        .mount(&server)
        .await;
    let registry = connected(&server);
    let wait = step(&registry, "face.await_verification");
    let with = json!({"account_id": "ACC1", "process_id": " IDP1 "});
    let outputs = wait
        .run(&ctx(1, &Redactor::new()), with.clone())
        .await
        .unwrap();
    assert_eq!(outputs["status"], "failure");
    assert_eq!(outputs["reason"], "similarity_threshold_not_passed");
    assert_eq!(outputs["confidence_score"], 0.12);

    // With an inbox, the wait is on the process's own key.
    let inbox = recording(Ok(None));
    let outputs = wait
        .run(
            &ctx(1, &Redactor::new()).with_inbox(Arc::clone(&inbox) as Arc<dyn idflow_core::Inbox>),
            with,
        )
        .await
        .unwrap();
    assert_eq!(outputs["status"], "failure");
    assert_eq!(inbox.waits.lock().unwrap()[0].2, "truora:process:IDP1");
}

#[tokio::test]
async fn await_verification_says_what_it_lacks_and_refuses_an_event_without_a_process() {
    let server = MockServer::start().await;
    let registry = connected(&server);
    let wait = step(&registry, "face.await_verification");
    let redactor = Redactor::new();

    let error = wait
        .run(
            &ctx(1, &redactor),
            json!({"account_id": " ", "process_id": ""}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, "invalid_input");
    assert!(error.message.contains("`account_id`"), "{}", error.message);

    let error = wait
        .run(&ctx(1, &redactor), json!({"account_id": "ACC1"}))
        .await
        .unwrap_err();
    assert_eq!(error.code, "no_inbox");
    assert!(!error.is_retryable());
    assert!(error.message.contains("process_id"), "{}", error.message);

    let inbox = recording(Ok(None));
    inbox.send(json!({"status": "success"}));
    let error = wait
        .run(
            &ctx(1, &redactor).with_inbox(inbox as Arc<dyn idflow_core::Inbox>),
            json!({"account_id": "ACC1"}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code, "invalid_event");
    assert!(!error.is_retryable());
    assert!(
        error.message.contains("truora:account:ACC1:process"),
        "{}",
        error.message
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
