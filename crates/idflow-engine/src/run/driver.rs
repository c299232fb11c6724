//! The tokio driver: performs the machine's [`Action`]s and feeds back
//! [`Event`]s until the run finishes.
//!
//! - Each attempt runs as a task in the run's [`JoinSet`], with the
//!   step's [`StepContext`] (run id, step id, attempt, base folder and the
//!   run's shared [`Redactor`]) and, when the step has a `timeout`, under
//!   [`tokio::time::timeout`]. A panicking step fails its attempt with the
//!   terminal error `panic` instead of taking the run down.
//! - Cancelling an attempt aborts its task, which drops the step's future;
//!   when the run finishes every task left is aborted and awaited, so no
//!   step outlives its run.
//! - Deadlines are the driver's (an attempt's `timeout`, the run's
//!   `timeout`); waits are the machine's (it schedules timers, the driver
//!   fires them).
//! - Every event is handed to an [`EventSink`] before the machine applies
//!   it, progress goes to a [`RunObserver`], and tracing has a span per run
//!   (`run_id`, `workflow`) and per attempt (`run_id`, `step`, `attempt`).
//!   Nothing the driver logs or reports carries a secret.

use std::future::Future;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use idflow_core::{Inbox, Outputs, Redactor, Step, StepContext, StepError, StepRegistry};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::action::{Action, StepState};
use super::event::{Event, EventKind, TimerId};
use super::machine::Machine;
use super::metrics::{self, StartedVia};
use super::program::Program;
use super::progress::{Progress, RunObserver};
use super::result::{self, RunResult};
use super::secrets::Secrets;
use super::store::StoreError;
use super::tracer::RunTracer;
use crate::expr::ExprEngine;
use crate::model::{StepIndex, Workflow};

/// Where a run's events go (to persist them, or to keep them for a replay).
pub trait EventSink: Send {
    /// One event, before the machine applies it.
    fn record(&mut self, event: &Event);

    /// Makes every recorded event durable. The driver awaits it before it
    /// performs the actions those events lead to (write-ahead): an attempt
    /// starts only once its `attempt_started` is in the log. An error
    /// stops the run where it is.
    fn flush(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }
}

impl EventSink for Vec<Event> {
    fn record(&mut self, event: &Event) {
        self.push(event.clone());
    }
}

/// Keeps no events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl EventSink for Discard {
    fn record(&mut self, _event: &Event) {}
}

/// A workflow that cannot run with this registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerError {
    /// A step type that is not registered (validation prevents this).
    #[error("step `{step}` uses `{uses}`, which is not a registered step type")]
    UnknownStepType {
        /// The step's id.
        step: String,
        /// Its type.
        uses: String,
    },
}

/// Runs one workflow, as many times as asked (concurrently too): cheap to
/// clone, everything in it is shared.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<RunnerInner>,
}

struct RunnerInner {
    program: Arc<Program>,
    /// The step type of each step.
    implementations: Vec<Arc<dyn Step>>,
    ids: Vec<Arc<str>>,
    /// The outputs of each step that hold credentials.
    sensitive: Arc<Vec<Vec<String>>>,
    /// Whether each step's type may repeat an interrupted attempt.
    repeatable: Vec<bool>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("workflow", &self.inner.program.workflow().name)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner of `workflow` (validated against `registry`).
    pub fn new(workflow: Arc<Workflow>, registry: &StepRegistry) -> Result<Self, RunnerError> {
        Self::with_engine(workflow, registry, Arc::new(ExprEngine::new()))
    }

