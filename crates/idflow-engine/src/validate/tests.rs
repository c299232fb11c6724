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

/// Hostile shapes from issue 17: deep expressions, wide lines, huge
/// repetitions. Validation, evaluation and rendering must return, with a
/// located diagnostic where the file is at fault.
mod hostile {
    use proptest::prelude::*;

    use super::{registry, validate};
    use crate::diagnostic::Code;
    use crate::expr::{ExprEngine, MAX_OPERATORS, Scope};
    use crate::model::Expression;
    use crate::source::SourceFile;

    /// An expression nested `depth` times by one operator.
    fn nested() -> impl Strategy<Value = (String, usize)> {
        let openers = prop_oneof![
            Just(("-", "")),
            Just(("not ", "")),
            Just(("1 + ", "")),
            Just(("'a' ~ ", "")),
            Just(("(", ")")),
            Just(("[", "]")),
            Just(("x.", "")),
        ];
        (openers, 0..3_000usize).prop_map(|((open, close), depth)| {
            let last = if open == "x." { "y" } else { "1" };
            (
                format!("{}{last}{}", open.repeat(depth), close.repeat(depth)),
                depth,
            )
        })
    }

    fn one_step(condition: &str, message: &str) -> String {
        format!(
            "name: p\nsteps:\n  a:\n    uses: core.log\n    if: \"{condition}\"\n    with:\n      message: \"{message}\"\n"
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn deep_expressions_are_refused_or_validated(
            (expression, depth) in nested(),
            in_condition in any::<bool>(),
        ) {
            let wrapped = format!("${{{{ {expression} }}}}");
            let text = if in_condition { one_step(&wrapped, "hi") } else { one_step("true", &wrapped) };
            let validated = validate(SourceFile::new("deep.yaml", text), &registry(), &ExprEngine::new());
            let too_complex = validated.diagnostics.iter().any(|d| d.code == Code::ExpressionTooComplex);
            // Each level adds exactly one operator, bracket or dot.
            prop_assert_eq!(too_complex, depth > MAX_OPERATORS, "{:?}", validated.diagnostics);
            for report in validated.reports() {
                let _ = report.render(false);
            }
        }

        #[test]
        fn wide_lines_render_clipped(
            width in 60_000..80_000usize,
            tail in prop_oneof![Just(": 1"), Just(": [1"), Just(" ${{ x }}"), Just("\t: x"), Just("é: 'a")],
            before in prop_oneof![Just(""), Just("name: w\n"), Just("é\n")],
        ) {
            let text = format!("{before}{}{tail}\nsteps: {{}}\n", "a".repeat(width));
            let file = SourceFile::new("wide.yaml", text);
            let validated = validate(std::sync::Arc::clone(&file), &registry(), &ExprEngine::new());
            for report in validated.reports() {
                let rendered = report.render(false);
                prop_assert!(rendered.lines().all(|line| line.chars().count() < 1_000), "{rendered}");
                let json = report.to_json();
                prop_assert!(json.line >= 1 && json.column >= 1);
            }
        }

        #[test]
        fn huge_repetitions_run_out_of_fuel_instead_of_memory(
            count in prop_oneof![0..2_000i64, 50_000..100_000i64, 1_000_000..2_000_000_000i64],
            form in 0..5usize,
        ) {
            let expression = match form {
                0 => format!("[1] * {count}"),
                1 => format!("5 in ([1, 2] * {count})"),
                2 => format!("'' ~ ([[1] * {count}] * {count})"),
                3 => format!("('ab' * {count}) | length"),
                _ => format!("[1] * {count} == [1] * {count}"),
            };
            let engine = ExprEngine::new();
            let result = engine.eval(
                &Expression { source: expression.clone(), span: crate::source::Span::default() },
                &Scope::new(),
            );
            if count >= 1_000_000 {
                prop_assert!(result.is_err(), "{expression} gave {result:?}");
            }
            // Validation compiles (and folds) the same expression.
            let text = one_step(&format!("${{{{ {expression} }}}}"), "hi");
            let _ = validate(SourceFile::new("rep.yaml", text), &registry(), &engine);
        }

        #[test]
        fn only_regular_files_within_the_limit_are_read(
            kind in 0..5usize,
            contents in proptest::collection::vec(any::<u8>(), 0..200),
            limit in 0..300usize,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let regular = dir.path().join("f.yaml");
            std::fs::write(&regular, &contents).unwrap();
            let fifo = dir.path().join("pipe");
            let path = match kind {
                0 => regular.clone(),
                1 => std::path::PathBuf::from("/dev/zero"),
                2 => std::path::PathBuf::from("/dev/null"),
                3 => dir.path().to_path_buf(),
                _ => {
                    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
                    prop_assert!(made.success());
                    fifo.clone()
                }
            };
            let read = crate::source::read_regular_file(&path, limit);
            let expected_ok = kind == 0 && contents.len() <= limit && std::str::from_utf8(&contents).is_ok();
            prop_assert_eq!(read.is_ok(), expected_ok, "{:?}", read);
            if let Ok(text) = read {
                prop_assert_eq!(text.as_bytes(), &contents[..]);
            }
        }
    }
}
