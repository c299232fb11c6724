//! Durable runs: the same machine and driver, with every event written to
//! a [`RunStore`] before it takes effect, and runs that go on after a
//! crash, a restart or a park.
//!
//! - [`Executor::run`] records a new run and drives it here to its end
//!   (someone is watching: it never parks).
//! - [`Executor::work`] is the worker loop: it claims runs that are due
//!   (parked runs whose timer came, runs whose process died, cancelled
//!   runs), rebuilds each from its log, and drives it until it ends or
//!   parks again. A parked run holds no task and no memory: only its row.
//! - One heartbeat per executor renews the leases of every run it drives
//!   in one write, and hands them the cancel requests made elsewhere.
//! - Secrets are never stored: a resumed run reads them again from the
//!   [`SecretSource`], and fails with `secret_missing` when one is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use idflow_core::{Redactor, StepError, StepRegistry};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::RunStatus;
use super::driver::{DriveEnd, Launch, RunRequest, Runner, RunnerError};
use super::event::{Event, EventKind};
use super::inbox::{StoreInbox, WakeRouter};
use super::journal::{Codec, Journal, Seal};
use super::machine::Machine;
use super::metrics;
use super::result::RunResult;
use super::secrets::Secrets;
use super::store::{
    Definition, Delivery, NewEvent, NewRun, Release, RunPhase, RunRecord, RunStore, StoreError,
};
use super::timeline::Timeline;
use super::tracer::RunTracer;
use crate::expr::ExprEngine;
use crate::model::Workflow;
use crate::source::SourceFile;
use crate::validate::validate;

/// Where a resumed run reads its secrets again.
pub trait SecretSource: Send + Sync + 'static {
    /// The value of the secret `name`, if set.
    fn secret(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String> + Send + Sync + 'static> SecretSource for F {
    fn secret(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// How an executor paces itself.
#[derive(Debug, Clone, Copy)]
pub struct ExecutorOptions {
    /// How long a claim holds a run without a heartbeat.
    pub lease: Duration,
    /// Park a run when nothing of it runs and its next timer is at least
    /// this far away.
    pub park_after: Duration,
    /// Look for due work at least this often, even when nothing says so
    /// (another process may have made work due).
    pub poll: Duration,
    /// Runs claimed at once.
    pub claim_batch: u32,
    /// On a graceful stop of [`Executor::work`], how long the runs being
    /// driven get to end or park by themselves before they are stopped
    /// where they are (as a crash would stop them: they go on elsewhere,
    /// or after a restart, from their logs).
    pub stop_grace: Duration,
    /// How long an outside event no run waits for yet is kept for the
    /// first wait on its key.
    pub keep_events: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            park_after: Duration::from_secs(2),
            poll: Duration::from_secs(1),
            claim_batch: 256,
            stop_grace: Duration::from_secs(10),
            keep_events: Duration::from_hours(7 * 24),
        }
    }
}

/// Why a durable run could not be started, resumed or looked at.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A step type the workflow needs is not registered here.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The stored definition no longer validates with this binary.
    #[error("the workflow run {run_id} started with is not valid with this idflow: {reason}")]
    Definition {
        /// The run.
        run_id: String,
        /// The first diagnostic.
        reason: String,
    },
}

/// How asking to cancel a run went.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// It had finished already.
    AlreadyFinished(RunPhase),
    /// Another process drives it; it will stop it.
    Requested {
        /// That process.
        owner: String,
    },
    /// This process drove it to its end (cleanup steps included).
    Cancelled(Box<RunResult>),
}

/// Drives durable runs of many workflows against one store.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("owner", &self.inner.owner)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Arc<dyn RunStore>,
    registry: Arc<StepRegistry>,
    engine: Arc<ExprEngine>,
    seal: Arc<dyn Seal>,
    secrets: Arc<dyn SecretSource>,
    owner: String,
    options: ExecutorOptions,
    /// Runners of the definitions seen, by hash.
    runners: Mutex<HashMap<String, Runner>>,
    /// The runs driven here now, with the token that cancels each.
    active: Mutex<HashMap<String, CancellationToken>>,
    /// Something changed: a run parked or ended, work may be due.
    wake: Notify,
    /// Places the runs driven here in traces, once set.
    tracer: OnceLock<Arc<dyn RunTracer>>,
    /// Where the steps of the runs driven here receive outside events.
    inbox: Arc<dyn idflow_core::Inbox>,
    /// The wakes of the runs driven here.
    wakes: WakeRouter,
}

