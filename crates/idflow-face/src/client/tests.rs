//! The client against a wiremock provider: each endpoint's request shape,
//! and each kind of failure.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::photo::Photo;
use crate::settings::ProviderUrls;

const KEY: &str = "test-api-key-0123456789";

fn client_for(base: &str, options: ClientOptions) -> ProviderClient {
    let settings = ProviderSettings::single_origin(base, KEY).unwrap();
    ProviderClient::new(settings, options).unwrap()
}

fn client(server: &MockServer) -> ProviderClient {
    client_for(&server.uri(), ClientOptions::default())
}

fn enrollment_json() -> serde_json::Value {
    json!({
        "enrollment_id": "ENR123",
        "account_id": "acc-1",
        "validation_type": "face-recognition",
        "status": "pending",
        "reason": "waiting_file_upload",
        "creation_date": "2026-01-02T03:04:05Z",
        "file_upload_link": "http://uploads.example/v1/uploads/n1?expires=9&signature=s1",
    })
}

#[tokio::test]
async fn create_enrollment_posts_the_form_with_the_api_key_and_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/enrollments"))
        .and(header(API_KEY_HEADER, KEY))
        .and(header(IDEMPOTENCY_HEADER, "idf-key-1"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("accept", "application/json"))
        .and(header("user-agent", USER_AGENT))
        .and(body_string(
            "type=face-recognition&user_authorized=true&account_id=acc+1%2Fx",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(enrollment_json()))
        .expect(1)
        .mount(&server)
        .await;
    let request = NewEnrollment {
        kind: EnrollmentType::FaceRecognition,
        account_id: Some("acc 1/x".into()),
        country: None,
        fraud_reason: None,
    };
    let enrollment = client(&server)
        .create_enrollment(&request, Some("idf-key-1"))
        .await
        .unwrap();
    assert_eq!(enrollment.enrollment_id, "ENR123");
    assert_eq!(enrollment.status, "pending");
    assert_eq!(enrollment.reason.as_deref(), Some("waiting_file_upload"));
    assert_eq!(
        enrollment.file_upload_link.unwrap().expose(),
        "http://uploads.example/v1/uploads/n1?expires=9&signature=s1"
    );
}

#[tokio::test]
async fn a_face_search_enrollment_sends_country_and_fraud_reason() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/enrollments"))
        .and(body_string(
            "type=face-search&user_authorized=true&country=CO&fraud_reason=manipulated_photo",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(enrollment_json()))
        .expect(1)
        .mount(&server)
        .await;
    let request = NewEnrollment {
        kind: EnrollmentType::FaceSearch,
        account_id: None,
        country: Some("CO".into()),
        fraud_reason: Some("manipulated_photo".into()),
    };
    client(&server)
        .create_enrollment(&request, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn reads_put_ids_in_the_path_encoded_and_keep_a_base_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/proxy/truora/v1/enrollments/ENR%201%2F..%3F"))
        .and(header(API_KEY_HEADER, KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "enrollment_id": "ENR 1/..?", "status": "success", "account_id": "acc-1",
            "update_date": "2026-01-02T03:04:06Z",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_for(
        &format!("{}/proxy/truora/", server.uri()),
        ClientOptions::default(),
    );
    let enrollment = client.enrollment("ENR 1/..?").await.unwrap();
    assert_eq!(enrollment.status, "success");
    assert_eq!(
        enrollment.update_date.as_deref(),
        Some("2026-01-02T03:04:06Z")
    );
}

#[tokio::test]
async fn validations_are_created_with_repeated_subvalidations_and_read_with_details() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/validations"))
        .and(header(API_KEY_HEADER, KEY))
        .and(header(IDEMPOTENCY_HEADER, "k-2"))
        .and(body_string(
            "type=face-recognition&account_id=acc-1&threshold=0.7&subvalidations=similarity&subvalidations=passive_liveness",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "validation_id": "VLD1", "validation_status": "pending",
            "instructions": {"file_upload_link": "http://up.example/u/2?signature=s2"},
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/validations/VLD1"))
        .and(query_param("show_details", "true"))
        .and(header(API_KEY_HEADER, KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "validation_id": "VLD1", "validation_status": "success",
            "details": {"face_recognition_validations": {"similarity_status": "success", "confidence_score": 0.93}},
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let created = client
        .create_validation(
            &NewValidation {
                account_id: "acc-1".into(),
                threshold: Some(0.7),
                subvalidations: vec!["similarity".into(), "passive_liveness".into()],
            },
            Some("k-2"),
        )
        .await
        .unwrap();
    assert_eq!(
        created.upload_link().unwrap().expose(),
        "http://up.example/u/2?signature=s2"
    );
    let read = client.validation("VLD1").await.unwrap();
    assert_eq!(read.validation_status.as_deref(), Some("success"));
    assert_eq!(read.face().unwrap().confidence_score, Some(0.93));
}

#[tokio::test]
async fn web_tokens_come_from_the_account_host_and_open_the_identity_page() {
    let validations = MockServer::start().await;
    let account = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/api-keys"))
        .and(header(API_KEY_HEADER, KEY))
        .and(body_string(
            "key_type=web&grant=digital-identity&api_key_version=1&country=ALL&account_id=acc-1&redirect_url=https%3A%2F%2Fapp.example%2Fdone",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "api_key": "eyJ.token+/=", "message": "API key created successfully",
        })))
        .expect(1)
        .mount(&account)
        .await;
    let settings = ProviderSettings::new(
        ProviderUrls {
            validations: &validations.uri(),
            account: &account.uri(),
            identity: "https://api.identity.example",
            identity_web: "https://identity.example",
        },
        KEY,
    )
    .unwrap();
    let client = ProviderClient::new(settings, ClientOptions::default()).unwrap();
    let token = client
        .create_web_token(
            &NewWebToken {
                account_id: "acc-1".into(),
                country: "ALL".into(),
                redirect_url: Some("https://app.example/done".into()),
                flow_id: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(token.api_key.expose(), "eyJ.token+/=");
    assert_eq!(
        client.verification_url(&token.api_key).expose(),
        "https://identity.example/?token=eyJ.token%2B%2F%3D"
    );
    assert!(validations.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn process_results_come_from_the_identity_host() {
    let validations = MockServer::start().await;
    let identity = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/processes/IDP%2F1/result"))
        .and(header(API_KEY_HEADER, KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "process_id": "IDP/1", "account_id": "acc-1", "status": "failure",
            "validations": [{
                "validation_id": "VLD1", "validation_status": "failure",
                "declined_reason": "similarity_threshold_not_passed",
                "details": {"face_recognition_validations": {"confidence_score": 0.21}},
            }],
        })))
        .expect(1)
        .mount(&identity)
        .await;
    let settings = ProviderSettings::new(
        ProviderUrls {
            validations: &validations.uri(),
            account: &validations.uri(),
            identity: &identity.uri(),
            identity_web: "https://identity.example",
        },
        KEY,
    )
    .unwrap();
    let client = ProviderClient::new(settings, ClientOptions::default()).unwrap();
    let process = client.process_result("IDP/1").await.unwrap();
    assert_eq!(process.status, "failure");
    assert_eq!(process.reason(), Some("similarity_threshold_not_passed"));
    assert_eq!(process.confidence_score(), Some(0.21));
    // Truora may give the reason at the top.
    let top: Process = serde_json::from_value(json!({
        "process_id": "IDP2", "status": "failure", "declined_reason": "face_in_blocklist",
    }))
    .unwrap();
    assert_eq!(top.reason(), Some("face_in_blocklist"));
    assert_eq!(top.confidence_score(), None);
    assert!(validations.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn uploads_put_raw_bytes_with_the_detected_type_and_no_api_key() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/v1/uploads/n1"))
        .and(query_param("signature", "s1"))
        .and(header("content-type", "image/png"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "pending"})))
        .expect(1)
        .mount(&server)
        .await;
    let bytes = b"\x89PNG\r\n\x1a\n-rest-of-the-image".to_vec();
    let link = Credential::new(format!(
        "{}/v1/uploads/n1?expires=9&signature=s1",
        server.uri()
    ));
    client(&server)
        .upload_photo(&link, &Photo::from_bytes(bytes.clone()))
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body, bytes);
    assert!(requests[0].headers.get(API_KEY_HEADER).is_none());
}

#[tokio::test]
async fn upload_failures_never_show_the_link() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(410).set_body_json(json!({
            "code": 41001, "http_code": 410, "message": "the upload link has expired",
        })))
        .mount(&server)
        .await;
    let link = Credential::new(format!(
        "{}/v1/uploads/n1?expires=9&signature=topsecret",
        server.uri()
    ));
    let error = client(&server)
        .upload_photo(&link, &Photo::from_bytes(vec![0xFF, 0xD8, 0xFF, 1]))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "PUT to the upload link answered HTTP 410: the upload link has expired (provider code 41001)"
    );
    assert!(!error.is_retryable());

    let error = client(&server)
        .upload_photo(
            &Credential::new("ftp://topsecret/x"),
            &Photo::from_bytes(vec![1]),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Build { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("topsecret"));
}

#[tokio::test]
async fn statuses_are_classified_and_keep_the_providers_message() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/enrollments/unauthorized"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": 40102, "http_code": 401, "message": "the API key is not valid",
        })))
        .mount(&server)
        .await;
    Mock::given(path("/v1/enrollments/busy"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after", "12")
                .set_body_string("<html>upstream unavailable</html>"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/v1/enrollments/slow-down"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3"))
        .mount(&server)
        .await;
    let client = client(&server);

    let error = client.enrollment("unauthorized").await.unwrap_err();
    assert_eq!(error.status(), Some(401));
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        format!(
            "GET {}/v1/enrollments/unauthorized answered HTTP 401: the API key is not valid (provider code 40102)",
            server.uri()
        )
    );

    let error = client.enrollment("busy").await.unwrap_err();
    assert!(error.is_retryable() && error.is_ambiguous());
    let step_error = error.to_step_error(&idflow_core::Redactor::new(), false);
    assert_eq!(step_error.code, "http_status");
    assert_eq!(step_error.retry_after, Some(Duration::from_secs(12)));
    assert_eq!(
        step_error.details.unwrap()["body"],
        "<html>upstream unavailable</html>"
    );

    let error = client.enrollment("slow-down").await.unwrap_err();
    assert!(error.is_retryable() && !error.is_ambiguous());
    assert_eq!(
        error
            .to_step_error(&idflow_core::Redactor::new(), true)
            .retry_after,
        Some(Duration::from_secs(3))
    );
}

