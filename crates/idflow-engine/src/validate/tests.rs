//! Property tests of validation: whatever the file holds, validation
//! returns (no panic, no hang) and every diagnostic points inside the file.

use proptest::prelude::*;

use super::validate;
use crate::expr::ExprEngine;
use crate::source::SourceFile;

fn registry() -> idflow_core::StepRegistry {
    let mut registry = idflow_core::StepRegistry::new();
    idflow_steps::register(&mut registry).expect("core steps register");
    registry
}

/// Pieces of workflow files, valid and not, glued into lines.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("name: demo".to_owned()),
        Just("steps:".to_owned()),
        Just("inputs:".to_owned()),
        Just("  who: {type: string}".to_owned()),
        Just("secrets: [TOKEN]".to_owned()),
        "  [a-c]:".prop_map(|s| s),
        "    uses: core\\.(log|set|http|fail|sleep|nope)".prop_map(|s| s),
        "    needs: \\[[a-c](, [a-c])?\\]".prop_map(|s| s),
        "    if: [a-z.=' ()]{0,30}".prop_map(|s| s),
        "    until: outputs\\.[a-z]{1,5}".prop_map(|s| s),
        Just("    with:".to_owned()),
        "      [a-z]{1,8}: \"?\\$\\{\\{ ?(inputs|secrets|steps|attempt|run)?[.a-z_]{0,20} ?\\}?\\}?\"?".prop_map(|s| s),
        "      [a-z]{1,8}: [a-z0-9 ]{0,10}".prop_map(|s| s),
        "    retry: \\{attempts: -?[0-9]{1,4}, backoff: [a-z]{1,12}\\}".prop_map(|s| s),
        "    (timeout|poll): [0-9a-z{}: ]{0,12}".prop_map(|s| s),
        "outputs: \\{[a-z]: \"\\$\\{\\{ steps\\.[a-c]\\.outputs\\.x \\}\\}\"\\}".prop_map(|s| s),
        "[ -~]{0,30}".prop_map(|s| s),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn validation_never_panics_and_diagnostics_point_inside_the_file(lines in proptest::collection::vec(fragment(), 0..30)) {
        let text = lines.join("\n");
        let file = SourceFile::new("p.yaml", text);
        let validated = validate(std::sync::Arc::clone(&file), &registry(), &ExprEngine::new());
        for diagnostic in &validated.diagnostics {
            prop_assert!(diagnostic.span.end <= file.text.len(), "{diagnostic:?}");
            prop_assert!(file.text.is_char_boundary(diagnostic.span.start));
        }
        prop_assert_eq!(validated.workflow.is_some(), !validated.has_errors());
    }
}

#[test]
fn dead_steps_spread_through_needs_until_a_status_function() {
    // Written out of order on purpose: `needs` point forward.
    let text = "name: dead\nsteps:\n  c:\n    uses: core.log\n    needs: [b]\n    with: {message: c}\n  d:\n    uses: core.log\n    needs: [c]\n    if: always()\n    with: {message: d}\n  b:\n    uses: core.log\n    needs: [a]\n    with: {message: b}\n  a:\n    uses: core.log\n    if: false\n    with: {message: a}\n";
    let validated = validate(
        SourceFile::new("dead.yaml", text),
        &registry(),
        &ExprEngine::new(),
    );
    let dead: Vec<&str> = validated
        .diagnostics
        .iter()
        .map(|d| {
            assert_eq!(d.code, crate::diagnostic::Code::DeadStep, "{d:?}");
            d.message.as_str()
        })
        .collect();
    assert_eq!(
        dead,
        [
            "step `c` never runs: it needs `b`, which never runs",
            "step `b` never runs: it needs `a`, which never runs",
            "step `a` never runs: its `if` is always false",
        ]
    );
    assert!(
        validated.workflow.is_some(),
        "warnings do not stop a workflow"
    );
}
