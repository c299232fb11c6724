//! Durable runs on SQLite, beside the in-memory engine in the same run:
//!
//! - 5-step no-op runs per second: in memory, durable with
//!   `synchronous=NORMAL` (the default) and with `FULL`;
//! - bytes on disk per event;
//! - 100,000 runs parked on a one-hour poll: whole-process RSS, and the
//!   time a restarted process takes until every one is scheduled again;
//! - 100,000 runs parked waiting for an outside event (`core.await_event`):
//!   whole-process RSS, then the latency from `Executor::deliver_event` to
//!   the woken run's end, for 1,000 of them one after another.
//!
//! `cargo bench -p idflow-store --bench durable` (release). Set
//! `IDFLOW_BENCH_RUNS` / `IDFLOW_BENCH_PARKED` / `IDFLOW_BENCH_WAITING` to
//! change the counts.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "a bench binary: figures are printed, counts are small"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, StepRegistry};
use idflow_engine::expr::ExprEngine;
use idflow_engine::model::Workflow;
use idflow_engine::run::{
    Executor, ExecutorOptions, RunFilter, RunPhase, RunRequest, RunStore, Runner,
};
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_store::{DATABASE_FILE, Durability, KeySeal, SqliteStore};
use serde_json::json;
use sqlx::ConnectOptions as _;

/// `bench.noop`: does nothing.
struct Noop(StepMetadata);

#[async_trait]
impl Step for Noop {
    fn metadata(&self) -> &StepMetadata {
        &self.0
    }
    async fn run(
        &self,
        _ctx: &StepContext,
        _input: serde_json::Value,
    ) -> Result<Outputs, StepError> {
        Ok(Outputs::new())
    }
}

/// `bench.status`: outputs `{status: pending}` (a poll that never ends).
struct Pending(StepMetadata);

#[async_trait]
impl Step for Pending {
    fn metadata(&self) -> &StepMetadata {
        &self.0
    }
    async fn run(
        &self,
        _ctx: &StepContext,
        _input: serde_json::Value,
    ) -> Result<Outputs, StepError> {
        let mut outputs = Outputs::new();
        outputs.insert("status".into(), json!("pending"));
        Ok(outputs)
    }
}

fn registry() -> Arc<StepRegistry> {
    let mut registry = StepRegistry::new();
    let noop = StepMetadata::new::<serde_json::Value>("bench.noop", "Nothing.").repeatable();
    registry.register(Noop(noop)).unwrap();
    let pending = StepMetadata::new::<serde_json::Value>("bench.status", "Pending.")
        .repeatable()
        .output("status", "Always pending.");
    registry.register(Pending(pending)).unwrap();
    registry
        .register(idflow_steps::AwaitEventStep::new())
        .unwrap();
    Arc::new(registry)
}

const CHAIN: &str = "name: chain\nsteps:\n  a: {uses: bench.noop}\n  b: {uses: bench.noop, needs: [a]}\n  c: {uses: bench.noop, needs: [b]}\n  d: {uses: bench.noop, needs: [c]}\n  e: {uses: bench.noop, needs: [d]}\n";

const AWAITING: &str = "name: awaiting\ninputs:\n  n: {type: number}\nsteps:\n  paid:\n    uses: core.await_event\n    with: {key: 'bench:${{ inputs.n }}', timeout: 720h}\n";

const PARKED: &str = "name: parked\nsteps:\n  wait:\n    uses: bench.status\n    until: ${{ outputs.status != 'pending' }}\n    poll: {interval: 1h, timeout: 720h}\n";

fn workflow(registry: &StepRegistry, text: &str) -> (Arc<Workflow>, Arc<SourceFile>) {
    let file = SourceFile::new("bench.yaml", text);
    let validated = validate(Arc::clone(&file), registry, &ExprEngine::new());
    let Some(workflow) = validated.workflow else {
        panic!(
            "the bench's workflow is invalid: {:?}",
            validated.diagnostics
        );
    };
    (Arc::new(workflow), file)
}

fn executor(store: Arc<SqliteStore>, registry: &Arc<StepRegistry>, owner: &str) -> Executor {
    Executor::new(
        store as Arc<dyn RunStore>,
        Arc::clone(registry),
        Arc::new(KeySeal::new([1; 32])),
        Arc::new(|_: &str| None),
        owner,
        ExecutorOptions::default(),
    )
}

