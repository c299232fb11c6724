//! `GET /v1/processes/{process_id}/result`: the outcome of a web process.

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use super::error::{ApiError, found};
use super::extract::{Client, PathParams};
use crate::state::AppState;
use crate::views;

pub(crate) async fn result(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let row = found(state.store().process(&client.id, &id).await, "process")?;
    Ok(Json(views::process(&row)))
}
