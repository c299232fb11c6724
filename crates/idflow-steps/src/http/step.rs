//! The `core.http` step type: its shared client and one request.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

use super::failure::{self, UnexpectedStatus};
use super::input::{CheckedRequest, HttpInput, RequestBody};
use super::response::{self, ReadError};

/// Settings of the client every `core.http` step shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// Give up connecting after this long (a retryable `timeout`).
    pub connect_timeout: Duration,
    /// Give up on the whole request, body included, after this long (a
    /// retryable `timeout`). A workflow step's own `timeout` may be shorter.
    pub request_timeout: Duration,
    /// Refuse a response body larger than this many bytes
    /// (`response_too_large`).
    pub max_response_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_mins(1),
            max_response_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The `User-Agent` of every request: `idflow/<version>`.
pub const USER_AGENT: &str = concat!("idflow/", env!("CARGO_PKG_VERSION"));

/// How much of an unexpected response's body is read for the error excerpt
/// (more than is shown, so that redaction sees whole secrets).
const ERROR_BODY_READ_BYTES: usize = 8 * 1024;

/// `core.http`: one HTTP request. Outputs `status`, `headers` and `body`.
#[derive(Debug)]
pub struct HttpStep {
    metadata: StepMetadata,
    /// Built once; a client that cannot be built (no TLS backend) fails each
    /// attempt with a terminal `http_client` error instead of panicking.
    client: Result<reqwest::Client, String>,
    max_response_bytes: usize,
}

impl HttpStep {
    /// The step type, with a client built from `options`.
    pub fn new(options: HttpOptions) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|error| error.to_string());
        Self {
            metadata: StepMetadata::new::<HttpInput>(
                "core.http",
                "Sends one HTTP request. Connection errors, timeouts, 5xx and 429 are \
                 retryable; other unexpected statuses are terminal.",
            )
            .output("status", "The response status code, a number.")
            .output(
                "headers",
                "The response headers: lowercase names to values (repeats joined with `, `).",
            )
            .output(
                "body",
                "The response body: parsed JSON when the response is JSON, else text.",
            )
            // What is sent but never shown: no error, log line or output
            // quotes a request header, query value or body. The URL is
            // shown in every error, so it is not one of them.
            .credential_input("headers")
            .credential_input("query")
            .credential_input("json")
            .credential_input("form")
            .credential_input("body"),
            client,
            max_response_bytes: options.max_response_bytes,
        }
    }

    /// Sends the checked request and turns the response into outputs.
    async fn send(
        &self,
        ctx: &StepContext,
        client: &reqwest::Client,
        request: CheckedRequest,
    ) -> Result<Outputs, StepError> {
        let redactor = ctx.redactor();
        let method = request.method.to_reqwest();
        let shown_url = failure::display_url(&request.url, redactor);
        let mut builder = client
            .request(method.clone(), request.url)
            .headers(request.headers);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if request.idempotency_key {
            builder = builder.header("idempotency-key", ctx.call_key());
        }
        builder = match request.body {
            RequestBody::None => builder,
            RequestBody::Json(json) => builder.json(&json),
            RequestBody::Form(pairs) => builder.form(&pairs),
            RequestBody::Raw(text) => builder.body(text),
        };
        let mut response = builder
            .send()
            .await
            .map_err(|error| failure::transport_error(&method, &shown_url, error, redactor))?;

        let status = response.status();
        if !request.expected.accepts(status.as_u16()) {
            let body_prefix = response::read_prefix(&mut response, ERROR_BODY_READ_BYTES).await;
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok());
            let unexpected = UnexpectedStatus {
                method: &method,
                shown_url: &shown_url,
                status,
                expected: request.expected.describe(),
                retry_after,
                body_prefix: &body_prefix,
            };
            return Err(failure::status_error(
                &unexpected,
                redactor,
                SystemTime::now(),
            ));
        }

        let headers = response::headers_json(response.headers());
        let is_json = response::is_json(response.headers());
        let bytes = match response::read_capped(&mut response, self.max_response_bytes).await {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge) => {
                return Err(StepError::terminal(
                    "response_too_large",
                    format!(
                        "{method} {shown_url} returned a body larger than the limit of {} bytes",
                        self.max_response_bytes
                    ),
                )
                .with_details(serde_json::json!({"status": status.as_u16()})));
            }
            Err(ReadError::Transport(error)) => {
                return Err(failure::transport_error(
                    &method, &shown_url, error, redactor,
                ));
            }
        };
        let body = response::decode_body(&bytes, is_json).map_err(|error| {
            StepError::terminal(
                "invalid_response",
                format!("{method} {shown_url} said its body is JSON, but it is not: {error}"),
            )
            .with_details(serde_json::json!({
                "status": status.as_u16(),
                "body": failure::excerpt(&bytes, redactor),
            }))
        })?;

        let mut outputs = Outputs::new();
        outputs.insert("status".into(), status.as_u16().into());
        outputs.insert("headers".into(), headers);
        outputs.insert("body".into(), body);
        Ok(outputs)
    }
}

#[async_trait]
impl Step for HttpStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let request = decode_input::<HttpInput>(input)?.check(ctx.redactor())?;
        let client = self.client.as_ref().map_err(|reason| {
            StepError::terminal(
                "http_client",
                format!("the HTTP client could not be set up: {reason}"),
            )
        })?;
        self.send(ctx, client, request).await
    }
}
