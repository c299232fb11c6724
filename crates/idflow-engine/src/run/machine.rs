//! The run as a pure state machine: [`Event`]s in, [`Action`]s out.
//!
//! The machine performs no I/O, reads no clock (time comes with each event)
//! and draws no random number (jitter comes from the seed in
//! [`EventKind::RunStarted`]), so the same events always lead to the same
//! state and the same actions: [`Machine::replay`] rebuilds a run from its
//! log. The semantics are described in [the module above](super).
//!
//! Readiness is tracked with counters (each step counts the needs it still
//! waits for, and inherits its ancestors' failures and skips through its
//! needs as they finish), so each event costs time in proportion to the
//! steps it touches, not to the size of the workflow.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use idflow_core::{Outputs, StepError, format_duration};
use minijinja::value::{Serde, Value as JinjaValue};
use serde::Serialize;

use super::action::{Action, RunOutcome, RunStatus, StepState, WaitReason};
use super::backoff;
use super::event::{Event, EventKind, TimerId};
use super::program::{Program, StepReads};
use super::secrets::Secrets;
use crate::expr::{EvalError, Scope, StatusView};
use crate::model::{PollGate, StepIndex, StepPlan, ValueTemplate};

/// An event the machine cannot apply (the log is not a log of this run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineError {
    /// The first event must be `run_started`.
    #[error("the run has not started: the first event must be `run_started`")]
    NotStarted,
    /// A second `run_started`.
    #[error("the run has already started")]
    AlreadyStarted,
    /// An event after the run finished.
    #[error("the run has already finished")]
    Finished,
    /// An event about a step the workflow does not have.
    #[error("the event names step #{0}, but the workflow has no such step")]
    UnknownStep(u32),
    /// The log is of another workflow.
    #[error("the events are of workflow `{found}`, not `{expected}`")]
    WorkflowMismatch {
        /// The workflow being run.
        expected: String,
        /// The one the log names.
        found: String,
    },
}

/// One run of a workflow.
pub struct Machine {
    program: Arc<Program>,
    secrets: Secrets,
    state: RunState,
    /// `inputs`, `secrets` and `run.id`, converted once for the expression
    /// engine (derived from the state; not part of it).
    base_scope: Option<Box<Scope>>,
    /// Steps whose needs have all finished, to decide (empty between events).
    ready: VecDeque<StepIndex>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("workflow", &self.program.workflow().name)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Two machines are equal when their runs are in the same state.
impl PartialEq for Machine {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

#[derive(Debug, Clone, PartialEq)]
struct RunState {
    run: Option<RunInfo>,
    now: Duration,
    steps: Vec<StepRun>,
    /// Attempts running now.
    running: u32,
    /// Steps in a final state.
    finished: u32,
    /// Failed steps without `continue_on_error`.
    blocking_failures: u32,
    /// Steps to start when a slot frees up (with `max_concurrency`).
    queue: VecDeque<StepIndex>,
    next_timer: u32,
    cancel: Cancel,
    timed_out: bool,
    outcome: Option<Box<RunOutcome>>,
}

#[derive(Debug, Clone, PartialEq)]
struct RunInfo {
    run_id: String,
    inputs: Arc<serde_json::Value>,
    seed: u64,
    max_concurrency: Option<NonZeroU32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    None,
    /// Cleanup steps may still run.
    Requested,
    /// Everything stops.
    Hard,
}

#[derive(Debug, Clone, PartialEq)]
struct StepRun {
    state: StepState,
    /// Attempts started.
    attempts: u32,
    /// Retryable failures since the last success.
    failures_in_row: u32,
    /// Needs not finished yet.
    needs_left: u32,
    /// What happened to the steps before it.
    upstream: Upstream,
    /// The driver reported the current attempt as started.
    in_flight: bool,
    started_at: Option<Duration>,
    finished_at: Option<Duration>,
    /// The wait after the next unsatisfied `until`.
    poll_interval: Duration,
    /// How long the gate polls, when the step's input says
    /// ([`PollGate::deadline`]); otherwise its policy's timeout.
    poll_timeout: Option<Duration>,
    timer: Option<TimerId>,
    /// When the timer is due (since the run started), to schedule it again
    /// after a resume.
    timer_due: Duration,
    /// The next attempt restarts the current one (it was interrupted before
    /// it could act): same attempt number, same call.
    restart: bool,
    /// Successful attempts so far: an attempt after a poll is a new call,
    /// a retry repeats the same call (see [`StepSnapshot::call`]).
    calls: u32,
    wait: Option<WaitReason>,
    outputs: Option<Arc<Outputs>>,
    error: Option<Box<StepError>>,
    /// `steps.<id>` as expressions see it, once finished (only for steps
    /// some expression reads).
    view: Option<JinjaValue>,
}

/// What a step has heard from the steps before it, as they finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Upstream {
    /// A step before it failed (not under `continue_on_error`).
    failed: bool,
    /// A step before it was skipped.
    skipped: bool,
    /// A step it needs was skipped or cancelled.
    need_not_run: bool,
}

impl StepRun {
    fn new(needs: usize) -> Self {
        Self {
            state: StepState::Pending,
            attempts: 0,
            failures_in_row: 0,
            needs_left: u32::try_from(needs).unwrap_or(u32::MAX),
            upstream: Upstream::default(),
            in_flight: false,
            started_at: None,
            finished_at: None,
            poll_interval: Duration::ZERO,
            poll_timeout: None,
            timer: None,
            timer_due: Duration::ZERO,
            restart: false,
            calls: 0,
            wait: None,
            outputs: None,
            error: None,
            view: None,
        }
    }

