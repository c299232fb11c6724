//! Keeping secret values out of logs, errors and run results: the last
//! net.
//!
//! The first line of defence is the engine's whole-value rule: a value
//! computed from a secret or a sensitive output may only flow into a step's
//! credential inputs (anything else is a validation error), and a value the
//! engine cannot vouch for is replaced whole at run time. What is left for
//! string matching is text a step or a service builds from a credential it
//! holds (an error message, an echoed header).
//!
//! The engine seeds a [`Redactor`] with the values of the workflow's
//! declared secrets and the credential inputs it passes to steps; steps add
//! the credentials they receive or create (an API key, an upload link).
//! Anything shown to a person passes through [`Redactor::redact`] first.
//!
//! Secrets of any length are kept, but how they are matched depends on it:
//! - a secret of [`SUBSTRING_MIN_CHARS`] characters or more is replaced
//!   wherever it occurs in a text;
//! - a shorter one replaces a text that is exactly the secret. Replacing
//!   every `a` inside longer text would wreck every message and, worse,
//!   show the secret by the shape of the gaps. Text that may quote a
//!   credential (what a step that received one reports, and anything read
//!   from it) goes through a [`Redactor::strict`] view instead, which hides
//!   the whole text when a short secret occurs in it.

use std::sync::{Arc, RwLock};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets at least this many characters long are replaced wherever they
/// occur; shorter ones only where they are a whole text (see the module
/// documentation).
pub const SUBSTRING_MIN_CHARS: usize = 4;

/// A shared, growable set of secret values. Cloning shares the set.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Known>>,
    /// This view hides a whole text that contains a short secret.
    strict: bool,
}

/// The known secrets, split by how they are matched.
#[derive(Default)]
struct Known {
    /// Replaced wherever they occur, longest first (a secret containing
    /// another one is replaced whole).
    long: Vec<String>,
    /// Shorter than [`SUBSTRING_MIN_CHARS`].
    short: Vec<String>,
}

impl Known {
    fn len(&self) -> usize {
        self.long.len() + self.short.len()
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.secrets.read().map_or(0, |secrets| secrets.len());
        f.debug_struct("Redactor")
            .field("secrets", &count)
            .field("strict", &self.strict)
            .finish()
    }
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// A view of the same set that also hides, whole, any text in which a
    /// short secret occurs: for text that may quote a credential. Secrets
    /// added through either are known to both.
    #[must_use]
    pub fn strict(&self) -> Self {
        Self {
            secrets: Arc::clone(&self.secrets),
            strict: true,
        }
    }

    /// Whether this is a [`Redactor::strict`] view.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Adds a secret value (any length but zero); every later
    /// [`Redactor::redact`] hides it.
    pub fn add(&self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.is_empty() {
            return;
        }
        let mut secrets = self
            .secrets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let list = if secret.chars().count() >= SUBSTRING_MIN_CHARS {
            &mut secrets.long
        } else {
            &mut secrets.short
        };
        if !list.contains(&secret) {
            list.push(secret);
            list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Adds every text, number and boolean inside `value` (a credential
    /// that arrives as JSON: a sensitive output, a secret input).
    pub fn add_leaves(&self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(text) => self.add(text.as_str()),
            serde_json::Value::Number(number) => self.add(number.to_string()),
            serde_json::Value::Bool(flag) => self.add(flag.to_string()),
            serde_json::Value::Array(items) => items.iter().for_each(|item| self.add_leaves(item)),
            serde_json::Value::Object(map) => map.values().for_each(|item| self.add_leaves(item)),
            serde_json::Value::Null => {}
        }
    }

    /// Whether no secret is known.
    pub fn is_empty(&self) -> bool {
        self.secrets
            .read()
            .map_or(true, |secrets| secrets.len() == 0)
    }

    fn known(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        self.secrets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `text` with every long secret replaced by [`REDACTED`], or
    /// [`REDACTED`] alone when the text (spaces around aside) is a secret,
    /// or, in a [`Redactor::strict`] view, when a short secret occurs in
    /// it.
    pub fn redact(&self, text: &str) -> String {
        let known = self.known();
        let trimmed = text.trim();
        let whole = |secret: &String| secret == text || secret == trimmed;
        if known.long.iter().any(whole)
            || known.short.iter().any(whole)
            || (self.strict
                && known
                    .short
                    .iter()
                    .any(|secret| text.contains(secret.as_str())))
        {
            return REDACTED.to_owned();
        }
        replace_long(&known.long, text)
    }

    /// A copy of `value` with every string (keys included) redacted; in a
    /// [`Redactor::strict`] view, a number or boolean that is a known
    /// secret (`16`, the length of a secret a service echoed back) too.
    pub fn redact_json(&self, value: &serde_json::Value) -> serde_json::Value {
        if self.is_empty() {
            return value.clone();
        }
        self.map_leaves(value)
    }

    fn map_leaves(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Number(_) | Value::Bool(_) if self.strict => {
                if self.redact(&value.to_string()) == REDACTED {
                    Value::String(REDACTED.to_owned())
                } else {
                    value.clone()
                }
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.map_leaves(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.redact(k), self.map_leaves(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

fn replace_long(long: &[String], text: &str) -> String {
    let mut out = text.to_owned();
    for secret in long {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
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
    fn short_secrets_hide_a_whole_text_not_letters_inside_text() {
        let redactor = Redactor::new();
        redactor.add("ab");
        redactor.add("ж");
        redactor.add("");
        assert!(!redactor.is_empty());
        assert_eq!(redactor.redact("ab"), REDACTED);
        assert_eq!(redactor.redact(" ж\n"), REDACTED);
        // Inside longer text a short secret is left alone by `redact`...
        assert_eq!(redactor.redact("abc"), "abc");
        // ...and hides the whole text in a strict view.
        assert_eq!(redactor.strict().redact("the key abc"), REDACTED);
        assert_eq!(redactor.strict().redact("уж"), REDACTED);
        assert_eq!(redactor.strict().redact("nothing here"), "nothing here");
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let redactor = Redactor::new();
        // Four characters, eight bytes: long, so replaced inside text.
        redactor.add("жжжж");
        assert_eq!(redactor.redact("a жжжж b"), "a [redacted] b");
        // Three characters, six bytes: short.
        let redactor = Redactor::new();
        redactor.add("жжж");
        assert_eq!(redactor.redact("a жжж b"), "a жжж b");
    }

    #[test]
    fn redacts_nested_json_keys_and_values() {
        let redactor = Redactor::new();
        redactor.add("tok-123");
        redactor.add("q");
        let value = serde_json::json!({"a": ["x tok-123", "q"], "tok-123": 1, "kk": "ok"});
        assert_eq!(
            redactor.redact_json(&value),
            serde_json::json!({"a": ["x [redacted]", "[redacted]"], "[redacted]": 1, "kk": "ok"})
        );
        redactor.add("16");
        let value = serde_json::json!({"a": ["x tok-123", "aqua"], "b": "kept", "n": 16, "m": 17});
        assert_eq!(
            redactor.strict().redact_json(&value),
            serde_json::json!({"a": ["x [redacted]", "[redacted]"], "b": "kept", "n": "[redacted]", "m": 17})
        );
        // Plain redaction leaves numbers alone.
        assert_eq!(redactor.redact_json(&value)["n"], 16);
    }

    #[test]
    fn clones_share_the_set() {
        let redactor = Redactor::new();
        let clone = redactor.clone();
        clone.add("later-secret");
        assert_eq!(redactor.redact("later-secret"), "[redacted]");
    }
}