    /// A runner sharing an expression engine.
    pub fn with_engine(
        workflow: Arc<Workflow>,
        registry: &StepRegistry,
        engine: Arc<ExprEngine>,
    ) -> Result<Self, RunnerError> {
        let mut implementations = Vec::with_capacity(workflow.steps.len());
        let mut sensitive = Vec::with_capacity(workflow.steps.len());
        let mut repeatable = Vec::with_capacity(workflow.steps.len());
        for plan in &workflow.steps {
            let Some(step) = registry.get(&plan.uses) else {
                return Err(RunnerError::UnknownStepType {
                    step: plan.id.clone(),
                    uses: plan.uses.clone(),
                });
            };
            sensitive.push(
                step.metadata()
                    .outputs
                    .iter()
                    .filter(|output| output.sensitive)
                    .map(|output| output.name.clone())
                    .collect(),
            );
            repeatable.push(step.metadata().repeatable);
            implementations.push(Arc::clone(step));
        }
        let ids = workflow
            .steps
            .iter()
            .map(|plan| Arc::from(plan.id.as_str()))
            .collect();
        Ok(Self {
            inner: Arc::new(RunnerInner {
                program: Arc::new(Program::new(workflow, engine)),
                implementations,
                ids,
                sensitive: Arc::new(sensitive),
                repeatable,
            }),
        })
    }

    /// What the machine runs.
    pub fn program(&self) -> &Arc<Program> {
        &self.inner.program
    }

    /// A finished or unfinished run's result as it stands (secrets and
    /// sensitive outputs redacted; `status` is `failed` until it ends).
    pub fn snapshot(&self, machine: &Machine, wall_start: OffsetDateTime) -> RunResult {
        let redactor = Redactor::new();
        result::build(machine, wall_start, &redactor, &self.inner.sensitive, &[])
    }

    /// The outputs of each step that hold credentials (to seal at rest).
    pub fn sensitive_outputs(&self) -> &Arc<Vec<Vec<String>>> {
        &self.inner.sensitive
    }

    /// The workflow.
    pub fn workflow(&self) -> &Workflow {
        self.inner.program.workflow()
    }

    /// Runs the workflow to the end and reports how it went. The future
    /// owns everything it needs: `tokio::spawn(runner.run(request))` works.
    pub fn run(&self, request: RunRequest) -> impl Future<Output = RunResult> + Send + 'static {
        self.run_recorded(request, Discard)
            .map(|(result, _)| result)
    }

    /// Runs the workflow, handing every event to `sink`, and gives the sink
    /// back with the result.
    pub fn run_recorded<S: EventSink + 'static>(
        &self,
        request: RunRequest,
        sink: S,
    ) -> impl Future<Output = (RunResult, S)> + Send + 'static {
        let (driver, signals, span) = self.start(request, sink, Launch::now());
        async move {
            match driver.drive(signals).await {
                DriveEnd::Finished(result, sink) | DriveEnd::Lost(result, sink, _) => {
                    (result, sink)
                }
                DriveEnd::Parked { .. } => unreachable!("a run that may not park parked"),
            }
        }
        .instrument(span)
    }

    /// A driver of a new run: its `run_started` is recorded (and applied)
    /// already; the first flush writes it.
    pub(crate) fn start<S: EventSink>(
        &self,
        request: RunRequest,
        sink: S,
        launch: Launch,
    ) -> (Driver<S>, Signals, tracing::Span) {
        let run_id = request
            .run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let started = self.first_event(&run_id, &request);
        let machine = Machine::new(Arc::clone(&self.inner.program), request.secrets.clone());
        let (mut driver, signals, span) =
            self.driver(machine, run_id, request, sink, launch, Duration::ZERO);
        driver.apply(&started);
        (driver, signals, span)
    }

    /// The `run_started` event of a new run.
    pub(crate) fn first_event(&self, run_id: &str, request: &RunRequest) -> Event {
        let seed = request
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
        Event::new(
            Duration::ZERO,
            EventKind::RunStarted {
                workflow: self.inner.program.workflow().name.clone(),
                run_id: run_id.to_owned(),
                inputs: Arc::new(request.inputs.clone()),
                seed,
                max_concurrency: request.max_concurrency,
            },
        )
    }

    /// A driver that goes on with a run rebuilt from its log in another
    /// process (or after a park): its timers are scheduled again for what
    /// is left of them, and the attempts that were running are reported as
    /// interrupted (recorded, so a replay sees the same).
    pub(crate) fn resume<S: EventSink>(
        &self,
        machine: Machine,
        request: RunRequest,
        sink: S,
        launch: Launch,
    ) -> (Driver<S>, Signals, tracing::Span) {
        let run_id = machine.run_id().unwrap_or_default().to_owned();
        // The run goes on from where its log stopped on the wall clock
        // (never back, should the clock have been set back).
        let elapsed = (OffsetDateTime::now_utc() - launch.wall_start)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let age = machine.now().max(elapsed);
        let (mut driver, signals, span) = self.driver(machine, run_id, request, sink, launch, age);
        driver.machine.resume(&mut driver.actions);
        let interrupted: Vec<_> = driver.machine.interrupted_attempts().collect();
        for (step, attempt, started) in interrupted {
            let repeatable = self
                .inner
                .repeatable
                .get(step.get())
                .copied()
                .unwrap_or(false);
            let event = Event::new(
                driver.now(),
                EventKind::AttemptInterrupted {
                    step,
                    attempt,
                    started,
                    repeatable,
                },
            );
            driver.apply(&event);
        }
        (driver, signals, span)
    }

    fn driver<S: EventSink>(
        &self,
        machine: Machine,
        run_id: String,
        mut request: RunRequest,
        sink: S,
        launch: Launch,
        origin_offset: Duration,
    ) -> (Driver<S>, Signals, tracing::Span) {
        let redactor = request.secret_values();
        let workflow = self.inner.program.workflow();
        let span = tracing::info_span!("run", run_id = %run_id, workflow = %workflow.name);
        let trace_id = request.tracer.as_ref().and_then(|tracer| {
            tracer.attach(&run_id, &span);
            tracer.trace_id(&run_id)
        });
        let origin = Instant::now();
        let run_deadline = workflow
            .timeout
            .map(|timeout| origin + timeout.saturating_sub(origin_offset));
        let driver = Driver {
            runner: Arc::clone(&self.inner),
            machine,
            sink,
            run_id: run_id.into(),
            base_dir: request.base_dir,
            redactor,
            observer: request.observer,
            reveal: request.reveal,
            attempts: None,
            abort_handles: vec![None; self.inner.ids.len()],
            to_spawn: Vec::new(),
            timers: Vec::new(),
            alarm: None,
            origin,
            origin_offset,
            wall_start: launch.wall_start,
            park_after: launch.park_after,
            actions: Vec::new(),
            batch: Vec::new(),
            trace_id,
            inbox: request.inbox,
            wakes: request.wakes,
            woken: Vec::new(),
        };
        let signals = Signals {
            cancel: request.cancel,
            force: request.force_cancel,
            run_deadline,
        };
        (driver, signals, span)
    }
}

