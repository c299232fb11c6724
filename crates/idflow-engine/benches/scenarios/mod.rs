//! The run benchmarks' workloads, shared by the criterion bench
//! (`run.rs`) and the bench binary (`run_bench.rs`): workflows written as
//! YAML and validated like any file, the no-op step types they use, and the
//! hand-written tokio baselines that do the same no-op work without the
//! engine.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, StepRegistry};
use idflow_engine::expr::ExprEngine;
use idflow_engine::model::Workflow;
use idflow_engine::run::{Progress, RunRequest, Runner, StepState};
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Steps in the chain and in the fan-out.
pub(crate) const WIDE: u32 = 1_000;

/// Does nothing (`bench.noop`), or reports a pending status
/// (`bench.pending`), or returns its input (`bench.echo`).
pub(crate) struct BenchStep {
    metadata: StepMetadata,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Noop,
    Pending,
    Echo,
}

#[async_trait]
impl Step for BenchStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(
        &self,
        _ctx: &StepContext,
        input: serde_json::Value,
    ) -> Result<Outputs, StepError> {
        Ok(match self.kind {
            Kind::Noop => Outputs::new(),
            Kind::Pending => {
                let mut outputs = Outputs::new();
                outputs.insert("status".into(), "pending".into());
                outputs
            }
            Kind::Echo => match input {
                serde_json::Value::Object(map) => map,
                _ => Outputs::new(),
            },
        })
    }
}

/// The registry with the bench step types.
/// A multi-threaded runtime on every core, as the benchmarks measure.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, usize::from))
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

pub(crate) fn registry() -> StepRegistry {
    let mut registry = StepRegistry::new();
    for (name, kind) in [
        ("bench.noop", Kind::Noop),
        ("bench.pending", Kind::Pending),
        ("bench.echo", Kind::Echo),
    ] {
        let metadata = StepMetadata::new::<serde_json::Value>(name, "A benchmark step.")
            .with_dynamic_outputs();
        registry
            .register(BenchStep { metadata, kind })
            .expect("bench step types register");
    }
    registry
}

/// Validates a workflow written in YAML.
pub(crate) fn load(name: &str, yaml: &str) -> Arc<Workflow> {
    let validated = validate(SourceFile::new(name, yaml), &registry(), &ExprEngine::new());
    let problems: Vec<String> = validated
        .diagnostics
        .iter()
        .map(|diagnostic| format!("{diagnostic:?}"))
        .collect();
    Arc::new(
        validated
            .workflow
            .unwrap_or_else(|| panic!("bench workflow `{name}` is invalid: {problems:#?}")),
    )
}

/// A runner of a workflow with the bench step types.
pub(crate) fn runner(workflow: Arc<Workflow>) -> Runner {
    Runner::new(workflow, &registry()).expect("bench step types are registered")
}

/// `n` no-op steps, each needing the one before.
pub(crate) fn chain(n: u32) -> Arc<Workflow> {
    let mut yaml = String::from("name: chain\nsteps:\n  s0:\n    uses: bench.noop\n");
    for i in 1..n {
        let _ = write!(
            yaml,
            "  s{i}:\n    uses: bench.noop\n    needs: [s{}]\n",
            i - 1
        );
    }
    load("chain.yaml", &yaml)
}

/// `n` independent no-op steps, then one that needs them all.
pub(crate) fn fan_out(n: u32) -> Arc<Workflow> {
    let mut yaml = String::from("name: fan-out\nsteps:\n");
    let mut needs = Vec::new();
    for i in 0..n {
        let _ = write!(yaml, "  s{i}:\n    uses: bench.noop\n");
        needs.push(format!("s{i}"));
    }
    let _ = write!(
        yaml,
        "  join:\n    uses: bench.noop\n    needs: [{}]\n",
        needs.join(", ")
    );
    load("fan-out.yaml", &yaml)
}

/// Five no-op steps: `fetch`, then `check_a` and `check_b` together, then
/// `decide`, then `notify`.
pub(crate) fn five_steps() -> Arc<Workflow> {
    load(
        "five.yaml",
        "name: five
steps:
  fetch:
    uses: bench.noop
  check_a:
    uses: bench.noop
    needs: [fetch]
  check_b:
    uses: bench.noop
    needs: [fetch]
  decide:
    uses: bench.noop
    needs: [check_a, check_b]
  notify:
    uses: bench.noop
    needs: [decide]
",
    )
}

