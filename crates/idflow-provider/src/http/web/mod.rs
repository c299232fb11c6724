//! The verification page (`GET /?token=`), its script and style, and the
//! endpoints it calls with its web token (`Authorization: Bearer <token>`):
//! start the process with a photo, send another photo when the last one
//! could not be used, and poll the outcome. A missing, unknown, expired or
//! used token gets a clear HTML page with the right status.
//!
//! - `lang`: which language the page speaks (`?lang=`, `Accept-Language`).
//! - `messages`: every word of the pages, one table per language.
//! - `page`: fills the HTML templates (`assets/`) with a language's words.

mod lang;
mod messages;
mod page;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{
    ACCEPT_LANGUAGE, AUTHORIZATION, CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, VARY,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{ApiError, found};
use super::extract::{ImageBody, PathParams, Query};
use super::validations::{DEFAULT_THRESHOLD, require_enrolled};
use crate::model::{Status, TargetKind, new_id, prefix};
use crate::processing;
use crate::state::AppState;
use crate::store::{NewPhoto, NewProcess, NewValidation, PendingImage, ProcessRow, WebTokenRow};
use crate::web_tokens::{self, TokenCheck};
use lang::Lang;
use page::{LinkProblem, PageContext};

const SCRIPT: &str = include_str!("../../../assets/verify.js");
const STYLE: &str = include_str!("../../../assets/verify.css");

/// Nothing from elsewhere: the page, its script and its style come from
/// this origin; inline scripts and styles are refused.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                           img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
                           connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Headers every page answer carries: the token is in the URL, so no referrer
/// and no caching; the language depends on `Accept-Language`.
fn page_headers(response: &mut Response, lang: Lang) {
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
    headers.insert(CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    headers.insert(VARY, HeaderValue::from_static("Accept-Language"));
}

/// The page saying why the link cannot be used, with its status.
fn link_problem(status: StatusCode, lang: Lang, problem: LinkProblem) -> Response {
    let mut response = (status, Html(page::link_problem_page(lang, problem))).into_response();
    page_headers(&mut response, lang);
    response
}

/// `GET /?token=...[&lang=es|pt|en]`: the page in the user's language, or a
/// page saying why it cannot be used.
pub(crate) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Query,
) -> Response {
    let accept_language = headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|value| value.to_str().ok());
    let lang = Lang::negotiate(query.optional("lang").ok().flatten(), accept_language);
    let token = match query.optional("token") {
        Ok(Some(token)) => token.to_owned(),
        Ok(None) | Err(_) => {
            return link_problem(StatusCode::BAD_REQUEST, lang, LinkProblem::Incomplete);
        }
    };
    let usable = match web_tokens::check(&state, &token).await {
        Ok(TokenCheck::Usable(row)) => row,
        Ok(TokenCheck::Invalid) => {
            return link_problem(StatusCode::UNAUTHORIZED, lang, LinkProblem::Invalid);
        }
        Ok(TokenCheck::Expired(_)) => {
            return link_problem(StatusCode::GONE, lang, LinkProblem::Expired);
        }
        Ok(TokenCheck::Used(_)) => {
            return link_problem(StatusCode::CONFLICT, lang, LinkProblem::Used);
        }
        Err(error) => {
            let _ = ApiError::internal(&error);
            return link_problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                LinkProblem::Unavailable,
            );
        }
    };
    let client = match state.store().client_name(&usable.client_id).await {
        Ok(name) => name.unwrap_or_else(|| usable.client_id.clone()),
        Err(error) => {
            let _ = ApiError::internal(&error);
            return link_problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                lang,
                LinkProblem::Unavailable,
            );
        }
    };
    let html = page::verification_page(&PageContext {
        lang,
        client: &client,
        token: &token,
        max_upload_bytes: state.config().max_upload_bytes,
    });
    let mut response = Html(html).into_response();
    page_headers(&mut response, lang);
    response
}

