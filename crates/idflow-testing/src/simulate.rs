//! Running a case: the engine's own state machine
//! ([`Machine`]: events in, actions out) driven on a virtual clock, with
//! mocked answers instead of real steps.
//!
//! The loop is a discrete-event simulation: the machine's actions schedule
//! what will happen (an attempt ending after its mock's `delay`, a timer
//! firing, the run's deadline) on a queue ordered by virtual time; the
//! earliest is fed back to the machine as the event the tokio driver would
//! have sent. Retries, backoff, poll waits and timeouts therefore pass
//! instantly, and their timing is exact and recorded.
//!
//! A step with a mock (by step id, else by step type) gets the mock's
//! answer for that attempt. A step without one runs for real only if its
//! type is pure ([`PURE_STEPS`]: no I/O, nothing outside the run), on a
//! paused tokio clock so `core.sleep` is instant too; any other unmocked
//! step stops the case with a located diagnostic, so a test never calls a
//! real service.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use idflow_core::{Outputs, Redactor, Step, StepContext, StepError, StepRegistry};
use idflow_engine::diagnostic::Diagnostic;
use idflow_engine::expr::ExprEngine;
use idflow_engine::model::{StepIndex, Workflow};
use idflow_engine::run::{Action, Event, EventKind, Machine, Program, Secrets, StepState, TimerId};
use indexmap::IndexMap;

use crate::case::{Answer, Case, Mock};
use crate::load::missing_mock;
use crate::trace::{
    AttemptResult, AttemptTrace, ErrorTrace, PathEntry, SKIPPED_BY_IF, StepTrace, Trace, wait_text,
};

/// The step types that run for real when a case does not mock them: they
/// touch nothing outside the run.
pub const PURE_STEPS: &[&str] = &["core.set", "core.log", "core.fail", "core.sleep"];

/// The most events one case may take before it is stopped (a poll that
/// never ends within a reasonable number of attempts).
pub const MAX_EVENTS: usize = 200_000;

/// A workflow made ready for its cases: shared by all of them.
pub struct Subject {
    workflow: Arc<Workflow>,
    program: Arc<Program>,
    steps: Vec<SubjectStep>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("workflow", &self.workflow.name)
            .finish_non_exhaustive()
    }
}

struct SubjectStep {
    /// The real step, when its type is pure.
    pure: Option<Arc<dyn Step>>,
    /// The outputs of its type that hold credentials.
    sensitive: Vec<String>,
}

