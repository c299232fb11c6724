//! The connection limit. Each connection holds a [`Slot`] while it is open;
//! at the limit, admitting a new connection asks the one idle for longest
//! to close (one that has not sent a request yet first, then one waiting
//! between requests) and waits for its slot. A connection in the middle of
//! a request is never chosen, so slow clients cannot lock others out and
//! nobody loses an answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The open connections, at most `max` at once.
#[derive(Debug)]
pub(crate) struct Connections {
    max: usize,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    freed: Notify,
}

/// What a connection is doing, for choosing which one makes room.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<ActivityState>,
    close: CancellationToken,
}

#[derive(Debug, Clone, Copy)]
struct ActivityState {
    /// Requests being answered.
    busy: usize,
    /// Whether a request ever started on this connection.
    started_a_request: bool,
    /// Since when nothing is being answered.
    idle_since: Instant,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                busy: 0,
                started_a_request: false,
                idle_since: Instant::now(),
            }),
            close: CancellationToken::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request starts; the guard marks its end when dropped (answered,
    /// or abandoned by a client that hung up).
    pub(crate) fn request(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.state();
        state.busy += 1;
        state.started_a_request = true;
        RequestGuard(Arc::clone(self))
    }

    /// Whether a request ever started here (a connection that never sent
    /// one can be dropped at once when asked to close).
    pub(crate) fn started_a_request(&self) -> bool {
        self.state().started_a_request
    }

    /// Cancelled when the connection is asked to make room.
    pub(crate) fn close_requested(&self) -> &CancellationToken {
        &self.close
    }

    /// The eviction order: `None` if busy, else never used before used, then
    /// the longest idle first (then the oldest, by the caller).
    fn eviction_rank(&self) -> Option<(bool, Instant)> {
        let state = self.state();
        (state.busy == 0).then_some((state.started_a_request, state.idle_since))
    }
}

/// Marks the end of a request when dropped.
#[derive(Debug)]
pub(crate) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.busy = state.busy.saturating_sub(1);
        if state.busy == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// A connection's place under the limit, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    connections: Arc<Connections>,
    id: u64,
    activity: Arc<Activity>,
}

impl Slot {
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.open().remove(&self.id);
        self.connections.freed.notify_one();
    }
}

impl Connections {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            freed: Notify::new(),
        })
    }

    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many connections are open.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.open().len()
    }

    /// A slot for a new connection: at once under the limit; at the limit,
    /// once the connection idle for longest has closed (or any other has).
    pub(crate) async fn admit(self: &Arc<Self>) -> Slot {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut open = self.open();
                if open.len() < self.max {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let activity = Arc::new(Activity::new());
                    open.insert(id, Arc::clone(&activity));
                    return Slot {
                        connections: Arc::clone(self),
                        id,
                        activity,
                    };
                }
                // One eviction at a time: another may be on its way out.
                let closing = open.values().any(|activity| activity.close.is_cancelled());
                if !closing
                    && let Some(victim) = open
                        .iter()
                        .filter_map(|(id, activity)| {
                            Some(((activity.eviction_rank()?, *id), activity))
                        })
                        .min_by_key(|(rank, _)| *rank)
                        .map(|(_, activity)| activity)
                {
                    victim.close.cancel();
                }
            }
            freed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_the_limit_the_oldest_connection_without_a_request_makes_room() {
        let connections = Connections::new(3);
        let first = connections.admit().await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = connections.admit().await;
        let third = connections.admit().await;
        // The first is answering a request: it is not asked; the second,
        // the oldest that never sent one, is.
        let request = first.activity().request();
        let admitted = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.admit().await }
        });
        tokio::task::yield_now().await;
        assert!(!first.activity().close_requested().is_cancelled());
        assert!(second.activity().close_requested().is_cancelled());
        assert!(!third.activity().close_requested().is_cancelled());
        assert!(!admitted.is_finished(), "waits for the room to be made");
        drop(second);
        let fourth = admitted.await.unwrap();
        assert_eq!(connections.count(), 3);
        drop((request, first, third, fourth));
        assert_eq!(connections.count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn connections_that_served_requests_go_after_those_that_never_sent_one() {
        let connections = Connections::new(2);
        let served = connections.admit().await;
        drop(served.activity().request());
        tokio::time::advance(Duration::from_secs(5)).await;
        let silent = connections.admit().await;
        let waiting = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.admit().await }
        });
        tokio::task::yield_now().await;
        assert!(silent.activity().close_requested().is_cancelled());
        assert!(!served.activity().close_requested().is_cancelled());
        drop(silent);
        let _third = waiting.await.unwrap();
    }
}
