//! `idflow test` through the real binary: the shipped workflows' tests,
//! exit codes, located diagnostics, `--format json`, `--junit` (validated
//! by xmllint against Jenkins' JUnit schema, which `scripts/setup` takes
//! from the pytest sdist), snapshots under `CI=true`, and the default
//! search of the current folder.

use std::path::Path;
use std::process::{Command, Output};

use idflow_tests::{idflow, idflow_bin, repo_root};

/// A scratch folder with a workflow and its test files.
fn scratch(tests: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    let workflow = "name: greet\ninputs:\n  who: {type: string}\nsteps:\n  hello:\n    uses: core.set\n    with:\n      greeting: \"hello ${{ inputs.who }}\"\n  notify:\n    uses: core.http\n    needs: [hello]\n    with:\n      url: https://crm.test/greeted\n      method: POST\noutputs:\n  greeting: ${{ steps.hello.outputs.greeting }}\n";
    std::fs::write(dir.path().join("greet.yaml"), workflow).expect("workflow");
    for (name, text) in tests {
        std::fs::write(dir.path().join(name), text).expect("test file");
    }
    dir
}

const PASSING: &str = "workflow: greet.yaml\ncases:\n  ana:\n    inputs: {who: ana}\n    mocks:\n      notify: {outputs: {status: 204}}\n    expect:\n      status: succeeded\n      outputs: {greeting: hello ana}\n";
const FAILING: &str = "workflow: greet.yaml\ncases:\n  wrong:\n    inputs: {who: bob}\n    mocks:\n      core.http: {error: {message: down, code: connection}}\n    expect:\n      status: succeeded\n      steps: {notify: {attempts: 2}}\n  no_mock:\n    inputs: {who: eve}\n";
const INVALID: &str = "workflow: greet.yaml\ncases:\n  typo:\n    inputs: {who: ana}\n    mocks:\n      notfy: {outputs: {status: 204}}\n";

fn run_in(dir: &Path, args: &[&str], ci: bool) -> Output {
    let mut command = Command::new(idflow_bin());
    command
        .args(["test"])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("TF_BUILD");
    if ci {
        command.env("CI", "true");
    } else {
        command.env_remove("CI");
    }
    command.output().expect("idflow runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_shipped_workflows_pass_their_tests() {
    let output = idflow()
        .args(["test", "workflows/", "--coverage"])
        .env("CI", "true")
        .output()
        .unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for workflow in [
        "blocklist-report",
        "face-enrollment",
        "face-verification",
        "hello-world",
        "onboarding",
    ] {
        assert!(
            text.contains(&format!("PASS  workflows/{workflow}.test.yaml › ")),
            "{workflow} has no passing case:\n{text}"
        );
        // One case per outcome: every step runs and every `if` goes both
        // ways in some case.
        assert!(
            text.contains(&format!("coverage of workflows/{workflow}.yaml")),
            "{text}"
        );
    }
    assert!(
        ["never run:", "never true:", "never false:"]
            .iter()
            .all(|gap| !text.contains(gap)),
        "something is not covered:\n{text}"
    );
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn exit_codes_say_passed_failed_or_invalid() {
    let dir = scratch(&[("a.test.yaml", PASSING)]);
    let output = run_in(dir.path(), &[], false);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("PASS  a.test.yaml › ana"));
    assert!(stdout(&output).contains("1 passed, 0 failed"));

    let dir = scratch(&[("a.test.yaml", PASSING), ("b.test.yaml", FAILING)]);
    let output = run_in(dir.path(), &["b.test.yaml"], false);
    let text = stdout(&output);
    // A failed expectation is 1, but a case that could not run (no mock
    // for a service step) makes the test file's problem 2.
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("FAIL  b.test.yaml › wrong"), "{text}");
    assert!(text.contains("- status: \"succeeded\"\n"), "{text}");
    assert!(text.contains("+ status: \"failed\"\n"), "{text}");
    assert!(text.contains("- steps.notify.attempts: 2"), "{text}");
    assert!(text.contains("ERROR b.test.yaml › no_mock"), "{text}");
    assert!(text.contains("error IDF0105"), "{text}");
    assert!(text.contains("0 passed, 2 failed"), "{text}");

    let only_failure = FAILING.split("  no_mock:").next().unwrap();
    std::fs::write(dir.path().join("b.test.yaml"), only_failure).unwrap();
    let output = run_in(dir.path(), &[], false);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));

    let dir = scratch(&[("c.test.yaml", INVALID)]);
    let output = run_in(dir.path(), &[], false);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("INVALID c.test.yaml"), "{text}");
    assert!(
        text.contains("c.test.yaml:6:7: error IDF0101: the mock names step `notfy`"),
        "{text}"
    );
    assert!(text.contains("did you mean `notify`?"), "{text}");
}

