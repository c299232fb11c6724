//! Snapshot tests of workflow definitions: every shipped workflow's
//! validated plan and graph (Mermaid and dot, which Graphviz must draw),
//! every invalid fixture's rendered diagnostic, and the checked-in editor
//! schemas (workflows and test files).

use std::io::Write as _;
use std::sync::Arc;

use idflow_engine::expr::ExprEngine;
use idflow_engine::graph::{GraphFormat, render};
use idflow_engine::schema::{SCHEMA_PATH, workflow_schema_text};
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_testing::schema::{TESTS_SCHEMA_PATH, tests_schema_text};
use idflow_tests::{files_in, repo_root};

/// The path as the snapshot shows it: relative to the repository.
fn display_name(path: &std::path::Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn load(path: &std::path::Path) -> Arc<SourceFile> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    SourceFile::new(display_name(path), text)
}

#[test]
fn every_shipped_workflow_is_valid_and_its_plan_is_snapshotted() {
    let registry = idflow_cli::registry::build().unwrap();
    let engine = ExprEngine::new();
    let files: Vec<_> = files_in("workflows", &["yaml", "yml"])
        .into_iter()
        .filter(|path| !idflow_testing::suite::is_test_file(path))
        .collect();
    assert!(!files.is_empty(), "no workflows found");
    for path in files {
        let source = load(&path);
        assert!(
            source
                .text
                .starts_with("# yaml-language-server: $schema=../docs/workflow.schema.json\n"),
            "{} must start with the yaml-language-server schema line",
            source.name
        );
        let validated = validate(Arc::clone(&source), &registry, &engine);
        let rendered: Vec<String> = validated
            .reports()
            .iter()
            .map(|r| r.render(false))
            .collect();
        assert!(
            validated.diagnostics.is_empty(),
            "{} has diagnostics:\n{}",
            source.name,
            rendered.join("\n")
        );
        let workflow = validated.workflow.expect("a valid workflow");
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::with_settings!({ snapshot_suffix => name, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_json_snapshot!("plan", workflow.plan_json());
        });
    }
}

/// The graph of every shipped workflow, as Mermaid and as dot, is
/// snapshotted, and Graphviz (`dot`, from `scripts/setup`) draws the dot.
#[test]
fn every_shipped_workflows_graph_is_snapshotted_and_graphviz_draws_it() {
    let registry = idflow_cli::registry::build().unwrap();
    let engine = ExprEngine::new();
    let files: Vec<_> = files_in("workflows", &["yaml", "yml"])
        .into_iter()
        .filter(|path| !idflow_testing::suite::is_test_file(path))
        .collect();
    for path in files {
        let workflow = validate(load(&path), &registry, &engine)
            .workflow
            .expect("a valid workflow");
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mermaid = render(&workflow, GraphFormat::Mermaid);
        let dot = render(&workflow, GraphFormat::Dot);
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("graph-mermaid", mermaid);
            insta::assert_snapshot!("graph-dot", dot);
        });
        let mut graphviz = std::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("Graphviz's `dot` runs (scripts/setup installs graphviz)");
        graphviz
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        let drawn = graphviz.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&drawn.stderr);
        assert!(
            drawn.status.success(),
            "{name}: dot refused the graph: {stderr}"
        );
        assert_eq!(stderr, "", "{name}: dot warned");
        assert!(
            String::from_utf8_lossy(&drawn.stdout).contains("<svg"),
            "{name}"
        );
    }
}

#[test]
fn every_invalid_fixture_has_exactly_one_diagnostic_and_it_is_snapshotted() {
    let registry = idflow_cli::registry::build().unwrap();
    let engine = ExprEngine::new();
    let files = files_in("tests/fixtures/invalid", &["yaml", "yml"]);
    assert!(!files.is_empty(), "no fixtures found");
    for path in files {
        let source = load(&path);
        let validated = validate(Arc::clone(&source), &registry, &engine);
        let reports = validated.reports();
        let rendered: Vec<String> = reports.iter().map(|r| r.render(false)).collect();
        assert_eq!(
            reports.len(),
            1,
            "{} must have exactly one diagnostic:\n{}",
            source.name,
            rendered.join("\n")
        );
        let report = &reports[0];
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            file_name.starts_with(report.diagnostic.code.as_str()),
            "{file_name} is named for a code but reports {}",
            report.diagnostic.code
        );
        let json = serde_json::to_string_pretty(&report.to_json()).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::with_settings!({ snapshot_suffix => name, prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!("diagnostic", format!("{}\n{json}\n", rendered[0]));
        });
    }
}

#[test]
fn the_checked_in_schema_is_current() {
    let registry = idflow_cli::registry::build().unwrap();
    let expected = workflow_schema_text(&registry);
    let path = repo_root().join(SCHEMA_PATH);
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{SCHEMA_PATH} is out of date: run `cargo run -q -p idflow-cli -- schema > {SCHEMA_PATH}` and commit it"
    );
}

#[test]
fn the_checked_in_tests_schema_is_current() {
    let path = repo_root().join(TESTS_SCHEMA_PATH);
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == tests_schema_text(),
        "{TESTS_SCHEMA_PATH} is out of date: run `cargo run -q -p idflow-cli -- schema --tests > {TESTS_SCHEMA_PATH}` and commit it"
    );
}