    fn runs_attempt(&self, attempt: u32) -> bool {
        self.state == StepState::Running && self.attempts == attempt
    }
}

/// What a step looks like now (for progress and results).
#[derive(Debug, Clone, Copy)]
pub struct StepSnapshot<'a> {
    /// Its state.
    pub state: StepState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Why it waits, when it does.
    pub wait: Option<WaitReason>,
    /// When its first attempt started (since the run started).
    pub started_at: Option<Duration>,
    /// When it reached its final state.
    pub finished_at: Option<Duration>,
    /// The outputs of its last successful attempt.
    pub outputs: Option<&'a Outputs>,
    /// Its error (the last one while it waits to retry).
    pub error: Option<&'a StepError>,
    /// The driver reported the current attempt as started.
    pub in_flight: bool,
    /// Which call of the step the current (or next) attempt makes, from 1:
    /// retries of a failed attempt repeat the call, an attempt after a
    /// successful one (a poll) is the next call. Idempotency keys are per
    /// call.
    pub call: u32,
}

/// `steps.<id>` for expressions.
#[derive(Serialize)]
struct StepValue<'a> {
    status: StepState,
    outputs: &'a Outputs,
}

impl Machine {
    /// A run of `program` that has not started: feed it
    /// [`EventKind::RunStarted`] first. `secrets` are what `secrets.*`
    /// evaluates to; they are never part of an event.
    pub fn new(program: Arc<Program>, secrets: Secrets) -> Self {
        let steps = program
            .workflow()
            .steps
            .iter()
            .map(|step| StepRun::new(step.needs.len()))
            .collect();
        Self {
            program,
            secrets,
            state: RunState {
                run: None,
                now: Duration::ZERO,
                steps,
                running: 0,
                finished: 0,
                blocking_failures: 0,
                queue: VecDeque::new(),
                next_timer: 0,
                cancel: Cancel::None,
                timed_out: false,
                outcome: None,
            },
            base_scope: None,
            ready: VecDeque::new(),
        }
    }