/// When a run started and whether it may park.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch {
    /// The run's time zero on the wall clock.
    pub(crate) wall_start: OffsetDateTime,
    /// Park (stop driving, hold nothing) when nothing runs and the next
    /// timer is at least this far away.
    pub(crate) park_after: Option<Duration>,
}

impl Launch {
    /// A run starting now that never parks.
    pub(crate) fn now() -> Self {
        Self {
            wall_start: OffsetDateTime::now_utc(),
            park_after: None,
        }
    }
}

/// How driving a run ended.
pub(crate) enum DriveEnd<S> {
    /// The run finished.
    Finished(RunResult, S),
    /// Nothing runs and the next timer is far: the run is left to its log.
    Parked {
        /// The sink, flushed.
        sink: S,
        /// When the run must go on (its next timer or deadline, since its
        /// start), if ever.
        wake_at: Option<Duration>,
    },
    /// The sink failed: the run stopped where it was (the result says so).
    Lost(RunResult, S, StoreError),
}

/// What to run with: inputs, secrets, and how to watch or stop the run.
pub struct RunRequest {
    inputs: serde_json::Value,
    secrets: Secrets,
    run_id: Option<String>,
    seed: Option<u64>,
    max_concurrency: Option<NonZeroU32>,
    base_dir: PathBuf,
    cancel: Option<CancellationToken>,
    force_cancel: Option<CancellationToken>,
    observer: Option<Arc<dyn RunObserver>>,
    reveal: Vec<String>,
    redactor: Option<Redactor>,
    via: StartedVia,
    tracer: Option<Arc<dyn RunTracer>>,
    inbox: Option<Arc<dyn Inbox>>,
    wakes: Option<Wakes>,
}

