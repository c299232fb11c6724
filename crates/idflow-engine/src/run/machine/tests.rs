//! Unit tests of the machine: one or more per transition. Every test's
//! events are replayed (through JSON) when its harness is dropped, and the
//! replayed machine must equal the live one.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use idflow_core::{Outputs, StepError};
use serde_json::{Value, json};

use super::*;
use crate::expr::ExprEngine;
use crate::model::{Backoff, Jitter, RetryPolicy, Workflow};
use crate::run::backoff::{full_jitter, jitter_sample};
use crate::run::testkit::{FlowBuilder, expr, gate, text, with};

const SEED: u64 = 0x5EED;

struct Harness {
    program: Arc<Program>,
    machine: Machine,
    events: Vec<Event>,
    now: Duration,
}

impl Harness {
    fn new(workflow: Arc<Workflow>) -> Self {
        let program = Arc::new(Program::new(workflow, Arc::new(ExprEngine::new())));
        let secrets: Secrets = [("token", "tok-secret-1")].into_iter().collect();
        Self {
            machine: Machine::new(Arc::clone(&program), secrets),
            program,
            events: Vec::new(),
            now: Duration::ZERO,
        }
    }

    fn start(&mut self) -> Actions {
        self.start_with(json!({"name": "ana", "n": 2}), None)
    }

    fn start_with(&mut self, inputs: Value, limit: Option<u32>) -> Actions {
        self.feed(EventKind::RunStarted {
            workflow: self.program.workflow().name.clone(),
            run_id: "run-1".into(),
            inputs: Arc::new(inputs),
            seed: SEED,
            max_concurrency: limit.and_then(NonZeroU32::new),
        })
    }

    fn feed(&mut self, kind: EventKind) -> Actions {
        let event = Event::new(self.now, kind);
        let mut actions = Vec::new();
        self.machine
            .handle(&event, &mut actions)
            .expect("event applies");
        self.events.push(event);
        Actions {
            actions,
            program: Arc::clone(&self.program),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn index(&self, id: &str) -> StepIndex {
        self.program.workflow().step(id).expect("step exists").index
    }

    fn attempt(&self, id: &str) -> u32 {
        self.snapshot(id).attempts
    }

    fn snapshot(&self, id: &str) -> StepSnapshot<'_> {
        self.machine.step(self.index(id)).expect("step exists")
    }

    fn state(&self, id: &str) -> StepState {
        self.snapshot(id).state
    }

    /// Reports the current attempt of `id` started, then succeeded.
    fn succeed(&mut self, id: &str, outputs: Value) -> Actions {
        let (step, attempt) = (self.index(id), self.attempt(id));
        self.feed(EventKind::AttemptStarted { step, attempt });
        let Value::Object(outputs) = outputs else {
            panic!("outputs are an object")
        };
        self.feed(EventKind::AttemptSucceeded {
            step,
            attempt,
            outputs: Arc::new(outputs),
        })
    }

    fn fail(&mut self, id: &str, error: StepError) -> Actions {
        let (step, attempt) = (self.index(id), self.attempt(id));
        self.feed(EventKind::AttemptFailed {
            step,
            attempt,
            error,
        })
    }

    fn time_out(&mut self, id: &str) -> Actions {
        let (step, attempt) = (self.index(id), self.attempt(id));
        self.feed(EventKind::AttemptTimedOut { step, attempt })
    }

    fn fire(&mut self, timer: TimerId) -> Actions {
        self.feed(EventKind::TimerFired { timer })
    }

    fn outcome(&self) -> &RunOutcome {
        self.machine.outcome().expect("the run finished")
    }
}

/// The actions one event led to.
#[derive(Debug)]
struct Actions {
    actions: Vec<Action>,
    program: Arc<Program>,
}

impl std::ops::Deref for Actions {
    type Target = Vec<Action>;

    fn deref(&self) -> &Vec<Action> {
        &self.actions
    }
}

impl Actions {
    /// The ids, attempts and inputs of the attempts started.
    fn started(&self) -> Vec<(String, u32, Value)> {
        self.actions
            .iter()
            .filter_map(|action| match action {
                Action::StartAttempt {
                    step,
                    attempt,
                    input,
                    ..
                } => Some((
                    self.program.workflow().steps[step.get()].id.clone(),
                    *attempt,
                    input.clone(),
                )),
                _ => None,
            })
            .collect()
    }