#[tokio::test]
async fn answers_that_break_the_contract_are_invalid_responses() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/enrollments/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>login</html>"))
        .mount(&server)
        .await;
    Mock::given(path("/v1/enrollments/no-status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"enrollment_id": "E"})))
        .mount(&server)
        .await;
    Mock::given(path("/v1/enrollments/huge"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2048)))
        .mount(&server)
        .await;
    let client = client_for(
        &server.uri(),
        ClientOptions {
            max_response_bytes: 1024,
            ..ClientOptions::default()
        },
    );
    for id in ["html", "no-status"] {
        let error = client.enrollment(id).await.unwrap_err();
        assert!(
            matches!(error, ProviderError::InvalidResponse { status: 200, .. }),
            "{error:?}"
        );
        let step_error = error.to_step_error(&idflow_core::Redactor::new(), false);
        assert_eq!(step_error.code, "invalid_response");
        assert!(!step_error.is_retryable());
    }
    let error = client.enrollment("huge").await.unwrap_err();
    assert_eq!(
        error
            .to_step_error(&idflow_core::Redactor::new(), false)
            .code,
        "response_too_large"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retryable_and_not_ambiguous() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = client_for(&base, ClientOptions::default())
        .enrollment("E1")
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Connect { .. }), "{error:?}");
    assert!(error.is_retryable() && !error.is_ambiguous());
    let step_error = error.to_step_error(&idflow_core::Redactor::new(), true);
    assert_eq!(step_error.code, "connection");
    assert!(step_error.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_retryable_and_ambiguous() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(enrollment_json())
                .set_delay(Duration::from_mins(10)),
        )
        .mount(&server)
        .await;
    let client = client_for(
        &server.uri(),
        ClientOptions {
            request_timeout: Some(Duration::from_secs(5)),
            ..ClientOptions::default()
        },
    );
    let request = NewEnrollment {
        kind: EnrollmentType::FaceRecognition,
        account_id: None,
        country: None,
        fraud_reason: None,
    };
    let error = client
        .create_enrollment(&request, Some("k"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable() && error.is_ambiguous());
    let redactor = idflow_core::Redactor::new();
    assert!(error.to_step_error(&redactor, false).is_retryable());
    let stopped = error.to_step_error(&redactor, true);
    assert_eq!(stopped.code, "timeout");
    assert!(!stopped.is_retryable());
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/enrollments/E1"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "http://elsewhere.example/"),
        )
        .mount(&server)
        .await;
    let error = client(&server).enrollment("E1").await.unwrap_err();
    assert_eq!(error.status(), Some(302));
    assert!(!error.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}
