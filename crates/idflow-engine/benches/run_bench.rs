//! The run benchmarks as one binary with a report:
//! `cargo bench -p idflow-engine --bench run_bench [-- --json]`.
//!
//! Each figure is measured beside a hand-written tokio baseline that does
//! the same no-op work (a task per step running the no-op step), and the
//! ratio is reported:
//! - a chain of 1,000 no-op steps: engine overhead per step (target ≤ 2 µs);
//! - a fan-out of 1,000 steps joined by one;
//! - 10,000 concurrent runs of a five-step workflow: runs per second
//!   (target ≥ 50,000) and peak memory per run;
//! - 100,000 runs parked in a poll wait: memory per parked run (target
//!   ≤ 4 KB).
//!
//! Every scenario runs in a fresh child process (this binary with
//! `--only NAME`), so that memory figures (resident set size from
//! `/proc/self/status`) are not flattered by memory an earlier scenario
//! left to the allocator. Times are medians; runs use a multi-threaded
//! tokio runtime with one worker per core.
//!
//! Run as a test (`cargo test --all-targets`, which does not pass
//! `--bench`), it only checks that every scenario works, at tiny sizes;
//! asked to `--list` its tests (nextest), it has none.

mod scenarios;

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use idflow_engine::model::Workflow;
use idflow_engine::run::{RunStatus, Runner};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use scenarios::{Baseline, Parked, runtime};

const TARGET_OVERHEAD_US: f64 = 2.0;
const TARGET_RUNS_PER_S: f64 = 50_000.0;
const TARGET_PARKED_KB: f64 = 4.0;

/// How big the scenarios are.
#[derive(Clone, Copy)]
struct Sizes {
    /// Steps in the chain and the fan-out.
    wide: u32,
    /// Concurrent runs in the throughput scenarios.
    runs: u32,
    /// Runs parked at once.
    parked: u32,
    /// Timed rounds (after a few to warm up).
    rounds: u32,
}

const FULL: Sizes = Sizes {
    wide: scenarios::WIDE,
    runs: 10_000,
    parked: 100_000,
    rounds: 30,
};

const SMOKE: Sizes = Sizes {
    wide: 20,
    runs: 50,
    parked: 50,
    rounds: 1,
};

const SCENARIOS: [&str; 9] = [
    "chain",
    "fan_out",
    "runs",
    "runs_expressions",
    "runs_memory_engine",
    "runs_memory_baseline",
    "parked_engine",
    "parked_baseline",
    "sizes",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|arg| arg == flag);
    if has("--list") {
        return;
    }
    let only = args
        .iter()
        .position(|arg| arg == "--only")
        .and_then(|at| args.get(at + 1));
    if let Some(name) = only {
        println!("{}", measure(name, FULL));
        return;
    }
    if !has("--bench") {
        for name in SCENARIOS {
            let figures = measure(name, SMOKE);
            assert!(figures.is_object(), "{name}: {figures}");
        }
        println!("run_bench: {} scenarios work (smoke run)", SCENARIOS.len());
        return;
    }
    let figures: Vec<(&str, Value)> = SCENARIOS
        .into_iter()
        .map(|name| (name, child(name)))
        .collect();
    let report = report(&figures);
    if has("--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_table(&report);
    }
}

