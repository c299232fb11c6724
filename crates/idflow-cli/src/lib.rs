//! The library half of the `idflow` binary: what tests and other tools
//! share with it.
//!
//! ## Layout
//! - [`registry`]: the explicit list of step crates this binary ships.

pub mod registry;
