//! The API's rules without face decisions: authentication, field errors,
//! content types and sizes, isolation between clients, upload links,
//! idempotency, unknown routes, webhook registration.

use std::time::Duration;

use idflow_provider::{IDEMPOTENCY_HEADER, REPLAYED_HEADER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{assert_error, photo, send, two_client_provider};

const ENROLL: &[(&str, &str)] = &[("type", "face-recognition"), ("user_authorized", "true")];

#[tokio::test]
async fn every_api_route_requires_a_valid_key() {
    let (_dir, p, key_a, _) = two_client_provider().await;
    let routes = [
        ("POST", "/v1/enrollments"),
        ("GET", "/v1/enrollments/ENR1"),
        ("DELETE", "/v1/enrollments/ENR1"),
        ("GET", "/v1/accounts/acc/enrollments"),
        ("POST", "/v1/validations"),
        ("GET", "/v1/validations/VLD1"),
        ("POST", "/v1/api-keys"),
        ("GET", "/v1/processes/IDP1/result"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("DELETE", "/v1/webhooks/WHK1"),
    ];
    // The same key with its last character changed (to one it is not).
    let (head, last) = key_a.split_at(key_a.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    for (method, path) in routes {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = send(p.request(method.clone(), path, None)).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
        assert_eq!(body["code"], 40101, "{method} {path}: {body}");

        for bad_key in ["nonsense", forged.as_str()] {
            let (status, body) = send(p.request(method.clone(), path, Some(bad_key))).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
            assert_eq!(body["code"], 40102, "{method} {path}: {body}");
            assert!(
                !body.to_string().contains(bad_key),
                "the key is echoed: {body}"
            );
        }
    }
    p.stop().await;
}

#[tokio::test]
async fn enrollment_fields_are_checked_and_named() {
    let (_dir, p, key, _) = two_client_provider().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("user_authorized", "true")], "type"),
        (&[("type", "passport"), ("user_authorized", "true")], "type"),
        (&[("type", "face-recognition")], "user_authorized"),
        (
            &[("type", "face-recognition"), ("user_authorized", "false")],
            "user_authorized",
        ),
        (
            &[
                ("type", "face-recognition"),
                ("user_authorized", "true"),
                ("account_id", "bad id!"),
            ],
            "account_id",
        ),
        (
            &[
                ("type", "face-recognition"),
                ("user_authorized", "true"),
                ("confirmation", "email"),
            ],
            "confirmation",
        ),
        (
            &[
                ("type", "face-recognition"),
                ("user_authorized", "true"),
                ("type", "face-search"),
            ],
            "type",
        ),
        (
            &[
                ("type", "face-search"),
                ("user_authorized", "true"),
                ("fraud_reason", "non_payment"),
            ],
            "country",
        ),
        (
            &[
                ("type", "face-search"),
                ("user_authorized", "true"),
                ("country", "US"),
                ("fraud_reason", "non_payment"),
            ],
            "country",
        ),
        (
            &[
                ("type", "face-search"),
                ("user_authorized", "true"),
                ("country", "CO"),
            ],
            "fraud_reason",
        ),
    ];
    for (fields, field) in cases {
        let (status, body) = p.post_form(&key, "/v1/enrollments", fields, None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some(field));
    }
    p.stop().await;
}

