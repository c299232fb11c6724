//! The run store: what a durable run needs from a database, as a trait the
//! engine drives ([`RunStore`]); `idflow-store` implements it on SQLite
//! (and can on PostgreSQL) without the engine knowing either.
//!
//! What a store keeps:
//! - **definitions**, by the SHA-256 of their text: a run always resumes
//!   against the exact workflow it started with ([`Definition`]);
//! - **runs**, one record each ([`RunRecord`]): status, the definition's
//!   hash, where relative paths resolve, the result once finished;
//! - an **append-only event log** per run: opaque bytes (the engine encodes
//!   and seals them, see [`super::journal`]) numbered from 0. An append
//!   names the sequence number it expects to write next and the lease it
//!   holds; a stale writer's append fails ([`StoreError::Conflict`])
//!   instead of forking the log;
//! - **due work**: a run that is not being executed but must go on
//!   (parked on a timer, started but never picked up, cancelled while
//!   parked) has a due time; [`RunStore::claim_due`] hands due runs to one
//!   owner at a time under a lease, which the owner renews
//!   ([`RunStore::heartbeat`]) while it executes them.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A workflow's text, pinned by content hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Definition {
    /// Lowercase hex SHA-256 of `source`.
    pub hash: String,
    /// The workflow's `name`.
    pub workflow: String,
    /// The file it was read from, as given (for diagnostics).
    pub path: String,
    /// The whole YAML text.
    pub source: String,
}

impl fmt::Debug for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Definition")
            .field("hash", &self.hash)
            .field("workflow", &self.workflow)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Definition {
    /// The definition of a workflow file's text.
    pub fn new(
        workflow: impl Into<String>,
        path: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        use sha2::{Digest as _, Sha256};
        let source = source.into();
        Self {
            hash: hex::encode(Sha256::digest(source.as_bytes())),
            workflow: workflow.into(),
            path: path.into(),
            source,
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// Recorded, not picked up yet.
    Pending,
    /// A process is executing it.
    Running,
    /// Parked until a timer (no process holds it).
    Waiting,
    /// Finished: every step succeeded, was skipped, or failed under
    /// `continue_on_error`.
    Succeeded,
    /// Finished: failed.
    Failed,
    /// Finished: cancelled.
    Cancelled,
}

impl RunPhase {
    /// Every phase, in order.
    pub const ALL: [RunPhase; 6] = [
        RunPhase::Pending,
        RunPhase::Running,
        RunPhase::Waiting,
        RunPhase::Succeeded,
        RunPhase::Failed,
        RunPhase::Cancelled,
    ];

    /// The name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunPhase::Pending => "pending",
            RunPhase::Running => "running",
            RunPhase::Waiting => "waiting",
            RunPhase::Succeeded => "succeeded",
            RunPhase::Failed => "failed",
            RunPhase::Cancelled => "cancelled",
        }
    }

    /// The phase of that name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|phase| phase.as_str() == name)
    }

    /// Whether the run is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunPhase::Succeeded | RunPhase::Failed | RunPhase::Cancelled
        )
    }
}

impl From<super::RunStatus> for RunPhase {
    fn from(status: super::RunStatus) -> Self {
        match status {
            super::RunStatus::Succeeded => RunPhase::Succeeded,
            super::RunStatus::Failed => RunPhase::Failed,
            super::RunStatus::Cancelled => RunPhase::Cancelled,
        }
    }
}

impl fmt::Display for RunPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One run, as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The definition it runs ([`Definition::hash`]).
    pub definition: String,
    /// Where it is.
    pub phase: RunPhase,
    /// The folder relative paths in its inputs resolve against.
    pub base_dir: String,
    /// When it was recorded (its time zero).
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// When it finished.
    pub finished_at: Option<OffsetDateTime>,
    /// Events in its log (the next append's sequence number).
    pub next_seq: u64,
    /// When it must go on, while no process holds it.
    pub due_at: Option<OffsetDateTime>,
    /// A cancel was asked for and not yet handled.
    pub cancel_requested: bool,
    /// The process holding it, while one does.
    pub lease_owner: Option<String>,
    /// Until when that process holds it.
    pub lease_until: Option<OffsetDateTime>,
    /// The run result JSON (secrets redacted), once finished.
    pub result: Option<String>,
}

