//! Durable runs end to end on the SQLite store: the engine's executor with
//! real steps, crashes simulated by dropping a run's future or by a store
//! that stops writing after N events, and resumption by another executor.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, StepRegistry};
use idflow_engine::expr::ExprEngine;
use idflow_engine::run::{
    Append, BoundEvent, Definition, Delivery, DueSummary, Executor, ExecutorOptions, NewEvent,
    NewRun, Release, RunFilter, RunPhase, RunRecord, RunRequest, RunStatus, RunStore, StoreError,
};
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_store::{DATABASE_FILE, Durability, KeySeal, SqliteStore};
use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;

/// Completed executions per (run, step, call): the world outside the run,
/// which survives the run's crashes.
type Ledger = Arc<Mutex<HashMap<(String, String, u32), u32>>>;

/// `test.step`: its first call fails (retryable) on its first
/// `fail_times` attempts; with `terminal` it always fails terminally;
/// otherwise it outputs `{call, value, token}` (`token` is sensitive).
/// Every completed execution is counted in the ledger (the world outside).
/// Waits for `gate` to open first when asked (to crash a run while the
/// attempt is in flight).
struct TestStep {
    metadata: StepMetadata,
    ledger: Ledger,
    gate: Arc<tokio::sync::Semaphore>,
}

#[derive(serde::Deserialize)]
struct TestInput {
    #[serde(default)]
    fail_times: u32,
    #[serde(default)]
    terminal: bool,
    #[serde(default)]
    value: serde_json::Value,
    #[serde(default)]
    wait_for_gate: bool,
    /// A credential the step "sends" (it is never shown).
    #[serde(default)]
    #[allow(dead_code, reason = "received like a credential, never used")]
    auth: Option<String>,
}

#[async_trait]
impl Step for TestStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: TestInput = serde_json::from_value(input)
            .map_err(|error| StepError::terminal("input", error.to_string()))?;
        if input.wait_for_gate {
            let _permit = self.gate.acquire().await;
        }
        let key = (
            ctx.run_id().to_owned(),
            ctx.step_id().to_owned(),
            ctx.call(),
        );
        *self.ledger.lock().unwrap().entry(key).or_insert(0) += 1;
        if input.terminal {
            return Err(StepError::terminal("broken", "it always breaks"));
        }
        if ctx.call() == 1 && ctx.attempt() <= input.fail_times {
            return Err(StepError::retryable(
                "flaky",
                format!("attempt {}", ctx.attempt()),
            ));
        }
        let mut outputs = Outputs::new();
        outputs.insert("call".into(), json!(ctx.call()));
        outputs.insert("value".into(), input.value);
        outputs.insert(
            "token".into(),
            json!(format!("tok-{}-{}", ctx.step_id(), "s3cr3t-t0ken")),
        );
        Ok(outputs)
    }
}

struct World {
    ledger: Ledger,
    gate: Arc<tokio::sync::Semaphore>,
    registry: Arc<StepRegistry>,
}

impl World {
    fn new() -> Self {
        let ledger = Ledger::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let mut registry = StepRegistry::new();
        idflow_steps::register(&mut registry).unwrap();
        let metadata = StepMetadata::new::<serde_json::Value>("test.step", "A test step.")
            .repeatable()
            .output("call", "The call.")
            .output("value", "The value.")
            .sensitive_output("token", "A credential.")
            .credential_input("auth");
        registry
            .register(TestStep {
                metadata,
                ledger: Arc::clone(&ledger),
                gate: Arc::clone(&gate),
            })
            .unwrap();
        Self {
            ledger,
            gate,
            registry: Arc::new(registry),
        }
    }

    fn executor(
        &self,
        store: Arc<dyn RunStore>,
        owner: &str,
        options: ExecutorOptions,
    ) -> Executor {
        let secrets = |name: &str| (name == "api_key").then(|| "sk-live-123456".to_owned());
        Executor::new(
            store,
            Arc::clone(&self.registry),
            Arc::new(KeySeal::new([42; 32])),
            Arc::new(secrets),
            owner,
            options,
        )
    }

    fn workflow(&self, yaml: &str) -> (Arc<idflow_engine::model::Workflow>, Arc<SourceFile>) {
        let file = SourceFile::new("flow.yaml", yaml);
        let validated = validate(Arc::clone(&file), &self.registry, &ExprEngine::new());
        assert!(!validated.has_errors(), "{:?}", validated.diagnostics);
        (Arc::new(validated.workflow.unwrap()), file)
    }
}

fn quick() -> ExecutorOptions {
    ExecutorOptions {
        lease: Duration::from_secs(30),
        park_after: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        claim_batch: 64,
        stop_grace: Duration::from_secs(5),
        ..ExecutorOptions::default()
    }
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    Arc::new(
        SqliteStore::open(dir.path(), Durability::Normal)
            .await
            .unwrap(),
    )
}