/// The ids of a run's steps whose waits received an outside event (see
/// [`idflow_core::inbox`]): a step waiting between polls polls again at
/// once; one whose attempt is running polls again as soon as it waits.
pub type Wakes = mpsc::UnboundedReceiver<Arc<str>>;

impl std::fmt::Debug for RunRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRequest")
            .field("inputs", &self.inputs)
            .field("secrets", &self.secrets)
            .field("run_id", &self.run_id)
            .field("seed", &self.seed)
            .field("max_concurrency", &self.max_concurrency)
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

impl RunRequest {
    /// A run with these inputs (already checked against the workflow's
    /// declared inputs, defaults applied: `inputs.*` reads them as given).
    pub fn new(inputs: serde_json::Value) -> Self {
        Self {
            inputs,
            secrets: Secrets::new(),
            run_id: None,
            seed: None,
            max_concurrency: None,
            base_dir: PathBuf::from("."),
            cancel: None,
            force_cancel: None,
            observer: None,
            reveal: Vec::new(),
            redactor: None,
            via: StartedVia::default(),
            tracer: None,
            inbox: None,
            wakes: None,
        }
    }

    /// Lets the run's steps wait for outside events: they receive them
    /// from `inbox`, and `wakes` says which step to poll again at once.
    #[must_use]
    pub fn inbox(mut self, inbox: Arc<dyn Inbox>, wakes: Wakes) -> Self {
        self.inbox = Some(inbox);
        self.wakes = Some(wakes);
        self
    }

    /// Places the run's span in a trace of the run's own, and names that
    /// trace in the result (see [`RunTracer`]).
    #[must_use]
    pub fn trace_with(mut self, tracer: Arc<dyn RunTracer>) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Whether a tracer is set.
    pub(crate) fn is_traced(&self) -> bool {
        self.tracer.is_some()
    }

    /// Who starts the run (a label of the runs-started metric).
    #[must_use]
    pub fn via(mut self, via: StartedVia) -> Self {
        self.via = via;
        self
    }

    /// Who starts the run.
    pub(crate) fn started_via(&self) -> StartedVia {
        self.via
    }

    /// The secret values (`secrets.*`); they are redacted from everything
    /// the run reports.
    #[must_use]
    pub fn secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// The run's id (default: a new UUIDv7).
    #[must_use]
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// The run's id, a new one if none was given.
    pub(crate) fn run_id_or_new(&mut self) -> &str {
        self.run_id
            .get_or_insert_with(|| uuid::Uuid::now_v7().to_string())
    }

    /// The folder relative paths resolve against.
    pub(crate) fn base_dir_path(&self) -> &std::path::Path {
        &self.base_dir
    }

    /// The run's redactor: its secret values, and the credentials its
    /// steps report as it goes (shared with the driver that runs it).
    pub(crate) fn secret_values(&mut self) -> Redactor {
        let secrets = &self.secrets;
        self.redactor
            .get_or_insert_with(|| {
                let redactor = Redactor::new();
                for value in secrets.values() {
                    redactor.add(value);
                }
                redactor
            })
            .clone()
    }

    /// The token that cancels the run, if any.
    pub(crate) fn cancel_token(&self) -> Option<&CancellationToken> {
        self.cancel.as_ref()
    }

    /// The jitter seed (default: random; it is recorded in the first event).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// At most this many attempts at once.
    #[must_use]
    pub fn max_concurrency(mut self, limit: NonZeroU32) -> Self {
        self.max_concurrency = Some(limit);
        self
    }

    /// The folder relative paths in step inputs resolve against.
    #[must_use]
    pub fn base_dir(mut self, base_dir: impl Into<PathBuf>) -> Self {
        self.base_dir = base_dir.into();
        self
    }

    /// Cancels the run when `token` is cancelled (cleanup steps with
    /// `always()` or `cancelled()` still run).
    #[must_use]
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Stops the run at once, cleanup steps included, when `token` is
    /// cancelled.
    #[must_use]
    pub fn force_cancel_on(mut self, token: CancellationToken) -> Self {
        self.force_cancel = Some(token);
        self
    }

