//! Driver tests on a paused tokio clock (no real sleeps), with small test
//! steps registered in a [`StepRegistry`].

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, StepRegistry};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::model::{Backoff, Jitter, RetryPolicy};
use crate::run::action::{RunStatus, StepState, WaitReason};
use crate::run::testkit::{FlowBuilder, expr, gate, text, with};

const SECRET: &str = "tok-SECRET-value-42";
const LINK: &str = "https://upload.example/xyz-upload-123";

/// Counts the test steps' futures that are alive.
#[derive(Clone, Default)]
struct Live(Arc<AtomicUsize>);

struct LiveGuard(Arc<AtomicUsize>);

impl Live {
    fn enter(&self) -> LiveGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        LiveGuard(Arc::clone(&self.0))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

type Behaviour = dyn Fn(&StepContext, Value) -> Result<Outputs, StepError> + Send + Sync;

/// A test step: optionally sleeps (`sleep_ms` in its input) or hangs
/// (`hang: true`), then does what `behaviour` says.
struct TestStep {
    metadata: StepMetadata,
    live: Live,
    behaviour: Box<Behaviour>,
}

#[async_trait]
impl Step for TestStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: Value) -> Result<Outputs, StepError> {
        let _live = self.live.enter();
        if input["hang"] == json!(true) {
            std::future::pending::<()>().await;
        }
        if let Some(ms) = input["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        (self.behaviour)(ctx, input)
    }
}

fn object(value: Value) -> Outputs {
    match value {
        Value::Object(map) => map,
        _ => Outputs::new(),
    }
}

fn registry(live: &Live) -> StepRegistry {
    let mut registry = StepRegistry::new();
    let mut add = |metadata: StepMetadata, behaviour: Box<Behaviour>| {
        registry
            .register(TestStep {
                metadata,
                live: live.clone(),
                behaviour,
            })
            .unwrap();
    };
    let meta = |name: &str| StepMetadata::new::<Value>(name, "a test step");
    // Returns its input.
    add(meta("test.echo"), Box::new(|_, input| Ok(object(input))));
    // Fails retryably until attempt `ok_at`.
    add(
        meta("test.flaky"),
        Box::new(|ctx, input| {
            let ok_at = input["ok_at"].as_u64().unwrap_or(1);
            if u64::from(ctx.attempt()) < ok_at {
                Err(StepError::retryable("connection", "connection reset"))
            } else {
                Ok(object(json!({"attempt": ctx.attempt()})))
            }
        }),
    );
    // Reports `pending` until attempt `done_at`.
    add(
        meta("test.status"),
        Box::new(|ctx, input| {
            let done = u64::from(ctx.attempt()) >= input["done_at"].as_u64().unwrap_or(1);
            Ok(object(json!({
                "status": if done { "done" } else { "pending" },
                "attempt": ctx.attempt(),
            })))
        }),
    );
    // Fails terminally, echoing its input in the message and details.
    add(
        meta("test.fail"),
        Box::new(|_, input| {
            Err(
                StepError::terminal("rejected", format!("the server said no to {input}"))
                    .with_details(input),
            )
        }),
    );
    // Returns an upload link, a credential.
    add(
        meta("test.link").sensitive_output("url", "An upload link."),
        Box::new(|_, _| Ok(object(json!({"url": LINK, "id": "link-1"})))),
    );
    add(
        meta("test.panic"),
        Box::new(|_, _| panic!("the step broke")),
    );
    registry
}

fn runner(workflow: Arc<crate::model::Workflow>, live: &Live) -> Runner {
    Runner::new(workflow, &registry(live)).unwrap()
}

fn millis(value: u64) -> crate::model::ValueTemplate {
    crate::model::ValueTemplate::Literal(json!({ "sleep_ms": value }))
}

fn retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        backoff: Backoff::Exponential,
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
        jitter: Jitter::None,
    }
}

