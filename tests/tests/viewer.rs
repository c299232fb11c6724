//! The run viewer in a real browser, through the real `idflow serve`:
//! Debian's headless Chromium driven through `chromedriver` (the
//! idflow-browser helpers shared with the verification page's tests).
//! Signing in (a wrong token first), a run started by the API appearing on
//! the runs page and turning green live on its page (no reload: its graph
//! and timeline follow the run's events), a waiting run cancelled with the
//! page's button. Every page passes axe-core with no violation, at phone
//! (360 px) and desktop width, without horizontal scrolling; screenshots
//! in `target/tmp/viewer-screenshots/`.
//!
//! Waits poll the page with a bounded deadline; the run that turns green
//! waits on a loopback "gate" the test opens only once the page shows the
//! run going on, so it is seen live whatever the machine's speed.
//!
//! Needs `scripts/setup` (chromium, chromium-driver, axe-core): without
//! them the test fails, naming it; it never skips.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use idflow_browser::{Browser, Driver, axe};
use idflow_tests::server::{NAPPING, Server, token};
use serde_json::{Value, json};

/// Waits on the gate (polling it), then finishes; `notify` runs only if
/// something failed, so it ends skipped.
const GATED: &str = r"
name: gated
description: waits until a gate opens
inputs:
  gate: {type: string}
steps:
  prepare:
    uses: core.log
    with: {message: preparing}
  wait_for_gate:
    uses: core.http
    needs: [prepare]
    with: {url: '${{ inputs.gate }}'}
    until: outputs.body.open
    poll: {interval: 150ms, timeout: 5m}
  finish:
    uses: core.set
    needs: [wait_for_gate]
    with: {result: done}
  notify:
    uses: core.log
    needs: [finish]
    if: failure()
    with: {message: something failed}
outputs:
  result: ${{ steps.finish.outputs.result }}
";

/// A loopback endpoint answering `{"open": false}` until opened.
struct Gate {
    url: String,
    open: Arc<AtomicBool>,
}

impl Gate {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/gate", listener.local_addr().unwrap());
        let open = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&open);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = json!({"open": flag.load(Ordering::SeqCst)}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, open }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-screenshots")
}

async fn start_run(url: &str, token: &str, body: &Value) -> String {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/runs"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{answer}");
    answer["run_id"].as_str().unwrap().to_owned()
}

/// The state of the graph node of `step` ("" while not drawn).
const NODE_STATUS: &str = "const n = document.querySelector(`#graph .node[data-step=\"${arguments[0]}\"]`); \
                           return n ? n.dataset.status : '';";

