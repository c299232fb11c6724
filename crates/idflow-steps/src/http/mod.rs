//! `core.http`: one HTTP request, with its errors classified as retryable
//! (connection errors, timeouts, 5xx, 429 with `Retry-After`) or terminal
//! (bad input, other unexpected statuses, a response too large).
//!
//! - `input`: the typed `with` and its checks (one body kind, valid URL,
//!   headers and expected statuses).
//! - `step`: the step type, its shared client and the request itself.
//! - `response`: reading a response (size-capped) into outputs.
//! - `failure`: turning transport errors and unexpected statuses into
//!   [`idflow_core::StepError`]s, with redacted URLs and body excerpts.

mod failure;
mod input;
mod response;
mod step;

pub use input::{ExpectStatus, HttpInput, HttpMethod, Scalar};
pub use step::{HttpOptions, HttpStep, USER_AGENT};
