//! The verification page in a real browser: Debian's headless Chromium,
//! driven through `chromedriver` (WebDriver), with a fake camera that shows a
//! real photo. The user consents, then the enrolled person ends in success,
//! another person in failure; both are sent back to the client's
//! `redirect_url` with the process id. A photo without a face is a retry.
//! Expired, unknown and used tokens get clear pages. Every state of the
//! page, in Spanish, Portuguese and English, at phone and desktop width,
//! passes axe-core with no violation and is screenshotted
//! (`target/tmp/browser-screenshots/`).
//!
//! Needs `scripts/setup` (chromium, chromium-driver, face models, photos,
//! axe-core): without them these tests fail, naming it; they never skip.

// Helpers are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // shared with the API tests, which use all of it
#[path = "provider/support.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use idflow_provider::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use idflow_browser::{Browser, Driver, axe, camera};
use support::{TestProvider, new_client, photo};

/// Where the screenshots go (`target/tmp/browser-screenshots/`).
fn screenshots_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots")
}

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
    assert_eq!(
        browser
            .eval("return document.body.dataset.state;", &[])
            .await,
        "consent",
        "nothing happens before the user agrees"
    );

    browser.click("#accept").await;
    let video = match source {
        PhotoSource::Camera => {
            wait_for_camera(browser).await;
            let video = browser
                .eval(
                    "const v = document.getElementById('video'); return [v.videoWidth, v.videoHeight];",
                    &[],
                )
                .await;
            browser.screenshot(&format!("{name}-1-camera")).await;
            browser.click("#shutter").await;
            video
        }
        PhotoSource::File(file) => {
            let note = browser
                .wait_for(
                    "the page to offer the file instead",
                    "const s = document.getElementById('camera-note').innerText; \
                     return s.includes('Choose a photo') ? s : '';",
                    &[],
                )
                .await;
            assert_eq!(
                note,
                "No camera was found. Choose a photo of your face instead."
            );
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
    let message = format!(
        "{}: {}",
        browser.text("#result-heading").await,
        browser.text("#result-text").await
    );
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

/// Waits until the camera shows a picture and the shutter can be pressed.
async fn wait_for_camera(browser: &Browser) {
    browser
        .wait_for(
            "the camera picture",
            "const v = document.getElementById('video'); \
             return v.videoWidth > 0 && !document.getElementById('viewfinder').hidden \
               && !document.getElementById('shutter').hidden;",
            &[],
        )
        .await;
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
        let driver = Driver::start(&screenshots_dir());
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
        end.message.starts_with("You are verified"),
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
        "We could not verify you: The face in the photo does not match the face you enrolled."
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
        axe::assert_no_violations(browser, screenshot).await;
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

/// The screens each state is checked on: name, CSS width and height, phone.
const SCREENS: [(&str, u32, u32, bool); 2] =
    [("phone", 360, 740, true), ("desktop", 1280, 900, false)];

/// What is wrong with the layout as it is now: a page wider than the
/// screen, or a visible button or link smaller than 44 x 44 px.
const LAYOUT_PROBLEMS: &str = "const problems = []; \
    const width = document.documentElement.scrollWidth; \
    if (width > window.innerWidth) problems.push('the page is ' + width + ' px wide'); \
    for (const e of document.querySelectorAll('button, a, label.button')) { \
      const r = e.getBoundingClientRect(); \
      if (r.width === 0 && r.height === 0) continue; \
      if (r.width < 44 || r.height < 44) \
        problems.push((e.id || e.textContent.trim()) + ' is ' + Math.round(r.width) + 'x' + Math.round(r.height)); \
    } \
    return problems;";

/// The page in `state` speaks `lang`, has no axe-core violation, fits the
/// screen and has large targets, at phone and desktop width; screenshots
/// of both (the whole page) are saved as `page-LANG-INDEX-STATE-SCREEN`.
async fn check_state(browser: &Browser, lang: &str, index: usize, state: &str) {
    let html_lang = browser
        .eval("return document.documentElement.lang;", &[])
        .await;
    assert_eq!(html_lang, lang, "{state}");
    for (screen, width, height, mobile) in SCREENS {
        browser.emulate_screen(width, height, mobile).await;
        let what = format!("the {state} state ({lang}, {screen})");
        axe::assert_no_violations(browser, &what).await;
        let problems = browser.eval(LAYOUT_PROBLEMS, &[]).await;
        assert_eq!(problems, json!([]), "{what}");
        browser
            .full_page_screenshot(&format!("page-{lang}-{index}-{state}-{screen}"))
            .await;
    }
}

async fn wait_for_state(browser: &Browser, state: &str) {
    browser
        .wait_for(
            state,
            "return document.body.dataset.state === arguments[0];",
            &[json!(state)],
        )
        .await;
}

async fn wait_for_result(browser: &Browser, result: &str) {
    let seen = browser
        .wait_for("the result", "return document.body.dataset.result;", &[])
        .await;
    assert_eq!(
        seen,
        result,
        "the page says: {}",
        browser.text("#result").await
    );
}

/// The message table the page was served with.
async fn messages(browser: &Browser) -> Value {
    browser
        .eval(
            "return JSON.parse(document.getElementById('messages').textContent);",
            &[],
        )
        .await
}

fn message<'a>(table: &'a Value, name: &str) -> &'a str {
    table[name]
        .as_str()
        .unwrap_or_else(|| panic!("no message {name}"))
}

/// A photo's luminance on a 16 x 16 grid, for comparing photos of
/// different sizes and encodings.
fn luminance_grid(image: &image::DynamicImage) -> Vec<f64> {
    let small = image::imageops::resize(
        &image.to_luma8(),
        16,
        16,
        image::imageops::FilterType::Triangle,
    );
    small.pixels().map(|p| f64::from(p.0[0])).collect()
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let n = a.len() as f64;
    let (mean_a, mean_b) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - mean_a) * (y - mean_b);
        aa += (x - mean_a).powi(2);
        bb += (y - mean_b).powi(2);
    }
    ab / (aa * bb).sqrt()
}

