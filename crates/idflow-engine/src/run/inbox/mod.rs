//! Outside events for runs: the [`Inbox`] a durable run's steps receive
//! them from (its store, [`StoreInbox`]), the one of in-memory runs
//! ([`MemoryInbox`]), and how a delivery wakes the run that waits
//! ([`WakeRouter`]).
//!
//! Both inboxes keep the same rules (see [`idflow_core::inbox`]): a wait is
//! registered by its step's first call; an event goes to the oldest wait
//! for its key, or is kept for the first wait that comes; each event
//! reaches one wait, each wait one event; a repeated idempotency key is
//! ignored.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use idflow_core::{Inbox, ReceivedEvent, StepError, WaitFor};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;

use super::driver::{RunRequest, Wakes};
use super::store::{BoundEvent, Delivery, RunStore};

/// The senders of the wakes of the runs driven in this process, by run id.
#[derive(Debug, Default)]
pub(crate) struct WakeRouter {
    runs: Mutex<HashMap<String, mpsc::UnboundedSender<Arc<str>>>>,
}

impl WakeRouter {
    /// The wakes of a run driven here from now on.
    pub(crate) fn attach(&self, run_id: &str) -> Wakes {
        let (sender, receiver) = mpsc::unbounded_channel();
        lock(&self.runs).insert(run_id.to_owned(), sender);
        receiver
    }

    /// The run is no longer driven here.
    pub(crate) fn detach(&self, run_id: &str) {
        lock(&self.runs).remove(run_id);
    }

    /// Wakes `step_id` of `run_id` if the run is driven here; `false`
    /// otherwise.
    pub(crate) fn wake(&self, run_id: &str, step_id: &str) -> bool {
        let mut runs = lock(&self.runs);
        let Some(sender) = runs.get(run_id) else {
            return false;
        };
        if sender.send(Arc::from(step_id)).is_ok() {
            return true;
        }
        // The run ended (its driver dropped its wakes): forget it.
        runs.remove(run_id);
        false
    }
}

/// A durable run's inbox: its store.
pub(crate) struct StoreInbox {
    pub(crate) store: Arc<dyn RunStore>,
}

#[async_trait]
impl Inbox for StoreInbox {
    async fn receive(&self, wait: WaitFor<'_>) -> Result<Option<ReceivedEvent>, StepError> {
        let bound = self
            .store
            .receive_event(
                wait.run_id,
                wait.step_id,
                wait.key,
                OffsetDateTime::now_utc(),
            )
            .await
            .map_err(|error| StepError::retryable("inbox", error.to_string()))?;
        bound.map(|event| received(&event)).transpose()
    }
}

/// A bound event as a step receives it.
pub(crate) fn received(event: &BoundEvent) -> Result<ReceivedEvent, StepError> {
    let payload = serde_json::from_str(&event.payload).map_err(|error| {
        StepError::terminal("inbox", format!("a stored event is not JSON: {error}"))
    })?;
    Ok(ReceivedEvent {
        payload,
        received_at: rfc3339(event.received_at),
    })
}

/// A time as RFC 3339.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The inbox of in-memory runs (`Runner::run`, library use): events live
/// in this process, for as long as it does.
///
/// ```
/// # use idflow_engine::run::{MemoryInbox, RunRequest};
/// let inbox = MemoryInbox::new();
/// let request = inbox.attach(RunRequest::new(serde_json::json!({})).run_id("run-1"));
/// // ... spawn runner.run(request); then, from anywhere:
/// inbox.deliver("order:42", serde_json::json!({"paid": true}), None);
/// ```
#[derive(Clone, Default)]
pub struct MemoryInbox {
    inner: Arc<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    waits: Mutex<Waits>,
    router: WakeRouter,
}

#[derive(Default)]
struct Waits {
    /// Every wait, with its event once bound, by (run, step, key).
    bound: HashMap<(String, String, String), Option<ReceivedEvent>>,
    /// The waits without an event, oldest first, by key.
    open: HashMap<String, VecDeque<(String, String)>>,
    /// Events no wait took yet, oldest first, by key.
    kept: HashMap<String, VecDeque<ReceivedEvent>>,
    /// Idempotency keys seen.
    seen: std::collections::HashSet<String>,
}

impl std::fmt::Debug for MemoryInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryInbox").finish_non_exhaustive()
    }
}

impl MemoryInbox {
    /// An empty inbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// The request, receiving events from this inbox (its run id is set
    /// if it had none).
    pub fn attach(&self, mut request: RunRequest) -> RunRequest {
        let run_id = request.run_id_or_new().to_owned();
        let wakes = self.inner.router.attach(&run_id);
        let inbox: Arc<dyn Inbox> = Arc::new(self.clone());
        request.inbox(inbox, wakes)
    }

    /// Delivers an event (see the module docs).
    pub fn deliver(
        &self,
        key: &str,
        payload: serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Delivery {
        let event = ReceivedEvent {
            payload,
            received_at: rfc3339(OffsetDateTime::now_utc()),
        };
        let mut waits = lock(&self.inner.waits);
        if let Some(idempotency_key) = idempotency_key
            && !waits.seen.insert(idempotency_key.to_owned())
        {
            return Delivery::Duplicate;
        }
        let Some((run_id, step_id)) = waits.open.get_mut(key).and_then(VecDeque::pop_front) else {
            waits
                .kept
                .entry(key.to_owned())
                .or_default()
                .push_back(event);
            return Delivery::Kept;
        };
        waits.bound.insert(
            (run_id.clone(), step_id.clone(), key.to_owned()),
            Some(event),
        );
        drop(waits);
        self.inner.router.wake(&run_id, &step_id);
        Delivery::Delivered { run_id, step_id }
    }
}

#[async_trait]
impl Inbox for MemoryInbox {
    async fn receive(&self, wait: WaitFor<'_>) -> Result<Option<ReceivedEvent>, StepError> {
        let mut waits = lock(&self.inner.waits);
        let id = (
            wait.run_id.to_owned(),
            wait.step_id.to_owned(),
            wait.key.to_owned(),
        );
        if let Some(bound) = waits.bound.get(&id) {
            return Ok(bound.clone());
        }
        let kept = waits.kept.get_mut(wait.key).and_then(VecDeque::pop_front);
        if kept.is_none() {
            waits
                .open
                .entry(wait.key.to_owned())
                .or_default()
                .push_back((id.0.clone(), id.1.clone()));
        }
        waits.bound.insert(id, kept.clone());
        Ok(kept)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
