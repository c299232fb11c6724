//! `core.fail`: ends the step with a terminal error, on purpose.

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

/// The `with` of `core.fail`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailInput {
    /// Why the workflow stops here: becomes the step's error message
    /// (secrets redacted).
    pub message: String,
}

/// `core.fail`: always fails with a terminal error of code `failed`; it is
/// never retried.
#[derive(Debug)]
pub struct FailStep {
    metadata: StepMetadata,
}

impl FailStep {
    /// The step type.
    pub fn new() -> Self {
        Self {
            metadata: StepMetadata::new::<FailInput>(
                "core.fail",
                "Fails the step with a terminal error (code `failed`) carrying the message. \
                 Usually guarded by `if`.",
            )
            .repeatable(),
        }
    }
}

impl Default for FailStep {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Step for FailStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: FailInput = decode_input(input)?;
        Err(StepError::terminal(
            "failed",
            ctx.redactor().redact(&input.message),
        ))
    }
}

#[cfg(test)]
mod tests {
    use idflow_core::{ErrorClass, Redactor};
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn fails_terminally_with_the_message() {
        let ctx = StepContext::new("r", "s", 1);
        let error = FailStep::new()
            .run(&ctx, json!({"message": "document expired"}))
            .await
            .unwrap_err();
        assert_eq!(error.class, ErrorClass::Terminal);
        assert_eq!(error.code, "failed");
        assert_eq!(error.message, "document expired");
    }

    #[tokio::test]
    async fn redacts_secrets_in_the_message() {
        let redactor = Redactor::new();
        redactor.add("api-key-42");
        let ctx = StepContext::new("r", "s", 1).with_redactor(redactor);
        let error = FailStep::new()
            .run(&ctx, json!({"message": "bad key api-key-42"}))
            .await
            .unwrap_err();
        assert_eq!(error.message, "bad key [redacted]");
    }

    #[tokio::test]
    async fn a_missing_message_is_invalid_input_not_failed() {
        let ctx = StepContext::new("r", "s", 1);
        let error = FailStep::new().run(&ctx, json!({})).await.unwrap_err();
        assert_eq!(error.code, "invalid_input");
    }
}
