//! Enrollments: create (with its upload link), read, delete, list an account's.
//! Reading ends an enrollment whose upload link expired unused
//! (`upload_link_expired`, see `processing`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{ApiError, found};
use super::extract::{Client, Form, PathParams};
use super::idempotency::Creation;
use crate::links;
use crate::model::{EnrollmentType, is_valid_account_id, new_id, prefix};
use crate::processing;
use crate::state::AppState;
use crate::store::{ExpiryScope, NewEnrollment};
use crate::views;

/// Countries accepted for blocklist (`face-search`) enrollments.
pub(crate) const BLOCKLIST_COUNTRIES: [&str; 7] = ["BR", "CL", "CO", "CR", "EC", "MX", "PE"];

pub(crate) async fn create(State(state): State<AppState>, creation: Creation) -> Response {
    creation
        .once(
            &state,
            "POST /v1/enrollments",
            |state, client, form| async move { create_enrollment(&state, &client, &form).await },
        )
        .await
}

/// The `account_id` field if given (validated), else a new `ACC...` id.
pub(crate) fn account_id_field(form: &Form, required: bool) -> Result<String, ApiError> {
    let given = if required {
        Some(form.required("account_id")?)
    } else {
        form.optional("account_id")?
    };
    match given {
        Some(id) if is_valid_account_id(id) => Ok(id.to_owned()),
        Some(_) => Err(ApiError::bad_field(
            "account_id",
            "account_id must be 1 to 128 characters among letters, digits, '_', '.' and '-'",
        )),
        None => Ok(new_id(prefix::ACCOUNT)),
    }
}

async fn create_enrollment(
    state: &AppState,
    client: &Client,
    form: &Form,
) -> Result<(StatusCode, Value), ApiError> {
    let kind = EnrollmentType::parse(form.required("type")?).ok_or_else(|| {
        ApiError::bad_field("type", "type must be face-recognition or face-search")
    })?;
    if form.required("user_authorized")? != "true" {
        return Err(ApiError::bad_field(
            "user_authorized",
            "user_authorized must be true: the user must consent to the processing of their face",
        ));
    }
    let account_id = account_id_field(form, false)?;
    if form.optional("confirmation")?.is_some_and(|c| c != "none") {
        return Err(ApiError::bad_field(
            "confirmation",
            "confirmation accepts only the value none",
        ));
    }
    let (country, fraud_reason) = match kind {
        EnrollmentType::FaceRecognition => (None, None),
        EnrollmentType::FaceSearch => {
            let country = form.required("country")?.to_ascii_uppercase();
            if !BLOCKLIST_COUNTRIES.contains(&country.as_str()) {
                return Err(ApiError::bad_field(
                    "country",
                    format!("country must be one of {}", BLOCKLIST_COUNTRIES.join(", ")),
                ));
            }
            let fraud_reason = form.required("fraud_reason")?;
            if fraud_reason.len() > 64
                || !fraud_reason
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                return Err(ApiError::bad_field(
                    "fraud_reason",
                    "fraud_reason must be a lowercase word such as manipulated_photo",
                ));
            }
            (Some(country), Some(fraud_reason.to_owned()))
        }
    };

    let now = state.now();
    let ttl = i64::try_from(state.config().upload_link_ttl.as_secs()).unwrap_or(i64::MAX);
    let link = links::issue(state, now.saturating_add(ttl));
    let id = new_id(prefix::ENROLLMENT);
    state
        .store()
        .insert_enrollment(
            &NewEnrollment {
                id: &id,
                client_id: &client.id,
                account_id: &account_id,
                enrollment_type: kind,
                country: country.as_deref(),
                fraud_reason: fraud_reason.as_deref(),
                now,
            },
            &crate::store::NewLink {
                nonce: &link.nonce,
                expires_at: link.expires_at,
            },
        )
        .await?;
    let row = state
        .store()
        .enrollment(&client.id, &id)
        .await?
        .ok_or_else(|| ApiError::internal(&"a created enrollment could not be read back"))?;
    Ok((
        StatusCode::CREATED,
        views::enrollment(&row, Some(&link.url)),
    ))
}

pub(crate) async fn read(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = ExpiryScope::Enrollment {
        client_id: &client.id,
        id: &id,
    };
    processing::end_expired_enrollments(&state, scope).await?;
    let row = found(
        state.store().enrollment(&client.id, &id).await,
        "enrollment",
    )?;
    Ok(Json(views::enrollment(&row, None)))
}

/// Deletes the enrollment and its embedding; answers the record as it was.
pub(crate) async fn delete(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let deleted = state.store().delete_enrollment(&client.id, &id).await;
    let row = found(deleted, "enrollment")?;
    let mut body = views::enrollment(&row, None);
    body["deleted"] = json!(true);
    Ok(Json(body))
}

pub(crate) async fn list_for_account(
    State(state): State<AppState>,
    client: Client,
    PathParams(account_id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let scope = ExpiryScope::Account {
        client_id: &client.id,
        account_id: &account_id,
    };
    processing::end_expired_enrollments(&state, scope).await?;
    let rows = state
        .store()
        .account_enrollments(&client.id, &account_id)
        .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found("account"));
    }
    let enrollments: Vec<Value> = rows
        .iter()
        .map(|row| views::enrollment(row, None))
        .collect();
    Ok(Json(
        json!({"account_id": account_id, "enrollments": enrollments}),
    ))
}
