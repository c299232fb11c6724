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

/// Opens the provider's database file as a crashed provider left it.
async fn open_database(dir: &std::path::Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join(DATABASE_FILE));
    sqlx::SqlitePool::connect_with(options)
        .await
        .expect("the database opens")
}

/// Issue 17: a provider killed while a creating request was in flight left
/// its Idempotency-Key "still being processed" forever, so the documented
/// `retry_ambiguous` recovery got 409 at every retry. Keys in flight at
/// start are released: the retry with the same key creates the record.
#[tokio::test]
async fn a_key_left_in_flight_by_a_crash_can_be_retried_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let key = new_client(dir.path(), "client-a").await;
    // The crash: the record of a request in flight, never completed.
    let db = open_database(dir.path()).await;
    sqlx::query(
        "INSERT INTO idempotency_keys (client_id, key, fingerprint, created_at)
         SELECT id, 'enroll-1', x'00', ? FROM clients WHERE name = 'client-a'",
    )
    .bind(clock.now().unix_timestamp())
    .execute(&db)
    .await
    .unwrap();
    db.close().await;

    let provider = TestProvider::start(dir.path(), &clock).await;
    let fields = [("type", "face-recognition"), ("user_authorized", "true")];
    let (status, created) = provider
        .post_form(&key, "/v1/enrollments", &fields, Some("enroll-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // And the key now holds that answer.
    let (status, again) = provider
        .post_form(&key, "/v1/enrollments", &fields, Some("enroll-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["enrollment_id"], created["enrollment_id"]);
    provider.stop().await;
}

/// A key in flight for longer than any creating request takes (a store
/// error that left it behind, the process still running) is taken over by
/// the next request with it; a younger one is still "in flight" (409).
#[tokio::test]
async fn a_key_in_flight_for_too_long_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let key = new_client(dir.path(), "client-a").await;
    let provider = TestProvider::start(dir.path(), &clock).await;
    let db = open_database(dir.path()).await;
    sqlx::query(
        "INSERT INTO idempotency_keys (client_id, key, fingerprint, created_at)
         SELECT id, 'enroll-2', x'00', ? FROM clients WHERE name = 'client-a'",
    )
    .bind(clock.now().unix_timestamp())
    .execute(&db)
    .await
    .unwrap();
    db.close().await;

    let fields = [("type", "face-recognition"), ("user_authorized", "true")];
    let (status, body) = provider
        .post_form(&key, "/v1/enrollments", &fields, Some("enroll-2"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], 40902, "{body}");

    clock.advance(std::time::Duration::from_mins(2) + std::time::Duration::from_secs(1));
    let (status, body) = provider
        .post_form(&key, "/v1/enrollments", &fields, Some("enroll-2"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    provider.stop().await;
}

/// Issue 17: `provider.sqlite3` was created 0644 in a directory others
/// could list. After a real run every file of the data directory (the
/// database, its `-wal` and `-shm`, the secret) is 0600 and the directory
/// 0700, though it was 0755 to begin with.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let clock = ManualClock::starting_now();
    let key = new_client(dir.path(), "client-a").await;
    let provider = TestProvider::start(dir.path(), &clock).await;
    provider.create_enrollment(&key, "someone").await;

    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .inspect(|path| assert_eq!(mode(path), 0o600, "{}", path.display()))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            DATABASE_FILE.to_owned(),
            format!("{DATABASE_FILE}-shm"),
            format!("{DATABASE_FILE}-wal"),
            SECRET_FILE.to_owned(),
        ]
    );
    provider.stop().await;
}
