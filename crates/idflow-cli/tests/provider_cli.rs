//! `idflow serve` and `idflow provider create-client|clients`, through the
//! binary: a client created by the CLI calls the API of a provider served
//! by the CLI on a free loopback port; rotated and revoked keys stop
//! working; SIGTERM and SIGINT stop it cleanly; missing
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

fn clients(data: &Path, args: &[&str]) -> Output {
    idflow()
        .args(["provider", "clients"])
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("idflow runs")
}

/// Whether the served provider accepts `key` (an unknown enrollment is a
/// 404 for a good key, a 401 for any other).
fn accepted(url: &str, key: &str) -> bool {
    let status = reqwest::blocking::Client::new()
        .get(format!("{url}/v1/enrollments/ENRnothing"))
        .header("Truora-API-Key", key)
        .send()
        .unwrap()
        .status();
    assert!(
        status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::UNAUTHORIZED,
        "{status}"
    );
    status != reqwest::StatusCode::UNAUTHORIZED
}

#[test]
fn clients_are_listed_rotated_and_revoked_and_serve_honours_it() {
    let data = tempfile::tempdir().unwrap();
    let first = text(&create_client(data.path(), "acme").stdout)
        .trim()
        .to_owned();
    assert!(create_client(data.path(), "globex").status.success());

    // Listed by name, with the public start of the key and never the key.
    let listed = clients(data.path(), &["list"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed = text(&listed.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    let (head, secret) = first.rsplit_once('_').unwrap();
    assert!(
        lines[0].starts_with("acme  CLI") && lines[0].contains(&format!("key {head}_…")),
        "{listed}"
    );
    assert!(
        lines[0].ends_with("active") && lines[1].starts_with("globex  "),
        "{listed}"
    );
    assert!(!listed.contains(secret), "a key was listed");

    // Rotated: a new key alone on stdout; the old one no longer works.
    let rotated = clients(data.path(), &["rotate", "acme"]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let second = text(&rotated.stdout).trim().to_owned();
    assert!(second.starts_with("idfk_") && second != first, "{second}");
    let served = Served::start(data.path());
    assert!(!accepted(&served.url, &first));
    assert!(accepted(&served.url, &second));
    assert_eq!(served.stop_with("TERM"), Some(0));

    // Revoked: refused, listed as revoked; a new rotation works at once,
    // even in a provider that is already serving.
    let revoked = clients(data.path(), &["revoke", "acme"]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert!(text(&revoked.stdout).contains("revoked the key of client \"acme\""));
    let again = clients(data.path(), &["revoke", "acme"]);
    assert!(text(&again.stdout).contains("already revoked"));
    let served = Served::start(data.path());
    assert!(!accepted(&served.url, &second));
    let json = clients(data.path(), &["list", "--format", "json"]);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json[0]["name"], "acme");
    assert!(
        json[0]["revoked_at"].is_i64() && json[1]["revoked_at"].is_null(),
        "{json}"
    );
    let third = text(&clients(data.path(), &["rotate", "acme"]).stdout)
        .trim()
        .to_owned();
    assert!(accepted(&served.url, &third));
    assert_eq!(served.stop_with("TERM"), Some(0));

    // Unknown names and missing data are errors that say so (exit 2).
    for (args, complaint) in [
        (&["rotate", "nobody"][..], "no client named \"nobody\""),
        (&["revoke", "nobody"][..], "no client named \"nobody\""),
    ] {
        let refused = clients(data.path(), args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(refused.stdout.is_empty());
        assert!(
            text(&refused.stderr).contains(complaint),
            "{}",
            text(&refused.stderr)
        );
    }
    let nowhere = data.path().join("none");
    let missing = clients(&nowhere, &["list"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("no provider data in"),
        "{}",
        text(&missing.stderr)
    );
    assert!(!nowhere.exists(), "listing made a provider");
}

/// The local client of `idflow run`: a rotated key is kept for the runs; a
/// revoked one is forgotten (the next run gives the client a new key).
#[test]
fn rotating_or_revoking_the_local_client_updates_the_key_runs_use() {
    let data = tempfile::tempdir().unwrap();
    // The provider's data is the `provider/` folder of the data directory.
    let key_file = data.path().join("provider").join("local-client.key");
    let created = create_client(data.path(), "idflow-local");
    std::fs::write(&key_file, text(&created.stdout).trim()).unwrap();
    let rotated = clients(data.path(), &["rotate", "idflow-local"]);
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        text(&rotated.stdout).trim()
    );
    assert!(
        clients(data.path(), &["revoke", "idflow-local"])
            .status
            .success()
    );
    assert!(!key_file.exists(), "the revoked key is forgotten");
}