#[test]
fn json_reports_every_case_and_diagnostic() {
    let dir = scratch(&[
        ("a.test.yaml", PASSING),
        ("b.test.yaml", FAILING),
        ("c.test.yaml", INVALID),
    ]);
    let output = run_in(dir.path(), &["--format", "json"], false);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 2);
    assert_eq!(json["invalid_files"], 1);
    let files = json["files"].as_array().unwrap();
    assert_eq!(files[0]["cases"][0]["status"], "passed");
    assert_eq!(
        files[0]["cases"][0]["trace"]["steps"]["hello"]["status"],
        "succeeded"
    );
    let wrong = &files[1]["cases"][0];
    assert_eq!(wrong["status"], "failed");
    assert_eq!(wrong["mismatches"][0]["path"], "status");
    assert!(wrong["path"].as_array().unwrap().len() >= 3, "{wrong}");
    assert_eq!(files[1]["cases"][1]["error"]["code"], "IDF0105");
    assert_eq!(files[2]["diagnostics"][0]["code"], "IDF0101");
    assert_eq!(files[2]["diagnostics"][0]["line"], 6);
}

#[test]
fn the_junit_report_is_valid_against_the_junit_schema() {
    let schema = repo_root().join(".cache/junit/junit-10.xsd");
    assert!(
        schema.exists(),
        "{} is missing: run scripts/setup",
        schema.display()
    );
    let dir = scratch(&[
        ("a.test.yaml", PASSING),
        ("b.test.yaml", FAILING),
        ("c.test.yaml", INVALID),
    ]);
    let report = dir.path().join("report.xml");
    let output = run_in(dir.path(), &["--junit", report.to_str().unwrap()], false);
    assert_eq!(output.status.code(), Some(2));
    let xml = std::fs::read_to_string(&report).unwrap();
    let lint = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(&report)
        .output()
        .expect("xmllint is installed (scripts/setup installs libxml2-utils)");
    assert!(
        lint.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(
        xml.contains("<testsuites name=\"idflow test\" tests=\"4\" failures=\"1\" errors=\"2\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"ana\" classname=\"a.test.yaml\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure type=\"expectation\" message=\"2 expectations not met\">"),
        "{xml}"
    );
    assert!(xml.contains("<error type=\"case_error\""), "{xml}");
    assert!(xml.contains("<error type=\"invalid_test_file\""), "{xml}");
    // The failure text is the same diff people see.
    assert!(xml.contains("- status: &quot;succeeded&quot;"), "{xml}");
}

#[test]
fn snapshots_fail_when_new_in_ci_and_are_written_for_review_outside() {
    let snapshotted = PASSING.replace("    expect:", "    snapshot: true\n    expect:");
    let dir = scratch(&[("a.test.yaml", &snapshotted)]);
    let snap = dir.path().join("snapshots/a__ana.snap");
    let pending = dir.path().join("snapshots/a__ana.snap.new");

    let output = run_in(dir.path(), &[], true);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("new snapshot"), "{text}");
    assert!(text.contains("in CI nothing is written"), "{text}");
    assert!(!dir.path().join("snapshots").exists());

    let output = run_in(dir.path(), &[], false);
    assert_eq!(output.status.code(), Some(1));
    assert!(pending.exists() && !snap.exists());
    assert!(stdout(&output).contains("cargo insta review"));

    let output = run_in(dir.path(), &["--accept"], false);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(snap.exists() && !pending.exists());
    let written = std::fs::read_to_string(&snap).unwrap();
    assert!(written.starts_with("---\nsource: "), "{written}");
    assert!(written.contains("greeting: hello ana"), "{written}");

    let output = run_in(dir.path(), &[], true);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    // A changed workflow changes the trace: a diff, and a failure in CI.
    let workflow = std::fs::read_to_string(dir.path().join("greet.yaml"))
        .unwrap()
        .replace("hello ${{", "hi ${{");
    std::fs::write(dir.path().join("greet.yaml"), workflow).unwrap();
    let snapshotted = snapshotted.replace("hello ana", "hi ana");
    std::fs::write(dir.path().join("a.test.yaml"), snapshotted).unwrap();
    let output = run_in(dir.path(), &[], true);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("-      greeting: hello ana"), "{text}");
    assert!(text.contains("+      greeting: hi ana"), "{text}");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), written);
}

#[test]
fn no_test_files_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_in(dir.path(), &[], false);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no test files"));
}

#[test]
fn the_tests_schema_is_printed() {
    let output = idflow().args(["schema", "--tests"]).output().unwrap();
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "idflow workflow tests");
    assert_eq!(schema["required"], serde_json::json!(["workflow", "cases"]));
}
