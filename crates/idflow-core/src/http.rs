//! HTTP conventions shared by step crates that call HTTP services
//! (`core.http`, the `face.*` steps): which statuses are worth retrying, how
//! long a server asked us to wait, and how to quote what came back in an
//! error without showing a secret.

use std::time::{Duration, SystemTime};

use crate::Redactor;

/// Whether an HTTP status means "try again later": any 5xx, and
/// 429 Too Many Requests. Every other unexpected status is terminal.
pub fn is_retryable_status(status: u16) -> bool {
    (500..=599).contains(&status) || status == 429
}

/// Reads a `Retry-After` value: a number of seconds, or an HTTP date (a
/// date in the past means "now"). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An error's message followed by each of its causes, `: `-separated (a
/// cause already at the end of the text is not repeated). Redact it before
/// showing it: causes may quote what the other side said.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of a body as text, redacted, at most `max_chars` characters
/// (`…` marks a cut). Redaction runs before the cut so that a secret cannot
/// be half shown.
pub fn redacted_excerpt(body: &[u8], redactor: &Redactor, max_chars: usize) -> String {
    let text = redactor.redact(&String::from_utf8_lossy(body));
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_and_429_are_retryable() {
        for (status, retryable) in [
            (500, true),
            (502, true),
            (599, true),
            (429, true),
            (400, false),
            (401, false),
            (404, false),
            (409, false),
            (301, false),
            (200, false),
            (600, false),
        ] {
            assert_eq!(is_retryable_status(status), retryable, "{status}");
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_mins(2)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[derive(Debug)]
    struct Chained(&'static str, Option<Box<Chained>>);

    impl std::fmt::Display for Chained {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Chained {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn error_chains_list_each_cause_once() {
        let inner = Chained("connection reset", None);
        let middle = Chained("read failed: connection reset", Some(Box::new(inner)));
        let outer = Chained("request failed", Some(Box::new(middle)));
        assert_eq!(
            error_chain(&outer),
            "request failed: read failed: connection reset"
        );
    }

    #[test]
    fn excerpts_are_redacted_before_the_cut_and_cut_on_a_character() {
        let redactor = Redactor::new();
        redactor.add("secret-token");
        let mut body = "é".repeat(9).into_bytes();
        body.extend_from_slice(b"secret-token and more");
        let text = redacted_excerpt(&body, &redactor, 12);
        assert_eq!(text, "ééééééééé[re…");
        assert_eq!(redacted_excerpt(b"short", &redactor, 12), "short");
        assert_eq!(redacted_excerpt(&[0xff, b'a'], &redactor, 12), "\u{fffd}a");
    }
}
