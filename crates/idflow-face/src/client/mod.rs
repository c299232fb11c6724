//! A typed client of the provider contract (`shared/docs/provider-api.md`),
//! for Truora and the embedded provider alike.
//!
//! - One reqwest client per provider, with connect and request timeouts, a
//!   user agent, no redirects (a redirect could carry the API key header to
//!   another host) and a cap on answer sizes.
//! - API calls carry `Truora-API-Key` and send
//!   `application/x-www-form-urlencoded` forms; creating calls may carry an
//!   `Idempotency-Key`.
//! - Upload links get the raw photo bytes with their detected content type
//!   and **no** API key: the link is the credential.
//!
//! - `model`: the request forms and answer types.
//! - `error`: [`ProviderError`] and its classification into step errors.

pub mod error;
pub mod model;

use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Response, Url};
use serde::de::DeserializeOwned;

pub use error::ProviderError;
pub use model::{
    Credential, Enrollment, EnrollmentType, NewEnrollment, NewValidation, NewWebToken, Process,
    Validation, WebToken,
};

use crate::photo::Photo;
use crate::settings::ProviderSettings;

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "Truora-API-Key";
/// The header carrying an idempotency key on creating requests.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The `User-Agent` of every request: `idflow/<version>`.
pub const USER_AGENT: &str = concat!("idflow/", env!("CARGO_PKG_VERSION"));

/// How the client talks to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Give up connecting after this long (a retryable `connection` error).
    pub connect_timeout: Option<Duration>,
    /// Give up on a whole request, answer included, after this long (a
    /// `timeout`, retryable but ambiguous).
    pub request_timeout: Option<Duration>,
    /// Close pooled connections idle this long.
    pub pool_idle_timeout: Option<Duration>,
    /// Refuse an answer larger than this (`response_too_large`).
    pub max_response_bytes: usize,
    /// Refuse a photo larger than this before uploading it
    /// (`photo_too_large`); the embedded provider's own limit is 10 MiB.
    pub max_photo_bytes: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(30)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            max_response_bytes: 1024 * 1024,
            max_photo_bytes: 10 * 1024 * 1024,
        }
    }
}

impl ClientOptions {
    /// No timers at all: no timeouts and no pool eviction. For tests on a
    /// paused tokio clock, which jumps to the next timer whenever the
    /// runtime is idle, also while a mock server on another thread is
    /// answering: any armed timeout would then fire at once.
    pub fn without_timers() -> Self {
        Self {
            connect_timeout: None,
            request_timeout: None,
            pool_idle_timeout: None,
            ..Self::default()
        }
    }
}

/// The reqwest client could not be built (no TLS backend).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the HTTP client for the face provider cannot be set up: {0}")]
pub struct ClientBuildError(String);

/// A client of one provider: its settings and one connection pool.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    settings: ProviderSettings,
    api_key: HeaderValue,
    options: ClientOptions,
}

/// The body of a request.
enum Body<'a> {
    None,
    Form(&'a [(&'static str, String)]),
    Photo(&'a Photo),
}

/// One request, as the client sends it.
struct Call<'a> {
    method: Method,
    url: Url,
    /// How errors name it.
    shown: String,
    /// Send the API key (API calls) or not (upload links).
    authenticated: bool,
    idempotency_key: Option<&'a str>,
    body: Body<'a>,
}