/// A static asset of the page with its media type.
fn asset(body: &'static str, media_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /assets/verify.js`.
pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /assets/verify.css`.
pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
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

/// A validation of the token's account against its enrolled face, for a
/// photo of the page.
fn page_validation<'a>(token: &'a WebTokenRow, id: &'a str, now: i64) -> NewValidation<'a> {
    NewValidation {
        id,
        client_id: &token.client_id,
        account_id: &token.account_id,
        threshold: DEFAULT_THRESHOLD,
        subvalidations: "similarity",
        expires_at: token.expires_at,
        now,
    }
}

/// Hands a stored photo to the face engine; answers 202 with the process.
fn submit_photo(
    state: &AppState,
    token: WebTokenRow,
    process_id: &str,
    validation_id: String,
    photo: &[u8],
) -> (StatusCode, Json<Value>) {
    processing::submit(
        state,
        PendingImage {
            kind: TargetKind::Validation,
            target_id: validation_id,
            client_id: token.client_id,
            bytes: photo.to_vec(),
        },
    );
    (
        StatusCode::ACCEPTED,
        Json(json!({"process_id": process_id, "status": Status::Pending.as_str()})),
    )
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
                validation: page_validation(&token, &validation_id, now),
                photo: &photo,
            },
            now,
        )
        .await?;
    if !started {
        return Err(ApiError::already_used("web token"));
    }
    Ok(submit_photo(
        &state,
        token,
        &process_id,
        validation_id,
        &photo,
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

/// The process the token started, if it is `process_id`.
async fn own_process(
    state: &AppState,
    token: &WebTokenRow,
    process_id: &str,
) -> Result<ProcessRow, ApiError> {
    if token.process_id.as_deref() != Some(process_id) {
        return Err(ApiError::not_found("process"));
    }
    found(
        state.store().process(&token.client_id, process_id).await,
        "process",
    )
}

/// `POST /v1/web/processes/{process_id}/photos`: another photo, after the
/// latest one could not be used (no face, unreadable, empty), up to
/// [`crate::model::MAX_PHOTOS_PER_PROCESS`] in all; 409 when the process is not waiting
/// for one.
pub(crate) async fn add_photo(
    State(state): State<AppState>,
    BearerToken(check): BearerToken,
    PathParams(process_id): PathParams<String>,
    ImageBody(photo): ImageBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let token = match check {
        TokenCheck::Invalid => return Err(ApiError::invalid_web_token()),
        TokenCheck::Expired(_) => return Err(ApiError::expired("web token")),
        TokenCheck::Used(row) | TokenCheck::Usable(row) => row,
    };
    let process = own_process(&state, &token, &process_id).await?;
    let not_waiting = || ApiError::state_conflict("the process is not waiting for another photo");
    if !process.awaits_photo() {
        return Err(not_waiting());
    }
    let now = state.now();
    let validation_id = new_id(prefix::VALIDATION);
    let added = state
        .store()
        .add_process_photo(
            &NewPhoto {
                process: &process,
                validation: page_validation(&token, &validation_id, now),
                photo: &photo,
            },
            now,
        )
        .await?;
    if !added {
        return Err(not_waiting());
    }
    Ok(submit_photo(
        &state,
        token,
        &process_id,
        validation_id,
        &photo,
    ))
}

/// `GET /v1/web/processes/{process_id}`: the outcome, and where to go next;
/// after an unusable photo, `retry: true` and the photos left.
pub(crate) async fn poll_process(
    State(state): State<AppState>,
    BearerToken(check): BearerToken,
    PathParams(process_id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let token = token_row(check)?;
    let process = own_process(&state, &token, &process_id).await?;
    let mut body = Map::new();
    body.insert("process_id".into(), json!(process.id));
    body.insert("status".into(), json!(process.status));
    if process.status == Status::Failure.as_str()
        && let Some(reason) = &process.reason
    {
        body.insert("declined_reason".into(), json!(reason));
    }
    if process.awaits_photo() {
        body.insert("retry".into(), json!(true));
        body.insert("photos_left".into(), json!(process.photos_left()));
    } else if process.status != Status::Pending.as_str()
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
