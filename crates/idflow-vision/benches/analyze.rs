//! Criterion benchmark of `FaceEngine::analyze` on a ~1 MP face photo with
//! one worker: decode, downscale, HOG detection, landmarks and embedding.
//! Needs `scripts/setup`. p50/p95 come from the `latency` bench.

#[path = "support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};

fn analyze_one_megapixel(c: &mut Criterion) {
    let engine = support::one_worker_engine();
    let (jpeg, width, height) = support::one_megapixel_face_jpeg();
    let jpeg = bytes::Bytes::from(jpeg);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");

    let mut group = c.benchmark_group("analyze");
    group.sample_size(30);
    group.bench_function(format!("face_jpeg_{width}x{height}_one_worker"), |bench| {
        bench.iter(|| {
            runtime
                .block_on(engine.analyze(jpeg.clone()))
                .expect("a face is found")
        });
    });
    group.finish();
}

criterion_group!(benches, analyze_one_megapixel);
criterion_main!(benches);
