//! `face.await_verification`: waits for the person's verification in the
//! browser (the web process the verification page creates when the person
//! sends a selfie), by the provider's webhook or by reading the process.
//!
//! Each attempt:
//!
//! 1. when the run can receive outside events, asks its inbox for the
//!    event under [`keys::process`] (the process is known) or
//!    [`keys::account_process`] (only the account is: its next process); the
//!    first attempt registers the wait, and the event wakes the step at
//!    once. The idflow server turns the provider's signed process webhooks
//!    into these events; anyone with an API token may send one too
//!    (`POST /api/v1/events`, with `process_id` in the payload);
//! 2. once the process id is known (given, or from the event's payload),
//!    reads the process (`GET /v1/processes/{id}/result`): the provider's
//!    answer, not the event, is the outcome;
//! 3. outputs `status` (`pending` until the person has finished), and the
//!    default gate polls again, at a slow pace: the event is what ends the
//!    wait, polling is the fallback.
//!
//! The gate's deadline is the input `timeout` (24 h by default); past it the
//! step fails with the terminal error `verification_timeout`.

use std::time::Duration;

use async_trait::async_trait;
use idflow_core::{
    GateDeadline, Outputs, PollDefaults, ReceivedEvent, Step, StepContext, StepError, StepMetadata,
    decode_input,
};

use super::{optional_text, outputs, provider_failure, text_or_null};
use crate::connection::FaceConnection;
use crate::webhooks::keys;

/// The step type's name.
const NAME: &str = "face.await_verification";

/// The gate: the event wakes the step, so polls are a slow fallback (1
/// minute, doubling up to 10); the deadline is the input `timeout`, 24 h
/// when it is not given.
pub const VERIFICATION_POLL: PollDefaults = PollDefaults {
    interval: Duration::from_mins(1),
    backoff_factor: 2.0,
    max_interval: Duration::from_mins(10),
    timeout: Duration::from_hours(24),
};

/// The `with` of `face.await_verification`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwaitVerificationInput {
    /// The account the web token was issued for: the step waits for the
    /// outcome of the account's next verification (the provider's webhook,
    /// as an event). Give it, `process_id`, or both.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The verification's process, when it is known (the page appends
    /// `process_id` to the token's `redirect_url`): the step waits for its
    /// outcome and reads it from the provider. A run that receives no
    /// outside events (a library run without an inbox) needs it.
    #[serde(default)]
    pub process_id: Option<String>,
    /// How long to wait for the person, from the first attempt (`30m`,
    /// `2h`); default `24h`. Past it the step fails with
    /// `verification_timeout`.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// `face.await_verification`.
#[derive(Debug)]
pub struct AwaitVerificationStep {
    metadata: StepMetadata,
    connection: FaceConnection,
}

impl AwaitVerificationStep {
    /// The step type, talking to `connection`.
    pub fn new(connection: FaceConnection) -> Self {
        Self {
            metadata: StepMetadata::new::<AwaitVerificationInput>(
                NAME,
                "Waits for the person's verification in the browser (the web process the \
                 verification page creates): wakes on the provider's webhook, reads the process \
                 (GET /v1/processes/{id}/result), and polls only as a fallback (1m, doubling to \
                 10m). Fails with `verification_timeout` after `timeout` (default 24h).",
            )
            .with_default_gate("outputs.status != 'pending'", VERIFICATION_POLL)
            .with_gate_deadline(GateDeadline {
                input: "timeout".to_owned(),
                code: "verification_timeout".to_owned(),
                message: "the person did not complete the verification".to_owned(),
            })
            .repeatable()
            .output(
                "status",
                "`pending` until the person has finished, then `success` or `failure`.",
            )
            .output(
                "reason",
                "Why it failed (`similarity_threshold_not_passed`, `no_face_detected`, \
                 `face_in_blocklist`, ...), or, while pending, why the last photo could not be \
                 used; else null.",
            )
            .output(
                "process_id",
                "The verification's process, once known (null before the person sends a \
                 selfie).",
            )
            .output(
                "confidence_score",
                "How sure the provider is that the selfie shows the enrolled person (0 to 1), \
                 or null.",
            ),
            connection,
        }
    }
}

/// What the attempt waits on: the process, or the account's next one.
enum Target {
    Process(String),
    Account(String),
}

impl Target {
    fn of(input: AwaitVerificationInput) -> Result<Self, StepError> {
        match (
            optional_text(input.process_id),
            optional_text(input.account_id),
        ) {
            (Some(process_id), _) => Ok(Self::Process(process_id)),
            (None, Some(account_id)) => Ok(Self::Account(account_id)),
            (None, None) => Err(StepError::invalid_input(
                "give `account_id` (the account the web token was issued for) or `process_id` \
                 (the verification's process); both are empty",
            )),
        }
    }

    fn event_key(&self) -> String {
        match self {
            Self::Process(process_id) => keys::process(process_id),
            Self::Account(account_id) => keys::account_process(account_id),
        }
    }
}

/// The process id an event carries (`process_id` at the top of its
/// payload, as the idflow server delivers the provider's webhooks).
fn process_of(event: &ReceivedEvent, key: &str) -> Result<String, StepError> {
    event
        .payload
        .get("process_id")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            StepError::terminal(
                "invalid_event",
                format!(
                    "the event received under `{key}` (at {}) has no `process_id` text in its \
                     payload",
                    event.received_at
                ),
            )
        })
}

/// The outputs while nobody has finished the verification.
fn pending() -> Outputs {
    outputs([
        ("status", "pending".into()),
        ("reason", serde_json::Value::Null),
        ("process_id", serde_json::Value::Null),
        ("confidence_score", serde_json::Value::Null),
    ])
}

#[async_trait]
impl Step for AwaitVerificationStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: AwaitVerificationInput = decode_input(input)?;
        let target = Target::of(input)?;
        let key = target.event_key();
        let event = match (&target, ctx.inbox()) {
            (_, Some(_)) => ctx.receive_event(NAME, &key).await?,
            (Target::Process(_), None) => None,
            (Target::Account(_), None) => {
                return Err(StepError::terminal(
                    "no_inbox",
                    format!(
                        "`{NAME}` without `process_id` learns of the verification from the \
                         provider's webhook, which this run cannot receive: give the run an \
                         inbox (`idflow serve` and `idflow run` do), or give `process_id`"
                    ),
                ));
            }
        };
        let process_id = match (target, &event) {
            (Target::Process(process_id), _) => process_id,
            (Target::Account(_), Some(event)) => process_of(event, &key)?,
            (Target::Account(_), None) => return Ok(pending()),
        };
        let client = self.connection.for_attempt(ctx)?;
        let process = client
            .process_result(&process_id)
            .await
            .map_err(provider_failure(ctx, false))?;
        tracing::debug!(
            process_id = %process.process_id,
            status = %process.status,
            woken = event.is_some(),
            "verification read"
        );
        Ok(outputs([
            ("status", process.status.clone().into()),
            ("reason", text_or_null(process.reason())),
            ("process_id", process.process_id.clone().into()),
            (
                "confidence_score",
                process
                    .confidence_score()
                    .map_or(serde_json::Value::Null, Into::into),
            ),
        ]))
    }
}
