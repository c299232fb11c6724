//! What can go wrong talking to the provider, and how each failure becomes
//! a [`StepError`]: connection errors, timeouts, 5xx and 429 are retryable
//! (honouring `Retry-After`); other statuses are terminal and carry the
//! provider's message; an answer that is not what the contract says is
//! terminal.
//!
//! A failure is *ambiguous* when the provider may have carried the request
//! out although we saw no success: a timeout or a broken connection after
//! the request was sent, or a 5xx. Creating steps that must not create twice
//! stop on an ambiguous failure instead of retrying (see
//! [`ProviderError::to_step_error`]).
//!
//! Messages never hold the API key (it only travels in a header) or an
//! upload link (shown as "the upload link"); text that came from the
//! provider is passed through the run's [`Redactor`] on the way out.

use std::time::Duration;

use idflow_core::http::redacted_excerpt;
use idflow_core::{Redactor, StepError};

/// At most this many characters of a provider's answer go into an error.
pub const EXCERPT_CHARS: usize = 512;

/// A request to the provider that did not succeed.
///
/// `request` names it for people: `POST https://host/v1/enrollments`, or
/// `PUT to the upload link`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// No connection could be made: the request was never sent.
    #[error("{request}: could not connect to the provider ({cause})")]
    Connect {
        /// The request.
        request: String,
        /// What the network layer said.
        cause: String,
    },
    /// No complete answer in time (the request may have been carried out).
    #[error("{request} timed out ({cause})")]
    Timeout {
        /// The request.
        request: String,
        /// What the network layer said.
        cause: String,
    },
    /// The connection broke while sending or receiving (the request may
    /// have been carried out).
    #[error("{request} failed ({cause})")]
    Transport {
        /// The request.
        request: String,
        /// What the network layer said.
        cause: String,
    },
    /// The request could not be built (a link that is not an http(s) URL).
    #[error("{request}: the request cannot be sent ({cause})")]
    Build {
        /// The request.
        request: String,
        /// Why.
        cause: String,
    },
    /// The provider answered with a status other than 2xx.
    #[error("{request} answered HTTP {status}{}", describe(provider_message.as_deref(), *provider_code))]
    Status {
        /// The request.
        request: String,
        /// The HTTP status.
        status: u16,
        /// `code` of the provider's error body.
        provider_code: Option<i64>,
        /// `message` of the provider's error body.
        provider_message: Option<String>,
        /// `Retry-After`, when the provider said it.
        retry_after: Option<Duration>,
        /// The start of the body, when it was not the contract's error shape.
        body: Vec<u8>,
    },
    /// A 2xx answer whose body is not what the contract says.
    #[error(
        "{request} answered HTTP {status} with a body the provider contract does not allow: {problem}"
    )]
    InvalidResponse {
        /// The request.
        request: String,
        /// The HTTP status.
        status: u16,
        /// What is wrong.
        problem: String,
        /// The start of the body.
        body: Vec<u8>,
    },
    /// An answer larger than the client accepts.
    #[error("{request} answered with more than {limit} bytes")]
    TooLarge {
        /// The request.
        request: String,
        /// The limit.
        limit: usize,
    },
}

fn describe(message: Option<&str>, code: Option<i64>) -> String {
    match (message, code) {
        (Some(message), Some(code)) => format!(": {message} (provider code {code})"),
        (Some(message), None) => format!(": {message}"),
        (None, Some(code)) => format!(" (provider code {code})"),
        (None, None) => String::new(),
    }
}

impl ProviderError {
    /// Whether trying again could help: connection errors, timeouts, 5xx
    /// and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => idflow_core::http::is_retryable_status(*status),
            Self::Build { .. } | Self::InvalidResponse { .. } | Self::TooLarge { .. } => false,
        }
    }

    /// Whether the provider may have carried the request out: a timeout or
    /// broken connection after sending, or a 5xx. (A refused connection
    /// and a 429 are not: nothing was done.)
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Status { status, .. } => (500..=599).contains(status),
            _ => false,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The step error, with every known secret redacted from the message
    /// and details. Codes: `connection`, `timeout`, `http_status`,
    /// `invalid_request`, `invalid_response`, `response_too_large`.
    ///
    /// With `stop_if_ambiguous`, an ambiguous failure is terminal: the
    /// message says the request may have been carried out and how to allow
    /// a retry.
    pub fn to_step_error(&self, redactor: &Redactor, stop_if_ambiguous: bool) -> StepError {
        let message = redactor.redact(&self.to_string());
        let code = match self {
            Self::Connect { .. } | Self::Transport { .. } => "connection",
            Self::Timeout { .. } => "timeout",
            Self::Build { .. } => "invalid_request",
            Self::Status { .. } => "http_status",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::TooLarge { .. } => "response_too_large",
        };
        let mut error = if stop_if_ambiguous && self.is_ambiguous() {
            StepError::terminal(
                code,
                format!(
                    "{message}; the provider may have carried it out, so it is not retried \
                     (set `retry_ambiguous: true` to retry with the same Idempotency-Key)"
                ),
            )
        } else if self.is_retryable() {
            StepError::retryable(code, message)
        } else {
            StepError::terminal(code, message)
        };
        match self {
            Self::Status {
                status,
                provider_code,
                provider_message,
                retry_after,
                body,
                ..
            } => {
                let mut details = serde_json::json!({"status": status});
                if let Some(code) = provider_code {
                    details["provider_code"] = (*code).into();
                }
                if let Some(text) = provider_message {
                    details["provider_message"] = redactor.redact(text).into();
                }
                if provider_message.is_none() && !body.is_empty() {
                    details["body"] = redacted_excerpt(body, redactor, EXCERPT_CHARS).into();
                }
                error = error.with_details(details);
                if let Some(wait) = retry_after
                    && error.is_retryable()
                {
                    error = error.with_retry_after(*wait);
                }
            }
            Self::InvalidResponse { status, body, .. } => {
                error = error.with_details(serde_json::json!({
                    "status": status,
                    "body": redacted_excerpt(body, redactor, EXCERPT_CHARS),
                }));
            }
            _ => {}
        }
        if stop_if_ambiguous && self.is_ambiguous() {
            error.details = Some(match error.details.take() {
                Some(mut details) => {
                    details["ambiguous"] = true.into();
                    details
                }
                None => serde_json::json!({"ambiguous": true}),
            });
        }
        error
    }
}

