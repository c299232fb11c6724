//! Face decisions with the real engine and real photos: success, the
//! contract's failure reasons, the blocklist, and validations of the same
//! and of another person.

use std::time::Duration;

use idflow_provider::Status;
use idflow_vision::AnalyzeError;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{
    TINY_GIF, TestProvider, assert_error, engine, obama_enrolled, photo, png_bomb,
    two_client_provider, wait_processed,
};

#[tokio::test]
async fn an_enrollment_with_a_face_succeeds() {
    let (_dir, p, key, _) = two_client_provider().await;
    let enrollment = p.enroll(&key, "obama", "obama.jpg").await;
    assert_eq!(enrollment["status"], "success", "{enrollment}");
    assert!(enrollment.get("reason").is_none(), "{enrollment}");
    assert_eq!(enrollment["faces_seen"], 1);
    assert!(enrollment["update_date"].is_string());
    p.stop().await;
}

#[tokio::test]
async fn photos_without_a_usable_face_fail_with_the_contract_reasons() {
    let (_dir, p, key, _) = two_client_provider().await;
    let mut truncated_jpeg = photo("obama.jpg");
    truncated_jpeg.truncate(600);
    let bomb = png_bomb(10_000);
    assert!(
        bomb.len() < 200_000,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    assert!(
        matches!(
            engine().analyze(bomb.clone()).await,
            Err(AnalyzeError::TooLarge { .. })
        ),
        "the engine refuses the bomb by its declared size"
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("coffee", photo("coffee.png"), "no_face_detected"),
        ("cat", photo("chelsea.png"), "no_face_detected"),
        ("gif", TINY_GIF.to_vec(), "file_format_not_supported"),
        (
            "text",
            b"just some text, not an image".to_vec(),
            "file_format_not_supported",
        ),
        ("truncated", truncated_jpeg, "file_format_not_supported"),
        ("bomb", bomb, "file_format_not_supported"),
        ("empty", Vec::new(), "empty_input_file"),
    ];
    for (account, bytes, reason) in cases {
        let (id, link) = p.create_enrollment(&key, account).await;
        let event = p.upload_and_wait(&id, &link, bytes).await;
        assert_eq!(event.status, Status::Failure, "{account}");
        let (status, body) = p.get(&key, &format!("/v1/enrollments/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "failure", "{account}: {body}");
        assert_eq!(body["reason"], reason, "{account}: {body}");
    }
    p.stop().await;
}

async fn blocklist(p: &TestProvider, key: &str, account: &str, photo_name: &str) -> Value {
    let (status, created) = p
        .post_form(
            key,
            "/v1/enrollments",
            &[
                ("type", "face-search"),
                ("user_authorized", "true"),
                ("account_id", account),
                ("country", "co"),
                ("fraud_reason", "manipulated_photo"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["validation_type"], "face-search");
    assert_eq!(created["country"], "CO");
    let id = created["enrollment_id"].as_str().unwrap();
    let link = created["file_upload_link"].as_str().unwrap();
    p.upload_and_wait(id, link, photo(photo_name)).await;
    let (_, body) = p.get(key, &format!("/v1/enrollments/{id}")).await;
    body
}

#[tokio::test]
async fn a_blocklisted_face_fails_enrollments_and_validations_of_that_client_only() {
    let (_dir, p, key_a, key_b) = two_client_provider().await;
    let blocked = blocklist(&p, &key_a, "fraud-1", "obama.jpg").await;
    assert_eq!(blocked["status"], "success", "{blocked}");

    // Another photo of the blocklisted person.
    let enrollment = p.enroll(&key_a, "user-1", "obama2.jpg").await;
    assert_eq!(enrollment["status"], "failure", "{enrollment}");
    assert_eq!(enrollment["reason"], "face_in_blocklist");

    // Someone else enrolls fine; a validation showing the blocklisted face fails.
    let biden = p.enroll(&key_a, "user-2", "biden.jpg").await;
    assert_eq!(biden["status"], "success", "{biden}");
    let validation = validate(&p, &key_a, "user-2", "obama3.jpg", &[]).await;
    assert_eq!(validation["validation_status"], "failure", "{validation}");
    assert_eq!(validation["declined_reason"], "face_in_blocklist");

    // Client B's enrollments are not checked against A's blocklist.
    let enrollment_b = p.enroll(&key_b, "user-1", "obama2.jpg").await;
    assert_eq!(enrollment_b["status"], "success", "{enrollment_b}");
    p.stop().await;
}

/// Creates a validation for `account`, uploads `photo_name`, waits, and
/// returns it with details.
async fn validate(
    p: &TestProvider,
    key: &str,
    account: &str,
    photo_name: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut fields = vec![
        ("type", "face-recognition"),
        ("account_id", account),
        ("subvalidations", "similarity"),
    ];
    fields.extend_from_slice(extra);
    let (status, created) = p.post_form(key, "/v1/validations", &fields, None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["validation_status"], "pending");
    let id = created["validation_id"].as_str().unwrap();
    assert!(id.starts_with("VLD"));
    let link = created["instructions"]["file_upload_link"]
        .as_str()
        .unwrap();
    p.upload_and_wait(id, link, photo(photo_name)).await;
    let (status, body) = p
        .get(key, &format!("/v1/validations/{id}?show_details=true"))
        .await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn score(validation: &Value) -> f64 {
    validation["details"]["face_recognition_validations"]["confidence_score"]
        .as_f64()
        .unwrap_or_else(|| panic!("no confidence_score: {validation}"))
}

#[tokio::test]
async fn validations_accept_the_same_person_and_decline_another() {
    let (_dir, p, key, key_b) = two_client_provider().await;
    let enrollment = p.enroll(&key, "obama", "obama.jpg").await;
    assert_eq!(enrollment["status"], "success");

    for same in ["obama2.jpg", "obama3.jpg"] {
        let validation = validate(&p, &key, "obama", same, &[]).await;
        assert_eq!(
            validation["validation_status"], "success",
            "{same}: {validation}"
        );
        assert_eq!(
            validation["details"]["face_recognition_validations"]["similarity_status"],
            "success"
        );
        assert!(
            (validation["threshold"].as_f64().unwrap() - 0.65).abs() < 1e-6,
            "{validation}"
        );
        println!(
            "same person ({same} vs obama.jpg): confidence {}",
            score(&validation)
        );
        assert!(score(&validation) >= 0.65);
    }

    let other = validate(&p, &key, "obama", "biden.jpg", &[]).await;
    assert_eq!(other["validation_status"], "failure", "{other}");
    assert_eq!(other["declined_reason"], "similarity_threshold_not_passed");
    assert_eq!(
        other["details"]["face_recognition_validations"]["similarity_status"],
        "failure"
    );
    println!(
        "other person (biden.jpg vs obama.jpg): confidence {}",
        score(&other)
    );
    assert!(score(&other) < 0.65);

    // A threshold above the same-person score declines it.
    let strict = validate(&p, &key, "obama", "obama2.jpg", &[("threshold", "0.9999")]).await;
    assert_eq!(strict["validation_status"], "failure", "{strict}");
    assert_eq!(strict["declined_reason"], "similarity_threshold_not_passed");

    // A photo without a face.
    let no_face = validate(&p, &key, "obama", "coffee.png", &[]).await;
    assert_eq!(no_face["declined_reason"], "no_face_detected", "{no_face}");

    // Without show_details, no details; another client cannot read it.
    let id = other["validation_id"].as_str().unwrap();
    let (_, plain) = p.get(&key, &format!("/v1/validations/{id}")).await;
    assert!(plain.get("details").is_none(), "{plain}");
    let (status, body) = p.get(&key_b, &format!("/v1/validations/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    p.stop().await;
}

#[tokio::test]
async fn a_validation_whose_photo_never_comes_expires() {
    let (_dir, p, key, _) = obama_enrolled().await;
    let (status, created) = p
        .post_form(
            &key,
            "/v1/validations",
            &[
                ("type", "face-recognition"),
                ("account_id", "obama"),
                ("timeout", "60"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["validation_id"].as_str().unwrap();
    let link = created["instructions"]["file_upload_link"]
        .as_str()
        .unwrap();
    let (_, pending) = p.get(&key, &format!("/v1/validations/{id}")).await;
    assert_eq!(pending["validation_status"], "pending");
    assert_eq!(pending["reason"], "waiting_file_upload");

    p.clock.advance(Duration::from_mins(1));
    let (_, expired) = p.get(&key, &format!("/v1/validations/{id}")).await;
    assert_eq!(expired["validation_status"], "failure", "{expired}");
    assert_eq!(expired["declined_reason"], "validation_expired");
    let (status, body) = p.upload(link, photo("obama2.jpg"), "image/jpeg").await;
    assert_error(status, &body, StatusCode::GONE, None);
    p.stop().await;
}

/// Issue 17: an enrollment whose upload link expired stayed `pending`
/// forever, so status gates waited until their own timeout. Once the link
/// has expired unused, the enrollment fails with `upload_link_expired`
/// (read alone or with its account), and the link answers 410.
#[tokio::test]
async fn an_enrollment_whose_photo_never_comes_fails_when_its_link_expires() {
    let (_dir, p, key, key_b) = two_client_provider().await;
    let (id, link) = p.create_enrollment(&key, "late").await;
    let (other_id, _) = p.create_enrollment(&key, "late").await;
    // Just before the link expires: still waiting.
    p.clock.advance(
        idflow_provider::DEFAULT_UPLOAD_LINK_TTL
            .checked_sub(Duration::from_secs(1))
            .unwrap(),
    );
    let (_, pending) = p.get(&key, &format!("/v1/enrollments/{id}")).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["reason"], "waiting_file_upload");

    p.clock.advance(Duration::from_secs(1));
    let mut events = p.subscribe();
    let (_, ended) = p.get(&key, &format!("/v1/enrollments/{id}")).await;
    assert_eq!(ended["status"], "failure", "{ended}");
    assert_eq!(ended["reason"], "upload_link_expired");
    assert!(ended["update_date"].is_string(), "{ended}");
    let event = wait_processed(&mut events, &id).await;
    assert_eq!(event.reason.as_deref(), Some("upload_link_expired"));
    // Another client reading the id changes nothing and learns nothing.
    let (status, body) = p.get(&key_b, &format!("/v1/enrollments/{other_id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    // The account's list ends the other one too.
    let (_, account) = p.get(&key, "/v1/accounts/late/enrollments").await;
    for enrollment in account["enrollments"].as_array().unwrap() {
        assert_eq!(enrollment["status"], "failure", "{enrollment}");
        assert_eq!(enrollment["reason"], "upload_link_expired");
    }
    let (status, body) = p.upload(&link, photo("obama.jpg"), "image/jpeg").await;
    assert_error(status, &body, StatusCode::GONE, None);
    p.stop().await;
}
