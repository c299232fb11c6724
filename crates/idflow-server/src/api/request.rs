//! What the API's write routes read from a request the same way: a JSON
//! body (415 when it is not `application/json`, 400 when it does not
//! parse or does not fit), and an `Idempotency-Key` header.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The header that makes a write idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest idempotency key accepted.
pub(crate) const MAX_KEY_LEN: usize = 255;

/// The body as `T`; `shape` says what was expected, for the 400's message
/// (`{"key": TEXT, "payload": ...}`).
pub(crate) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
    shape: &str,
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as `Content-Type: application/json`",
        ));
    }
    serde_json::from_slice(body).map_err(|error| {
        let code = if error.is_data() {
            "invalid_body"
        } else {
            "invalid_json"
        };
        ApiError::bad_request(code, format!("the body must be {shape}: {error}"))
    })
}

/// The request's `Idempotency-Key`, if it has one: 1 to [`MAX_KEY_LEN`]
/// visible ASCII characters (400 otherwise).
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|byte| byte.is_ascii_graphic())
    {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is a good key)"
            ),
        ));
    }
    Ok(Some(key.to_owned()))
}
