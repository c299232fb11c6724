//! What a finished run reports (`idflow run --json` prints it), with every
//! secret value redacted: the workflow's secrets, anything steps added to
//! the run's [`Redactor`], outputs their step type marks `sensitive`, and
//! run outputs that pass a secret through (replaced whole).
//!
//! What may quote a credential is redacted strictly (a text in which a short
//! secret occurs is hidden whole, see [`idflow_core::redact`]): the outputs
//! and errors of a step that received secret values (its plan's
//! `secret_inputs`) or reads such a step, and run outputs that read one.

use idflow_core::redact::REDACTED;
use idflow_core::{Outputs, Redactor, StepError};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::action::{RunStatus, StepState};
use super::machine::Machine;

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run's id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// Succeeded, failed or cancelled.
    pub status: RunStatus,
    /// When it started (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it finished (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// The run's `outputs`.
    pub outputs: Outputs,
    /// What failed the run when no step did (`run_timeout`, an output's
    /// `expression` error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// Every step, in written order.
    pub steps: IndexMap<String, StepResult>,
    /// The trace of the run's spans, when a [`super::RunTracer`] traces
    /// runs (the `idflow` server with OpenTelemetry on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The unredacted values of the run outputs the request asked to
    /// reveal ([`super::RunRequest::reveal`]). Never serialized: a caller
    /// shows them to the user deliberately, nowhere else.
    #[serde(skip)]
    pub revealed: Outputs,
}

/// One step of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// Its final state.
    pub status: StepState,
    /// Attempts started (retries and polls included).
    pub attempts: u32,
    /// When its first attempt started (RFC 3339 in JSON), if it ever did.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it reached its final state (RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The outputs of its last successful attempt.
    pub outputs: Outputs,
    /// Why it failed.
    pub error: Option<StepError>,
}

/// Builds the result of a finished machine. `started` is the wall-clock
/// time of the run's start; machine times are offsets from it.
/// `sensitive[i]` names the outputs of step `i` that hold credentials.
pub(crate) fn build(
    machine: &Machine,
    started: OffsetDateTime,
    redactor: &Redactor,
    sensitive: &[Vec<String>],
    reveal: &[String],
) -> RunResult {
    let program = machine.program();
    let workflow = program.workflow();
    let at = |offset: std::time::Duration| timestamp(started, offset);
    let steps = workflow
        .steps
        .iter()
        .filter_map(|plan| {
            let step = machine.step(plan.index)?;
            let redactor = &view(redactor, program.facts(plan.index).strict);
            let sensitive = sensitive
                .get(plan.index.get())
                .map_or(&[][..], Vec::as_slice);
            let mut outputs = step.outputs.cloned().unwrap_or_default();
            hide_sensitive(&mut outputs, sensitive);
            let error = step.error.map(|error| {
                let mut error = error.clone();
                // A gate that gave up reports the step's last outputs.
                if let Some(serde_json::Value::Object(last)) = error
                    .details
                    .as_mut()
                    .and_then(|details| details.get_mut("outputs"))
                {
                    hide_sensitive(last, sensitive);
                }
                redact_error(redactor, &error)
            });
            let result = StepResult {
                status: step.state,
                attempts: step.attempts,
                started_at: step.started_at.map(at),
                finished_at: step.finished_at.map(at),
                outputs: redact_outputs(redactor, outputs),
                error,
            };
            Some((plan.id.clone(), result))
        })
        .collect();
    let revealed: Outputs = machine
        .outcome()
        .map(|outcome| {
            outcome
                .outputs
                .iter()
                .filter(|(name, _)| reveal.contains(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let (status, outputs, error) = match machine.outcome() {
        Some(outcome) => {
            let mut outputs = outcome.outputs.clone();
            let sensitive: Vec<&str> = workflow
                .outputs
                .iter()
                .filter(|output| output.sensitive)
                .map(|output| output.name.as_str())
                .collect();
            hide_sensitive(&mut outputs, &sensitive);
            (
                outcome.status,
                redact_outputs(&view(redactor, program.outputs_strict()), outputs),
                outcome
                    .error
                    .as_ref()
                    .map(|error| redact_error(redactor, error)),
            )
        }
        None => (RunStatus::Failed, Outputs::new(), None),
    };
    RunResult {
        run_id: machine.run_id().unwrap_or_default().to_owned(),
        workflow: workflow.name.clone(),
        status,
        started_at: started,
        finished_at: at(machine.now()),
        outputs,
        error,
        steps,
        trace_id: None,
        revealed,
    }
}

/// Replaces the values of the outputs named in `sensitive` whole (no value,
/// `null`, stays: there is nothing to hide).
fn hide_sensitive<S: AsRef<str>>(outputs: &mut Outputs, sensitive: &[S]) {
    for name in sensitive {
        if let Some(value) = outputs.get_mut(name.as_ref())
            && !value.is_null()
        {
            *value = serde_json::Value::String(REDACTED.to_owned());
        }
    }
}

fn redact_outputs(redactor: &Redactor, outputs: Outputs) -> Outputs {
    if redactor.is_empty() {
        return outputs;
    }
    match redactor.redact_json(&serde_json::Value::Object(outputs)) {
        serde_json::Value::Object(outputs) => outputs,
        _ => Outputs::new(),
    }
}

/// The redactor, or its strict view when `strict`.
pub(crate) fn view(redactor: &Redactor, strict: bool) -> Redactor {
    if strict {
        redactor.strict()
    } else {
        redactor.clone()
    }
}

/// A step error as it may be shown: message and details redacted.
pub(crate) fn redact_error(redactor: &Redactor, error: &StepError) -> StepError {
    StepError {
        message: redactor.redact(&error.message),
        details: error
            .details
            .as_ref()
            .map(|details| redactor.redact_json(details)),
        ..error.clone()
    }
}

/// `started + offset`.
fn timestamp(started: OffsetDateTime, offset: std::time::Duration) -> OffsetDateTime {
    time::Duration::try_from(offset)
        .ok()
        .and_then(|offset| started.checked_add(offset))
        .unwrap_or(started)
}