const FLOW: &str = r"
name: flow
secrets: [api_key]
steps:
  first:
    uses: test.step
    with: {value: 1, fail_times: 1}
    retry: {attempts: 3, backoff: fixed, initial: 10ms}
  second:
    uses: test.step
    needs: [first]
    with: {value: '${{ steps.first.outputs.value + 1 }}', wait_for_gate: true}
  third:
    uses: test.step
    needs: [second]
    with: {auth: '${{ secrets.api_key }}', value: '${{ steps.second.outputs.value }}'}
outputs:
  n: ${{ steps.third.outputs.value }}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_attempt_goes_on_in_another_process_and_seals_its_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let world = World::new();
    let (workflow, file) = world.workflow(FLOW);

    // The first process: runs until `second` is in flight, then dies.
    let first = world.executor(store.clone(), "host:1:dead", quick());
    let run = first.run(
        Arc::clone(&workflow),
        &file,
        RunRequest::new(json!({})).run_id("run-crash"),
    );
    let died = tokio::time::timeout(Duration::from_millis(500), run).await;
    assert!(died.is_err(), "the run waits at the gate");
    drop(first);
    let record = store.run("run-crash").await.unwrap().unwrap();
    assert_eq!(record.phase, RunPhase::Running);

    // Another process takes over once the dead owner's lease is ended.
    let second = world.executor(store.clone(), "host:2:alive", quick());
    assert_eq!(
        second
            .reclaim(|owner| owner == "host:1:dead")
            .await
            .unwrap(),
        1
    );
    world.gate.add_permits(10);
    let result = second.resume("run-crash").await.unwrap().expect("claimed");
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.outputs["n"], json!(2));
    // `first` failed once and was retried; `second` was interrupted before
    // it ended and, being repeatable, its attempt started again (no
    // failure counted, the same attempt and call).
    assert_eq!(result.steps["first"].attempts, 2);
    assert_eq!(result.steps["second"].attempts, 1);
    let ledger = world.ledger.lock().unwrap().clone();
    assert_eq!(
        ledger[&("run-crash".into(), "second".into(), 1)],
        1,
        "{ledger:?}"
    );

    let record = store.run("run-crash").await.unwrap().unwrap();
    assert_eq!(record.phase, RunPhase::Succeeded);
    let stored: serde_json::Value =
        serde_json::from_str(record.result.as_deref().unwrap()).unwrap();
    assert_eq!(stored["steps"]["second"]["outputs"]["token"], "[redacted]");
    assert!(!record.result.unwrap().contains("sk-live-123456"));

    // Neither the secret nor the sensitive output is anywhere in the file.
    store.close().await;
    let mut raw = std::fs::read(dir.path().join(DATABASE_FILE)).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join(format!("{DATABASE_FILE}-wal"))) {
        raw.extend(wal);
    }
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|window| window == needle);
    assert!(
        !contains(b"s3cr3t-t0ken"),
        "a sensitive output is stored in clear"
    );
    assert!(!contains(b"sk-live-123456"), "a secret is stored");
    assert!(contains(b"$sealed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_run_holds_nothing_and_goes_on_when_its_timer_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let world = World::new();
    let (workflow, file) = world.workflow(
        r"
name: parks
steps:
  poll:
    uses: test.step
    with: {value: '${{ attempt }}'}
    until: ${{ attempt >= 2 }}
    poll: {interval: 600ms, timeout: 1m}
  after:
    uses: core.set
    needs: [poll]
    with: {attempts: '${{ steps.poll.outputs.value }}'}
",
    );
    let executor = world.executor(store.clone(), "host:1:w", quick());
    let run_id = executor
        .submit(workflow, &file, RunRequest::new(json!({})))
        .await
        .unwrap();
    let record = store.run(&run_id).await.unwrap().unwrap();
    assert_eq!(
        (record.phase, record.lease_owner),
        (RunPhase::Pending, None)
    );

    // The worker loop takes it, runs the first poll, and parks it: the run
    // is left to its row (waiting, held by nobody, due at its timer)...
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let executor = executor.clone();
        let stop = stop.clone();
        async move { executor.work(stop, true).await }
    });
    let parked = loop {
        let record = store.run(&run_id).await.unwrap().unwrap();
        if record.phase == RunPhase::Waiting {
            break record;
        }
        assert!(!record.phase.is_finished(), "it parks before it ends");
        tokio::task::yield_now().await;
    };
    assert_eq!(parked.lease_owner, None);
    let due = parked.due_at.expect("due at its timer");
    assert!(
        due > parked.created_at + Duration::from_millis(500),
        "{due} vs {}",
        parked.created_at
    );
    // ...and the worker claims it again when it is due, until it ends.
    worker.await.unwrap().unwrap();
    let record = store.run(&run_id).await.unwrap().unwrap();
    assert_eq!(record.phase, RunPhase::Succeeded);
    let result: serde_json::Value = serde_json::from_str(&record.result.unwrap()).unwrap();
    assert_eq!(result["steps"]["poll"]["attempts"], 2);
    assert_eq!(result["steps"]["after"]["outputs"]["attempts"], 2);
    assert_eq!(store.unfinished().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_resumed_without_its_secret_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let world = World::new();
    let (workflow, file) = world.workflow(FLOW);
    let first = world.executor(store.clone(), "host:1:dead", quick());
    let run = first.run(
        workflow,
        &file,
        RunRequest::new(json!({})).run_id("run-secret"),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), run)
            .await
            .is_err()
    );
    drop(first);
    let forgetful = Executor::new(
        store.clone() as Arc<dyn RunStore>,
        Arc::clone(&world.registry),
        Arc::new(KeySeal::new([42; 32])),
        Arc::new(|_: &str| None),
        "host:2:w",
        quick(),
    );
    forgetful
        .reclaim(|owner| owner.starts_with("host:1"))
        .await
        .unwrap();
    let result = forgetful.resume("run-secret").await.unwrap().unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    let error = result.error.unwrap();
    assert_eq!(error.code, "secret_missing");
    assert!(error.message.contains("api_key"), "{}", error.message);
    let record = store.run("run-secret").await.unwrap().unwrap();
    assert_eq!(record.phase, RunPhase::Failed);
}