    fn started_ids(&self) -> Vec<String> {
        self.started().into_iter().map(|(id, ..)| id).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let json = serde_json::to_string(&self.events).expect("events serialize");
        let events: Vec<Event> = serde_json::from_str(&json).expect("events deserialize");
        let secrets: Secrets = [("token", "tok-secret-1")].into_iter().collect();
        let replayed =
            Machine::replay(Arc::clone(&self.program), secrets, &events).expect("the log replays");
        assert_eq!(replayed, self.machine, "replay rebuilt a different state");
    }
}

fn timers(actions: &[Action]) -> Vec<(TimerId, Duration)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::ScheduleTimer { timer, after } => Some((*timer, *after)),
            _ => None,
        })
        .collect()
}

fn only_timer(actions: &[Action]) -> (TimerId, Duration) {
    let found = timers(actions);
    assert_eq!(found.len(), 1, "{actions:?}");
    found[0]
}

fn finished(actions: &[Action]) -> Option<&RunOutcome> {
    actions.iter().find_map(|action| match action {
        Action::FinishRun(outcome) => Some(&**outcome),
        _ => None,
    })
}

fn retry(attempts: u32, backoff: Backoff, jitter: Jitter) -> RetryPolicy {
    RetryPolicy {
        attempts,
        backoff,
        initial: Duration::from_millis(100),
        max: Duration::from_millis(300),
        jitter,
    }
}

fn diamond() -> Arc<Workflow> {
    FlowBuilder::new("diamond")
        .step("a", "test.noop", &[], |_| {})
        .step("b", "test.noop", &["a"], |_| {})
        .step("c", "test.noop", &["a"], |_| {})
        .step("d", "test.noop", &["b", "c"], |_| {})
        .build()
}

#[test]
fn independent_steps_start_together_and_a_join_waits_for_all() {
    let mut h = Harness::new(diamond());
    assert_eq!(h.start().started_ids(), ["a"]);
    assert_eq!(h.state("b"), StepState::Pending);
    let actions = h.succeed("a", json!({}));
    assert_eq!(actions.started_ids(), ["b", "c"]);
    assert!(h.succeed("c", json!({})).started_ids().is_empty());
    assert_eq!(h.state("d"), StepState::Pending);
    assert_eq!(h.succeed("b", json!({})).started_ids(), ["d"]);
    let actions = h.succeed("d", json!({}));
    assert_eq!(finished(&actions).unwrap().status, RunStatus::Succeeded);
    assert!(h.machine.is_finished());
}

