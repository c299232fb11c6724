//! Outside events a step waits for: the [`Inbox`] an attempt receives them
//! from.
//!
//! An event is a JSON payload sent under a key (`POST /api/v1/events`, a
//! provider's webhook turned into an event, a library caller). A step that
//! waits for one asks its run's inbox ([`StepContext::inbox`](crate::StepContext::inbox))
//! with the key, on every attempt:
//!
//! - the first call registers the wait (this run, this step, this key) and
//!   binds to it the oldest event with that key that no wait has taken yet,
//!   if one was sent before the wait existed (it is kept for a while, so an
//!   event sent just before the wait is never lost);
//! - an event sent while the wait exists is bound to it and wakes the run:
//!   a step waiting between polls polls again at once, a parked run is made
//!   due;
//! - every later call answers the same bound event: asking again after a
//!   crash or a retry never loses it and never takes a second one.
//!
//! Each event is bound to at most one wait, the one registered first; two
//! waits on one key take two events.
//!
//! The step does not wait inside the attempt: it returns what it has, and
//! its status gate (`until`) polls again; the wake-up makes the next poll
//! come when the event does, and the poll interval is only a fallback.

use async_trait::async_trait;

use crate::StepError;

/// An event bound to a wait.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// What was sent (any JSON; `null` when nothing was).
    pub payload: serde_json::Value,
    /// When it was received, RFC 3339 in UTC.
    pub received_at: String,
}

/// Which wait asks: a step of a run, for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitFor<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The step's id.
    pub step_id: &'a str,
    /// The event key.
    pub key: &'a str,
}

/// Where a run's steps receive outside events (see the module docs). A
/// durable run's inbox is its store; an in-memory run's lives in the
/// process.
#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// The event bound to this wait, binding one kept for its key or
    /// registering the wait when there is none yet (`None`: wait). Errors
    /// are the step's to return (a store that cannot be reached is
    /// retryable).
    async fn receive(&self, wait: WaitFor<'_>) -> Result<Option<ReceivedEvent>, StepError>;
}

/// The error of a step that needs an inbox in a run that has none.
pub fn no_inbox(step_type: &str) -> StepError {
    StepError::terminal(
        "no_inbox",
        format!(
            "`{step_type}` waits for outside events, which this run cannot receive (run it durably or give the run an inbox)"
        ),
    )
}
