//! Latency of `FaceEngine::analyze` on a ~1 MP face photo, one worker:
//! runs it 50 times (after 3 warm-up runs) and prints p50/p95 as JSON.
//! Target: p50 under 150 ms on one core (issue 5). Needs `scripts/setup`.
//!
//! `cargo bench -p idflow-vision --bench latency`; for one core:
//! `OPENBLAS_NUM_THREADS=1 taskset -c 0 cargo bench -p idflow-vision --bench latency`.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

const WARM_UP_RUNS: usize = 3;
const RUNS: usize = 50;

fn main() {
    // `cargo bench` passes `--bench`; a test run passes nothing: stay quick then.
    if !std::env::args().any(|argument| argument == "--bench") {
        return;
    }
    let engine = support::one_worker_engine();
    let (jpeg, width, height) = support::one_megapixel_face_jpeg();
    let jpeg = bytes::Bytes::from(jpeg);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");

    let mut samples: Vec<Duration> = Vec::with_capacity(RUNS);
    for run in 0..WARM_UP_RUNS + RUNS {
        let start = Instant::now();
        runtime
            .block_on(engine.analyze(jpeg.clone()))
            .expect("a face is found");
        if run >= WARM_UP_RUNS {
            samples.push(start.elapsed());
        }
    }
    samples.sort();
    let millis = |duration: Duration| (duration.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    let percentile = |p: usize| samples[(samples.len() * p).div_ceil(100).saturating_sub(1)];
    let mean = samples.iter().sum::<Duration>() / u32::try_from(RUNS).expect("few runs");
    let report = serde_json::json!({
        "benchmark": "idflow-vision analyze, one worker",
        "photo": "obama3.jpg resized",
        "width": width,
        "height": height,
        "jpeg_bytes": jpeg.len(),
        "runs": RUNS,
        "p50_ms": millis(percentile(50)),
        "p95_ms": millis(percentile(95)),
        "mean_ms": millis(mean),
        "min_ms": millis(samples[0]),
        "max_ms": millis(samples[RUNS - 1]),
        "openblas_num_threads": std::env::var("OPENBLAS_NUM_THREADS").ok(),
    });
    println!("{report}");
}
