//! The typed `with` of `core.http` and the checks serde cannot express.

use std::collections::BTreeMap;

use idflow_core::{Redactor, StepError};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// The `with` of `core.http`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpInput {
    /// The HTTP method: `GET` (the default), `POST`, `PUT`, `PATCH`,
    /// `DELETE` or `HEAD`.
    #[serde(default)]
    pub method: HttpMethod,
    /// The absolute `http://` or `https://` URL to call. Errors show it, so
    /// it may not carry a secret: put credentials in `headers` or `query`.
    pub url: String,
    /// Request headers, name to value (for example
    /// `Authorization: "Bearer ${{ secrets.api_token }}"`). A credential
    /// input, like `query` and the bodies: it may carry secrets and is never
    /// shown.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters added to the URL, name to a string, number or
    /// boolean; they are percent-encoded for you.
    #[serde(default)]
    pub query: BTreeMap<String, Scalar>,
    /// A JSON request body (any value), sent with
    /// `Content-Type: application/json`. At most one of `json`, `form` and
    /// `body`.
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// A form request body, name to a string, number or boolean, sent as
    /// `application/x-www-form-urlencoded`. At most one of `json`, `form`
    /// and `body`.
    #[serde(default)]
    pub form: Option<BTreeMap<String, Scalar>>,
    /// A raw text request body, sent as it is (set `Content-Type` in
    /// `headers`). At most one of `json`, `form` and `body`.
    #[serde(default)]
    pub body: Option<String>,
    /// The status code, or list of codes, that count as success. Default:
    /// any 2xx. Any other status fails the step: 5xx and 429 with a
    /// retryable error, the others with a terminal one.
    #[serde(default)]
    pub expect_status: Option<ExpectStatus>,
    /// Send an `Idempotency-Key` header: the same for every attempt of this
    /// call of the step in this run (its retries, and an attempt repeated
    /// after a crash), and different for any other call, so that a server
    /// that honours it carries the request out once.
    #[serde(default)]
    pub idempotency_key: bool,
}

/// An HTTP method `core.http` can send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

impl HttpMethod {
    /// The method as reqwest knows it.
    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Put => reqwest::Method::PUT,
            Self::Patch => reqwest::Method::PATCH,
            Self::Delete => reqwest::Method::DELETE,
            Self::Head => reqwest::Method::HEAD,
        }
    }
}

/// A query or form value: a string, a number or a boolean.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// Text, sent as it is.
    Text(String),
    /// A number, sent as written (`3`, `2.5`).
    Number(serde_json::Number),
    /// A boolean, sent as `true` or `false`.
    Bool(bool),
}

impl Scalar {
    /// The text sent on the wire.
    pub(crate) fn to_wire(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Number(number) => number.to_string(),
            Self::Bool(flag) => flag.to_string(),
        }
    }
}

/// The status codes that count as success.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ExpectStatus {
    /// Exactly this status code.
    One(#[schemars(range(min = 100, max = 599))] u16),
    /// Any of these status codes.
    Any(#[schemars(length(min = 1), inner(range(min = 100, max = 599)))] Vec<u16>),
}

/// The statuses a response may have to be a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// 200 to 299.
    Success,
    /// One of these.
    Codes(Vec<u16>),
}

impl Expected {
    /// Whether `status` counts as success.
    pub(crate) fn accepts(&self, status: u16) -> bool {
        match self {
            Self::Success => (200..300).contains(&status),
            Self::Codes(codes) => codes.contains(&status),
        }
    }

    /// What was expected, for error messages: `2xx`, `201` or `200, 204`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Success => "2xx".to_owned(),
            Self::Codes(codes) => codes
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The body to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestBody {
    /// No body.
    None,
    /// A JSON document.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(String, String)>),
    /// Raw text.
    Raw(String),
}

/// A request whose input has passed every check.
#[derive(Debug)]
pub(crate) struct CheckedRequest {
    pub(crate) method: HttpMethod,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: RequestBody,
    pub(crate) expected: Expected,
    pub(crate) idempotency_key: bool,
}

/// Header names whose values are credentials: they are added to the run's
/// redactor so that no error or log line can show them.
const CREDENTIAL_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
];