impl Subject {
    /// Prepares a validated workflow (its step types from `registry`).
    pub fn new(workflow: Arc<Workflow>, registry: &StepRegistry, engine: Arc<ExprEngine>) -> Self {
        let steps = workflow
            .steps
            .iter()
            .map(|plan| {
                let step = registry.get(&plan.uses);
                SubjectStep {
                    pure: step
                        .filter(|_| PURE_STEPS.contains(&plan.uses.as_str()))
                        .map(Arc::clone),
                    sensitive: step
                        .map(|step| {
                            step.metadata()
                                .outputs
                                .iter()
                                .filter(|output| output.sensitive)
                                .map(|output| output.name.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            })
            .collect();
        Self {
            program: Arc::new(Program::new(Arc::clone(&workflow), engine)),
            workflow,
            steps,
        }
    }

    /// The workflow.
    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }
}

/// Runs cases; holds the paused clock pure steps run on.
#[derive(Debug)]
pub struct Simulator {
    runtime: tokio::runtime::Runtime,
}

/// Why a case could not run to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulationError {
    /// A step that may not run for real has no mock.
    #[error("{}", .0.message)]
    MissingMock(Box<Diagnostic>),
    /// The run did not finish within [`MAX_EVENTS`].
    #[error("the run did not finish after {0} events (a poll or retry that never ends?)")]
    Runaway(usize),
    /// The machine refused an event (a bug).
    #[error("the run's state machine refused an event: {0}")]
    Machine(String),
}

/// A case's run: its trace, the events the machine applied (the log a
/// real run would have recorded), and the redactor that hides its secrets.
#[derive(Debug)]
pub struct CaseRun {
    /// What happened.
    pub trace: Trace,
    /// The run's events, in order.
    pub events: Vec<Event>,
    /// Knows the case's secrets and the credentials its steps returned.
    pub redactor: Redactor,
}

impl Simulator {
    /// A simulator (a current-thread tokio runtime with a paused clock).
    ///
    /// # Errors
    /// When the runtime cannot be built.
    pub fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()?;
        Ok(Self { runtime })
    }

    /// Runs one case of `subject` to its end. `dir` is the test file's
    /// folder (relative file inputs resolve against it).
    pub fn run(
        &self,
        subject: &Subject,
        case: &Case,
        dir: &Path,
        registry: &StepRegistry,
    ) -> Result<CaseRun, SimulationError> {
        let mocks: Vec<Option<&Mock>> = subject
            .workflow
            .steps
            .iter()
            .map(|plan| {
                case.mocks
                    .iter()
                    .find(|mock| mock.target.value == plan.id)
                    .or_else(|| {
                        case.mocks
                            .iter()
                            .find(|mock| mock.target.value == plan.uses)
                    })
            })
            .collect();
        let secrets: Secrets = case
            .secrets
            .iter()
            .map(|(name, value)| (name.value.clone(), value.clone()))
            .collect();
        let redactor = Redactor::new();
        for value in secrets.values() {
            redactor.add(value);
        }
        let inputs: serde_json::Map<String, serde_json::Value> = case
            .inputs
            .iter()
            .map(|(name, value)| (name.value.clone(), value.clone()))
            .collect();
        let inputs = subject
            .workflow
            .inputs
            .iter()
            .filter_map(|decl| {
                inputs
                    .get(&decl.name)
                    .or(decl.default.as_ref())
                    .map(|value| (decl.name.clone(), value.clone()))
            })
            .collect();
        let mut run = Run {
            subject,
            case,
            dir,
            registry,
            runtime: &self.runtime,
            mocks,
            machine: Machine::new(Arc::clone(&subject.program), secrets),
            redactor,
            id: format!("test-{}", case.name.value),
            now: Duration::ZERO,
            queue: BTreeMap::new(),
            seq: 0,
            attempt_keys: vec![None; subject.workflow.steps.len()],
            timer_keys: HashMap::new(),
            events: Vec::new(),
            actions: Vec::new(),
            steps: subject
                .workflow
                .steps
                .iter()
                .map(|_| StepTrace {
                    status: StepState::Pending,
                    why: None,
                    at: Duration::ZERO,
                    input: serde_json::Value::Null,
                    attempts: Vec::new(),
                    outputs: Outputs::new(),
                    error: None,
                    mocked: false,
                    condition_held: false,
                })
                .collect(),
            path: Vec::new(),
        };
        run.start(serde_json::Value::Object(inputs))?;
        run.finish()
    }
}

/// What is due on the virtual clock.
#[derive(Debug)]
enum Due {
    /// An attempt ends (the event to send).
    AttemptEnd(EventKind),
    /// A timer fires.
    Timer(TimerId),
    /// The run's `timeout`.
    RunDeadline,
}

type Key = (Duration, u64);

struct Run<'a> {
    subject: &'a Subject,
    case: &'a Case,
    dir: &'a Path,
    registry: &'a StepRegistry,
    runtime: &'a tokio::runtime::Runtime,
    mocks: Vec<Option<&'a Mock>>,
    machine: Machine,
    redactor: Redactor,
    id: String,
    now: Duration,
    queue: BTreeMap<Key, Due>,
    seq: u64,
    /// The queued end of each step's running attempt.
    attempt_keys: Vec<Option<Key>>,
    timer_keys: HashMap<TimerId, Key>,
    events: Vec<Event>,
    actions: Vec<Action>,
    steps: Vec<StepTrace>,
    path: Vec<PathEntry>,
}