    /// Rebuilds a run from its events (the actions are dropped: they were
    /// performed when the events were first handled).
    pub fn replay<'e>(
        program: Arc<Program>,
        secrets: Secrets,
        events: impl IntoIterator<Item = &'e Event>,
    ) -> Result<Self, MachineError> {
        let mut machine = Self::new(program, secrets);
        let mut actions = Vec::new();
        for event in events {
            machine.handle(event, &mut actions)?;
            actions.clear();
        }
        Ok(machine)
    }

    /// Applies one event, appending what the driver must do to `actions`.
    /// An event about an attempt that is no longer current (it was
    /// cancelled, timed out or superseded) changes nothing.
    pub fn handle(&mut self, event: &Event, actions: &mut Vec<Action>) -> Result<(), MachineError> {
        if self.state.outcome.is_some() {
            return Err(MachineError::Finished);
        }
        match (&event.kind, self.state.run.is_some()) {
            (EventKind::RunStarted { .. }, true) => return Err(MachineError::AlreadyStarted),
            (EventKind::RunStarted { .. }, false) | (_, true) => {}
            (_, false) => return Err(MachineError::NotStarted),
        }
        self.state.now = self.state.now.max(event.at);
        match &event.kind {
            EventKind::RunStarted {
                workflow,
                run_id,
                inputs,
                seed,
                max_concurrency,
            } => {
                let expected = &self.program.workflow().name;
                if workflow != expected {
                    return Err(MachineError::WorkflowMismatch {
                        expected: expected.clone(),
                        found: workflow.clone(),
                    });
                }
                self.state.run = Some(RunInfo {
                    run_id: run_id.clone(),
                    inputs: Arc::clone(inputs),
                    seed: *seed,
                    max_concurrency: *max_concurrency,
                });
                self.ready.extend(self.program.roots().iter().copied());
            }
            EventKind::AttemptStarted { step, attempt } => {
                let run = self.step_mut(*step)?;
                if run.runs_attempt(*attempt) {
                    run.in_flight = true;
                }
            }
            EventKind::AttemptSucceeded {
                step,
                attempt,
                outputs,
            } => {
                if self.step_mut(*step)?.runs_attempt(*attempt) {
                    self.on_success(*step, *attempt, outputs, actions);
                }
            }
            EventKind::AttemptFailed {
                step,
                attempt,
                error,
            } => {
                if self.step_mut(*step)?.runs_attempt(*attempt) {
                    self.on_failure(*step, *attempt, error.clone(), actions);
                }
            }
            EventKind::AttemptTimedOut { step, attempt } => {
                if self.step_mut(*step)?.runs_attempt(*attempt) {
                    let error = self.timeout_error(*step, *attempt);
                    self.on_failure(*step, *attempt, error, actions);
                }
            }
            EventKind::AttemptInterrupted {
                step,
                attempt,
                started,
                repeatable,
            } => {
                if self.step_mut(*step)?.runs_attempt(*attempt) {
                    self.on_interrupted(*step, *attempt, *started && !*repeatable, actions);
                }
            }
            EventKind::TimerFired { timer } => {
                let run = self.step_mut(timer.step)?;
                if run.state == StepState::Waiting && run.timer == Some(*timer) {
                    run.timer = None;
                    self.enqueue(timer.step, actions);
                }
            }
            EventKind::RunTimedOut => {
                self.state.timed_out = true;
                self.stop_everything(actions);
            }
            EventKind::CancelRequested { force } => self.on_cancel(*force, actions),
        }
        self.settle(actions);
        Ok(())
    }

    /// Whether the run is over.
    pub fn is_finished(&self) -> bool {
        self.state.outcome.is_some()
    }

    /// How the run ended, once it has.
    pub fn outcome(&self) -> Option<&RunOutcome> {
        self.state.outcome.as_deref()
    }

    /// The program being run.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// The run's id, once started.
    pub fn run_id(&self) -> Option<&str> {
        self.state.run.as_ref().map(|run| run.run_id.as_str())
    }

    /// The time of the latest event.
    pub fn now(&self) -> Duration {
        self.state.now
    }

    /// Whether the run has been asked to cancel (or timed out).
    pub fn cancel_requested(&self) -> bool {
        self.state.cancel != Cancel::None
    }

    /// Attempts running now.
    pub fn running(&self) -> u32 {
        self.state.running
    }

    /// Drops what the machine keeps only to go faster (values converted
    /// for the expression engine, spare buffer room): call it when the run
    /// will wait a while. The state is unchanged.
    pub fn trim(&mut self) {
        self.base_scope = None;
        self.ready = VecDeque::new();
        self.state.queue.shrink_to_fit();
    }

    /// A step's current state.
    pub fn step(&self, step: StepIndex) -> Option<StepSnapshot<'_>> {
        self.state.steps.get(step.get()).map(|run| StepSnapshot {
            state: run.state,
            attempts: run.attempts,
            wait: run.wait,
            started_at: run.started_at,
            finished_at: run.finished_at,
            outputs: run.outputs.as_deref(),
            error: run.error.as_deref(),
            in_flight: run.in_flight,
            call: run.calls.saturating_add(1),
        })
    }

    fn step_mut(&mut self, step: StepIndex) -> Result<&mut StepRun, MachineError> {
        self.state
            .steps
            .get_mut(step.get())
            .ok_or(MachineError::UnknownStep(step.0))
    }

    /// Decides ready steps and fills free slots until nothing moves, then
    /// finishes the run when every step has finished.
    fn settle(&mut self, actions: &mut Vec<Action>) {
        if self.state.outcome.is_some() {
            return;
        }
        loop {
            if let Some(step) = self.ready.pop_front() {
                self.decide(step, actions);
            } else if self.has_slot()
                && let Some(step) = self.state.queue.pop_front()
            {
                self.start_attempt(step, actions);
            } else {
                break;
            }
        }
        if self.state.finished as usize == self.state.steps.len() {
            self.finish_run(actions);
        }
    }

    fn has_slot(&self) -> bool {
        let limit = self.state.run.as_ref().and_then(|run| run.max_concurrency);
        limit.is_none_or(|limit| self.state.running < limit.get())
    }

    /// A step whose needs have all finished: skip it, fail it, or run it.
    fn decide(&mut self, step: StepIndex, actions: &mut Vec<Action>) {
        let program = Arc::clone(&self.program);
        let plan = &program.workflow().steps[step.get()];
        let facts = program.facts(step);
        let run = &self.state.steps[step.get()];
        if run.state.is_finished() {
            return;
        }
        let cancelled = self.state.cancel != Cancel::None;
        if self.state.cancel == Cancel::Hard || (cancelled && !facts.status_condition) {
            return self.finish_step(step, StepState::Cancelled, None, actions);
        }
        if !facts.status_condition && (run.upstream.failed || run.upstream.need_not_run) {
            return self.finish_step(step, StepState::Skipped, None, actions);
        }
        if let Some(condition) = &plan.condition {
            let status = StatusView {
                upstream_failed: run.upstream.failed,
                upstream_skipped: run.upstream.skipped,
                cancelled,
            };
            let scope = self.scope(&facts.reads).status(status);
            match program.engine().eval_condition(condition, &scope) {
                Ok(true) => {}
                Ok(false) => return self.finish_step(step, StepState::Skipped, None, actions),
                Err(error) => {
                    let error = expression_error("if", &error);
                    return self.finish_step(step, StepState::Failed, Some(error), actions);
                }
            }
        }
        self.enqueue(step, actions);
    }

    /// Starts the step's next attempt now, or when a slot frees up.
    fn enqueue(&mut self, step: StepIndex, actions: &mut Vec<Action>) {
        if self.state.queue.is_empty() && self.has_slot() {
            self.start_attempt(step, actions);
        } else {
            self.state.queue.push_back(step);
        }
    }

    fn start_attempt(&mut self, step: StepIndex, actions: &mut Vec<Action>) {
        let program = Arc::clone(&self.program);
        let plan = &program.workflow().steps[step.get()];
        let run = &mut self.state.steps[step.get()];
        let attempt = if std::mem::take(&mut run.restart) {
            run.attempts
        } else {
            run.attempts.saturating_add(1)
        };
        let input = match &plan.with {
            ValueTemplate::Literal(value) => value.clone(),
            template => {
                let scope = self.scope(&program.facts(step).reads).attempt(attempt);
                match program.engine().render(template, &scope) {
                    Ok(input) => input,
                    Err(error) => {
                        let error = if reads_secret(plan, &error.expression) {
                            hidden_expression_error("with", &error)
                        } else {
                            expression_error("with", &error)
                        };
                        return self.finish_step(step, StepState::Failed, Some(error), actions);
                    }
                }
            }
        };
        let now = self.state.now;
        let run = &mut self.state.steps[step.get()];
        if run.started_at.is_none() {
            run.started_at = Some(now);
            if let Some(gate) = &plan.gate {
                run.poll_interval = gate.poll.interval;
                match gate_deadline(gate, &input) {
                    Ok(timeout) => run.poll_timeout = timeout,
                    Err(error) => {
                        return self.finish_step(step, StepState::Failed, Some(error), actions);
                    }
                }
            }
        }
        run.attempts = attempt;
        run.in_flight = false;
        run.wait = None;
        run.state = StepState::Running;
        self.state.running += 1;
        actions.push(Action::StepChanged {
            step,
            state: StepState::Running,
            attempt,
        });
        actions.push(Action::StartAttempt {
            step,
            attempt,
            input,
            timeout: plan.timeout,
        });
    }

    fn on_success(
        &mut self,
        step: StepIndex,
        attempt: u32,
        outputs: &Arc<Outputs>,
        actions: &mut Vec<Action>,
    ) {
        let program = Arc::clone(&self.program);
        let plan = &program.workflow().steps[step.get()];
        self.state.running -= 1;
        let run = &mut self.state.steps[step.get()];
        run.failures_in_row = 0;
        run.calls = run.calls.saturating_add(1);
        run.error = None;
        run.outputs = Some(Arc::clone(outputs));
        let Some(gate) = &plan.gate else {
            return self.finish_step(step, StepState::Succeeded, None, actions);
        };
        let own_outputs = serde_json::Value::Object((**outputs).clone());
        let scope = self
            .scope(&program.facts(step).reads)
            .outputs(&own_outputs)
            .attempt(attempt);
        match program.engine().eval_condition(&gate.until, &scope) {
            Ok(true) => self.finish_step(step, StepState::Succeeded, None, actions),
            Ok(false) => self.poll_again(step, gate, actions),
            Err(error) => {
                let error = expression_error("until", &error);
                self.finish_step(step, StepState::Failed, Some(error), actions);
            }
        }
    }

    /// `until` is false: wait for the next poll, or give up at the deadline.
    fn poll_again(&mut self, step: StepIndex, gate: &PollGate, actions: &mut Vec<Action>) {
        let now = self.state.now;
        let run = &mut self.state.steps[step.get()];
        let timeout = run.poll_timeout.unwrap_or(gate.poll.timeout);
        let deadline = run.started_at.unwrap_or(now).saturating_add(timeout);
        if now >= deadline {
            let last = run.outputs.as_deref().cloned().unwrap_or_default();
            let error = match &gate.deadline {
                Some(own) => StepError::terminal(
                    own.code.clone(),
                    format!("{} within {}", own.message, format_duration(timeout)),
                ),
                None => StepError::terminal(
                    "poll_timeout",
                    format!(
                        "`until` was still false after {} attempts in {}",
                        run.attempts,
                        format_duration(timeout)
                    ),
                ),
            }
            .with_details(serde_json::json!({
                "outputs": last,
                "attempts": run.attempts,
            }));
            return self.finish_step(step, StepState::Failed, Some(error), actions);
        }
        let wait = run.poll_interval.min(deadline.saturating_sub(now));
        run.poll_interval = backoff::next_poll_interval(&gate.poll, run.poll_interval);
        self.wait(step, wait, WaitReason::Poll, actions);
    }

    fn on_failure(
        &mut self,
        step: StepIndex,
        attempt: u32,
        error: StepError,
        actions: &mut Vec<Action>,
    ) {
        let program = Arc::clone(&self.program);
        let policy = &program.workflow().steps[step.get()].retry;
        self.state.running -= 1;
        let seed = self.state.run.as_ref().map_or(0, |run| run.seed);
        let run = &mut self.state.steps[step.get()];
        run.failures_in_row = run.failures_in_row.saturating_add(1);
        if error.is_retryable() && run.failures_in_row < policy.attempts {
            let wait = backoff::retry_wait(
                policy,
                run.failures_in_row,
                error.retry_after,
                seed,
                step,
                attempt,
            );
            run.error = Some(Box::new(error));
            self.wait(step, wait, WaitReason::Retry, actions);
        } else {
            self.finish_step(step, StepState::Failed, Some(error), actions);
        }
    }

    /// An attempt whose process stopped: start it again at once (the same
    /// attempt, with the same input) when it never began or is safe to
    /// repeat; otherwise it counts as a failure (`interrupted`, retryable
    /// under the step's retry policy).
    fn on_interrupted(
        &mut self,
        step: StepIndex,
        attempt: u32,
        counts: bool,
        actions: &mut Vec<Action>,
    ) {
        if counts {
            let plan = &self.program.workflow().steps[step.get()];
            let error = StepError::retryable(
                "interrupted",
                format!(
                    "attempt {attempt} of step `{}` was interrupted: the process running it stopped before it ended",
                    plan.id
                ),
            );
            return self.on_failure(step, attempt, error, actions);
        }
        self.state.running -= 1;
        let run = &mut self.state.steps[step.get()];
        run.state = StepState::Pending;
        run.restart = true;
        self.enqueue(step, actions);
    }

    /// What the driver must do to go on with a run rebuilt by
    /// [`Machine::replay`] in a new process: schedule its timers again for
    /// their remaining time. (Attempts that were running are the driver's
    /// to report as [`EventKind::AttemptInterrupted`], see
    /// [`Machine::interrupted_attempts`].)
    pub fn resume(&self, actions: &mut Vec<Action>) {
        if self.is_finished() {
            return;
        }
        for run in &self.state.steps {
            if let (StepState::Waiting, Some(timer)) = (run.state, run.timer) {
                actions.push(Action::ScheduleTimer {
                    timer,
                    after: run.timer_due.saturating_sub(self.state.now),
                });
            }
        }
    }

    /// The attempts running in a replayed run: `(step, attempt, started)`.
    pub fn interrupted_attempts(&self) -> impl Iterator<Item = (StepIndex, u32, bool)> + '_ {
        self.program
            .workflow()
            .steps
            .iter()
            .zip(&self.state.steps)
            .filter(|(_, run)| run.state == StepState::Running)
            .map(|(plan, run)| (plan.index, run.attempts, run.in_flight))
    }

    /// When the next timer is due (since the run started), if any.
    pub fn next_timer_due(&self) -> Option<Duration> {
        self.state
            .steps
            .iter()
            .filter(|run| run.state == StepState::Waiting && run.timer.is_some())
            .map(|run| run.timer_due)
            .min()
    }

    fn timeout_error(&self, step: StepIndex, attempt: u32) -> StepError {
        let plan = &self.program.workflow().steps[step.get()];
        let limit = plan.timeout.map_or_else(String::new, |timeout| {
            format!(" within {}", format_duration(timeout))
        });
        StepError::retryable(
            "timeout",
            format!(
                "attempt {attempt} of step `{}` did not finish{limit}",
                plan.id
            ),
        )
    }

    fn wait(
        &mut self,
        step: StepIndex,
        after: Duration,
        reason: WaitReason,
        actions: &mut Vec<Action>,
    ) {
        let timer = TimerId {
            step,
            seq: self.state.next_timer,
        };
        self.state.next_timer = self.state.next_timer.wrapping_add(1);
        let now = self.state.now;
        let run = &mut self.state.steps[step.get()];
        run.state = StepState::Waiting;
        run.timer = Some(timer);
        run.timer_due = now.saturating_add(after);
        run.wait = Some(reason);
        actions.push(Action::StepChanged {
            step,
            state: StepState::Waiting,
            attempt: run.attempts,
        });
        actions.push(Action::ScheduleTimer { timer, after });
    }

    fn on_cancel(&mut self, force: bool, actions: &mut Vec<Action>) {
        if force || self.state.cancel != Cancel::None {
            self.state.cancel = Cancel::Hard;
            return self.stop_everything(actions);
        }
        self.state.cancel = Cancel::Requested;
        // Steps already decided to run (running, waiting, or queued); the
        // others are decided as they become ready.
        let active: Vec<StepIndex> = self
            .state
            .steps
            .iter()
            .zip(&self.program.workflow().steps)
            .filter(|(run, _)| !run.state.is_finished() && run.needs_left == 0)
            .map(|(_, plan)| plan.index)
            .collect();
        self.state.queue.clear();
        for step in active {
            self.cancel_step(step, actions);
        }
    }

    /// Cancels every unfinished step.
    fn stop_everything(&mut self, actions: &mut Vec<Action>) {
        self.state.queue.clear();
        for index in 0..self.state.steps.len() {
            if !self.state.steps[index].state.is_finished() {
                let step = self.program.workflow().steps[index].index;
                self.cancel_step(step, actions);
            }
        }
    }

    fn cancel_step(&mut self, step: StepIndex, actions: &mut Vec<Action>) {
        let run = &mut self.state.steps[step.get()];
        if run.state == StepState::Running {
            actions.push(Action::CancelAttempt {
                step,
                attempt: run.attempts,
            });
            run.state = StepState::Pending;
            self.state.running -= 1;
        }
        let run = &mut self.state.steps[step.get()];
        if let Some(timer) = run.timer.take() {
            actions.push(Action::CancelTimer { timer });
        }
        run.error = None;
        self.finish_step(step, StepState::Cancelled, None, actions);
    }

    /// Puts a step in a final state and passes the news to its dependents.
    fn finish_step(
        &mut self,
        step: StepIndex,
        state: StepState,
        error: Option<StepError>,
        actions: &mut Vec<Action>,
    ) {
        let program = Arc::clone(&self.program);
        let plan = &program.workflow().steps[step.get()];
        let now = self.state.now;
        let run = &mut self.state.steps[step.get()];
        run.state = state;
        run.finished_at = Some(now);
        run.timer = None;
        run.wait = None;
        if error.is_some() {
            run.error = error.map(Box::new);
        }
        if program.facts(step).read_by_others {
            let empty = Outputs::new();
            let value = StepValue {
                status: state,
                outputs: run.outputs.as_deref().unwrap_or(&empty),
            };
            run.view = Some(JinjaValue::from(Serde(&value)));
        }
        let attempt = run.attempts;
        let blocking = state == StepState::Failed && !plan.continue_on_error;
        let upstream_failed = blocking || run.upstream.failed;
        let upstream_skipped = state == StepState::Skipped || run.upstream.skipped;
        let need_not_run = matches!(state, StepState::Skipped | StepState::Cancelled);
        self.state.finished += 1;
        if blocking {
            self.state.blocking_failures += 1;
        }
        actions.push(Action::StepChanged {
            step,
            state,
            attempt,
        });
        for dependent in &plan.dependents {
            let next = &mut self.state.steps[dependent.get()];
            next.upstream.failed |= upstream_failed;
            next.upstream.skipped |= upstream_skipped;
            next.upstream.need_not_run |= need_not_run;
            next.needs_left = next.needs_left.saturating_sub(1);
            if next.needs_left == 0 && next.state == StepState::Pending {
                self.ready.push_back(*dependent);
            }
        }
    }

    fn finish_run(&mut self, actions: &mut Vec<Action>) {
        let program = Arc::clone(&self.program);
        let workflow = program.workflow();
        let (mut status, mut error) = if self.state.timed_out {
            let limit = workflow.timeout.map_or_else(String::new, |timeout| {
                format!(" within {}", format_duration(timeout))
            });
            let error =
                StepError::terminal("run_timeout", format!("the run did not finish{limit}"));
            (RunStatus::Failed, Some(error))
        } else if self.state.cancel != Cancel::None {
            (RunStatus::Cancelled, None)
        } else if self.state.blocking_failures > 0 {
            (RunStatus::Failed, None)
        } else {
            (RunStatus::Succeeded, None)
        };
        let mut outputs = Outputs::new();
        if !workflow.outputs.is_empty() {
            let scope = self.scope(program.outputs_reads());
            for output in &workflow.outputs {
                let value = match program.engine().render(&output.value, &scope) {
                    Ok(value) => value,
                    Err(failure) => {
                        if error.is_none() {
                            error = Some(expression_error(
                                &format!("output `{}`", output.name),
                                &failure,
                            ));
                        }
                        if status == RunStatus::Succeeded {
                            status = RunStatus::Failed;
                        }
                        serde_json::Value::Null
                    }
                };
                outputs.insert(output.name.clone(), value);
            }
        }
        let outcome = Box::new(RunOutcome {
            status,
            outputs,
            error,
        });
        self.state.outcome = Some(outcome.clone());
        actions.push(Action::FinishRun(outcome));
    }

    /// The scope an expression reading `reads` evaluates in.
    fn scope(&mut self, reads: &StepReads) -> Scope {
        let base = if let Some(base) = &self.base_scope {
            Scope::clone(base)
        } else {
            let mut base = Scope::new().secrets(&self.secrets.to_json());
            if let Some(run) = &self.state.run {
                base = base.inputs(&run.inputs).run_id(run.run_id.clone());
            }
            self.base_scope = Some(Box::new(base.clone()));
            base
        };
        let mut steps = BTreeMap::new();
        let workflow = self.program.workflow();
        let mut add = |index: usize| {
            if let Some(view) = &self.state.steps[index].view {
                steps.insert(workflow.steps[index].id.clone(), view.clone());
            }
        };
        match reads {
            StepReads::Listed(listed) => listed.iter().for_each(|step| add(step.get())),
            StepReads::All => (0..workflow.steps.len()).for_each(add),
        }
        base.steps_value(JinjaValue::from(steps))
    }
}