/// The photo the page sent (`#photo`) is the camera's picture as the camera
/// sees it, not the mirrored preview: it looks more like `camera_photo`
/// than like its mirror image.
async fn assert_sent_as_the_camera_sees(browser: &Browser, camera_photo: &str) {
    let data_url = browser
        .eval(
            "const img = document.getElementById('photo'); \
             const c = document.createElement('canvas'); \
             c.width = img.naturalWidth; c.height = img.naturalHeight; \
             c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png');",
            &[],
        )
        .await;
    let encoded = data_url
        .as_str()
        .and_then(|url| url.strip_prefix("data:image/png;base64,"))
        .unwrap();
    let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).unwrap();
    let sent = luminance_grid(&image::load_from_memory(&png).unwrap());
    let seen = camera::upright(&photo(camera_photo));
    let (as_seen, mirror) = (luminance_grid(&seen), luminance_grid(&seen.fliph()));
    let (straight, flipped) = (correlation(&sent, &as_seen), correlation(&sent, &mirror));
    assert!(
        straight > 0.9 && straight > flipped + 0.05,
        "the photo sent is not the camera's picture as seen: correlation {straight:.3} with \
         it, {flipped:.3} with its mirror image"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_of_the_page_is_accessible_in_three_languages_in_a_real_browser() {
    let test = PageTest::start(None, Some("obama2.jpg")).await;
    let (p, browser) = (&test.p, &test.browser);
    let file = |name: &str| {
        let path = test.files.path().join(name);
        std::fs::write(&path, photo(name)).unwrap();
        path
    };
    let (no_face, other_person, same_person) =
        (file("coffee.png"), file("biden.jpg"), file("obama3.jpg"));

    for lang in ["es", "pt", "en"] {
        let open = |token: String| format!("{}/?token={token}&lang={lang}", p.base);
        browser
            .open(&open(web_token(p, &test.key, None).await))
            .await;
        let t = messages(browser).await;

        // Consent first: nothing is captured before the user agrees.
        assert_eq!(browser.text("h1").await, message(&t, "consent_heading"));
        check_state(browser, lang, 1, "consent").await;
        browser.click("#decline").await;
        wait_for_state(browser, "declined").await;
        assert_eq!(
            browser.text("#declined h1").await,
            message(&t, "declined_heading")
        );
        check_state(browser, lang, 2, "declined").await;
        browser.click("#restart").await;
        wait_for_state(browser, "consent").await;

        // The camera: mirrored preview under the oval.
        browser.click("#accept").await;
        wait_for_camera(browser).await;
        let mirrored = browser
            .eval(
                "return getComputedStyle(document.getElementById('video')).transform;",
                &[],
            )
            .await;
        assert_eq!(
            mirrored, "matrix(-1, 0, 0, 1, 0, 0)",
            "the preview is a mirror"
        );
        check_state(browser, lang, 3, "capture").await;

        // A photo without a face: a plain reason and another try.
        browser.choose_file("#file", &no_face).await;
        wait_for_result(browser, "retry").await;
        assert_eq!(
            browser.text("#result-text").await,
            message(&t, "reason_no_face_detected")
        );
        assert_eq!(
            browser.text("#result-note").await,
            message(&t, "photos_left").replace("{n}", "2")
        );
        check_state(browser, lang, 4, "retry").await;

        // The retry with the camera succeeds; the photo sent is not mirrored.
        browser.click("#retry").await;
        wait_for_camera(browser).await;
        browser.click("#shutter").await;
        wait_for_result(browser, "success").await;
        assert_eq!(
            browser.text("#result-heading").await,
            message(&t, "success_heading")
        );
        let photo_transform = browser
            .eval(
                "return getComputedStyle(document.getElementById('photo')).transform;",
                &[],
            )
            .await;
        assert_eq!(photo_transform, "none");
        assert_sent_as_the_camera_sees(browser, "obama2.jpg").await;
        check_state(browser, lang, 5, "success").await;

        // Another person: a final failure, said plainly.
        browser
            .open(&open(web_token(p, &test.key, None).await))
            .await;
        browser.click("#accept").await;
        wait_for_camera(browser).await;
        browser.choose_file("#file", &other_person).await;
        wait_for_result(browser, "failure").await;
        assert_eq!(
            browser.text("#result-text").await,
            message(&t, "reason_similarity_threshold_not_passed")
        );
        check_state(browser, lang, 6, "failure").await;

        // An error: the link was used elsewhere while the page was open.
        let token = web_token(p, &test.key, None).await;
        browser.open(&open(token.clone())).await;
        browser.click("#accept").await;
        wait_for_camera(browser).await;
        let elsewhere = p
            .request(reqwest::Method::POST, "/v1/web/processes", None)
            .bearer_auth(&token)
            .header("Content-Type", "image/jpeg")
            .body(photo("obama3.jpg"))
            .send()
            .await
            .unwrap();
        assert_eq!(elsewhere.status(), StatusCode::ACCEPTED);
        browser.choose_file("#file", &same_person).await;
        wait_for_result(browser, "error").await;
        assert_eq!(
            browser.text("#result-text").await,
            message(&t, "link_used_text")
        );
        check_state(browser, lang, 7, "error").await;
    }
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_speaks_the_language_of_the_browser_in_a_real_browser() {
    let Enrolled {
        _dir: dir,
        provider: p,
        key,
    } = enrolled_provider().await;
    let token = web_token(&p, &key, None).await;
    let files = tempfile::tempdir().unwrap();
    let driver = Driver::start(&screenshots_dir());
    let browser = driver
        .browser_speaking(None, files.path(), Some("es-CO,es;q=0.9,en;q=0.5"))
        .await;

    browser.open(&format!("{}/?token={token}", p.base)).await;
    assert_eq!(browser.title().await, "Verificación de identidad");
    assert_eq!(
        browser
            .eval("return document.documentElement.lang;", &[])
            .await,
        "es"
    );
    assert_eq!(browser.text("h1").await, "Verifica tu identidad");
    assert!(
        browser
            .text("main")
            .await
            .contains("browser-client te pide"),
        "the consent names the client"
    );

    // The language switcher keeps the token.
    browser.click("nav a[lang='pt']").await;
    browser
        .wait_for(
            "the page in Portuguese",
            "return document.documentElement.lang === 'pt';",
            &[],
        )
        .await;
    assert_eq!(browser.text("h1").await, "Confirme sua identidade");
    let url = url::Url::parse(&browser.current_url().await).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        vec![
            ("token".into(), token.clone()),
            ("lang".into(), "pt".into())
        ]
    );
    browser.screenshot("language-switched-to-pt").await;

    // The link's problems are told in the browser's language too.
    browser.open(&format!("{}/", p.base)).await;
    assert_eq!(browser.document_status().await, 400);
    assert_eq!(
        browser.title().await,
        "Este enlace de verificación está incompleto"
    );
    axe::assert_no_violations(&browser, "the incomplete link page (es)").await;
    browser.screenshot("token-missing-es").await;

    browser.quit().await;
    drop(driver);
    p.stop().await;
    drop(dir);
}