impl Run<'_> {
    fn schedule(&mut self, after: Duration, due: Due) -> Key {
        let key = (self.now.saturating_add(after), self.seq);
        self.seq += 1;
        self.queue.insert(key, due);
        key
    }

    fn apply(&mut self, kind: EventKind) -> Result<(), SimulationError> {
        let event = Event::new(self.now, kind);
        if let EventKind::AttemptSucceeded { step, outputs, .. } = &event.kind {
            for name in &self.subject.steps[step.get()].sensitive {
                if let Some(value) = outputs.get(name) {
                    self.redactor.add_leaves(value);
                }
            }
        }
        self.machine
            .handle(&event, &mut self.actions)
            .map_err(|error| SimulationError::Machine(error.to_string()))?;
        self.events.push(event);
        if self.events.len() > MAX_EVENTS {
            return Err(SimulationError::Runaway(MAX_EVENTS));
        }
        Ok(())
    }

    fn start(&mut self, inputs: serde_json::Value) -> Result<(), SimulationError> {
        self.apply(EventKind::RunStarted {
            workflow: self.subject.workflow.name.clone(),
            run_id: self.id.clone(),
            inputs: Arc::new(inputs),
            seed: 0,
            max_concurrency: None,
        })?;
        if let Some(timeout) = self.subject.workflow.timeout {
            self.schedule(timeout, Due::RunDeadline);
        }
        loop {
            self.perform()?;
            if self.machine.is_finished() {
                return Ok(());
            }
            let Some((key, due)) = self.queue.pop_first() else {
                return Err(SimulationError::Machine(
                    "the run waits for nothing but has not finished".to_owned(),
                ));
            };
            self.now = key.0;
            let kind = match due {
                Due::AttemptEnd(kind) => {
                    let (step, attempt) = attempt_of(&kind);
                    self.attempt_keys[step.get()] = None;
                    self.record_end(step, attempt, &kind);
                    kind
                }
                Due::Timer(timer) => {
                    self.timer_keys.remove(&timer);
                    EventKind::TimerFired { timer }
                }
                Due::RunDeadline => EventKind::RunTimedOut,
            };
            self.apply(kind)?;
        }
    }

    fn perform(&mut self) -> Result<(), SimulationError> {
        while !self.actions.is_empty() {
            let actions = std::mem::take(&mut self.actions);
            for action in actions {
                self.perform_one(action)?;
            }
        }
        Ok(())
    }

    fn perform_one(&mut self, action: Action) -> Result<(), SimulationError> {
        match action {
            Action::StartAttempt {
                step,
                attempt,
                input,
                timeout,
            } => self.start_attempt(step, attempt, &input, timeout)?,
            Action::CancelAttempt { step, attempt } => {
                if let Some(key) = self.attempt_keys[step.get()].take() {
                    self.queue.remove(&key);
                }
                let trace = &mut self.steps[step.get()];
                let current = trace.attempts.len() == attempt as usize;
                if let Some(last) = trace.attempts.last_mut()
                    && current
                {
                    last.result = AttemptResult::Cancelled(true);
                    last.took = Some(self.now.saturating_sub(last.at));
                }
            }
            Action::ScheduleTimer { timer, after } => {
                let key = self.schedule(after, Due::Timer(timer));
                self.timer_keys.insert(timer, key);
                let reason = self.machine.step(timer.step).and_then(|step| step.wait);
                let text = wait_text(reason, after);
                if let Some(last) = self.steps[timer.step.get()].attempts.last_mut() {
                    last.then = Some(text.clone());
                }
                self.note(timer.step, text);
            }
            Action::CancelTimer { timer } => {
                if let Some(key) = self.timer_keys.remove(&timer) {
                    self.queue.remove(&key);
                }
            }
            Action::StepChanged { step, state, .. } => {
                if state == StepState::Running {
                    self.steps[step.get()].condition_held = true;
                }
                if state.is_finished() {
                    self.record_finish(step, state);
                }
            }
            Action::FinishRun(_) => {}
        }
        Ok(())
    }

    fn start_attempt(
        &mut self,
        step: StepIndex,
        attempt: u32,
        input: &serde_json::Value,
        timeout: Option<Duration>,
    ) -> Result<(), SimulationError> {
        let plan = &self.subject.workflow.steps[step.get()];
        let (result, took, mocked) = match self.mocks[step.get()] {
            Some(mock) => {
                let Answer { result, delay, .. } = mock
                    .answer(attempt)
                    .ok_or_else(|| SimulationError::Machine("a mock without answers".to_owned()))?;
                (Some(result.clone()), *delay, true)
            }
            None => match &self.subject.steps[step.get()].pure {
                Some(real) => {
                    let ctx = StepContext::new(self.id.as_str(), plan.id.as_str(), attempt)
                        .with_base_dir(self.dir)
                        .with_redactor(self.redactor.clone());
                    let (result, took) = self.run_real(real, &ctx, input.clone(), timeout);
                    (result, took, false)
                }
                None => {
                    return Err(SimulationError::MissingMock(Box::new(missing_mock(
                        self.case,
                        &plan.id,
                        &plan.uses,
                        self.registry,
                    ))));
                }
            },
        };
        // Values computed from secrets (validation allows them only in
        // credential inputs) are secrets of the run, as in a real run.
        for pointer in &plan.secret_inputs {
            if let Some(value) = input.pointer(pointer) {
                self.redactor.add_leaves(value);
            }
        }
        let trace = &mut self.steps[step.get()];
        trace.mocked = mocked;
        trace.input.clone_from(input);
        trace.attempts.push(AttemptTrace {
            at: self.now,
            took: None,
            result: AttemptResult::Cancelled(true),
            then: None,
        });
        self.apply(EventKind::AttemptStarted { step, attempt })?;
        let (after, kind) = match (result, timeout) {
            (Some(_), Some(limit)) if took > limit => {
                (limit, EventKind::AttemptTimedOut { step, attempt })
            }
            (None, limit) => (
                limit.unwrap_or(took),
                EventKind::AttemptTimedOut { step, attempt },
            ),
            (Some(Ok(outputs)), _) => (
                took,
                EventKind::AttemptSucceeded {
                    step,
                    attempt,
                    outputs: Arc::new(outputs),
                },
            ),
            (Some(Err(error)), _) => (
                took,
                EventKind::AttemptFailed {
                    step,
                    attempt,
                    error,
                },
            ),
        };
        let key = self.schedule(after, Due::AttemptEnd(kind));
        self.attempt_keys[step.get()] = Some(key);
        Ok(())
    }

    /// Runs a pure step for real on the paused clock: its result (`None`:
    /// timed out) and how long it took.
    fn run_real(
        &self,
        step: &Arc<dyn Step>,
        ctx: &StepContext,
        input: serde_json::Value,
        timeout: Option<Duration>,
    ) -> (Option<Result<Outputs, StepError>>, Duration) {
        self.runtime.block_on(async {
            let start = tokio::time::Instant::now();
            let result = match timeout {
                Some(limit) => tokio::time::timeout(limit, step.run(ctx, input)).await.ok(),
                None => Some(step.run(ctx, input).await),
            };
            (result, start.elapsed())
        })
    }

    fn record_end(&mut self, step: StepIndex, attempt: u32, kind: &EventKind) {
        let now = self.now;
        let trace = &mut self.steps[step.get()];
        let Some(last) = trace.attempts.last_mut() else {
            return;
        };
        let took = now.saturating_sub(last.at);
        last.took = (!took.is_zero()).then_some(took);
        last.result = match kind {
            EventKind::AttemptSucceeded { outputs, .. } => {
                AttemptResult::Outputs(Outputs::clone(outputs))
            }
            EventKind::AttemptFailed { error, .. } => AttemptResult::Error(ErrorTrace::from(error)),
            _ => AttemptResult::TimedOut(true),
        };
        let what = match &last.result {
            AttemptResult::Outputs(outputs) => {
                format!(
                    "attempt {attempt} returned {}",
                    compact(&serde_json::Value::Object(outputs.clone()))
                )
            }
            AttemptResult::Error(error) => format!(
                "attempt {attempt} failed ({}{}): {}",
                error.code,
                if error.retryable { ", retryable" } else { "" },
                error.message
            ),
            AttemptResult::TimedOut(_) => format!("attempt {attempt} timed out"),
            AttemptResult::Cancelled(_) => format!("attempt {attempt} was cancelled"),
        };
        self.note(step, what);
    }

    fn record_finish(&mut self, step: StepIndex, state: StepState) {
        let snapshot = self.machine.step(step);
        let trace = &mut self.steps[step.get()];
        trace.status = state;
        trace.at = self.now;
        if let Some(snapshot) = snapshot {
            trace.outputs = snapshot.outputs.cloned().unwrap_or_default();
            trace.error = snapshot.error.map(ErrorTrace::from);
        }
        let said_by_attempt = matches!(
            (trace.attempts.last(), &trace.error),
            (Some(AttemptTrace { result: AttemptResult::Error(last), .. }), Some(error)) if last == error
        );
        let what = match (&trace.error, state) {
            (Some(_), StepState::Failed) if said_by_attempt => "failed".to_owned(),
            (Some(error), StepState::Failed) => {
                format!("failed ({}): {}", error.code, error.message)
            }
            (_, StepState::Succeeded) => format!(
                "succeeded after {} attempt{}",
                trace.attempts.len(),
                if trace.attempts.len() == 1 { "" } else { "s" }
            ),
            (_, state) => state.as_str().to_owned(),
        };
        self.note(step, what);
    }

    fn note(&mut self, step: StepIndex, what: String) {
        self.path.push(PathEntry {
            at: self.now,
            step: self.subject.workflow.steps[step.get()].id.clone(),
            what,
        });
    }

    fn finish(mut self) -> Result<CaseRun, SimulationError> {
        let outcome = self
            .machine
            .outcome()
            .cloned()
            .ok_or_else(|| SimulationError::Machine("the run did not finish".to_owned()))?;
        explain_skips(
            &self.subject.workflow,
            self.subject.program.engine(),
            &mut self.steps,
        );
        // The path says why steps were skipped, too.
        for entry in &mut self.path {
            if entry.what == "skipped"
                && let Some(step) = self.subject.workflow.step(&entry.step)
                && let Some(why) = self.steps[step.index.get()].why
            {
                entry.what = format!("skipped: {why}");
            }
        }
        let steps: IndexMap<String, StepTrace> = self
            .subject
            .workflow
            .steps
            .iter()
            .zip(self.steps)
            .map(|(plan, trace)| (plan.id.clone(), trace))
            .collect();
        let trace = Trace {
            workflow: self.subject.workflow.name.clone(),
            status: outcome.status,
            duration: self.now,
            outputs: outcome.outputs,
            error: outcome.error.as_ref().map(ErrorTrace::from),
            steps,
            path: self.path,
        };
        Ok(CaseRun {
            trace,
            events: self.events,
            redactor: self.redactor,
        })
    }
}