fn count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn in_memory(registry: &Arc<StepRegistry>, runs: usize) -> f64 {
    let (workflow, _) = workflow(registry, CHAIN);
    let runner = Runner::new(workflow, registry).unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|_| tokio::spawn(runner.run(RunRequest::new(json!({})))))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    runs as f64 / started.elapsed().as_secs_f64()
}

/// Durable runs/s, and bytes on disk per event.
async fn durable(registry: &Arc<StepRegistry>, runs: usize, durability: Durability) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path(), durability).await.unwrap());
    let executor = executor(Arc::clone(&store), registry, "bench:1:a");
    let (workflow, file) = workflow(registry, CHAIN);
    let started = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|_| {
            let executor = executor.clone();
            let workflow = Arc::clone(&workflow);
            let file = Arc::clone(&file);
            tokio::spawn(async move {
                executor
                    .run(workflow, &file, RunRequest::new(json!({})))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().status,
            idflow_engine::run::RunStatus::Succeeded
        );
    }
    let per_second = runs as f64 / started.elapsed().as_secs_f64();
    drop(executor);
    store.close().await;
    drop(store);
    let path = dir.path().join(DATABASE_FILE);
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut connection)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    drop(connection);
    let bytes = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(dir.path().join(format!("{DATABASE_FILE}-wal"))).map_or(0, |m| m.len());
    (per_second, bytes as f64 / events as f64)
}

/// RSS with every run parked, and the time a new process takes to have
/// them scheduled again.
async fn parked(registry: &Arc<StepRegistry>, runs: usize) -> (f64, f64, f64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let before = rss_mb();
    {
        let store = Arc::new(
            SqliteStore::open(dir.path(), Durability::Normal)
                .await
                .unwrap(),
        );
        let executor = executor(Arc::clone(&store), registry, "bench:1:parker");
        let (_, worker, stop) =
            park_all(&store, &executor, registry, PARKED, runs, |_| json!({})).await;
        let parked_rss = rss_mb();
        stop.cancel();
        worker.await.unwrap().unwrap();
        store.close().await;
        let after = rss_mb();
        // A restarted process: open the store, find when work is next due,
        // claim what is due now (nothing: every run waits for its hour).
        let restart = Instant::now();
        let store = Arc::new(
            SqliteStore::open(dir.path(), Durability::Normal)
                .await
                .unwrap(),
        );
        let next = store.next_due().await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        let claimed = store
            .claim_due("bench:2:b", now, now + Duration::from_secs(30), 256)
            .await
            .unwrap();
        let scheduled = restart.elapsed();
        assert!(claimed.is_empty() && next.is_some());
        assert_eq!(store.unfinished().await.unwrap() as usize, runs);
        (before, parked_rss, after, scheduled)
    }
}

/// Submits `runs` runs of `text` (inputs from `inputs(i)`) and lets a
/// worker take them until every one is parked; returns their ids, the
/// running worker and its stop token.
async fn park_all(
    store: &Arc<SqliteStore>,
    executor: &Executor,
    registry: &Arc<StepRegistry>,
    text: &str,
    runs: usize,
    inputs: impl Fn(usize) -> serde_json::Value,
) -> (
    Vec<String>,
    tokio::task::JoinHandle<Result<(), idflow_engine::run::ExecError>>,
    tokio_util::sync::CancellationToken,
) {
    let (workflow, file) = workflow(registry, text);
    let mut submitted = Vec::with_capacity(runs);
    for chunk in (0..runs).collect::<Vec<_>>().chunks(1000) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let executor = executor.clone();
                let workflow = Arc::clone(&workflow);
                let file = Arc::clone(&file);
                let request = RunRequest::new(inputs(i));
                tokio::spawn(
                    async move { executor.submit(workflow, &file, request).await.unwrap() },
                )
            })
            .collect();
        for task in tasks {
            submitted.push(task.await.unwrap());
        }
    }
    // The worker takes them all, runs each once, and parks them.
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let executor = executor.clone();
        let stop = stop.clone();
        async move { executor.work(stop, false).await }
    });
    // (Polling here is the measurement's own, not the engine's.)
    loop {
        let mut busy = false;
        for phase in [RunPhase::Pending, RunPhase::Running] {
            let filter = RunFilter {
                phase: Some(phase),
                limit: Some(1),
                ..RunFilter::default()
            };
            busy |= !store.list_runs(&filter).await.unwrap().is_empty();
        }
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (submitted, worker, stop)
}

