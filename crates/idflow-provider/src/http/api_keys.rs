//! `POST /v1/api-keys`: web tokens for the verification page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::enrollments::account_id_field;
use super::error::ApiError;
use super::extract::{Client, Form};
use super::idempotency::Creation;
use super::validations::require_enrolled;
use crate::secrets::random_hex;
use crate::state::AppState;
use crate::store::NewWebToken;
use crate::web_tokens;

pub(crate) async fn create(State(state): State<AppState>, creation: Creation) -> Response {
    creation
        .once(
            &state,
            "POST /v1/api-keys",
            |state, client, form| async move { create_token(&state, &client, &form).await },
        )
        .await
}

fn require_value(form: &Form, field: &str, expected: &str) -> Result<(), ApiError> {
    if form.required(field)? == expected {
        Ok(())
    } else {
        Err(ApiError::bad_field(
            field,
            format!("{field} must be {expected}"),
        ))
    }
}

fn is_simple_id(text: &str) -> bool {
    text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

async fn create_token(
    state: &AppState,
    client: &Client,
    form: &Form,
) -> Result<(StatusCode, Value), ApiError> {
    require_value(form, "key_type", "web")?;
    require_value(form, "grant", "digital-identity")?;
    if form.optional("api_key_version")?.is_some_and(|v| v != "1") {
        return Err(ApiError::bad_field(
            "api_key_version",
            "api_key_version must be 1",
        ));
    }
    let country = form
        .optional("country")?
        .unwrap_or("ALL")
        .to_ascii_uppercase();
    if !(country == "ALL"
        || (country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase())))
    {
        return Err(ApiError::bad_field(
            "country",
            "country must be ALL or a two-letter country code",
        ));
    }
    let account_id = account_id_field(form, true)?;
    let redirect_url = match form.optional("redirect_url")? {
        None => None,
        Some(text) => match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url.to_string()),
            _ => {
                return Err(ApiError::bad_field(
                    "redirect_url",
                    "redirect_url must be an absolute http or https URL",
                ));
            }
        },
    };
    let flow_id = form.optional("flow_id")?;
    if flow_id.is_some_and(|f| !is_simple_id(f)) {
        return Err(ApiError::bad_field(
            "flow_id",
            "flow_id must be up to 128 characters among letters, digits, '_', '.' and '-'",
        ));
    }
    require_enrolled(state, &client.id, &account_id).await?;

    let now = state.now();
    let ttl = i64::try_from(state.config().token_ttl.as_secs()).unwrap_or(i64::MAX);
    let jti = random_hex::<16>();
    let token = NewWebToken {
        jti: &jti,
        client_id: &client.id,
        account_id: &account_id,
        country: &country,
        flow_id,
        redirect_url: redirect_url.as_deref(),
        expires_at: now.saturating_add(ttl),
        now,
    };
    state.store().insert_web_token(&token).await?;
    Ok((
        StatusCode::CREATED,
        json!({
            "api_key": web_tokens::sign(state, &token),
            "message": "API key created successfully",
        }),
    ))
}