impl HttpInput {
    /// Checks what the schema cannot (one body kind, a usable URL, valid
    /// header names and values, status codes in range) and registers
    /// credential header values with `redactor`.
    pub(crate) fn check(self, redactor: &Redactor) -> Result<CheckedRequest, StepError> {
        let body = match (self.json, self.form, self.body) {
            (None, None, None) => RequestBody::None,
            (Some(json), None, None) => RequestBody::Json(json),
            (None, Some(form), None) => RequestBody::Form(
                form.iter()
                    .map(|(name, value)| (name.clone(), value.to_wire()))
                    .collect(),
            ),
            (None, None, Some(raw)) => RequestBody::Raw(raw),
            _ => {
                return Err(StepError::invalid_input(
                    "give at most one of `json`, `form` and `body`: they are all request bodies",
                ));
            }
        };
        let headers = check_headers(&self.headers, redactor)?;
        let url = check_url(&self.url, redactor)?;
        let expected = check_expected(self.expect_status)?;
        let query = self
            .query
            .iter()
            .map(|(name, value)| (name.clone(), value.to_wire()))
            .collect();
        Ok(CheckedRequest {
            method: self.method,
            url,
            headers,
            query,
            body,
            expected,
            idempotency_key: self.idempotency_key,
        })
    }
}

