//! Reading a `core.http` response: the body with a size cap, the headers
//! as a JSON object, and the body as JSON or text.

use reqwest::Response;
use reqwest::header::{CONTENT_TYPE, HeaderMap};

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// It is larger than the limit.
    TooLarge,
    /// The connection failed while reading it.
    Transport(reqwest::Error),
}

/// Reads the whole body, refusing (without reading further) one larger
/// than `limit` bytes.
pub(crate) async fn read_capped(
    response: &mut Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let declared = response.content_length().unwrap_or(0);
    if usize::try_from(declared).map_or(true, |declared| declared > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if chunk.len() > limit - body.len() {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads about the first `limit` bytes of the body (for an error excerpt),
/// tolerating a connection that fails half-way.
pub(crate) async fn read_prefix(response: &mut Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// The response headers as a JSON object: lowercase names, repeated
/// headers joined with `, `.
pub(crate) fn headers_json(headers: &HeaderMap) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        object.insert(name.as_str().to_owned(), joined.into());
    }
    serde_json::Value::Object(object)
}

/// Whether the response says its body is JSON (`application/json` or any
/// `+json` type, parameters ignored).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The body as an output: parsed JSON when the response is JSON (an empty
/// one is `null`), else the text (invalid UTF-8 replaced by `�`).
pub(crate) fn decode_body(
    bytes: &[u8],
    json: bool,
) -> Result<serde_json::Value, serde_json::Error> {
    if !json {
        return Ok(String::from_utf8_lossy(bytes).into_owned().into());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use serde_json::json;

    use super::*;

    fn with_content_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn recognises_json_content_types() {
        assert!(is_json(&with_content_type("application/json")));
        assert!(is_json(&with_content_type(
            "Application/JSON; charset=utf-8"
        )));
        assert!(is_json(&with_content_type("application/problem+json")));
        assert!(!is_json(&with_content_type("text/plain")));
        assert!(!is_json(&with_content_type("application/jsonl")));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn decodes_json_text_and_empty_bodies() {
        assert_eq!(
            decode_body(br#"{"a":[1]}"#, true).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(decode_body(b"", true).unwrap(), serde_json::Value::Null);
        assert_eq!(decode_body(b"{\"a\"", false).unwrap(), json!("{\"a\""));
        assert!(decode_body(b"{oops", true).is_err());
    }

    #[test]
    fn headers_are_lowercase_and_repeats_joined() {
        let mut headers = HeaderMap::new();
        headers.append("X-Thing", HeaderValue::from_static("a"));
        headers.append("x-thing", HeaderValue::from_static("b"));
        headers.append("Content-Type", HeaderValue::from_static("text/plain"));
        assert_eq!(
            headers_json(&headers),
            json!({"x-thing": "a, b", "content-type": "text/plain"})
        );
    }
}
