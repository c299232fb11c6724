//! The test-file model: what a `*.test.yaml` file says, once read.
//!
//! A [`TestFile`] names a workflow and holds [`Case`]s; a case gives the
//! run's inputs and secrets, [`Mock`]s that answer for steps (by step id
//! or by step type, one [`Answer`] per attempt), and the [`Expect`]ations
//! the run must meet. Every name keeps its place in the file, so a problem
//! found later (a mock of a step that does not exist, a missing mock) is a
//! located diagnostic.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use idflow_core::{Outputs, StepError};
use idflow_engine::run::{RunStatus, StepState};
use idflow_engine::source::{SourceFile, Span, Spanned};

/// The keys of a test file's top level.
pub const FILE_KEYS: &[&str] = &["workflow", "cases"];
/// The keys of a case.
pub const CASE_KEYS: &[&str] = &[
    "description",
    "inputs",
    "secrets",
    "mocks",
    "expect",
    "snapshot",
];
/// The keys of a mocked answer.
pub const ANSWER_KEYS: &[&str] = &["outputs", "error", "delay"];
/// The keys of a mocked error.
pub const ERROR_KEYS: &[&str] = &["message", "code", "retryable", "retry_after"];
/// The keys of a case's `expect`.
pub const EXPECT_KEYS: &[&str] = &["status", "outputs", "error", "steps"];
/// The keys of a step's expectation (the long form).
pub const STEP_EXPECT_KEYS: &[&str] = &["status", "attempts", "outputs", "error"];
/// The keys of an expected error.
pub const ERROR_EXPECT_KEYS: &[&str] = &["code", "message"];

/// The run statuses a case may expect.
pub const RUN_STATUSES: &[&str] = &["succeeded", "failed", "cancelled"];
/// The step statuses a case may expect.
pub const STEP_STATUSES: &[&str] = &["succeeded", "failed", "skipped", "cancelled"];

/// The code of a mocked error that does not give one.
pub const DEFAULT_ERROR_CODE: &str = "mocked";

/// One test file, read.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The file (its name is the path as given).
    pub source: Arc<SourceFile>,
    /// The folder it is in: file inputs and the workflow are relative to it.
    pub dir: PathBuf,
    /// The workflow, resolved against the test file's folder.
    pub workflow_path: PathBuf,
    /// Where `workflow:` is written.
    pub workflow_span: Span,
    /// The cases, in written order.
    pub cases: Vec<Case>,
}

/// One case: a run with its inputs, mocks and expectations.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name (the key under `cases`).
    pub name: Spanned<String>,
    /// What it checks.
    pub description: Option<String>,
    /// The run's inputs, as written (file paths relative to the test file).
    pub inputs: Vec<(Spanned<String>, serde_json::Value)>,
    /// Where `inputs:` is written (or the case name).
    pub inputs_span: Span,
    /// Values of the workflow's secrets.
    pub secrets: Vec<(Spanned<String>, String)>,
    /// Mocks, in written order.
    pub mocks: Vec<Mock>,
    /// What the run must do.
    pub expect: Expect,
    /// Record the run's trace in a snapshot.
    pub snapshot: bool,
}

/// Answers for a step, or for every step of a type.
#[derive(Debug, Clone)]
pub struct Mock {
    /// A step id, or a step type (`face.issue_token`: it has a dot).
    pub target: Spanned<String>,
    /// One answer per attempt; the last one answers every later attempt.
    pub answers: Vec<Answer>,
}

impl Mock {
    /// Whether the mock names a step type rather than a step.
    pub fn is_by_type(&self) -> bool {
        self.target.value.contains('.')
    }

    /// The answer to an attempt (1-based).
    pub fn answer(&self, attempt: u32) -> Option<&Answer> {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.answers.get(index).or(self.answers.last())
    }
}

/// What a mocked attempt returns, and how long it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Outputs, or an error.
    pub result: Result<Outputs, StepError>,
    /// How long the attempt takes on the virtual clock (an attempt longer
    /// than the step's `timeout` times out).
    pub delay: Duration,
    /// Where the answer is written.
    pub span: Span,
    /// Where each output name is written (for diagnostics).
    pub output_spans: Vec<Spanned<String>>,
}

/// What a case expects of the run. Everything is optional: what is not
/// written is not checked.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The run's status.
    pub status: Option<RunStatus>,
    /// Some of the run's outputs.
    pub outputs: Vec<(Spanned<String>, serde_json::Value)>,
    /// The run's own error (`run_timeout`, an output that failed).
    pub error: Option<ErrorExpect>,
    /// Steps, by id.
    pub steps: Vec<(Spanned<String>, StepExpect)>,
}

/// What a case expects of one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepExpect {
    /// Its final status.
    pub status: Option<StepState>,
    /// Attempts started (retries and polls included).
    pub attempts: Option<u32>,
    /// Some of its outputs.
    pub outputs: Vec<(Spanned<String>, serde_json::Value)>,
    /// Its error.
    pub error: Option<ErrorExpect>,
}

/// An expected error: its code, and text its message contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorExpect {
    /// The error's code (`poll_timeout`, `http_status`, ...).
    pub code: Option<String>,
    /// Text the message contains.
    pub message: Option<String>,
}
