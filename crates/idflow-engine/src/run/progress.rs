//! Live progress: one notification each time a step changes state, for the
//! CLI to draw (or log) while the run goes on.

use std::sync::Arc;
use std::time::Duration;

use super::action::{StepState, WaitReason};
use crate::model::StepIndex;

/// A step changed state.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The run.
    pub run_id: Arc<str>,
    /// The step's index.
    pub step: StepIndex,
    /// The step's id.
    pub step_id: Arc<str>,
    /// Its new state.
    pub state: StepState,
    /// Attempts started so far (the current one while running).
    pub attempt: u32,
    /// Why it waits, when it does.
    pub wait: Option<WaitReason>,
    /// Since its first attempt started (zero when it never started).
    pub elapsed: Duration,
    /// Since the run started.
    pub at: Duration,
    /// Its error, secrets redacted: why it failed, or why it waits to retry.
    pub error: Option<String>,
}

/// Receives progress. Called on the run's task: return quickly (send to a
/// channel to draw elsewhere).
pub trait RunObserver: Send + Sync {
    /// A step changed state.
    fn on_progress(&self, progress: &Progress);
}

impl<F: Fn(&Progress) + Send + Sync> RunObserver for F {
    fn on_progress(&self, progress: &Progress) {
        self(progress);
    }
}