/// Runs one scenario in a child process and reads its JSON line.
fn child(name: &str) -> Value {
    let output = std::env::current_exe()
        .and_then(|exe| Command::new(exe).args(["--only", name]).output())
        .unwrap_or_else(|error| panic!("could not run scenario {name}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scenario {name} failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("scenario {name} printed no figures: {stdout}"))
}

/// Measures one scenario in this process.
fn measure(name: &str, sizes: Sizes) -> Value {
    let rt = runtime();
    let wide = sizes.wide;
    match name {
        "chain" => rt.block_on(per_step(
            scenarios::chain(wide),
            wide,
            sizes,
            move |baseline| async move { baseline.chain(wide).await },
        )),
        "fan_out" => rt.block_on(per_step(
            scenarios::fan_out(wide),
            wide + 1,
            sizes,
            move |baseline| async move { baseline.fan_out(wide).await },
        )),
        "runs" => rt.block_on(throughput(scenarios::five_steps(), sizes, true)),
        "runs_expressions" => rt.block_on(throughput(
            scenarios::five_steps_with_expressions(),
            sizes,
            false,
        )),
        "runs_memory_engine" => rt.block_on(async {
            let runner = scenarios::runner(scenarios::five_steps());
            peak_memory(sizes.runs, || engine_runs(&runner, sizes.runs)).await
        }),
        "runs_memory_baseline" => rt.block_on(async {
            let baseline = Baseline::default();
            peak_memory(sizes.runs, || baseline_runs(&baseline, sizes.runs)).await
        }),
        "sizes" => {
            let runner = scenarios::runner(scenarios::parked());
            let run = runner.run(scenarios::request());
            json!({
                "run_future_bytes": std::mem::size_of_val(&run),
                "machine_bytes": std::mem::size_of::<idflow_engine::run::Machine>(),
            })
        }
        "parked_engine" => rt.block_on(parked_engine(sizes.parked)),
        "parked_baseline" => rt.block_on(parked_baseline(sizes.parked)),
        other => panic!("no scenario `{other}`"),
    }
}

/// Rounds to run before timing.
fn warm_up(sizes: Sizes) -> u32 {
    sizes.rounds / 6
}

/// Times one run of `workflow` against `baseline`, interleaved: median
/// microseconds of each, per step too.
async fn per_step<F, Fut>(workflow: Arc<Workflow>, steps: u32, sizes: Sizes, baseline: F) -> Value
where
    F: Fn(Baseline) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runner = scenarios::runner(workflow);
    let base = Baseline::default();
    let (mut engine, mut hand) = (Vec::new(), Vec::new());
    for round in 0..warm_up(sizes) + sizes.rounds {
        // Both run on a worker thread, as a run started by a server would.
        let began = Instant::now();
        let status = tokio::spawn(runner.run(scenarios::request())).await;
        let engine_time = began.elapsed();
        assert_eq!(
            status.ok().map(|result| result.status),
            Some(RunStatus::Succeeded)
        );
        let began = Instant::now();
        let _ = tokio::spawn(baseline(base.clone())).await;
        let hand_time = began.elapsed();
        if round >= warm_up(sizes) {
            engine.push(engine_time);
            hand.push(hand_time);
        }
    }
    let (engine, hand) = (median(&mut engine), median(&mut hand));
    let per = |time: Duration| micros(time) / f64::from(steps);
    json!({
        "engine_us": micros(engine),
        "baseline_us": micros(hand),
        "ratio": ratio(engine, hand),
        "engine_per_step_us": per(engine),
        "baseline_per_step_us": per(hand),
        "overhead_per_step_us": per(engine) - per(hand),
    })
}

/// Runs `count` runs of `runner` at once.
async fn engine_runs(runner: &Runner, count: u32) {
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        tasks.spawn(runner.run(scenarios::request()));
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(
            result.ok().map(|result| result.status),
            Some(RunStatus::Succeeded)
        );
    }
}

async fn baseline_runs(baseline: &Baseline, count: u32) {
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        let baseline = baseline.clone();
        tasks.spawn(async move { baseline.five_steps().await });
    }
    while tasks.join_next().await.is_some() {}
}

/// Runs per second with `sizes.runs` runs at once (median of rounds),
/// engine and baseline interleaved.
async fn throughput(workflow: Arc<Workflow>, sizes: Sizes, with_baseline: bool) -> Value {
    let runner = scenarios::runner(workflow);
    let base = Baseline::default();
    let rounds = sizes.rounds / 3 + 1;
    let (mut engine, mut hand) = (Vec::new(), Vec::new());
    for round in 0..warm_up(sizes) + rounds {
        let began = Instant::now();
        engine_runs(&runner, sizes.runs).await;
        let engine_time = began.elapsed();
        let began = Instant::now();
        if with_baseline {
            baseline_runs(&base, sizes.runs).await;
        }
        let hand_time = began.elapsed();
        if round >= warm_up(sizes) {
            engine.push(engine_time);
            hand.push(hand_time);
        }
    }
    let count = f64::from(sizes.runs);
    let (engine, hand) = (median(&mut engine), median(&mut hand));
    let mut figures = json!({
        "engine_runs_per_s": count / engine.as_secs_f64(),
        "engine_us_per_run": micros(engine) / count,
    });
    if with_baseline {
        figures["baseline_runs_per_s"] = json!(count / hand.as_secs_f64());
        figures["baseline_us_per_run"] = json!(micros(hand) / count);
        figures["ratio"] = json!(ratio(engine, hand));
    }
    figures
}

