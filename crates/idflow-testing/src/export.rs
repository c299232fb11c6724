//! Turning a recorded run into a test case: the mocks are what each step
//! answered, attempt by attempt (outputs or error, and how long it took),
//! and the expectations are how the run ended. An incident becomes a
//! regression test: `idflow runs export RUN_ID --test FILE` calls this on
//! a run from the store.
//!
//! Credentials never reach the test file: every output the step type marks
//! sensitive is replaced by a placeholder (`placeholder-<step>-<output>`),
//! and the same value is replaced wherever else it appears (a URL that
//! embeds a token, a run output that copies it), so the case still runs
//! the same way. Secrets are not in the events; the case gives each
//! declared secret a placeholder value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use idflow_core::{StepRegistry, format_duration};
use idflow_engine::expr::ExprEngine;
use idflow_engine::model::Workflow;
use idflow_engine::run::{Event, EventKind, Machine, MachineError, Program, Secrets};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

/// A case, as a test file writes it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedCase {
    /// What the case is.
    pub description: String,
    /// The run's inputs.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub inputs: serde_json::Map<String, Value>,
    /// Placeholder values of the declared secrets.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// What each step answered, attempt by attempt.
    pub mocks: IndexMap<String, Vec<ExportedAnswer>>,
    /// How the run ended.
    pub expect: ExportedExpect,
}

/// One recorded answer.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedAnswer {
    /// The outputs, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<serde_json::Map<String, Value>>,
    /// The error, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ExportedError>,
    /// How long it took, when it took time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
}

/// A recorded error.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedError {
    /// What happened.
    pub message: String,
    /// Its code.
    pub code: String,
    /// Whether it could be retried.
    pub retryable: bool,
}

/// The recorded end of the run.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedExpect {
    /// The run's status.
    pub status: String,
    /// Its outputs.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub outputs: serde_json::Map<String, Value>,
    /// Each step's status and attempts.
    pub steps: IndexMap<String, ExportedStep>,
}

/// A step's recorded end.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedStep {
    /// Its status.
    pub status: String,
    /// Attempts started.
    pub attempts: u32,
}

/// Why a log cannot become a case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The events are not a finished run of this workflow.
    #[error("the events are not a run of this workflow: {0}")]
    Replay(#[from] MachineError),
    /// The run had not finished.
    #[error("the run has not finished")]
    Unfinished,
}

