//! The secret values a run may read, kept out of `Debug` output.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

/// Secret values by name (`secrets.<name>` in expressions). Cloning shares
/// them; `Debug` shows the names only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    values: Arc<BTreeMap<String, String>>,
}

/// No secrets, shared (most runs have none: they allocate nothing).
static NONE: LazyLock<Arc<BTreeMap<String, String>>> = LazyLock::new(Arc::default);

impl Default for Secrets {
    fn default() -> Self {
        Self {
            values: Arc::clone(&NONE),
        }
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a secret.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every value (to seed a [`idflow_core::Redactor`]).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.values().map(String::as_str)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// As the JSON object expressions read.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .iter()
                .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
                .collect(),
        )
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Secrets {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            values: Arc::new(
                iter.into_iter()
                    .map(|(name, value)| (name.into(), value.into()))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let secrets: Secrets = [("api_key", "sk-live-123")].into_iter().collect();
        let shown = format!("{secrets:?}");
        assert!(
            shown.contains("api_key") && !shown.contains("sk-live-123"),
            "{shown}"
        );
        assert_eq!(secrets.get("api_key"), Some("sk-live-123"));
        assert_eq!(secrets.to_json()["api_key"], "sk-live-123");
    }
}
