//! `core.sleep`: waits for a duration.

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

/// The `with` of `core.sleep`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepInput {
    /// How long to wait: a whole number and a unit (`500ms`, `2s`, `5m`,
    /// `1h`), or a sum such as `1m30s`.
    pub duration: String,
}

/// `core.sleep`: waits, then succeeds with no outputs. Cancelling the step
/// (a timeout, a cancelled run) stops the wait at once.
#[derive(Debug)]
pub struct SleepStep {
    metadata: StepMetadata,
}

impl SleepStep {
    /// The step type.
    pub fn new() -> Self {
        Self {
            metadata: StepMetadata::new::<SleepInput>(
                "core.sleep",
                "Waits for a duration (`500ms`, `2s`, `5m`, `1h`). Has no outputs.",
            )
            .repeatable(),
        }
    }
}

impl Default for SleepStep {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Step for SleepStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(
        &self,
        _ctx: &StepContext,
        input: serde_json::Value,
    ) -> Result<Outputs, StepError> {
        let input: SleepInput = decode_input(input)?;
        let duration = idflow_core::parse_duration(&input.duration)
            .map_err(|error| StepError::invalid_input(format!("`duration`: {error}")))?;
        tokio::time::sleep(duration).await;
        Ok(Outputs::new())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_exactly_the_duration() {
        let ctx = StepContext::new("r", "s", 1);
        let step = SleepStep::new();
        let start = tokio::time::Instant::now();
        let outputs = step.run(&ctx, json!({"duration": "1m30s"})).await.unwrap();
        assert!(outputs.is_empty());
        assert_eq!(start.elapsed(), Duration::from_secs(90));
    }

    #[tokio::test(start_paused = true)]
    async fn is_not_done_before_the_duration_and_stops_when_dropped() {
        let ctx = StepContext::new("r", "s", 1);
        let step = SleepStep::new();
        let sleeping = step.run(&ctx, json!({"duration": "2s"}));
        let outcome = tokio::time::timeout(Duration::from_millis(1999), sleeping).await;
        // The timeout fired first and dropped the sleep: nothing is left running.
        assert!(outcome.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_duration_is_a_terminal_invalid_input() {
        let ctx = StepContext::new("r", "s", 1);
        let step = SleepStep::new();
        for bad in ["2", "soon", "1.5s", ""] {
            let error = step.run(&ctx, json!({"duration": bad})).await.unwrap_err();
            assert_eq!(error.code, "invalid_input", "{bad}");
            assert!(!error.is_retryable(), "{bad}");
            assert!(error.message.contains("`duration`"), "{}", error.message);
        }
        let error = step.run(&ctx, json!({"duration": 5})).await.unwrap_err();
        assert_eq!(error.code, "invalid_input");
    }
}