/// A store that stops writing (like a killed process) once it has taken
/// `budget` more events, until revived.
struct Crashing {
    inner: Arc<SqliteStore>,
    budget: AtomicI64,
}

impl Crashing {
    fn dead() -> StoreError {
        StoreError::Database("the process died".into())
    }

    fn spend(&self, events: usize) -> Result<(), StoreError> {
        let events = i64::try_from(events).unwrap();
        if self.budget.fetch_sub(events, Ordering::SeqCst) < events {
            self.budget.store(-1, Ordering::SeqCst);
            return Err(Self::dead());
        }
        Ok(())
    }

    fn alive(&self) -> Result<(), StoreError> {
        if self.budget.load(Ordering::SeqCst) < 0 {
            return Err(Self::dead());
        }
        Ok(())
    }
}

#[async_trait]
impl RunStore for Crashing {
    async fn put_definition(&self, definition: &Definition) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.put_definition(definition).await
    }
    async fn definition(&self, hash: &str) -> Result<Definition, StoreError> {
        self.inner.definition(hash).await
    }
    async fn create_run(&self, run: NewRun) -> Result<(), StoreError> {
        self.spend(run.events.len())?;
        self.inner.create_run(run).await
    }
    async fn append(&self, append: Append) -> Result<(), StoreError> {
        self.spend(append.events.len())?;
        self.inner.append(append).await
    }
    async fn events(&self, run_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.events(run_id).await
    }
    async fn release(
        &self,
        run_id: &str,
        owner: &str,
        next_seq: u64,
        release: Release,
    ) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.release(run_id, owner, next_seq, release).await
    }
    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.alive()?;
        self.inner.claim_due(owner, now, lease_until, limit).await
    }
    async fn claim(
        &self,
        run_id: &str,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<RunRecord>, StoreError> {
        self.alive()?;
        self.inner.claim(run_id, owner, now, lease_until).await
    }
    async fn heartbeat(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        self.alive()?;
        self.inner.heartbeat(owner, lease_until).await
    }
    async fn lease_owners(&self) -> Result<Vec<String>, StoreError> {
        self.inner.lease_owners().await
    }
    async fn expire_leases(&self, owner: &str) -> Result<u64, StoreError> {
        self.inner.expire_leases(owner).await
    }
    async fn release_all(&self, owner: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        self.alive()?;
        self.inner.release_all(owner, now).await
    }
    async fn request_cancel(
        &self,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<RunRecord, StoreError> {
        self.inner.request_cancel(run_id, now).await
    }
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.inner.run(run_id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.list_runs(filter).await
    }
    async fn next_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        self.inner.next_due().await
    }
    async fn unfinished(&self) -> Result<u64, StoreError> {
        self.inner.unfinished().await
    }
    async fn due_summary(&self, now: OffsetDateTime) -> Result<DueSummary, StoreError> {
        self.inner.due_summary(now).await
    }
    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.inner.prune(before).await
    }
    async fn deliver_event(&self, event: NewEvent) -> Result<Delivery, StoreError> {
        self.alive()?;
        self.inner.deliver_event(event).await
    }
    async fn receive_event(
        &self,
        run_id: &str,
        step_id: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<BoundEvent>, StoreError> {
        self.alive()?;
        self.inner.receive_event(run_id, step_id, key, now).await
    }
    async fn take_wakes(&self, run_id: &str) -> Result<Vec<String>, StoreError> {
        self.alive()?;
        self.inner.take_wakes(run_id).await
    }
    async fn woken_runs(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        self.inner.woken_runs(owner).await
    }
}

