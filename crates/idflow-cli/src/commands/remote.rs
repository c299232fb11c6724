//! The CLI against an idflow server (`--server URL` or `IDFLOW_SERVER`,
//! with the token in `IDFLOW_TOKEN`): `idflow run` starts the run there
//! and follows its progress; `idflow runs list|show|cancel` ask the API.
//! Tokens are read from the environment only, so they stay out of shell
//! history and process lists.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::{Map, Value, json};
use url::Url;

/// The environment variable naming the server.
pub(crate) const ENV_SERVER: &str = "IDFLOW_SERVER";
/// The environment variable holding the API token.
pub(crate) const ENV_TOKEN: &str = "IDFLOW_TOKEN";

/// The `--server` option.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ServerArgs {
    /// Ask the idflow server at URL instead of the local data directory
    /// (the API token comes from IDFLOW_TOKEN).
    #[arg(long = "server", value_name = "URL", env = ENV_SERVER)]
    pub(crate) url: Option<Url>,
}

impl ServerArgs {
    /// A client of the server, when one is named.
    pub(crate) fn client(&self) -> anyhow::Result<Option<Client>> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let token = std::env::var(ENV_TOKEN)
            .ok()
            .filter(|token| !token.trim().is_empty())
            .with_context(|| {
                format!("set {ENV_TOKEN} to an API token of {url} (`idflow token create NAME` on the server)")
            })?;
        Ok(Some(Client::new(url.clone(), token.trim().to_owned())?))
    }
}

/// A client of one idflow server's API.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Client {
    fn new(base: Url, token: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("idflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build an HTTP client")?;
        Ok(Self { http, base, token })
    }

    fn url(&self, path: &str) -> anyhow::Result<Url> {
        self.base
            .join(&format!("api/v1/{path}"))
            .with_context(|| format!("{} and {path} make no URL", self.base))
    }

    /// Sends a request and reads its JSON answer; an error answer becomes
    /// an error with the server's message.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the idflow server at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        let code = body["error"]["code"].as_str().unwrap_or("unknown");
        anyhow::bail!("the server refused ({status}): {message} ({code})")
    }

    pub(crate) async fn workflow(&self, name: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url(&format!("workflows/{name}"))?))
            .await
    }

    pub(crate) async fn start(
        &self,
        workflow: &str,
        inputs: Map<String, Value>,
    ) -> anyhow::Result<String> {
        let body = json!({"workflow": workflow, "inputs": inputs});
        let answer = self
            .send(self.http.post(self.url("runs")?).json(&body))
            .await?;
        answer["run_id"]
            .as_str()
            .map(str::to_owned)
            .context("the server's answer has no run_id")
    }

    pub(crate) async fn run(&self, run_id: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url(&format!("runs/{run_id}"))?))
            .await
    }

    pub(crate) async fn list(&self, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url("runs")?).query(query))
            .await
    }

    pub(crate) async fn cancel(&self, run_id: &str) -> anyhow::Result<Value> {
        self.send(self.http.post(self.url(&format!("runs/{run_id}/cancel"))?))
            .await
    }

    pub(crate) async fn send_event(
        &self,
        key: &str,
        payload: &Value,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(self.url("events")?)
            .json(&json!({"key": key, "payload": payload}));
        if let Some(idempotency_key) = idempotency_key {
            request = request.header("Idempotency-Key", idempotency_key);
        }
        self.send(request).await
    }

    /// Follows a run's events, calling `on_event(name, data)` for each,
    /// until the stream ends; returns the `end` event's result.
    pub(crate) async fn follow(
        &self,
        run_id: &str,
        mut on_event: impl FnMut(&str, &Value),
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(self.url(&format!("runs/{run_id}/events"))?)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach the idflow server at {}", self.base))?;
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            anyhow::bail!(
                "the server refused ({status}): {}",
                body["error"]["message"].as_str().unwrap_or("no message")
            );
        }
        let mut stream = response.bytes_stream();
        let mut pending = String::new();
        let mut name = String::new();
        let mut end = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.context("the event stream broke off")?;
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(newline) = pending.find('\n') {
                let line: String = pending.drain(..=newline).collect();
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(value) = line.strip_prefix("event:") {
                    value.trim().clone_into(&mut name);
                } else if let Some(value) = line.strip_prefix("data:") {
                    let data: Value = serde_json::from_str(value.trim()).unwrap_or(Value::Null);
                    on_event(&name, &data);
                    if name == "end" {
                        end = Some(data);
                    }
                }
            }
        }
        match end {
            Some(result) => Ok(result),
            // The stream ended early (the server stopped): read the run.
            None => self.run(run_id).await,
        }
    }
}

/// A file input for the API: the file's bytes, base64, with its name.
pub(crate) fn file_input(path: &Path) -> anyhow::Result<Value> {
    let bytes = idflow_engine::source::read_regular_bytes(path, MAX_FILE_BYTES)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("upload");
    Ok(json!({"$file": {
        "name": name,
        "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
    }}))
}

/// The largest file sent as an input (the server takes bodies of 32 MiB,
/// and base64 makes 4 bytes of 3).
const MAX_FILE_BYTES: usize = 24 * 1024 * 1024;
