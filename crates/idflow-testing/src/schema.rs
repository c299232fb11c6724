//! The JSON Schema (draft-07) of the test-file format, for editors
//! (`idflow schema --tests`, checked in as
//! `docs/workflow-test.schema.json`). Generated with schemars from the
//! types below, whose doc comments become the editor's hover text; the
//! reader in [`crate::load`] has the same keys (a test keeps them equal).

use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema};
use serde_json::Value;
use std::collections::BTreeMap;

/// Where the checked-in copy of the schema lives, relative to the
/// repository root.
pub const TESTS_SCHEMA_PATH: &str = "docs/workflow-test.schema.json";

/// An idflow test file (`*.test.yaml`): cases that run a workflow with
/// mocked steps on a virtual clock and say what the run must do. See
/// docs/workflow-tests.md.
#[derive(JsonSchema)]
#[schemars(title = "idflow workflow tests", deny_unknown_fields)]
#[allow(dead_code)]
struct TestFileSchema {
    /// The workflow under test: its path relative to this file.
    workflow: String,
    /// The cases, by name.
    #[schemars(extend("minProperties" = 1))]
    cases: BTreeMap<String, CaseSchema>,
}

/// One run of the workflow and what it must do.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct CaseSchema {
    /// What the case checks, in a sentence.
    description: Option<String>,
    /// The run's inputs; `file` inputs are paths relative to this file.
    inputs: Option<serde_json::Map<String, Value>>,
    /// Values for the secrets the workflow declares (test values only).
    secrets: Option<BTreeMap<String, String>>,
    /// Answers for steps, by step id or by step type (`face.issue_token`).
    /// One answer, or a list: one per attempt, the last repeating. Steps
    /// with no mock run for real only when their type is pure (`core.set`,
    /// `core.log`, `core.fail`, `core.sleep`).
    mocks: Option<BTreeMap<String, MockSchema>>,
    /// What the run must do; anything not written is not checked.
    expect: Option<ExpectSchema>,
    /// Record the run's trace in an insta snapshot
    /// (`snapshots/<file>__<case>.snap`).
    snapshot: Option<bool>,
}

/// One answer, or one per attempt.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum MockSchema {
    /// The answer to every attempt.
    One(AnswerSchema),
    /// The answer to each attempt in turn; the last answers every later one.
    #[schemars(extend("minItems" = 1))]
    PerAttempt(Vec<AnswerSchema>),
}

/// What one attempt returns: `outputs` or an `error`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct AnswerSchema {
    /// The attempt's outputs (only outputs the step type declares).
    outputs: Option<serde_json::Map<String, Value>>,
    /// The attempt fails with this error instead.
    error: Option<ErrorSchema>,
    /// How long the attempt takes on the virtual clock (`500ms`, `2s`); longer
    /// than the step's `timeout`, it times out. Default `0s`.
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    delay: Option<String>,
}

/// A mocked error.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct ErrorSchema {
    /// What went wrong.
    message: String,
    /// A stable code (default `mocked`).
    code: Option<String>,
    /// Whether the step's `retry` applies. Default false.
    retryable: Option<bool>,
    /// The wait the service asked for (`Retry-After`), as a duration.
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    retry_after: Option<String>,
}

/// The run's expected end.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct ExpectSchema {
    /// How the run ends.
    status: Option<RunStatusSchema>,
    /// Some of the run's outputs, with their values.
    outputs: Option<serde_json::Map<String, Value>>,
    /// The run's own error (`run_timeout`, an output that failed): a code,
    /// or `{code, message}` (the message contains this text).
    error: Option<ErrorExpectSchema>,
    /// Steps by id: a status, or `{status, attempts, outputs, error}`.
    steps: Option<BTreeMap<String, StepExpectSchema>>,
}

/// How a run ends.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum RunStatusSchema {
    /// Every step succeeded, was skipped, or failed under `continue_on_error`.
    Succeeded,
    /// A step failed, the run timed out, or an output failed.
    Failed,
    /// The run was cancelled.
    Cancelled,
}

