//! The validated workflow: what the planner and the executor work from.
//!
//! A [`Workflow`] only exists when the file had no errors: every step type
//! is registered, every `needs` names a step, the graph has no cycle, every
//! expression parsed and refers only to things that exist and run before it,
//! and every duration and policy is in range. Steps are kept in the order
//! they were written; [`Workflow::order`] is a topological order.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::source::{SourceFile, Span};

/// The index of a step in [`Workflow::steps`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct StepIndex(pub u32);

impl StepIndex {
    /// As a `usize`, for indexing.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// A workflow that passed validation.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// `[a-z0-9-]+`.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The file it came from (for runtime diagnostics).
    pub source: Arc<SourceFile>,
    /// Declared inputs, in written order.
    pub inputs: Vec<InputDecl>,
    /// Names of the secrets it may read (values come from the environment).
    pub secrets: Vec<String>,
    /// Steps, in written order; `StepIndex(i)` is `steps[i]`.
    pub steps: Vec<StepPlan>,
    /// A topological order of the steps (each after everything it needs;
    /// ties in written order).
    pub order: Vec<StepIndex>,
    /// The run's outputs, evaluated when the run ends.
    pub outputs: Vec<OutputDecl>,
    /// The whole run's time limit.
    pub timeout: Option<Duration>,
}

impl Workflow {
    /// The step with that id.
    pub fn step(&self, id: &str) -> Option<&StepPlan> {
        self.steps.iter().find(|step| step.id == id)
    }

    /// The plan as JSON, with step indices resolved to ids and templates
    /// shown as written: what snapshot tests of workflow definitions
    /// record. Defaults that validation filled in are spelled out.
    pub fn plan_json(&self) -> serde_json::Value {
        use serde_json::json;
        let ids = |indices: &[StepIndex]| -> Vec<&str> {
            indices
                .iter()
                .map(|index| self.steps[index.get()].id.as_str())
                .collect()
        };
        let steps: serde_json::Map<String, serde_json::Value> = self
            .order
            .iter()
            .map(|index| {
                let step = &self.steps[index.get()];
                let value = json!({
                    "uses": step.uses,
                    "description": step.description,
                    "needs": ids(&step.needs),
                    "dependents": ids(&step.dependents),
                    "if": step.condition.as_ref().map(|c| c.source.as_str()),
                    "with": step.with.as_written(),
                    "retry": step.retry,
                    "timeout": step.timeout.map(idflow_core::format_duration),
                    "gate": step.gate,
                    "continue_on_error": step.continue_on_error,
                });
                let mut value = value;
                if !step.secret_inputs.is_empty() {
                    value["secret_inputs"] = json!(step.secret_inputs);
                }
                (step.id.clone(), value)
            })
            .collect();
        let outputs: serde_json::Map<String, serde_json::Value> = self
            .outputs
            .iter()
            .map(|output| (output.name.clone(), output.value.as_written()))
            .collect();
        let sensitive: Vec<&str> = self
            .outputs
            .iter()
            .filter(|output| output.sensitive)
            .map(|output| output.name.as_str())
            .collect();
        let mut plan = json!({
            "name": self.name,
            "description": self.description,
            "inputs": self.inputs,
            "secrets": self.secrets,
            "timeout": self.timeout.map(idflow_core::format_duration),
            "order": ids(&self.order),
            "steps": steps,
            "outputs": outputs,
        });
        if !sensitive.is_empty() {
            plan["sensitive_outputs"] = json!(sensitive);
        }
        plan
    }

    /// Every step that must finish before `step` starts (its needs, their
    /// needs, ...), in no particular order. Computed on demand: storing
    /// ancestor lists would cost O(n²) memory on long chains. The executor
    /// does not need it (it propagates failure through `needs`).
    pub fn ancestors(&self, step: StepIndex) -> Vec<StepIndex> {
        let mut seen = vec![false; self.steps.len()];
        let mut stack: Vec<StepIndex> = self.steps[step.get()].needs.clone();
        let mut found = Vec::new();
        while let Some(next) = stack.pop() {
            if !std::mem::replace(&mut seen[next.get()], true) {
                found.push(next);
                stack.extend(self.steps[next.get()].needs.iter().copied());
            }
        }
        found
    }
}