    /// Keeps the real value of the run output `name` in
    /// [`RunResult::revealed`] (never serialized or logged), for a caller that
    /// must show it to the user on purpose, such as a verification link.
    #[must_use]
    pub fn reveal(mut self, name: impl Into<String>) -> Self {
        self.reveal.push(name.into());
        self
    }

    /// Sends progress to `observer`.
    #[must_use]
    pub fn observe(mut self, observer: impl RunObserver + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }
}

/// How an attempt's task ended.
struct AttemptEnd {
    step: StepIndex,
    attempt: u32,
    result: Option<Result<Outputs, StepError>>,
}

/// What can stop a run from outside, or by the clock.
pub(crate) struct Signals {
    cancel: Option<CancellationToken>,
    force: Option<CancellationToken>,
    run_deadline: Option<Instant>,
}

/// One run in progress.
pub(crate) struct Driver<S> {
    runner: Arc<RunnerInner>,
    machine: Machine,
    sink: S,
    run_id: Arc<str>,
    base_dir: PathBuf,
    redactor: Redactor,
    observer: Option<Arc<dyn RunObserver>>,
    reveal: Vec<String>,
    /// The attempts' tasks (none while the run is parked).
    attempts: Option<JoinSet<AttemptEnd>>,
    /// The running attempt's task of each step.
    abort_handles: Vec<Option<AbortHandle>>,
    /// Attempts to start once the events so far are flushed.
    to_spawn: Vec<PendingAttempt>,
    timers: Vec<(TimerId, Instant)>,
    /// One sleep, reset to the next timer or the run's deadline (made on
    /// the first wait).
    alarm: Option<Pin<Box<Sleep>>>,
    /// When this driver started: event times are `origin_offset` plus the
    /// time since.
    origin: Instant,
    /// The run's age (since its start) at `origin`.
    origin_offset: Duration,
    /// The run's start on the wall clock (for the result).
    wall_start: OffsetDateTime,
    /// See [`Launch::park_after`].
    park_after: Option<Duration>,
    /// Actions to perform.
    actions: Vec<Action>,
    /// The actions being performed (kept to reuse its allocation).
    batch: Vec<Action>,
    /// The trace of the run's spans, for its result.
    trace_id: Option<String>,
    /// Where the steps receive outside events.
    inbox: Option<Arc<dyn Inbox>>,
    /// Which steps received one.
    wakes: Option<Wakes>,
    /// Steps woken while their attempt ran: their next wait ends at once.
    woken: Vec<StepIndex>,
}

/// When a parked run must go on (since its start), if ever.
struct Wake(Option<Duration>);

/// An attempt the machine asked for, started once its `attempt_started`
/// is durable.
struct PendingAttempt {
    step: StepIndex,
    attempt: u32,
    input: serde_json::Value,
    timeout: Option<Duration>,
}

impl<S: EventSink> Driver<S> {
    /// The run's age now.
    fn now(&self) -> Duration {
        self.origin_offset + self.origin.elapsed()
    }

    /// Runs until the machine finishes (or parks, when allowed).
    pub(crate) async fn drive(mut self, mut signals: Signals) -> DriveEnd<S> {
        loop {
            if let Err(error) = self.perform().await {
                tracing::error!(%error, "the run stopped: its events could not be written");
                if let Some(attempts) = &mut self.attempts {
                    attempts.shutdown().await;
                }
                let result = self.result();
                return DriveEnd::Lost(result, self.sink, error);
            }
            if self.machine.is_finished() {
                break;
            }
            if let Some(Wake(wake_at)) = self.parks(&signals) {
                return DriveEnd::Parked {
                    sink: self.sink,
                    wake_at,
                };
            }
            if let Some(kind) = self.next_event(&mut signals).await {
                let event = Event::new(self.now(), kind);
                self.apply(&event);
            }
        }
        // Nothing may outlive the run: abort what is left and wait for it.
        if let Some(attempts) = &mut self.attempts {
            attempts.shutdown().await;
        }
        let result = self.result();
        tracing::info!(status = %result.status, "run finished");
        DriveEnd::Finished(result, self.sink)
    }

    fn result(&self) -> RunResult {
        let mut result = result::build(
            &self.machine,
            self.wall_start,
            &self.redactor,
            &self.runner.sensitive,
            &self.reveal,
        );
        result.trace_id.clone_from(&self.trace_id);
        result
    }

