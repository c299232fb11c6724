//! A small WebDriver client (W3C protocol over reqwest) for Debian's
//! `chromedriver`, which the tests start on a free loopback port; the browser
//! is Debian's `chromium`, headless, with a fake camera fed from a file.
//! Waiting is WebDriver polling with a bounded deadline.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// Where `scripts/setup` installs the browser and its driver (Debian
/// `chromium` and `chromium-driver`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any one wait may take before the test fails.
pub const WAIT_DEADLINE: Duration = Duration::from_mins(1);
/// Interval between two polls of the page.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Key of an element reference in W3C WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Fails (never skips) when the browser or its driver is not installed.
fn require_installed() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).is_file(),
            "the browser tests need {path} (Debian package {package}); run `scripts/setup` to install it"
        );
    }
}

/// A running `chromedriver`; killed (with the browsers it started) on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    url: String,
    screenshots: PathBuf,
    http: reqwest::Client,
}

impl Driver {
    /// Starts `chromedriver --port=0` in its own process group and reads the
    /// port it chose from its first lines of output; its browsers save
    /// screenshots in `screenshots` (a test's `CARGO_TARGET_TMPDIR`
    /// subfolder, say).
    pub fn start(screenshots: &Path) -> Self {
        require_installed();
        let mut command = Command::new(CHROMEDRIVER);
        command
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e} (run `scripts/setup`)"));
        let stdout = child.stdout.take().expect("chromedriver stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("chromedriver exited before saying its port (run `scripts/setup`)");
            };
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
            {
                break port;
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            screenshots: screenshots.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// Opens a headless Chromium with a new profile in `profile_dir`; its
    /// camera shows `camera_file` (`.y4m` or `.mjpeg`) when given.
    pub async fn browser(&self, camera_file: Option<&Path>, profile_dir: &Path) -> Browser {
        self.browser_speaking(camera_file, profile_dir, None).await
    }

    /// [`Driver::browser`] whose requests carry `Accept-Language:
    /// accept_language` (the user's language settings) when given.
    pub async fn browser_speaking(
        &self,
        camera_file: Option<&Path>,
        profile_dir: &Path,
        accept_language: Option<&str>,
    ) -> Browser {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=800,1000".to_owned(),
            format!("--user-data-dir={}", profile_dir.join("profile").display()),
        ];
        if let Some(camera_file) = camera_file {
            args.extend([
                "--use-fake-ui-for-media-stream".to_owned(),
                "--use-fake-device-for-media-stream".to_owned(),
                format!(
                    "--use-file-for-fake-video-capture={}",
                    camera_file.display()
                ),
            ]);
        }
        let mut options = json!({"binary": CHROMIUM, "args": args});
        if let Some(languages) = accept_language {
            options["prefs"] = json!({"intl.accept_languages": languages});
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": options,
        }}});
        let answer = command(
            &self.http,
            reqwest::Method::POST,
            &format!("{}/session", self.url),
            Some(capabilities),
        )
        .await
        .unwrap_or_else(|e| panic!("chromium did not start through chromedriver: {e}"));
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {answer}"))
            .to_owned();
        Browser {
            http: self.http.clone(),
            session_url: format!("{}/session/{session}", self.url),
            screenshots: self.screenshots.clone(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any browser a failed test left open.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one WebDriver command and returns its `value`, or the driver's error.
async fn command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    } else if method == reqwest::Method::POST {
        request = request.json(&json!({}));
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let mut answer: Value = response
        .json()
        .await
        .map_err(|e| format!("{method} {url}: unreadable answer: {e}"))?;
    let value = answer["value"].take();
    if status.is_success() {
        Ok(value)
    } else {
        Err(format!(
            "{method} {url}: {status} {}: {}",
            value["error"].as_str().unwrap_or("?"),
            value["message"].as_str().unwrap_or("?")
        ))
    }
}

/// One browser session.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    session_url: String,
    screenshots: PathBuf,
}

impl Browser {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session_url);
        command(&self.http, method, &url, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Navigates and waits for the page to load.
    pub async fn open(&self, url: &str) {
        self.send(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn current_url(&self) -> String {
        let url = self.send(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    pub async fn title(&self) -> String {
        let title = self.send(reqwest::Method::GET, "/title", None).await;
        title.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn eval(&self, script: &str, args: &[Value]) -> Value {
        self.send(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The visible text of the first element matching `css` ("" if none).
    pub async fn text(&self, css: &str) -> String {
        let text = self
            .eval(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                &[json!(css)],
            )
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The HTTP status of the current document, as the browser received it.
    pub async fn document_status(&self) -> u64 {
        let status = self
            .eval(
                "return performance.getEntriesByType('navigation')[0].responseStatus;",
                &[],
            )
            .await;
        status
            .as_u64()
            .unwrap_or_else(|| panic!("no response status: {status}"))
    }

    /// The WebDriver id of the first element matching `css`.
    async fn element(&self, css: &str) -> String {
        let element = self
            .send(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        element[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {element}"))
            .to_owned()
    }

    /// Clicks the element matching `css` as a user would (it must be visible
    /// and enabled, or the driver refuses).
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.send(reqwest::Method::POST, &format!("/element/{id}/click"), None)
            .await;
    }

    /// Chooses `file` in the file input matching `css`, as a user would.
    pub async fn choose_file(&self, css: &str, file: &Path) {
        self.type_into(css, file.to_str().expect("a UTF-8 path"))
            .await;
    }

    /// Types `text` into the element matching `css`, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.send(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Polls `script` until it returns a truthy value (returned), failing
    /// with `what` after [`WAIT_DEADLINE`].
    pub async fn wait_for(&self, what: &str, script: &str, args: &[Value]) -> Value {
        let deadline = Instant::now() + WAIT_DEADLINE;
        loop {
            let value = self.eval(script, args).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::Array(_) | Value::Object(_) => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT_DEADLINE:?} waiting for {what}; page says: {}",
                self.text("body").await
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Polls the current URL until it starts with `prefix`.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT_DEADLINE;
        loop {
            let url = self.current_url().await;
            if url.starts_with(prefix) {
                return url;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT_DEADLINE:?} waiting to be sent to {prefix}; still on {url}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Saves a PNG of the viewport in the screenshots folder and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let encoded = self.send(reqwest::Method::GET, "/screenshot", None).await;
        save_png(&self.screenshots, name, &encoded)
    }

    /// Saves a PNG of the whole page (beyond the viewport, as a user would
    /// see it by scrolling) in the screenshots folder; returns its path.
    pub async fn full_page_screenshot(&self, name: &str) -> PathBuf {
        let size = self
            .eval(
                "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight];",
                &[],
            )
            .await;
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
                }),
            )
            .await;
        save_png(&self.screenshots, name, &shot["data"])
    }

    /// Lays the page out as on a screen of `width` x `height` CSS pixels;
    /// `mobile`: as a phone does (the viewport meta tag, touch).
    pub async fn emulate_screen(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.send(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await
    }

    /// Closes the browser.
    pub async fn quit(self) {
        self.send(reqwest::Method::DELETE, "", None).await;
    }
}

/// Writes a base64 PNG into `dir`.
fn save_png(dir: &Path, name: &str, encoded: &Value) -> PathBuf {
    let png = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().unwrap_or_default())
        .expect("the screenshot is base64");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
    path
}
