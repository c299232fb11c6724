//! The `face.*` step types, one module per part of the process:
//!
//! - `enrollment`: `face.create_enrollment`, `face.get_enrollment` and
//!   `face.await_enrollment` (the status gate).
//! - `upload`: `face.upload_photo`.
//! - `token`: `face.issue_token`.
//! - `validation`: `face.create_validation` and `face.await_validation`.
//! - `verification`: `face.await_verification` (the person's verification
//!   in the browser, woken by the provider's webhook).
//!
//! Every step decodes its `with`, checks what the schema cannot, takes the
//! client from the [`FaceConnection`](crate::FaceConnection) (adding the API
//! key to the run's redactor), adds every credential it receives to the
//! redactor, and turns provider failures into classified step errors. The
//! helpers below are those shared parts: `creation_key` for creating
//! requests, `provider_failure` for classifying, `received_upload_link`
//! for the links the creating steps hand on, and `listen_for_webhook` for
//! the status gates that wake on the provider's webhooks.

pub mod enrollment;
pub mod token;
pub mod upload;
pub mod validation;
pub mod verification;

use std::time::Duration;

use idflow_core::{Outputs, PollDefaults, StepContext, StepError};

use crate::client::{Credential, ProviderError};

/// The default poll policy of the status gates: 5 s, doubling up to 30 s,
/// 10 minutes in all. Polling is the fallback: a gate registers a wait for
/// the provider's webhook on every attempt ([`listen_for_webhook`]), and
/// the webhook, turned into an event, makes it read the status again at
/// once.
pub const DEFAULT_POLL: PollDefaults = PollDefaults {
    interval: Duration::from_secs(5),
    backoff_factor: 2.0,
    max_interval: Duration::from_secs(30),
    timeout: Duration::from_mins(10),
};

/// The wake-up of a status gate: in a run that can receive outside events,
/// registers (on the first attempt) the step's wait for the event under
/// `key` (see [`crate::webhooks::keys`]), so that the provider's webhook
/// wakes the gate instead of it sleeping until the next poll. The gate
/// reads the status after this whatever happens: what the event says is
/// not used, and a failing inbox only costs the wake-up (logged at debug).
async fn listen_for_webhook(ctx: &StepContext, step_type: &str, key: &str) {
    if ctx.inbox().is_none() {
        return;
    }
    match ctx.receive_event(step_type, key).await {
        Ok(Some(_)) => tracing::debug!(key, "the provider's webhook came"),
        Ok(None) => tracing::debug!(key, "waiting for the provider's webhook"),
        Err(error) => tracing::debug!(
            key,
            error = %error,
            "the run's inbox failed: no wake-up by webhook, the gate polls"
        ),
    }
}

/// Outputs from name/value pairs.
fn outputs<const N: usize>(pairs: [(&str, serde_json::Value); N]) -> Outputs {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// An optional text as an output (`null` when absent).
fn text_or_null(value: Option<&str>) -> serde_json::Value {
    value.map_or(serde_json::Value::Null, Into::into)
}

/// A required id: trimmed, not empty.
fn required_id<'a>(field: &str, value: &'a str) -> Result<&'a str, StepError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(StepError::invalid_input(format!("`{field}` is empty")));
    }
    Ok(value)
}

/// An optional text: trimmed; empty counts as absent (so that
/// `${{ inputs.x }}` of an input not given leaves the field out).
fn optional_text(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// The `Idempotency-Key` of a creating request: the same on every attempt
/// of this step with this form, so that a retry never creates twice.
fn creation_key(ctx: &StepContext, form: &[(&'static str, String)]) -> String {
    let pairs: serde_json::Value = form
        .iter()
        .map(|(name, value)| serde_json::json!([name, value]))
        .collect();
    ctx.idempotency_key(&pairs)
}

/// Turns a provider failure into the step's error, redacted with the run's
/// redactor; with `stop_if_ambiguous`, a failure that may have been carried
/// out upstream is terminal.
fn provider_failure(
    ctx: &StepContext,
    stop_if_ambiguous: bool,
) -> impl FnOnce(ProviderError) -> StepError + '_ {
    move |error| error.to_step_error(ctx.redactor(), stop_if_ambiguous)
}

/// The upload link the provider gave for what it just created (`created`,
/// such as ``enrollment `ENR1` ``), added to the run's redactor; a
/// terminal `invalid_response` when there is none to upload the `photo`
/// (what the user sends: `photo`, `selfie`) to.
fn received_upload_link<'a>(
    ctx: &StepContext,
    link: Option<&'a Credential>,
    created: &str,
    photo: &str,
) -> Result<&'a Credential, StepError> {
    let link = link.ok_or_else(|| {
        StepError::terminal(
            "invalid_response",
            format!(
                "the provider created {created} but gave no `file_upload_link` to upload the \
                 {photo} to"
            ),
        )
    })?;
    ctx.redactor().add(link.expose());
    Ok(link)
}

#[cfg(test)]
mod tests;
