//! `GET /api/v1/runs/{id}/events`: a run's progress as Server-Sent
//! Events, closing when the run ends.
//!
//! - `run`: `{"run_id", "status"}`, first and whenever the run's status
//!   changes;
//! - `step`: `{"step", "status", "attempts", "started_at", "finished_at",
//!   "error"}` whenever a step's status or attempt count changes (first
//!   for every step);
//! - `end`: the run's result (as `GET /api/v1/runs/{id}`), last.
//!
//! Everything comes from the run's redacted state, never from raw events.
//! The stream wakes on this server's writes to the run ([`crate::Changes`]), and
//! looks every second for writes by other processes sharing the store.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::runs::{find_run, run_json};
use crate::ServerState;
use crate::error::{ApiError, ErrorBody};

/// How often a watched run is looked at without being told of a change.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// A run's live progress (Server-Sent Events), until it ends.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/events",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "`run`, `step` and `end` events; the stream closes after `end`.", content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
    )
)]
pub async fn run_events(
    State(state): State<ServerState>,
    Path(run_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Subscribe before the first look, so that no change falls between.
    let changes = state.changes().subscribe();
    find_run(&state, &run_id).await?;
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(watch(state, run_id, changes, sender));
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Sends the run's changes until it ends or the client goes.
async fn watch(
    state: ServerState,
    run_id: String,
    mut changes: broadcast::Receiver<std::sync::Arc<str>>,
    sender: mpsc::Sender<Event>,
) {
    let mut seen = Seen::default();
    loop {
        let ended = match look(&state, &run_id, &mut seen).await {
            Ok((events, ended)) => {
                for event in events {
                    if sender.send(event).await.is_err() {
                        return;
                    }
                }
                ended
            }
            Err(error) => {
                let event = Event::default()
                    .event("error")
                    .json_data(json!({"error": {"code": error.code, "message": error.message}}));
                if let Ok(event) = event {
                    let _ = sender.send(event).await;
                }
                return;
            }
        };
        if ended {
            return;
        }
        tokio::select! {
            () = sender.closed() => return,
            () = wait_for_change(&mut changes, &run_id) => {}
            () = tokio::time::sleep(FALLBACK_POLL) => {}
        }
    }
}

/// Waits until `run_id` changes (or the watcher fell behind: then it
/// looks again anyway).
async fn wait_for_change(changes: &mut broadcast::Receiver<std::sync::Arc<str>>, run_id: &str) {
    loop {
        match changes.recv().await {
            Ok(changed) if &*changed == run_id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// What the client was last told.
#[derive(Default)]
struct Seen {
    status: Option<String>,
    steps: HashMap<String, (Value, Value)>,
}

/// The events since the last look, and whether the run has ended.
async fn look(
    state: &ServerState,
    run_id: &str,
    seen: &mut Seen,
) -> Result<(Vec<Event>, bool), ApiError> {
    let record = find_run(state, run_id).await?;
    let result = run_json(state, &record).await?;
    let mut events = Vec::new();
    let status = record.phase.as_str().to_owned();
    if seen.status.as_deref() != Some(&status) {
        events.push(event("run", &json!({"run_id": run_id, "status": status})));
        seen.status = Some(status);
    }
    if let Some(steps) = result.get("steps").and_then(Value::as_object) {
        for (id, step) in steps {
            let now = (
                step.get("status").cloned().unwrap_or(Value::Null),
                step.get("attempts").cloned().unwrap_or(Value::Null),
            );
            if seen.steps.get(id) == Some(&now) {
                continue;
            }
            events.push(event(
                "step",
                &json!({
                    "step": id,
                    "status": now.0,
                    "attempts": now.1,
                    "started_at": step.get("started_at"),
                    "finished_at": step.get("finished_at"),
                    "error": step.get("error"),
                }),
            ));
            seen.steps.insert(id.clone(), now);
        }
    }
    let ended = record.phase.is_finished();
    if ended {
        events.push(event("end", &result));
    }
    Ok((events, ended))
}

fn event(name: &str, data: &Value) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name))
}
