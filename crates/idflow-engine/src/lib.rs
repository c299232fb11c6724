//! Loads, validates and plans workflow files, and runs them.