/// A new run: its record and its first events (`run_started` first),
/// written together, held by `owner` until `lease_until`.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run's id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The pinned definition (stored if new).
    pub definition: Definition,
    /// See [`RunRecord::base_dir`].
    pub base_dir: String,
    /// Time zero of the run.
    pub created_at: OffsetDateTime,
    /// The encoded first events (from sequence number 0).
    pub events: Vec<Vec<u8>>,
    /// The process that executes it; none: it is due now, for whichever
    /// worker claims it.
    pub owner: Option<String>,
    /// Until when `owner` holds it.
    pub lease_until: OffsetDateTime,
}

/// Events to add to a run's log.
#[derive(Debug, Clone)]
pub struct Append {
    /// The run.
    pub run_id: String,
    /// The lease the writer holds.
    pub owner: String,
    /// The sequence number of the first event (the log's length now).
    pub expected_seq: u64,
    /// The encoded events.
    pub events: Vec<Vec<u8>>,
}

/// How a run stops being executed by its owner.
#[derive(Debug, Clone)]
pub enum Release {
    /// Parked: no process holds it until `due_at` (or until woken).
    Park {
        /// When it must go on (none: only an outside event wakes it).
        due_at: Option<OffsetDateTime>,
    },
    /// Finished, with its redacted result JSON.
    Finish {
        /// How it ended.
        phase: RunPhase,
        /// The run result JSON.
        result: String,
    },
}

/// The due work nobody executes yet, at one moment: what a worker loop has
/// to catch up on (the server's `/metrics` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DueSummary {
    /// Runs that could be claimed now: due and held by nobody, or held by
    /// a lease that expired.
    pub waiting: u64,
    /// The earliest moment one of them became due (its due time, or its
    /// lease's end).
    pub oldest: Option<OffsetDateTime>,
}

/// An outside event to deliver ([`RunStore::deliver_event`]).
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The key waits name.
    pub key: String,
    /// What was sent (JSON text).
    pub payload: String,
    /// The sender's key for this event: a repeat is ignored.
    pub idempotency_key: Option<String>,
    /// When it arrived.
    pub received_at: OffsetDateTime,
    /// Until when it is kept for a wait that is not there yet.
    pub keep_until: OffsetDateTime,
}

/// What became of a delivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Bound to the oldest wait for its key: that step of that run has it
    /// (the run is woken).
    Delivered {
        /// The run.
        run_id: String,
        /// The waiting step's id.
        step_id: String,
    },
    /// No run waits for its key yet: kept for the first wait.
    Kept,
    /// An event with the same idempotency key came before: ignored.
    Duplicate,
}

/// An event bound to a wait, as a step receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundEvent {
    /// What was sent (JSON text).
    pub payload: String,
    /// When it arrived.
    pub received_at: OffsetDateTime,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in this phase.
    pub phase: Option<RunPhase>,
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// At most this many (newest first).
    pub limit: Option<u32>,
    /// Only runs older than this one (keyset pagination by id; ids are
    /// time-ordered UUIDv7s).
    pub before: Option<String>,
}

