//! `GET /healthz` (the process answers) and `GET /readyz` (it can use its
//! run store). Neither needs a token: load balancers and orchestrators
//! call them.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ServerState;
use crate::error::ApiError;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can read its run store.
pub async fn readyz(State(state): State<ServerState>) -> Result<Json<Value>, ApiError> {
    state
        .executor()
        .store()
        .unfinished()
        .await
        .map_err(|error| ApiError::unavailable(&error))?;
    Ok(Json(json!({"status": "ready"})))
}
