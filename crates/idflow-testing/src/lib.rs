//! # idflow-testing: workflow tests written in YAML
//!
//! A `*.test.yaml` file names a workflow and holds cases: inputs, secrets,
//! mocked answers for steps (by step id or by step type, one per attempt),
//! and what the run must do. `idflow test` runs every case on the engine's
//! own state machine with a virtual clock, so retries, backoff, polls and
//! timeouts take no time and no real service is ever called. The format is
//! documented in `docs/workflow-tests.md`.
//!
//! ## Layout
//! - [`case`]: the test-file model ([`TestFile`], [`Case`], mocks,
//!   expectations) and its key lists.
//! - [`load`]: reading a test file with the workflow loader (located
//!   diagnostics, stable codes), then checking it against the workflow.
//! - [`simulate`]: running a case: the [`Machine`](idflow_engine::run::Machine)
//!   driven on a virtual clock with mocked steps.
//! - [`trace`]: what a run did, step by step and attempt by attempt.
//! - [`expect`]: expectations checked against a trace.
//! - [`snapshot`]: traces kept in insta `.snap` files.
//! - [`coverage`]: steps and `if` branches no case reached.
//! - [`export`]: a recorded run (its events) turned into a test case, with
//!   credentials replaced by placeholders.
//! - [`suite`]: finding test files and running them all.
//! - [`report`]: the results for people, as JSON, and as JUnit XML.
//! - [`schema`]: the JSON Schema of the test-file format, for editors.

pub mod case;
pub mod coverage;
pub mod expect;
pub mod export;
pub mod load;
pub mod report;
pub mod schema;
pub mod simulate;
pub mod snapshot;
pub mod suite;
pub mod trace;

pub use case::{Case, TestFile};
pub use suite::{Options, Suite, SuiteReport, find_test_files};
