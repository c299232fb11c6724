//! `idflow serve` as the tests start it: the real binary on a free
//! loopback port (the address read from the line it prints when ready),
//! killed when dropped; and API tokens made with `idflow token create`.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{idflow_bin, repo_root};

/// A running `idflow serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
}

impl Server {
    /// Starts `idflow serve` on `data` offering the workflows of
    /// `workflows`, with `extra` arguments, and waits until it is ready.
    ///
    /// # Panics
    /// When it cannot start or does not say its address.
    pub fn start(data: &Path, workflows: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(idflow_bin())
            .args(["serve", "--addr", "127.0.0.1:0", "--stop-grace", "2s"])
            .args(extra)
            .arg("--data")
            .arg(data)
            .arg("--workflows")
            .arg(workflows)
            .env_remove("TRUORA_API_KEY")
            .env_remove("IDFLOW_PROVIDER_DATA")
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
    ///
    /// # Panics
    /// When the signal cannot be sent.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        self.child.wait().expect("the server is waited for")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new API token named `name` in `data` (`idflow token create`).
///
/// # Panics
/// When the command fails or prints something else than a token.
pub fn token(data: &Path, name: &str) -> String {
    let output = Command::new(idflow_bin())
        .args(["token", "create", name, "--data"])
        .arg(data)
        .output()
        .expect("idflow token create runs");
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout)
        .expect("the token is UTF-8")
        .trim()
        .to_owned();
    assert!(token.starts_with("idf_") && token.len() > 40, "{token}");
    token
}