/// The same five steps, passing values along with expressions (for
/// information: what expressions cost).
pub(crate) fn five_steps_with_expressions() -> Arc<Workflow> {
    load(
        "five-expr.yaml",
        "name: five-expr
inputs:
  who:
    type: string
steps:
  fetch:
    uses: bench.echo
    with:
      who: ${{ inputs.who }}
  check_a:
    uses: bench.echo
    needs: [fetch]
    with:
      ok: ${{ steps.fetch.outputs.who == 'ana' }}
  check_b:
    uses: bench.echo
    needs: [fetch]
    if: inputs.who != ''
    with:
      ok: true
  decide:
    uses: bench.echo
    needs: [check_a, check_b]
    with:
      verdict: \"${{ steps.check_a.outputs.ok and steps.check_b.outputs.ok }}\"
  notify:
    uses: bench.echo
    needs: [decide]
    with:
      message: \"verdict for ${{ inputs.who }}: ${{ steps.decide.outputs.verdict }}\"
outputs:
  verdict: ${{ steps.decide.outputs.verdict }}
",
    )
}

/// One step that reports `pending` and polls again in an hour.
pub(crate) fn parked() -> Arc<Workflow> {
    load(
        "parked.yaml",
        "name: parked
steps:
  wait:
    uses: bench.pending
    until: outputs.status == 'done'
    poll:
      interval: 1h
      timeout: 2h
",
    )
}

/// The no-op step the baselines run, with a context shared by all its
/// attempts (the engine builds one per attempt: that is part of its cost).
#[derive(Clone)]
pub(crate) struct Baseline {
    step: Arc<dyn Step>,
    pending: Arc<dyn Step>,
    ctx: Arc<StepContext>,
}

impl Default for Baseline {
    fn default() -> Self {
        let registry = registry();
        Self {
            step: Arc::clone(registry.get("bench.noop").expect("registered")),
            pending: Arc::clone(registry.get("bench.pending").expect("registered")),
            ctx: Arc::new(StepContext::new("baseline", "step", 1)),
        }
    }
}

impl Baseline {
    /// Runs the no-op step in a task of its own and waits for it.
    async fn one(&self) {
        let (step, ctx) = (Arc::clone(&self.step), Arc::clone(&self.ctx));
        let outputs = tokio::spawn(async move { step.run(&ctx, serde_json::Value::Null).await })
            .await
            .expect("the no-op task ends");
        std::hint::black_box(outputs.ok());
    }

    /// `n` no-op steps one after the other, each in its own task.
    pub(crate) async fn chain(&self, n: u32) {
        for _ in 0..n {
            self.one().await;
        }
    }

    /// `n` no-op tasks at once, then one more.
    pub(crate) async fn fan_out(&self, n: u32) {
        let mut tasks = JoinSet::new();
        for _ in 0..n {
            let this = self.clone();
            tasks.spawn(async move { this.one().await });
        }
        while tasks.join_next().await.is_some() {}
        self.one().await;
    }

    /// One, then two at once, then one, then one.
    pub(crate) async fn five_steps(&self) {
        self.one().await;
        tokio::join!(self.one(), self.one());
        self.one().await;
        self.one().await;
    }

    /// Runs the pending step once, then waits for the next poll.
    pub(crate) async fn parked(&self, parked: &Parked) {
        let outputs = self.pending.run(&self.ctx, serde_json::Value::Null).await;
        let done = outputs.is_ok_and(|outputs| outputs.get("status").is_some_and(|s| s == "done"));
        if !done {
            parked.arrive();
            tokio::time::sleep(Duration::from_hours(1)).await;
        }
    }
}

/// Counts runs that reached their poll wait, and wakes whoever waits for
/// all of them.
#[derive(Default)]
pub(crate) struct Parked {
    count: AtomicUsize,
    all: Notify,
    expected: AtomicUsize,
}

impl Parked {
    /// Expects `n` runs to park.
    pub(crate) fn expecting(n: u32) -> Arc<Self> {
        let parked = Arc::new(Self::default());
        parked
            .expected
            .store(usize::try_from(n).unwrap_or(usize::MAX), Ordering::SeqCst);
        parked
    }

    /// One more run is parked.
    pub(crate) fn arrive(&self) {
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.expected.load(Ordering::SeqCst) {
            self.all.notify_one();
        }
    }

    /// Waits until every run has parked.
    pub(crate) async fn all_parked(&self) {
        while self.count.load(Ordering::SeqCst) < self.expected.load(Ordering::SeqCst) {
            self.all.notified().await;
        }
    }

    /// An observer that counts runs whose step starts waiting.
    pub(crate) fn observer(self: &Arc<Self>) -> impl Fn(&Progress) + Send + Sync + 'static {
        let parked = Arc::clone(self);
        move |progress: &Progress| {
            if progress.state == StepState::Waiting {
                parked.arrive();
            }
        }
    }
}

/// A request with no inputs and a fixed seed.
pub(crate) fn request() -> RunRequest {
    RunRequest::new(serde_json::json!({})).seed(7)
}
