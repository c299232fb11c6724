//! Web tokens, the verification page and the endpoints it calls (driven over
//! HTTP here; the headless-browser test is separate), process results, and
//! signed webhook delivery with retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::support::{
    TestProvider, assert_error, obama_enrolled, photo, send, two_client_provider, wait_processed,
};

async fn web_token(p: &TestProvider, key: &str, account: &str, redirect: Option<&str>) -> String {
    let mut fields = vec![
        ("key_type", "web"),
        ("grant", "digital-identity"),
        ("api_key_version", "1"),
        ("country", "ALL"),
        ("account_id", account),
        ("flow_id", "IPFflow1"),
    ];
    if let Some(redirect) = redirect {
        fields.push(("redirect_url", redirect));
    }
    let (status, body) = p.post_form(key, "/v1/api-keys", &fields, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"], "API key created successfully");
    body["api_key"].as_str().unwrap().to_owned()
}

fn assert_html(headers: &reqwest::header::HeaderMap) {
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn verify_hs256(jwt: &str, secret: &[u8]) -> Value {
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(signed.as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap())
        .expect("the JWT is signed with the secret");
    claims(jwt)
}

async fn page(
    p: &TestProvider,
    token: Option<&str>,
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let url = match token {
        Some(token) => format!("{}/?token={token}", p.base),
        None => format!("{}/", p.base),
    };
    let response = p.http.get(url).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

async fn send_selfie(p: &TestProvider, token: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let request = p.request(Method::POST, "/v1/web/processes", None);
    send(
        request
            .bearer_auth(token)
            .header("Content-Type", "image/jpeg")
            .body(bytes),
    )
    .await
}

async fn poll(p: &TestProvider, token: &str, process_id: &str) -> (StatusCode, Value) {
    let path = format!("/v1/web/processes/{process_id}");
    send(p.request(Method::GET, &path, None).bearer_auth(token)).await
}

#[tokio::test]
async fn a_web_token_runs_one_process_for_the_same_person() {
    let (_dir, p, key, key_b) = obama_enrolled().await;
    let token = web_token(
        &p,
        &key,
        "obama",
        Some("https://client.example/done?step=2"),
    )
    .await;

    let claims = claims(&token);
    assert_eq!(claims["key_type"], "web");
    assert_eq!(claims["grant"], "digital-identity");
    let now = p.clock.now().unix_timestamp();
    assert_eq!(
        claims["exp"].as_i64().unwrap(),
        now + 2 * 60 * 60,
        "two hours: {claims}"
    );
    let data = &claims["additional_data"];
    assert_eq!(data["account_id"], "obama");
    assert_eq!(data["country"], "ALL");
    assert_eq!(data["flow_id"], "IPFflow1");
    assert_eq!(data["redirect_url"], "https://client.example/done?step=2");

    // The page: what will happen, camera and file fallback, no referrer.
    let (status, html, headers) = page(&p, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_html(&headers);
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains("compare it with the face you"), "{html}");
    assert!(html.contains(r#"type="file""#));
    assert!(html.contains("assets/verify.js"));
    let script = p.http.get(p.url("/assets/verify.js")).send().await.unwrap();
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let script = script.text().await.unwrap();
    assert!(script.contains("getUserMedia") && script.contains("toBlob"));

    // The photo starts the process; polling shows the outcome and the redirect.
    let mut events = p.subscribe();
    let (status, started) = send_selfie(&p, &token, photo("obama2.jpg")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let process_id = started["process_id"].as_str().unwrap().to_owned();
    assert!(process_id.starts_with("IDP"));
    let (status, result) = p
        .get(&key, &format!("/v1/processes/{process_id}/result"))
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let validation_id = result["validations"][0]["validation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_processed(&mut events, &validation_id).await;

    let (status, polled) = poll(&p, &token, &process_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(polled["status"], "success", "{polled}");
    let redirect = url::Url::parse(polled["redirect_url"].as_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = redirect.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        vec![
            ("step".into(), "2".into()),
            ("process_id".into(), process_id.clone())
        ]
    );

    // The client's result; another client sees nothing.
    let (status, result) = p
        .get(&key, &format!("/v1/processes/{process_id}/result"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["account_id"], "obama");
    assert_eq!(result["flow_id"], "IPFflow1");
    let face = &result["validations"][0]["details"]["face_recognition_validations"];
    assert_eq!(face["similarity_status"], "success");
    assert!(face["confidence_score"].as_f64().unwrap() >= 0.65);
    let (status, body) = p
        .get(&key_b, &format!("/v1/processes/{process_id}/result"))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);

    // One process only: the page and the upload now refuse the token.
    let (status, html, _) = page(&p, Some(&token)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("already used"), "{html}");
    let (status, body) = send_selfie(&p, &token, photo("obama2.jpg")).await;
    assert_error(status, &body, StatusCode::CONFLICT, None);

    // A token cannot poll a process it did not start.
    let other_token = web_token(&p, &key, "obama", None).await;
    let (status, body) = poll(&p, &other_token, &process_id).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    p.stop().await;
}

#[tokio::test]
async fn a_web_process_of_another_person_fails() {
    let (_dir, p, key, _) = obama_enrolled().await;
    let token = web_token(&p, &key, "obama", None).await;
    let mut events = p.subscribe();
    let (status, started) = send_selfie(&p, &token, photo("biden.jpg")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let process_id = started["process_id"].as_str().unwrap();
    let (_, result) = p
        .get(&key, &format!("/v1/processes/{process_id}/result"))
        .await;
    let validation_id = result["validations"][0]["validation_id"].as_str().unwrap();
    wait_processed(&mut events, validation_id).await;

    let (_, polled) = poll(&p, &token, process_id).await;
    assert_eq!(polled["status"], "failure", "{polled}");
    assert_eq!(polled["declined_reason"], "similarity_threshold_not_passed");
    assert!(
        polled.get("redirect_url").is_none(),
        "no redirect was given: {polled}"
    );
    let (_, result) = p
        .get(&key, &format!("/v1/processes/{process_id}/result"))
        .await;
    assert_eq!(result["status"], "failure");
    assert_eq!(
        result["validations"][0]["declined_reason"],
        "similarity_threshold_not_passed"
    );
    p.stop().await;
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_get_clear_pages() {
    let (_dir, p, key, _) = obama_enrolled().await;
    let token = web_token(&p, &key, "obama", None).await;

    let (status, html, headers) = page(&p, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_html(&headers);
    assert!(html.contains("incomplete"), "{html}");

    let forged = format!("{}x", &token[..token.len() - 1]);
    for bad in [forged.as_str(), "not-a-token", "a.b.c"] {
        let (status, html, _) = page(&p, Some(bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(html.contains("not valid"), "{html}");
        let (status, body) = send_selfie(&p, bad, photo("obama2.jpg")).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, None);
    }
    let unauthenticated = p.request(Method::POST, "/v1/web/processes", None);
    let (status, body) = send(unauthenticated.body(photo("obama2.jpg"))).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, None);

    // Two hours later the token has expired.
    p.clock.advance(Duration::from_hours(2));
    let (status, html, _) = page(&p, Some(&token)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("expired"), "{html}");
    let (status, body) = send_selfie(&p, &token, photo("obama2.jpg")).await;
    assert_error(status, &body, StatusCode::GONE, None);
    p.stop().await;
}

/// The page (or the page about a bad link) for `token` with `Accept-Language:
/// accept_language` and the query's `lang`.
async fn page_in(
    p: &TestProvider,
    token: Option<&str>,
    accept_language: Option<&str>,
    lang: Option<&str>,
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let mut query = Vec::new();
    if let Some(token) = token {
        query.push(("token", token));
    }
    if let Some(lang) = lang {
        query.push(("lang", lang));
    }
    let mut request = p.http.get(p.url("/")).query(&query);
    if let Some(accept_language) = accept_language {
        request = request.header("Accept-Language", accept_language);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

#[tokio::test]
async fn the_page_speaks_the_language_of_accept_language_or_lang() {
    let (_dir, p, key, _) = obama_enrolled().await;
    let token = web_token(&p, &key, "obama", None).await;

    // (Accept-Language, lang parameter, language, a heading in it)
    let cases = [
        (
            Some("es-CO,es;q=0.9,en;q=0.8"),
            None,
            "es",
            "Verifica tu identidad",
        ),
        (Some("pt-BR"), None, "pt", "Confirme sua identidade"),
        (
            Some("en;q=0.2, pt-PT;q=0.9"),
            None,
            "pt",
            "Confirme sua identidade",
        ),
        (Some("fr-FR,fr;q=0.9"), None, "en", "Verify your identity"),
        (None, None, "en", "Verify your identity"),
        (Some("es-CO"), Some("pt"), "pt", "Confirme sua identidade"),
        (Some("pt-BR"), Some("en"), "en", "Verify your identity"),
        (Some("pt-BR"), Some("xx"), "pt", "Confirme sua identidade"),
    ];
    for (accept_language, lang, expected, heading) in cases {
        let (status, html, headers) = page_in(&p, Some(&token), accept_language, lang).await;
        let case = format!("{accept_language:?} {lang:?}");
        assert_eq!(status, StatusCode::OK, "{case}");
        assert!(
            html.contains(&format!(r#"<html lang="{expected}">"#)),
            "{case}: {html}"
        );
        assert!(html.contains(heading), "{case}");
        assert_eq!(headers["content-language"], expected, "{case}");
        assert_eq!(headers["vary"], "Accept-Language", "{case}");
        // The script's words are the same language's.
        let script_table = html
            .split(r#"<script type="application/json" id="messages">"#)
            .nth(1)
            .and_then(|rest| rest.split("</script>").next())
            .unwrap();
        let table: Value = serde_json::from_str(script_table).unwrap();
        assert_eq!(table["consent_heading"], heading, "{case}");
        // The consent says who asked: the client's name.
        assert!(html.contains("client-a"), "{case}");
    }

    // The pages about a bad link speak the language too.
    let (status, html, headers) = page_in(&p, None, Some("es-CO"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains(r#"<html lang="es">"#));
    assert!(html.contains("Este enlace de verificación está incompleto"));
    assert_eq!(headers["content-language"], "es");
    let (status, html, _) = page_in(&p, Some("not-a-token"), Some("pt-BR"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("Este link de verificação não é válido"));
    p.stop().await;
}

#[tokio::test]
async fn the_page_loads_nothing_from_elsewhere() {
    let (_dir, p, key, _) = obama_enrolled().await;
    let token = web_token(&p, &key, "obama", None).await;
    let (_, html, headers) = page(&p, Some(&token)).await;
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(
        policy.contains("style-src 'self';"),
        "no inline styles: {policy}"
    );
    let style = p
        .http
        .get(p.url("/assets/verify.css"))
        .send()
        .await
        .unwrap();
    assert!(
        style.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let style = style.text().await.unwrap();
    let script = p.http.get(p.url("/assets/verify.js")).send().await.unwrap();
    let script = script.text().await.unwrap();
    for (what, text) in [("page", &html), ("style", &style), ("script", &script)] {
        for address in ["http:", "https:", "src=\"//", "url("] {
            assert!(!text.contains(address), "the {what} refers to {address}");
        }
    }
    assert!(!html.contains("style="), "no inline style attributes");
    p.stop().await;
}

#[tokio::test]
async fn an_unusable_photo_can_be_replaced_until_the_limit() {
    let (_dir, p, key, _) = obama_enrolled().await;
    let token = web_token(&p, &key, "obama", Some("https://client.example/done")).await;
    let mut events = p.subscribe();

    // No face: the process waits for another photo; the client sees it pending.
    let (status, started) = send_selfie(&p, &token, photo("coffee.png")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let process_id = started["process_id"].as_str().unwrap().to_owned();
    let result_path = format!("/v1/processes/{process_id}/result");
    let (_, result) = p.get(&key, &result_path).await;
    let first_validation = result["validations"][0]["validation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_processed(&mut events, &first_validation).await;
    let (status, polled) = poll(&p, &token, &process_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(polled["status"], "failure", "{polled}");
    assert_eq!(polled["declined_reason"], "no_face_detected");
    assert_eq!(polled["retry"], true);
    assert_eq!(polled["photos_left"], 2);
    assert!(polled.get("redirect_url").is_none(), "not over: {polled}");
    let (_, result) = p.get(&key, &result_path).await;
    assert_eq!(result["status"], "pending", "{result}");

    // The next photo goes to the same process and decides it.
    let photos = format!("/v1/web/processes/{process_id}/photos");
    let add = |bytes: Vec<u8>, token: &str| {
        send(
            p.request(Method::POST, &photos, None)
                .bearer_auth(token)
                .header("Content-Type", "image/jpeg")
                .body(bytes),
        )
    };
    let (status, added) = add(photo("obama2.jpg"), &token).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{added}");
    assert_eq!(added["process_id"], process_id.as_str());
    let (_, result) = p.get(&key, &result_path).await;
    let second_validation = result["validations"][0]["validation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second_validation, first_validation);
    wait_processed(&mut events, &second_validation).await;
    let (_, polled) = poll(&p, &token, &process_id).await;
    assert_eq!(polled["status"], "success", "{polled}");
    assert!(polled.get("retry").is_none());
    assert!(
        polled["redirect_url"]
            .as_str()
            .unwrap()
            .contains(&process_id)
    );
    let (_, result) = p.get(&key, &result_path).await;
    assert_eq!(result["status"], "success", "{result}");

    // A decided process takes no other photo; nor does another token's.
    let (status, body) = add(photo("obama3.jpg"), &token).await;
    assert_error(status, &body, StatusCode::CONFLICT, None);
    let other_token = web_token(&p, &key, "obama", None).await;
    let (status, body) = add(photo("obama3.jpg"), &other_token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None);
    p.stop().await;
}

#[tokio::test]
async fn a_process_fails_after_its_last_unusable_photo() {
    let (_dir, p, key, _) = obama_enrolled().await;
    let token = web_token(&p, &key, "obama", None).await;
    let mut events = p.subscribe();
    let (status, started) = send_selfie(&p, &token, Vec::new()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let process_id = started["process_id"].as_str().unwrap().to_owned();
    let result_path = format!("/v1/processes/{process_id}/result");
    for photos_left in [2, 1, 0] {
        let (_, result) = p.get(&key, &result_path).await;
        let validation = result["validations"][0]["validation_id"].as_str().unwrap();
        wait_processed(&mut events, validation).await;
        let (_, polled) = poll(&p, &token, &process_id).await;
        assert_eq!(polled["declined_reason"], "empty_input_file", "{polled}");
        if photos_left == 0 {
            assert!(polled.get("retry").is_none(), "{polled}");
            break;
        }
        assert_eq!(polled["photos_left"], photos_left, "{polled}");
        let (status, body) = send(
            p.request(
                Method::POST,
                &format!("/v1/web/processes/{process_id}/photos"),
                None,
            )
            .bearer_auth(&token)
            .header("Content-Type", "image/png")
            .body(Vec::new()),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (_, result) = p.get(&key, &result_path).await;
    assert_eq!(result["status"], "failure", "{result}");
    assert_eq!(
        result["validations"][0]["declined_reason"],
        "empty_input_file"
    );
    p.stop().await;
}

/// A webhook receiver on `127.0.0.1:0` that refuses the first `failures`
/// deliveries with 500 and forwards every body it gets.
async fn receiver(failures: usize) -> (String, mpsc::UnboundedReceiver<(String, String)>) {
    let (sender, bodies) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sender = sender.clone();
            let seen = Arc::clone(&seen);
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                sender.send((content_type, body)).unwrap();
                if seen.fetch_add(1, Ordering::SeqCst) < failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, bodies)
}

async fn next_delivery(bodies: &mut mpsc::UnboundedReceiver<(String, String)>) -> (String, String) {
    tokio::time::timeout(Duration::from_mins(1), bodies.recv())
        .await
        .expect("a webhook delivery arrives")
        .expect("the receiver is running")
}

#[tokio::test]
async fn webhooks_deliver_signed_events_and_retry_refused_deliveries() {
    let (_dir, p, key, _) = two_client_provider().await;
    let (url, mut bodies) = receiver(2).await;
    let (status, hook) = p
        .post_form(&key, "/v1/webhooks", &[("url", &url)], None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().as_bytes().to_vec();

    let enrollment = p.enroll(&key, "obama", "obama.jpg").await;
    // Refused twice, delivered the third time: the same signed event each time.
    let mut deliveries = Vec::new();
    for _ in 0..3 {
        deliveries.push(next_delivery(&mut bodies).await);
    }
    assert!(
        deliveries.iter().all(|d| d == &deliveries[0]),
        "retries resend the same event"
    );
    let (content_type, jwt) = &deliveries[0];
    assert_eq!(content_type, "application/jwt");
    let event = verify_hs256(jwt, &secret);
    assert_eq!(event["event"], "enrollment.succeeded");
    assert_eq!(event["webhook_id"], hook["webhook_id"]);
    assert_eq!(event["data"]["enrollment_id"], enrollment["enrollment_id"]);
    assert_eq!(event["data"]["status"], "success");

    // A failed enrollment and a web process send their events too.
    p.enroll(&key, "coffee", "coffee.png").await;
    let event = verify_hs256(&next_delivery(&mut bodies).await.1, &secret);
    assert_eq!(event["event"], "enrollment.failed");
    assert_eq!(event["data"]["reason"], "no_face_detected");

    // A validation of the API sends its own event, with its details...
    let (status, created) = p
        .post_form(
            &key,
            "/v1/validations",
            &[("type", "face-recognition"), ("account_id", "obama")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let link = created["instructions"]["file_upload_link"]
        .as_str()
        .unwrap();
    let validation_id = created["validation_id"].as_str().unwrap();
    p.upload_and_wait(validation_id, link, photo("obama3.jpg"))
        .await;
    let event = verify_hs256(&next_delivery(&mut bodies).await.1, &secret);
    assert_eq!(event["event"], "validation.succeeded");
    assert_eq!(event["data"]["validation_id"], validation_id);
    assert_eq!(
        event["data"]["details"]["face_recognition_validations"]["similarity_status"],
        "success"
    );

    // ... and a web process its own (not one of its validation).
    let token = web_token(&p, &key, "obama", None).await;
    let (status, started) = send_selfie(&p, &token, photo("obama3.jpg")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let event = verify_hs256(&next_delivery(&mut bodies).await.1, &secret);
    assert_eq!(event["event"], "process.succeeded");
    assert_eq!(event["data"]["process_id"], started["process_id"]);
    assert_eq!(event["data"]["status"], "success");
    assert!(
        bodies.try_recv().is_err(),
        "a process's validation sends no event of its own"
    );
    p.stop().await;
}
