//! Runs: `POST /api/v1/runs` (start; idempotent with `Idempotency-Key`),
//! `GET /api/v1/runs` (newest first, keyset pages), `GET
//! /api/v1/runs/{id}` (the result JSON of `idflow run --json`, redacted),
//! `POST /api/v1/runs/{id}/cancel`, `GET /api/v1/runs/{id}/timeline` and
//! `GET /api/v1/runs/{id}/graph` (the run's pinned workflow).
//!
//! A start is checked as `idflow run` checks it (unknown, missing and
//! mistyped inputs, secrets the server lacks: 422 with the CLI's messages)
//! and recorded for the server's worker loop, which executes it. File
//! inputs come as `{"$file": {"name", "content_base64"}}`; the server
//! keeps each in a folder of the run's own and passes its path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use idflow_engine::model::{InputType, Workflow};
use idflow_engine::run::{RunFilter, RunPhase, RunRecord, RunRequest, StartedVia, StoreError};
use idflow_store::StartClaim;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::request::{idempotency_key, json_body};
use super::workflows::unknown_workflow;
use crate::ServerState;
use crate::error::{ApiError, ErrorBody};

/// Runs listed per page when the caller does not say.
const DEFAULT_PAGE: u32 = 50;
/// The most runs listed per page.
const MAX_PAGE: u32 = 500;

/// A run to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The workflow's name (`GET /api/v1/workflows` lists them).
    pub workflow: String,
    /// Its inputs by name, as typed JSON values; a `file` input as
    /// `{"$file": {"name": "photo.jpg", "content_base64": "..."}}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
}

/// A started run.
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    /// Its id.
    pub run_id: String,
    /// Where it is (`pending` until a worker takes it).
    pub status: String,
}

/// A run as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    /// Its id (time-ordered).
    pub run_id: String,
    /// Its workflow's name.
    pub workflow: String,
    /// The SHA-256 of the workflow text it runs (pinned at its start).
    pub workflow_hash: String,
    /// `pending`, `running`, `waiting`, `succeeded`, `failed` or
    /// `cancelled`.
    pub status: String,
    /// When it was started.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// A cancel was asked for and is not handled yet.
    pub cancel_requested: bool,
}

