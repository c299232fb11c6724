//! The verification page in a real browser: Debian's headless Chromium,
//! driven through `chromedriver` (WebDriver), with a fake camera that shows a
//! real photo. The enrolled person ends in success, another person in
//! failure; both are sent back to the client's `redirect_url` with the
//! process id. Expired, unknown and used tokens get clear pages.
//!
//! Needs `scripts/setup` (chromium, chromium-driver, face models, photos):
//! without them these tests fail, naming it; they never skip.

// Helpers are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

#[path = "browser/camera.rs"]
mod camera;
#[allow(dead_code)] // shared with the API tests, which use all of it
#[path = "provider/support.rs"]
mod support;
#[path = "browser/webdriver.rs"]
mod webdriver;

use std::path::Path;
use std::time::{Duration, Instant};

use idflow_provider::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use support::{TestProvider, new_client, photo};
use webdriver::{Browser, Driver};

/// A provider with a client whose account `obama` is enrolled with obama.jpg.
struct Enrolled {
    _dir: tempfile::TempDir,
    provider: TestProvider,
    key: String,
}

async fn enrolled_provider() -> Enrolled {
    let dir = tempfile::tempdir().unwrap();
    let key = new_client(dir.path(), "browser-client").await;
    let provider = TestProvider::start(dir.path(), &ManualClock::starting_now()).await;
    let enrollment = provider.enroll(&key, "obama", "obama.jpg").await;
    assert_eq!(enrollment["status"], "success", "{enrollment}");
    Enrolled {
        _dir: dir,
        provider,
        key,
    }
}

