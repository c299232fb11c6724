//! `Idempotency-Key` on creating requests: the first request with a key runs
//! and its answer (status and body, errors included, 5xx excepted) is stored;
//! a later request of the same client with the same key and the same route
//! and form gets the stored answer again (header `Idempotent-Replayed: true`).
//! The same key with a different request answers 409. [`Creation`] is the
//! extractor of every creating route (client, key, form) and runs its work
//! through [`Creation::once`].
//!
//! A key stays "in flight" (409, code 40902) only while its request runs:
//! - the work runs in a task of its own, so a client that hangs up (or the
//!   request timeout) cannot stop it between creating the record and
//!   storing the answer;
//! - records still in flight when the provider starts were left by a crash
//!   and are released ([`crate::AppState::open`]), so a retry with the key
//!   runs again;
//! - a record in flight for longer than [`IN_FLIGHT_EXPIRY`] is taken over by
//!   the next request with its key (a store error that left it behind).
//!
//! What remains: a crash after the record was created and before its answer
//! was stored (two consecutive writes) lets the retry create a second record.

use std::time::Duration;

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

/// How long a key may stay in flight before a request with it takes it over.
/// Creating requests do a few writes; this is far longer than any of them.
pub(crate) const IN_FLIGHT_EXPIRY: Duration = Duration::from_mins(2);

/// What a creating route's work answers: a status and a body, or an error.
pub(crate) type Created = Result<(StatusCode, Value), ApiError>;

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
    /// (client, key); without a key, always. The work runs to its end in a
    /// task of its own, even if the caller stops waiting.
    pub(crate) async fn once<F, Fut>(self, state: &AppState, route: &str, create: F) -> Response
    where
        F: FnOnce(AppState, Client, Form) -> Fut + Send + 'static,
        Fut: Future<Output = Created> + Send + 'static,
    {
        let fingerprint = sha256(format!("{route}\n{}", self.form.canonical()).as_bytes());
        let task_state = state.clone();
        let work = async move {
            let Self { client, key, form } = self;
            let Some(key) = key else {
                return respond(create(task_state, client, form).await);
            };
            once_with_key(task_state, client, key, form, fingerprint, create).await
        };
        match state.spawn(work).await {
            Ok(response) => response,
            Err(error) => ApiError::internal(&error).into_response(),
        }
    }
}

async fn once_with_key<F, Fut>(
    state: AppState,
    client: Client,
    key: String,
    form: Form,
    fingerprint: [u8; 32],
    create: F,
) -> Response
where
    F: FnOnce(AppState, Client, Form) -> Fut,
    Fut: Future<Output = Created>,
{
    let store = state.store().clone();
    let now = state.now();
    let stale_before = now.saturating_sub(expiry_seconds());
    let begin = match store
        .begin_idempotent(&client.id, &key, &fingerprint, now, stale_before)
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
        IdempotencyBegin::Mismatch => {
            ApiError::idempotency_conflict("this Idempotency-Key was used for a different request")
                .into_response()
        }
        IdempotencyBegin::Fresh => {
            let client_id = client.id.clone();
            let result = create(state, client, form).await;
            let (status, body) = match &result {
                Ok((status, body)) => (*status, body.clone()),
                Err(error) => (error.status(), error.body()),
            };
            let stored = if status.is_server_error() {
                store.abandon_idempotent(&client_id, &key).await
            } else {
                store
                    .complete_idempotent(&client_id, &key, status.as_u16(), &body.to_string())
                    .await
            };
            if let Err(error) = stored {
                return ApiError::from(error).into_response();
            }
            respond(result)
        }
    }
}

fn expiry_seconds() -> i64 {
    i64::try_from(IN_FLIGHT_EXPIRY.as_secs()).unwrap_or(i64::MAX)
}

fn respond(result: Created) -> Response {
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