/// A random workflow: up to six `test.step`s, each needing some earlier
/// ones, with random failures (retried or not), terminal errors, polls
/// and conditions; a final output collects every value.
fn arb_workflow() -> impl Strategy<Value = String> {
    let step = (
        0_u32..3,                   // fail_times
        any::<bool>(),              // retried
        prop::bool::weighted(0.15), // terminal
        0_u32..3,                   // polls until this call
        prop::bool::weighted(0.2),  // if: failure()
        any::<u8>(),                // needs (bit mask of earlier steps)
    );
    prop::collection::vec(step, 1..6).prop_map(|steps| {
        let mut yaml = String::from("name: random\nsteps:\n");
        for (i, (fail_times, retried, terminal, polls, on_failure, mask)) in steps.iter().enumerate() {
            yaml.push_str(&format!("  s{i}:\n    uses: test.step\n"));
            let needs: Vec<String> = (0..i).filter(|j| mask & (1 << j) != 0).map(|j| format!("s{j}")).collect();
            if !needs.is_empty() {
                yaml.push_str(&format!("    needs: [{}]\n", needs.join(", ")));
            }
            yaml.push_str(&format!(
                "    with: {{value: {i}, fail_times: {fail_times}, terminal: {terminal}}}\n"
            ));
            if *retried {
                yaml.push_str("    retry: {attempts: 3, backoff: fixed, initial: 1ms}\n");
            }
            if *polls > 0 {
                yaml.push_str(&format!(
                    "    until: ${{{{ outputs.call >= {} }}}}\n    poll: {{interval: 1ms, timeout: 1m}}\n",
                    polls + 1
                ));
            }
            if *on_failure {
                yaml.push_str("    if: ${{ failure() }}\n");
            }
        }
        yaml
    })
}

/// What must be the same with and without crashes.
fn ending(result: &idflow_engine::run::RunResult) -> serde_json::Value {
    let steps: serde_json::Map<_, _> = result
        .steps
        .iter()
        .map(|(id, step)| {
            (
                id.clone(),
                json!({"status": step.status, "outputs": step.outputs, "error": step.error.as_ref().map(|e| &e.code)}),
            )
        })
        .collect();
    json!({"status": result.status, "outputs": result.outputs, "steps": steps})
}

async fn crash_and_resume(yaml: &str, crash_after: i64) -> (serde_json::Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite(&dir).await;
    let world = World::new();
    let (workflow, file) = world.workflow(yaml);
    let crashing = Arc::new(Crashing {
        inner: Arc::clone(&sqlite),
        budget: AtomicI64::new(crash_after),
    });
    let options = ExecutorOptions {
        park_after: Duration::from_hours(1),
        ..quick()
    };
    let first = world.executor(crashing.clone(), "host:1:a", options);
    let run_id = "run-p";
    let uninterrupted = first
        .run(workflow, &file, RunRequest::new(json!({})).run_id(run_id))
        .await;
    drop(first);
    if let Ok(result) = uninterrupted {
        return (ending(&result), 0);
    }
    let Some(_) = sqlite.run(run_id).await.unwrap() else {
        // It died before its first event was written: it never existed.
        return (json!(null), 1);
    };
    let second = world.executor(sqlite.clone(), "host:2:b", options);
    second.reclaim(|owner| owner == "host:1:a").await.unwrap();
    let result = second.resume(run_id).await.unwrap().expect("claimed");
    (ending(&result), 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random workflows and outcomes, a crash after every event index: the
    /// resumed run ends exactly as the uninterrupted one.
    #[test]
    fn a_crash_after_any_event_changes_nothing(yaml in arb_workflow()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let (expected, _) = crash_and_resume(&yaml, i64::MAX).await;
            let mut crash_after = 0;
            loop {
                let (ended, crashed) = crash_and_resume(&yaml, crash_after).await;
                if crashed == 0 {
                    break;
                }
                if ended != json!(null) {
                    prop_assert_eq!(&ended, &expected, "crash after {} events of\n{}", crash_after, yaml);
                }
                crash_after += 1;
            }
            Ok(())
        })?;
    }
}
