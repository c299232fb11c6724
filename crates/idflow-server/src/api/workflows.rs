//! `GET /api/v1/workflows` and `GET /api/v1/workflows/{name}`: the
//! workflows offered, valid or not (an invalid file is listed with its
//! diagnostics, so whoever broke it sees where).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::ServerState;
use crate::catalog::Entry;
use crate::error::{ApiError, ErrorBody};

/// A workflow file as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSummary {
    /// Its name (what `POST /runs` takes); a file that does not say one
    /// validly: its file name without `.yaml`.
    pub name: String,
    /// Its file, as the server read it.
    pub file: String,
    /// Whether runs of it can start.
    pub valid: bool,
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The SHA-256 of its text: the version a run started now pins.
    pub hash: String,
    /// What validation found (file, line, column, code, message, help).
    #[schema(value_type = Vec<Object>)]
    pub diagnostics: Vec<Value>,
    /// Why it cannot be offered though it may validate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The workflows offered.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    /// Every workflow file, by file name.
    pub workflows: Vec<WorkflowSummary>,
}

/// One workflow, with what a caller needs to start it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDetail {
    /// As listed.
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// Its inputs: name, type, whether required, default, description.
    #[schema(value_type = Vec<Object>)]
    pub inputs: Vec<Value>,
    /// The names of its outputs.
    pub outputs: Vec<String>,
    /// The names of the secrets it reads (from the server's environment).
    pub secrets: Vec<String>,
    /// Its step graph as `idflow graph --format json` prints it (valid
    /// workflows only).
    #[schema(value_type = Option<Object>)]
    pub graph: Option<Value>,
}

fn summary(entry: &Entry) -> WorkflowSummary {
    WorkflowSummary {
        name: entry.name.clone(),
        file: entry.path.display().to_string(),
        valid: entry.workflow.is_some() && entry.problem.is_none(),
        description: entry
            .workflow
            .as_ref()
            .and_then(|workflow| workflow.description.clone()),
        hash: entry.hash.clone(),
        diagnostics: entry
            .diagnostics
            .iter()
            .filter_map(|diagnostic| serde_json::to_value(diagnostic).ok())
            .collect(),
        problem: entry.problem.clone(),
    }
}

/// Lists the workflows offered, valid or not.
#[utoipa::path(
    get,
    path = "/workflows",
    tag = "workflows",
    responses(
        (status = 200, description = "Every workflow file of the server's folder.", body = WorkflowList),
        (status = 401, description = "No valid token.", body = ErrorBody),
    )
)]
pub async fn list_workflows(State(state): State<ServerState>) -> Json<WorkflowList> {
    Json(WorkflowList {
        workflows: state.catalog().entries().iter().map(summary).collect(),
    })
}

/// One workflow: its inputs, outputs, secrets, hash and graph.
#[utoipa::path(
    get,
    path = "/workflows/{name}",
    tag = "workflows",
    params(("name" = String, Path, description = "The workflow's name.")),
    responses(
        (status = 200, description = "The workflow.", body = WorkflowDetail),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 404, description = "No workflow of that name.", body = ErrorBody),
    )
)]
pub async fn get_workflow(
    State(state): State<ServerState>,
    Path(name): Path<String>,
) -> Result<Json<WorkflowDetail>, ApiError> {
    let entry = state
        .catalog()
        .get(&name)
        .ok_or_else(|| unknown_workflow(&name))?;
    let workflow = entry.workflow.as_deref();
    Ok(Json(WorkflowDetail {
        summary: summary(&entry),
        inputs: workflow
            .map(|workflow| {
                workflow
                    .inputs
                    .iter()
                    .filter_map(|input| serde_json::to_value(input).ok())
                    .collect()
            })
            .unwrap_or_default(),
        outputs: workflow
            .map(|workflow| workflow.outputs.iter().map(|o| o.name.clone()).collect())
            .unwrap_or_default(),
        secrets: workflow.map(|w| w.secrets.clone()).unwrap_or_default(),
        graph: workflow.map(idflow_engine::model::Workflow::plan_json),
    }))
}

/// 404 for a workflow name the server does not offer.
pub(crate) fn unknown_workflow(name: &str) -> ApiError {
    ApiError::not_found(
        "workflow_not_found",
        format!("there is no workflow named `{name}` here; GET /api/v1/workflows lists them"),
    )
}
