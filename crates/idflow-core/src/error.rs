//! Step errors: what went wrong, and whether trying again could help.

use std::time::Duration;

/// Whether the engine may retry the attempt that produced an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A transient failure (timeout, connection error, 5xx, 429): the step's
    /// `retry` policy applies.
    Retryable,
    /// A failure that will not go away by trying again (bad input, 4xx, a
    /// deliberate `core.fail`): never retried.
    Terminal,
}

/// The error a step attempt ends with.
///
/// `code` is a short, stable, machine-readable word (`timeout`,
/// `connection`, `http_status`, `invalid_input`, ...) that workflows and
/// tests can match on; `message` is for people and must never contain a
/// secret (use [`crate::Redactor`] on anything echoed from outside).
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}")]
pub struct StepError {
    /// Retryable or terminal.
    pub class: ErrorClass,
    /// A stable machine-readable code.
    pub code: String,
    /// What happened, for people.
    pub message: String,
    /// How long the other side asked us to wait before trying again
    /// (HTTP `Retry-After`), when it said so.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_millis")]
    pub retry_after: Option<Duration>,
    /// Structured details (a provider's error body, the last outputs of a
    /// poll that timed out, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl StepError {
    /// A failure that may succeed when tried again.
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Retryable,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }

    /// A failure that trying again will not fix.
    pub fn terminal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Terminal,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }

    /// The step's `with` values do not fit its input type.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::terminal("invalid_input", message)
    }

    /// Adds a `Retry-After` hint.
    #[must_use]
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Adds structured details.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Whether the engine may try again.
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `with` hands a reference to the field, so the signature is fixed.
    #[allow(clippy::ref_option)]
    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => {
                serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
            }
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_kept_apart() {
        assert!(StepError::retryable("timeout", "took too long").is_retryable());
        assert!(!StepError::terminal("http_status", "404").is_retryable());
        assert_eq!(StepError::invalid_input("x").code, "invalid_input");
    }

    #[test]
    fn round_trips_through_json_with_retry_after() {
        let error = StepError::retryable("http_status", "429 Too Many Requests")
            .with_retry_after(Duration::from_secs(3));
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json["retry_after"], 3000);
        assert_eq!(json["class"], "retryable");
        let back: StepError = serde_json::from_value(json).unwrap();
        assert_eq!(back, error);
    }
}
