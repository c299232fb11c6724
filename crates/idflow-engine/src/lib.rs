//! # idflow-engine: workflow files in, runs out
//!
//! ## Layout
//! - [`source`]: source files and byte spans.
//! - [`diagnostic`]: located diagnostics with stable codes, rendered with miette.
//! - [`model`]: the validated workflow the executor works from.
//! - [`expr`]: `${{ }}` expressions: parsing, references, evaluation.
//! - [`yaml`]: the YAML loader (the only module that knows the YAML library).
pub mod diagnostic;
pub mod expr;
pub mod model;
pub mod source;
pub mod yaml;
