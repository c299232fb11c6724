//! Every YAML example in the authoring guide is checked: the guide marks
//! each one `<!-- check: valid -->` (no diagnostic at all) or
//! `<!-- check: IDF00xx -->` (exactly that one diagnostic), so the guide
//! cannot drift from what `idflow validate` says.

use idflow_engine::expr::ExprEngine;
use idflow_engine::source::SourceFile;
use idflow_engine::validate::validate;
use idflow_tests::repo_root;

/// `(line of the marker, expectation, yaml)` for each marked example.
fn examples(text: &str) -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix("<!-- check:") else {
            continue;
        };
        let expectation = rest.trim_end_matches("-->").trim().to_owned();
        let start = lines[index + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with("```yaml"))
            .map_or_else(
                || panic!("marker at line {} has no ```yaml block", index + 1),
                |p| index + 1 + p + 1,
            );
        let end = lines[start..]
            .iter()
            .position(|l| l.trim_start().starts_with("```"))
            .map_or_else(
                || panic!("the block after line {} is not closed", index + 1),
                |p| start + p,
            );
        found.push((index + 1, expectation, lines[start..end].join("\n") + "\n"));
    }
    found
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
