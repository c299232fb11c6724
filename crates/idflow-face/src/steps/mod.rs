//! The `face.*` step types, one module per part of the process:
//!
//! - `enrollment`: `face.create_enrollment`, `face.get_enrollment` and
//!   `face.await_enrollment` (the status gate).
//! - `upload`: `face.upload_photo`.
//! - `token`: `face.issue_token`.
//! - `validation`: `face.create_validation` and `face.await_validation`.
//!
//! Every step decodes its `with`, checks what the schema cannot, takes the
//! client from the [`FaceConnection`](crate::FaceConnection) (adding the API
//! key to the run's redactor), adds every credential it receives to the
//! redactor, and turns provider failures into classified step errors.

pub mod enrollment;
pub mod token;
pub mod upload;
pub mod validation;

use std::time::Duration;

use idflow_core::{Outputs, PollDefaults, StepError};

/// The default poll policy of the status gates: 1 s, doubling up to 10 s,
/// 10 minutes in all.
pub const DEFAULT_POLL: PollDefaults = PollDefaults {
    interval: Duration::from_secs(1),
    backoff_factor: 2.0,
    max_interval: Duration::from_secs(10),
    timeout: Duration::from_mins(10),
};

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

#[cfg(test)]
mod tests;
