//! Running a workflow: a pure state machine, and the tokio driver that
//! performs what it decides.
//!
//! ## Layout
//! - [`event`]: what happened ([`Event`]). The events of a run are its log:
//!   replaying them rebuilds the run's state exactly.
//! - [`action`]: what the machine asks the driver to do ([`Action`]), and the
//!   states a step ([`StepState`]) and a run ([`RunStatus`]) go through.
//! - [`program`]: what the machine needs to know about a workflow beyond the
//!   [`Workflow`](crate::model::Workflow) itself, computed once and shared by
//!   every run of it ([`Program`]).
//! - [`backoff`]: the waits between attempts (retry backoff with jitter,
//!   poll intervals), as pure functions.
//! - [`machine`]: the [`Machine`]: events in, actions out; no I/O, no clock,
//!   no tokio, no randomness but a seed from the log.
//! - [`driver`]: the [`Runner`]: starts attempts on tokio, enforces
//!   deadlines, keeps timers, cancels, records events, reports progress.
//! - [`result`]: the [`RunResult`] a finished run reports, secrets redacted.
//! - [`progress`]: live progress notifications ([`Progress`]) for the CLI.
//! - [`secrets`]: the secret values a run may read ([`Secrets`]).
//! - [`store`]: the [`RunStore`] trait a database implements for durable
//!   runs (definitions, runs, event logs, due work with leases).
//! - [`journal`]: a durable run's log: events encoded, sensitive outputs
//!   sealed, written ahead of the actions they cause ([`Journal`]).
//! - [`durable`]: the [`Executor`]: durable runs started, resumed after a
//!   crash, parked on timers, claimed by a worker loop, cancelled.
//! - [`timeline`]: a run's attempts and waits for people ([`Timeline`]).
//! - [`inbox`]: outside events for runs: the store's inbox of durable runs,
//!   [`MemoryInbox`] for in-memory ones, and how a delivery wakes the step
//!   that waits.
//!
//! ## Semantics
//! - A step becomes ready when every step it `needs` has finished; ready
//!   steps run concurrently, at most `max_concurrency` attempts at once when
//!   a run sets that limit (the others wait in written order).
//! - A ready step whose `if` does not call a status function is *skipped*
//!   when a step before it failed (transitively, `continue_on_error` aside)
//!   or a step it needs was skipped or cancelled, and otherwise when its
//!   `if` is false. A step whose `if` calls `success()`, `failure()`,
//!   `always()` or `cancelled()` decides for itself, with GitHub Actions'
//!   meaning: `failure()` is true when any step before it failed,
//!   `cancelled()` when the run was cancelled.
//! - A step's `with` is rendered right before each attempt, with `inputs`,
//!   `secrets`, `steps.<id>.{status,outputs}` of finished steps, `attempt`
//!   (1-based, counting retries and polls) and `run.id`. An expression that
//!   fails to evaluate fails the step with the terminal error `expression`.
//! - A retryable error is retried while the step has failed fewer than
//!   `retry.attempts` times in a row: after `initial` (fixed) or
//!   `initial * 2^(n-1)` (exponential), capped at `max`, with full jitter
//!   (uniform in `[0, wait]`) when asked; a `Retry-After` the step reports is
//!   a minimum wait, honoured up to [`backoff::MAX_RETRY_AFTER`]. Terminal
//!   errors are never retried.
//! - An attempt that exceeds the step's `timeout` is cancelled and counts as
//!   the retryable error `timeout`.
//! - `until` is evaluated after each successful attempt with `outputs.*` =
//!   that attempt's outputs and `attempt`; while it is false the step runs
//!   again after the poll interval (growing by `backoff_factor` up to
//!   `max_interval`). The last wait is shortened to end at the poll deadline
//!   (`poll.timeout` after the first attempt started), so the condition is
//!   always checked at the deadline; when it is still false then, the step
//!   fails with the terminal error `poll_timeout`, whose details carry the
//!   last outputs (`{"outputs": {...}, "attempts": n}`); the step's outputs
//!   stay those last outputs.
//! - `continue_on_error`: the step's failure neither fails the run nor
//!   counts as a failure for the steps after it (its status stays `failed`).
//! - Cancelling a run (the first request) cancels every running or waiting
//!   step (the attempt's future is dropped); steps that were not ready yet
//!   are cancelled when they become ready, unless their `if` calls a status
//!   function and holds (cleanup steps with `always()` or `cancelled()` run).
//!   A second or forced request, and the run's `timeout`, stop everything at
//!   once.
//! - When every step has finished the run's `outputs` are evaluated. The run
//!   fails when a step failed without `continue_on_error`, when it timed out
//!   (`run_timeout`), or when an output could not be evaluated; it is
//!   cancelled when it was cancelled; otherwise it succeeded.

pub mod action;
pub mod backoff;
pub mod driver;
pub mod durable;
pub mod event;
pub mod inbox;
pub mod journal;
pub mod machine;
pub mod metrics;
pub mod program;
pub mod progress;
pub mod result;
pub mod secrets;
pub mod store;
pub mod timeline;
pub mod tracer;

#[cfg(test)]
pub(crate) mod testkit;

pub use action::{Action, RunOutcome, RunStatus, StepState, WaitReason};
pub use driver::{Discard, EventSink, RunRequest, Runner, RunnerError, Wakes};
pub use durable::{CancelOutcome, ExecError, Executor, ExecutorOptions, SecretSource};
pub use event::{Event, EventKind, TimerId};
pub use inbox::MemoryInbox;
pub use journal::{Codec, Journal, Seal};
pub use machine::{Machine, MachineError, StepSnapshot};
pub use metrics::StartedVia;
pub use program::Program;
pub use progress::{Progress, RunObserver};
pub use result::{RunResult, StepResult};
pub use secrets::Secrets;
pub use store::{
    Append, BoundEvent, Definition, Delivery, DueSummary, NewEvent, NewRun, Release, RunFilter,
    RunPhase, RunRecord, RunStore, StoreError,
};
pub use timeline::{EntryError, EntryKind, Timeline, TimelineEntry};
pub use tracer::RunTracer;
