//! `workflows/onboarding.yaml` end to end: the real `idflow serve` (its
//! runs API, its store, its embedded provider and the provider's webhooks
//! into its own hook endpoint) and a real person in Debian's headless
//! Chromium, whose fake camera shows a real photo (the idflow-browser
//! helpers shared with the verification page's tests).
//!
//! Each test starts `onboarding` through the API with `notify_url` and
//! `redirect_url` pointing at a loopback stand-in of the client's services
//! ([`ClientSite`]): the run POSTs the verification link there, the test
//! opens it in the browser as the person, and the page sends the browser
//! back to `redirect_url`. The run's end is read from its event stream.
//!
//! - the enrolled person verifies: the run ends `verified`, within 2 s of
//!   the page's redirect (the webhook wakes it; its fallback poll is 30 s);
//! - another person: `not_verified`;
//! - nobody comes: `expired` at a short `timeout` input;
//! - the server is stopped and started again (same address, same data)
//!   while the run waits: the person verifies afterwards and the run ends
//!   `verified`.
//!
//! Nothing sleeps to wait: the tests wait on the run's events and on the
//! page, each wait bounded by a guard deadline. Needs `scripts/setup`
//! (chromium, chromium-driver, face models, photos): without them the
//! tests fail, naming it; they never skip.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use idflow_browser::{Browser, Driver, WAIT_DEADLINE, camera};
use idflow_tests::repo_root;
use idflow_tests::server::{Server, token};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The longest any run may take to reach a state the test waits for (a
/// guard against a hung run, not a timing assertion).
const GUARD: Duration = Duration::from_mins(2);

/// The most the run may take to end after the page's redirect.
const AFTER_REDIRECT: Duration = Duration::from_secs(2);

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("onboarding-screenshots")
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join(".cache/photos").join(name))
        .unwrap_or_else(|e| panic!("the sample photo {name} is set up by scripts/setup: {e}"))
}

/// The client's services on `127.0.0.1:0`: the notification service the
/// run sends the link to (`POST /links`), and the page the person is sent
/// back to (`GET /done`).
struct ClientSite {
    links_url: String,
    done_url: String,
    links: mpsc::UnboundedReceiver<Value>,
    visits: mpsc::UnboundedReceiver<String>,
}

