//! Actions: what the machine asks the driver to do, and the states steps
//! and runs go through.

use std::time::Duration;

use idflow_core::{Outputs, StepError};
use serde::{Deserialize, Serialize};

use super::event::TimerId;
use crate::model::StepIndex;

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not started yet: waiting for its `needs`, or for a free slot.
    Pending,
    /// An attempt is running.
    Running,
    /// Waiting before the next attempt (retry backoff or poll interval).
    Waiting,
    /// Finished with outputs.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Never ran: its `if` said no, or a step before it failed or was
    /// skipped.
    Skipped,
    /// Stopped or never started because the run was cancelled or timed out.
    Cancelled,
}

impl StepState {
    /// Whether the step will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StepState::Succeeded | StepState::Failed | StepState::Skipped | StepState::Cancelled
        )
    }

    /// The name, as `steps.<id>.status` and the run result give it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Waiting => "waiting",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a step waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The last attempt failed with a retryable error.
    Retry,
    /// The last attempt succeeded but its `until` is still false.
    Poll,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step succeeded, was skipped, or failed under
    /// `continue_on_error`, and the outputs evaluated.
    Succeeded,
    /// A step failed, the run timed out, or an output failed to evaluate.
    Failed,
    /// The run was cancelled.
    Cancelled,
}

impl RunStatus {
    /// The name, as the run result gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended, with its outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Succeeded, failed or cancelled.
    pub status: RunStatus,
    /// The run's `outputs`, evaluated at the end (an output that failed to
    /// evaluate is `null`).
    pub outputs: Outputs,
    /// What failed the run when no step did: `run_timeout`, or an
    /// `expression` error in an output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Run an attempt of a step with this input; report
    /// [`AttemptStarted`](super::EventKind::AttemptStarted) when it is
    /// under way, then its end. When `timeout` is given, cancel the attempt
    /// after that long and report
    /// [`AttemptTimedOut`](super::EventKind::AttemptTimedOut).
    StartAttempt {
        /// The step.
        step: StepIndex,
        /// The attempt (1-based).
        attempt: u32,
        /// The step's `with`, evaluated.
        input: serde_json::Value,
        /// The attempt's time limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<Duration>,
    },
    /// Drop the running attempt (its outcome no longer matters).
    CancelAttempt {
        /// The step.
        step: StepIndex,
        /// The attempt.
        attempt: u32,
    },
    /// Report [`TimerFired`](super::EventKind::TimerFired) after `after`.
    ScheduleTimer {
        /// Which timer.
        timer: TimerId,
        /// How long from now.
        after: Duration,
    },
    /// Forget a timer.
    CancelTimer {
        /// Which timer.
        timer: TimerId,
    },
    /// A step changed state (for progress displays; nothing to perform).
    StepChanged {
        /// The step.
        step: StepIndex,
        /// Its new state.
        state: StepState,
        /// Attempts started so far.
        attempt: u32,
    },
    /// The run is over; nothing more will happen. (Boxed: actions are
    /// buffered, and this one is rare and large.)
    FinishRun(Box<RunOutcome>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_their_names() {
        for state in [
            StepState::Pending,
            StepState::Running,
            StepState::Waiting,
            StepState::Succeeded,
            StepState::Failed,
            StepState::Skipped,
            StepState::Cancelled,
        ] {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::Value::String(state.as_str().to_owned())
            );
            assert_eq!(
                state.is_finished(),
                !matches!(
                    state,
                    StepState::Pending | StepState::Running | StepState::Waiting
                )
            );
        }
        assert_eq!(
            serde_json::to_value(RunStatus::Cancelled).unwrap(),
            "cancelled"
        );
    }
}
