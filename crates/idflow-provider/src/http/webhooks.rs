//! Webhook registration: `POST /v1/webhooks` (`url`), list, delete. The
//! secret that signs the events is shown once, in the creating response.
//! A URL with credentials answers 400; one that reaches a non-public
//! address (unless the operator allows it) or does not resolve, 422
//! ([`crate::WebhookTargets`]). URLs are never shown with credentials.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{Client, Form, PathParams};
use super::idempotency::Creation;
use crate::model::{new_id, prefix, rfc3339};
use crate::secrets::random_hex;
use crate::state::AppState;
use crate::store::WebhookRow;
use crate::webhook_targets::{TargetRefusal, without_credentials};

pub(crate) async fn create(State(state): State<AppState>, creation: Creation) -> Response {
    creation
        .once(
            &state,
            "POST /v1/webhooks",
            |state, client, form| async move { create_webhook(&state, &client, &form).await },
        )
        .await
}

fn view(row: &WebhookRow) -> Value {
    json!({
        "webhook_id": row.id,
        "url": without_credentials(&row.url),
        "creation_date": rfc3339(row.created_at),
    })
}

async fn create_webhook(
    state: &AppState,
    client: &Client,
    form: &Form,
) -> Result<(StatusCode, Value), ApiError> {
    let url = match url::Url::parse(form.required("url")?) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => url,
        _ => {
            return Err(ApiError::bad_field(
                "url",
                "url must be an absolute http or https URL",
            ));
        }
    };
    match state.config().webhook_targets.check(&url).await {
        Ok(()) => {}
        Err(refusal @ TargetRefusal::Credentials) => {
            return Err(ApiError::bad_field("url", refusal.to_string()));
        }
        Err(refusal) => return Err(ApiError::unprocessable_field("url", refusal.to_string())),
    }
    let row = WebhookRow {
        id: new_id(prefix::WEBHOOK),
        url: url.to_string(),
        secret: random_hex::<32>(),
        created_at: state.now(),
    };
    state.store().insert_webhook(&client.id, &row).await?;
    let mut body = view(&row);
    body["secret"] = json!(row.secret);
    Ok((StatusCode::CREATED, body))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    client: Client,
) -> Result<Json<Value>, ApiError> {
    let rows = state.store().webhooks(&client.id).await?;
    let hooks: Vec<Value> = rows.iter().map(view).collect();
    Ok(Json(json!({"webhooks": hooks})))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    if state.store().delete_webhook(&client.id, &id).await? {
        Ok(Json(json!({"webhook_id": id, "deleted": true})))
    } else {
        Err(ApiError::not_found("webhook"))
    }
}