/// The provider's error body: `{"code", "http_code", "message"}` (the
/// contract's shape; Truora and the embedded provider both answer it).
#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// `code` and `message` of an error body, when it has the contract's shape.
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<i64>, Option<String>) {
    let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
        return (None, None);
    };
    let code = parsed.code.and_then(|code| match code {
        serde_json::Value::Number(number) => number.as_i64(),
        serde_json::Value::String(text) => text.parse().ok(),
        _ => None,
    });
    let message = parsed
        .message
        .map(|message| message.trim().to_owned())
        .filter(|message| !message.is_empty());
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: Option<&str>) -> ProviderError {
        ProviderError::Status {
            request: "POST http://h/v1/enrollments".into(),
            status,
            provider_code: message.map(|_| i64::from(status) * 100 + 1),
            provider_message: message.map(str::to_owned),
            retry_after: Some(Duration::from_secs(7)),
            body: Vec::new(),
        }
    }

    #[test]
    fn classification() {
        let redactor = Redactor::new();
        for (error, retryable, ambiguous) in [
            (status(500, None), true, true),
            (status(503, None), true, true),
            (status(429, None), true, false),
            (status(401, Some("the API key is not valid")), false, false),
            (status(404, None), false, false),
            (
                ProviderError::Connect {
                    request: "r".into(),
                    cause: "refused".into(),
                },
                true,
                false,
            ),
            (
                ProviderError::Timeout {
                    request: "r".into(),
                    cause: "t".into(),
                },
                true,
                true,
            ),
            (
                ProviderError::Transport {
                    request: "r".into(),
                    cause: "reset".into(),
                },
                true,
                true,
            ),
            (
                ProviderError::InvalidResponse {
                    request: "r".into(),
                    status: 200,
                    problem: "p".into(),
                    body: b"<html>".to_vec(),
                },
                false,
                false,
            ),
        ] {
            assert_eq!(error.is_retryable(), retryable, "{error}");
            assert_eq!(error.is_ambiguous(), ambiguous, "{error}");
            assert_eq!(
                error.to_step_error(&redactor, false).is_retryable(),
                retryable,
                "{error}"
            );
            let stopped = error.to_step_error(&redactor, true);
            assert_eq!(stopped.is_retryable(), retryable && !ambiguous, "{error}");
            if ambiguous {
                assert!(
                    stopped.message.contains("retry_ambiguous"),
                    "{}",
                    stopped.message
                );
                assert_eq!(stopped.details.unwrap()["ambiguous"], true);
            }
        }
    }

    #[test]
    fn a_4xx_carries_the_providers_message_and_code() {
        let error =
            status(401, Some("the API key is not valid")).to_step_error(&Redactor::new(), false);
        assert_eq!(error.code, "http_status");
        assert_eq!(
            error.message,
            "POST http://h/v1/enrollments answered HTTP 401: the API key is not valid (provider code 40101)"
        );
        let details = error.details.unwrap();
        assert_eq!(details["status"], 401);
        assert_eq!(details["provider_code"], 40101);
        assert_eq!(details["provider_message"], "the API key is not valid");
        assert_eq!(
            error.retry_after, None,
            "no Retry-After on a terminal error"
        );
    }

    #[test]
    fn retry_after_is_kept_on_retryable_statuses() {
        let error = status(429, None).to_step_error(&Redactor::new(), true);
        assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    }

    #[test]
    fn provider_text_is_redacted() {
        let redactor = Redactor::new();
        redactor.add("sk-secret-key");
        let error = ProviderError::Status {
            request: "GET http://h/v1/enrollments/E1".into(),
            status: 400,
            provider_code: None,
            provider_message: Some("bad key sk-secret-key".into()),
            retry_after: None,
            body: Vec::new(),
        }
        .to_step_error(&redactor, false);
        let shown = serde_json::to_string(&error).unwrap();
        assert!(!shown.contains("sk-secret-key"), "{shown}");
        let error = ProviderError::InvalidResponse {
            request: "r".into(),
            status: 200,
            problem: "p".into(),
            body: b"{\"token\": \"sk-secret-key\"".to_vec(),
        }
        .to_step_error(&redactor, false);
        let shown = serde_json::to_string(&error).unwrap();
        assert!(!shown.contains("sk-secret-key"), "{shown}");
    }

    #[test]
    fn error_bodies_of_the_contracts_shape_are_read() {
        assert_eq!(
            parse_error_body(
                br#"{"code": 40102, "http_code": 401, "message": "the API key is not valid"}"#
            ),
            (Some(40102), Some("the API key is not valid".into()))
        );
        assert_eq!(
            parse_error_body(br#"{"code": "40401", "message": "  "}"#),
            (Some(40401), None)
        );
        assert_eq!(parse_error_body(b"<html>Bad gateway</html>"), (None, None));
    }
}
