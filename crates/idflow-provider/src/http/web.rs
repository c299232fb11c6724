//! The verification page (`GET /?token=`), its script, and the two endpoints
//! it calls with its web token (`Authorization: Bearer <token>`): start the
//! process with the photo, and poll the outcome. A missing, unknown, expired
//! or used token gets a clear HTML page with the right status.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{ApiError, found};
use super::extract::{ImageBody, PathParams, Query};
use super::validations::{DEFAULT_THRESHOLD, require_enrolled};
use crate::model::{Status, TargetKind, new_id, prefix};
use crate::processing;
use crate::state::AppState;
use crate::store::{NewProcess, NewValidation, PendingImage, WebTokenRow};
use crate::web_tokens::{self, TokenCheck};

const PAGE: &str = include_str!("../../assets/verify.html");
const SCRIPT: &str = include_str!("../../assets/verify.js");
const MESSAGE: &str = include_str!("../../assets/message.html");

const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                           img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
                           connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers every page answer carries: the token is in the URL, so no referrer
/// and no caching.
fn page_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// An HTML page with a title and a message.
fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    let html = MESSAGE
        .replace("{{title}}", &escape_html(title))
        .replace("{{message}}", &escape_html(message));
    let mut response = (status, Html(html)).into_response();
    page_headers(&mut response);
    response
}

/// `GET /?token=...`: the page, or a page saying why it cannot be used.
pub(crate) async fn page(State(state): State<AppState>, query: Query) -> Response {
    let token = match query.optional("token") {
        Ok(Some(token)) => token.to_owned(),
        Ok(None) | Err(_) => {
            return message_page(
                StatusCode::BAD_REQUEST,
                "This verification link is incomplete",
                "The link has no token. Open the exact link you were given, or ask for a new one.",
            );
        }
    };
    match web_tokens::check(&state, &token).await {
        Ok(TokenCheck::Usable(_)) => {
            let mut response = Html(PAGE).into_response();
            page_headers(&mut response);
            response
        }
        Ok(TokenCheck::Invalid) => message_page(
            StatusCode::UNAUTHORIZED,
            "This verification link is not valid",
            "The link was not issued by this service or has been altered. Ask for a new link.",
        ),
        Ok(TokenCheck::Expired(_)) => message_page(
            StatusCode::GONE,
            "This verification link has expired",
            "Verification links are valid for a limited time. Ask for a new link.",
        ),
        Ok(TokenCheck::Used(_)) => message_page(
            StatusCode::CONFLICT,
            "This verification link was already used",
            "Each link can be used for one verification only. Ask for a new link to verify again.",
        ),
        Err(error) => {
            let _ = ApiError::internal(&error);
            message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The verification service is unavailable",
                "Please try again in a few minutes.",
            )
        }
    }
}

/// `GET /assets/verify.js`.
pub(crate) async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response
}

/// The web token of a request (`Authorization: Bearer`), checked.
pub(crate) struct BearerToken(TokenCheck);

impl FromRequestParts<AppState> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::invalid_web_token)?;
        Ok(Self(web_tokens::check(state, token).await?))
    }
}

/// `POST /v1/web/processes`: the page's photo; starts the token's one process.
pub(crate) async fn start_process(
    State(state): State<AppState>,
    BearerToken(check): BearerToken,
    ImageBody(photo): ImageBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let token = match check {
        TokenCheck::Usable(token) => token,
        TokenCheck::Invalid => return Err(ApiError::invalid_web_token()),
        TokenCheck::Expired(_) => return Err(ApiError::expired("web token")),
        TokenCheck::Used(_) => return Err(ApiError::already_used("web token")),
    };
    require_enrolled(&state, &token.client_id, &token.account_id).await?;
    let now = state.now();
    let process_id = new_id(prefix::PROCESS);
    let validation_id = new_id(prefix::VALIDATION);
    let started = state
        .store()
        .start_process(
            &NewProcess {
                id: &process_id,
                token: &token,
                validation: NewValidation {
                    id: &validation_id,
                    client_id: &token.client_id,
                    account_id: &token.account_id,
                    threshold: DEFAULT_THRESHOLD,
                    subvalidations: "similarity",
                    expires_at: token.expires_at,
                    now,
                },
                photo: &photo,
            },
            now,
        )
        .await?;
    if !started {
        return Err(ApiError::already_used("web token"));
    }
    processing::submit(
        &state,
        PendingImage {
            kind: TargetKind::Validation,
            target_id: validation_id,
            client_id: token.client_id,
            bytes: photo.to_vec(),
        },
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"process_id": process_id, "status": Status::Pending.as_str()})),
    ))
}

/// The token's row whatever its state: polling stays allowed after the
/// token was used (and after it expired, for a process it started).
fn token_row(check: TokenCheck) -> Result<WebTokenRow, ApiError> {
    match check {
        TokenCheck::Invalid => Err(ApiError::invalid_web_token()),
        TokenCheck::Expired(row) | TokenCheck::Used(row) | TokenCheck::Usable(row) => Ok(row),
    }
}

/// `GET /v1/web/processes/{process_id}`: the outcome, and where to go next.
pub(crate) async fn poll_process(
    State(state): State<AppState>,
    BearerToken(check): BearerToken,
    PathParams(process_id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let token = token_row(check)?;
    if token.process_id.as_deref() != Some(process_id.as_str()) {
        return Err(ApiError::not_found("process"));
    }
    let lookup = state.store().process(&token.client_id, &process_id).await;
    let process = found(lookup, "process")?;
    let mut body = Map::new();
    body.insert("process_id".into(), json!(process.id));
    body.insert("status".into(), json!(process.status));
    if process.status == Status::Failure.as_str()
        && let Some(reason) = &process.reason
    {
        body.insert("declined_reason".into(), json!(reason));
    }
    if process.status != Status::Pending.as_str()
        && let Some(mut redirect) = token
            .redirect_url
            .as_deref()
            .and_then(|r| url::Url::parse(r).ok())
    {
        redirect
            .query_pairs_mut()
            .append_pair("process_id", &process.id);
        body.insert("redirect_url".into(), json!(redirect.as_str()));
    }
    Ok(Json(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