/// RSS with every run parked on an event, and the latencies (ms, sorted)
/// from delivering an event to its run's end.
async fn awaiting(
    registry: &Arc<StepRegistry>,
    runs: usize,
    deliveries: usize,
) -> (f64, f64, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let before = rss_mb();
    let store = Arc::new(
        SqliteStore::open(dir.path(), Durability::Normal)
            .await
            .unwrap(),
    );
    let executor = executor(Arc::clone(&store), registry, "bench:1:waiter");
    let (ids, worker, stop) = park_all(
        &store,
        &executor,
        registry,
        AWAITING,
        runs,
        |i| json!({"n": i}),
    )
    .await;
    let waiting_rss = rss_mb();
    let mut latencies = Vec::with_capacity(deliveries);
    for (n, run_id) in ids.iter().enumerate().take(deliveries) {
        let sent = time::OffsetDateTime::now_utc();
        let delivery = executor
            .deliver_event(&format!("bench:{n}"), &json!({"n": n}), None)
            .await
            .unwrap();
        assert!(matches!(
            delivery,
            idflow_engine::run::Delivery::Delivered { .. }
        ));
        // (The measurement's own polling: finished_at is the run's end.)
        let finished = loop {
            let record = store.run(run_id).await.unwrap().unwrap();
            if let Some(finished) = record.finished_at {
                assert_eq!(record.phase, RunPhase::Succeeded);
                break finished;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        latencies.push(((finished - sent).as_seconds_f64() * 1000.0).max(0.0));
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
    latencies.sort_by(f64::total_cmp);
    (before, waiting_rss, latencies)
}

/// The `per_mille`/1000 quantile of sorted values.
fn percentile(sorted: &[f64], per_mille: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = (sorted.len() - 1) * per_mille / 1000;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let registry = registry();
    let runs = count("IDFLOW_BENCH_RUNS", 10_000);
    let parked_runs = count("IDFLOW_BENCH_PARKED", 100_000);
    let waiting_runs = count("IDFLOW_BENCH_WAITING", 100_000);
    runtime.block_on(async {
        // Warm up.
        in_memory(&registry, 1000).await;
        durable(&registry, 500, Durability::Normal).await;

        let memory = in_memory(&registry, runs).await;
        let (normal, bytes_normal) = durable(&registry, runs, Durability::Normal).await;
        let (full, _) = durable(&registry, runs, Durability::Full).await;
        println!("5-step no-op runs, {runs} at once:");
        println!("  in memory:                 {memory:>9.0} runs/s");
        println!("  durable, synchronous=NORMAL {normal:>8.0} runs/s  ({:.3}x in memory; goal >= 5000)", normal / memory);
        println!("  durable, synchronous=FULL   {full:>8.0} runs/s  ({:.3}x in memory)", full / memory);
        println!("  bytes on disk per event:   {bytes_normal:>9.0}  (goal <= 200)");
        let (before, parked_rss, after, scheduled) = parked(&registry, parked_runs).await;
        println!("{parked_runs} runs parked on a one-hour poll:");
        println!("  process RSS: {before:.0} MB before, {parked_rss:.0} MB with them all parked (goal <= 100 MB), {after:.0} MB after the worker stopped");
        println!("  a restarted process has them all scheduled in {:.1} ms (goal <= 2 s)", scheduled.as_secs_f64() * 1000.0);
        let deliveries = waiting_runs.min(1000);
        let (before, waiting_rss, latencies) = awaiting(&registry, waiting_runs, deliveries).await;
        println!("{waiting_runs} runs parked waiting for an event (core.await_event):");
        println!("  process RSS: {before:.0} MB before, {waiting_rss:.0} MB with them all waiting (goal <= 100 MB)");
        println!(
            "  deliver_event -> run finished, {deliveries} one after another: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 <= 50 ms)",
            percentile(&latencies, 500),
            percentile(&latencies, 990),
            latencies.last().copied().unwrap_or(0.0)
        );
    });
}
