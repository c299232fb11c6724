//! The JSON Schema (draft-07) of the workflow format, for editors.
//!
//! It includes each registered step type's `with` schema, selected by
//! `uses` (`if`/`then`), so that an editor with the YAML language server
//! completes and checks step inputs. `additionalProperties: false`
//! everywhere the format is closed. The key lists are the validator's own
//! (a test keeps them equal).

use idflow_core::StepRegistry;
use serde_json::{Value, json};

use crate::validate::structure::INPUT_TYPES;

/// Where the checked-in copy of the schema lives, relative to the
/// repository root.
pub const SCHEMA_PATH: &str = "docs/workflow.schema.json";

const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h))+$";
const IDENTIFIER_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

fn duration(description: &str) -> Value {
    json!({
        "type": "string",
        "pattern": DURATION_PATTERN,
        "description": format!("{description} A duration: `500ms`, `2s`, `5m`, `1h`, or a sum like `1m30s`."),
        "examples": ["500ms", "2s", "5m"],
    })
}

fn condition(description: &str) -> Value {
    json!({
        "type": ["string", "boolean"],
        "description": description,
    })
}

/// The schema of the format with every registered step type.
pub fn workflow_schema(registry: &StepRegistry) -> Value {
    let step_types: Vec<&str> = registry.names().collect();
    let with_by_type: Vec<Value> = registry
        .iter()
        .map(|(name, step)| {
            let metadata = step.metadata();
            let mut with = metadata.input_schema.clone();
            if let Some(object) = with.as_object_mut() {
                object.remove("title");
                object.insert(
                    "description".into(),
                    json!(format!("Inputs of `{name}`: {}", metadata.description)),
                );
            }
            json!({
                "if": { "properties": { "uses": { "const": name } }, "required": ["uses"] },
                "then": { "properties": { "with": with } },
            })
        })
        .collect();
    let step = json!({
        "type": "object",
        "description": "A step: one node of the graph. Its id (the key) is how other steps and expressions refer to it.",
        "additionalProperties": false,
        "required": ["uses"],
        "properties": {
            "uses": {
                "type": "string",
                "enum": step_types,
                "description": "The step type (`idflow steps` lists them).",
            },
            "description": { "type": "string", "description": "What this step is for." },
            "needs": {
                "description": "Steps that must finish before this one starts.",
                "oneOf": [
                    { "type": "string", "pattern": IDENTIFIER_PATTERN },
                    { "type": "array", "items": { "type": "string", "pattern": IDENTIFIER_PATTERN }, "uniqueItems": true },
                ],
            },
            "if": condition("Run the step only when this holds (an expression, with or without `${{ }}`). Default: `success()`, i.e. every step it needs succeeded. Use `always()` or `failure()` to run after failures."),
            "with": { "type": "object", "description": "The step type's inputs. Strings may contain `${{ }}` expressions." },
            "retry": {
                "type": "object",
                "description": "Retry after retryable errors (timeouts, connection errors, 5xx, 429).",
                "additionalProperties": false,
                "properties": {
                    "attempts": { "type": "integer", "minimum": 1, "maximum": 100, "description": "Attempts in all, the first included. Default 3 when `retry` is given." },
                    "backoff": { "enum": ["fixed", "exponential"], "description": "How the wait grows: `fixed` or `exponential` (doubling). Default exponential." },
                    "initial": duration("The first wait. Default 1s."),
                    "max": duration("The longest wait. Default 1m."),
                    "jitter": { "enum": ["full", "none"], "description": "`full`: wait a random time up to the computed wait. Default none." },
                },
            },
            "timeout": duration("The time limit of each attempt (a timed-out attempt can be retried)."),
            "until": condition("Re-run the step until this holds; it reads the step's own outputs as `outputs.<name>`."),
            "poll": {
                "type": "object",
                "description": "How `until` polls.",
                "additionalProperties": false,
                "properties": {
                    "interval": duration("The wait before the next attempt. Default 1s."),
                    "backoff": {
                        "description": "`fixed`, `exponential` (doubling) or a factor between 1 and 10.",
                        "oneOf": [ { "enum": ["fixed", "exponential"] }, { "type": "number", "minimum": 1, "maximum": 10 } ],
                    },
                    "max_interval": duration("The wait never grows beyond this. Default 1m."),
                    "timeout": duration("Give up (`poll_timeout`) after this long. Default 5m."),
                },
            },
            "continue_on_error": { "type": "boolean", "description": "A failure of this step does not fail the run." },
        },
        "allOf": with_by_type,
    });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://idflow.dev/schemas/workflow.schema.json",
        "title": "idflow workflow",
        "description": "An idflow workflow: a graph of steps. See docs/workflow-format.md.",
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "steps"],
        "properties": {
            "name": { "type": "string", "pattern": "^[a-z0-9-]+$", "description": "The workflow's name: lowercase letters, digits and `-`." },
            "description": { "type": "string", "description": "What the workflow does." },
            "inputs": {
                "type": "object",
                "description": "Values a run is started with, read as `inputs.<name>`.",
                "propertyNames": { "pattern": IDENTIFIER_PATTERN },
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "type": { "enum": INPUT_TYPES, "description": "The input's type. Default string. `file`: a path that must exist." },
                        "required": { "type": "boolean", "description": "Whether a run must give it. Default: true unless it has a default." },
                        "default": { "description": "The value when a run does not give one." },
                        "description": { "type": "string", "description": "What the input is." },
                    },
                },
            },
            "secrets": {
                "type": "array",
                "description": "Secrets the workflow reads as `secrets.<NAME>`; values come from environment variables of the same name.",
                "items": { "type": "string", "pattern": IDENTIFIER_PATTERN },
                "uniqueItems": true,
            },
            "steps": {
                "type": "object",
                "description": "The steps, by id.",
                "minProperties": 1,
                "propertyNames": { "pattern": IDENTIFIER_PATTERN },
                "additionalProperties": step,
            },
            "outputs": {
                "type": "object",
                "description": "The run's outputs, evaluated at the end: values with `${{ }}` expressions.",
                "propertyNames": { "pattern": IDENTIFIER_PATTERN },
            },
            "timeout": duration("The time limit of the whole run."),
        },
    })
}

/// The schema as the checked-in file holds it (pretty, trailing newline).
pub fn workflow_schema_text(registry: &StepRegistry) -> String {
    let mut text = serde_json::to_string_pretty(&workflow_schema(registry)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::structure::{INPUT_KEYS, POLL_KEYS, RETRY_KEYS, STEP_KEYS, WORKFLOW_KEYS};

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    fn sorted(keys: &[&'static str]) -> Vec<&'static str> {
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn schema_keys_are_the_validators_keys() {
        let schema = workflow_schema(&StepRegistry::new());
        assert_eq!(keys(&schema["properties"]), sorted(WORKFLOW_KEYS));
        let step = &schema["properties"]["steps"]["additionalProperties"];
        assert_eq!(keys(&step["properties"]), sorted(STEP_KEYS));
        assert_eq!(
            keys(&step["properties"]["retry"]["properties"]),
            sorted(RETRY_KEYS)
        );
        assert_eq!(
            keys(&step["properties"]["poll"]["properties"]),
            sorted(POLL_KEYS)
        );
        assert_eq!(
            keys(&schema["properties"]["inputs"]["additionalProperties"]["properties"]),
            sorted(INPUT_KEYS)
        );
    }
}
