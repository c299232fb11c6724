//! The one JSON error shape every endpoint answers with:
//! `{"code", "http_code", "message"}` plus `field` for a bad field.
//!
//! `code` is the HTTP status times 100 plus a number naming the case:
//!
//! | code  | meaning |
//! |-------|---------|
//! | 40001 | a form field is missing or invalid (`field` names it) |
//! | 40002 | the request body or query cannot be parsed |
//! | 40003 | a header is invalid (`field` names it) |
//! | 40004 | the request is not valid HTTP/1.1 (its head cannot be parsed) |
//! | 40101 | the `Truora-API-Key` header is missing |
//! | 40102 | the API key is not valid |
//! | 40103 | the web token is missing, malformed or not valid |
//! | 40301 | the upload link signature is not valid |
//! | 40401 | the record or route does not exist (or belongs to another client) |
//! | 40501 | the method is not allowed on this route |
//! | 40801 | the request was not answered within the request timeout (a body sent too slowly) |
//! | 40901 | the upload link or web token was already used |
//! | 40902 | the Idempotency-Key was used for a different request, or is in flight |
//! | 40903 | the record is not in a state that allows this |
//! | 41001 | the upload link or web token has expired |
//! | 41301 | the body is larger than the limit |
//! | 41401 | the request target (path and query) is 64 KiB or longer |
//! | 41501 | the Content-Type is not accepted here |
//! | 42201 | the request is well-formed but cannot be carried out (`field` may name the cause) |
//! | 43101 | the request head is too large (over 96 KiB) or has more than 100 headers |
//! | 50001 | internal error (details are logged, never returned) |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to an HTTP caller; it never carries internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
    field: Option<String>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u32,
    http_code: u16,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, case: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code: u32::from(status.as_u16()) * 100 + case,
            message: message.into(),
            field: None,
        }
    }

    fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: a form field is missing or invalid.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 1, message).with_field(field)
    }

    /// 400: the body or query could not be parsed at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 2, message)
    }

    /// 400: a header is invalid.
    pub fn bad_header(header: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 3, message).with_field(header)
    }

    /// 400: the request head cannot be parsed (answered for hyper, see
    /// `connections::auto_errors`).
    pub fn malformed_request() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            4,
            "the request is not valid HTTP/1.1: its request line or a header cannot be parsed",
        )
    }

    /// 414: the request target is too long (answered for hyper).
    pub fn uri_too_long() -> Self {
        Self::new(
            StatusCode::URI_TOO_LONG,
            1,
            "the request target (path and query) is too long: it must be under 64 KiB",
        )
    }

    /// 431: the request head is too large (answered for hyper).
    pub fn headers_too_large() -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            1,
            "the request head is too large: at most 100 headers and 96 KiB",
        )
    }

    /// 408: the request was not answered within `limit`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            1,
            format!(
                "the request was not answered within {} s (was its body sent too slowly?)",
                limit.as_secs()
            ),
        )
    }

    pub fn missing_api_key() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 1, "missing Truora-API-Key header")
    }

    pub fn invalid_api_key() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 2, "invalid API key")
    }

    pub fn invalid_web_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 3, "missing or invalid web token")
    }

    pub fn bad_signature() -> Self {
        Self::new(StatusCode::FORBIDDEN, 1, "the upload link is not valid")
    }

    /// 404 for `what` (also for another client's record: never reveal it).
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, 1, format!("{what} not found"))
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            1,
            "method not allowed on this route",
        )
    }

    pub fn already_used(what: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            1,
            format!("the {what} was already used"),
        )
    }

    pub fn idempotency_conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, 2, message).with_field("Idempotency-Key")
    }

    pub fn state_conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, 3, message)
    }

    pub fn expired(what: &str) -> Self {
        Self::new(StatusCode::GONE, 1, format!("the {what} has expired"))
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            1,
            format!("the body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            1,
            format!("unsupported Content-Type: expected {expected}"),
        )
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, 1, message)
    }

    pub fn unprocessable_field(field: &str, message: impl Into<String>) -> Self {
        Self::unprocessable(message).with_field(field)
    }

    /// 500: logs `cause` and answers a message without internals.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error while answering a request");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 1, "internal error")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> u32 {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(ErrorBody {
            code: self.code,
            http_code: self.status.as_u16(),
            message: &self.message,
            field: self.field.as_deref(),
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The record a store lookup found, else 404 for `what` (see
/// [`ApiError::not_found`]); a store failure is a 500.
pub(crate) fn found<T>(lookup: Result<Option<T>, sqlx::Error>, what: &str) -> Result<T, ApiError> {
    lookup?.ok_or_else(|| ApiError::not_found(what))
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_field_body_names_the_field() {
        let body = ApiError::bad_field("type", "type is required").body();
        assert_eq!(
            body,
            serde_json::json!({"code": 40001, "http_code": 400, "message": "type is required", "field": "type"})
        );
    }

    #[test]
    fn not_found_has_no_field() {
        let body = ApiError::not_found("enrollment").body();
        assert_eq!(
            body,
            serde_json::json!({"code": 40401, "http_code": 404, "message": "enrollment not found"})
        );
    }
}
