//! The run metrics, through the [`metrics`] facade: every name and label
//! is here, so they can be found in one place. Nothing here installs a
//! recorder: the `idflow` binary installs the Prometheus one (and serves
//! it at `/metrics`); without a recorder every call does nothing, and a
//! test may install a local one.
//!
//! Labels are bounded: workflow names (from the workflows offered or the
//! store), step types (from the registry), statuses and outcomes (fixed
//! lists); never a run id or an input.

use time::OffsetDateTime;

use super::store::{DueSummary, RunPhase};

/// Runs recorded (`workflow`, `via`: `api`, `cli` or `library`).
pub const RUNS_STARTED: &str = "idflow_runs_started_total";
/// Runs finished (`workflow`, `status`: `succeeded`, `failed`,
/// `cancelled`).
pub const RUNS_FINISHED: &str = "idflow_runs_finished_total";
/// How long attempts took, in seconds (`step_type`, `outcome`:
/// `succeeded`, `failed`, `timed_out`).
pub const ATTEMPT_DURATION: &str = "idflow_attempt_duration_seconds";
/// Runs due now that no process executes yet (read from the store when
/// scraped).
pub const DUE_RUNS: &str = "idflow_due_runs";
/// How long the oldest of those has been due, in seconds (0 when none).
pub const DUE_OLDEST_AGE: &str = "idflow_due_oldest_age_seconds";

/// The buckets of [`ATTEMPT_DURATION`], from a quick local step to a slow
/// provider call.
pub const ATTEMPT_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartedVia {
    /// `POST /api/v1/runs`.
    Api,
    /// `idflow run` in its own process.
    Cli,
    /// Anything else using the engine.
    #[default]
    Library,
}

impl StartedVia {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Cli => "cli",
            Self::Library => "library",
        }
    }
}

/// Says what each metric is (to the recorder installed now).
pub fn describe() {
    metrics::describe_counter!(
        RUNS_STARTED,
        "Runs recorded, by workflow and by who started them."
    );
    metrics::describe_counter!(RUNS_FINISHED, "Runs finished, by workflow and status.");
    metrics::describe_histogram!(
        ATTEMPT_DURATION,
        metrics::Unit::Seconds,
        "How long step attempts took, by step type and outcome."
    );
    metrics::describe_gauge!(DUE_RUNS, "Runs due now that no process executes yet.");
    metrics::describe_gauge!(
        DUE_OLDEST_AGE,
        metrics::Unit::Seconds,
        "How long the oldest due run has waited to be claimed."
    );
}

pub(crate) fn run_started(workflow: &str, via: StartedVia) {
    metrics::counter!(RUNS_STARTED, "workflow" => workflow.to_owned(), "via" => via.as_str())
        .increment(1);
}

pub(crate) fn run_finished(workflow: &str, phase: RunPhase) {
    metrics::counter!(RUNS_FINISHED, "workflow" => workflow.to_owned(), "status" => phase.as_str())
        .increment(1);
}

pub(crate) fn attempt_ended(step_type: &str, outcome: &'static str, seconds: f64) {
    metrics::histogram!(ATTEMPT_DURATION, "step_type" => step_type.to_owned(), "outcome" => outcome)
        .record(seconds);
}

/// Sets the due-work gauges from a store's [`DueSummary`] at `now`.
pub fn record_due(summary: DueSummary, now: OffsetDateTime) {
    #[allow(
        clippy::cast_precision_loss,
        reason = "a count of runs, far below 2^52"
    )]
    metrics::gauge!(DUE_RUNS).set(summary.waiting as f64);
    let age = summary
        .oldest
        .map_or(0.0, |oldest| (now - oldest).as_seconds_f64().max(0.0));
    metrics::gauge!(DUE_OLDEST_AGE).set(age);
}