impl Executor {
    /// An executor writing as `owner` (unique per process: a host, a pid
    /// and a random part). Starts its heartbeat on the current runtime.
    pub fn new(
        store: Arc<dyn RunStore>,
        registry: Arc<StepRegistry>,
        seal: Arc<dyn Seal>,
        secrets: Arc<dyn SecretSource>,
        owner: impl Into<String>,
        options: ExecutorOptions,
    ) -> Self {
        let inbox: Arc<dyn idflow_core::Inbox> = Arc::new(StoreInbox {
            store: Arc::clone(&store),
        });
        let inner = Arc::new(Inner {
            inbox,
            wakes: WakeRouter::default(),
            store,
            registry,
            engine: Arc::new(ExprEngine::new()),
            seal,
            secrets,
            owner: owner.into(),
            options,
            runners: Mutex::new(HashMap::new()),
            active: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            tracer: OnceLock::new(),
        });
        tokio::spawn(heartbeat(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// Places every run this executor drives from now on in a trace of its
    /// own ([`RunTracer`]), unless its request has a tracer already. Set
    /// once: a second tracer is refused (returned).
    pub fn trace_runs(&self, tracer: Arc<dyn RunTracer>) -> Result<(), Arc<dyn RunTracer>> {
        self.inner.tracer.set(tracer)
    }

    /// The request, with this executor's tracer unless it has one.
    fn traced(&self, request: RunRequest) -> RunRequest {
        match self.inner.tracer.get() {
            Some(tracer) if !request.is_traced() => request.trace_with(Arc::clone(tracer)),
            _ => request,
        }
    }

    /// The trace a run's spans belong to, if runs are traced here.
    fn trace_id(&self, run_id: &str) -> Option<String> {
        self.inner
            .tracer
            .get()
            .and_then(|tracer| tracer.trace_id(run_id))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.inner.store
    }

    /// Who this executor writes as.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Records a new run of `workflow` (read from `file`) and drives it
    /// here to its end. The request's run id is the run's id (set one to
    /// know it before the run starts).
    pub async fn run(
        &self,
        workflow: Arc<Workflow>,
        file: &SourceFile,
        request: RunRequest,
    ) -> Result<RunResult, ExecError> {
        let definition =
            Definition::new(workflow.name.clone(), file.name.clone(), file.text.clone());
        let runner = self.runner_of(&definition.hash, || Ok(workflow))?;
        let mut request = request;
        let run_id = request.run_id_or_new().to_owned();
        let mut request = request.run_id(run_id.clone());
        let created_at = OffsetDateTime::now_utc();
        let new_run = NewRun {
            id: run_id.clone(),
            workflow: runner.workflow().name.clone(),
            definition,
            base_dir: request.base_dir_path().display().to_string(),
            created_at,
            events: Vec::new(),
            owner: Some(self.inner.owner.clone()),
            lease_until: created_at + self.inner.options.lease,
        };
        let journal = Journal::creating(
            Arc::clone(&self.inner.store),
            self.codec(&runner, request.secret_values()),
            new_run,
        );
        let (request, cancel) = self.watch(&run_id, self.traced(request), false);
        metrics::run_started(&runner.workflow().name, request.started_via());
        let launch = Launch {
            wall_start: created_at,
            park_after: None,
        };
        let (driver, signals, span) = runner.start(request, journal, launch);
        let end = driver.drive(signals).instrument(span).await;
        drop(cancel);
        self.settle(&run_id, created_at, end)
            .await
            .map(|settled| match settled {
                Settled::Finished(result) => *result,
                Settled::Parked => unreachable!("an attached run never parks"),
            })
    }

    /// Records a new run of `workflow` (read from `file`) for a worker to
    /// execute ([`Executor::work`], here or in another process), and
    /// returns its id at once.
    pub async fn submit(
        &self,
        workflow: Arc<Workflow>,
        file: &SourceFile,
        mut request: RunRequest,
    ) -> Result<String, ExecError> {
        let definition =
            Definition::new(workflow.name.clone(), file.name.clone(), file.text.clone());
        let runner = self.runner_of(&definition.hash, || Ok(workflow))?;
        let run_id = request.run_id_or_new().to_owned();
        let first = runner.first_event(&run_id, &request);
        let created_at = OffsetDateTime::now_utc();
        self.inner
            .store
            .create_run(NewRun {
                id: run_id.clone(),
                workflow: runner.workflow().name.clone(),
                definition,
                base_dir: request.base_dir_path().display().to_string(),
                created_at,
                events: vec![self.codec(&runner, Redactor::new()).encode(&first)],
                owner: None,
                lease_until: created_at,
            })
            .await?;
        metrics::run_started(&runner.workflow().name, request.started_via());
        self.inner.wake.notify_one();
        Ok(run_id)
    }

    /// Claims due runs and drives them until `until` says to stop: when
    /// `stop` is cancelled (graceful: no more claims; the runs being driven
    /// get [`ExecutorOptions::stop_grace`] to end or park, then leases are
    /// given up and what is left goes on elsewhere or after a restart), or,
    /// with `until_idle`, when no run is left unfinished.
    pub async fn work(&self, stop: CancellationToken, until_idle: bool) -> Result<(), ExecError> {
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            let now = OffsetDateTime::now_utc();
            let claimed = self
                .inner
                .store
                .claim_due(
                    &self.inner.owner,
                    now,
                    now + self.inner.options.lease,
                    self.inner.options.claim_batch,
                )
                .await?;
            let full_batch =
                u32::try_from(claimed.len()).unwrap_or(u32::MAX) >= self.inner.options.claim_batch;
            for record in claimed {
                let executor = self.clone();
                tasks.spawn(async move {
                    let run_id = record.id.clone();
                    if let Err(error) = executor.drive_claimed(record).await {
                        tracing::error!(run_id, %error, "a run could not go on");
                    }
                });
            }
            while let Some(joined) = tasks.try_join_next() {
                drop(joined);
            }
            if full_batch {
                continue;
            }
            if until_idle && tasks.is_empty() && self.inner.store.unfinished().await? == 0 {
                break;
            }
            let wait = match self.inner.store.next_due().await? {
                Some(due) => {
                    let until = (due - OffsetDateTime::now_utc())
                        .try_into()
                        .unwrap_or(Duration::ZERO);
                    until.min(self.inner.options.poll)
                }
                None => self.inner.options.poll,
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        if stop.is_cancelled() {
            let drained = tokio::time::timeout(self.inner.options.stop_grace, async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                tracing::info!(
                    runs = tasks.len(),
                    "runs still going at the end of the stop grace were stopped; they go on from their logs"
                );
            }
            tasks.shutdown().await;
            self.inner
                .store
                .release_all(&self.inner.owner, OffsetDateTime::now_utc())
                .await?;
        }
        Ok(())
    }

    /// Drives one unfinished run here until it ends, whether due or not
    /// (waiting through its timers). `Ok(None)`: another live process
    /// holds it.
    pub async fn resume(&self, run_id: &str) -> Result<Option<RunResult>, ExecError> {
        loop {
            let now = OffsetDateTime::now_utc();
            let Some(record) = self
                .inner
                .store
                .claim(
                    run_id,
                    &self.inner.owner,
                    now,
                    now + self.inner.options.lease,
                )
                .await?
            else {
                return Ok(None);
            };
            match self.drive_claimed(record).await? {
                Settled::Finished(result) => return Ok(Some(*result)),
                Settled::Parked => {
                    let due = self
                        .inner
                        .store
                        .run(run_id)
                        .await?
                        .and_then(|record| record.due_at);
                    if let Some(due) = due {
                        let wait = (due - OffsetDateTime::now_utc())
                            .try_into()
                            .unwrap_or(Duration::ZERO);
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// Ends the leases of the owners `is_dead` recognises as gone (a killed
    /// process of this machine), so their runs go on now rather than when
    /// the leases expire. Returns how many runs were freed.
    pub async fn reclaim(&self, is_dead: impl Fn(&str) -> bool) -> Result<u64, ExecError> {
        let mut freed = 0;
        for owner in self.inner.store.lease_owners().await? {
            if owner != self.inner.owner && is_dead(&owner) {
                freed += self.inner.store.expire_leases(&owner).await?;
            }
        }
        Ok(freed)
    }

    /// Delivers an outside event under `key` (see [`idflow_core::inbox`]):
    /// to the oldest wait for it, waking that run (at once when it is
    /// driven here; a parked run is made due), or kept for
    /// [`ExecutorOptions::keep_events`] for the first wait. A repeated
    /// `idempotency_key` is ignored.
    pub async fn deliver_event(
        &self,
        key: &str,
        payload: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<Delivery, ExecError> {
        let received_at = OffsetDateTime::now_utc();
        let delivery = self
            .inner
            .store
            .deliver_event(NewEvent {
                key: key.to_owned(),
                payload: payload.to_string(),
                idempotency_key: idempotency_key.map(str::to_owned),
                received_at,
                keep_until: received_at + self.inner.options.keep_events,
            })
            .await?;
        if let Delivery::Delivered { run_id, .. } = &delivery {
            if lock(&self.inner.active).contains_key(run_id) {
                // Driven here: its driver hears of it now (the flag the
                // store keeps for other processes is taken with it).
                for step_id in self.inner.store.take_wakes(run_id).await? {
                    self.inner.wakes.wake(run_id, &step_id);
                }
            } else {
                // Parked (now due) or driven elsewhere: a worker goes on.
                self.inner.wake.notify_one();
            }
        }
        Ok(delivery)
    }

    /// Asks for a run to be cancelled. A run no live process holds is
    /// driven here to its end, its cleanup steps included.
    pub async fn cancel(&self, run_id: &str) -> Result<CancelOutcome, ExecError> {
        let now = OffsetDateTime::now_utc();
        let record = self.inner.store.request_cancel(run_id, now).await?;
        if record.phase.is_finished() {
            return Ok(CancelOutcome::AlreadyFinished(record.phase));
        }
        if let Some(result) = self.resume(run_id).await? {
            return Ok(CancelOutcome::Cancelled(Box::new(result)));
        }
        let owner = self
            .inner
            .store
            .run(run_id)
            .await?
            .and_then(|record| record.lease_owner)
            .unwrap_or_default();
        Ok(CancelOutcome::Requested { owner })
    }

    /// Asks for a run to be cancelled without waiting for it (a server's
    /// cancel): a run driven here stops now; a parked one is made due, so
    /// a worker (this one, woken) drives its cleanup; one another process
    /// drives hears of it at that process's next heartbeat. Returns the
    /// run's record as it was asked.
    pub async fn request_cancel(&self, run_id: &str) -> Result<RunRecord, ExecError> {
        let record = self
            .inner
            .store
            .request_cancel(run_id, OffsetDateTime::now_utc())
            .await?;
        if let Some(token) = lock(&self.inner.active).get(run_id) {
            token.cancel();
        }
        self.inner.wake.notify_one();
        Ok(record)
    }

    /// The workflow a run executes: its pinned definition (the text it
    /// was started with, whatever the file says now), validated once and
    /// kept with the run's runner.
    pub async fn workflow_of(&self, record: &RunRecord) -> Result<Arc<Workflow>, ExecError> {
        let runner = self.runner_for(record).await?;
        Ok(Arc::clone(runner.program().workflow_arc()))
    }

    /// A run's attempts and waits, from its log (see [`Timeline`]).
    pub async fn timeline(&self, record: &RunRecord) -> Result<Timeline, ExecError> {
        let runner = self.runner_for(record).await?;
        let events = self.decoded_log(record, &runner).await?;
        Ok(Timeline::of(runner.workflow(), record.created_at, &events))
    }

    /// A run's result as `idflow run --json` prints it; for a run not
    /// finished yet, its state so far, with `status` its phase.
    pub async fn result_json(&self, record: &RunRecord) -> Result<serde_json::Value, ExecError> {
        if let Some(result) = &record.result {
            return serde_json::from_str(result).map_err(|error| {
                ExecError::Store(StoreError::Corrupt {
                    run_id: record.id.clone(),
                    reason: format!("its result is not JSON: {error}"),
                })
            });
        }
        let runner = self.runner_for(record).await?;
        let machine = self
            .replay(record, &runner, placeholder_secrets(runner.workflow()))
            .await?;
        let result = runner.snapshot(&machine, record.created_at);
        let mut json = serde_json::to_value(&result).unwrap_or_default();
        if let Some(object) = json.as_object_mut() {
            object.insert("status".into(), record.phase.as_str().into());
            object.insert("finished_at".into(), serde_json::Value::Null);
            if let Some(trace_id) = self.trace_id(&record.id) {
                object.insert("trace_id".into(), trace_id.into());
            }
        }
        Ok(json)
    }

    /// A run's pinned workflow and its log, decoded (sensitive outputs
    /// opened: keep them away from anything shown).
    pub async fn recorded(
        &self,
        record: &RunRecord,
    ) -> Result<(Arc<Workflow>, Vec<Event>), ExecError> {
        let runner = self.runner_for(record).await?;
        let events = self.decoded_log(record, &runner).await?;
        Ok((Arc::clone(runner.program().workflow_arc()), events))
    }

    /// A run's log, read and decoded (sealed outputs opened).
    async fn decoded_log(
        &self,
        record: &RunRecord,
        runner: &Runner,
    ) -> Result<Vec<Event>, StoreError> {
        let codec = self.codec(runner, Redactor::new());
        self.inner
            .store
            .events(&record.id)
            .await?
            .iter()
            .enumerate()
            .map(|(seq, bytes)| {
                codec.decode(bytes).map_err(|reason| StoreError::Corrupt {
                    run_id: record.id.clone(),
                    reason: format!("event {seq}: {reason}"),
                })
            })
            .collect()
    }

    /// Goes on with a claimed run until it ends or parks.
    async fn drive_claimed(&self, record: RunRecord) -> Result<Settled, ExecError> {
        let run_id = record.id.clone();
        let outcome = self.drive_claimed_inner(&record).await;
        if let Err(error) = &outcome {
            // It cannot go on: say why in its record, once and for all.
            let reason = error.to_string();
            tracing::error!(run_id, %reason, "the run is marked failed");
            self.abandon(&record, "resume_failed", &reason).await?;
            return Ok(Settled::Finished(Box::new(abandoned_result(
                &record,
                "resume_failed",
                &reason,
                self.trace_id(&record.id),
            ))));
        }
        outcome
    }

    async fn drive_claimed_inner(&self, record: &RunRecord) -> Result<Settled, ExecError> {
        let runner = self.runner_for(record).await?;
        let mut secrets = Vec::new();
        for name in &runner.workflow().secrets {
            let Some(value) = self.inner.secrets.secret(name) else {
                let reason = format!(
                    "the run reads the secret `{name}`, which is not set in this process's environment (set {name} where runs resume)"
                );
                self.abandon(record, "secret_missing", &reason).await?;
                return Ok(Settled::Finished(Box::new(abandoned_result(
                    record,
                    "secret_missing",
                    &reason,
                    self.trace_id(&record.id),
                ))));
            };
            secrets.push((name.clone(), value));
        }
        let secrets: Secrets = secrets.into_iter().collect();
        let machine = self.replay(record, &runner, secrets.clone()).await?;
        let request = RunRequest::new(serde_json::Value::Null)
            .secrets(secrets)
            .base_dir(&record.base_dir);
        let cancel_now = record.cancel_requested && !machine.cancel_requested();
        let (mut request, cancel) = self.watch(&record.id, self.traced(request), cancel_now);
        // Events that came while it was parked: those steps poll at once.
        for step_id in self.inner.store.take_wakes(&record.id).await? {
            self.inner.wakes.wake(&record.id, &step_id);
        }
        let journal = Journal::new(
            Arc::clone(&self.inner.store),
            self.codec(&runner, request.secret_values()),
            record.id.clone(),
            self.inner.owner.clone(),
            record.next_seq,
        );
        let launch = Launch {
            wall_start: record.created_at,
            park_after: Some(self.inner.options.park_after),
        };
        let (driver, signals, span) = runner.resume(machine, request, journal, launch);
        let end = driver.drive(signals).instrument(span).await;
        drop(cancel);
        self.settle(&record.id, record.created_at, end).await
    }

    /// Rebuilds a run's machine from its log.
    async fn replay(
        &self,
        record: &RunRecord,
        runner: &Runner,
        secrets: Secrets,
    ) -> Result<Machine, ExecError> {
        let events = self.decoded_log(record, runner).await?;
        let corrupt = |reason: String| StoreError::Corrupt {
            run_id: record.id.clone(),
            reason,
        };
        if !matches!(
            events.first().map(|event| &event.kind),
            Some(EventKind::RunStarted { .. })
        ) {
            return Err(corrupt("it does not begin with `run_started`".into()).into());
        }
        Machine::replay(Arc::clone(runner.program()), secrets, &events)
            .map_err(|error| corrupt(format!("it does not replay: {error}")).into())
    }

    /// Records how driving a run ended.
    async fn settle(
        &self,
        run_id: &str,
        wall_start: OffsetDateTime,
        end: DriveEnd<Journal>,
    ) -> Result<Settled, ExecError> {
        let settled = match end {
            DriveEnd::Finished(result, journal) => {
                let phase = RunPhase::from(result.status);
                // Counted before the result is written, so whoever sees
                // the run finished sees it counted.
                metrics::run_finished(&result.workflow, phase);
                let json = serde_json::to_string(&result).unwrap_or_default();
                self.inner
                    .store
                    .release(
                        run_id,
                        &self.inner.owner,
                        journal.next_seq(),
                        Release::Finish {
                            phase,
                            result: json,
                        },
                    )
                    .await?;
                Settled::Finished(Box::new(result))
            }
            DriveEnd::Parked { sink, wake_at } => {
                let due_at = wake_at.map(|offset| wall_start + offset);
                self.inner
                    .store
                    .release(
                        run_id,
                        &self.inner.owner,
                        sink.next_seq(),
                        Release::Park { due_at },
                    )
                    .await?;
                Settled::Parked
            }
            DriveEnd::Lost(_, _, error) => return Err(error.into()),
        };
        self.inner.wake.notify_one();
        Ok(settled)
    }

    /// Marks a run that cannot go on as failed, with the reason.
    async fn abandon(&self, record: &RunRecord, code: &str, reason: &str) -> Result<(), ExecError> {
        let result = abandoned_result(record, code, reason, self.trace_id(&record.id));
        let json = serde_json::to_string(&result).unwrap_or_default();
        let next_seq = self
            .inner
            .store
            .run(&record.id)
            .await?
            .map_or(record.next_seq, |current| current.next_seq);
        metrics::run_finished(&record.workflow, RunPhase::Failed);
        self.inner
            .store
            .release(
                &record.id,
                &self.inner.owner,
                next_seq,
                Release::Finish {
                    phase: RunPhase::Failed,
                    result: json,
                },
            )
            .await?;
        Ok(())
    }

    /// Registers a run driven here, so that a cancel request made
    /// elsewhere reaches it; the guard unregisters it.
    fn watch(
        &self,
        run_id: &str,
        request: RunRequest,
        cancel_now: bool,
    ) -> (RunRequest, ActiveGuard) {
        let token = request.cancel_token().cloned().unwrap_or_default();
        if cancel_now {
            token.cancel();
        }
        lock(&self.inner.active).insert(run_id.to_owned(), token.clone());
        let wakes = self.inner.wakes.attach(run_id);
        (
            request
                .cancel_on(token)
                .inbox(Arc::clone(&self.inner.inbox), wakes),
            ActiveGuard {
                inner: Arc::clone(&self.inner),
                run_id: run_id.to_owned(),
            },
        )
    }

    fn codec(&self, runner: &Runner, secrets: Redactor) -> Codec {
        Codec::new(
            Arc::clone(runner.sensitive_outputs()),
            Arc::clone(&self.inner.seal),
        )
        .sealing_secrets(secrets)
    }

    /// The runner of a run's pinned definition.
    async fn runner_for(&self, record: &RunRecord) -> Result<Runner, ExecError> {
        if let Some(runner) = lock(&self.inner.runners).get(&record.definition) {
            return Ok(runner.clone());
        }
        let definition = self.inner.store.definition(&record.definition).await?;
        self.runner_of(&definition.hash, || {
            let file = SourceFile::new(definition.path.clone(), definition.source.clone());
            let validated = validate(file, &self.inner.registry, &self.inner.engine);
            match validated.workflow {
                Some(workflow) => Ok(Arc::new(workflow)),
                None => Err(ExecError::Definition {
                    run_id: record.id.clone(),
                    reason: validated
                        .diagnostics
                        .first()
                        .map_or_else(String::new, |diagnostic| diagnostic.message.clone()),
                }),
            }
        })
    }

    fn runner_of(
        &self,
        hash: &str,
        workflow: impl FnOnce() -> Result<Arc<Workflow>, ExecError>,
    ) -> Result<Runner, ExecError> {
        if let Some(runner) = lock(&self.inner.runners).get(hash) {
            return Ok(runner.clone());
        }
        let runner = Runner::with_engine(
            workflow()?,
            &self.inner.registry,
            Arc::clone(&self.inner.engine),
        )?;
        lock(&self.inner.runners).insert(hash.to_owned(), runner.clone());
        Ok(runner)
    }
}

/// How driving a claimed run ended.
enum Settled {
    Finished(Box<RunResult>),
    Parked,
}

/// Unregisters a run from the active ones when its driving ends.
struct ActiveGuard {
    inner: Arc<Inner>,
    run_id: String,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        lock(&self.inner.active).remove(&self.run_id);
        self.inner.wakes.detach(&self.run_id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stand-ins for a workflow's secrets, to rebuild a run for display: a
/// secret only flows into credential inputs (IDF0020), which a replay
/// renders and drops, so its value changes nothing there.
fn placeholder_secrets(workflow: &Workflow) -> Secrets {
    workflow
        .secrets
        .iter()
        .map(|name| (name.clone(), idflow_core::redact::REDACTED.to_owned()))
        .collect()
}

/// The result of a run that could not go on.
fn abandoned_result(
    record: &RunRecord,
    code: &str,
    reason: &str,
    trace_id: Option<String>,
) -> RunResult {
    RunResult {
        run_id: record.id.clone(),
        workflow: record.workflow.clone(),
        status: RunStatus::Failed,
        started_at: record.created_at,
        finished_at: OffsetDateTime::now_utc(),
        outputs: idflow_core::Outputs::new(),
        error: Some(StepError::terminal(code, reason)),
        steps: indexmap::IndexMap::new(),
        trace_id,
        revealed: idflow_core::Outputs::new(),
    }
}

/// Renews the leases of the runs an executor drives, a third of a lease
/// apart, and cancels those someone asked to cancel. Ends with the
/// executor.
async fn heartbeat(inner: Weak<Inner>) {
    let every = match inner.upgrade() {
        Some(inner) => inner.options.lease / 3,
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if lock(&inner.active).is_empty() {
            continue;
        }
        let until = OffsetDateTime::now_utc() + inner.options.lease;
        match inner.store.heartbeat(&inner.owner, until).await {
            Ok(cancelled) => {
                let active = lock(&inner.active);
                for run_id in cancelled {
                    if let Some(token) = active.get(&run_id) {
                        token.cancel();
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the leases of this process's runs could not be renewed");
            }
        }
        // Events delivered by another process to runs driven here.
        if let Err(error) = hear_wakes(&inner).await {
            tracing::warn!(%error, "the wake-ups of this process's runs could not be read");
        }
    }
}

/// Hands the runs driven here the wake-ups of their steps that the store
/// holds (events delivered by another process). A run that is no longer
/// driven here keeps its flags: parking it made it due.
async fn hear_wakes(inner: &Inner) -> Result<(), StoreError> {
    for run_id in inner.store.woken_runs(&inner.owner).await? {
        if !lock(&inner.active).contains_key(&run_id) {
            continue;
        }
        for step_id in inner.store.take_wakes(&run_id).await? {
            inner.wakes.wake(&run_id, &step_id);
        }
    }
    Ok(())
}