#[tokio::test(start_paused = true)]
async fn independent_branches_run_in_parallel_and_the_result_reports_every_step() {
    let workflow = FlowBuilder::new("diamond")
        .step("a", "test.echo", &[], |step| step.with = millis(1000))
        .step("b", "test.echo", &["a"], |step| step.with = millis(2000))
        .step("c", "test.echo", &["a"], |step| step.with = millis(3000))
        .step("d", "test.echo", &["b", "c"], |step| {
            step.with = with(&[("from_c", text("${{ steps.c.outputs.sleep_ms }}"))]);
        })
        .step("never", "test.echo", &["d"], |step| {
            step.condition = Some(expr("inputs.go"));
        })
        .output("from_d", text("${{ steps.d.outputs.from_c }}"))
        .build();
    let live = Live::default();
    let runner = runner(workflow, &live);
    let begun = Instant::now();
    let (result, events) = runner
        .run_recorded(
            RunRequest::new(json!({"go": false}))
                .run_id("run-7")
                .seed(1),
            Vec::new(),
        )
        .await;
    // a (1s), then b and c together (3s), then d: 4s in all, not 6s.
    assert_eq!(begun.elapsed(), Duration::from_secs(4));
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(
        (result.run_id.as_str(), result.workflow.as_str()),
        ("run-7", "diamond")
    );
    assert_eq!(
        Value::Object(result.outputs.clone()),
        json!({"from_d": 3000})
    );
    let ids: Vec<&str> = result.steps.keys().map(String::as_str).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "never"]);
    let d = &result.steps["d"];
    assert_eq!((d.status, d.attempts), (StepState::Succeeded, 1));
    assert_eq!(Value::Object(d.outputs.clone()), json!({"from_c": 3000}));
    let never = &result.steps["never"];
    assert_eq!(
        (never.status, never.attempts, never.started_at),
        (StepState::Skipped, 0, None)
    );
    // In JSON, times are RFC 3339, offsets of the run's start.
    let json = serde_json::to_value(&result).unwrap();
    let parse = |value: &Value| {
        let text = value.as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let started = parse(&json["started_at"]);
    let millis = |value: &Value| (parse(value) - started).whole_milliseconds();
    assert_eq!(millis(&json["finished_at"]), 4000);
    assert_eq!(millis(&json["steps"]["c"]["started_at"]), 1000);
    assert_eq!(millis(&json["steps"]["c"]["finished_at"]), 4000);
    assert_eq!(json["steps"]["never"]["started_at"], Value::Null);
    let back: RunResult = serde_json::from_value(json).unwrap();
    assert_eq!(back, result);
    // The log replays to the same end.
    let replayed = Machine::replay(Arc::clone(runner.program()), Secrets::new(), &events).unwrap();
    assert_eq!(replayed.outcome().unwrap().status, RunStatus::Succeeded);
    assert_eq!(replayed.step(StepIndex(3)).unwrap().attempts, 1);
    assert_eq!(live.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn attempts_time_out_are_retried_with_backoff_and_fail_in_the_end() {
    let workflow = FlowBuilder::new("slow")
        .step("slow", "test.echo", &[], |step| {
            step.with = millis(10_000);
            step.timeout = Some(Duration::from_secs(1));
            step.retry = retry(3);
        })
        .step("flaky", "test.flaky", &[], |step| {
            step.with = crate::model::ValueTemplate::Literal(json!({"ok_at": 3}));
            step.retry = retry(3);
        })
        .build();
    let live = Live::default();
    let begun = Instant::now();
    let result = runner(workflow, &live)
        .run(RunRequest::new(json!({})))
        .await;
    // Three 1s attempts with 100ms and 200ms between them.
    assert_eq!(begun.elapsed(), Duration::from_millis(3300));
    let slow = &result.steps["slow"];
    assert_eq!((slow.status, slow.attempts), (StepState::Failed, 3));
    let error = slow.error.as_ref().unwrap();
    assert_eq!(error.code, "timeout");
    assert!(error.message.contains("within 1s"), "{}", error.message);
    let flaky = &result.steps["flaky"];
    assert_eq!((flaky.status, flaky.attempts), (StepState::Succeeded, 3));
    assert_eq!(flaky.outputs["attempt"], 3);
    assert!(flaky.error.is_none());
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(live.count(), 0, "timed-out attempts were dropped");
}

#[tokio::test(start_paused = true)]
async fn until_polls_on_the_paused_clock_and_sees_the_attempt() {
    let workflow = FlowBuilder::new("poll")
        .step("wait", "test.status", &[], |step| {
            step.with = crate::model::ValueTemplate::Literal(json!({"done_at": 4}));
            step.gate = Some(gate(
                "outputs.status == 'done' and attempt == 4",
                Duration::from_secs(2),
                2.0,
                Duration::from_secs(5),
                Duration::from_mins(1),
            ));
        })
        .build();
    let live = Live::default();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&progress);
    let begun = Instant::now();
    let result = runner(workflow, &live)
        .run(RunRequest::new(json!({})).observe(move |p: &Progress| {
            seen.lock()
                .unwrap()
                .push((p.state, p.attempt, p.wait, p.elapsed));
        }))
        .await;
    // Waits of 2s, 4s, then 5s (capped).
    assert_eq!(begun.elapsed(), Duration::from_secs(11));
    let wait = &result.steps["wait"];
    assert_eq!((wait.status, wait.attempts), (StepState::Succeeded, 4));
    assert_eq!(wait.outputs["status"], "done");
    let progress = progress.lock().unwrap().clone();
    let secs = Duration::from_secs;
    assert_eq!(
        progress,
        [
            (StepState::Running, 1, None, secs(0)),
            (StepState::Waiting, 1, Some(WaitReason::Poll), secs(0)),
            (StepState::Running, 2, None, secs(2)),
            (StepState::Waiting, 2, Some(WaitReason::Poll), secs(2)),
            (StepState::Running, 3, None, secs(6)),
            (StepState::Waiting, 3, Some(WaitReason::Poll), secs(6)),
            (StepState::Running, 4, None, secs(11)),
            (StepState::Succeeded, 4, None, secs(11)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_holds_on_the_clock() {
    let workflow = FlowBuilder::new("limited")
        .step("a", "test.echo", &[], |step| step.with = millis(1000))
        .step("b", "test.echo", &[], |step| step.with = millis(1000))
        .step("c", "test.echo", &[], |step| step.with = millis(1000))
        .step("d", "test.echo", &[], |step| step.with = millis(1000))
        .build();
    let live = Live::default();
    let runner = runner(workflow, &live);
    let begun = Instant::now();
    let limit = NonZeroU32::new(2).unwrap();
    let result = runner
        .run(RunRequest::new(json!({})).max_concurrency(limit))
        .await;
    assert_eq!(begun.elapsed(), Duration::from_secs(2));
    assert_eq!(result.status, RunStatus::Succeeded);
    let begun = Instant::now();
    runner.run(RunRequest::new(json!({}))).await;
    assert_eq!(begun.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn cancelling_drops_running_steps_runs_cleanup_and_leaves_no_task() {
    let workflow = FlowBuilder::new("cancel")
        .step("hang", "test.echo", &[], |step| {
            step.with = crate::model::ValueTemplate::Literal(json!({"hang": true}));
        })
        .step("other", "test.echo", &[], |step| {
            step.with = crate::model::ValueTemplate::Literal(json!({"hang": true}));
        })
        .step("after", "test.echo", &["hang"], |_| {})
        .step("cleanup", "test.echo", &["hang", "other"], |step| {
            step.condition = Some(expr("cancelled()"));
            step.with = millis(500);
        })
        .build();
    let live = Live::default();
    let token = CancellationToken::new();
    let canceller = {
        let token = token.clone();
        let live = live.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            assert_eq!(live.count(), 2, "both steps hang until cancelled");
            token.cancel();
        })
    };
    let begun = Instant::now();
    let result = runner(workflow, &live)
        .run(RunRequest::new(json!({})).cancel_on(token))
        .await;
    canceller.await.unwrap();
    assert_eq!(begun.elapsed(), Duration::from_millis(5500));
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(result.steps["hang"].status, StepState::Cancelled);
    assert_eq!(result.steps["after"].status, StepState::Cancelled);
    assert_eq!(result.steps["cleanup"].status, StepState::Succeeded);
    assert_eq!(live.count(), 0, "no step future outlives the run");
    let metrics = tokio::runtime::Handle::current().metrics();
    assert_eq!(metrics.num_alive_tasks(), 0, "no task outlives the run");
}

#[tokio::test(start_paused = true)]
async fn a_forced_cancel_and_the_run_timeout_stop_everything() {
    let hang = |step: &mut crate::model::StepPlan| {
        step.with = crate::model::ValueTemplate::Literal(json!({"hang": true}));
    };
    let always = |step: &mut crate::model::StepPlan| {
        step.condition = Some(expr("always()"));
        step.with = crate::model::ValueTemplate::Literal(json!({"hang": true}));
    };
    let live = Live::default();
    let workflow = FlowBuilder::new("stuck")
        .step("hang", "test.echo", &[], hang)
        .step("cleanup", "test.echo", &["hang"], always)
        .timeout(Duration::from_secs(30))
        .build();
    let begun = Instant::now();
    let result = runner(workflow, &live)
        .run(RunRequest::new(json!({})))
        .await;
    assert_eq!(begun.elapsed(), Duration::from_secs(30));
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.error.as_ref().unwrap().code, "run_timeout");
    assert_eq!(result.steps["cleanup"].status, StepState::Cancelled);
    assert_eq!(live.count(), 0);

    let workflow = FlowBuilder::new("stuck")
        .step("hang", "test.echo", &[], hang)
        .step("cleanup", "test.echo", &["hang"], always)
        .build();
    let force = CancellationToken::new();
    force.cancel();
    let result = runner(workflow, &live)
        .run(RunRequest::new(json!({})).force_cancel_on(force))
        .await;
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(result.steps["cleanup"].status, StepState::Cancelled);
    assert_eq!(live.count(), 0);
    assert_eq!(
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_fails_its_attempt_and_the_run_goes_on() {
    let workflow = FlowBuilder::new("panics")
        .step("boom", "test.panic", &[], |step| {
            step.continue_on_error = true;
        })
        .step("after", "test.echo", &["boom"], |_| {})
        .build();
    let result = runner(workflow, &Live::default())
        .run(RunRequest::new(json!({})))
        .await;
    let boom = &result.steps["boom"];
    assert_eq!(boom.status, StepState::Failed);
    let error = boom.error.as_ref().unwrap();
    assert_eq!(error.code, "panic");
    assert!(
        error.message.contains("the step broke"),
        "{}",
        error.message
    );
    assert_eq!(result.steps["after"].status, StepState::Succeeded);
    assert_eq!(result.status, RunStatus::Succeeded);
}

/// A writer for captured logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn secrets_and_sensitive_outputs_are_redacted_from_results_progress_and_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let workflow = FlowBuilder::new("leaky")
        .step("leak", "test.echo", &[], |step| {
            step.with = with(&[
                ("value", text("${{ secrets.token }}")),
                ("note", text("the token is ${{ secrets.token }}!")),
            ]);
        })
        .step("link", "test.link", &[], |_| {})
        .step("echo_link", "test.echo", &["link"], |step| {
            step.with = with(&[("got", text("${{ steps.link.outputs.url }}"))]);
        })
        .step("fail", "test.fail", &["echo_link"], |step| {
            step.with = with(&[
                ("token", text("${{ secrets.token }}")),
                ("url", text("${{ steps.link.outputs.url }}")),
            ]);
            step.continue_on_error = true;
        })
        .output("token", text("${{ secrets.token }}"))
        .output("link", text("${{ steps.link.outputs.url }}"))
        .output("link_id", text("${{ steps.link.outputs.id }}"))
        .build();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&progress);
    let request = RunRequest::new(json!({}))
        .run_id("run-secret")
        .secrets([("token", SECRET)].into_iter().collect())
        .reveal("link")
        .observe(move |p: &Progress| seen.lock().unwrap().push(format!("{p:?}")));
    let (result, events) = runner(workflow, &Live::default())
        .run_recorded(request, Vec::new())
        .await;

    // The later step received the real link (events keep it for replay).
    let log = serde_json::to_string(&events).unwrap();
    assert!(log.contains(LINK), "the link reached `echo_link`");

    let json = serde_json::to_string(&result).unwrap();
    let progress = progress.lock().unwrap().join("\n");
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for (what, text) in [("result", &json), ("progress", &progress), ("logs", &logs)] {
        assert!(!text.contains(SECRET), "a secret in the {what}: {text}");
        assert!(
            !text.contains("xyz-upload-123"),
            "a link in the {what}: {text}"
        );
    }
    assert_eq!(result.outputs["token"], "[redacted]");
    assert_eq!(result.outputs["link"], "[redacted]");
    assert_eq!(result.outputs["link_id"], "link-1");
    // Only what was asked is revealed, and only outside serialization.
    assert_eq!(result.revealed.len(), 1);
    assert!(
        result.revealed["link"]
            .as_str()
            .unwrap()
            .contains("xyz-upload-123")
    );
    assert_eq!(
        result.steps["leak"].outputs["note"],
        "the token is [redacted]!"
    );
    assert_eq!(result.steps["link"].outputs["url"], "[redacted]");
    assert_eq!(result.steps["echo_link"].outputs["got"], "[redacted]");
    let error = result.steps["fail"].error.as_ref().unwrap();
    assert!(error.message.contains("[redacted]"), "{}", error.message);
    assert_eq!(error.details.as_ref().unwrap()["token"], "[redacted]");
    assert!(
        progress.contains("rejected: the server said no"),
        "{progress}"
    );
    // Spans carry the run, the step and the attempt, each field once.
    assert!(
        logs.contains("run{run_id=run-secret workflow=leaky}:attempt{step=fail attempt=1}"),
        "{logs}"
    );
    assert!(logs.contains("step failed"), "{logs}");
}

#[tokio::test(start_paused = true)]
async fn secret_inputs_and_sensitive_run_outputs_are_hidden_at_any_length() {
    // One character: never replaced inside longer text by plain redaction.
    let short = "é";
    let workflow = FlowBuilder::new("short")
        .step("send", "test.echo", &[], |step| {
            step.with = with(&[
                ("auth", text("${{ secrets.k | upper }}")),
                ("note", text("plain")),
            ]);
            step.secret_inputs = vec!["/auth".into()];
        })
        .step("quote", "test.fail", &[], |step| {
            step.with = with(&[("auth", text("x${{ secrets.k }}y"))]);
            step.secret_inputs = vec!["/auth".into()];
            step.continue_on_error = true;
        })
        .step("broken", "test.echo", &[], |step| {
            step.with = with(&[("auth", text("${{ secrets.k + 1 }}"))]);
            step.secret_inputs = vec!["/auth".into()];
            step.continue_on_error = true;
        })
        .sensitive_output("key", text("${{ secrets.k }}"))
        .output("note", text("${{ steps.send.outputs.note }}"))
        .build();
    let request = RunRequest::new(json!({}))
        .secrets([("k", short)].into_iter().collect())
        .reveal("key");
    let result = runner(workflow, &Live::default()).run(request).await;
    let json = serde_json::to_string(&result).unwrap();
    for leaked in [short, "É"] {
        assert!(!json.contains(leaked), "{leaked} in {json}");
    }
    // The value that reached the credential input (upper-cased) is hidden;
    // what the step made without a secret is not.
    assert_eq!(result.steps["send"].outputs["auth"], "[redacted]");
    assert_eq!(result.steps["send"].outputs["note"], "plain");
    // A step that received a secret and quotes it loses the whole text.
    let quote = result.steps["quote"].error.as_ref().unwrap();
    assert_eq!(quote.message, "[redacted]");
    assert_eq!(quote.details.as_ref().unwrap()["auth"], "[redacted]");
    // An expression that reads a secret fails without its message.
    let broken = result.steps["broken"].error.as_ref().unwrap();
    assert_eq!(broken.code, "expression");
    assert!(
        broken
            .message
            .contains("`secrets.k + 1` failed; its message is hidden"),
        "{}",
        broken.message
    );
    assert_eq!(result.outputs["key"], "[redacted]");
    assert_eq!(result.outputs["note"], "plain");
    assert_eq!(result.revealed["key"], short);
}

#[test]
fn an_unregistered_step_type_is_refused() {
    let workflow = FlowBuilder::new("unknown")
        .step("a", "test.nope", &[], |_| {})
        .build();
    let error = Runner::new(workflow, &registry(&Live::default())).unwrap_err();
    assert_eq!(
        error,
        RunnerError::UnknownStepType {
            step: "a".into(),
            uses: "test.nope".into()
        }
    );
}

/// A file through the real validator and the real `core.*` steps.
#[tokio::test(start_paused = true)]
async fn a_validated_workflow_with_core_steps_runs_end_to_end() {
    let yaml = r"
name: core-demo
inputs:
  who:
    type: string
steps:
  greet:
    uses: core.set
    with:
      greeting: hello ${{ inputs.who }}
  pause_a:
    uses: core.sleep
    needs: [greet]
    with:
      duration: 2s
  pause_b:
    uses: core.sleep
    needs: [greet]
    with:
      duration: 3s
  poll:
    uses: core.set
    needs: [pause_a, pause_b]
    with:
      tries: ${{ attempt }}
    until: outputs.tries >= 3
    poll:
      interval: 1s
  skipped:
    uses: core.fail
    needs: [poll]
    if: inputs.who == 'nobody'
    with:
      message: never
  after_skip:
    uses: core.set
    needs: [skipped]
    with:
      x: 1
  stop:
    uses: core.fail
    needs: [poll]
    continue_on_error: true
    with:
      message: the token was rejected
outputs:
  greeting: ${{ steps.greet.outputs.greeting }}
  tries: ${{ steps.poll.outputs.tries }}
  after_skip: ${{ steps.after_skip.status }}
";
    let runner = crate::run::testkit::validated_runner(yaml, &crate::run::testkit::core_registry());
    let begun = Instant::now();
    let result = runner.run(RunRequest::new(json!({"who": "ana"}))).await;
    // The pauses run side by side (3s), then two 1s poll waits.
    assert_eq!(begun.elapsed(), Duration::from_secs(5));
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(
        Value::Object(result.outputs.clone()),
        json!({"greeting": "hello ana", "tries": 3, "after_skip": "skipped"})
    );
    assert_eq!(result.steps["poll"].attempts, 3);
    assert_eq!(result.steps["skipped"].status, StepState::Skipped);
    let stop = &result.steps["stop"];
    assert_eq!(stop.status, StepState::Failed);
    let error = stop.error.as_ref().unwrap();
    assert_eq!(error.code, "failed");
}

/// Records the runs it was asked to trace.
#[derive(Default)]
struct RecordingTracer(Mutex<Vec<String>>);

impl RunTracer for RecordingTracer {
    fn trace_id(&self, run_id: &str) -> Option<String> {
        Some(format!("trace-of-{run_id}"))
    }

    fn attach(&self, run_id: &str, _span: &tracing::Span) {
        self.0.lock().unwrap().push(run_id.to_owned());
    }
}

#[tokio::test(start_paused = true)]
async fn a_tracer_places_the_run_span_and_names_its_trace_in_the_result() {
    let workflow = FlowBuilder::new("one")
        .step("a", "test.echo", &[], |step| step.with = millis(10))
        .build();
    let live = Live::default();
    let runner = runner(workflow, &live);
    let tracer = Arc::new(RecordingTracer::default());
    let result = runner
        .run(
            RunRequest::new(json!({}))
                .run_id("run-8")
                .trace_with(Arc::clone(&tracer) as Arc<dyn RunTracer>),
        )
        .await;
    assert_eq!(result.trace_id.as_deref(), Some("trace-of-run-8"));
    assert_eq!(*tracer.0.lock().unwrap(), ["run-8"]);
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["trace_id"], "trace-of-run-8");
    // Untraced, the result has no `trace_id` at all.
    let untraced = runner.run(RunRequest::new(json!({})).run_id("run-9")).await;
    assert_eq!(untraced.trace_id, None);
    assert!(
        serde_json::to_value(&untraced)
            .unwrap()
            .get("trace_id")
            .is_none()
    );
}
