//! `GET /metrics`: the Prometheus text exposition of the recorder the
//! `idflow` binary installed (runs started and finished, attempt
//! durations: the engine records them as they happen, see
//! [`idflow_engine::run::metrics`]), with the due work of the run store
//! read at scrape time. No token is needed, as for `/healthz`: it names
//! workflows and step types, never a run, an input or a secret.
//!
//! This crate installs no recorder: the state carries a function that
//! renders the installed one ([`RenderMetrics`]), so a test can hand it a
//! local recorder instead.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use idflow_engine::run::metrics::record_due;
use time::OffsetDateTime;

use crate::ServerState;
use crate::error::ApiError;

/// Renders the installed recorder's metrics as Prometheus text.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics, the store's due work read now. 503 when the store cannot
/// be read (rather than gauges that no longer say the truth).
pub async fn metrics(State(state): State<ServerState>) -> Result<impl IntoResponse, ApiError> {
    let now = OffsetDateTime::now_utc();
    let due = state
        .executor()
        .store()
        .due_summary(now)
        .await
        .map_err(|error| ApiError::unavailable(&error))?;
    record_due(due, now);
    let text = state.metrics().map(|render| render()).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, TEXT_FORMAT)], text))
}
