//! Issue 17's hostile workflow files (the reproductions in
//! `tests/src/hostile.rs`, shared with the end-to-end tests that check their
//! exit codes and memory): how long `idflow validate` takes on each, as the
//! binary does it (load, validate, render every diagnostic as text and as
//! JSON), and how long the runaway expressions take to fail at run time.
//! Target: every case under 2 s in release on the 2-core reference machine.
//!
//! `cargo bench -p idflow-engine --bench hostile`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use idflow_core::StepRegistry;
use idflow_engine::expr::{ExprEngine, Scope};
use idflow_engine::model::Expression;
use idflow_engine::source::{SourceFile, Span};
use idflow_engine::validate::validate;

// Shared with the tests package, which uses all of it (and makes it public).
#[path = "../../../tests/src/hostile.rs"]
#[allow(dead_code, unreachable_pub)]
mod hostile;

fn validate_and_report(registry: &StepRegistry, text: &str) -> usize {
    let engine = ExprEngine::new();
    let validated = validate(SourceFile::new("hostile.yaml", text), registry, &engine);
    let mut written = 0;
    for report in validated.reports() {
        written += report.render(false).len();
        written += report.to_json().message.len();
    }
    written
}

fn bench_hostile(c: &mut Criterion) {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).expect("core steps register");
    let mut group = c.benchmark_group("hostile");
    group.sample_size(10);
    for case in hostile::cases() {
        let text = Arc::new(case.text);
        group.bench_function(format!("validate/{}", case.name), |b| {
            b.iter(|| validate_and_report(&registry, &text));
        });
    }
    for source in [
        "[1, 2, 3] | tojson(indent=999999999)",
        "[1] * 99999999",
        "5 in ([1] * 99999999)",
        "'' ~ ([[1] * 99999] * 99999)",
    ] {
        let expression = Expression {
            source: source.to_owned(),
            span: Span::default(),
        };
        group.bench_function(format!("evaluate/{source}"), |b| {
            b.iter(|| ExprEngine::new().eval(&expression, &Scope::new()).is_err());
        });
    }
    group.finish();
}

criterion_group!(benches, bench_hostile);
criterion_main!(benches);