/// Peak resident memory that `work` adds, per run.
async fn peak_memory<F, Fut>(runs: u32, work: F) -> Value
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    reset_peak_rss();
    let before = rss_kb("VmRSS");
    let began = Instant::now();
    work().await;
    let elapsed = began.elapsed();
    let peak = rss_kb("VmHWM");
    json!({
        "peak_kb_per_run": (peak - before) / f64::from(runs),
        "seconds": elapsed.as_secs_f64(),
    })
}

/// `count` runs reach their poll wait; resident memory per parked run.
async fn parked_engine(count: u32) -> Value {
    let runner = scenarios::runner(scenarios::parked());
    let parked = Parked::expecting(count);
    let stop = CancellationToken::new();
    let before = rss_kb("VmRSS");
    let began = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        let request = scenarios::request()
            .observe(parked.observer())
            .force_cancel_on(stop.clone());
        tasks.spawn(runner.run(request));
    }
    parked.all_parked().await;
    let park_time = began.elapsed();
    let after = rss_kb("VmRSS");
    stop.cancel();
    while let Some(result) = tasks.join_next().await {
        assert_eq!(
            result.ok().map(|result| result.status),
            Some(RunStatus::Cancelled)
        );
    }
    json!({
        "kb_per_parked_run": (after - before) / f64::from(count),
        "seconds_to_park": park_time.as_secs_f64(),
    })
}

async fn parked_baseline(count: u32) -> Value {
    let baseline = Baseline::default();
    let parked = Parked::expecting(count);
    let before = rss_kb("VmRSS");
    let began = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        let (baseline, parked) = (baseline.clone(), Arc::clone(&parked));
        tasks.spawn(async move { baseline.parked(&parked).await });
    }
    parked.all_parked().await;
    let park_time = began.elapsed();
    let after = rss_kb("VmRSS");
    tasks.shutdown().await;
    json!({
        "kb_per_parked_run": (after - before) / f64::from(count),
        "seconds_to_park": park_time.as_secs_f64(),
    })
}

/// The figures of every scenario, with targets and ratios.
fn report(figures: &[(&str, Value)]) -> Value {
    let get = |name: &str| {
        figures
            .iter()
            .find(|(scenario, _)| *scenario == name)
            .map_or(Value::Null, |(_, value)| value.clone())
    };
    let number = |value: &Value, key: &str| value[key].as_f64().unwrap_or(f64::NAN);
    let chain = get("chain");
    let fan_out = get("fan_out");
    let runs = get("runs");
    let (runs_engine, runs_baseline) = (get("runs_memory_engine"), get("runs_memory_baseline"));
    let (parked_engine, parked_baseline) = (get("parked_engine"), get("parked_baseline"));
    let overhead = number(&chain, "overhead_per_step_us");
    let runs_per_s = number(&runs, "engine_runs_per_s");
    let parked_kb = number(&parked_engine, "kb_per_parked_run");
    json!({
        "machine": {
            "cores": std::thread::available_parallelism().map_or(0, usize::from),
            "runtime": "tokio multi-thread, one worker per core",
        },
        "chain_1000": {
            "figures": chain,
            "target": format!("overhead per step <= {TARGET_OVERHEAD_US} us"),
            "met": overhead <= TARGET_OVERHEAD_US,
        },
        "fan_out_1000": { "figures": fan_out },
        "runs_10000_five_steps": {
            "figures": runs,
            "peak_memory": {
                "engine_kb_per_run": number(&runs_engine, "peak_kb_per_run"),
                "baseline_kb_per_run": number(&runs_baseline, "peak_kb_per_run"),
                "ratio": number(&runs_engine, "peak_kb_per_run") / number(&runs_baseline, "peak_kb_per_run"),
            },
            "target": format!("at least {TARGET_RUNS_PER_S} runs per second"),
            "met": runs_per_s >= TARGET_RUNS_PER_S,
        },
        "runs_10000_five_steps_with_expressions": { "figures": get("runs_expressions") },
        "parked_100000": {
            "engine": parked_engine,
            "baseline": parked_baseline,
            "ratio": parked_kb / number(&parked_baseline, "kb_per_parked_run"),
            "target": format!("at most {TARGET_PARKED_KB} KB per parked run"),
            "met": parked_kb <= TARGET_PARKED_KB,
            "sizes": get("sizes"),
        },
    })
}