/// How a step ends.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum StepStatusSchema {
    /// Finished with outputs.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Never ran (its `if`, or a step before it).
    Skipped,
    /// Stopped by a cancelled or timed-out run.
    Cancelled,
}

/// A step's expected end.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StepExpectSchema {
    /// Its status only.
    Status(StepStatusSchema),
    /// Any of status, attempts, outputs and error.
    Detailed(StepExpectDetailSchema),
}

/// A step's expected end, in detail.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct StepExpectDetailSchema {
    /// Its final status.
    status: Option<StepStatusSchema>,
    /// Attempts started (retries and polls included).
    #[schemars(range(min = 0))]
    attempts: Option<u32>,
    /// Some of its outputs, with their values.
    outputs: Option<serde_json::Map<String, Value>>,
    /// Its error: a code, or `{code, message}`.
    error: Option<ErrorExpectSchema>,
}

/// An expected error.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ErrorExpectSchema {
    /// Its code.
    Code(String),
    /// Its code and text its message contains.
    Detailed(ErrorExpectDetailSchema),
}

/// An expected error's code and text its message contains.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct ErrorExpectDetailSchema {
    /// The code.
    code: Option<String>,
    /// Text the message contains.
    message: Option<String>,
}

/// The schema of the test-file format.
pub fn tests_schema() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings
        .transforms
        .push(Box::new(RecursiveTransform(no_null)));
    let schema = settings
        .into_generator()
        .into_root_schema_for::<TestFileSchema>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "$id".into(),
            "https://idflow.dev/schemas/workflow-test.schema.json".into(),
        );
    }
    value
}

/// Optional keys may be left out, not written as `null` (the reader
/// refuses `null`): schemars allows null for every `Option`.
fn no_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|kind| kind != "null");
        if types.len() == 1 {
            let kind = types.remove(0);
            object.insert("type".into(), kind);
        }
    }
    if let Some(Value::Array(choices)) = object.get_mut("anyOf") {
        choices.retain(|choice| choice != &serde_json::json!({"type": "null"}));
        if choices.len() == 1
            && let Some(Value::Object(only)) = choices.pop()
        {
            object.remove("anyOf");
            for (key, value) in only {
                object.entry(key).or_insert(value);
            }
        }
    }
}

/// The schema as the checked-in file holds it (pretty, trailing newline).
pub fn tests_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&tests_schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{
        ANSWER_KEYS, CASE_KEYS, ERROR_EXPECT_KEYS, ERROR_KEYS, EXPECT_KEYS, FILE_KEYS,
        STEP_EXPECT_KEYS,
    };

    fn keys(schema: &Value, definition: Option<&str>) -> Vec<String> {
        let node = match definition {
            Some(name) => &schema["definitions"][name],
            None => schema,
        };
        let mut keys: Vec<String> = node["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{definition:?} has no properties: {node}"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn schema_keys_are_the_readers_keys() {
        let schema = tests_schema();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(keys(&schema, None), sorted(FILE_KEYS));
        assert_eq!(keys(&schema, Some("CaseSchema")), sorted(CASE_KEYS));
        assert_eq!(keys(&schema, Some("AnswerSchema")), sorted(ANSWER_KEYS));
        assert_eq!(keys(&schema, Some("ErrorSchema")), sorted(ERROR_KEYS));
        assert_eq!(keys(&schema, Some("ExpectSchema")), sorted(EXPECT_KEYS));
        assert_eq!(
            keys(&schema, Some("StepExpectDetailSchema")),
            sorted(STEP_EXPECT_KEYS)
        );
        assert_eq!(
            keys(&schema, Some("ErrorExpectDetailSchema")),
            sorted(ERROR_EXPECT_KEYS)
        );
        assert_eq!(schema["additionalProperties"], false);
    }
}
