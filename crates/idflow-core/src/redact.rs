//! Keeping secret values out of logs, errors and run results.
//!
//! The engine seeds a [`Redactor`] with the values of the workflow's
//! declared secrets; steps add the credentials they receive at run time
//! (an API key, an upload link). Anything shown to a person passes through
//! [`Redactor::redact`] first.

use std::sync::{Arc, RwLock};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secret values shorter than this are not redacted: replacing every `1` or
/// `a` in a log line would destroy it and protect nothing.
pub const MIN_SECRET_LEN: usize = 4;

/// A shared, growable set of secret values. Cloning shares the set.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.secrets.read().map_or(0, |secrets| secrets.len());
        f.debug_struct("Redactor").field("secrets", &count).finish()
    }
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret value; every later [`Redactor::redact`] hides it.
    pub fn add(&self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        let mut secrets = self
            .secrets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !secrets.contains(&secret) {
            secrets.push(secret);
            // Longest first, so that a secret containing another one is
            // replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Whether no secret is known.
    pub fn is_empty(&self) -> bool {
        self.secrets
            .read()
            .map_or(true, |secrets| secrets.is_empty())
    }

    /// `text` with every known secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let secrets = self
            .secrets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = text.to_owned();
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// A copy of `value` with every string (keys included) redacted.
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.redact(k), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_every_occurrence_and_the_longest_first() {
        let redactor = Redactor::new();
        redactor.add("s3cr3t");
        redactor.add("s3cr3t-and-more");
        assert_eq!(
            redactor.redact("a s3cr3t-and-more b s3cr3t"),
            "a [redacted] b [redacted]"
        );
    }

    #[test]
    fn short_values_are_not_treated_as_secrets() {
        let redactor = Redactor::new();
        redactor.add("ab");
        assert!(redactor.is_empty());
        assert_eq!(redactor.redact("abc"), "abc");
    }

    #[test]
    fn redacts_nested_json_keys_and_values() {
        let redactor = Redactor::new();
        redactor.add("tok-123");
        let value = serde_json::json!({"a": ["x tok-123"], "tok-123": 1});
        assert_eq!(
            redactor.redact_json(&value),
            serde_json::json!({"a": ["x [redacted]"], "[redacted]": 1})
        );
    }

    #[test]
    fn clones_share_the_set() {
        let redactor = Redactor::new();
        let clone = redactor.clone();
        clone.add("later-secret");
        assert_eq!(redactor.redact("later-secret"), "[redacted]");
    }
}
