//! Waiting for outside events on a paused clock: `core.await_event` and a
//! woken status gate, through the real validator and the in-memory inbox.

use std::time::Duration;

use idflow_core::StepRegistry;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::MemoryInbox;
use crate::run::testkit::{core_registry, validated_runner};
use crate::run::{Delivery, RunRequest, RunResult, RunStatus, Runner, StepState};

fn runner(yaml: &str) -> Runner {
    validated_runner(yaml, &core_registry())
}

const ONE_WAIT: &str = r"
name: one-wait
steps:
  paid:
    uses: core.await_event
    with:
      key: order:42:paid
      timeout: 1h
  expired:
    uses: core.set
    needs: [paid]
    if: failure()
    with:
      outcome: expired
outputs:
  amount: ${{ steps.paid.outputs.payload.amount }}
  outcome: ${{ steps.expired.outputs.outcome }}
  why: ${{ steps.paid.error_code }}
";

/// Starts a run of `runner` on `inbox` as `run_id`, in a task.
fn start(runner: &Runner, inbox: &MemoryInbox, run_id: &str) -> tokio::task::JoinHandle<RunResult> {
    let request = inbox.attach(RunRequest::new(json!({})).run_id(run_id));
    tokio::spawn(runner.run(request))
}

/// Lets every task run until all wait on the (paused) clock.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_event_sent_while_the_step_waits_wakes_it_at_once() {
    let runner = runner(ONE_WAIT);
    let inbox = MemoryInbox::new();
    let begun = Instant::now();
    let run = start(&runner, &inbox, "run-1");
    settle().await;
    tokio::time::advance(Duration::from_mins(10)).await;
    assert!(
        !run.is_finished(),
        "it waits for the event, not for a timer"
    );
    let delivery = inbox.deliver("order:42:paid", json!({"amount": 12}), None);
    assert_eq!(
        delivery,
        Delivery::Delivered {
            run_id: "run-1".into(),
            step_id: "paid".into()
        }
    );
    let result = run.await.unwrap();
    // Woken at the delivery (10 minutes in), not at the hourly fallback.
    assert_eq!(begun.elapsed(), Duration::from_mins(10));
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.outputs["amount"], json!(12));
    assert_eq!(result.outputs["why"], Value::Null);
    assert_eq!(result.steps["paid"].attempts, 2);
    assert_eq!(result.steps["expired"].status, StepState::Skipped);
}

