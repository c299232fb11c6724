//! Runs started through the API, start to finish, beside the same runs
//! submitted to the executor directly, in one run:
//!
//! - a 5-step workflow of `core.set` steps, on SQLite (`synchronous=NORMAL`);
//! - `api`: `POST /api/v1/runs` on loopback from 32 keep-alive clients,
//!   each waiting for its answer before the next start; runs per second
//!   from the first start to the last run finished, and the start
//!   request's latency (p50, p99);
//! - `direct`: `Executor::submit` from 32 tasks, the same way.
//!
//! `cargo bench -p idflow-server --bench api` (release). `IDFLOW_BENCH_RUNS`
//! sets the count (default 5,000).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    reason = "a bench binary: figures are printed, counts are small"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use idflow_core::StepRegistry;
use idflow_engine::run::{Executor, ExecutorOptions, RunRequest, RunStore};
use idflow_server::{Catalog, Changes, ServerParts, ServerState, WatchedStore, tokens};
use idflow_store::{Durability, KeySeal, SqliteStore};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const CHAIN: &str = "name: chain\nsteps:\n  a: {uses: core.set, with: {n: 1}}\n  b: {uses: core.set, needs: [a], with: {n: 2}}\n  c: {uses: core.set, needs: [b], with: {n: 3}}\n  d: {uses: core.set, needs: [c], with: {n: 4}}\n  e: {uses: core.set, needs: [d], with: {n: 5}}\n";

const CLIENTS: usize = 32;

struct Bench {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    executor: Executor,
    state: ServerState,
    stop: CancellationToken,
}

async fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).unwrap();
    std::fs::write(workflows.join("chain.yaml"), CHAIN).unwrap();
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).unwrap();
    let registry = Arc::new(registry);
    let store = Arc::new(
        SqliteStore::open(dir.path(), Durability::Normal)
            .await
            .unwrap(),
    );
    let changes = Changes::new();
    let watched = Arc::new(WatchedStore::new(
        Arc::clone(&store) as Arc<dyn RunStore>,
        changes.clone(),
    ));
    let executor = Executor::new(
        watched,
        Arc::clone(&registry),
        Arc::new(KeySeal::new([3; 32])),
        Arc::new(|_: &str| None::<String>),
        "bench:1:a",
        ExecutorOptions::default(),
    );
    let stop = CancellationToken::new();
    tokio::spawn({
        let executor = executor.clone();
        let stop = stop.clone();
        async move { executor.work(stop, false).await }
    });
    let state = ServerState::new(ServerParts {
        executor: executor.clone(),
        api_store: Arc::clone(&store) as Arc<dyn idflow_store::ApiStore>,
        catalog: Catalog::load(&workflows, registry).unwrap(),
        changes,
        secrets: Arc::new(|_: &str| None::<String>),
        uploads: dir.path().join("uploads"),
        metrics: None,
        hook_secrets: Vec::new(),
    });
    Bench {
        _dir: dir,
        store,
        executor,
        state,
        stop,
    }
}

/// Waits until no run is unfinished.
async fn all_finished(store: &SqliteStore) {
    while store.unfinished().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn direct(runs: usize) -> f64 {
    let bench = bench().await;
    let entry = bench.state.catalog().get("chain").unwrap();
    let workflow = entry.workflow.clone().unwrap();
    let started = Instant::now();
    let per_client = runs / CLIENTS;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let executor = bench.executor.clone();
            let workflow = Arc::clone(&workflow);
            let file = Arc::clone(&entry.file);
            tokio::spawn(async move {
                for _ in 0..per_client {
                    executor
                        .submit(Arc::clone(&workflow), &file, RunRequest::new(json!({})))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    all_finished(&bench.store).await;
    let rate = (per_client * CLIENTS) as f64 / started.elapsed().as_secs_f64();
    bench.stop.cancel();
    rate
}

async fn api(runs: usize) -> (f64, Duration, Duration) {
    let bench = bench().await;
    let token = tokens::create(&*bench.store, "bench").await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v1/runs", listener.local_addr().unwrap());
    let router = idflow_server::router(bench.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();
    let per_client = runs / CLIENTS;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let http = http.clone();
            let url = url.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let sent = Instant::now();
                    let response = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"workflow": "chain"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                    response.bytes().await.unwrap();
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(runs);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    all_finished(&bench.store).await;
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |percent: usize| latencies[(latencies.len() - 1) * percent / 100];
    bench.stop.cancel();
    (rate, at(50), at(99))
}

fn main() {
    let runs: usize = std::env::var("IDFLOW_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Warm up both paths once (page cache, allocator, connections).
        direct(CLIENTS * 10).await;
        api(CLIENTS * 10).await;
        let direct = direct(runs).await;
        let (api, p50, p99) = api(runs).await;
        println!("5-step runs start to finish, SQLite NORMAL, {runs} runs, {CLIENTS} clients:");
        println!("  direct (Executor::submit):  {direct:>8.0} runs/s");
        println!(
            "  api (POST /api/v1/runs):    {api:>8.0} runs/s ({:.2}x direct)",
            api / direct
        );
        println!(
            "  start request latency:      p50 {:.2} ms, p99 {:.2} ms",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    });
}
