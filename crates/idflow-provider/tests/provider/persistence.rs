//! Everything survives a restart on the same data directory: clients,
//! enrollments, the blocklist, pending validations and their upload links,
//! web tokens, idempotency records and webhooks.

use idflow_provider::{DATABASE_FILE, ManualClock, SECRET_FILE};
use reqwest::StatusCode;

use crate::support::{TestProvider, new_client, photo};

#[tokio::test]
async fn records_links_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let key = new_client(dir.path(), "client-a").await;

    let first = TestProvider::start(dir.path(), &clock).await;
    let enrolled = first.enroll(&key, "obama", "obama.jpg").await;
    assert_eq!(enrolled["status"], "success");
    let enrollment_id = enrolled["enrollment_id"].as_str().unwrap().to_owned();

    // Blocklist biden.
    let (status, blocked) = first
        .post_form(
            &key,
            "/v1/enrollments",
            &[
                ("type", "face-search"),
                ("user_authorized", "true"),
                ("country", "MX"),
                ("fraud_reason", "non_payment"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    first
        .upload_and_wait(
            blocked["enrollment_id"].as_str().unwrap(),
            blocked["file_upload_link"].as_str().unwrap(),
            photo("biden.jpg"),
        )
        .await;

    // A validation waiting for its photo, created with an idempotency key.
    let validation_fields = [("type", "face-recognition"), ("account_id", "obama")];
    let (status, validation) = first
        .post_form(&key, "/v1/validations", &validation_fields, Some("v-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let validation_id = validation["validation_id"].as_str().unwrap().to_owned();
    let validation_link = validation["instructions"]["file_upload_link"]
        .as_str()
        .unwrap()
        .to_owned();

    // A web token and a webhook.
    let (status, token) = first
        .post_form(
            &key,
            "/v1/api-keys",
            &[
                ("key_type", "web"),
                ("grant", "digital-identity"),
                ("account_id", "obama"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = token["api_key"].as_str().unwrap().to_owned();
    let (status, _) = first
        .post_form(
            &key,
            "/v1/webhooks",
            &[("url", "http://127.0.0.1:9/hook")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let first_base = first.base.clone();
    first.stop().await;
    assert!(dir.path().join(DATABASE_FILE).is_file());
    assert!(dir.path().join(SECRET_FILE).is_file());

    // A new provider on the same directory.
    let second = TestProvider::start(dir.path(), &clock).await;
    let (status, read) = second
        .get(&key, &format!("/v1/enrollments/{enrollment_id}"))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the client key and the enrollment survive"
    );
    assert_eq!(read, enrolled);

    // The idempotency record answers the same validation.
    let (status, again) = second
        .post_form(&key, "/v1/validations", &validation_fields, Some("v-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, validation);

    // The upload link issued before the restart still works (same signing
    // key); only the port changed, as the test binds port 0 each time.
    let validation_link = validation_link.replace(&first_base, &second.base);
    second
        .upload_and_wait(&validation_id, &validation_link, photo("obama2.jpg"))
        .await;
    let (_, done) = second
        .get(
            &key,
            &format!("/v1/validations/{validation_id}?show_details=true"),
        )
        .await;
    assert_eq!(done["validation_status"], "success", "{done}");

    // The blocklist still blocks.
    let blocked_again = second.enroll(&key, "someone", "biden.jpg").await;
    assert_eq!(
        blocked_again["reason"], "face_in_blocklist",
        "{blocked_again}"
    );

    // The web token still opens the page; the webhook is still registered.
    let page = second
        .http
        .get(format!("{}/?token={token}", second.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let (_, hooks) = second.get(&key, "/v1/webhooks").await;
    assert_eq!(hooks["webhooks"].as_array().unwrap().len(), 1);
    second.stop().await;
}
