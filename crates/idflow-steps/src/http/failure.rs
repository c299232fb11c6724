//! How `core.http` reports failures: transport errors and unexpected
//! statuses become [`StepError`]s that say whether a retry could help, name
//! the method, status and a redacted URL, and carry a redacted excerpt of
//! the response body. Which statuses are retryable, `Retry-After`, cause
//! chains and body excerpts follow the shared conventions of
//! [`idflow_core::http`].

use std::time::SystemTime;

use idflow_core::http::{error_chain, is_retryable_status, parse_retry_after, redacted_excerpt};
use idflow_core::{Redactor, StepError};
use reqwest::{StatusCode, Url};

/// At most this many characters of a response body go into an error.
pub(crate) const EXCERPT_CHARS: usize = 512;

/// The URL as errors show it: a password in it replaced, then every known
/// secret redacted.
pub(crate) fn display_url(url: &Url, redactor: &Redactor) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have credentials, which this one has.
        let _ = shown.set_password(Some("redacted"));
    }
    redactor.redact(shown.as_str())
}

/// A request that got no (complete) response: a timeout, a refused or
/// broken connection, too many redirects.
pub(crate) fn transport_error(
    method: &reqwest::Method,
    shown_url: &str,
    error: reqwest::Error,
    redactor: &Redactor,
) -> StepError {
    let (timeout, connect, redirect, builder) = (
        error.is_timeout(),
        error.is_connect(),
        error.is_redirect(),
        error.is_builder(),
    );
    // The URL is shown once, redacted, by us; the causes must not repeat it.
    let cause = redactor.redact(&error_chain(&error.without_url()));
    let request = format!("{method} {shown_url}");
    if timeout {
        StepError::retryable("timeout", format!("{request} timed out ({cause})"))
    } else if connect {
        StepError::retryable(
            "connection",
            format!("{request}: could not connect ({cause})"),
        )
    } else if redirect {
        StepError::terminal("http_redirect", format!("{request}: {cause}"))
    } else if builder {
        StepError::invalid_input(format!("{request}: the request cannot be built ({cause})"))
    } else {
        // The connection broke while sending or receiving: worth another try.
        StepError::retryable("connection", format!("{request} failed ({cause})"))
    }
}

/// What is known about a response whose status was not expected.
#[derive(Debug)]
pub(crate) struct UnexpectedStatus<'a> {
    pub(crate) method: &'a reqwest::Method,
    pub(crate) shown_url: &'a str,
    pub(crate) status: StatusCode,
    pub(crate) expected: String,
    pub(crate) retry_after: Option<&'a str>,
    pub(crate) body_prefix: &'a [u8],
}

/// 5xx and 429 are retryable (honouring `Retry-After`), anything else is
/// terminal; both have code `http_status` and details `{status, body}`.
pub(crate) fn status_error(
    unexpected: &UnexpectedStatus<'_>,
    redactor: &Redactor,
    now: SystemTime,
) -> StepError {
    let status = unexpected.status;
    let message = format!(
        "{} {} returned HTTP {status} (expected {})",
        unexpected.method, unexpected.shown_url, unexpected.expected
    );
    let details = serde_json::json!({
        "status": status.as_u16(),
        "body": excerpt(unexpected.body_prefix, redactor),
    });
    if is_retryable_status(status.as_u16()) {
        let error = StepError::retryable("http_status", message).with_details(details);
        match unexpected
            .retry_after
            .and_then(|value| parse_retry_after(value, now))
        {
            Some(wait) => error.with_retry_after(wait),
            None => error,
        }
    } else {
        StepError::terminal("http_status", message).with_details(details)
    }
}

/// The start of a body as errors quote it: redacted, at most
/// [`EXCERPT_CHARS`] characters.
pub(crate) fn excerpt(body_prefix: &[u8], redactor: &Redactor) -> String {
    redacted_excerpt(body_prefix, redactor, EXCERPT_CHARS)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn unexpected<'a>(
        status: u16,
        retry_after: Option<&'a str>,
        body_prefix: &'a [u8],
    ) -> UnexpectedStatus<'a> {
        UnexpectedStatus {
            method: &reqwest::Method::GET,
            shown_url: "http://h/x",
            status: StatusCode::from_u16(status).unwrap(),
            expected: "2xx".into(),
            retry_after,
            body_prefix,
        }
    }

    #[test]
    fn server_errors_and_429_are_retryable_others_terminal() {
        let redactor = Redactor::new();
        let now = SystemTime::UNIX_EPOCH;
        for (status, retryable) in [
            (500, true),
            (503, true),
            (429, true),
            (404, false),
            (400, false),
            (301, false),
        ] {
            let error = status_error(&unexpected(status, None, b""), &redactor, now);
            assert_eq!(error.is_retryable(), retryable, "{status}");
            assert_eq!(error.code, "http_status");
            assert_eq!(error.details.as_ref().unwrap()["status"], status);
        }
    }

    #[test]
    fn the_message_names_method_url_status_and_what_was_expected() {
        let error = status_error(
            &unexpected(404, None, b"nope"),
            &Redactor::new(),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            error.message,
            "GET http://h/x returned HTTP 404 Not Found (expected 2xx)"
        );
        assert_eq!(error.details.unwrap()["body"], "nope");
    }

    #[test]
    fn a_retry_after_on_a_terminal_status_is_ignored() {
        let now = SystemTime::UNIX_EPOCH;
        let error = status_error(&unexpected(400, Some("5"), b""), &Redactor::new(), now);
        assert_eq!(error.retry_after, None);
        let error = status_error(&unexpected(503, Some("5"), b""), &Redactor::new(), now);
        assert_eq!(error.retry_after, Some(Duration::from_secs(5)));
        let date = Some("Thu, 01 Jan 1970 00:00:30 GMT");
        let error = status_error(&unexpected(429, date, b""), &Redactor::new(), now);
        assert_eq!(error.retry_after, Some(Duration::from_secs(30)));
    }

    #[test]
    fn excerpts_are_redacted_before_the_cut_and_cut_on_a_character() {
        let redactor = Redactor::new();
        redactor.add("secret-token");
        let mut body = "é".repeat(EXCERPT_CHARS - 3).into_bytes();
        body.extend_from_slice(b"secret-token and more");
        let text = excerpt(&body, &redactor);
        assert!(!text.contains("secret"), "{text}");
        assert!(text.ends_with("[re…"), "{text}");
        assert_eq!(text.chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt(b"short", &redactor), "short");
        assert_eq!(excerpt(&[0xff, b'a'], &redactor), "\u{fffd}a");
    }

    #[test]
    fn urls_hide_passwords_and_known_secrets() {
        let redactor = Redactor::new();
        redactor.add("k-123456");
        let url = Url::parse("https://user:pa55word@h/x?api_key=k-123456").unwrap();
        let shown = display_url(&url, &redactor);
        assert_eq!(shown, "https://user:redacted@h/x?api_key=[redacted]");
    }
}
