//! `idflow serve` and `idflow provider create-client`, through the binary:
//! a client created by the CLI calls the API of a provider served by the
//! CLI on a free loopback port; SIGTERM and SIGINT stop it cleanly; missing
//! models stop it at start, naming `scripts/setup`.
//!
//! Serving loads the real face models from `.cache/models` (`scripts/setup`).

// Helpers are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const IDFLOW: &str = env!("CARGO_BIN_EXE_idflow");
/// Guard against a hang: starting (loading the models) takes about a second.
const GUARD: Duration = Duration::from_mins(2);

/// `idflow` with a clean environment for the provider's settings.
fn idflow() -> Command {
    let mut command = Command::new(IDFLOW);
    for name in [
        "IDFLOW_PROVIDER_DATA",
        "IDFLOW_MODELS_DIR",
        "IDFLOW_PROVIDER_PUBLIC_URL",
        "IDFLOW_LOG",
    ] {
        command.env_remove(name);
    }
    command
}

fn create_client(data: &Path, name: &str) -> Output {
    idflow()
        .args(["provider", "create-client", name, "--data"])
        .arg(data)
        .output()
        .expect("idflow runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn create_client_prints_the_new_key_alone() {
    let data = tempfile::tempdir().unwrap();
    let created = create_client(data.path(), "acme");
    assert!(created.status.success(), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    let key = stdout.strip_suffix('\n').expect("one line");
    assert!(
        key.starts_with("idfk_") && !key.contains(char::is_whitespace),
        "{stdout:?}"
    );
    assert!(
        !text(&created.stderr).contains(key),
        "the key is on stderr too"
    );

    // A second client gets another key; a taken or malformed name is refused
    // (exit 2, nothing on stdout).
    let other = create_client(data.path(), "globex");
    assert!(other.status.success());
    assert_ne!(text(&other.stdout), stdout);
    for (name, complaint) in [
        ("acme", "already exists"),
        ("no spaces", "invalid client name"),
    ] {
        let refused = create_client(data.path(), name);
        assert_eq!(refused.status.code(), Some(2), "{name}");
        assert!(refused.stdout.is_empty(), "{name}");
        let stderr = text(&refused.stderr);
        assert!(stderr.contains(complaint), "{name}: {stderr}");
    }
}

/// `idflow serve --addr 127.0.0.1:0` as a child, and the URL it printed.
struct Served {
    /// Taken when stopped; killed on drop otherwise (a failed test).
    child: Option<Child>,
    url: String,
}

impl Served {
    fn start(data: &Path) -> Self {
        let mut child = idflow()
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("idflow serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (line_sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line_sender.send(line).is_err() {
                    break;
                }
            }
        });
        let line = lines.recv_timeout(GUARD).unwrap_or_else(|error| {
            let _ = child.kill();
            panic!("idflow serve printed no address ({error})")
        });
        let url = line
            .strip_prefix("idflow server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim_end_matches('/')
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(!url.ends_with(":0"), "the bound port is printed: {url}");
        Self {
            child: Some(child),
            url,
        }
    }

    /// Sends `signal` (TERM or INT) and returns the exit code.
    fn stop_with(mut self, signal: &str) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let (done, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait());
        });
        let status = exited
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("idflow serve did not stop on SIG{signal}"))
            .expect("exit status");
        status.code()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn enrollment_roundtrip(url: &str, key: &str) {
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{url}/v1/enrollments"))
        .header("Truora-API-Key", key)
        .form(&[("type", "face-recognition"), ("user_authorized", "true")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "pending", "{created}");
    let link = created["file_upload_link"].as_str().unwrap();
    assert!(link.starts_with(url), "links use the bound address: {link}");
    let id = created["enrollment_id"].as_str().unwrap();

    let read = http
        .get(format!("{url}/v1/enrollments/{id}"))
        .header("Truora-API-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), reqwest::StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["enrollment_id"], id);

    let refused = http
        .get(format!("{url}/v1/enrollments/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn serve_answers_clients_created_by_the_cli_and_stops_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let created = create_client(data.path(), "acme");
    assert!(created.status.success(), "{}", text(&created.stderr));
    let key = text(&created.stdout).trim().to_owned();

    for signal in ["TERM", "INT"] {
        let served = Served::start(data.path());
        enrollment_roundtrip(&served.url, &key).await;
        assert_eq!(
            served.stop_with(signal),
            Some(0),
            "clean exit on SIG{signal}"
        );
    }
}

#[test]
fn serve_without_models_fails_naming_the_setup_script() {
    let data = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let output = idflow()
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--models")
        .arg(models.path())
        .output()
        .expect("idflow runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("face models missing") && stderr.contains("scripts/setup"),
        "{stderr}"
    );
}
