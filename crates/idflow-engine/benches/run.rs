//! Criterion benches of the run engine, each beside its hand-written tokio
//! baseline: one run of a 1,000-step chain, of a 1,000-step fan-out, and of
//! a five-step workflow. The bench binary (`run_bench.rs`) adds throughput
//! and memory figures and checks the targets.

#[allow(dead_code)] // The binary uses scenarios the criterion bench does not.
mod scenarios;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use scenarios::{Baseline, WIDE, runtime};

fn runs(c: &mut Criterion) {
    let rt = runtime();
    let baseline = Baseline::default();
    let cases = [
        ("chain_1000", scenarios::chain(WIDE)),
        ("fan_out_1000", scenarios::fan_out(WIDE)),
        ("five_steps", scenarios::five_steps()),
    ];
    for (name, workflow) in cases {
        let runner = scenarios::runner(workflow);
        let mut group = c.benchmark_group(name);
        // Both run on a worker thread, as a run started by a server would.
        group.bench_function("engine", |b| {
            b.iter(|| {
                let run = runner.run(scenarios::request());
                black_box(rt.block_on(rt.spawn(run)).ok());
            });
        });
        group.bench_function("baseline", |b| {
            b.iter(|| {
                let baseline = baseline.clone();
                let work = async move {
                    match name {
                        "chain_1000" => baseline.chain(WIDE).await,
                        "fan_out_1000" => baseline.fan_out(WIDE).await,
                        _ => baseline.five_steps().await,
                    }
                };
                black_box(rt.block_on(rt.spawn(work)).ok());
            });
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = runs
}
criterion_main!(benches);