/// The case a recorded run makes: `events` is the run's log (from its
/// first event), `workflow` the workflow it ran (validated against
/// `registry`).
pub fn case_from_events(
    workflow: &Arc<Workflow>,
    registry: &StepRegistry,
    events: &[Event],
    description: &str,
) -> Result<ExportedCase, ExportError> {
    let program = Arc::new(Program::new(
        Arc::clone(workflow),
        Arc::new(ExprEngine::new()),
    ));
    let machine = Machine::replay(program, Secrets::new(), events)?;
    let outcome = machine.outcome().ok_or(ExportError::Unfinished)?;
    let mut placeholders = Placeholders::default();
    let mut inputs = serde_json::Map::new();
    let mut mocks: IndexMap<String, Vec<ExportedAnswer>> = IndexMap::new();
    let mut started: BTreeMap<(u32, u32), Duration> = BTreeMap::new();
    for event in events {
        match &event.kind {
            EventKind::RunStarted { inputs: given, .. } => {
                if let Value::Object(given) = &**given {
                    inputs.clone_from(given);
                }
            }
            EventKind::AttemptStarted { step, attempt } => {
                started.insert((step.0, *attempt), event.at);
            }
            EventKind::AttemptSucceeded {
                step,
                attempt,
                outputs,
            } => {
                let Some(plan) = workflow.steps.get(step.get()) else {
                    continue;
                };
                if let Some(metadata) = registry.metadata(&plan.uses) {
                    for output in metadata.outputs.iter().filter(|output| output.sensitive) {
                        if let Some(Value::String(value)) = outputs.get(&output.name) {
                            placeholders
                                .add(value, &format!("placeholder-{}-{}", plan.id, output.name));
                        }
                    }
                }
                let answer = ExportedAnswer {
                    outputs: Some((**outputs).clone()),
                    error: None,
                    delay: took(&started, step.0, *attempt, event.at),
                };
                mocks.entry(plan.id.clone()).or_default().push(answer);
            }
            EventKind::AttemptFailed {
                step,
                attempt,
                error,
            } => {
                let Some(plan) = workflow.steps.get(step.get()) else {
                    continue;
                };
                let answer = ExportedAnswer {
                    outputs: None,
                    error: Some(ExportedError {
                        message: error.message.clone(),
                        code: error.code.clone(),
                        retryable: error.is_retryable(),
                    }),
                    delay: took(&started, step.0, *attempt, event.at),
                };
                mocks.entry(plan.id.clone()).or_default().push(answer);
            }
            EventKind::AttemptTimedOut { step, attempt } => {
                let Some(plan) = workflow.steps.get(step.get()) else {
                    continue;
                };
                // Longer than the step's limit, so the attempt times out again.
                let limit = plan.timeout.unwrap_or_default();
                let answer = ExportedAnswer {
                    outputs: Some(serde_json::Map::new()),
                    error: None,
                    delay: Some(format_duration(limit + Duration::from_secs(1))),
                };
                let _ = attempt;
                mocks.entry(plan.id.clone()).or_default().push(answer);
            }
            _ => {}
        }
    }
    let steps = workflow
        .steps
        .iter()
        .filter_map(|plan| {
            let snapshot = machine.step(plan.index)?;
            Some((
                plan.id.clone(),
                ExportedStep {
                    status: snapshot.state.as_str().to_owned(),
                    attempts: snapshot.attempts,
                },
            ))
        })
        .collect();
    let mut case = ExportedCase {
        description: description.to_owned(),
        inputs,
        secrets: workflow
            .secrets
            .iter()
            .map(|name| (name.clone(), format!("placeholder-{name}")))
            .collect(),
        mocks,
        expect: ExportedExpect {
            status: outcome.status.as_str().to_owned(),
            outputs: outcome.outputs.clone(),
            steps,
        },
    };
    placeholders.apply(&mut case);
    Ok(case)
}

/// A test file holding one exported case named `name`.
pub fn test_file(workflow_path: &str, name: &str, case: &ExportedCase) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        workflow: &'a str,
        cases: BTreeMap<&'a str, &'a ExportedCase>,
    }
    let file = File {
        workflow: workflow_path,
        cases: BTreeMap::from([(name, case)]),
    };
    serde_saphyr::to_string(&file).unwrap_or_default()
}

fn took(
    started: &BTreeMap<(u32, u32), Duration>,
    step: u32,
    attempt: u32,
    at: Duration,
) -> Option<String> {
    let took = at.saturating_sub(started.get(&(step, attempt)).copied().unwrap_or(at));
    (!took.is_zero()).then(|| format_duration(took))
}

/// Credential values and the placeholders that replace them.
#[derive(Debug, Default)]
struct Placeholders {
    /// Longest first, so that a value containing another is replaced whole.
    values: Vec<(String, String)>,
}

impl Placeholders {
    fn add(&mut self, value: &str, placeholder: &str) {
        if value.is_empty() || self.values.iter().any(|(known, _)| known == value) {
            return;
        }
        self.values.push((value.to_owned(), placeholder.to_owned()));
        self.values
            .sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    }

    fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (value, placeholder) in &self.values {
            out = out.replace(value.as_str(), placeholder);
        }
        out
    }

    fn json(&self, value: &mut Value) {
        match value {
            Value::String(text) => *text = self.text(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.json(item)),
            Value::Object(map) => map.values_mut().for_each(|item| self.json(item)),
            _ => {}
        }
    }

    fn map(&self, map: &mut serde_json::Map<String, Value>) {
        map.values_mut().for_each(|value| self.json(value));
    }

    fn apply(&self, case: &mut ExportedCase) {
        if self.values.is_empty() {
            return;
        }
        self.map(&mut case.inputs);
        for answer in case.mocks.values_mut().flatten() {
            if let Some(outputs) = &mut answer.outputs {
                self.map(outputs);
            }
            if let Some(error) = &mut answer.error {
                error.message = self.text(&error.message);
            }
        }
        self.map(&mut case.expect.outputs);
    }
}
