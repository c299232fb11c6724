//! Any text as a workflow file: loading and validating it, rendering every
//! diagnostic (as text and as JSON) and drawing the graph of a valid one
//! never panic, overflow the stack or run away (scripts/test runs this with
//! libFuzzer's memory and time limits).
#![no_main]

use std::sync::{Arc, LazyLock};

use idflow_core::StepRegistry;
use idflow_engine::expr::ExprEngine;
use idflow_engine::graph::{GraphFormat, render};
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use libfuzzer_sys::fuzz_target;

static REGISTRY: LazyLock<StepRegistry> = LazyLock::new(|| {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).expect("the core steps register");
    registry
});

static ENGINE: LazyLock<ExprEngine> = LazyLock::new(ExprEngine::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("fuzz.yaml", text);
    let validated = validate(Arc::clone(&file), &REGISTRY, &ENGINE);
    for report in validated.reports() {
        assert!(report.diagnostic.span.end <= file.text.len());
        let _ = report.render(false);
        let _ = report.to_json();
    }
    if let Some(workflow) = &validated.workflow {
        let _ = render(workflow, GraphFormat::Mermaid);
    }
});
