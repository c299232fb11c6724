//! `core.log`: writes a message to the run's log.

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

/// The `with` of `core.log`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInput {
    /// The text to log. Expressions such as `${{ steps.fetch.outputs.status }}`
    /// are evaluated first. It may not read a secret or a sensitive output.
    pub message: String,
}

/// `core.log`: logs its message at info level; the engine's `run` and
/// `attempt` spans add the run id, workflow, step and attempt.
#[derive(Debug)]
pub struct LogStep {
    metadata: StepMetadata,
}

impl LogStep {
    /// The step type.
    pub fn new() -> Self {
        Self {
            metadata: StepMetadata::new::<LogInput>(
                "core.log",
                "Writes a message to the run's log (secrets redacted). Has no outputs.",
            )
            .repeatable(),
        }
    }
}

impl Default for LogStep {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Step for LogStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: LogInput = decode_input(input)?;
        let message = ctx.redactor().redact(&input.message);
        // The engine's spans put the run id, step and attempt on the line.
        tracing::info!("{message}");
        Ok(Outputs::new())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use idflow_core::Redactor;
    use serde_json::json;

    use super::*;

    /// A log sink the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn logs_the_redacted_message_alone() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || sink.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let redactor = Redactor::new();
        redactor.add("tok-secret-1");
        let ctx = StepContext::new("run-7", "announce", 2).with_redactor(redactor);
        let outputs = LogStep::new()
            .run(&ctx, json!({"message": "calling with tok-secret-1 now"}))
            .await
            .unwrap();
        assert!(outputs.is_empty());

        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "calling with [redacted] now");
        // Run, step and attempt come from the engine's spans, never twice.
        assert_eq!(
            line["fields"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["message"]
        );
        assert!(!text.contains("tok-secret-1"), "{text}");
    }

    #[tokio::test]
    async fn refuses_a_missing_message_and_unknown_keys() {
        let ctx = StepContext::new("r", "s", 1);
        let step = LogStep::new();
        for bad in [
            json!({}),
            json!({"message": "x", "level": "warn"}),
            json!({"message": 3}),
        ] {
            let error = step.run(&ctx, bad.clone()).await.unwrap_err();
            assert_eq!(error.code, "invalid_input", "{bad}");
            assert!(!error.is_retryable());
        }
    }
}