/// Why each skipped or cancelled step did not run, from the final states
/// and the machine's rules: a step whose `if` calls a status function, or
/// whose steps before it neither failed nor were skipped, was skipped by
/// its own `if`.
fn explain_skips(workflow: &Workflow, engine: &ExprEngine, steps: &mut [StepTrace]) {
    for plan in &workflow.steps {
        let index = plan.index.get();
        match steps[index].status {
            StepState::Skipped => {}
            StepState::Cancelled => {
                steps[index].why = Some("the run was cancelled or timed out");
                continue;
            }
            _ => continue,
        }
        let by_condition = plan.condition.as_ref().is_some_and(|condition| {
            engine.uses_status_function(condition) || {
                let failed_before = workflow.ancestors(plan.index).iter().any(|before| {
                    steps[before.get()].status == StepState::Failed
                        && !workflow.steps[before.get()].continue_on_error
                });
                let need_not_run = plan.needs.iter().any(|need| {
                    matches!(
                        steps[need.get()].status,
                        StepState::Skipped | StepState::Cancelled
                    )
                });
                !failed_before && !need_not_run
            }
        });
        steps[index].why = Some(if by_condition {
            SKIPPED_BY_IF
        } else if plan.needs.iter().any(|need| {
            matches!(
                steps[need.get()].status,
                StepState::Skipped | StepState::Cancelled
            )
        }) {
            "a step it needs did not run"
        } else {
            "a step before it failed"
        });
    }
}

fn attempt_of(kind: &EventKind) -> (StepIndex, u32) {
    match kind {
        EventKind::AttemptSucceeded { step, attempt, .. }
        | EventKind::AttemptFailed { step, attempt, .. }
        | EventKind::AttemptTimedOut { step, attempt }
        | EventKind::AttemptStarted { step, attempt } => (*step, *attempt),
        _ => (StepIndex(0), 0),
    }
}

/// JSON on one line, shortened for the path.
pub(crate) fn compact(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}