fn print_table(report: &Value) {
    let chain = &report["chain_1000"];
    let figures = &chain["figures"];
    println!("chain of 1,000 no-op steps ({})", verdict(chain));
    println!(
        "  engine {} us/run ({} us/step), baseline {} us/run ({} us/step), ratio {}, overhead {} us/step",
        num(&figures["engine_us"]),
        num(&figures["engine_per_step_us"]),
        num(&figures["baseline_us"]),
        num(&figures["baseline_per_step_us"]),
        num(&figures["ratio"]),
        num(&figures["overhead_per_step_us"])
    );
    let figures = &report["fan_out_1000"]["figures"];
    println!("fan-out of 1,000 steps joined by one");
    println!(
        "  engine {} us/run ({} us/step), baseline {} us/run, ratio {}, overhead {} us/step",
        num(&figures["engine_us"]),
        num(&figures["engine_per_step_us"]),
        num(&figures["baseline_us"]),
        num(&figures["ratio"]),
        num(&figures["overhead_per_step_us"])
    );
    let runs = &report["runs_10000_five_steps"];
    let (figures, memory) = (&runs["figures"], &runs["peak_memory"]);
    println!("10,000 concurrent five-step runs ({})", verdict(runs));
    println!(
        "  engine {} runs/s, baseline {} runs/s, ratio {}; peak memory {} KB/run (baseline {} KB, ratio {})",
        num(&figures["engine_runs_per_s"]),
        num(&figures["baseline_runs_per_s"]),
        num(&figures["ratio"]),
        num(&memory["engine_kb_per_run"]),
        num(&memory["baseline_kb_per_run"]),
        num(&memory["ratio"])
    );
    let figures = &report["runs_10000_five_steps_with_expressions"]["figures"];
    println!(
        "  with expressions in every step: {} runs/s",
        num(&figures["engine_runs_per_s"])
    );
    let parked = &report["parked_100000"];
    println!("100,000 runs parked in a poll wait ({})", verdict(parked));
    println!(
        "  engine {} KB/run (parked in {} s), baseline {} KB/run, ratio {}",
        num(&parked["engine"]["kb_per_parked_run"]),
        num(&parked["engine"]["seconds_to_park"]),
        num(&parked["baseline"]["kb_per_parked_run"]),
        num(&parked["ratio"])
    );
    let sizes = &parked["sizes"];
    println!(
        "  a run's future is {} bytes, its machine {} bytes (plus its steps' state on the heap)",
        sizes["run_future_bytes"], sizes["machine_bytes"]
    );
}

/// A figure with two decimals.
fn num(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_owned(), |number| format!("{number:.2}"))
}

/// `target: met` or `target: NOT MET`.
fn verdict(scenario: &Value) -> String {
    let met = if scenario["met"].as_bool() == Some(true) {
        "met"
    } else {
        "NOT MET"
    };
    format!("{}: {met}", scenario["target"].as_str().unwrap_or(""))
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn micros(time: Duration) -> f64 {
    time.as_secs_f64() * 1e6
}

fn ratio(engine: Duration, baseline: Duration) -> f64 {
    engine.as_secs_f64() / baseline.as_secs_f64()
}

/// A `/proc/self/status` figure (`VmRSS`, `VmHWM`), in KB.
fn rss_kb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .unwrap_or(f64::NAN)
}

/// Makes `VmHWM` start again from the current resident size.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