/// A web token for the account `obama`, sending the user to `redirect` at the end.
async fn web_token(p: &TestProvider, key: &str, redirect: Option<&str>) -> String {
    let mut fields = vec![
        ("key_type", "web"),
        ("grant", "digital-identity"),
        ("api_key_version", "1"),
        ("country", "ALL"),
        ("account_id", "obama"),
        ("flow_id", "IPFbrowser"),
    ];
    if let Some(redirect) = redirect {
        fields.push(("redirect_url", redirect));
    }
    let (status, body) = p.post_form(key, "/v1/api-keys", &fields, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_key"].as_str().unwrap().to_owned()
}

/// The client's site: a page on `127.0.0.1:0` that reports the query of
/// every visit.
struct ClientSite {
    done_url: String,
    visits: mpsc::UnboundedReceiver<String>,
}

async fn client_site() -> ClientSite {
    let (sender, visits) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/done",
        axum::routing::get(move |uri: axum::http::Uri| {
            let sender = sender.clone();
            async move {
                sender
                    .send(uri.query().unwrap_or_default().to_owned())
                    .unwrap();
                axum::response::Html(
                    "<!doctype html><title>Client</title><h1>Back at the client</h1>",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let done_url = format!("http://{}/done", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    ClientSite { done_url, visits }
}

/// What the page showed at the end of a flow, and how long each part took.
#[derive(Debug)]
struct FlowEnd {
    /// `success` or `failure` (the page's `data-result`).
    result: String,
    /// The result text shown to the user.
    message: String,
    /// Where the page sent the browser.
    redirected_to: url::Url,
    timings: Value,
}

/// How the user gives the page a photo.
enum PhotoSource<'a> {
    /// The browser's (fake) camera: allow it, then press Take photo.
    Camera,
    /// The browser has no camera: choose this file instead.
    File(&'a Path),
}

/// Opens the page, gives it a photo from `source`, and follows it to the
/// redirect; screenshots are named after `name`.
async fn run_flow(
    browser: &Browser,
    page_url: &str,
    redirect_prefix: &str,
    name: &str,
    source: PhotoSource<'_>,
) -> FlowEnd {
    let start = Instant::now();
    browser.open(page_url).await;
    let loaded = start.elapsed();
    assert_eq!(browser.document_status().await, 200);
    assert_eq!(browser.title().await, "Identity verification");
    let intro = browser.text("main").await;
    assert!(
        intro.contains("compare it with the face you enrolled"),
        "the page says what will happen: {intro}"
    );

    browser.click("#start-camera").await;
    let video = match source {
        PhotoSource::Camera => {
            browser
                .wait_for(
                    "the camera picture",
                    "const v = document.getElementById('video'); \
                     return v.videoWidth > 0 && !v.hidden && !document.getElementById('capture').hidden;",
                    &[],
                )
                .await;
            let video = browser
                .eval(
                    "const v = document.getElementById('video'); return [v.videoWidth, v.videoHeight];",
                    &[],
                )
                .await;
            browser.screenshot(&format!("{name}-1-camera")).await;
            browser.click("#capture").await;
            video
        }
        PhotoSource::File(file) => {
            let status = browser
                .wait_for(
                    "the page to offer the file instead",
                    "const s = document.getElementById('status').innerText; \
                     return s.includes('choose a photo below instead') ? s : '';",
                    &[],
                )
                .await;
            assert_eq!(status, "No camera was found; choose a photo below instead.");
            browser.screenshot(&format!("{name}-1-no-camera")).await;
            browser.choose_file("#file", file).await;
            Value::Null
        }
    };
    let photo_taken = start.elapsed();
    let result = browser
        .wait_for("the result", "return document.body.dataset.result;", &[])
        .await;
    let result_shown = start.elapsed();
    let message = browser.text("#result").await;
    browser.screenshot(&format!("{name}-2-result")).await;

    let redirected_to = browser.wait_for_url(redirect_prefix).await;
    let redirected = start.elapsed();
    FlowEnd {
        result: result.as_str().unwrap().to_owned(),
        message,
        redirected_to: url::Url::parse(&redirected_to).unwrap(),
        timings: json!({
            "flow": name,
            "video": video,
            "page_loaded_ms": loaded.as_millis(),
            "photo_taken_ms": photo_taken.as_millis(),
            "result_shown_ms": result_shown.as_millis(),
            "redirected_ms": redirected.as_millis(),
        }),
    }
}

/// The process id the page appended to the redirect (and the client's own
/// query, kept in front of it).
fn process_id_of(redirected_to: &url::Url, client_query: &[(&str, &str)]) -> String {
    let pairs: Vec<(String, String)> = redirected_to.query_pairs().into_owned().collect();
    assert_eq!(pairs.len(), client_query.len() + 1, "{redirected_to}");
    for ((key, value), (expected_key, expected_value)) in pairs.iter().zip(client_query) {
        assert_eq!(
            (key.as_str(), value.as_str()),
            (*expected_key, *expected_value)
        );
    }
    let (key, process_id) = pairs.last().unwrap();
    assert_eq!(key, "process_id", "{redirected_to}");
    assert!(process_id.starts_with("IDP"), "{redirected_to}");
    process_id.clone()
}

/// A fake camera showing `photo_name`, written in `dir`.
fn camera_showing(photo_name: &str, dir: &Path) -> std::path::PathBuf {
    camera::y4m_from_photo(&photo(photo_name), dir, photo_name)
}

/// A test of the page: the enrolled provider, the client's site, a web token
/// for `obama` and a browser with the files it uses (its camera, a chosen
/// photo). The browser is declared before its driver so that it goes first.
struct PageTest {
    p: TestProvider,
    key: String,
    site: ClientSite,
    token: String,
    page_url: String,
    browser: Browser,
    _driver: Driver,
    files: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl PageTest {
    /// `redirect_query`: the client's own query on its `redirect_url`
    /// (`None`: the token has no `redirect_url`); `camera_photo`: what the
    /// browser's fake camera shows (`None`: the browser has no camera).
    async fn start(redirect_query: Option<&str>, camera_photo: Option<&str>) -> Self {
        let Enrolled {
            _dir: dir,
            provider: p,
            key,
        } = enrolled_provider().await;
        let site = client_site().await;
        let redirect = redirect_query.map(|query| match query {
            "" => site.done_url.clone(),
            query => format!("{}?{query}", site.done_url),
        });
        let token = web_token(&p, &key, redirect.as_deref()).await;
        let files = tempfile::tempdir().unwrap();
        let camera = camera_photo.map(|name| camera_showing(name, files.path()));
        let driver = Driver::start();
        let browser = driver.browser(camera.as_deref(), files.path()).await;
        let page_url = format!("{}/?token={token}", p.base);
        Self {
            p,
            key,
            site,
            token,
            page_url,
            browser,
            _driver: driver,
            files,
            _dir: dir,
        }
    }

    /// Runs the page's flow (see [`run_flow`]) up to the client's site.
    async fn run_flow(&self, name: &str, source: PhotoSource<'_>) -> FlowEnd {
        let end = run_flow(
            &self.browser,
            &self.page_url,
            &self.site.done_url,
            name,
            source,
        )
        .await;
        println!("page flow timings: {}", end.timings);
        end
    }

    /// The result of the process the flow ended with, after checking that
    /// the client's site saw its id (after `client_query`).
    async fn redirected_result(&mut self, end: &FlowEnd, client_query: &[(&str, &str)]) -> Value {
        let process_id = process_id_of(&end.redirected_to, client_query);
        assert_eq!(
            self.site.visits.recv().await.unwrap(),
            end.redirected_to.query().unwrap(),
            "the client's site saw the process id"
        );
        let (status, result) = self
            .p
            .get(&self.key, &format!("/v1/processes/{process_id}/result"))
            .await;
        assert_eq!(status, StatusCode::OK, "{result}");
        result
    }

    async fn finish(self) {
        self.browser.quit().await;
        self.p.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enrolled_person_is_verified_in_a_real_browser() {
    let mut test = PageTest::start(Some("step=2"), Some("obama2.jpg")).await;

    let end = test.run_flow("same-person", PhotoSource::Camera).await;
    assert_eq!(end.result, "success", "{}", end.message);
    assert!(
        end.message.starts_with("Verified"),
        "the user is told: {}",
        end.message
    );
    let result = test.redirected_result(&end, &[("step", "2")]).await;
    assert_eq!(test.browser.text("h1").await, "Back at the client");
    assert_eq!(result["status"], "success", "{result}");
    assert_eq!(result["account_id"], "obama");
    let face = &result["validations"][0]["details"]["face_recognition_validations"];
    assert_eq!(face["similarity_status"], "success", "{result}");
    println!(
        "confidence score of the camera photo: {}",
        face["confidence_score"]
    );

    // Back on the page with the same token: one process only.
    let browser = &test.browser;
    browser.open(&test.page_url).await;
    assert_eq!(browser.document_status().await, 409);
    assert_eq!(
        browser.title().await,
        "This verification link was already used"
    );
    assert!(browser.text("main").await.contains("one verification only"));
    let second = browser
        .eval(
            "const canvas = document.createElement('canvas'); canvas.width = 8; canvas.height = 8; \
             return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg')) \
               .then((photo) => fetch('/v1/web/processes', { method: 'POST', body: photo, \
                 headers: { 'Authorization': 'Bearer ' + arguments[0], 'Content-Type': 'image/jpeg' } })) \
               .then((response) => response.json().then((body) => [response.status, body]));",
            &[json!(test.token)],
        )
        .await;
    assert_eq!(second[0], 409, "a second process is refused: {second}");
    assert!(
        !second.to_string().contains(&test.token),
        "the token is echoed: {second}"
    );
    browser.screenshot("same-person-3-used-token").await;

    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_person_is_refused_in_a_real_browser() {
    let mut test = PageTest::start(Some(""), Some("biden.jpg")).await;

    let end = test.run_flow("other-person", PhotoSource::Camera).await;
    assert_eq!(end.result, "failure", "{}", end.message);
    assert_eq!(
        end.message,
        "Not verified: the face does not match the enrolled face."
    );
    let result = test.redirected_result(&end, &[]).await;
    assert_eq!(result["status"], "failure", "{result}");
    assert_eq!(
        result["validations"][0]["declined_reason"], "similarity_threshold_not_passed",
        "{result}"
    );
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_camera_a_chosen_photo_is_verified_in_a_real_browser() {
    let mut test = PageTest::start(Some(""), None).await;
    let chosen = test.files.path().join("selfie.jpg");
    std::fs::write(&chosen, photo("obama3.jpg")).unwrap();

    let end = test
        .run_flow("chosen-file", PhotoSource::File(&chosen))
        .await;
    assert_eq!(end.result, "success", "{}", end.message);
    let result = test.redirected_result(&end, &[]).await;
    assert_eq!(result["status"], "success", "{result}");
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_missing_and_expired_tokens_show_clear_pages_in_a_real_browser() {
    let test = PageTest::start(None, None).await;
    let (p, browser) = (&test.p, &test.browser);

    // (screenshot, token, status, title, a sentence of the explanation)
    let cases = [
        (
            "token-unknown",
            Some("not-a-token"),
            401,
            "This verification link is not valid",
            "Ask for a new link.",
        ),
        (
            "token-missing",
            None,
            400,
            "This verification link is incomplete",
            "The link has no token.",
        ),
    ];
    for (screenshot, token, status, title, explanation) in cases {
        let url = match token {
            Some(token) => format!("{}/?token={token}", p.base),
            None => format!("{}/", p.base),
        };
        browser.open(&url).await;
        assert_eq!(browser.document_status().await, status, "{url}");
        assert_eq!(browser.title().await, title);
        assert_eq!(browser.text("h1").await, title);
        assert!(browser.text("main").await.contains(explanation));
        browser.screenshot(screenshot).await;
    }

    // The token works, and two hours later it has expired.
    browser.open(&test.page_url).await;
    assert_eq!(browser.document_status().await, 200);
    p.clock.advance(Duration::from_hours(2));
    browser.open(&test.page_url).await;
    assert_eq!(browser.document_status().await, 410);
    assert_eq!(browser.title().await, "This verification link has expired");
    assert!(
        browser
            .text("main")
            .await
            .contains("valid for a limited time")
    );
    browser.screenshot("token-expired").await;

    test.finish().await;
}
