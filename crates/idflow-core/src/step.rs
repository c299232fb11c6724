//! The [`Step`] trait and what a step says about itself.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::{Outputs, StepContext, StepError};

/// A step type: one kind of node in a workflow (`core.http`,
/// `face.create_enrollment`, ...).
///
/// A step receives its `with` values, already evaluated, as JSON; it
/// validates them against its own input type (see [`decode_input`]) and
/// returns its outputs. It must be cancel-safe: the engine cancels an
/// attempt (timeout, run cancelled) by dropping the future.
#[async_trait]
pub trait Step: Send + Sync + 'static {
    /// The step's name, documentation and input schema.
    fn metadata(&self) -> &StepMetadata;

    /// Runs one attempt.
    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError>;
}

/// One output a step type produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputSpec {
    /// The output's name, as used in `steps.<id>.outputs.<name>`.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// A credential (an upload link, a token): hidden in logs and run
    /// results, still passed to later steps.
    pub sensitive: bool,
}

/// A default status gate for a step type: how often to poll and for how
/// long, when a workflow uses the step without its own `poll`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PollDefaults {
    /// Wait before the second attempt.
    #[serde(serialize_with = "crate::duration::serialize_duration")]
    pub interval: Duration,
    /// Each wait is the previous one times this factor (1.0: fixed).
    pub backoff_factor: f64,
    /// The wait never grows beyond this.
    #[serde(serialize_with = "crate::duration::serialize_duration")]
    pub max_interval: Duration,
    /// Give up (`poll_timeout`) after this long in all.
    #[serde(serialize_with = "crate::duration::serialize_duration")]
    pub timeout: Duration,
}

/// A status gate whose deadline the step's input gives: the duration in
/// input `input` (its default poll timeout when the input leaves it out),
/// counted from the first attempt. At the deadline the step fails with the
/// terminal error `code` ("`message` within DURATION") instead of
/// `poll_timeout`; the last wait is shortened to end there, whatever the
/// poll interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateDeadline {
    /// The key of `with` that holds the duration (`500ms`, `2h`).
    pub input: String,
    /// The terminal error's code.
    pub code: String,
    /// What did not happen, for the error's message.
    pub message: String,
}

/// What a step type says about itself: used for validation, the editor
/// schema, `idflow steps` and the docs.
#[derive(Debug, Clone, Serialize)]
pub struct StepMetadata {
    /// The name workflows use in `uses:` (`namespace.name`).
    pub name: String,
    /// One or two sentences for people.
    pub description: String,
    /// The JSON Schema (draft-07) of the step's `with`.
    pub input_schema: serde_json::Value,
    /// The outputs the step produces.
    pub outputs: Vec<OutputSpec>,
    /// The outputs are not fixed (`core.set`: its outputs are its inputs).
    pub dynamic_outputs: bool,
    /// A default `until` condition (a status gate), as expression source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_until: Option<String>,
    /// The poll policy that goes with [`StepMetadata::default_until`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_poll: Option<PollDefaults>,
    /// The gate's deadline is an input of the step (a wait for a person or
    /// an event says how long it waits in its own `with`), and running past
    /// it is an error of the step's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_deadline: Option<GateDeadline>,
    /// The inputs (keys of `with`) that may carry a credential: a value
    /// computed from a secret or from a sensitive output may flow into
    /// these and nowhere else. The step sends them where they belong and
    /// never shows them (not in outputs, errors or logs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credential_inputs: Vec<String>,
    /// An attempt is safe to repeat (it only reads, or has no effect
    /// outside the run): when the process running it stops, a resumed run
    /// starts it again without counting a failure. Otherwise an
    /// interrupted attempt counts as a retryable `interrupted` error.
    pub repeatable: bool,
}