#[tokio::test]
async fn enrollments_are_created_read_listed_deleted_and_isolated() {
    let (_dir, p, key_a, key_b) = two_client_provider().await;
    let (status, created) = p.post_form(&key_a, "/v1/enrollments", ENROLL, None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["enrollment_id"].as_str().unwrap();
    assert!(id.starts_with("ENR"));
    let account = created["account_id"].as_str().unwrap();
    assert!(
        account.starts_with("ACC"),
        "a generated account id: {created}"
    );
    assert_eq!(created["status"], "pending");
    assert_eq!(created["reason"], "waiting_file_upload");
    assert_eq!(created["validation_type"], "face-recognition");
    let creation_date = created["creation_date"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(
            creation_date,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok(),
        "{creation_date}"
    );
    let link = created["file_upload_link"].as_str().unwrap();
    assert!(link.starts_with(&p.base), "{link}");

    // Read: the same record, without the link (a credential).
    let (status, read) = p.get(&key_a, &format!("/v1/enrollments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["enrollment_id"], id);
    assert_eq!(read["status"], "pending");
    assert!(read.get("file_upload_link").is_none(), "{read}");

    // Another client sees nothing.
    let (status, body) = p.get(&key_b, &format!("/v1/enrollments/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, body) = p.delete(&key_b, &format!("/v1/enrollments/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, body) = p
        .get(&key_b, &format!("/v1/accounts/{account}/enrollments"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);

    // The account's list.
    let (status, list) = p
        .get(&key_a, &format!("/v1/accounts/{account}/enrollments"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["account_id"], account);
    assert_eq!(list["enrollments"].as_array().unwrap().len(), 1);
    assert_eq!(list["enrollments"][0]["enrollment_id"], id);

    // Delete, then it is gone, and so is its upload link.
    let (status, deleted) = p.delete(&key_a, &format!("/v1/enrollments/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["deleted"], true);
    let (status, body) = p.get(&key_a, &format!("/v1/enrollments/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, body) = p.delete(&key_a, &format!("/v1/enrollments/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, body) = p.upload(link, photo("obama.jpg"), "image/jpeg").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    p.stop().await;
}

#[tokio::test]
async fn bodies_of_the_wrong_type_or_size_are_refused_in_the_error_shape() {
    let (_dir, p, key, _) = two_client_provider().await;
    // JSON instead of a form.
    let (status, body) = send(
        p.request(Method::POST, "/v1/enrollments", Some(&key))
            .json(&serde_json::json!({"type": "face-recognition"})),
    )
    .await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);

    // A body without a Content-Type.
    let (status, body) = send(
        p.request(Method::POST, "/v1/enrollments", Some(&key))
            .body("type=face-recognition"),
    )
    .await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);

    // An empty POST without Content-Type: fields are missing.
    let (status, body) = send(p.request(Method::POST, "/v1/enrollments", Some(&key))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("type"));

    // A form larger than the limit.
    let huge = "x".repeat(idflow_provider::FORM_LIMIT + 1);
    let (status, body) = p
        .post_form(
            &key,
            "/v1/enrollments",
            &[("type", "face-recognition"), ("pad", &huge)],
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, None);

    // A form that is not valid UTF-8 percent-encoding still parses (lossy) and reports the field.
    let (status, body) = send(
        p.request(Method::POST, "/v1/enrollments", Some(&key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(&b"type=%FF%FE&user_authorized=true"[..]),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("type"));
    p.stop().await;
}

#[tokio::test]
async fn upload_links_are_signed_single_use_expiring_and_limited() {
    let (_dir, p, key, _) = two_client_provider().await;
    let (id, link) = p.create_enrollment(&key, "acct-1").await;

    // Forged: another signature, or a later expiry with the old signature.
    let forged = format!("{}00", &link[..link.len() - 2]);
    let (status, body) = p.upload(&forged, photo("obama.jpg"), "image/jpeg").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, None);
    let url = url::Url::parse(&link).unwrap();
    let expires: i64 = url
        .query_pairs()
        .find(|(k, _)| k == "expires")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let extended = link.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires + 3600),
    );
    let (status, body) = p.upload(&extended, photo("obama.jpg"), "image/jpeg").await;
    assert_error(status, &body, StatusCode::FORBIDDEN, None);
    assert!(!body.to_string().contains("signature="), "{body}");

    // Not an image type: 415, and the link is not used up.
    let (status, body) = p.upload(&link, b"hello".to_vec(), "text/plain").await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);

    // Too large (the test limit is 4 MiB): 413, and the link is not used up.
    let (status, body) = p
        .upload(&link, vec![0xFF; 4 * 1024 * 1024 + 1], "image/jpeg")
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, None);

    // Used once (a real face), then refused.
    let event = p.upload_and_wait(&id, &link, photo("obama.jpg")).await;
    assert_eq!(event.status, idflow_provider::Status::Success);
    let (status, body) = p.upload(&link, photo("obama.jpg"), "image/jpeg").await;
    assert_error(status, &body, StatusCode::CONFLICT, None);

    // Expired: the clock passes the link's lifetime (15 minutes by default).
    let (_, late_link) = p.create_enrollment(&key, "acct-2").await;
    p.clock.advance(Duration::from_mins(15));
    let (status, body) = p.upload(&late_link, photo("obama.jpg"), "image/jpeg").await;
    assert_error(status, &body, StatusCode::GONE, None);
    p.stop().await;
}

#[tokio::test]
async fn idempotency_key_returns_the_same_record_and_status() {
    let (_dir, p, key_a, key_b) = two_client_provider().await;
    let fields = &[
        ("type", "face-recognition"),
        ("user_authorized", "true"),
        ("account_id", "idem-1"),
    ];
    let first = p
        .post_form(&key_a, "/v1/enrollments", fields, Some("key-1"))
        .await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    let response = p
        .request(Method::POST, "/v1/enrollments", Some(&key_a))
        .header(IDEMPOTENCY_HEADER, "key-1")
        .form(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[REPLAYED_HEADER], "true");
    let second = crate::support::json_of(response).await;
    assert_eq!(second, first, "the same record with the same status");
    let (_, list) = p.get(&key_a, "/v1/accounts/idem-1/enrollments").await;
    assert_eq!(
        list["enrollments"].as_array().unwrap().len(),
        1,
        "one record only"
    );

    // The same key for a different request.
    let other = &[
        ("type", "face-recognition"),
        ("user_authorized", "true"),
        ("account_id", "idem-2"),
    ];
    let (status, body) = p
        .post_form(&key_a, "/v1/enrollments", other, Some("key-1"))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, Some("Idempotency-Key"));

    // Another client's key space is separate.
    let (status, body_b) = p
        .post_form(&key_b, "/v1/enrollments", fields, Some("key-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(body_b["enrollment_id"], first.1["enrollment_id"]);

    // An error answer is replayed too.
    let bad = &[("type", "face-recognition")];
    let error_first = p
        .post_form(&key_a, "/v1/enrollments", bad, Some("key-2"))
        .await;
    assert_error(
        error_first.0,
        &error_first.1,
        StatusCode::BAD_REQUEST,
        Some("user_authorized"),
    );
    let error_again = p
        .post_form(&key_a, "/v1/enrollments", bad, Some("key-2"))
        .await;
    assert_eq!(error_again, error_first);

    // A malformed key.
    let long = "k".repeat(256);
    let (status, body) = p
        .post_form(&key_a, "/v1/enrollments", fields, Some(&long))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("Idempotency-Key"),
    );
    p.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let (_dir, p, key, _) = two_client_provider().await;
    let (status, body) = p.get(&key, "/v1/nothing-here").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, body) = send(p.request(Method::PATCH, "/v1/enrollments", Some(&key))).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED, None);
    let (status, body) = p.get(&key, "/v1/validations/VLD1?show_details=maybe").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("show_details"));
    p.stop().await;
}

#[tokio::test]
async fn validations_and_tokens_need_an_enrolled_account_and_valid_fields() {
    let (_dir, p, key, _) = two_client_provider().await;
    // An account with a pending enrollment only.
    p.create_enrollment(&key, "pending-acct").await;

    let base = [("type", "face-recognition"), ("account_id", "pending-acct")];
    let (status, body) = p.post_form(&key, "/v1/validations", &base, None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("account_id"),
    );
    let unknown = [("type", "face-recognition"), ("account_id", "nobody")];
    let (status, body) = p.post_form(&key, "/v1/validations", &unknown, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);

    let field_cases: &[(&[(&str, &str)], &str)] = &[
        (&[("account_id", "pending-acct")], "type"),
        (
            &[
                ("type", "document-validation"),
                ("account_id", "pending-acct"),
            ],
            "type",
        ),
        (&[("type", "face-recognition")], "account_id"),
        (
            &[
                ("type", "face-recognition"),
                ("account_id", "pending-acct"),
                ("threshold", "1.5"),
            ],
            "threshold",
        ),
        (
            &[
                ("type", "face-recognition"),
                ("account_id", "pending-acct"),
                ("threshold", "high"),
            ],
            "threshold",
        ),
        (
            &[
                ("type", "face-recognition"),
                ("account_id", "pending-acct"),
                ("subvalidations", "age"),
            ],
            "subvalidations",
        ),
        (
            &[
                ("type", "face-recognition"),
                ("account_id", "pending-acct"),
                ("timeout", "0"),
            ],
            "timeout",
        ),
    ];
    for (fields, field) in field_cases {
        let (status, body) = p.post_form(&key, "/v1/validations", fields, None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some(field));
    }
    let liveness = [
        ("type", "face-recognition"),
        ("account_id", "pending-acct"),
        ("subvalidations", "similarity"),
        ("subvalidations", "passive_liveness"),
    ];
    let (status, body) = p.post_form(&key, "/v1/validations", &liveness, None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("subvalidations"),
    );

    let token_base = [
        ("key_type", "web"),
        ("grant", "digital-identity"),
        ("api_key_version", "1"),
        ("country", "ALL"),
        ("account_id", "pending-acct"),
    ];
    let (status, body) = p.post_form(&key, "/v1/api-keys", &token_base, None).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("account_id"),
    );
    let token_cases: &[(&str, &str)] = &[
        ("key_type", "backend"),
        ("grant", "everything"),
        ("api_key_version", "2"),
        ("country", "Colombia"),
        ("account_id", "a b"),
        ("redirect_url", "javascript:alert(1)"),
        ("flow_id", "bad flow"),
    ];
    for (field, value) in token_cases {
        let mut fields: Vec<(&str, &str)> = token_base
            .iter()
            .filter(|(k, _)| k != field)
            .copied()
            .collect();
        fields.push((field, value));
        let (status, body) = p.post_form(&key, "/v1/api-keys", &fields, None).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some(field));
    }
    p.stop().await;
}

