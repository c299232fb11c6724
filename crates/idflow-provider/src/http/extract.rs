//! Request extractors that answer every rejection with [`ApiError`]: the
//! client behind `Truora-API-Key`, the `Idempotency-Key`, form bodies (with
//! repeated fields and field-named errors), raw image bodies, path and query.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use futures::StreamExt as _;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::clients::KeyCheck;
use crate::state::AppState;

/// Header carrying the client's API key.
pub const API_KEY_HEADER: &str = "Truora-API-Key";
/// Header carrying an idempotency key on creating requests.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Largest accepted form body.
pub const FORM_LIMIT: usize = 64 * 1024;

/// The authenticated client.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(API_KEY_HEADER)
            .ok_or_else(ApiError::missing_api_key)?;
        let presented = value.to_str().map_err(|_| ApiError::invalid_api_key())?;
        match state
            .client_keys()
            .check(state.store(), presented.trim())
            .await?
        {
            KeyCheck::Valid { client_id } => Ok(Self { id: client_id }),
            KeyCheck::Invalid => Err(ApiError::invalid_api_key()),
        }
    }
}

/// The `Idempotency-Key` header, if given (1 to 255 visible ASCII characters).
#[derive(Debug, Clone)]
pub(crate) struct IdempotencyKey(pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_HEADER) else {
            return Ok(Self(None));
        };
        let bad = || {
            ApiError::bad_header(
                IDEMPOTENCY_HEADER,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        };
        let text = value.to_str().map_err(|_| bad())?;
        if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        Ok(Self(Some(text.to_owned())))
    }
}

/// A parsed `application/x-www-form-urlencoded` body.
#[derive(Debug, Clone, Default)]
pub(crate) struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self {
            pairs: url::form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// The single value of `name`, if given and not empty.
    pub(crate) fn optional<'a>(&'a self, name: &str) -> Result<Option<&'a str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_field(
                name,
                format!("{name} must be given once"),
            ));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// The single value of `name`; 400 naming the field when absent.
    pub(crate) fn required<'a>(&'a self, name: &str) -> Result<&'a str, ApiError> {
        self.optional(name)?
            .ok_or_else(|| ApiError::bad_field(name, format!("{name} is required")))
    }

    /// Every non-empty value of a repeatable field (`name` or `name[]`).
    pub(crate) fn all<'a>(&'a self, name: &str) -> Vec<&'a str> {
        let bracketed = format!("{name}[]");
        self.pairs
            .iter()
            .filter(|(key, value)| (key == name || *key == bracketed) && !value.is_empty())
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The pairs sorted, encoded: the same form always gives the same text.
    pub(crate) fn canonical(&self) -> String {
        let mut pairs = self.pairs.clone();
        pairs.sort();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        const FORM: &str = "application/x-www-form-urlencoded";
        let content_type = media_type(request.headers().get(CONTENT_TYPE));
        if content_type.as_deref().is_some_and(|media| media != FORM) {
            return Err(ApiError::unsupported_media_type(FORM));
        }
        let body = read_limited(request, FORM_LIMIT).await?;
        // An empty body without a Content-Type is an empty form: its fields are reported missing.
        if content_type.is_none() && !body.is_empty() {
            return Err(ApiError::unsupported_media_type(FORM));
        }
        Ok(Self::parse(&body))
    }
}

/// A raw image body (`PUT` to an upload link), limited to the configured size.
#[derive(Debug, Clone)]
pub(crate) struct ImageBody(pub(crate) Bytes);

impl FromRequest<AppState> for ImageBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        if let Some(media) = media_type(request.headers().get(CONTENT_TYPE))
            && !(media.starts_with("image/") || media == "application/octet-stream")
        {
            return Err(ApiError::unsupported_media_type(
                "image/jpeg, image/png, image/webp or application/octet-stream",
            ));
        }
        let limit = state.config().max_upload_bytes;
        Ok(Self(read_limited(request, limit).await?))
    }
}

/// The lowercase media type of a Content-Type header, without parameters.
fn media_type(value: Option<&axum::http::HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let media = text.split(';').next()?.trim().to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads the whole body, answering 413 as soon as it passes `limit` bytes.
async fn read_limited(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    if declared_length(&request).is_some_and(|length| length > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut stream = request.into_body().into_data_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::bad_request("the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Path parameters, with a JSON 400 when they do not parse.
#[derive(Debug)]
pub(crate) struct PathParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|_| ApiError::bad_request("the path is not valid"))
    }
}

/// The query string's pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query(Form);

impl Query {
    pub(crate) fn optional<'a>(&'a self, name: &str) -> Result<Option<&'a str>, ApiError> {
        self.0.optional(name)
    }

    /// A boolean query flag (`true`/`false`, `1`/`0`); absent is false.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.0.optional(name)? {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(ApiError::bad_field(
                name,
                format!("{name} must be true or false"),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Self(Form::parse(
            parts.uri.query().unwrap_or_default().as_bytes(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields() {
        let form = Form::parse(b"type=face-search&subvalidations=similarity&subvalidations[]=passive_liveness&empty=&twice=1&twice=2");
        assert_eq!(form.required("type").unwrap(), "face-search");
        assert_eq!(form.optional("missing").unwrap(), None);
        assert_eq!(form.optional("empty").unwrap(), None);
        assert_eq!(form.required("empty").unwrap_err().body()["field"], "empty");
        assert_eq!(form.optional("twice").unwrap_err().body()["field"], "twice");
        assert_eq!(
            form.all("subvalidations"),
            vec!["similarity", "passive_liveness"]
        );
    }

    #[test]
    fn canonical_form_ignores_order() {
        assert_eq!(
            Form::parse(b"b=2&a=1").canonical(),
            Form::parse(b"a=1&b=2").canonical()
        );
    }

    #[test]
    fn media_types() {
        let value = axum::http::HeaderValue::from_static(
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        );
        assert_eq!(
            media_type(Some(&value)).as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(media_type(None), None);
    }
}