impl From<&RunRecord> for RunSummary {
    fn from(record: &RunRecord) -> Self {
        Self {
            run_id: record.id.clone(),
            workflow: record.workflow.clone(),
            workflow_hash: record.definition.clone(),
            status: record.phase.as_str().to_owned(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            finished_at: record.finished_at,
            cancel_requested: record.cancel_requested,
        }
    }
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Which runs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs in this state (empty: any).
    #[param(pattern = "^(pending|running|waiting|succeeded|failed|cancelled)?$")]
    pub status: Option<String>,
    /// At most this many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A cancel that was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelAccepted {
    /// The run.
    pub run_id: String,
    /// Where it was when asked.
    pub status: String,
}

/// Starts a run of a workflow; a worker of this server executes it.
#[utoipa::path(
    post,
    path = "/runs",
    tag = "runs",
    request_body(content = StartRun, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat a start safely: the same key and body give the same run; the same key with another body is refused (409). 1 to 255 visible ASCII characters.", pattern = "^[!-~]{1,255}$", min_length = 1, max_length = 255)),
    responses(
        (status = 201, description = "The run was recorded (or, with a repeated Idempotency-Key, had been).", body = Started),
        (status = 400, description = "The body is not JSON of this shape.", body = ErrorBody),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 404, description = "No workflow of that name.", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another body.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`.", body = ErrorBody),
        (status = 422, description = "The workflow is invalid, or the inputs do not fit it.", body = ErrorBody),
    )
)]
pub async fn start_run(
    State(state): State<ServerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let start: StartRun = json_body(&headers, &body, "{\"workflow\": NAME, \"inputs\": {...}}")?;
    let key = idempotency_key(&headers)?;
    let entry = state
        .catalog()
        .get(&start.workflow)
        .ok_or_else(|| unknown_workflow(&start.workflow))?;
    let Some(workflow) = entry.workflow.clone().filter(|_| entry.problem.is_none()) else {
        let first = entry
            .diagnostics
            .first()
            .map(|d| format!(" ({}:{}:{}: {})", d.file, d.line, d.column, d.message))
            .or_else(|| entry.problem.as_ref().map(|p| format!(" ({p})")))
            .unwrap_or_default();
        return Err(ApiError::unprocessable(
            "workflow_invalid",
            format!(
                "the workflow `{}` is invalid and cannot start{first}; `idflow validate` shows every problem",
                start.workflow
            ),
        ));
    };
    let files = take_files(&workflow, &start.inputs)?;
    check_secrets(&state, &workflow)?;
    let mut run_id = uuid::Uuid::now_v7().to_string();
    let mut inputs = prepare_inputs(&state, &workflow, &start.inputs, &files, &run_id).await?;
    if let Some(key) = &key {
        let body_hash = hex::encode(Sha256::digest(&body));
        match state
            .api_store()
            .claim_start(key, &body_hash, &run_id, OffsetDateTime::now_utc())
            .await?
        {
            StartClaim::New => {}
            StartClaim::Mismatch => {
                discard_files(&state, &run_id).await;
                return Err(ApiError::conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another body; use a new key for another run",
                ));
            }
            StartClaim::Repeat { run_id: earlier } => {
                discard_files(&state, &run_id).await;
                if let Some(record) = state.executor().store().run(&earlier).await? {
                    return Ok(started(&record.id, record.phase, true));
                }
                // The first request stopped between keeping the key and
                // recording the run: record it now, under its id.
                run_id = earlier;
                inputs = prepare_inputs(&state, &workflow, &start.inputs, &files, &run_id).await?;
            }
        }
    }
    let request = RunRequest::new(inputs)
        .run_id(run_id.clone())
        .base_dir(state.catalog().dir())
        .via(StartedVia::Api);
    match state
        .executor()
        .submit(Arc::clone(&workflow), &entry.file, request)
        .await
    {
        Ok(_) => {}
        // A repeat racing its first request: the run exists.
        Err(_) if key.is_some() && state.executor().store().run(&run_id).await?.is_some() => {
            return Ok(started(&run_id, RunPhase::Pending, true));
        }
        Err(error) => {
            discard_files(&state, &run_id).await;
            return Err(error.into());
        }
    }
    tracing::info!(
        run_id,
        workflow = workflow.name,
        "run started through the API"
    );
    Ok(started(&run_id, RunPhase::Pending, false))
}

fn started(run_id: &str, phase: RunPhase, replayed: bool) -> Response {
    let mut response = (
        StatusCode::CREATED,
        Json(Started {
            run_id: run_id.to_owned(),
            status: phase.as_str().to_owned(),
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{}/runs/{run_id}", super::API_PREFIX)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// A file given as an input.
struct GivenFile {
    input: String,
    name: String,
    content: Vec<u8>,
}

/// The `{"$file": ...}` inputs, decoded; a `file` input given otherwise,
/// or a `$file` for an input of another type, is refused.
fn take_files(workflow: &Workflow, given: &Map<String, Value>) -> Result<Vec<GivenFile>, ApiError> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (name, value) in given {
        let is_file_input = workflow
            .inputs
            .iter()
            .any(|input| &input.name == name && input.kind == InputType::File);
        let wrapped = value.as_object().and_then(|object| object.get("$file"));
        match (is_file_input, wrapped) {
            (true, Some(file)) => match decode_file(file) {
                Ok((file_name, content)) => files.push(GivenFile {
                    input: name.clone(),
                    name: file_name,
                    content,
                }),
                Err(problem) => problems.push(format!("the input `{name}`: {problem}")),
            },
            (true, None) => problems.push(format!(
                "the input `{name}` is a file: give it as {{\"$file\": {{\"name\": \"photo.jpg\", \"content_base64\": \"...\"}}}}"
            )),
            (false, Some(_)) => problems.push(format!(
                "the input `{name}` is not a file input, so it cannot take a `$file`"
            )),
            (false, None) => {}
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(ApiError::unprocessable(
            "invalid_inputs",
            problems.join("; "),
        ))
    }
}

fn decode_file(file: &Value) -> Result<(String, Vec<u8>), String> {
    let name = file.get("name").and_then(Value::as_str).unwrap_or("upload");
    let Some(content) = file.get("content_base64").and_then(Value::as_str) else {
        return Err("`$file` needs `content_base64`, the file's bytes in base64".into());
    };
    let content = base64::engine::general_purpose::STANDARD
        .decode(content.trim())
        .map_err(|error| format!("`content_base64` is not base64: {error}"))?;
    Ok((safe_file_name(name), content))
}

/// A file name that stays in its folder: the last path part, with only
/// letters, digits, `.`, `_` and `-`, never empty or hidden.
fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "upload".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// Refuses a start whose workflow reads a secret this server does not
/// have (it would fail as soon as a worker took it).
fn check_secrets(state: &ServerState, workflow: &Workflow) -> Result<(), ApiError> {
    let missing: Vec<&str> = workflow
        .secrets
        .iter()
        .filter(|name| state.secrets().secret(name).is_none())
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::unprocessable(
        "secret_missing",
        format!(
            "the workflow reads the secret(s) {}, which this server's environment does not set; set them where the server runs",
            missing.join(", ")
        ),
    ))
}

/// Writes the given files into the run's folder and checks the inputs as
/// `idflow run` does; returns them with defaults filled in.
async fn prepare_inputs(
    state: &ServerState,
    workflow: &Workflow,
    given: &Map<String, Value>,
    files: &[GivenFile],
    run_id: &str,
) -> Result<Value, ApiError> {
    let mut given = given.clone();
    if !files.is_empty() {
        let dir = run_folder(state.uploads(), run_id);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|error| ApiError::internal("the uploaded files could not be kept", &error))?;
        for file in files {
            let path = dir.join(&file.name);
            tokio::fs::write(&path, &file.content)
                .await
                .map_err(|error| {
                    ApiError::internal("the uploaded files could not be kept", &error)
                })?;
            given.insert(
                file.input.clone(),
                Value::String(path.display().to_string()),
            );
        }
    }
    idflow_engine::inputs::resolve(workflow, &given, state.catalog().dir()).map_err(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        ApiError::unprocessable("invalid_inputs", messages.join("; "))
    })
}

fn run_folder(uploads: &Path, run_id: &str) -> PathBuf {
    uploads.join(run_id)
}

async fn discard_files(state: &ServerState, run_id: &str) {
    let dir = run_folder(state.uploads(), run_id);
    if let Err(error) = tokio::fs::remove_dir_all(&dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, dir = %dir.display(), "uploaded files could not be removed");
    }
}

/// Lists runs, newest first.
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of runs.", body = RunList),
        (status = 400, description = "A bad filter.", body = ErrorBody),
        (status = 401, description = "No valid token.", body = ErrorBody),
    )
)]
pub async fn list_runs(
    State(state): State<ServerState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RunList>, ApiError> {
    let Query(query) = query?;
    let phase = match query.status.as_deref() {
        None | Some("") => None,
        Some(name) => Some(RunPhase::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_status",
                format!(
                    "`{name}` is not a run status: use pending, running, waiting, succeeded, failed or cancelled"
                ),
            )
        })?),
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("`limit` must be from 1 to {MAX_PAGE}"),
        ));
    }
    let records = state
        .executor()
        .store()
        .list_runs(&RunFilter {
            phase,
            workflow: query.workflow.filter(|name| !name.is_empty()),
            limit: Some(limit),
            before: query.cursor.filter(|cursor| !cursor.is_empty()),
        })
        .await?;
    let next_cursor = (records.len() == limit as usize)
        .then(|| records.last().map(|record| record.id.clone()))
        .flatten();
    Ok(Json(RunList {
        runs: records.iter().map(RunSummary::from).collect(),
        next_cursor,
    }))
}

/// The run's record, or 404.
pub(crate) async fn find_run(state: &ServerState, run_id: &str) -> Result<RunRecord, ApiError> {
    state
        .executor()
        .store()
        .run(run_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "run_not_found",
                format!("there is no run `{run_id}` (finished runs are kept for the retention, 30 days by default)"),
            )
        })
}

/// A run's result as `idflow run --json` prints it (secrets and sensitive
/// outputs redacted); while it goes on, its state so far.
pub(crate) async fn run_json(state: &ServerState, record: &RunRecord) -> Result<Value, ApiError> {
    let mut json = state.executor().result_json(record).await?;
    if let Some(object) = json.as_object_mut() {
        object.insert("status".into(), record.phase.as_str().into());
        object.insert("workflow_hash".into(), record.definition.clone().into());
        object.insert("cancel_requested".into(), record.cancel_requested.into());
    }
    Ok(json)
}

/// One run: the result JSON of `idflow run --json`, redacted.
#[utoipa::path(
    get,
    path = "/runs/{run_id}",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "The run (its result, or its state so far).", body = Object),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
    )
)]
pub async fn get_run(
    State(state): State<ServerState>,
    UrlPath(run_id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let record = find_run(&state, &run_id).await?;
    Ok(Json(run_json(&state, &record).await?))
}

/// Asks for a run to be cancelled; its cleanup steps (`if: cancelled()`)
/// still run.
#[utoipa::path(
    post,
    path = "/runs/{run_id}/cancel",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run's id.")),
    responses(
        (status = 202, description = "The cancel was asked for; the run ends shortly.", body = CancelAccepted),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
        (status = 409, description = "The run has finished.", body = ErrorBody),
    )
)]
pub async fn cancel_run(
    State(state): State<ServerState>,
    UrlPath(run_id): UrlPath<String>,
) -> Result<(StatusCode, Json<CancelAccepted>), ApiError> {
    let record = find_run(&state, &run_id).await?;
    if record.phase.is_finished() {
        return Err(finished(&record));
    }
    let record = match state.executor().request_cancel(&run_id).await {
        Ok(record) => record,
        Err(idflow_engine::run::ExecError::Store(StoreError::NotFound(_))) => {
            return Err(find_run(&state, &run_id)
                .await
                .err()
                .unwrap_or_else(|| finished(&record)));
        }
        Err(error) => return Err(error.into()),
    };
    if record.phase.is_finished() {
        return Err(finished(&record));
    }
    tracing::info!(run_id, "cancel asked through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(CancelAccepted {
            run_id,
            status: record.phase.as_str().to_owned(),
        }),
    ))
}

fn finished(record: &RunRecord) -> ApiError {
    ApiError::conflict(
        "run_finished",
        format!(
            "the run {} has finished ({}); there is nothing to cancel",
            record.id, record.phase
        ),
    )
}

/// A run's attempts and waits, for a timeline.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/timeline",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "Every attempt and wait, by start.", body = Object),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
    )
)]
pub async fn get_timeline(
    State(state): State<ServerState>,
    UrlPath(run_id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let record = find_run(&state, &run_id).await?;
    let timeline = state.executor().timeline(&record).await?;
    Ok(Json(serde_json::to_value(timeline).unwrap_or_default()))
}

/// The step graph of the workflow a run executes: its pinned definition
/// (what it was started with, whatever the file says now), as `GET
/// /api/v1/workflows/{name}` gives a workflow's `graph`.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/graph",
    tag = "runs",
    params(("run_id" = String, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "The plan of the run's workflow (`idflow graph --format json`).", body = Object),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 404, description = "No such run.", body = ErrorBody),
    )
)]
pub async fn get_graph(
    State(state): State<ServerState>,
    UrlPath(run_id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let record = find_run(&state, &run_id).await?;
    let workflow = state.executor().workflow_of(&record).await?;
    Ok(Json(workflow.plan_json()))
}
