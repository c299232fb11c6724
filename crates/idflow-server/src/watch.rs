//! Live progress without polling the database: [`WatchedStore`] wraps the
//! run store the executor writes through and, after every write that
//! changes a run, names that run on [`Changes`]. Watchers (the events
//! stream of a run) wake on it, and still look every second for changes
//! made by other processes sharing the store.

use std::sync::Arc;

use async_trait::async_trait;
use idflow_engine::run::{
    Append, BoundEvent, Definition, Delivery, DueSummary, NewEvent, NewRun, Release, RunFilter,
    RunRecord, RunStore, StoreError,
};
use time::OffsetDateTime;
use tokio::sync::broadcast;

/// Changes buffered per watcher; one that falls further behind looks at
/// its run again (it misses nothing: it reads the run's state, not the
/// notifications).
const BUFFER: usize = 1024;

/// The ids of runs as they change.
#[derive(Debug, Clone)]
pub struct Changes {
    sender: broadcast::Sender<Arc<str>>,
}

impl Default for Changes {
    fn default() -> Self {
        Self::new()
    }
}

impl Changes {
    /// A channel no one listens to yet.
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }

    /// Hears of every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.sender.subscribe()
    }

    fn changed(&self, run_id: &str) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(Arc::from(run_id));
        }
    }
}

/// A run store that reports its changes on [`Changes`].
pub struct WatchedStore {
    inner: Arc<dyn RunStore>,
    changes: Changes,
}

impl std::fmt::Debug for WatchedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedStore").finish_non_exhaustive()
    }
}

impl WatchedStore {
    /// `inner`, reporting on `changes`.
    pub fn new(inner: Arc<dyn RunStore>, changes: Changes) -> Self {
        Self { inner, changes }
    }
}

#[async_trait]
impl RunStore for WatchedStore {
    async fn put_definition(&self, definition: &Definition) -> Result<(), StoreError> {
        self.inner.put_definition(definition).await
    }

    async fn definition(&self, hash: &str) -> Result<Definition, StoreError> {
        self.inner.definition(hash).await
    }

    async fn create_run(&self, run: NewRun) -> Result<(), StoreError> {
        let run_id = run.id.clone();
        self.inner.create_run(run).await?;
        self.changes.changed(&run_id);
        Ok(())
    }

    async fn append(&self, append: Append) -> Result<(), StoreError> {
        let run_id = append.run_id.clone();
        self.inner.append(append).await?;
        self.changes.changed(&run_id);
        Ok(())
    }

    async fn events(&self, run_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.events(run_id).await
    }

    async fn release(
        &self,
        run_id: &str,
        owner: &str,
        next_seq: u64,
        release: Release,
    ) -> Result<(), StoreError> {
        self.inner.release(run_id, owner, next_seq, release).await?;
        self.changes.changed(run_id);
        Ok(())
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let claimed = self.inner.claim_due(owner, now, lease_until, limit).await?;
        for record in &claimed {
            self.changes.changed(&record.id);
        }
        Ok(claimed)
    }

    async fn claim(
        &self,
        run_id: &str,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<RunRecord>, StoreError> {
        let claimed = self.inner.claim(run_id, owner, now, lease_until).await?;
        if claimed.is_some() {
            self.changes.changed(run_id);
        }
        Ok(claimed)
    }

    async fn heartbeat(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.heartbeat(owner, lease_until).await
    }

    async fn lease_owners(&self) -> Result<Vec<String>, StoreError> {
        self.inner.lease_owners().await
    }

    async fn expire_leases(&self, owner: &str) -> Result<u64, StoreError> {
        self.inner.expire_leases(owner).await
    }

    async fn release_all(&self, owner: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.release_all(owner, now).await
    }

    async fn request_cancel(
        &self,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<RunRecord, StoreError> {
        let record = self.inner.request_cancel(run_id, now).await?;
        self.changes.changed(run_id);
        Ok(record)
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.inner.run(run_id).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.list_runs(filter).await
    }

    async fn next_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        self.inner.next_due().await
    }

    async fn unfinished(&self) -> Result<u64, StoreError> {
        self.inner.unfinished().await
    }

    async fn due_summary(&self, now: OffsetDateTime) -> Result<DueSummary, StoreError> {
        self.inner.due_summary(now).await
    }

    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.inner.prune(before).await
    }

    async fn deliver_event(&self, event: NewEvent) -> Result<Delivery, StoreError> {
        let delivery = self.inner.deliver_event(event).await?;
        if let Delivery::Delivered { run_id, .. } = &delivery {
            self.changes.changed(run_id);
        }
        Ok(delivery)
    }

    async fn receive_event(
        &self,
        run_id: &str,
        step_id: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<BoundEvent>, StoreError> {
        self.inner.receive_event(run_id, step_id, key, now).await
    }

    async fn take_wakes(&self, run_id: &str) -> Result<Vec<String>, StoreError> {
        self.inner.take_wakes(run_id).await
    }

    async fn woken_runs(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        self.inner.woken_runs(owner).await
    }
}