#[test]
fn with_is_rendered_before_each_attempt_from_inputs_secrets_steps_attempt_and_run_id() {
    let workflow = FlowBuilder::new("render")
        .step("get", "test.echo", &[], |_| {})
        .step("use", "test.echo", &["get"], |step| {
            step.with = with(&[
                ("who", text("${{ inputs.name }}")),
                ("n", text("${{ inputs.n * 10 }}")),
                ("status", text("${{ steps.get.outputs.status }}")),
                ("line", text("run ${{ run.id }} attempt ${{ attempt }}")),
                ("auth", text("Bearer ${{ secrets.token }}")),
                ("was", text("${{ steps.get.status }}")),
            ]);
            step.retry = retry(2, Backoff::Fixed, Jitter::None);
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let actions = h.succeed("get", json!({"status": "ok"}));
    let expected = |attempt: u32| {
        json!({
            "who": "ana", "n": 20, "status": "ok",
            "line": format!("run run-1 attempt {attempt}"),
            "auth": "Bearer tok-secret-1", "was": "succeeded",
        })
    };
    assert_eq!(actions.started(), [("use".into(), 1, expected(1))]);
    let (timer, _) = only_timer(&h.fail("use", StepError::retryable("connection", "reset")));
    assert_eq!(h.fire(timer).started(), [("use".into(), 2, expected(2))]);
}

#[test]
fn the_concurrency_limit_queues_ready_steps_in_written_order() {
    let workflow = FlowBuilder::new("fan")
        .step("a", "test.noop", &[], |_| {})
        .step("b", "test.noop", &[], |_| {})
        .step("c", "test.noop", &[], |_| {})
        .step("d", "test.noop", &[], |_| {})
        .build();
    let mut h = Harness::new(workflow);
    let actions = h.start_with(json!({}), Some(2));
    assert_eq!(actions.started_ids(), ["a", "b"]);
    assert_eq!(h.machine.running(), 2);
    assert_eq!(h.state("c"), StepState::Pending);
    assert_eq!(h.succeed("b", json!({})).started_ids(), ["c"]);
    // A failure frees its slot too.
    assert_eq!(
        h.fail("a", StepError::terminal("boom", "no")).started_ids(),
        ["d"]
    );
    h.succeed("c", json!({}));
    let actions = h.succeed("d", json!({}));
    assert_eq!(finished(&actions).unwrap().status, RunStatus::Failed);
}

#[test]
fn a_retry_waiting_for_a_slot_starts_when_one_frees_up() {
    let workflow = FlowBuilder::new("slots")
        .step("a", "test.noop", &[], |step| {
            step.retry = retry(2, Backoff::Fixed, Jitter::None);
        })
        .step("b", "test.noop", &[], |_| {})
        .step("c", "test.noop", &[], |_| {})
        .build();
    let mut h = Harness::new(workflow);
    assert_eq!(h.start_with(json!({}), Some(1)).started_ids(), ["a"]);
    let (timer, _) = only_timer(&h.fail("a", StepError::retryable("connection", "reset")));
    // The waiting step frees its slot: `b` runs meanwhile.
    h.advance(Duration::from_millis(10));
    let actions = h.feed(EventKind::AttemptStarted {
        step: h.index("b"),
        attempt: 0,
    });
    assert!(actions.is_empty(), "a stale start changes nothing");
    assert_eq!(h.state("b"), StepState::Running);
    // The timer fires while `b` holds the slot: `a` queues behind `c`.
    assert!(h.fire(timer).started_ids().is_empty());
    assert_eq!(h.state("a"), StepState::Waiting);
    assert_eq!(h.succeed("b", json!({})).started_ids(), ["c"]);
    assert_eq!(
        h.succeed("c", json!({})).started(),
        [("a".into(), 2, json!({}))]
    );
    h.succeed("a", json!({}));
    assert_eq!(h.outcome().status, RunStatus::Succeeded);
}

#[test]
fn a_false_if_skips_the_step_and_its_dependents() {
    let workflow = FlowBuilder::new("skip")
        .step("a", "test.noop", &[], |step| {
            step.condition = Some(expr("inputs.n > 5"));
        })
        .step("b", "test.noop", &["a"], |_| {})
        .step("c", "test.noop", &["b"], |step| {
            step.condition = Some(expr("true"));
        })
        .step("d", "test.noop", &[], |_| {})
        .step("e", "test.noop", &["c"], |step| {
            step.condition = Some(expr("always()"));
            step.with = with(&[("was", text("${{ steps.c.status }}"))]);
        })
        .build();
    let mut h = Harness::new(workflow);
    let actions = h.start();
    // `a`, `b` and `c` are skipped at once; `e` decides for itself.
    assert_eq!(
        actions.started(),
        [
            ("d".into(), 1, json!({})),
            ("e".into(), 1, json!({"was": "skipped"}))
        ]
    );
    for id in ["a", "b", "c"] {
        assert_eq!(h.state(id), StepState::Skipped, "{id}");
        assert_eq!(h.snapshot(id).attempts, 0);
    }
    h.succeed("d", json!({}));
    h.succeed("e", json!({}));
    assert_eq!(h.outcome().status, RunStatus::Succeeded);
}

#[test]
fn after_a_failure_dependents_are_skipped_but_always_and_failure_steps_run() {
    let workflow = FlowBuilder::new("failure")
        .step("a", "test.noop", &[], |_| {})
        .step("b", "test.noop", &["a"], |_| {})
        .step("c", "test.noop", &["b"], |_| {})
        .step("cleanup", "test.noop", &["c"], |step| {
            step.condition = Some(expr("always()"));
        })
        .step("report", "test.noop", &["c"], |step| {
            step.condition = Some(expr("failure()"));
        })
        .step("on_success", "test.noop", &["c"], |step| {
            step.condition = Some(expr("success()"));
        })
        .step("after_cleanup", "test.noop", &["cleanup"], |_| {})
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let actions = h.fail("a", StepError::terminal("boom", "broken"));
    assert_eq!(actions.started_ids(), ["cleanup", "report"]);
    assert_eq!(h.state("b"), StepState::Skipped);
    assert_eq!(h.state("c"), StepState::Skipped);
    assert_eq!(h.state("on_success"), StepState::Skipped);
    assert_eq!(h.snapshot("a").error.unwrap().code, "boom");
    h.succeed("report", json!({}));
    // `after_cleanup` has no `if`: a step before it failed, so it is skipped
    // even though `cleanup` succeeded.
    assert!(h.succeed("cleanup", json!({})).started_ids().is_empty());
    assert_eq!(h.state("after_cleanup"), StepState::Skipped);
    assert_eq!(h.outcome().status, RunStatus::Failed);
}

#[test]
fn continue_on_error_keeps_the_run_and_its_dependents_going() {
    let workflow = FlowBuilder::new("lenient")
        .step("a", "test.noop", &[], |step| step.continue_on_error = true)
        .step("b", "test.noop", &["a"], |step| {
            step.with = with(&[("was", text("${{ steps.a.status }}"))]);
        })
        .step("report", "test.noop", &["a"], |step| {
            step.condition = Some(expr("failure()"));
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let actions = h.fail("a", StepError::terminal("boom", "broken"));
    assert_eq!(
        actions.started(),
        [("b".into(), 1, json!({"was": "failed"}))]
    );
    assert_eq!(h.state("report"), StepState::Skipped);
    h.succeed("b", json!({}));
    assert_eq!(h.state("a"), StepState::Failed);
    assert_eq!(h.outcome().status, RunStatus::Succeeded);
}

#[test]
fn retryable_errors_back_off_exponentially_up_to_the_cap_then_fail() {
    let workflow = FlowBuilder::new("retry")
        .step("a", "test.noop", &[], |step| {
            step.retry = retry(5, Backoff::Exponential, Jitter::None);
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let mut waits = Vec::new();
    for attempt in 1..=4 {
        assert_eq!(h.attempt("a"), attempt);
        let actions = h.fail("a", StepError::retryable("http_status", "503"));
        let (timer, after) = only_timer(&actions);
        assert_eq!(h.state("a"), StepState::Waiting);
        assert_eq!(h.snapshot("a").wait, Some(WaitReason::Retry));
        waits.push(after.as_millis());
        h.advance(after);
        assert_eq!(h.fire(timer).started_ids(), ["a"]);
    }
    assert_eq!(waits, [100, 200, 300, 300]);
    let actions = h.fail("a", StepError::retryable("http_status", "503"));
    assert!(timers(&actions).is_empty());
    assert_eq!(h.state("a"), StepState::Failed);
    assert_eq!(h.snapshot("a").attempts, 5);
    assert_eq!(finished(&actions).unwrap().status, RunStatus::Failed);
}

#[test]
fn fixed_backoff_with_full_jitter_waits_the_seeded_fraction() {
    let workflow = FlowBuilder::new("jitter")
        .step("a", "test.noop", &[], |step| {
            step.retry = retry(4, Backoff::Fixed, Jitter::Full);
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    for attempt in 1..=3 {
        let (timer, after) = only_timer(&h.fail("a", StepError::retryable("timeout", "slow")));
        let expected = full_jitter(
            Duration::from_millis(100),
            jitter_sample(SEED, StepIndex(0), attempt),
        );
        assert_eq!(after, expected, "attempt {attempt}");
        assert!(after <= Duration::from_millis(100));
        h.fire(timer);
    }
    h.succeed("a", json!({}));
    assert_eq!(h.outcome().status, RunStatus::Succeeded);
    assert!(h.snapshot("a").error.is_none());
}

#[test]
fn retry_after_is_honoured_as_a_minimum() {
    let workflow = FlowBuilder::new("after")
        .step("a", "test.noop", &[], |step| {
            step.retry = retry(3, Backoff::Exponential, Jitter::None);
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let error = StepError::retryable("http_status", "429").with_retry_after(Duration::from_secs(7));
    let (_, after) = only_timer(&h.fail("a", error));
    assert_eq!(after, Duration::from_secs(7));
}

#[test]
fn terminal_errors_are_not_retried() {
    let workflow = FlowBuilder::new("terminal")
        .step("a", "test.noop", &[], |step| {
            step.retry = retry(5, Backoff::Fixed, Jitter::None);
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let actions = h.fail("a", StepError::invalid_input("bad"));
    assert!(timers(&actions).is_empty());
    assert_eq!(h.state("a"), StepState::Failed);
    assert_eq!(h.snapshot("a").attempts, 1);
    assert_eq!(h.snapshot("a").error.unwrap().code, "invalid_input");
}

#[test]
fn a_timed_out_attempt_is_a_retryable_timeout_and_is_retried() {
    let workflow = FlowBuilder::new("timeout")
        .step("a", "test.noop", &[], |step| {
            step.retry = retry(2, Backoff::Fixed, Jitter::None);
            step.timeout = Some(Duration::from_secs(2));
        })
        .build();
    let mut h = Harness::new(workflow);
    let actions = h.start();
    assert!(actions.iter().any(|action| matches!(
        action,
        Action::StartAttempt { timeout: Some(t), .. } if *t == Duration::from_secs(2)
    )));
    h.advance(Duration::from_secs(2));
    let (timer, after) = only_timer(&h.time_out("a"));
    assert_eq!(after, Duration::from_millis(100));
    let error = h.snapshot("a").error.unwrap();
    assert_eq!(error.code, "timeout");
    assert!(error.is_retryable());
    assert!(error.message.contains("within 2s"), "{}", error.message);
    h.fire(timer);
    h.time_out("a");
    assert_eq!(h.state("a"), StepState::Failed);
    assert_eq!(h.snapshot("a").attempts, 2);
    assert_eq!(h.outcome().status, RunStatus::Failed);
}

#[test]
fn until_polls_with_a_growing_interval_and_sees_outputs_and_attempt() {
    let workflow = FlowBuilder::new("poll")
        .step("wait", "test.echo", &[], |step| {
            step.with = with(&[("attempt", text("${{ attempt }}"))]);
            step.gate = Some(gate(
                "outputs.status == 'done' and attempt >= 3",
                Duration::from_secs(1),
                2.0,
                Duration::from_secs(3),
                Duration::from_mins(1),
            ));
        })
        .step("next", "test.echo", &["wait"], |step| {
            step.with = with(&[("status", text("${{ steps.wait.outputs.status }}"))]);
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let mut waits = Vec::new();
    let statuses = ["pending", "done", "pending", "pending"];
    for (i, status) in statuses.iter().enumerate() {
        let actions = h.succeed("wait", json!({ "status": status }));
        let (timer, after) = only_timer(&actions);
        assert_eq!(h.snapshot("wait").wait, Some(WaitReason::Poll));
        waits.push(after.as_secs());
        h.advance(after);
        let started = h.fire(timer).started();
        let attempt = u32::try_from(i).unwrap() + 2;
        assert_eq!(
            started,
            [("wait".into(), attempt, json!({ "attempt": attempt }))]
        );
    }
    // `done` at attempt 2 was not enough: `until` also asks for attempt >= 3.
    assert_eq!(waits, [1, 2, 3, 3]);
    let actions = h.succeed("wait", json!({"status": "done"}));
    assert_eq!(h.state("wait"), StepState::Succeeded);
    assert_eq!(h.snapshot("wait").attempts, 5);
    assert_eq!(
        actions.started(),
        [("next".into(), 1, json!({"status": "done"}))]
    );
}

#[test]
fn a_poll_that_never_holds_fails_at_the_deadline_with_the_last_outputs() {
    let workflow = FlowBuilder::new("poll")
        .step("wait", "test.echo", &[], |step| {
            step.gate = Some(gate(
                "outputs.status == 'done'",
                Duration::from_secs(4),
                1.0,
                Duration::from_secs(4),
                Duration::from_secs(10),
            ));
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let mut waits = Vec::new();
    for _ in 0..3 {
        h.advance(Duration::from_millis(100));
        let (timer, after) = only_timer(&h.succeed("wait", json!({"status": "pending"})));
        waits.push(after.as_millis());
        h.advance(after);
        h.fire(timer);
    }
    // 4s, 4s, then the wait is cut short to end at the 10s deadline.
    assert_eq!(waits, [4000, 4000, 1700]);
    let actions = h.succeed("wait", json!({"status": "still-pending"}));
    assert!(timers(&actions).is_empty());
    let error = h.snapshot("wait").error.unwrap().clone();
    assert_eq!(error.code, "poll_timeout");
    assert!(!error.is_retryable());
    assert_eq!(
        error.details,
        Some(json!({"outputs": {"status": "still-pending"}, "attempts": 4}))
    );
    assert_eq!(
        h.snapshot("wait").outputs.unwrap()["status"],
        "still-pending"
    );
    assert_eq!(h.outcome().status, RunStatus::Failed);
}

#[test]
fn a_poll_step_retries_errors_and_counts_every_attempt() {
    let workflow = FlowBuilder::new("poll")
        .step("wait", "test.echo", &[], |step| {
            step.retry = retry(2, Backoff::Fixed, Jitter::None);
            step.gate = Some(gate(
                "outputs.done",
                Duration::from_secs(1),
                1.0,
                Duration::from_secs(1),
                Duration::from_mins(1),
            ));
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    // Failures in a row are counted from the last success: fail, poll,
    // fail, poll, done.
    for _ in 0..2 {
        let (timer, _) = only_timer(&h.fail("wait", StepError::retryable("connection", "reset")));
        h.fire(timer);
        let (timer, _) = only_timer(&h.succeed("wait", json!({"done": false})));
        h.fire(timer);
    }
    h.succeed("wait", json!({"done": true}));
    assert_eq!(h.state("wait"), StepState::Succeeded);
    assert_eq!(h.snapshot("wait").attempts, 5);
}

#[test]
fn expression_errors_fail_the_step_without_retry() {
    let runaway = "range(100000) | map('string') | join(',') | length";
    let workflow = FlowBuilder::new("exprs")
        .step("bad_if", "test.noop", &[], |step| {
            step.condition = Some(expr(runaway));
            step.continue_on_error = true;
        })
        .step("bad_with", "test.noop", &[], |step| {
            step.with = text(&format!("${{{{ {runaway} }}}}"));
            step.retry = retry(3, Backoff::Fixed, Jitter::None);
            step.continue_on_error = true;
        })
        .step("bad_until", "test.noop", &[], |step| {
            step.gate = Some(gate(
                runaway,
                Duration::from_secs(1),
                1.0,
                Duration::from_secs(1),
                Duration::from_mins(1),
            ));
            step.retry = retry(3, Backoff::Fixed, Jitter::None);
        })
        .build();
    let mut h = Harness::new(workflow);
    assert_eq!(h.start().started_ids(), ["bad_until"]);
    for (id, attempts) in [("bad_if", 0), ("bad_with", 0)] {
        assert_eq!(h.state(id), StepState::Failed, "{id}");
        assert_eq!(h.snapshot(id).attempts, attempts, "{id}");
        assert_eq!(h.snapshot(id).error.unwrap().code, "expression", "{id}");
    }
    let actions = h.succeed("bad_until", json!({}));
    assert!(timers(&actions).is_empty());
    let error = h.snapshot("bad_until").error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.is_retryable()),
        ("expression", false)
    );
    assert!(error.message.starts_with("until: "), "{}", error.message);
    assert_eq!(h.outcome().status, RunStatus::Failed);
}

#[test]
fn run_outputs_are_evaluated_at_the_end() {
    let workflow = FlowBuilder::new("outputs")
        .step("a", "test.echo", &[], |_| {})
        .step("b", "test.echo", &["a"], |step| {
            step.condition = Some(expr("false"));
        })
        .output("id", text("${{ steps.a.outputs.id }}"))
        .output("b_status", text("${{ steps.b.status }}"))
        .output("greeting", text("hi ${{ inputs.name }}"))
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let actions = h.succeed("a", json!({"id": 42}));
    let outcome = finished(&actions).unwrap();
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(
        Value::Object(outcome.outputs.clone()),
        json!({"id": 42, "b_status": "skipped", "greeting": "hi ana"})
    );
}

#[test]
fn an_output_that_fails_to_evaluate_fails_the_run() {
    let workflow = FlowBuilder::new("outputs")
        .step("a", "test.echo", &[], |_| {})
        .output(
            "bad",
            text("${{ range(100000) | map('string') | join(',') | length }}"),
        )
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    h.succeed("a", json!({}));
    let outcome = h.outcome();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.outputs["bad"], Value::Null);
    assert_eq!(outcome.error.as_ref().unwrap().code, "expression");
}

#[test]
fn cancelling_mid_backoff_cancels_the_timer_and_cleanup_steps_still_run() {
    let workflow = FlowBuilder::new("cancel")
        .step("a", "test.noop", &[], |step| {
            step.retry = retry(3, Backoff::Fixed, Jitter::None);
        })
        .step("b", "test.noop", &["a"], |_| {})
        .step("cleanup", "test.noop", &["a"], |step| {
            step.condition = Some(expr("always()"));
        })
        .step("on_cancel", "test.noop", &["a"], |step| {
            step.condition = Some(expr("cancelled()"));
        })
        .step("not_on_cancel", "test.noop", &["a"], |step| {
            step.condition = Some(expr("success()"));
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let (timer, _) = only_timer(&h.fail("a", StepError::retryable("connection", "reset")));
    let actions = h.feed(EventKind::CancelRequested { force: false });
    assert!(actions.contains(&Action::CancelTimer { timer }));
    assert_eq!(h.state("a"), StepState::Cancelled);
    assert!(h.snapshot("a").error.is_none());
    assert_eq!(h.state("b"), StepState::Cancelled);
    assert_eq!(h.state("not_on_cancel"), StepState::Skipped);
    assert_eq!(actions.started_ids(), ["cleanup", "on_cancel"]);
    // The stale timer changes nothing.
    assert!(h.fire(timer).is_empty());
    h.succeed("cleanup", json!({}));
    let actions = h.succeed("on_cancel", json!({}));
    assert_eq!(finished(&actions).unwrap().status, RunStatus::Cancelled);
}

#[test]
fn cancelling_drops_running_attempts_and_ignores_their_late_results() {
    let mut h = Harness::new(diamond());
    h.start();
    h.succeed("a", json!({}));
    let (b, c) = (h.index("b"), h.index("c"));
    let actions = h.feed(EventKind::CancelRequested { force: false });
    assert!(actions.contains(&Action::CancelAttempt {
        step: b,
        attempt: 1
    }));
    assert!(actions.contains(&Action::CancelAttempt {
        step: c,
        attempt: 1
    }));
    assert_eq!(h.machine.running(), 0);
    assert_eq!(finished(&actions).unwrap().status, RunStatus::Cancelled);
    assert_eq!(h.state("d"), StepState::Cancelled);
    let mut more = Vec::new();
    let late = Event::new(
        h.now,
        EventKind::AttemptSucceeded {
            step: b,
            attempt: 1,
            outputs: Arc::new(Outputs::new()),
        },
    );
    assert_eq!(
        h.machine.handle(&late, &mut more),
        Err(MachineError::Finished)
    );
}

#[test]
fn a_forced_or_second_cancel_stops_cleanup_steps_too() {
    let workflow = FlowBuilder::new("cancel")
        .step("a", "test.noop", &[], |_| {})
        .step("cleanup", "test.noop", &["a"], |step| {
            step.condition = Some(expr("always()"));
        })
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    assert_eq!(
        h.feed(EventKind::CancelRequested { force: false })
            .started_ids(),
        ["cleanup"]
    );
    let actions = h.feed(EventKind::CancelRequested { force: false });
    assert!(actions.contains(&Action::CancelAttempt {
        step: h.index("cleanup"),
        attempt: 1
    }));
    assert_eq!(h.state("cleanup"), StepState::Cancelled);
    assert_eq!(finished(&actions).unwrap().status, RunStatus::Cancelled);

    let mut forced = Harness::new(diamond());
    forced.start();
    let actions = forced.feed(EventKind::CancelRequested { force: true });
    assert_eq!(finished(&actions).unwrap().status, RunStatus::Cancelled);
    assert!(
        ["a", "b", "c", "d"]
            .iter()
            .all(|id| forced.state(id) == StepState::Cancelled)
    );
}

#[test]
fn the_run_timeout_stops_everything_and_fails_the_run() {
    let workflow = FlowBuilder::new("slow")
        .step("a", "test.noop", &[], |_| {})
        .step("b", "test.noop", &[], |step| {
            step.retry = retry(3, Backoff::Fixed, Jitter::None);
        })
        .step("cleanup", "test.noop", &["a", "b"], |step| {
            step.condition = Some(expr("always()"));
        })
        .timeout(Duration::from_secs(30))
        .build();
    let mut h = Harness::new(workflow);
    h.start();
    let (timer, _) = only_timer(&h.fail("b", StepError::retryable("connection", "reset")));
    h.advance(Duration::from_secs(30));
    let actions = h.feed(EventKind::RunTimedOut);
    assert!(actions.contains(&Action::CancelAttempt {
        step: h.index("a"),
        attempt: 1
    }));
    assert!(actions.contains(&Action::CancelTimer { timer }));
    assert!(
        actions.started_ids().is_empty(),
        "no cleanup after a timeout"
    );
    let outcome = finished(&actions).unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.as_ref().unwrap();
    assert_eq!(error.code, "run_timeout");
    assert!(error.message.contains("30s"), "{}", error.message);
    assert_eq!(
        h.snapshot("cleanup").finished_at,
        Some(Duration::from_secs(30))
    );
}

#[test]
fn step_times_come_from_events() {
    let mut h = Harness::new(diamond());
    h.start();
    h.advance(Duration::from_millis(5));
    h.succeed("a", json!({}));
    h.advance(Duration::from_millis(7));
    h.succeed("b", json!({}));
    let a = h.snapshot("a");
    assert_eq!(
        (a.started_at, a.finished_at),
        (Some(Duration::ZERO), Some(Duration::from_millis(5)))
    );
    let b = h.snapshot("b");
    assert_eq!(
        (b.started_at, b.finished_at, b.in_flight),
        (
            Some(Duration::from_millis(5)),
            Some(Duration::from_millis(12)),
            true
        )
    );
    assert_eq!(h.state("c"), StepState::Running);
    assert!(!h.snapshot("c").in_flight);
}

#[test]
fn events_that_do_not_fit_the_run_are_errors() {
    let mut h = Harness::new(diamond());
    let mut actions = Vec::new();
    let early = Event::new(Duration::ZERO, EventKind::RunTimedOut);
    assert_eq!(
        h.machine.handle(&early, &mut actions),
        Err(MachineError::NotStarted)
    );
    let other = Event::new(
        Duration::ZERO,
        EventKind::RunStarted {
            workflow: "other".into(),
            run_id: "r".into(),
            inputs: Arc::new(json!({})),
            seed: 1,
            max_concurrency: None,
        },
    );
    assert!(matches!(
        h.machine.handle(&other, &mut actions),
        Err(MachineError::WorkflowMismatch { .. })
    ));
    h.start();
    let again = Event::new(
        Duration::ZERO,
        EventKind::RunStarted {
            workflow: "diamond".into(),
            run_id: "r".into(),
            inputs: Arc::new(json!({})),
            seed: 1,
            max_concurrency: None,
        },
    );
    assert_eq!(
        h.machine.handle(&again, &mut actions),
        Err(MachineError::AlreadyStarted)
    );
    let unknown = Event::new(
        Duration::ZERO,
        EventKind::AttemptStarted {
            step: StepIndex(99),
            attempt: 1,
        },
    );
    assert_eq!(
        h.machine.handle(&unknown, &mut actions),
        Err(MachineError::UnknownStep(99))
    );
    assert!(actions.is_empty());
}

#[test]
fn a_workflow_without_steps_finishes_at_once() {
    let workflow = FlowBuilder::new("empty")
        .output("x", text("${{ inputs.n }}"))
        .build();
    let mut h = Harness::new(workflow);
    let actions = h.start();
    assert_eq!(finished(&actions).unwrap().outputs["x"], 2);
}

#[test]
fn replaying_a_prefix_of_the_log_gives_the_state_at_that_point() {
    let mut h = Harness::new(diamond());
    h.start();
    h.succeed("a", json!({"x": 1}));
    let halfway = Machine::replay(Arc::clone(&h.program), Secrets::new(), &h.events).unwrap();
    assert_eq!(halfway, h.machine);
    assert_eq!(
        halfway.step(StepIndex(1)).unwrap().state,
        StepState::Running
    );
    h.succeed("b", json!({}));
    assert_ne!(halfway, h.machine);
}

#[test]
fn success_is_false_after_a_skipped_step_but_not_failure_still_runs() {
    let workflow = FlowBuilder::new("after-skip")
        .step("a", "test.noop", &[], |step| {
            step.condition = Some(expr("false"));
        })
        .step("b", "test.noop", &["a"], |step| {
            step.condition = Some(expr("true"));
        })
        .step("on_success", "test.noop", &["b"], |step| {
            step.condition = Some(expr("success()"));
        })
        .step("not_failed", "test.noop", &["b"], |step| {
            step.condition = Some(expr("not failure() and not cancelled()"));
        })
        .build();
    let mut h = Harness::new(workflow);
    let actions = h.start();
    // `b` is skipped because `a` was; `success()` sees the skip two steps up.
    assert_eq!(h.state("b"), StepState::Skipped);
    assert_eq!(h.state("on_success"), StepState::Skipped);
    assert_eq!(actions.started_ids(), ["not_failed"]);
    h.succeed("not_failed", json!({}));
    assert_eq!(h.outcome().status, RunStatus::Succeeded);
}
