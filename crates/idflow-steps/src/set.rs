//! `core.set`: names values so that later steps can use them as outputs.

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata};

/// The `with` of `core.set`: any keys, any values. Each key becomes an
/// output of the same name holding the evaluated value (`${{ ... }}` keeps
/// numbers, booleans, lists and objects as they are).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct SetInput(pub serde_json::Map<String, serde_json::Value>);

/// `core.set`: its outputs are its evaluated `with` values.
#[derive(Debug)]
pub struct SetStep {
    metadata: StepMetadata,
}

impl SetStep {
    /// The step type.
    pub fn new() -> Self {
        Self {
            metadata: StepMetadata::new::<SetInput>(
                "core.set",
                "Outputs its `with` values as they are: each key becomes an output.",
            )
            .repeatable()
            .with_dynamic_outputs(),
        }
    }
}

impl Default for SetStep {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Step for SetStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(
        &self,
        _ctx: &StepContext,
        input: serde_json::Value,
    ) -> Result<Outputs, StepError> {
        match input {
            serde_json::Value::Object(values) => Ok(values),
            serde_json::Value::Null => Ok(Outputs::new()),
            other => Err(StepError::invalid_input(format!(
                "`with` of core.set must be a map of output names to values, not {}",
                json_kind(&other)
            ))),
        }
    }
}

/// The JSON type of a value, for messages.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn outputs_are_the_with_values_with_types_and_order_kept() {
        let ctx = StepContext::new("r", "s", 1);
        let input = json!({"z": 1, "a": "text", "ok": true, "list": [1, 2], "obj": {"k": null}});
        let outputs = SetStep::new().run(&ctx, input.clone()).await.unwrap();
        assert_eq!(serde_json::Value::Object(outputs.clone()), input);
        assert_eq!(
            outputs.keys().collect::<Vec<_>>(),
            ["z", "a", "ok", "list", "obj"]
        );
    }

    #[tokio::test]
    async fn no_with_gives_no_outputs() {
        let ctx = StepContext::new("r", "s", 1);
        let outputs = SetStep::new()
            .run(&ctx, serde_json::Value::Null)
            .await
            .unwrap();
        assert!(outputs.is_empty());
    }

    #[tokio::test]
    async fn a_with_that_is_not_a_map_is_invalid_input() {
        let ctx = StepContext::new("r", "s", 1);
        let error = SetStep::new().run(&ctx, json!([1, 2])).await.unwrap_err();
        assert_eq!(error.code, "invalid_input");
        assert!(error.message.contains("not a list"), "{}", error.message);
    }

    #[test]
    fn schema_accepts_any_keys() {
        let metadata = SetStep::new().metadata;
        assert_eq!(metadata.input_schema["type"], "object");
        assert_eq!(metadata.input_schema["additionalProperties"], true);
        assert!(metadata.dynamic_outputs);
        assert!(metadata.has_output("anything"));
    }
}
