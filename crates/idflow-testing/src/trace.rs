//! The trace of a simulated run: every step's status, attempts (when each
//! started on the virtual clock, how long it took, what it returned, and
//! the wait after it), outputs and error, and the run's outcome.
//!
//! Expectations are checked against the trace as the run produced it;
//! what a person sees (failure diffs, snapshots, JSON) is
//! [`Trace::redacted`] first, so secrets and credentials never show.

use std::time::Duration;

use idflow_core::duration::{serialize_duration, serialize_optional_duration};
use idflow_core::{Outputs, Redactor, StepError, format_duration};
use idflow_engine::run::{RunStatus, StepState, WaitReason};
use indexmap::IndexMap;
use serde::Serialize;

/// A finished simulated run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// The workflow's name.
    pub workflow: String,
    /// How the run ended.
    pub status: RunStatus,
    /// How long the run took on the virtual clock.
    #[serde(serialize_with = "serialize_duration")]
    pub duration: Duration,
    /// The run's outputs.
    #[serde(skip_serializing_if = "Outputs::is_empty")]
    pub outputs: Outputs,
    /// What failed the run when no step did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorTrace>,
    /// Every step, in written order.
    pub steps: IndexMap<String, StepTrace>,
    /// What happened, in the order it happened (not serialized: the steps
    /// hold the same facts).
    #[serde(skip)]
    pub path: Vec<PathEntry>,
}

/// Why a step was skipped, when its own `if` was false.
pub const SKIPPED_BY_IF: &str = "its `if` was false";

/// One step of a simulated run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTrace {
    /// Its final status.
    pub status: StepState,
    /// Why it was skipped or cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<&'static str>,
    /// When it reached its final status.
    #[serde(serialize_with = "serialize_duration")]
    pub at: Duration,
    /// The input of its last attempt (its `with`, evaluated).
    #[serde(skip_serializing_if = "is_empty_value")]
    pub input: serde_json::Value,
    /// Its attempts, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptTrace>,
    /// The outputs of its last successful attempt (not serialized: the
    /// attempts show them).
    #[serde(skip)]
    pub outputs: Outputs,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorTrace>,
    /// Whether a mock answered for it (rather than the real, pure step).
    #[serde(skip)]
    pub mocked: bool,
    /// Its `if` was evaluated and held (it was decided to run).
    #[serde(skip)]
    pub condition_held: bool,
}

impl StepTrace {
    /// Attempts started.
    pub fn attempt_count(&self) -> u32 {
        u32::try_from(self.attempts.len()).unwrap_or(u32::MAX)
    }
}

/// One attempt of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptTrace {
    /// When it started.
    #[serde(serialize_with = "serialize_duration")]
    pub at: Duration,
    /// How long it took, when it took time.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_optional_duration"
    )]
    pub took: Option<Duration>,
    /// What it returned.
    #[serde(flatten)]
    pub result: AttemptResult,
    /// The wait after it: `retry in 2s`, `poll again in 1s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
}

/// What an attempt returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptResult {
    /// Outputs.
    Outputs(Outputs),
    /// An error.
    Error(ErrorTrace),
    /// It ran past the step's `timeout`.
    TimedOut(bool),
    /// It was cancelled before it ended.
    Cancelled(bool),
}

/// An error as a trace shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorTrace {
    /// The stable code.
    pub code: String,
    /// What happened.
    pub message: String,
    /// Whether it could be retried.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
}

impl From<&StepError> for ErrorTrace {
    fn from(error: &StepError) -> Self {
        Self {
            code: error.code.clone(),
            message: error.message.clone(),
            retryable: error.is_retryable(),
        }
    }
}

/// One thing that happened, for "the path the run took".
#[derive(Debug, Clone, PartialEq)]
pub struct PathEntry {
    /// When.
    pub at: Duration,
    /// The step.
    pub step: String,
    /// What.
    pub what: String,
}

impl Trace {
    /// The trace with every secret value and credential replaced by
    /// `[redacted]`.
    #[must_use]
    pub fn redacted(&self, redactor: &Redactor) -> Trace {
        if redactor.is_empty() {
            return self.clone();
        }
        let outputs = |outputs: &Outputs| match redactor
            .redact_json(&serde_json::Value::Object(outputs.clone()))
        {
            serde_json::Value::Object(map) => map,
            _ => Outputs::new(),
        };
        let error = |error: &ErrorTrace| ErrorTrace {
            message: redactor.redact(&error.message),
            ..error.clone()
        };
        Trace {
            workflow: self.workflow.clone(),
            status: self.status,
            duration: self.duration,
            outputs: outputs(&self.outputs),
            error: self.error.as_ref().map(error),
            steps: self
                .steps
                .iter()
                .map(|(id, step)| {
                    let step = StepTrace {
                        input: redactor.redact_json(&step.input),
                        attempts: step
                            .attempts
                            .iter()
                            .map(|attempt| AttemptTrace {
                                result: match &attempt.result {
                                    AttemptResult::Outputs(values) => {
                                        AttemptResult::Outputs(outputs(values))
                                    }
                                    AttemptResult::Error(failure) => {
                                        AttemptResult::Error(error(failure))
                                    }
                                    other => other.clone(),
                                },
                                ..attempt.clone()
                            })
                            .collect(),
                        outputs: outputs(&step.outputs),
                        error: step.error.as_ref().map(error),
                        ..step.clone()
                    };
                    (id.clone(), step)
                })
                .collect(),
            path: self
                .path
                .iter()
                .map(|entry| PathEntry {
                    what: redactor.redact(&entry.what),
                    ..entry.clone()
                })
                .collect(),
        }
    }

    /// The trace as a snapshot records it (YAML).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|error| format!("# unprintable: {error}\n"))
    }

    /// "The path the run took", one line per thing that happened.
    pub fn path_lines(&self) -> Vec<String> {
        let width = self.path.iter().map(|e| e.step.len()).max().unwrap_or(0);
        self.path
            .iter()
            .map(|entry| {
                format!(
                    "{:>7}  {:width$}  {}",
                    format_duration(entry.at),
                    entry.step,
                    entry.what
                )
            })
            .collect()
    }
}

/// `retry in 2s`, `poll again in 1s`.
pub(crate) fn wait_text(reason: Option<WaitReason>, after: Duration) -> String {
    match reason {
        Some(WaitReason::Poll) => format!("poll again in {}", format_duration(after)),
        _ => format!("retry in {}", format_duration(after)),
    }
}

fn is_empty_value(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::Object(map) => map.is_empty(),
        _ => false,
    }
}
