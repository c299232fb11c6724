//! Integration tests of the provider over real HTTP on `127.0.0.1:0`, with a
//! real SQLite database in a temporary directory and the real face engine on
//! the photos `scripts/setup` puts in `.cache/`.

// Helpers are test code too: a failed unwrap is a failed test, as clippy.toml
// already allows inside #[test] functions.
#![allow(clippy::unwrap_used)]

mod api;
mod connections;
mod faces;
mod persistence;
mod support;
mod web;