/// Parses the URL; only absolute `http` and `https` URLs are accepted.
fn check_url(text: &str, redactor: &Redactor) -> Result<Url, StepError> {
    let url = Url::parse(text.trim()).map_err(|error| {
        StepError::invalid_input(format!(
            "`url` `{}` is not a valid URL: {error}",
            redactor.redact(text)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(StepError::invalid_input(format!(
            "`url` `{}` must start with http:// or https://",
            redactor.redact(text)
        )));
    }
    Ok(url)
}

/// Builds the header map; values of credential headers go to the redactor
/// (the whole value and, for `Bearer xyz` forms, the credential alone).
fn check_headers(
    headers: &BTreeMap<String, String>,
    redactor: &Redactor,
) -> Result<HeaderMap, StepError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            StepError::invalid_input(format!(
                "`headers`: `{}` is not a valid header name",
                redactor.redact(name)
            ))
        })?;
        let is_credential = CREDENTIAL_HEADERS.contains(&header_name.as_str());
        if is_credential {
            redactor.add(value.as_str());
            if let Some((_scheme, credential)) = value.split_once(' ') {
                redactor.add(credential.trim());
            }
        }
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            // Never echo the value: it may be a credential.
            StepError::invalid_input(format!(
                "`headers`: the value of `{}` is not a valid header value \
                 (it must be visible ASCII, without line breaks)",
                header_name.as_str()
            ))
        })?;
        header_value.set_sensitive(is_credential);
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// Turns `expect_status` into the accepted statuses.
fn check_expected(expect_status: Option<ExpectStatus>) -> Result<Expected, StepError> {
    let codes = match expect_status {
        None => return Ok(Expected::Success),
        Some(ExpectStatus::One(code)) => vec![code],
        Some(ExpectStatus::Any(codes)) => codes,
    };
    if codes.is_empty() {
        return Err(StepError::invalid_input(
            "`expect_status` is an empty list; leave it out to accept any 2xx status",
        ));
    }
    if let Some(bad) = codes.iter().find(|code| !(100..=599).contains(*code)) {
        return Err(StepError::invalid_input(format!(
            "`expect_status`: {bad} is not an HTTP status code (100 to 599)"
        )));
    }
    Ok(Expected::Codes(codes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn checked(with: serde_json::Value) -> Result<CheckedRequest, StepError> {
        idflow_core::decode_input::<HttpInput>(with)?.check(&Redactor::new())
    }

    #[test]
    fn defaults_to_get_and_any_2xx() {
        let request = checked(json!({"url": "https://example.com/a"})).unwrap();
        assert_eq!(request.method, HttpMethod::Get);
        assert_eq!(request.body, RequestBody::None);
        assert_eq!(request.expected, Expected::Success);
        assert!(request.expected.accepts(204));
        assert!(!request.expected.accepts(301));
        assert_eq!(request.expected.describe(), "2xx");
    }

    #[test]
    fn expect_status_takes_one_code_or_a_list() {
        let one = checked(json!({"url": "http://h/", "expect_status": 404})).unwrap();
        assert!(one.expected.accepts(404) && !one.expected.accepts(200));
        let list = checked(json!({"url": "http://h/", "expect_status": [200, 409]})).unwrap();
        assert!(list.expected.accepts(409) && !list.expected.accepts(201));
        assert_eq!(list.expected.describe(), "200, 409");
        for bad in [json!([]), json!(99), json!([200, 600])] {
            let error = checked(json!({"url": "http://h/", "expect_status": bad})).unwrap_err();
            assert_eq!(error.code, "invalid_input", "{bad}");
        }
    }

    #[test]
    fn at_most_one_body_kind() {
        for (a, b) in [("json", "form"), ("json", "body"), ("form", "body")] {
            let mut with = json!({"url": "http://h/", "method": "POST"});
            let value = |kind| match kind {
                "json" => json!({"a": 1}),
                "form" => json!({"a": "1"}),
                _ => json!("raw"),
            };
            with[a] = value(a);
            with[b] = value(b);
            let error = checked(with).unwrap_err();
            assert_eq!(error.code, "invalid_input");
            assert!(error.message.contains("at most one"), "{}", error.message);
        }
    }

    #[test]
    fn scalars_go_on_the_wire_as_written() {
        let request = checked(json!({
            "url": "http://h/",
            "method": "POST",
            "query": {"n": 2.5, "b": true, "s": "a b"},
            "form": {"count": 3},
        }))
        .unwrap();
        assert_eq!(
            request.query,
            [
                ("b".into(), "true".into()),
                ("n".into(), "2.5".into()),
                ("s".into(), "a b".into())
            ]
        );
        assert_eq!(
            request.body,
            RequestBody::Form(vec![("count".into(), "3".into())])
        );
    }

    #[test]
    fn refuses_bad_urls_methods_and_headers() {
        for with in [
            json!({"url": "not a url"}),
            json!({"url": "/relative"}),
            json!({"url": "ftp://h/file"}),
            json!({"url": "http://h/", "method": "get"}),
            json!({"url": "http://h/", "method": "TRACE"}),
            json!({"url": "http://h/", "headers": {"bad name": "x"}}),
            json!({"url": "http://h/", "headers": {"x-a": "line\nbreak"}}),
            json!({"url": "http://h/", "query": {"nested": {"a": 1}}}),
            json!({"url": "http://h/", "form": {"list": [1]}}),
            json!({"url": "http://h/", "timeout": "2s"}),
            json!({}),
        ] {
            let error = checked(with.clone()).unwrap_err();
            assert_eq!(error.code, "invalid_input", "{with}");
            assert!(!error.is_retryable());
        }
    }

    #[test]
    fn credential_headers_are_registered_with_the_redactor() {
        let redactor = Redactor::new();
        let input: HttpInput = idflow_core::decode_input(json!({
            "url": "http://h/",
            "headers": {"Authorization": "Bearer abc-123-token", "X-Trace": "visible-value"},
        }))
        .unwrap();
        let request = input.check(&redactor).unwrap();
        assert!(request.headers["authorization"].is_sensitive());
        assert_eq!(redactor.redact("echo abc-123-token"), "echo [redacted]");
        assert_eq!(redactor.redact("visible-value"), "visible-value");
    }

    #[test]
    fn a_bad_header_value_is_not_echoed() {
        let error = checked(json!({
            "url": "http://h/",
            "headers": {"Authorization": "Bearer secret-\u{7}-value"},
        }))
        .unwrap_err();
        assert!(!error.message.contains("secret-"), "{}", error.message);
        assert!(error.message.contains("authorization"), "{}", error.message);
    }
}
