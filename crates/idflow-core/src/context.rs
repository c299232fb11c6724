//! The context one step attempt runs with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::Redactor;
use crate::inbox::{Inbox, ReceivedEvent, WaitFor};

/// What the engine tells a step about the attempt it is running.
///
/// Cancellation needs no field here: the engine cancels an attempt by
/// dropping its future, so a step must not spawn work that outlives it.
#[derive(Clone)]
pub struct StepContext {
    run_id: String,
    step_id: String,
    attempt: u32,
    call: u32,
    base_dir: PathBuf,
    redactor: Redactor,
    inbox: Option<Arc<dyn Inbox>>,
}

impl std::fmt::Debug for StepContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepContext")
            .field("run_id", &self.run_id)
            .field("step_id", &self.step_id)
            .field("attempt", &self.attempt)
            .field("call", &self.call)
            .field("base_dir", &self.base_dir)
            .field("inbox", &self.inbox.is_some())
            .finish_non_exhaustive()
    }
}

impl StepContext {
    /// A context for attempt `attempt` (1-based) of step `step_id` in run
    /// `run_id`. Relative paths resolve against the current directory until
    /// [`StepContext::with_base_dir`] says otherwise.
    pub fn new(run_id: impl Into<String>, step_id: impl Into<String>, attempt: u32) -> Self {
        Self {
            run_id: run_id.into(),
            step_id: step_id.into(),
            attempt,
            call: 1,
            base_dir: PathBuf::from("."),
            redactor: Redactor::new(),
            inbox: None,
        }
    }

    /// Gives the step its run's inbox of outside events.
    #[must_use]
    pub fn with_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// The run's inbox of outside events, if the run can receive them.
    pub fn inbox(&self) -> Option<&Arc<dyn Inbox>> {
        self.inbox.as_ref()
    }

    /// The event with `key` for this step ([`Inbox::receive`]): `Ok(None)`
    /// while none has come. A run without an inbox fails the step with the
    /// terminal error `no_inbox`.
    pub async fn receive_event(
        &self,
        step_type: &str,
        key: &str,
    ) -> Result<Option<ReceivedEvent>, crate::StepError> {
        let Some(inbox) = &self.inbox else {
            return Err(crate::inbox::no_inbox(step_type));
        };
        inbox
            .receive(WaitFor {
                run_id: &self.run_id,
                step_id: &self.step_id,
                key,
            })
            .await
    }

    /// Sets the folder that relative file paths in the step's input resolve
    /// against (the folder the workflow was started from).
    #[must_use]
    pub fn with_base_dir(mut self, base_dir: impl Into<PathBuf>) -> Self {
        self.base_dir = base_dir.into();
        self
    }

    /// Sets which call of the step this attempt makes (from 1): a retry
    /// repeats its call, a poll after a successful attempt is the next one.
    #[must_use]
    pub fn with_call(mut self, call: u32) -> Self {
        self.call = call;
        self
    }

    /// Shares the run's redactor with the step.
    #[must_use]
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// The id of the run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The id of the step in the workflow.
    pub fn step_id(&self) -> &str {
        &self.step_id
    }

    /// The 1-based number of this attempt.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Which call of the step this attempt makes (see
    /// [`StepContext::with_call`]).
    pub fn call(&self) -> u32 {
        self.call
    }

    /// A key that is the same for every attempt of this call of this step
    /// in this run (retries, and an attempt repeated after a crash), and
    /// different for any other: send it as an `Idempotency-Key`.
    pub fn call_key(&self) -> String {
        self.key_of(&[])
    }

    /// Resolves a path from the step's input.
    pub fn resolve_path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The run's redactor: add every credential the step receives or
    /// creates, and redact anything echoed from outside before it goes into
    /// an error message.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// A key that is the same for every attempt of this step in this run
    /// with the same `payload`, and different otherwise: send it as an
    /// `Idempotency-Key` so that a retried create never creates twice.
    pub fn idempotency_key(&self, payload: &serde_json::Value) -> String {
        self.key_of(payload.to_string().as_bytes())
    }

    fn key_of(&self, payload: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.run_id.as_bytes());
        hasher.update([0]);
        hasher.update(self.step_id.as_bytes());
        hasher.update([0]);
        hasher.update(self.call.to_le_bytes());
        hasher.update([0]);
        hasher.update(payload);
        let digest = hasher.finalize();
        format!("idf-{}", hex::encode(&digest[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_key_is_stable_across_attempts_and_differs_by_step_and_payload() {
        let payload = serde_json::json!({"type": "face-recognition"});
        let first = StepContext::new("run-1", "enroll", 1).idempotency_key(&payload);
        let retry = StepContext::new("run-1", "enroll", 3).idempotency_key(&payload);
        let other_step = StepContext::new("run-1", "enroll2", 1).idempotency_key(&payload);
        let other_run = StepContext::new("run-2", "enroll", 1).idempotency_key(&payload);
        let other_payload =
            StepContext::new("run-1", "enroll", 1).idempotency_key(&serde_json::json!({}));
        assert_eq!(first, retry);
        assert_ne!(first, other_step);
        assert_ne!(first, other_run);
        assert_ne!(first, other_payload);
        assert!(first.starts_with("idf-") && first.len() == 4 + 32);
        let next_call = StepContext::new("run-1", "enroll", 4)
            .with_call(2)
            .idempotency_key(&payload);
        assert_ne!(first, next_call);
        let call_key = StepContext::new("run-1", "enroll", 1).call_key();
        assert_eq!(call_key, StepContext::new("run-1", "enroll", 7).call_key());
        assert_ne!(
            call_key,
            StepContext::new("run-1", "enroll", 7)
                .with_call(2)
                .call_key()
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_base_dir() {
        let ctx = StepContext::new("r", "s", 1).with_base_dir("/flows");
        assert_eq!(ctx.resolve_path("a.jpg"), PathBuf::from("/flows/a.jpg"));
        assert_eq!(ctx.resolve_path("/abs.jpg"), PathBuf::from("/abs.jpg"));
    }
}
