//! The JSON Schema (draft-07) of the workflow format, for editors.
//!
//! It includes each registered step type's `with` schema, selected by
//! `uses` (`if`/`then`), so that an editor with the YAML language server
//! completes and checks step inputs; wherever an input is typed, a value
//! that is exactly one `${{ }}` expression is taken too, as the validator
//! takes it (an editor must never flag a valid file). `additionalProperties: false`
//! everywhere the format is closed. The key lists are the validator's own
//! (a test keeps them equal).

use idflow_core::StepRegistry;
use serde_json::{Value, json};

use crate::validate::structure::INPUT_TYPES;

/// Where the checked-in copy of the schema lives, relative to the
/// repository root.
pub const SCHEMA_PATH: &str = "docs/workflow.schema.json";

const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h))+$";
/// A value that is exactly one `${{ }}` expression (surrounding blanks
/// allowed), as `expr::classify` finds it: its type is known only at run
/// time, so the validator lets it through wherever an input is typed.
pub const EXPRESSION_PATTERN: &str = r"^\s*\$\{\{[\s\S]*\}\}\s*$";
/// Keywords that constrain a value; a schema with none of them takes any.
const CONSTRAINTS: &[&str] = &[
    "type",
    "enum",
    "const",
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "pattern",
    "format",
    "minLength",
    "maxLength",
];
/// Keywords that document a value: kept beside an `anyOf` that adds the
/// expression, so that editors still show them.
const ANNOTATIONS: &[&str] = &["title", "description", "default", "examples", "deprecated"];
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

/// The schema of one `${{ }}` expression in place of a typed input.
fn expression() -> Value {
    json!({
        "type": "string",
        "pattern": EXPRESSION_PATTERN,
        "description": "A `${{ }}` expression, evaluated when the step runs.",
    })
}

/// Whether a schema takes every string (a string input written with an
/// expression needs nothing more).
fn takes_any_string(schema: &Value) -> bool {
    let Some(object) = schema.as_object() else {
        return schema.as_bool().unwrap_or(false);
    };
    if let Some(alternatives) = object.get("anyOf").and_then(Value::as_array) {
        let others = object
            .keys()
            .any(|key| key != "anyOf" && CONSTRAINTS.contains(&key.as_str()));
        return !others && alternatives.iter().any(takes_any_string);
    }
    let constrained = object
        .keys()
        .any(|key| key != "type" && CONSTRAINTS.contains(&key.as_str()));
    let string_type = match object.get("type") {
        None => true,
        Some(Value::String(kind)) => kind == "string",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
        Some(_) => false,
    };
    !constrained && string_type
}

/// Lets a `${{ }}` expression stand for any value inside a step type's
/// input schema (not for `with` itself), as the validator does: every
/// value schema that would refuse the text of an expression becomes
/// `anyOf: [the schema, an expression]`, its annotations kept outside.
fn accept_expressions(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    for key in ["properties", "patternProperties", "$defs", "definitions"] {
        if let Some(Value::Object(children)) = object.get_mut(key) {
            children.values_mut().for_each(or_expression);
        }
    }
    if let Some(child @ Value::Object(_)) = object.get_mut("additionalProperties") {
        or_expression(child);
    }
    match object.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(or_expression),
        Some(item @ Value::Object(_)) => or_expression(item),
        _ => {}
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(alternatives)) = object.get_mut(key) {
            alternatives.iter_mut().for_each(accept_expressions);
        }
    }
}

/// One value's schema, also taking an expression (see [`accept_expressions`]).
fn or_expression(schema: &mut Value) {
    accept_expressions(schema);
    if takes_any_string(schema) {
        return;
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let mut outer = serde_json::Map::new();
    for key in ANNOTATIONS {
        if let Some(value) = object.remove(*key) {
            outer.insert((*key).to_owned(), value);
        }
    }
    let inner = std::mem::take(object);
    outer.insert(
        "anyOf".to_owned(),
        json!([Value::Object(inner), expression()]),
    );
    *object = outer;
}

/// The schema of the format with every registered step type.
pub fn workflow_schema(registry: &StepRegistry) -> Value {
    let step_types: Vec<&str> = registry.names().collect();
    let with_by_type: Vec<Value> = registry
        .iter()
        .map(|(name, step)| {
            let metadata = step.metadata();
            let mut with = metadata.input_schema.clone();
            accept_expressions(&mut with);
            if let Some(object) = with.as_object_mut() {
                object.remove("title");
                object.insert(
                    "description".into(),
                    json!(format!("Inputs of `{name}`: {}", metadata.description)),
                );
            }
            let mut then = json!({ "properties": { "with": with } });
            // A type with required inputs needs `with` (IDF0016); `poll`
            // needs `until` unless the type has a default gate (IDF0004).
            let needs_with = metadata.input_schema["required"]
                .as_array()
                .is_some_and(|required| !required.is_empty());
            if needs_with {
                then["required"] = json!(["with"]);
            }
            if metadata.default_until.is_none() {
                then["dependencies"] = json!({ "poll": ["until"] });
            }
            json!({
                "if": { "properties": { "uses": { "const": name } }, "required": ["uses"] },
                "then": then,
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
    fn typed_inputs_also_take_an_expression_and_keep_their_docs() {
        let mut with = json!({
            "type": "object",
            "properties": {
                "text": { "type": "string", "description": "free text" },
                "choice": { "type": "string", "enum": ["a", "b"] },
                "threshold": { "type": ["number", "null"], "description": "a number", "default": null },
                "flag": { "type": "boolean", "const": true },
                "list": { "type": "array", "items": { "type": "integer" } },
                "any": { "description": "any value" },
            },
        });
        accept_expressions(&mut with);
        let properties = &with["properties"];
        assert_eq!(
            properties["text"],
            json!({ "type": "string", "description": "free text" })
        );
        assert_eq!(properties["any"], json!({ "description": "any value" }));
        assert_eq!(properties["threshold"]["description"], "a number");
        assert_eq!(
            properties["threshold"]["anyOf"],
            json!([{ "type": ["number", "null"] }, expression()])
        );
        assert_eq!(properties["choice"]["anyOf"][1], expression());
        assert_eq!(properties["flag"]["anyOf"][1], expression());
        // The list, and each of its items.
        assert_eq!(properties["list"]["anyOf"][1], expression());
        assert_eq!(
            properties["list"]["anyOf"][0]["items"]["anyOf"],
            json!([{ "type": "integer" }, expression()])
        );
        // `with` itself stays an object.
        assert_eq!(with["type"], "object");
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
