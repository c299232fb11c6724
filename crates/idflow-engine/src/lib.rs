//! # idflow-engine: workflow files in, runs out
//!
//! ## Layout
//! - [`source`]: source files and byte spans.
//! - [`diagnostic`]: located diagnostics with stable codes, rendered with miette.
//! - [`model`]: the validated workflow the executor works from.
//! - [`expr`]: `${{ }}` expressions: parsing, references, evaluation.
//! - [`run`]: running a workflow: the pure state machine (events in, actions
//!   out), the tokio driver that performs its actions, and the run result.
//! - [`validate`]: a file in, a [`model::Workflow`] or every problem in it out.
//! - [`schema`]: the JSON Schema of the format, for editors.
//! - [`graph`]: drawing the step graph (Mermaid, dot, JSON).
//! - [`inputs`]: a run's inputs checked against the declared ones.
//! - [`yaml`]: the YAML loader (the only module that knows the YAML library).
pub mod diagnostic;
pub mod expr;
pub mod graph;
pub mod inputs;
pub mod model;
pub mod run;
pub mod schema;
pub mod source;
pub mod validate;
pub mod yaml;