/// The type of a workflow input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// Text.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A path to a file that must exist when the run starts.
    File,
    /// A JSON object.
    Object,
}

impl InputType {
    /// The name as written in workflow files.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Boolean => "boolean",
            InputType::File => "file",
            InputType::Object => "object",
        }
    }

    /// The type named `name` as written in workflow files.
    pub fn parse(name: &str) -> Option<Self> {
        [
            InputType::String,
            InputType::Number,
            InputType::Boolean,
            InputType::File,
            InputType::Object,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

/// One declared input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputDecl {
    /// The name (`inputs.<name>`).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: InputType,
    /// Whether a run must provide it (false when it has a default).
    pub required: bool,
    /// The value when a run does not provide one.
    pub default: Option<serde_json::Value>,
    /// What it is.
    pub description: Option<String>,
}

/// One named output of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputDecl {
    /// The name.
    pub name: String,
    /// Its value.
    pub value: ValueTemplate,
    /// It passes a secret or a sensitive output through unchanged: the run
    /// result shows it as `[redacted]` unless the run reveals it.
    pub sensitive: bool,
}

/// A step, validated and placed in the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepPlan {
    /// The step id (the key under `steps`).
    pub id: String,
    /// Its index.
    pub index: StepIndex,
    /// The step type (`core.http`).
    pub uses: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Steps that must finish before this one starts.
    pub needs: Vec<StepIndex>,
    /// Steps that need this one.
    pub dependents: Vec<StepIndex>,
    /// The `if` condition; absent means `success()`.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Expression>,
    /// The `with` values, to evaluate right before each attempt.
    pub with: ValueTemplate,
    /// Where the evaluated `with` holds values computed from a secret or a
    /// sensitive output (JSON pointers, all inside the step type's
    /// credential inputs): the run hides these values wherever it reports
    /// anything, and hides whole any text of the step that quotes a short
    /// one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret_inputs: Vec<String>,
    /// The retry policy (one attempt when the workflow gives none).
    pub retry: RetryPolicy,
    /// The time limit of each attempt.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "idflow_core::duration::serialize_optional_duration"
    )]
    pub timeout: Option<Duration>,
    /// The status gate: re-run until the condition holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<PollGate>,
    /// A failure of this step does not fail the run.
    pub continue_on_error: bool,
    /// Where the step id was written.
    #[serde(skip)]
    pub span: Span,
}

/// An expression, parsed and checked, kept as source text (evaluation
/// compiles it again; it is known to compile).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Expression {
    /// The expression without `${{ }}`.
    pub source: String,
    /// Where it was written.
    #[serde(skip)]
    pub span: Span,
}

/// A value that may contain expressions, evaluated at run time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum ValueTemplate {
    /// A plain value with no expression in it.
    Literal(serde_json::Value),
    /// Exactly one `${{ expr }}`: the result keeps its type.
    Expression(Expression),
    /// Text with `${{ }}` parts: the result is text.
    Text(TextTemplate),
    /// A list with expressions inside.
    List(Vec<ValueTemplate>),
    /// A map with expressions inside, in written order.
    Map(Vec<(String, ValueTemplate)>),
}

/// Text with `${{ }}` parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct TextTemplate {
    /// The whole text, delimiters included.
    pub source: String,
    /// Where it was written.
    #[serde(skip)]
    pub span: Span,
}