async fn wait_for_step(browser: &Browser, step: &str, states: &[&str]) -> String {
    let script =
        format!("const s = (() => {{ {NODE_STATUS} }})(); return {states:?}.includes(s) ? s : '';");
    browser
        .wait_for(
            &format!("the graph to show {step} {states:?}"),
            &script,
            &[json!(step)],
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_for_run_status(browser: &Browser, status: &str) {
    browser
        .wait_for(
            &format!("the run page to say {status}"),
            "return document.body.dataset.status === arguments[0];",
            &[json!(status)],
        )
        .await;
}

/// At phone and desktop width: no horizontal scrolling, no axe violation,
/// a full-page screenshot of each.
async fn check_widths(browser: &Browser, name: &str) {
    for (width, height, mobile, label) in [(360, 740, true, "phone"), (1280, 900, false, "desktop")]
    {
        browser.emulate_screen(width, height, mobile).await;
        let overflow = browser
            .eval(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                &[],
            )
            .await;
        assert_eq!(overflow, 0, "{name} scrolls sideways at {label} width");
        axe::assert_no_violations(browser, &format!("{name} at {label} width")).await;
        browser
            .full_page_screenshot(&format!("{name}-{label}"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_signs_in_follows_a_run_live_to_green_and_cancels_a_waiting_one() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("gated.yaml"), GATED).unwrap();
    std::fs::write(workflows.path().join("napping.yaml"), NAPPING).unwrap();
    let token = token(data.path(), "viewer");
    let server = Server::start(data.path(), workflows.path(), &["--no-provider"]);
    let url = server.url.clone();
    let gate = Gate::start();
    let driver = Driver::start(&screenshots_dir());
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(None, profile.path()).await;

    // Without a session the viewer asks for a token; a wrong one is refused.
    browser.open(&format!("{url}/ui")).await;
    browser.wait_for_url(&format!("{url}/ui/login")).await;
    check_widths(&browser, "1-sign-in").await;
    browser.type_into("#token", "idf_not-a-token").await;
    browser.click("#sign-in").await;
    let refused = browser
        .wait_for(
            "the refusal",
            "const e = document.getElementById('login-error'); return e ? e.innerText : '';",
            &[],
        )
        .await;
    assert!(refused.as_str().unwrap().contains("not valid"), "{refused}");
    assert_eq!(browser.document_status().await, 401);
    axe::assert_no_violations(&browser, "the refused sign-in").await;
    browser.type_into("#token", &token).await;
    browser.click("#sign-in").await;
    browser
        .wait_for(
            "the runs page",
            "return location.pathname === '/ui' && document.body.dataset.loaded === 'true';",
            &[],
        )
        .await;

    // A run started by the API shows up on the runs page by itself.
    let run_id = start_run(
        &url,
        &token,
        &json!({"workflow": "gated", "inputs": {"gate": gate.url}}),
    )
    .await;
    let row = format!("#runs tr[data-run-id=\"{run_id}\"] a");
    browser
        .wait_for(
            "the new run on the runs page",
            "return document.querySelector(arguments[0]) !== null;",
            &[json!(row)],
        )
        .await;
    browser.click(&row).await;
    browser
        .wait_for_url(&format!("{url}/ui/runs/{run_id}"))
        .await;
    browser
        .wait_for(
            "the run page",
            "return document.body.dataset.loaded === 'true';",
            &[],
        )
        .await;

    // It waits at the gate: the page shows it going on.
    let waiting = wait_for_step(&browser, "wait_for_gate", &["running", "waiting"]).await;
    assert_eq!(
        browser.eval(NODE_STATUS, &[json!("prepare")]).await,
        "succeeded"
    );
    assert_eq!(
        browser.eval(NODE_STATUS, &[json!("finish")]).await,
        "pending"
    );
    let condition = browser
        .eval(
            "return document.querySelector('#graph .node[data-step=\"notify\"] .cond').textContent;",
            &[],
        )
        .await;
    assert_eq!(condition, "if: failure()", "the graph shows the condition");
    assert!(
        !browser
            .eval("return document.getElementById('cancel').disabled;", &[])
            .await
            .as_bool()
            .unwrap(),
        "a run going on can be cancelled"
    );
    browser
        .eval("window.sameDocument = true; return true;", &[])
        .await;
    browser
        .screenshot(&format!("2-run-at-the-gate-{waiting}"))
        .await;

    // The gate opens: the page turns green without being reloaded.
    gate.open();
    wait_for_run_status(&browser, "succeeded").await;
    for step in ["prepare", "wait_for_gate", "finish"] {
        wait_for_step(&browser, step, &["succeeded"]).await;
    }
    wait_for_step(&browser, "notify", &["skipped"]).await;
    assert_eq!(
        browser
            .eval("return window.sameDocument === true;", &[])
            .await,
        true,
        "the page followed the run live, without a reload"
    );
    let fill = browser
        .eval(
            "return getComputedStyle(document.querySelector('#graph .node[data-step=\"finish\"] rect')).fill;",
            &[],
        )
        .await;
    assert_eq!(fill, "rgb(216, 243, 223)", "succeeded steps are green");
    assert_eq!(
        browser
            .eval("return document.body.dataset.live;", &[])
            .await,
        "closed",
        "the events stream ended with the run"
    );
    assert!(
        browser
            .eval("return document.getElementById('cancel').disabled;", &[])
            .await
            .as_bool()
            .unwrap(),
        "a finished run cannot be cancelled"
    );

    // The timeline: every attempt, the poll waits between them drawn
    // otherwise than attempts.
    let marks = browser
        .wait_for(
            "the timeline's attempts and poll waits",
            "const bars = [...document.querySelectorAll('#timeline .tl-bar')]; \
             const polls = bars.filter((b) => b.dataset.kind === 'poll_wait'); \
             const attempts = bars.filter((b) => b.dataset.kind === 'attempt'); \
             return polls.length > 0 && attempts.length >= 4 \
               ? { polls: polls.length, attempts: attempts.length, \
                   poll: getComputedStyle(polls[0]).backgroundImage, \
                   attempt: getComputedStyle(attempts[0]).backgroundImage } : null;",
            &[],
        )
        .await;
    assert_ne!(marks["poll"], marks["attempt"], "{marks}");
    assert!(
        marks["poll"].as_str().unwrap().contains("radial-gradient"),
        "{marks}"
    );
    let outputs = browser.text("#io").await;
    assert!(outputs.contains("\"result\": \"done\""), "{outputs}");
    check_widths(&browser, "3-run-succeeded").await;

    // The runs page lists it as succeeded.
    browser.open(&format!("{url}/ui")).await;
    browser
        .wait_for(
            "the run listed as succeeded",
            "const r = document.querySelector(`#runs tr[data-run-id=\"${arguments[0]}\"]`); \
             return r && r.dataset.status === 'succeeded';",
            &[json!(run_id)],
        )
        .await;
    check_widths(&browser, "4-runs").await;

    // A run that waits an hour is cancelled with the button; its cleanup runs.
    let napping = start_run(&url, &token, &json!({"workflow": "napping"})).await;
    browser.open(&format!("{url}/ui/runs/{napping}")).await;
    wait_for_step(&browser, "nap", &["running"]).await;
    browser.emulate_screen(360, 740, true).await;
    browser.screenshot("5-napping-phone").await;
    browser.click("#cancel").await;
    wait_for_run_status(&browser, "cancelled").await;
    wait_for_step(&browser, "nap", &["cancelled"]).await;
    wait_for_step(&browser, "tidy", &["succeeded"]).await;
    browser
        .wait_for(
            "the nap's attempt drawn as stopped by the cancel",
            "return document.querySelector('#timeline .tl-row[data-step=\"nap\"] .bar-stopped') !== null;",
            &[],
        )
        .await;
    assert!(
        browser
            .eval("return document.getElementById('cancel').disabled;", &[])
            .await
            .as_bool()
            .unwrap()
    );
    check_widths(&browser, "6-run-cancelled").await;

    // Signing out ends the session.
    browser.click("header form button").await;
    browser.wait_for_url(&format!("{url}/ui/login")).await;
    browser.open(&format!("{url}/ui")).await;
    browser.wait_for_url(&format!("{url}/ui/login")).await;
    browser.quit().await;
    drop(server);
}