    /// Whether to park now, and until when: nothing runs, no attempt is
    /// being reaped, and the next timer (or the run's deadline) is at least
    /// `park_after` away. Cancellation still works: a parked run is woken
    /// by the store.
    fn parks(&self, signals: &Signals) -> Option<Wake> {
        let park_after = self.park_after?;
        if self.machine.running() > 0
            || self.attempts.is_some()
            || self.wakes.as_ref().is_some_and(|wakes| !wakes.is_empty())
        {
            return None;
        }
        let now = self.now();
        let timer = self.machine.next_timer_due();
        let deadline = self
            .runner
            .program
            .workflow()
            .timeout
            .filter(|_| signals.run_deadline.is_some());
        let wake_at = match (timer, deadline) {
            (Some(timer), Some(deadline)) => Some(timer.min(deadline)),
            (timer, deadline) => timer.or(deadline),
        };
        match wake_at {
            Some(at) if at.saturating_sub(now) < park_after => None,
            wake_at => Some(Wake(wake_at)),
        }
    }

    fn apply(&mut self, event: &Event) {
        if let EventKind::AttemptSucceeded { step, outputs, .. } = &event.kind {
            self.note_sensitive_outputs(*step, outputs);
        }
        self.sink.record(event);
        if let Err(error) = self.machine.handle(event, &mut self.actions) {
            tracing::error!(%error, "the run's state machine refused an event");
        }
    }

    /// Sensitive outputs join the run's secrets.
    fn note_sensitive_outputs(&self, step: StepIndex, outputs: &Outputs) {
        for name in self.runner.sensitive.get(step.get()).into_iter().flatten() {
            if let Some(value) = outputs.get(name) {
                self.redactor.add_leaves(value);
            }
        }
    }

    /// Performs what the machine asked for. Attempts start last, once every
    /// event so far (their `attempt_started` included) is flushed.
    async fn perform(&mut self) -> Result<(), StoreError> {
        loop {
            std::mem::swap(&mut self.actions, &mut self.batch);
            if self.batch.is_empty() {
                break;
            }
            let mut batch = std::mem::take(&mut self.batch);
            for action in batch.drain(..) {
                self.perform_one(action);
            }
            self.batch = batch;
        }
        self.sink.flush().await?;
        let mut to_spawn = std::mem::take(&mut self.to_spawn);
        for pending in to_spawn.drain(..) {
            self.spawn_attempt(pending);
        }
        self.to_spawn = to_spawn;
        if self.machine.running() == 0 {
            // Parked until a timer (or waiting for aborted attempts to be
            // reaped): hold on to nothing that is not needed.
            self.actions = Vec::new();
            self.batch = Vec::new();
            self.to_spawn = Vec::new();
            self.timers.shrink_to_fit();
            self.machine.trim();
            if self.attempts.as_ref().is_some_and(JoinSet::is_empty) {
                self.attempts = None;
            }
        }
        Ok(())
    }

    fn perform_one(&mut self, action: Action) {
        match action {
            Action::StartAttempt {
                step,
                attempt,
                input,
                timeout,
            } => {
                let event = Event::new(self.now(), EventKind::AttemptStarted { step, attempt });
                self.apply(&event);
                self.to_spawn.push(PendingAttempt {
                    step,
                    attempt,
                    input,
                    timeout,
                });
            }
            Action::CancelAttempt { step, attempt } => {
                self.to_spawn
                    .retain(|pending| (pending.step, pending.attempt) != (step, attempt));
                if let Some(handle) = self
                    .abort_handles
                    .get_mut(step.get())
                    .and_then(Option::take)
                {
                    handle.abort();
                }
            }
            Action::ScheduleTimer { timer, after } => {
                // A step woken while its attempt ran polls again at once.
                let after = match self.woken.iter().position(|step| *step == timer.step) {
                    Some(position) => {
                        self.woken.swap_remove(position);
                        Duration::ZERO
                    }
                    None => after,
                };
                self.timers.push((timer, Instant::now() + after));
            }
            Action::CancelTimer { timer } => self.timers.retain(|(id, _)| *id != timer),
            Action::StepChanged {
                step,
                state,
                attempt,
            } => self.report(step, state, attempt),
            Action::FinishRun(_) => {}
        }
    }

