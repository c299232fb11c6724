//! Running `idflow serve` in the tests: a server process on a free
//! loopback port, tokens made by the binary, runs started and followed
//! through the API.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::{idflow_bin, repo_root};

/// A workflow that waits an hour, and cleans up when it is cancelled.
pub const NAPPING: &str = r"
name: napping
steps:
  nap:
    uses: core.sleep
    with: {duration: 1h}
  tidy:
    uses: core.log
    needs: [nap]
    if: cancelled()
    with: {message: tidied}
";

/// An `idflow serve` process on a free loopback port; killed when
/// dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Its base URL, without a trailing slash.
    pub url: String,
}

impl Server {
    /// Starts `idflow serve` on `data` and `workflows`, with `extra`
    /// arguments, once it has printed its address.
    pub fn start(data: &Path, workflows: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data, workflows, extra, &[])
    }

    /// [`Server::start`] with these environment variables set too.
    pub fn start_with_env(
        data: &Path,
        workflows: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_on("127.0.0.1:0", data, workflows, extra, env)
    }

    /// [`Server::start_with_env`] listening on `addr`.
    pub fn start_on(
        addr: &str,
        data: &Path,
        workflows: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(idflow_bin())
            .args(["serve", "--addr", addr, "--stop-grace", "2s"])
            .args(extra)
            .arg("--data")
            .arg(data)
            .arg("--workflows")
            .arg(workflows)
            .env_remove("TRUORA_API_KEY")
            .env_remove("IDFLOW_PROVIDER_DATA")
            .envs(env.iter().copied())
            .current_dir(repo_root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("idflow serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("idflow serve prints its address")
                .expect("a line");
            if let Some(at) = line.find("http://") {
                break line[at..].trim().trim_end_matches('/').to_owned();
            }
        };
        Self { child, url }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new API token made with `idflow token create NAME`.
pub fn token(data: &Path, name: &str) -> String {
    let output = Command::new(idflow_bin())
        .args(["token", "create", name, "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("idf_") && token.len() > 40, "{token}");
    token
}

/// A blocking client without a timeout (event streams last).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
}

/// The SSE events of a run (name, data) until `stop` says so, or until the
/// stream ends.
pub fn events(
    server: &Server,
    token: &str,
    run_id: &str,
    stop: impl Fn(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let response = client()
        .get(format!("{}/api/v1/runs/{run_id}/events", server.url))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = Vec::new();
    let mut name = String::new();
    for line in BufReader::new(response).lines() {
        let line = line.unwrap();
        if let Some(value) = line.strip_prefix("event:") {
            value.trim().clone_into(&mut name);
        } else if let Some(value) = line.strip_prefix("data:") {
            let data: Value = serde_json::from_str(value.trim()).unwrap();
            let done = stop(&name, &data);
            events.push((name.clone(), data));
            if done {
                break;
            }
        }
    }
    events
}

/// Starts a run through the API (201 expected); its id.
pub fn start(server: &Server, token: &str, body: &Value) -> String {
    let response = client()
        .post(format!("{}/api/v1/runs", server.url))
        .bearer_auth(token)
        .json(body)
        .send()
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().unwrap();
    assert_eq!(status, 201, "{answer}");
    answer["run_id"].as_str().unwrap().to_owned()
}
