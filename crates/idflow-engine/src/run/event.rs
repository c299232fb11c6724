//! Events: everything that happens to a run, in the order it happened.
//!
//! Every change of a run's state follows from an event, and the
//! [`Machine`](super::Machine) is deterministic, so the list of events is
//! the run's log: [`Machine::replay`](super::Machine::replay) rebuilds the
//! same state from it. Events are serde-serializable; times are monotonic
//! offsets from the start of the run (never wall-clock readings), stored
//! in nanoseconds so that a replay from JSON sees exactly the same numbers.
//!
//! Step outputs in [`EventKind::AttemptSucceeded`] are kept as the step
//! returned them (a later step may need them), so a stored log is as
//! sensitive as the run's secrets.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use idflow_core::{Outputs, StepError};
use serde::{Deserialize, Serialize};

use crate::model::StepIndex;

/// A timer the machine scheduled (a retry backoff or a poll interval). The
/// driver treats it as opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimerId {
    /// The step that waits for it.
    pub step: StepIndex,
    /// A number unique in the run.
    pub seq: u32,
}

/// One thing that happened to a run, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When, since the run started (monotonic).
    #[serde(rename = "at_ns", with = "nanos")]
    pub at: Duration,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// An event at `at`.
    pub fn new(at: Duration, kind: EventKind) -> Self {
        Self { at, kind }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The run started. Always the first event.
    RunStarted {
        /// The workflow's name (a replay checks it).
        workflow: String,
        /// The run's id (`run.id`).
        run_id: String,
        /// The inputs, defaults applied (`inputs.*`).
        inputs: Arc<serde_json::Value>,
        /// Seeds the jitter of retry waits, so that a replay waits the same.
        seed: u64,
        /// At most this many attempts run at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<NonZeroU32>,
    },
    /// The driver started an attempt the machine asked for.
    AttemptStarted {
        /// The step.
        step: StepIndex,
        /// The attempt (1-based).
        attempt: u32,
    },
    /// An attempt returned outputs.
    AttemptSucceeded {
        /// The step.
        step: StepIndex,
        /// The attempt.
        attempt: u32,
        /// What it returned.
        outputs: Arc<Outputs>,
    },
    /// An attempt returned an error.
    AttemptFailed {
        /// The step.
        step: StepIndex,
        /// The attempt.
        attempt: u32,
        /// The error (retryable or terminal).
        error: StepError,
    },
    /// An attempt ran past the step's `timeout` and was cancelled.
    AttemptTimedOut {
        /// The step.
        step: StepIndex,
        /// The attempt.
        attempt: u32,
    },
    /// The process running an attempt stopped (a crash, a kill) before the
    /// attempt ended; recorded when the run is resumed.
    AttemptInterrupted {
        /// The step.
        step: StepIndex,
        /// The attempt.
        attempt: u32,
        /// The attempt had been reported as started (its step may have
        /// acted); otherwise it never began and simply starts again.
        started: bool,
        /// The step type says an attempt is safe to repeat (a read, a pure
        /// step): it starts again without counting as a failure.
        repeatable: bool,
    },
    /// A timer the machine scheduled expired.
    TimerFired {
        /// Which.
        timer: TimerId,
    },
    /// The run ran past the workflow's `timeout`.
    RunTimedOut,
    /// Someone asked to cancel the run.
    CancelRequested {
        /// Stop everything now, without running cleanup steps (a second
        /// request is forced too).
        #[serde(default)]
        force: bool,
    },
}

mod nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        Ok(Duration::from_nanos(u64::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let mut outputs = Outputs::new();
        outputs.insert("status".into(), json!("pending"));
        let events = vec![
            Event::new(
                Duration::ZERO,
                EventKind::RunStarted {
                    workflow: "demo".into(),
                    run_id: "run-1".into(),
                    inputs: Arc::new(json!({"n": 1})),
                    seed: u64::MAX - 7,
                    max_concurrency: NonZeroU32::new(4),
                },
            ),
            Event::new(
                Duration::from_nanos(1_234_567_891),
                EventKind::AttemptStarted {
                    step: StepIndex(2),
                    attempt: 1,
                },
            ),
            Event::new(
                Duration::from_millis(5),
                EventKind::AttemptSucceeded {
                    step: StepIndex(2),
                    attempt: 1,
                    outputs: Arc::new(outputs),
                },
            ),
            Event::new(
                Duration::from_millis(6),
                EventKind::AttemptFailed {
                    step: StepIndex(0),
                    attempt: 3,
                    error: StepError::retryable("http_status", "503")
                        .with_retry_after(Duration::from_secs(2)),
                },
            ),
            Event::new(
                Duration::from_millis(7),
                EventKind::TimerFired {
                    timer: TimerId {
                        step: StepIndex(0),
                        seq: 9,
                    },
                },
            ),
            Event::new(
                Duration::from_secs(1),
                EventKind::AttemptTimedOut {
                    step: StepIndex(1),
                    attempt: 2,
                },
            ),
            Event::new(Duration::from_secs(2), EventKind::RunTimedOut),
            Event::new(
                Duration::from_secs(2),
                EventKind::AttemptInterrupted {
                    step: StepIndex(1),
                    attempt: 3,
                    started: true,
                    repeatable: false,
                },
            ),
            Event::new(
                Duration::from_secs(3),
                EventKind::CancelRequested { force: true },
            ),
        ];
        let text = serde_json::to_string(&events).unwrap();
        let back: Vec<Event> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, events);
        let first = serde_json::to_value(&events[1]).unwrap();
        assert_eq!(
            first,
            json!({"at_ns": 1_234_567_891_u64, "type": "attempt_started", "step": 2, "attempt": 1})
        );
    }
}