    fn spawn_attempt(&mut self, pending: PendingAttempt) {
        let PendingAttempt {
            step,
            attempt,
            input,
            timeout,
        } = pending;
        let index = step.get();
        let (Some(implementation), Some(step_id)) = (
            self.runner.implementations.get(index),
            self.runner.ids.get(index),
        ) else {
            return;
        };
        let implementation = Arc::clone(implementation);
        let step_type = self.runner.program.workflow().steps[index].uses.clone();
        // Values computed from secrets (validation allows them only in
        // credential inputs) are secrets of the run from now on, whatever
        // their length or shape.
        for pointer in &self.runner.program.workflow().steps[index].secret_inputs {
            if let Some(value) = input.pointer(pointer) {
                self.redactor.add_leaves(value);
            }
        }
        // A step that may quote a credential in what it logs or builds
        // (it received one, or reads a step that did) redacts strictly.
        let redactor = result::view(&self.redactor, self.runner.program.facts(step).strict);
        let call = self.machine.step(step).map_or(1, |snapshot| snapshot.call);
        let mut ctx = StepContext::new(&*self.run_id, &**step_id, attempt)
            .with_call(call)
            .with_base_dir(self.base_dir.clone())
            .with_redactor(redactor);
        if let Some(inbox) = &self.inbox {
            ctx = ctx.with_inbox(Arc::clone(inbox));
        }
        // Inside the run's span, which carries `run_id` and `workflow`:
        // each field once on every line the step logs.
        let span = tracing::info_span!("attempt", step = %step_id, attempt);
        let task = async move {
            tracing::debug!("attempt started");
            let began = Instant::now();
            let run = AssertUnwindSafe(async {
                match timeout {
                    Some(limit) => tokio::time::timeout(limit, implementation.run(&ctx, input))
                        .await
                        .ok(),
                    None => Some(implementation.run(&ctx, input).await),
                }
            })
            .catch_unwind()
            .await;
            let result = run.unwrap_or_else(|panic| {
                Some(Err(StepError::terminal(
                    "panic",
                    format!("the step panicked: {}", panic_message(&*panic)),
                )))
            });
            let outcome = match &result {
                Some(Ok(_)) => "succeeded",
                Some(Err(_)) => "failed",
                None => "timed_out",
            };
            metrics::attempt_ended(&step_type, outcome, began.elapsed().as_secs_f64());
            tracing::debug!(outcome, "attempt ended");
            AttemptEnd {
                step,
                attempt,
                result,
            }
        };
        let handle = self
            .attempts
            .get_or_insert_with(JoinSet::new)
            .spawn(task.instrument(span));
        if let Some(slot) = self.abort_handles.get_mut(index) {
            *slot = Some(handle);
        }
    }

