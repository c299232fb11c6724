//! `Idempotency-Key` on creating requests: the first request with a key runs
//! and its answer (status and body, errors included, 5xx excepted) is stored;
//! a later request of the same client with the same key and the same route
//! and form gets the stored answer again (header `Idempotent-Replayed: true`).
//! The same key with a different request answers 409. [`Creation`] is the
//! extractor of every creating route (client, key, form) and runs its work
//! through [`Creation::once`].

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ApiError;
use super::extract::{Client, Form, IdempotencyKey};
use crate::secrets::sha256;
use crate::state::AppState;
use crate::store::IdempotencyBegin;

/// Header set on a replayed answer.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// A creating request (`POST` with a form): the authenticated client, its
/// `Idempotency-Key` if given, and the form, checked in that order.
pub(crate) struct Creation {
    pub(crate) client: Client,
    key: Option<String>,
    pub(crate) form: Form,
}

impl FromRequest<AppState> for Creation {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let client = Client::from_request_parts(&mut parts, state).await?;
        let IdempotencyKey(key) = IdempotencyKey::from_request_parts(&mut parts, state).await?;
        let form = Form::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Self { client, key, form })
    }
}

impl Creation {
    /// Runs `create` (the work of this request on `route`) at most once per
    /// (client, key); without a key, always.
    pub(crate) async fn once<F>(&self, state: &AppState, route: &str, create: F) -> Response
    where
        F: Future<Output = Result<(StatusCode, Value), ApiError>>,
    {
        let Some(key) = &self.key else {
            return respond(create.await);
        };
        let client = &self.client;
        let form = &self.form;
        let fingerprint = sha256(format!("{route}\n{}", form.canonical()).as_bytes());
        let store = state.store();
        let begin = match store
            .begin_idempotent(&client.id, key, &fingerprint, state.now())
            .await
        {
            Ok(begin) => begin,
            Err(error) => return ApiError::from(error).into_response(),
        };
        match begin {
            IdempotencyBegin::Replay { status, body } => replay(status, &body),
            IdempotencyBegin::InFlight => ApiError::idempotency_conflict(
                "a request with this Idempotency-Key is still being processed",
            )
            .into_response(),
            IdempotencyBegin::Mismatch => ApiError::idempotency_conflict(
                "this Idempotency-Key was used for a different request",
            )
            .into_response(),
            IdempotencyBegin::Fresh => {
                let result = create.await;
                let (status, body) = match &result {
                    Ok((status, body)) => (*status, body.clone()),
                    Err(error) => (error.status(), error.body()),
                };
                let stored = if status.is_server_error() {
                    store.abandon_idempotent(&client.id, key).await
                } else {
                    store
                        .complete_idempotent(&client.id, key, status.as_u16(), &body.to_string())
                        .await
                };
                if let Err(error) = stored {
                    return ApiError::from(error).into_response();
                }
                respond(result)
            }
        }
    }
}

fn respond(result: Result<(StatusCode, Value), ApiError>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

fn replay(status: u16, body: &str) -> Response {
    let Ok(status) = StatusCode::from_u16(status) else {
        return ApiError::internal(&"a stored idempotent status is invalid").into_response();
    };
    let Ok(body) = serde_json::from_str::<Value>(body) else {
        return ApiError::internal(&"a stored idempotent body is invalid").into_response();
    };
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