/// What a store can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// An append or release by a writer that no longer holds the run, or
    /// whose idea of the log's length is stale: someone else moved the
    /// run on; the writer must stop.
    #[error(
        "run {run_id} was moved on by another process (this one expected to write event {expected_seq})"
    )]
    Conflict {
        /// The run.
        run_id: String,
        /// What the writer expected.
        expected_seq: u64,
    },
    /// No such run (or definition).
    #[error("{0} not found")]
    NotFound(String),
    /// The store is held by another program or is not an idflow store.
    #[error("{0}")]
    Unusable(String),
    /// The database failed (I/O, a full disk, a lost connection).
    #[error("the run store failed: {0}")]
    Database(String),
    /// A stored event or record could not be read back.
    #[error("run {run_id} has an unreadable log: {reason}")]
    Corrupt {
        /// The run.
        run_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// A database of durable runs. Every method is one short transaction;
/// none is held while a step runs.
#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// Stores a definition (nothing happens if its hash is known).
    async fn put_definition(&self, definition: &Definition) -> Result<(), StoreError>;

    /// The definition with that hash.
    async fn definition(&self, hash: &str) -> Result<Definition, StoreError>;

    /// Records a new run with its first event (and its definition).
    async fn create_run(&self, run: NewRun) -> Result<(), StoreError>;

    /// Appends events to a run's log, fenced by its owner and the expected
    /// sequence number. A store may commit many callers' appends in one
    /// transaction (group commit); each caller hears of its own.
    async fn append(&self, append: Append) -> Result<(), StoreError>;

    /// A run's whole log, in order.
    async fn events(&self, run_id: &str) -> Result<Vec<Vec<u8>>, StoreError>;

    /// The owner stops executing the run: parks or finishes it (fenced by
    /// owner and the log's length).
    async fn release(
        &self,
        run_id: &str,
        owner: &str,
        next_seq: u64,
        release: Release,
    ) -> Result<(), StoreError>;

    /// Takes up to `limit` runs that are due at `now` and held by nobody
    /// (or by a lease that expired), for `owner` until `lease_until`.
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// Takes one unfinished run whether due or not, unless a live lease
    /// holds it (then `None`).
    async fn claim(
        &self,
        run_id: &str,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<RunRecord>, StoreError>;

    /// Renews every lease `owner` holds; returns the ids of its runs that
    /// someone asked to cancel since.
    async fn heartbeat(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError>;

    /// The owners holding leases now.
    async fn lease_owners(&self) -> Result<Vec<String>, StoreError>;

    /// Ends every lease `owner` holds at once (the owner is known to be
    /// dead): its runs can be claimed now.
    async fn expire_leases(&self, owner: &str) -> Result<u64, StoreError>;

    /// Gives up every lease `owner` holds (a graceful stop): its runs are
    /// due now for whoever goes on with them.
    async fn release_all(&self, owner: &str, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Asks for a run to be cancelled: flags it, and makes it due now if
    /// it is parked. Returns its record.
    async fn request_cancel(
        &self,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<RunRecord, StoreError>;

    /// One run.
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Runs, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;

    /// The earliest due time of a run nobody holds, and the earliest
    /// expiry of a lease: when to look for work next.
    async fn next_due(&self) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Runs not finished yet.
    async fn unfinished(&self) -> Result<u64, StoreError>;

    /// The runs that could be claimed at `now` ([`RunStore::claim_due`]
    /// would take them), counted, with the oldest one's due time.
    async fn due_summary(&self, now: OffsetDateTime) -> Result<DueSummary, StoreError>;

    /// Delivers an outside event: binds it to the oldest wait for its key
    /// of an unfinished run and wakes that run (due now when parked; a
    /// parked-while-held run is due as soon as its holder parks it), or
    /// keeps it for the first wait, unless its idempotency key was seen.
    async fn deliver_event(&self, event: NewEvent) -> Result<Delivery, StoreError>;

    /// The event bound to the wait of `step_id` in `run_id` for `key`:
    /// registers the wait on the first call and binds to it the oldest kept
    /// event with that key (not expired at `now`) if there is one; later
    /// calls answer the same event. `None`: nothing yet.
    async fn receive_event(
        &self,
        run_id: &str,
        step_id: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<BoundEvent>, StoreError>;

    /// The steps of a run whose waits received an event since the last
    /// call (they poll again at once when the run goes on), forgotten once
    /// read.
    async fn take_wakes(&self, run_id: &str) -> Result<Vec<String>, StoreError>;

    /// The runs `owner` holds whose waits received an event its driver has
    /// not heard of yet (see [`RunStore::take_wakes`]).
    async fn woken_runs(&self, owner: &str) -> Result<Vec<String>, StoreError>;

    /// Deletes runs finished before `before` (their logs too), and the
    /// definitions no run uses any more. Returns how many runs went.
    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
