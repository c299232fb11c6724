//! `core.await_event`: waits for an outside event sent under a key.

use std::time::Duration;

use async_trait::async_trait;
use idflow_core::{
    GateDeadline, Outputs, PollDefaults, Step, StepContext, StepError, StepMetadata, decode_input,
};
use serde_json::Value;

/// The step type's name.
pub const NAME: &str = "core.await_event";

/// Keys longer than this are refused (a key is an identifier, not data).
pub const MAX_KEY_LEN: usize = 512;

/// The `with` of `core.await_event`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwaitEventInput {
    /// The key the event is sent under (`order:${{ inputs.order }}:paid`,
    /// `truora:enrollment:<id>`): at most 512 characters.
    pub key: String,
    /// How long to wait at most, from the step's first attempt (`30s`,
    /// `24h`; default `24h`). Then the step fails with the terminal error
    /// `event_timeout`.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// `core.await_event`: waits until an event with its key arrives (`POST
/// /api/v1/events`, `idflow events send`, a provider's webhook), then
/// succeeds with its payload. An event sent before the step began waiting
/// is kept and received at once. While it waits, a durable run is parked:
/// no memory, no task; the event wakes it.
#[derive(Debug)]
pub struct AwaitEventStep {
    metadata: StepMetadata,
}

impl AwaitEventStep {
    /// The step type.
    pub fn new() -> Self {
        Self {
            metadata: StepMetadata::new::<AwaitEventInput>(
                NAME,
                "Waits for an outside event sent under `key` (the API's `POST /api/v1/events`, `idflow events send`, a provider webhook) and outputs its payload; fails with `event_timeout` after `timeout` (default 24h).",
            )
            .output("received", "Whether the event came (`false` only while waiting).")
            .output("payload", "What was sent with the event (any JSON), or null.")
            .output("received_at", "When it arrived (RFC 3339), or null.")
            .with_default_gate(
                "outputs.received",
                // The event wakes the step; polling is only the fallback
                // that checks the deadline.
                PollDefaults {
                    interval: Duration::from_hours(1),
                    backoff_factor: 1.0,
                    max_interval: Duration::from_hours(1),
                    timeout: Duration::from_hours(24),
                },
            )
            .with_gate_deadline(GateDeadline {
                input: "timeout".into(),
                code: "event_timeout".into(),
                message: "no event arrived".into(),
            })
            .repeatable(),
        }
    }
}

impl Default for AwaitEventStep {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Step for AwaitEventStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: Value) -> Result<Outputs, StepError> {
        let input: AwaitEventInput = decode_input(input)?;
        if input.key.is_empty() || input.key.chars().count() > MAX_KEY_LEN {
            return Err(StepError::invalid_input(format!(
                "`key` must have 1 to {MAX_KEY_LEN} characters"
            )));
        }
        let event = ctx.receive_event(NAME, &input.key).await?;
        let mut outputs = Outputs::new();
        outputs.insert("received".into(), event.is_some().into());
        let (payload, received_at) = event.map_or((Value::Null, Value::Null), |event| {
            (event.payload, event.received_at.into())
        });
        outputs.insert("payload".into(), payload);
        outputs.insert("received_at".into(), received_at);
        Ok(outputs)
    }
}
