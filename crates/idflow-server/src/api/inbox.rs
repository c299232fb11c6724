//! Outside events: `POST /api/v1/events` sends `{"key", "payload"}` to the
//! run step that waits for that key (`core.await_event`, a face gate woken
//! by a provider's webhook), or keeps it for the first step that waits (7
//! days unless the server says otherwise), so an event sent just before
//! the wait is never lost. Each event reaches one wait; a repeated
//! `Idempotency-Key` is ignored.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use idflow_engine::run::Delivery;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::request::{idempotency_key, json_body};
use crate::ServerState;
use crate::error::{ApiError, ErrorBody};

/// The longest event key, in characters.
pub const MAX_EVENT_KEY_LEN: usize = 512;

/// The largest event body (the key and the payload).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// An event to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEvent {
    /// The key the waiting step names (`order:42:paid`): 1 to 512
    /// characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub key: String,
    /// What the waiting step receives as `outputs.payload` (any JSON;
    /// `null` when left out).
    #[serde(default)]
    pub payload: Value,
}

/// What became of an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventAccepted {
    /// `delivered` (a step was waiting and has it), `kept` (for the first
    /// step that waits for its key), or `duplicate` (its Idempotency-Key
    /// was used before: ignored).
    #[schema(example = "delivered")]
    pub status: &'static str,
    /// The run whose step received it, when delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The id of that step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// Send an event to the step that waits for its key.
#[utoipa::path(
    post,
    path = "/events",
    tag = "events",
    request_body(content = SendEvent, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Send an event safely more than once: a key seen before is ignored (answered `duplicate`). 1 to 255 visible ASCII characters.", pattern = "^[!-~]{1,255}$", min_length = 1, max_length = 255)),
    responses(
        (status = 202, description = "Delivered to the waiting step, kept for the first one, or a duplicate ignored.", body = EventAccepted),
        (status = 400, description = "The body is not JSON of this shape, or the key is not usable.", body = ErrorBody),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
    )
)]
pub async fn send_event(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    if body.len() > MAX_EVENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "an event's body may have at most 1 MiB",
        ));
    }
    let event: SendEvent = json_body(&headers, &body, "{\"key\": TEXT, \"payload\": JSON}")?;
    check_key(&event.key)?;
    let idempotency = idempotency_key(&headers)?;
    let delivery = state
        .executor()
        .deliver_event(&event.key, &event.payload, idempotency.as_deref())
        .await
        .map_err(|error| ApiError::internal("delivering an event", &error))?;
    Ok((StatusCode::ACCEPTED, Json(accepted(delivery))).into_response())
}

/// The answer for a delivery.
pub fn accepted(delivery: Delivery) -> EventAccepted {
    match delivery {
        Delivery::Delivered { run_id, step_id } => EventAccepted {
            status: "delivered",
            run_id: Some(run_id),
            step: Some(step_id),
        },
        Delivery::Kept => EventAccepted {
            status: "kept",
            run_id: None,
            step: None,
        },
        Delivery::Duplicate => EventAccepted {
            status: "duplicate",
            run_id: None,
            step: None,
        },
    }
}

/// Refuses a key no step could name.
fn check_key(key: &str) -> Result<(), ApiError> {
    let length = key.chars().count();
    if length == 0 || length > MAX_EVENT_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_event_key",
            format!(
                "an event key must have 1 to {MAX_EVENT_KEY_LEN} characters and no control characters"
            ),
        ));
    }
    Ok(())
}