    /// Waits for the next thing that happens: a cancel request, an attempt
    /// ending, a timer, or the run's deadline. `None`: nothing to report (an
    /// aborted attempt was reaped).
    async fn next_event(&mut self, signals: &mut Signals) -> Option<EventKind> {
        let next_timer = self
            .timers
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(position, (timer, at))| (position, *timer, *at));
        let wake_at = match (next_timer, signals.run_deadline) {
            (Some((_, _, timer)), Some(deadline)) => Some(timer.min(deadline)),
            (Some((_, _, timer)), None) => Some(timer),
            (None, deadline) => deadline,
        };
        if let Some(at) = wake_at {
            match &mut self.alarm {
                Some(alarm) if alarm.deadline() == at => {}
                Some(alarm) => alarm.as_mut().reset(at),
                None => self.alarm = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        tokio::select! {
            biased;
            () = cancelled(signals.force.as_ref()), if signals.force.is_some() => {
                signals.force = None;
                Some(EventKind::CancelRequested { force: true })
            }
            () = cancelled(signals.cancel.as_ref()), if signals.cancel.is_some() => {
                signals.cancel = None;
                Some(EventKind::CancelRequested { force: false })
            }
            Some(joined) = join_next(self.attempts.as_mut()), if self.attempts.as_ref().is_some_and(|set| !set.is_empty()) => {
                let end = joined.ok()?;
                if let Some(slot) = self.abort_handles.get_mut(end.step.get()) {
                    *slot = None;
                }
                let (step, attempt) = (end.step, end.attempt);
                Some(match end.result {
                    Some(Ok(outputs)) => EventKind::AttemptSucceeded { step, attempt, outputs: Arc::new(outputs) },
                    Some(Err(error)) => EventKind::AttemptFailed { step, attempt, error: result::redact_error(&self.redactor, &error) },
                    None => EventKind::AttemptTimedOut { step, attempt },
                })
            }
            Some(step_id) = next_wake(self.wakes.as_mut()), if self.wakes.is_some() => {
                self.wake(&step_id)
            }
            () = ring(self.alarm.as_mut()), if wake_at.is_some() => {
                if signals.run_deadline.is_some_and(|deadline| deadline <= Instant::now()) {
                    signals.run_deadline = None;
                    return Some(EventKind::RunTimedOut);
                }
                let (position, timer, _) = next_timer?;
                self.timers.swap_remove(position);
                Some(EventKind::TimerFired { timer })
            }
        }
    }

    /// A step's wait received an outside event: its pending timer fires
    /// now; if its attempt is running, its next wait ends at once.
    fn wake(&mut self, step_id: &str) -> Option<EventKind> {
        let position = self.runner.ids.iter().position(|id| &**id == step_id)?;
        let step = StepIndex(u32::try_from(position).ok()?);
        if let Some(position) = self.timers.iter().position(|(timer, _)| timer.step == step) {
            let (timer, _) = self.timers.swap_remove(position);
            return Some(EventKind::TimerFired { timer });
        }
        let running = self
            .machine
            .step(step)
            .is_some_and(|snapshot| snapshot.state == StepState::Running);
        if running && !self.woken.contains(&step) {
            self.woken.push(step);
        }
        None
    }

    fn report(&self, step: StepIndex, state: StepState, attempt: u32) {
        let Some(snapshot) = self.machine.step(step) else {
            return;
        };
        let step_id = self
            .runner
            .ids
            .get(step.get())
            .cloned()
            .unwrap_or_else(|| Arc::from(""));
        let redactor = result::view(&self.redactor, self.runner.program.facts(step).strict);
        let error = match state {
            StepState::Failed | StepState::Waiting => snapshot
                .error
                .map(|error| format!("{}: {}", error.code, redactor.redact(&error.message))),
            _ => None,
        };
        match (&error, state) {
            (Some(error), StepState::Failed) => {
                tracing::warn!(step = %step_id, attempt, %error, "step failed");
            }
            (Some(error), _) => {
                tracing::info!(step = %step_id, attempt, %error, "step will retry");
            }
            (None, _) => tracing::debug!(step = %step_id, attempt, %state, "step changed"),
        }
        let Some(observer) = &self.observer else {
            return;
        };
        let now = self.machine.now();
        let elapsed = snapshot.started_at.map_or(Duration::ZERO, |started| {
            snapshot.finished_at.unwrap_or(now).saturating_sub(started)
        });
        observer.on_progress(&Progress {
            run_id: Arc::clone(&self.run_id),
            step,
            step_id,
            state,
            attempt,
            wait: snapshot.wait,
            elapsed,
            at: now,
            error,
        });
    }
}

/// The next attempt to end; never without attempts.
async fn join_next(
    attempts: Option<&mut JoinSet<AttemptEnd>>,
) -> Option<Result<AttemptEnd, tokio::task::JoinError>> {
    match attempts {
        Some(attempts) => attempts.join_next().await,
        None => std::future::pending().await,
    }
}

/// The next woken step; never without wakes (or once their sender is
/// gone).
async fn next_wake(wakes: Option<&mut Wakes>) -> Option<Arc<str>> {
    match wakes {
        Some(wakes) => wakes.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the alarm rings; never without one.
async fn ring(alarm: Option<&mut Pin<Box<Sleep>>>) {
    match alarm {
        Some(alarm) => alarm.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the token is cancelled; never without one.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests;
