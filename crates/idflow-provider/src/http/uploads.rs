//! `PUT <file_upload_link>`: the photo for an enrollment or a validation.
//! Answers at once (`200`, the record's status `pending`); the photo is
//! processed in the background.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{ImageBody, PathParams, Query};
use crate::links;
use crate::model::Status;
use crate::processing;
use crate::state::AppState;
use crate::store::{LinkUse, PendingImage};

pub(crate) async fn upload(
    State(state): State<AppState>,
    PathParams(nonce): PathParams<String>,
    query: Query,
    ImageBody(bytes): ImageBody,
) -> Result<Json<Value>, ApiError> {
    let expires = query.optional("expires")?.unwrap_or_default();
    let signature = query.optional("signature")?.unwrap_or_default();
    if !links::signature_is_valid(&state, &nonce, expires, signature) {
        return Err(ApiError::bad_signature());
    }
    let used = state
        .store()
        .use_upload_link(&nonce, state.now(), &bytes)
        .await?;
    match used {
        LinkUse::Unknown => Err(ApiError::not_found("upload link")),
        LinkUse::Used => Err(ApiError::already_used("upload link")),
        LinkUse::Expired => Err(ApiError::expired("upload link")),
        LinkUse::Accepted {
            client_id,
            kind,
            target_id,
        } => {
            let body = json!({
                "id": target_id,
                "type": kind.as_str(),
                "status": Status::Pending.as_str(),
                "message": "file received; processing",
            });
            processing::submit(
                &state,
                PendingImage {
                    kind,
                    target_id,
                    client_id,
                    bytes: bytes.to_vec(),
                },
            );
            Ok(Json(body))
        }
    }
}
