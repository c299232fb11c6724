//! Load + validate a generated 10,000-step workflow (target: under 100 ms
//! in release on the 2-core reference machine).
//!
//! The workflow is a realistic shape, not a bare chain: layers of ten
//! parallel steps, each step needing two steps of the layer before and
//! reading one of their outputs in an expression, with some conditions,
//! retries and status gates.

use std::fmt::Write as _;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use idflow_core::StepRegistry;
use idflow_engine::expr::ExprEngine;
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;

const STEPS: usize = 10_000;
const WIDTH: usize = 10;

fn generate(steps: usize) -> String {
    let mut text = String::from("name: generated\ninputs:\n  who:\n    type: string\nsteps:\n");
    for i in 0..steps {
        let _ = writeln!(text, "  s{i}:\n    uses: core.set");
        if i >= WIDTH {
            let a = i - WIDTH;
            let b = i - WIDTH + (i + 1) % WIDTH - i % WIDTH + WIDTH - 1;
            let b = b.min(i - 1).max(i - WIDTH);
            let _ = writeln!(text, "    needs: [s{a}, s{b}]");
            let _ = writeln!(
                text,
                "    with:\n      value: ${{{{ steps.s{a}.outputs.value }}}}\n      who: \"hi ${{{{ inputs.who }}}}\""
            );
        } else {
            let _ = writeln!(text, "    with:\n      value: {i}");
        }
        if i % 7 == 0 {
            let _ = writeln!(text, "    if: inputs.who != 'nobody'");
        }
        if i % 11 == 0 {
            let _ = writeln!(text, "    retry:\n      attempts: 3\n      initial: 100ms");
        }
        if i % 13 == 0 {
            let _ = writeln!(
                text,
                "    until: outputs.value != 0\n    poll:\n      interval: 1s"
            );
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).expect("core steps register");
    let engine = ExprEngine::new();
    let text = generate(STEPS);
    let file = SourceFile::new("generated.yaml", text);
    // The workflow must be valid, or the benchmark measures error paths.
    let validated = validate(Arc::clone(&file), &registry, &engine);
    assert!(
        validated.workflow.is_some(),
        "generated workflow is invalid: {:?}",
        validated.diagnostics.first()
    );
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    // A fresh expression engine each time: a cold cache of compiled
    // expressions, as one `idflow validate` process has.
    group.bench_function("load_and_validate_10000_steps", |b| {
        b.iter(|| validate(Arc::clone(&file), &registry, &ExprEngine::new()));
    });
    // Baseline in the same run: the YAML library alone parsing the same
    // text into an untyped value, with no spans and no checks.
    group.bench_function("baseline_plain_yaml_parse_10000_steps", |b| {
        b.iter(|| serde_saphyr::from_str::<serde_json::Value>(&file.text).map(|v| v.is_object()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