#[tokio::test]
async fn webhooks_are_registered_listed_and_deleted_per_client() {
    let (_dir, p, key_a, key_b) = two_client_provider().await;
    for bad in ["not a url", "ftp://example.test/hook", "/relative"] {
        let (status, body) = p
            .post_form(&key_a, "/v1/webhooks", &[("url", bad)], None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, Some("url"));
    }
    let (status, created) = p
        .post_form(
            &key_a,
            "/v1/webhooks",
            &[("url", "http://127.0.0.1:9/hook")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["webhook_id"].as_str().unwrap();
    assert_eq!(created["secret"].as_str().unwrap().len(), 64);

    let (status, list) = p.get(&key_a, "/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert!(
        list["webhooks"][0].get("secret").is_none(),
        "the secret is shown once: {list}"
    );
    let (_, list_b) = p.get(&key_b, "/v1/webhooks").await;
    assert_eq!(list_b["webhooks"], Value::Array(vec![]));

    let (status, body) = p.delete(&key_b, &format!("/v1/webhooks/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    let (status, _) = p.delete(&key_a, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = p.get(&key_a, "/v1/webhooks").await;
    assert_eq!(list["webhooks"], Value::Array(vec![]));
    p.stop().await;
}

/// Issue 17: webhook URLs accepted `user:pass@` credentials (and listed them
/// back) and any loopback or private host. Credentials are refused (400,
/// not echoed); non-public addresses too (422) unless the operator allows
/// them, as for the idflow server's own hook address (an allowed prefix).
#[tokio::test]
async fn webhook_urls_with_credentials_or_private_hosts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = idflow_provider::ManualClock::starting_now();
    let key = crate::support::new_client(dir.path(), "client-a").await;
    let mut config = crate::support::config(dir.path(), &clock);
    config.webhook_targets = idflow_provider::WebhookTargets {
        allow_private: false,
        allowed: vec!["http://127.0.0.1:9/api/v1/hooks/".parse().unwrap()],
    };
    let p = crate::support::TestProvider::start_with(config, &clock).await;
    let register = async |url: &str| {
        p.post_form(&key, "/v1/webhooks", &[("url", url)], None)
            .await
    };

    let (status, body) = register("https://user:s3cr3t-pw@hooks.example.com/in").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("url"));
    assert!(!body.to_string().contains("s3cr3t-pw"), "{body}");
    for private in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/api/v1/hooksmith",
    ] {
        let (status, body) = register(private).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, Some("url"));
    }
    let (status, body) = register("http://127.0.0.1:9/api/v1/hooks/truora").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, list) = p.get(&key, "/v1/webhooks").await;
    assert_eq!(
        list["webhooks"][0]["url"],
        "http://127.0.0.1:9/api/v1/hooks/truora"
    );
    p.stop().await;
}