#[tokio::test(start_paused = true)]
async fn an_event_sent_before_the_wait_is_kept_and_received_at_once() {
    let runner = runner(ONE_WAIT);
    let inbox = MemoryInbox::new();
    assert_eq!(
        inbox.deliver("order:42:paid", json!({"amount": 7}), Some("pay-1")),
        Delivery::Kept
    );
    let begun = Instant::now();
    let result = start(&runner, &inbox, "run-1").await.unwrap();
    assert_eq!(begun.elapsed(), Duration::ZERO);
    assert_eq!(result.outputs["amount"], json!(7));
    assert_eq!(result.steps["paid"].attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_repeated_idempotency_key_is_ignored() {
    let inbox = MemoryInbox::new();
    assert_eq!(inbox.deliver("k", json!(1), Some("same")), Delivery::Kept);
    assert_eq!(
        inbox.deliver("k", json!(2), Some("same")),
        Delivery::Duplicate
    );
    let result = start(
        &runner(&ONE_WAIT.replace("order:42:paid", "k")),
        &inbox,
        "r",
    )
    .await
    .unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    let again = start(
        &runner(&ONE_WAIT.replace("order:42:paid", "k")),
        &inbox,
        "r2",
    );
    settle().await;
    tokio::time::advance(Duration::from_hours(1)).await;
    let second = again.await.unwrap();
    assert_eq!(
        second.outputs["outcome"],
        json!("expired"),
        "the duplicate was not kept for a second wait"
    );
}

#[tokio::test(start_paused = true)]
async fn two_waits_on_one_key_take_one_event_each_the_oldest_first() {
    let runner = runner(ONE_WAIT);
    let inbox = MemoryInbox::new();
    let first = start(&runner, &inbox, "first");
    settle().await;
    let second = start(&runner, &inbox, "second");
    settle().await;
    let delivery = inbox.deliver("order:42:paid", json!({"amount": 1}), None);
    assert!(matches!(&delivery, Delivery::Delivered { run_id, .. } if run_id == "first"));
    let first = first.await.unwrap();
    assert_eq!(first.outputs["amount"], json!(1));
    settle().await;
    assert!(!second.is_finished(), "the other wait keeps waiting");
    inbox.deliver("order:42:paid", json!({"amount": 2}), None);
    assert_eq!(second.await.unwrap().outputs["amount"], json!(2));
}

#[tokio::test(start_paused = true)]
async fn nobody_sends_the_event_the_step_fails_with_event_timeout_at_its_own_deadline() {
    let runner = runner(&ONE_WAIT.replace("timeout: 1h", "timeout: 90s"));
    let inbox = MemoryInbox::new();
    let begun = Instant::now();
    let result = start(&runner, &inbox, "run-1").await.unwrap();
    assert_eq!(begun.elapsed(), Duration::from_secs(90));
    let paid = &result.steps["paid"];
    assert_eq!(paid.status, StepState::Failed);
    let error = paid.error.as_ref().unwrap();
    assert_eq!(error.code, "event_timeout");
    assert!(!error.is_retryable());
    assert_eq!(error.message, "no event arrived within 90s");
    assert_eq!(result.outputs["outcome"], json!("expired"));
    assert_eq!(result.outputs["why"], json!("event_timeout"));
}

#[tokio::test(start_paused = true)]
async fn the_timeout_can_come_from_an_expression_and_an_unreadable_one_fails_the_step() {
    let yaml = r"
name: timed
inputs:
  wait:
    type: string
steps:
  paid:
    uses: core.await_event
    with:
      key: k
      timeout: ${{ inputs.wait }}
";
    let runner = runner(yaml);
    let inbox = MemoryInbox::new();
    let begun = Instant::now();
    let request = inbox.attach(RunRequest::new(json!({"wait": "5s"})));
    let result = runner.run(request).await;
    assert_eq!(begun.elapsed(), Duration::from_secs(5));
    assert_eq!(
        result.steps["paid"].error.as_ref().unwrap().code,
        "event_timeout"
    );
    let request = inbox.attach(RunRequest::new(json!({"wait": "soon"})));
    let result = runner.run(request).await;
    let error = result.steps["paid"].error.clone().unwrap();
    assert_eq!(error.code, "invalid_input");
    assert!(error.message.starts_with("`timeout` is not a duration"));
}

#[tokio::test(start_paused = true)]
async fn without_an_inbox_the_step_fails_with_no_inbox() {
    let result = runner(ONE_WAIT).run(RunRequest::new(Value::Null)).await;
    assert_eq!(
        result.steps["paid"].error.as_ref().unwrap().code,
        "no_inbox"
    );
}

/// A gate that registers its wait, then takes a while to look.
struct SlowGate {
    metadata: idflow_core::StepMetadata,
}

#[async_trait::async_trait]
impl idflow_core::Step for SlowGate {
    fn metadata(&self) -> &idflow_core::StepMetadata {
        &self.metadata
    }

    async fn run(
        &self,
        ctx: &idflow_core::StepContext,
        _input: Value,
    ) -> Result<idflow_core::Outputs, idflow_core::StepError> {
        let received = ctx.receive_event("test.slow_gate", "done").await?.is_some();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut outputs = idflow_core::Outputs::new();
        outputs.insert("received".into(), received.into());
        Ok(outputs)
    }
}

#[tokio::test(start_paused = true)]
async fn a_step_woken_while_its_attempt_runs_polls_again_as_soon_as_it_ends() {
    #[derive(schemars::JsonSchema)]
    struct NoInput {}
    let mut registry = StepRegistry::new();
    registry
        .register(SlowGate {
            metadata: idflow_core::StepMetadata::new::<NoInput>("test.slow_gate", "A slow gate.")
                .output("received", "Whether the event came.")
                .with_default_gate(
                    "outputs.received",
                    idflow_core::PollDefaults {
                        interval: Duration::from_hours(1),
                        backoff_factor: 1.0,
                        max_interval: Duration::from_hours(1),
                        timeout: Duration::from_hours(24),
                    },
                ),
        })
        .unwrap();
    let yaml = "name: slow\nsteps:\n  gate:\n    uses: test.slow_gate\n";
    let runner = validated_runner(yaml, &registry);
    let inbox = MemoryInbox::new();
    let begun = Instant::now();
    let run = start(&runner, &inbox, "run-1");
    settle().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    // The first attempt registered the wait and is still looking.
    assert!(matches!(
        inbox.deliver("done", Value::Null, None),
        Delivery::Delivered { .. }
    ));
    let result = run.await.unwrap();
    // Attempt 1 ends at 5s without it; attempt 2 starts at once, not in
    // an hour, and has it.
    assert_eq!(begun.elapsed(), Duration::from_secs(10));
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.steps["gate"].attempts, 2);
}
