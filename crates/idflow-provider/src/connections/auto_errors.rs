//! The provider's JSON error shape for the answers hyper gives by itself.
//!
//! A request head that cannot be parsed never reaches a handler: hyper
//! answers it at once with an empty body and closes the connection (400
//! for a malformed request line or header, 414 for a request target of
//! 64 KiB or more, 431 for more than 100 headers or a head over about
//! 400 KiB). [`JsonAutoErrors`] wraps the connection's socket and, when
//! hyper writes such an answer, writes the same status with the provider's
//! JSON error body instead ([`ApiError`]: 40004, 41401, 43101).
//!
//! It recognises them by their shape, which no handler's answer has: the
//! status 400, 414 or 431 with `content-length: 0` and nothing after the
//! head (every error of the handlers has a JSON body). hyper is given the
//! socket as not vectored, so each answer's head arrives in one write.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::ApiError;

/// A socket whose automatic error answers get the JSON error shape.
#[derive(Debug)]
pub(crate) struct JsonAutoErrors<S> {
    inner: S,
    /// The replacement answer still to write, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> JsonAutoErrors<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            replacement: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> JsonAutoErrors<S> {
    /// Writes what is left of the replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonAutoErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonAutoErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_replacement(cx))?;
        if let Some(answer) = json_answer_for(buf) {
            // hyper's bytes count as written; ours go out on flush.
            self.replacement = Some((answer, 0));
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// The JSON answer replacing `written` if it is one of hyper's own error
/// answers, else `None`.
fn json_answer_for(written: &[u8]) -> Option<Vec<u8>> {
    let head = written.strip_suffix(b"\r\n\r\n")?;
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let code = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let error = match code {
        "400" => ApiError::malformed_request(),
        "414" => ApiError::uri_too_long(),
        "431" => ApiError::headers_too_large(),
        _ => return None,
    };
    let mut date = None;
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            empty = value == "0";
        } else if name.eq_ignore_ascii_case("date") {
            date = Some(value);
        }
    }
    if !empty {
        return None;
    }
    Some(json_answer(&error, date))
}

/// An answer with `error`'s status and JSON body, closing the connection.
fn json_answer(error: &ApiError, date: Option<&str>) -> Vec<u8> {
    let body = error.body().to_string();
    let status: StatusCode = error.status();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(&format!("date: {date}\r\n"));
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    answer.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_s_empty_error_answers_are_replaced() {
        let answer = json_answer_for(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 14:00:00 GMT\r\n\r\n",
        )
        .unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{head}"
        );
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(
            head.contains("date: Tue, 01 Dec 2026 14:00:00 GMT"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], 43101);
        assert_eq!(body["http_code"], 431);
    }

    #[test]
    fn other_writes_pass_unchanged() {
        for written in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{\"code\":40001,\"a\":1}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"{\"status\": \"HTTP/1.1 400 \"}",
        ] {
            assert_eq!(json_answer_for(written), None, "{written:?}");
        }
    }
}
