//! # idflow-steps: the built-in `core.*` steps
//!
//! The step types every workflow can use without any plugin: logging,
//! waiting, failing on purpose, naming values, one HTTP request, and
//! waiting for an outside event.
//!
//! ## Layout
//! - [`log`]: `core.log`, writes a (redacted) message to the run's log.
//! - [`sleep`]: `core.sleep`, waits for a duration.
//! - [`fail`]: `core.fail`, ends the step with a terminal error.
//! - [`set`]: `core.set`, turns its `with` values into outputs.
//! - [`http`]: `core.http`, one HTTP request with retryable/terminal error
//!   classification.
//! - [`await_event`]: `core.await_event`, waits for an event sent under a
//!   key (parked in the store while it waits, woken by the event).
//! - [`register`]: adds all of them to a [`StepRegistry`].
//!
//! ## Use
//! ```
//! let mut registry = idflow_core::StepRegistry::new();
//! idflow_steps::register(&mut registry).unwrap();
//! assert!(registry.get("core.http").is_some());
//! ```

pub mod await_event;
pub mod fail;
pub mod http;
pub mod log;
pub mod set;
pub mod sleep;

use idflow_core::{RegistryError, StepRegistry};

pub use await_event::AwaitEventStep;
pub use fail::FailStep;
pub use http::{HttpOptions, HttpStep, USER_AGENT};
pub use log::LogStep;
pub use set::SetStep;
pub use sleep::SleepStep;

/// Registers every built-in `core.*` step type: `core.fail`, `core.http`,
/// `core.log`, `core.set` and `core.sleep`.
///
/// `core.http` gets one shared HTTP client, built here, with the default
/// [`HttpOptions`].
pub fn register(registry: &mut StepRegistry) -> Result<(), RegistryError> {
    registry.register(LogStep::new())?;
    registry.register(SleepStep::new())?;
    registry.register(FailStep::new())?;
    registry.register(SetStep::new())?;
    registry.register(HttpStep::new(HttpOptions::default()))?;
    registry.register(AwaitEventStep::new())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_exactly_the_six_core_steps() {
        let mut registry = StepRegistry::new();
        register(&mut registry).unwrap();
        assert_eq!(
            registry.names().collect::<Vec<_>>(),
            [
                "core.await_event",
                "core.fail",
                "core.http",
                "core.log",
                "core.set",
                "core.sleep"
            ]
        );
    }

    #[test]
    fn input_schemas_refuse_unknown_keys_except_core_set() {
        let mut registry = StepRegistry::new();
        register(&mut registry).unwrap();
        for (name, step) in registry.iter() {
            let metadata = step.metadata();
            assert!(!metadata.description.is_empty(), "{name}");
            let schema = &metadata.input_schema;
            assert_eq!(schema["type"], "object", "{name}: {schema}");
            let expected = serde_json::Value::Bool(name == "core.set");
            assert_eq!(schema["additionalProperties"], expected, "{name}: {schema}");
            assert_eq!(metadata.dynamic_outputs, name == "core.set", "{name}");
            // Every declared input has a description: it is the editor's help.
            if let Some(properties) = schema["properties"].as_object() {
                for (key, property) in properties {
                    assert!(
                        property["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{name}.{key}: {property}"
                    );
                }
            }
        }
    }

    #[test]
    fn registering_twice_is_refused() {
        let mut registry = StepRegistry::new();
        register(&mut registry).unwrap();
        assert_eq!(
            register(&mut registry),
            Err(RegistryError::Duplicate("core.log".into()))
        );
    }
}
