//! # idflow-core: the step plugin API
//!
//! Everything a step plugin author needs, and nothing more. A step crate
//! depends on this crate only; it never sees the engine's internals.
//!
//! ## Layout
//! - [`step`]: the [`Step`] trait and its [`StepMetadata`] (name, description,
//!   input JSON Schema, outputs, default status gate).
//! - [`context`]: the [`StepContext`] an attempt runs with (run id, step id,
//!   attempt number, redaction of secrets).
//! - [`error`]: [`StepError`], which says whether a failure is retryable or
//!   terminal.
//! - [`registry`]: the explicit [`StepRegistry`]; every step crate exposes a
//!   `register(&mut StepRegistry)` function.
//! - [`duration`]: durations as workflows write them (`500ms`, `2s`, `5m`).
//! - [`redact`]: the [`Redactor`] that keeps secret values out of anything a
//!   person can see.
//! - [`inbox`]: the [`Inbox`] of outside events a step waits for (an event
//!   sent under a key wakes the run whose step waits for that key).
//! - [`http`]: HTTP conventions shared by steps that call services (which
//!   statuses are retryable, `Retry-After`).
//!
//! ## Writing a step
//! ```
//! use async_trait::async_trait;
//! use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, StepRegistry};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct GreetInput {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! struct Greet {
//!     metadata: StepMetadata,
//! }
//!
//! #[async_trait]
//! impl Step for Greet {
//!     fn metadata(&self) -> &StepMetadata {
//!         &self.metadata
//!     }
//!
//!     async fn run(&self, _ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
//!         let input: GreetInput = idflow_core::decode_input(input)?;
//!         let mut outputs = Outputs::new();
//!         outputs.insert("greeting".into(), format!("hello {}", input.name).into());
//!         Ok(outputs)
//!     }
//! }
//!
//! let mut registry = StepRegistry::new();
//! registry
//!     .register(Greet {
//!         metadata: StepMetadata::new::<GreetInput>("demo.greet", "Greets someone.")
//!             .output("greeting", "The greeting."),
//!     })
//!     .unwrap();
//! assert!(registry.get("demo.greet").is_some());
//! ```

pub mod context;
pub mod duration;
pub mod error;
pub mod http;
pub mod inbox;
pub mod redact;
pub mod registry;
pub mod step;

pub use context::StepContext;
pub use duration::{DurationError, format_duration, parse_duration};
pub use error::{ErrorClass, StepError};
pub use inbox::{Inbox, ReceivedEvent, WaitFor};
pub use redact::Redactor;
pub use registry::{RegistryError, StepRegistry};
pub use step::{
    GateDeadline, OutputSpec, PollDefaults, Step, StepMetadata, decode_input, input_schema_for,
};

/// The outputs of one step attempt: a JSON object, in insertion order.
pub type Outputs = serde_json::Map<String, serde_json::Value>;
