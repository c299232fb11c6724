//! The explicit registry of step types.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{Step, StepMetadata};

/// A registration that could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two step types with one name.
    #[error("step type `{0}` is registered twice")]
    Duplicate(String),
    /// A name that workflows could not use.
    #[error(
        "step type name `{0}` is not of the form `namespace.name` (lowercase letters, digits and `_`)"
    )]
    InvalidName(String),
}

/// Step types by name. Nothing registers itself: the binary (or a test)
/// builds the registry by calling each step crate's `register` function, so
/// what a workflow may use is always visible in one place.
#[derive(Clone, Default)]
pub struct StepRegistry {
    steps: BTreeMap<String, Arc<dyn Step>>,
}

impl std::fmt::Debug for StepRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.steps.keys()).finish()
    }
}

impl StepRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step type under the name its metadata gives.
    pub fn register(&mut self, step: impl Step) -> Result<(), RegistryError> {
        self.register_arc(Arc::new(step))
    }

    /// Adds a shared step type.
    pub fn register_arc(&mut self, step: Arc<dyn Step>) -> Result<(), RegistryError> {
        let name = step.metadata().name.clone();
        if !is_valid_step_name(&name) {
            return Err(RegistryError::InvalidName(name));
        }
        if self.steps.contains_key(&name) {
            return Err(RegistryError::Duplicate(name));
        }
        self.steps.insert(name, step);
        Ok(())
    }

    /// The step type of that name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Step>> {
        self.steps.get(name)
    }

    /// The metadata of that step type.
    pub fn metadata(&self, name: &str) -> Option<&StepMetadata> {
        self.steps.get(name).map(|step| step.metadata())
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.steps.keys().map(String::as_str)
    }

    /// Every registered step type, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<dyn Step>)> {
        self.steps.iter().map(|(name, step)| (name.as_str(), step))
    }

    /// How many step types are registered.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// `namespace.name`, each part lowercase ASCII letters, digits and `_`,
/// starting with a letter.
fn is_valid_step_name(name: &str) -> bool {
    let mut parts = name.split('.');
    let valid_part = |part: &str| {
        part.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    matches!((parts.next(), parts.next(), parts.next()), (Some(ns), Some(n), None) if valid_part(ns) && valid_part(n))
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::{Outputs, StepContext, StepError};

    struct Noop(StepMetadata);

    #[async_trait]
    impl Step for Noop {
        fn metadata(&self) -> &StepMetadata {
            &self.0
        }
        async fn run(&self, _: &StepContext, _: serde_json::Value) -> Result<Outputs, StepError> {
            Ok(Outputs::new())
        }
    }

    fn noop(name: &str) -> Noop {
        Noop(StepMetadata::new::<serde_json::Value>(name, "does nothing"))
    }

    #[test]
    fn registers_and_finds_by_name() {
        let mut registry = StepRegistry::new();
        registry.register(noop("test.b")).unwrap();
        registry.register(noop("test.a")).unwrap();
        assert_eq!(registry.names().collect::<Vec<_>>(), ["test.a", "test.b"]);
        assert_eq!(
            registry.metadata("test.a").unwrap().description,
            "does nothing"
        );
        assert!(registry.get("test.c").is_none());
    }

    #[test]
    fn refuses_duplicates_and_bad_names() {
        let mut registry = StepRegistry::new();
        registry.register(noop("test.a")).unwrap();
        assert_eq!(
            registry.register(noop("test.a")),
            Err(RegistryError::Duplicate("test.a".into()))
        );
        for bad in ["nodot", "Test.a", "a.b.c", ".a", "a.", "a.B", "1a.b"] {
            assert_eq!(
                registry.register(noop(bad)),
                Err(RegistryError::InvalidName(bad.into())),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_registered_step_runs() {
        let mut registry = StepRegistry::new();
        registry.register(noop("test.a")).unwrap();
        let step = registry.get("test.a").unwrap();
        let outputs = step
            .run(&StepContext::new("r", "s", 1), serde_json::json!({}))
            .await
            .unwrap();
        assert!(outputs.is_empty());
    }
}