impl ProviderClient {
    /// A client of the provider `settings` describe.
    pub fn new(
        settings: ProviderSettings,
        options: ClientOptions,
    ) -> Result<Self, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(options.pool_idle_timeout);
        if let Some(timeout) = options.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        if let Some(timeout) = options.request_timeout {
            builder = builder.timeout(timeout);
        }
        let http = builder
            .build()
            .map_err(|error| ClientBuildError(idflow_core::http::error_chain(&error)))?;
        let mut api_key = HeaderValue::from_str(settings.api_key())
            .map_err(|_| ClientBuildError("the API key is not a valid header value".to_owned()))?;
        api_key.set_sensitive(true);
        Ok(Self {
            http,
            settings,
            api_key,
            options,
        })
    }

    /// Its settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// Its options.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// `POST /v1/enrollments`.
    pub async fn create_enrollment(
        &self,
        request: &NewEnrollment,
        idempotency_key: Option<&str>,
    ) -> Result<Enrollment, ProviderError> {
        let url = endpoint(self.settings.validations_url(), &["v1", "enrollments"]);
        self.post_form(url, &request.form(), idempotency_key).await
    }

    /// `GET /v1/enrollments/{id}`.
    pub async fn enrollment(&self, enrollment_id: &str) -> Result<Enrollment, ProviderError> {
        let url = endpoint(
            self.settings.validations_url(),
            &["v1", "enrollments", enrollment_id],
        );
        self.get(url).await
    }

    /// `POST /v1/validations`.
    pub async fn create_validation(
        &self,
        request: &NewValidation,
        idempotency_key: Option<&str>,
    ) -> Result<Validation, ProviderError> {
        let url = endpoint(self.settings.validations_url(), &["v1", "validations"]);
        self.post_form(url, &request.form(), idempotency_key).await
    }

    /// `GET /v1/validations/{id}?show_details=true`.
    pub async fn validation(&self, validation_id: &str) -> Result<Validation, ProviderError> {
        let mut url = endpoint(
            self.settings.validations_url(),
            &["v1", "validations", validation_id],
        );
        url.query_pairs_mut().append_pair("show_details", "true");
        self.get(url).await
    }

    /// `POST /v1/api-keys` on the account host: a web token.
    pub async fn create_web_token(
        &self,
        request: &NewWebToken,
        idempotency_key: Option<&str>,
    ) -> Result<WebToken, ProviderError> {
        let url = endpoint(self.settings.account_url(), &["v1", "api-keys"]);
        self.post_form(url, &request.form(), idempotency_key).await
    }

    /// `GET /v1/processes/{id}/result` on the identity host: the outcome
    /// of a web process (the verification page's).
    pub async fn process_result(&self, process_id: &str) -> Result<Process, ProviderError> {
        let url = endpoint(
            self.settings.identity_url(),
            &["v1", "processes", process_id, "result"],
        );
        self.get(url).await
    }

    /// `PUT <file_upload_link>` with the photo's bytes and content type,
    /// without the API key.
    pub async fn upload_photo(
        &self,
        file_upload_link: &Credential,
        photo: &Photo,
    ) -> Result<(), ProviderError> {
        const SHOWN: &str = "PUT to the upload link";
        let url = Url::parse(file_upload_link.expose().trim())
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| ProviderError::Build {
                request: SHOWN.to_owned(),
                cause: "the link is not an absolute http(s) URL".to_owned(),
            })?;
        self.send(Call {
            method: Method::PUT,
            url,
            shown: SHOWN.to_owned(),
            authenticated: false,
            idempotency_key: None,
            body: Body::Photo(photo),
        })
        .await
        .map(|_| ())
    }

    /// The verification page for a web token:
    /// `<identity web base>/?token=<token>`.
    pub fn verification_url(&self, token: &Credential) -> Credential {
        let mut url = self.settings.identity_web_url().clone();
        if url.path().is_empty() {
            url.set_path("/");
        }
        url.query_pairs_mut().append_pair("token", token.expose());
        Credential::new(String::from(url))
    }

    fn api_call<'a>(
        method: Method,
        url: Url,
        body: Body<'a>,
        idempotency_key: Option<&'a str>,
    ) -> Call<'a> {
        Call {
            shown: format!("{method} {url}"),
            method,
            url,
            authenticated: true,
            idempotency_key,
            body,
        }
    }

    /// A creating API call: `POST url` with `form`, and the JSON answer.
    async fn post_form<T: DeserializeOwned>(
        &self,
        url: Url,
        form: &[(&'static str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<T, ProviderError> {
        self.json(Self::api_call(
            Method::POST,
            url,
            Body::Form(form),
            idempotency_key,
        ))
        .await
    }

    /// A reading API call: `GET url`, and the JSON answer.
    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, ProviderError> {
        self.json(Self::api_call(Method::GET, url, Body::None, None))
            .await
    }

    /// Sends an API call and reads its JSON answer.
    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ProviderError> {
        let shown = call.shown.clone();
        let (status, body) = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|error| ProviderError::InvalidResponse {
            request: shown,
            status,
            problem: error.to_string(),
            body: body.into_iter().take(8 * 1024).collect(),
        })
    }

    /// Sends one request; a 2xx answer's status and body, or the failure.
    async fn send(&self, call: Call<'_>) -> Result<(u16, Vec<u8>), ProviderError> {
        let shown = call.shown;
        let mut builder = self.http.request(call.method, call.url);
        if call.authenticated {
            builder = builder
                .header(API_KEY_HEADER, self.api_key.clone())
                .header(ACCEPT, "application/json");
        }
        if let Some(key) = call.idempotency_key {
            builder = builder.header(IDEMPOTENCY_HEADER, key);
        }
        builder = match call.body {
            Body::None => builder,
            Body::Form(form) => builder.form(form),
            Body::Photo(photo) => builder
                .header(CONTENT_TYPE, photo.content_type())
                .body(photo.bytes().to_vec()),
        };
        let mut response = builder
            .send()
            .await
            .map_err(|error| transport_error(&shown, error))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| idflow_core::http::parse_retry_after(value, SystemTime::now()));
        let body = read_capped(&mut response, self.options.max_response_bytes)
            .await
            .map_err(|failure| match failure {
                ReadFailure::TooLarge => ProviderError::TooLarge {
                    request: shown.clone(),
                    limit: self.options.max_response_bytes,
                },
                ReadFailure::Transport(error) => transport_error(&shown, error),
            })?;
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        let (provider_code, provider_message) = error::parse_error_body(&body);
        Err(ProviderError::Status {
            request: shown,
            status,
            provider_code,
            provider_message,
            retry_after,
            body: body.into_iter().take(8 * 1024).collect(),
        })
    }
}

/// `base` with `segments` appended to its path (each percent-encoded, so an
/// id cannot leave its place in the path).
fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn transport_error(shown: &str, error: reqwest::Error) -> ProviderError {
    let (connect, timeout, builder) = (error.is_connect(), error.is_timeout(), error.is_builder());
    // The URL is shown once, by us (never an upload link: it is a
    // credential); the causes must not repeat it.
    let cause = idflow_core::http::error_chain(&error.without_url());
    let request = shown.to_owned();
    if connect {
        ProviderError::Connect { request, cause }
    } else if timeout {
        ProviderError::Timeout { request, cause }
    } else if builder {
        ProviderError::Build { request, cause }
    } else {
        ProviderError::Transport { request, cause }
    }
}

enum ReadFailure {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads the whole body, refusing (without reading on) one larger than
/// `limit` bytes.
async fn read_capped(response: &mut Response, limit: usize) -> Result<Vec<u8>, ReadFailure> {
    if response
        .content_length()
        .is_some_and(|declared| usize::try_from(declared).map_or(true, |declared| declared > limit))
    {
        return Err(ReadFailure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadFailure::Transport)? {
        if chunk.len() > limit.saturating_sub(body.len()) {
            return Err(ReadFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
