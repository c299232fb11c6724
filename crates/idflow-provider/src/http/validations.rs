//! Face validations: create (with its upload link) and read.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::enrollments::account_id_field;
use super::error::{ApiError, found};
use super::extract::{Client, Form, PathParams, Query};
use super::idempotency::Creation;
use crate::links;
use crate::model::{new_id, prefix};
use crate::state::AppState;
use crate::store::{AccountReference, NewLink, NewValidation};
use crate::views;

/// Threshold used when a validation gives none: the confidence score of
/// dlib's same-person distance (0.6), so the decision is dlib's.
pub const DEFAULT_THRESHOLD: f64 = idflow_vision::SCORE_AT_SAME_PERSON_DISTANCE as f64;
/// Longest accepted validation `timeout`, in seconds (one day).
pub(crate) const MAX_TIMEOUT_SECONDS: i64 = 24 * 60 * 60;

pub(crate) async fn create(State(state): State<AppState>, creation: Creation) -> Response {
    creation
        .once(
            &state,
            "POST /v1/validations",
            |state, client, form| async move { create_validation(&state, &client, &form).await },
        )
        .await
}

/// Parses `threshold` (0..1), defaulting to [`DEFAULT_THRESHOLD`].
pub(crate) fn threshold_field(form: &Form) -> Result<f64, ApiError> {
    let Some(text) = form.optional("threshold")? else {
        return Ok(DEFAULT_THRESHOLD);
    };
    text.parse::<f64>()
        .ok()
        .filter(|t| (0.0..=1.0).contains(t))
        .ok_or_else(|| ApiError::bad_field("threshold", "threshold must be a number from 0 to 1"))
}

/// Checks that the account has a successful face-recognition enrollment.
pub(crate) async fn require_enrolled(
    state: &AppState,
    client: &str,
    account_id: &str,
) -> Result<(), ApiError> {
    match state.store().account_reference(client, account_id).await? {
        AccountReference::Unknown => Err(ApiError::not_found("account")),
        AccountReference::NotEnrolled => Err(ApiError::unprocessable_field(
            "account_id",
            "the account has no successful face-recognition enrollment",
        )),
        AccountReference::Enrolled { .. } => Ok(()),
    }
}

async fn create_validation(
    state: &AppState,
    client: &Client,
    form: &Form,
) -> Result<(StatusCode, Value), ApiError> {
    if form.required("type")? != views::FACE_RECOGNITION {
        return Err(ApiError::bad_field("type", "type must be face-recognition"));
    }
    let account_id = account_id_field(form, true)?;
    let threshold = threshold_field(form)?;
    let mut subvalidations = form.all("subvalidations");
    if subvalidations.is_empty() {
        subvalidations.push("similarity");
    }
    for name in &subvalidations {
        match *name {
            "similarity" => {}
            "passive_liveness" => {
                return Err(ApiError::unprocessable_field(
                    "subvalidations",
                    "passive_liveness is not available in the embedded provider",
                ));
            }
            _ => {
                return Err(ApiError::bad_field(
                    "subvalidations",
                    "subvalidations accepts similarity and passive_liveness",
                ));
            }
        }
    }
    subvalidations.dedup();
    let link_ttl = i64::try_from(state.config().upload_link_ttl.as_secs()).unwrap_or(i64::MAX);
    let timeout = match form.optional("timeout")? {
        None => link_ttl,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|t| (1..=MAX_TIMEOUT_SECONDS).contains(t))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "timeout",
                    format!(
                        "timeout must be a whole number of seconds from 1 to {MAX_TIMEOUT_SECONDS}"
                    ),
                )
            })?,
    };
    require_enrolled(state, &client.id, &account_id).await?;

    let now = state.now();
    let link = links::issue(state, now.saturating_add(timeout));
    let id = new_id(prefix::VALIDATION);
    let subvalidations = subvalidations.join(",");
    state
        .store()
        .insert_validation(
            &NewValidation {
                id: &id,
                client_id: &client.id,
                account_id: &account_id,
                threshold,
                subvalidations: &subvalidations,
                expires_at: link.expires_at,
                now,
            },
            &NewLink {
                nonce: &link.nonce,
                expires_at: link.expires_at,
            },
        )
        .await?;
    let row = state
        .store()
        .validation(&client.id, &id, now)
        .await?
        .ok_or_else(|| ApiError::internal(&"a created validation could not be read back"))?;
    Ok((
        StatusCode::CREATED,
        views::validation(&row, false, Some(&link.url)),
    ))
}

pub(crate) async fn read(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let show_details = query.flag("show_details")?;
    let lookup = state.store().validation(&client.id, &id, state.now()).await;
    let row = found(lookup, "validation")?;
    Ok(Json(views::validation(&row, show_details, None)))
}