/// The poll timeout a gate's input gives ([`PollGate::deadline`]):
/// `Ok(None)` when the gate's policy decides.
fn gate_deadline(
    gate: &PollGate,
    input: &serde_json::Value,
) -> Result<Option<Duration>, StepError> {
    let Some(deadline) = &gate.deadline else {
        return Ok(None);
    };
    match input.get(&deadline.input) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => idflow_core::parse_duration(text)
            .map(Some)
            .map_err(|error| {
                StepError::terminal(
                    "invalid_input",
                    format!("`{}` is not a duration: {}", deadline.input, error.reason),
                )
            }),
        Some(_) => Err(StepError::terminal(
            "invalid_input",
            format!(
                "`{}` must be a duration such as `30s` or `24h`",
                deadline.input
            ),
        )),
    }
}

fn expression_error(place: &str, error: &EvalError) -> StepError {
    StepError::terminal("expression", format!("{place}: {error}"))
}

/// Whether `source` is one of the step's `with` values that validation
/// found computed from a secret.
fn reads_secret(plan: &StepPlan, source: &str) -> bool {
    plan.secret_inputs.iter().any(|pointer| {
        plan.with
            .at_pointer(pointer)
            .and_then(ValueTemplate::source)
            == Some(source)
    })
}

/// The error of an expression that reads a secret: what failed could quote
/// the value (`'…' is not a number`), so only the expression is named.
fn hidden_expression_error(place: &str, error: &EvalError) -> StepError {
    StepError::terminal(
        "expression",
        format!(
            "{place}: expression `{}` failed; its message is hidden because the expression reads a secret",
            error.expression.trim()
        ),
    )
}

#[cfg(test)]
mod tests;