impl StepMetadata {
    /// Metadata whose input schema is generated from `Input`.
    pub fn new<Input: schemars::JsonSchema>(
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            input_schema: input_schema_for::<Input>(),
            outputs: Vec::new(),
            dynamic_outputs: false,
            default_until: None,
            default_poll: None,
            gate_deadline: None,
            credential_inputs: Vec::new(),
            repeatable: false,
        }
    }

    /// Adds an output.
    #[must_use]
    pub fn output(mut self, name: impl Into<String>, description: impl Into<String>) -> Self {
        self.outputs.push(OutputSpec {
            name: name.into(),
            description: description.into(),
            sensitive: false,
        });
        self
    }

    /// Adds an output that holds a credential.
    #[must_use]
    pub fn sensitive_output(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.outputs.push(OutputSpec {
            name: name.into(),
            description: description.into(),
            sensitive: true,
        });
        self
    }

    /// Declares the input `name` (a key of `with`) a credential input: it
    /// may receive a secret, and the step promises never to show it.
    #[must_use]
    pub fn credential_input(mut self, name: impl Into<String>) -> Self {
        self.credential_inputs.push(name.into());
        self
    }

    /// Whether the input `name` may carry a credential.
    pub fn is_credential_input(&self, name: &str) -> bool {
        self.credential_inputs.iter().any(|input| input == name)
    }

    /// Whether the output `name` holds a credential.
    pub fn is_sensitive_output(&self, name: &str) -> bool {
        self.outputs
            .iter()
            .any(|output| output.sensitive && output.name == name)
    }

    /// Whether any output holds a credential.
    pub fn has_sensitive_outputs(&self) -> bool {
        self.outputs.iter().any(|output| output.sensitive)
    }

    /// Marks the outputs as not fixed.
    #[must_use]
    pub fn with_dynamic_outputs(mut self) -> Self {
        self.dynamic_outputs = true;
        self
    }

    /// Marks attempts as safe to repeat after a crash
    /// ([`StepMetadata::repeatable`]).
    #[must_use]
    pub fn repeatable(mut self) -> Self {
        self.repeatable = true;
        self
    }

    /// Declares a default status gate.
    #[must_use]
    pub fn with_default_gate(mut self, until: impl Into<String>, poll: PollDefaults) -> Self {
        self.default_until = Some(until.into());
        self.default_poll = Some(poll);
        self
    }

    /// Takes the gate's deadline from an input ([`GateDeadline`]).
    #[must_use]
    pub fn with_gate_deadline(mut self, deadline: GateDeadline) -> Self {
        self.gate_deadline = Some(deadline);
        self
    }

    /// Whether the step declares an output of that name (always true for
    /// dynamic outputs).
    pub fn has_output(&self, name: &str) -> bool {
        self.dynamic_outputs || self.outputs.iter().any(|output| output.name == name)
    }
}

/// The draft-07 JSON Schema of `T`, with every subschema inlined (so it can
/// be embedded in the workflow schema as it is) and no `$schema` key.
pub fn input_schema_for<T: schemars::JsonSchema>() -> serde_json::Value {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Some(object) = value.as_object_mut() {
        object.remove("$schema");
    }
    value
}

/// Deserializes a step's evaluated `with` into its input type; a mismatch is
/// a terminal `invalid_input` error that names the problem.
pub fn decode_input<T: serde::de::DeserializeOwned>(
    input: serde_json::Value,
) -> Result<T, StepError> {
    serde_json::from_value(input).map_err(|error| StepError::invalid_input(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        /// A message.
        message: String,
        #[serde(default)]
        count: Option<u32>,
    }

    #[test]
    fn input_schema_is_inlined_draft07_without_unknown_fields() {
        let schema = input_schema_for::<Input>();
        assert!(schema.get("$schema").is_none());
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], serde_json::json!(["message"]));
        assert_eq!(schema["properties"]["message"]["description"], "A message.");
    }

    #[test]
    fn decode_input_reports_the_field() {
        let error = decode_input::<Input>(serde_json::json!({"message": 3})).unwrap_err();
        assert_eq!(error.code, "invalid_input");
        assert!(
            error.message.contains("expected a string"),
            "{}",
            error.message
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn has_output_checks_declared_names() {
        let metadata = StepMetadata::new::<Input>("t.x", "x").output("a", "A");
        assert!(metadata.has_output("a"));
        assert!(!metadata.has_output("b"));
        assert!(metadata.with_dynamic_outputs().has_output("b"));
    }

    #[test]
    fn credential_inputs_and_sensitive_outputs_are_declared_by_name() {
        let metadata = StepMetadata::new::<Input>("t.x", "x")
            .credential_input("message")
            .output("a", "A")
            .sensitive_output("link", "A link.");
        assert!(metadata.is_credential_input("message"));
        assert!(!metadata.is_credential_input("count"));
        assert!(metadata.is_sensitive_output("link"));
        assert!(!metadata.is_sensitive_output("a"));
        assert!(metadata.has_sensitive_outputs());
        assert!(!StepMetadata::new::<Input>("t.y", "y").has_sensitive_outputs());
    }
}