impl ClientSite {
    async fn start() -> Self {
        let (link_sender, links) = mpsc::unbounded_channel();
        let (visit_sender, visits) = mpsc::unbounded_channel();
        let app = axum::Router::new()
            .route(
                "/links",
                axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                    let sender = link_sender.clone();
                    async move {
                        sender.send(body).unwrap();
                        axum::http::StatusCode::ACCEPTED
                    }
                }),
            )
            .route(
                "/done",
                axum::routing::get(move |uri: axum::http::Uri| {
                    let sender = visit_sender.clone();
                    async move {
                        sender
                            .send(uri.query().unwrap_or_default().to_owned())
                            .unwrap();
                        axum::response::Html(
                            "<!doctype html><title>Welcome</title><h1>Back at the client</h1>",
                        )
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            links_url: format!("{base}/links"),
            done_url: format!("{base}/done"),
            links,
            visits,
        }
    }

    /// The verification link the run sent (the whole message checked).
    async fn link(&mut self, run_id: &str) -> String {
        let message = tokio::time::timeout(GUARD, self.links.recv())
            .await
            .expect("the run sends the verification link")
            .unwrap();
        assert_eq!(message["run_id"], run_id, "{message}");
        assert!(
            message["account_id"].as_str().unwrap().starts_with("ACC"),
            "{message}"
        );
        assert!(message["expires_at"].is_string(), "{message}");
        message["verification_url"].as_str().unwrap().to_owned()
    }
}

/// The `onboarding` inputs for the enrolled photo obama.jpg, sending the
/// link and the person to `site`, with `extra` inputs.
fn inputs(site: &ClientSite, extra: &Value) -> Value {
    let photo = base64::engine::general_purpose::STANDARD.encode(photo("obama.jpg"));
    let mut inputs = json!({
        "photo": {"$file": {"name": "obama.jpg", "content_base64": photo}},
        "notify_url": site.links_url,
        "redirect_url": site.done_url,
    });
    for (key, value) in extra.as_object().unwrap() {
        inputs[key] = value.clone();
    }
    inputs
}

/// Starts `onboarding` through the API; the run's id.
async fn start_onboarding(server: &Server, token: &str, inputs: Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/runs", server.url))
        .bearer_auth(token)
        .json(&json!({"workflow": "onboarding", "inputs": inputs}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{answer}");
    answer["run_id"].as_str().unwrap().to_owned()
}

/// Follows a run's event stream until `stop` holds for an event (name,
/// data); that event's data and when it came.
async fn follow(
    url: &str,
    token: &str,
    run_id: &str,
    stop: impl Fn(&str, &Value) -> bool,
) -> (Value, Instant) {
    let mut response = reqwest::Client::new()
        .get(format!("{url}/api/v1/runs/{run_id}/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut buffer = String::new();
    let mut name = String::new();
    loop {
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let line = line.trim_end();
            if let Some(value) = line.strip_prefix("event:") {
                value.trim().clone_into(&mut name);
            } else if let Some(value) = line.strip_prefix("data:") {
                let data: Value = serde_json::from_str(value.trim()).unwrap();
                if stop(&name, &data) {
                    return (data, Instant::now());
                }
            }
        }
        let chunk = response
            .chunk()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the event stream of {run_id} ended early"));
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// The run's result once it has ended, and when the stream said so; the
/// stream is followed in a task of its own, so that it is read while the
/// test drives the browser.
fn run_end(url: &str, token: &str, run_id: &str) -> tokio::task::JoinHandle<(Value, Instant)> {
    let (url, token, run_id) = (url.to_owned(), token.to_owned(), run_id.to_owned());
    tokio::spawn(async move {
        tokio::time::timeout(
            GUARD,
            follow(&url, &token, &run_id, |name, _| name == "end"),
        )
        .await
        .unwrap_or_else(|_| panic!("run {run_id} did not end within {GUARD:?}"))
    })
}

/// Waits until the run waits for the person (its `verified` step runs).
async fn until_waiting_for_the_person(url: &str, token: &str, run_id: &str) {
    tokio::time::timeout(
        GUARD,
        follow(url, token, run_id, |name, data| {
            name == "step"
                && data["step"] == "verified"
                && ["running", "waiting"].contains(&data["status"].as_str().unwrap_or(""))
        }),
    )
    .await
    .expect("the run waits for the person");
}

/// A person in the browser, whose camera shows `photo_name`.
struct Person {
    browser: Browser,
    _driver: Driver,
    _files: tempfile::TempDir,
}

impl Person {
    async fn showing(photo_name: &str) -> Self {
        let files = tempfile::tempdir().unwrap();
        let camera = camera::y4m_from_photo(&photo(photo_name), files.path(), photo_name);
        let driver = Driver::start(&screenshots_dir());
        let browser = driver.browser(Some(&camera), files.path()).await;
        Self {
            browser,
            _driver: driver,
            _files: files,
        }
    }

    /// Opens the link, agrees, takes the selfie and follows the page back
    /// to `done_url`; the page's result and when the redirect was seen.
    async fn verify(&self, link: &str, done_url: &str, name: &str) -> (String, Instant) {
        let browser = &self.browser;
        browser.open(link).await;
        assert_eq!(browser.document_status().await, 200);
        browser.click("#accept").await;
        browser
            .wait_for(
                "the camera picture",
                "const v = document.getElementById('video'); \
                 return v.videoWidth > 0 && !document.getElementById('shutter').hidden;",
                &[],
            )
            .await;
        browser.click("#shutter").await;
        let result = browser
            .wait_for("the result", "return document.body.dataset.result;", &[])
            .await;
        browser.screenshot(&format!("{name}-result")).await;
        browser.wait_for_url(done_url).await;
        (result.as_str().unwrap().to_owned(), Instant::now())
    }

    async fn leave(self) {
        self.browser.quit().await;
    }
}

/// A server on the repository's workflows with a fresh data folder, an
/// API token and the client's site.
struct Setup {
    data: tempfile::TempDir,
    token: String,
    site: ClientSite,
}

impl Setup {
    async fn new() -> Self {
        let data = tempfile::tempdir().unwrap();
        let token = token(data.path(), "onboarding");
        let site = ClientSite::start().await;
        Self { data, token, site }
    }

    fn serve(&self, addr: &str) -> Server {
        Server::start_on(
            addr,
            self.data.path(),
            &repo_root().join("workflows"),
            &[],
            &[],
        )
    }
}

/// The process id the page appended to the redirect, as the client's site
/// saw it.
async fn redirected_process(site: &mut ClientSite) -> String {
    let query = tokio::time::timeout(WAIT_DEADLINE, site.visits.recv())
        .await
        .expect("the page sends the person back")
        .unwrap();
    let process_id = query
        .strip_prefix("process_id=")
        .unwrap_or_else(|| panic!("the redirect carries the process id: {query}"));
    assert!(process_id.starts_with("IDP"), "{query}");
    process_id.to_owned()
}

/// The run ended at most [`AFTER_REDIRECT`] after the page's redirect
/// (the webhook often beats the page's own poll: then it ended before).
fn assert_ended_soon_after(result: &Value, ended: Instant, redirected: Instant) {
    let after = ended.saturating_duration_since(redirected);
    if ended < redirected {
        println!(
            "run ended {:?} before the page's redirect was seen",
            redirected - ended
        );
    } else {
        println!("run ended {after:?} after the page's redirect");
    }
    assert!(
        after <= AFTER_REDIRECT,
        "the run ended {after:?} after the page's redirect: {result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enrolled_person_verifies_and_the_run_ends_verified_at_once() {
    let mut setup = Setup::new().await;
    let server = setup.serve("127.0.0.1:0");
    let run_id = start_onboarding(&server, &setup.token, inputs(&setup.site, &json!({}))).await;
    let end = run_end(&server.url, &setup.token, &run_id);
    let link = setup.site.link(&run_id).await;
    assert!(link.starts_with(&server.url), "{link}");

    let person = Person::showing("obama2.jpg").await;
    let (page_result, redirected) = person
        .verify(&link, &setup.site.done_url, "same-person")
        .await;
    assert_eq!(page_result, "success");
    let process_id = redirected_process(&mut setup.site).await;
    let (result, ended) = end.await.unwrap();
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["outputs"]["outcome"], "verified", "{result}");
    assert_eq!(result["outputs"]["process_id"], process_id.as_str());
    assert!(result["outputs"]["confidence_score"].as_f64().unwrap() > 0.65);
    assert_eq!(result["steps"]["send_link"]["status"], "succeeded");
    assert_eq!(result["steps"]["not_verified"]["status"], "skipped");
    assert!(!result.to_string().contains("token="), "{result}");
    assert_ended_soon_after(&result, ended, redirected);
    person.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_person_is_not_verified() {
    let mut setup = Setup::new().await;
    let server = setup.serve("127.0.0.1:0");
    let run_id = start_onboarding(&server, &setup.token, inputs(&setup.site, &json!({}))).await;
    let end = run_end(&server.url, &setup.token, &run_id);
    let link = setup.site.link(&run_id).await;

    let person = Person::showing("biden.jpg").await;
    let (page_result, redirected) = person
        .verify(&link, &setup.site.done_url, "another-person")
        .await;
    assert_eq!(page_result, "failure");
    let process_id = redirected_process(&mut setup.site).await;
    let (result, ended) = end.await.unwrap();
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["outputs"]["outcome"], "not_verified", "{result}");
    assert_eq!(
        result["outputs"]["reason"], "similarity_threshold_not_passed",
        "{result}"
    );
    let failed = &result["steps"]["not_verified"]["error"]["message"];
    assert!(
        failed.as_str().unwrap().contains(&process_id),
        "the outcome names the process: {failed}"
    );
    assert_ended_soon_after(&result, ended, redirected);
    person.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_comes_and_the_run_ends_expired_at_its_timeout() {
    let mut setup = Setup::new().await;
    let server = setup.serve("127.0.0.1:0");
    let run_id = start_onboarding(
        &server,
        &setup.token,
        inputs(&setup.site, &json!({"timeout": "2s"})),
    )
    .await;
    let end = run_end(&server.url, &setup.token, &run_id);
    setup.site.link(&run_id).await;

    let (result, _) = end.await.unwrap();
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["outputs"]["outcome"], "expired", "{result}");
    let verified = &result["steps"]["verified"];
    assert_eq!(
        verified["error"]["code"], "verification_timeout",
        "{result}"
    );
    assert_eq!(
        verified["error"]["message"],
        "the person did not complete the verification within 2s"
    );
    assert_eq!(verified["outputs"]["status"], "pending", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waiting_across_a_restart_ends_verified_when_the_person_comes() {
    let mut setup = Setup::new().await;
    // The same address before and after: the link the run sent points at it.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let server = setup.serve(&addr);
    let run_id = start_onboarding(&server, &setup.token, inputs(&setup.site, &json!({}))).await;
    let link = setup.site.link(&run_id).await;
    until_waiting_for_the_person(&server.url, &setup.token, &run_id).await;
    let stopped = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(stopped.success(), "a clean stop exits 0: {stopped:?}");

    let server = setup.serve(&addr);
    let end = run_end(&server.url, &setup.token, &run_id);
    let person = Person::showing("obama2.jpg").await;
    let (page_result, redirected) = person
        .verify(&link, &setup.site.done_url, "after-restart")
        .await;
    assert_eq!(page_result, "success");
    let process_id = redirected_process(&mut setup.site).await;
    let (result, ended) = end.await.unwrap();
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["outputs"]["outcome"], "verified", "{result}");
    assert_eq!(result["outputs"]["process_id"], process_id.as_str());
    assert_ended_soon_after(&result, ended, redirected);
    person.leave().await;
}