impl ValueTemplate {
    /// The value as a workflow file would write it (expressions inside
    /// `${{ }}`).
    pub fn as_written(&self) -> serde_json::Value {
        match self {
            ValueTemplate::Literal(value) => value.clone(),
            ValueTemplate::Expression(expression) => {
                serde_json::Value::String(format!("${{{{ {} }}}}", expression.source))
            }
            ValueTemplate::Text(text) => serde_json::Value::String(text.source.clone()),
            ValueTemplate::List(items) => items.iter().map(ValueTemplate::as_written).collect(),
            ValueTemplate::Map(entries) => entries
                .iter()
                .map(|(key, value)| (key.clone(), value.as_written()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// The part of the template that evaluates to the value at `pointer`
    /// (a JSON pointer), when the template has that shape.
    pub fn at_pointer(&self, pointer: &str) -> Option<&ValueTemplate> {
        let Some(rest) = pointer.strip_prefix('/') else {
            return pointer.is_empty().then_some(self);
        };
        let (token, rest) = rest
            .find('/')
            .map_or((rest, ""), |at| (&rest[..at], &rest[at..]));
        let key = token.replace("~1", "/").replace("~0", "~");
        let child = match self {
            ValueTemplate::Map(entries) => entries
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| value),
            ValueTemplate::List(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }?;
        child.at_pointer(rest)
    }

    /// The expression source (or text with `${{ }}` parts) this template
    /// is, when it is one.
    pub fn source(&self) -> Option<&str> {
        match self {
            ValueTemplate::Expression(expression) => Some(&expression.source),
            ValueTemplate::Text(text) => Some(&text.source),
            _ => None,
        }
    }

    /// The value, when it holds no expression.
    pub fn as_literal(&self) -> Option<&serde_json::Value> {
        match self {
            ValueTemplate::Literal(value) => Some(value),
            _ => None,
        }
    }
}

/// How waits between attempts grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    /// Always the initial wait.
    Fixed,
    /// The wait doubles each time, up to the maximum.
    Exponential,
}

/// Whether waits are randomized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    /// The computed wait exactly.
    None,
    /// A uniformly random wait between zero and the computed wait.
    Full,
}

/// How a step is retried after a retryable error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: no retry).
    pub attempts: u32,
    /// How the wait grows.
    pub backoff: Backoff,
    /// The first wait.
    #[serde(serialize_with = "idflow_core::duration::serialize_duration")]
    pub initial: Duration,
    /// The longest wait.
    #[serde(serialize_with = "idflow_core::duration::serialize_duration")]
    pub max: Duration,
    /// Randomization.
    pub jitter: Jitter,
}

impl RetryPolicy {
    /// The most attempts a workflow may ask for.
    pub const MAX_ATTEMPTS: u32 = 100;

    /// One attempt, no retry.
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        backoff: Backoff::Exponential,
        initial: Duration::from_secs(1),
        max: Duration::from_mins(1),
        jitter: Jitter::None,
    };
}

/// A status gate: the step runs again until `until` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollGate {
    /// The condition over the step's own outputs (`outputs.*`).
    pub until: Expression,
    /// How often and how long.
    pub poll: PollPolicy,
    /// The step type takes the deadline from its input (`poll.timeout`
    /// is then only the default) and names its own timeout error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<idflow_core::GateDeadline>,
}

/// How a status gate polls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PollPolicy {
    /// The wait before the next attempt.
    #[serde(serialize_with = "idflow_core::duration::serialize_duration")]
    pub interval: Duration,
    /// Each wait is the previous one times this (1: fixed).
    pub backoff_factor: f64,
    /// The wait never grows beyond this.
    #[serde(serialize_with = "idflow_core::duration::serialize_duration")]
    pub max_interval: Duration,
    /// Give up (`poll_timeout`) after this long since the first attempt.
    #[serde(serialize_with = "idflow_core::duration::serialize_duration")]
    pub timeout: Duration,
}

impl PollPolicy {
    /// The policy when a workflow gives `until` without `poll`.
    pub const DEFAULT: PollPolicy = PollPolicy {
        interval: Duration::from_secs(1),
        backoff_factor: 1.0,
        max_interval: Duration::from_mins(1),
        timeout: Duration::from_mins(5),
    };
}
