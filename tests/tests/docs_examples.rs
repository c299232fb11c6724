//! Every YAML example in the authoring guide is checked: the guide marks
//! each one `<!-- check: valid -->` (no diagnostic at all) or
//! `<!-- check: IDF00xx -->` (exactly that one diagnostic), so the guide
//! cannot drift from what `idflow validate` says. The same goes for the
//! guide to workflow tests: its `<!-- file: NAME -->` blocks are written to
//! a folder, and each test file marked `<!-- check: passes -->`, `fails` or
//! `IDF01xx` runs there with that result.

use idflow_engine::expr::ExprEngine;
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_testing::report::{Style, human};
use idflow_testing::snapshot::SnapshotSettings;
use idflow_testing::suite::CaseError;
use idflow_testing::{Options, Suite};
use idflow_tests::{marked, repo_root};

/// `(line of the marker, expectation, yaml)` for each example marked
/// `<!-- check: ... -->`.
fn examples(text: &str) -> Vec<(usize, String, String)> {
    marked(text, "<!-- check:")
}

#[test]
fn every_marked_example_in_the_authoring_guide_validates_as_marked() {
    let text = std::fs::read_to_string(repo_root().join("docs/workflow-format.md")).unwrap();
    let registry = idflow_cli::registry::build().unwrap();
    let engine = ExprEngine::new();
    let examples = examples(&text);
    assert!(
        examples.len() >= 40,
        "only {} checked examples found",
        examples.len()
    );
    let mut failures = Vec::new();
    for (line, expectation, yaml) in examples {
        let validated = validate(
            SourceFile::new(format!("example at line {line}"), yaml),
            &registry,
            &engine,
        );
        let codes: Vec<&str> = validated
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect();
        let ok = if expectation == "valid" {
            codes.is_empty()
        } else {
            codes == [expectation.as_str()]
        };
        if !ok {
            failures.push(format!(
                "docs/workflow-format.md:{line}: expected {expectation}, got {codes:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_example_in_the_tests_guide_runs_as_marked() {
    let text = std::fs::read_to_string(repo_root().join("docs/workflow-tests.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (_, name, yaml) in marked(&text, "<!-- file:") {
        std::fs::write(dir.path().join(name), yaml).unwrap();
    }
    let registry = idflow_cli::registry::build().unwrap();
    let examples = examples(&text);
    assert!(
        examples.len() >= 9,
        "only {} checked examples found",
        examples.len()
    );
    let mut failures = Vec::new();
    for (line, expectation, yaml) in examples {
        let path = dir.path().join(format!("line-{line}.test.yaml"));
        std::fs::write(&path, yaml).unwrap();
        // As in CI: snapshots are never written.
        let options = Options {
            snapshot_all: false,
            snapshots: SnapshotSettings {
                ci: true,
                accept: false,
            },
        };
        let report = Suite::new(&registry, options).unwrap().run(&[path]);
        let file = &report.files[0];
        let mut codes: Vec<&str> = file
            .problems
            .iter()
            .map(|problem| problem.diagnostic.code.as_str())
            .collect();
        codes.extend(file.cases.iter().filter_map(|case| match &case.error {
            Some(CaseError::Located(report)) => Some(report.diagnostic.code.as_str()),
            _ => None,
        }));
        let ok = match expectation.as_str() {
            "passes" => report.exit_code() == 0 && !file.cases.is_empty(),
            "fails" => report.exit_code() == 1,
            code => codes == [code],
        };
        if !ok {
            failures.push(format!(
                "docs/workflow-tests.md:{line}: expected {expectation}, got exit code {} and codes {codes:?}\n{}",
                report.exit_code(),
                human(&report, Style::default())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
