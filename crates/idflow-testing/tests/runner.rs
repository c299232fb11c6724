//! The runner's own tests: real test files and workflows written to a
//! temporary folder, run with the real core and face step types (the face
//! steps unconfigured: a test that reached the network would fail).

use std::path::{Path, PathBuf};
use std::time::Duration;

use idflow_core::StepRegistry;
use idflow_face::FaceConnection;
use idflow_testing::report::{self, Style};
use idflow_testing::snapshot::{SnapshotOutcome, SnapshotSettings};
use idflow_testing::suite::{CaseError, CaseReport, CaseStatus};
use idflow_testing::trace::AttemptResult;
use idflow_testing::{Options, Suite, SuiteReport};

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::new();
    idflow_steps::register(&mut registry).expect("core steps");
    idflow_face::register(&mut registry, FaceConnection::unconfigured()).expect("face steps");
    registry
}

/// A folder with a workflow and a test file.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(workflow: &str, tests: &str) -> Self {
        let project = Self {
            dir: tempfile::tempdir().expect("temporary folder"),
        };
        project.write("flow.yaml", workflow);
        project.write("flow.test.yaml", tests);
        project.write("photo.jpg", "not really a photo: the upload is mocked");
        project
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("written");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run_with(&self, options: Options) -> SuiteReport {
        let registry = registry();
        Suite::new(&registry, options)
            .expect("a suite")
            .run(&[self.path("flow.test.yaml")])
    }

    fn run(&self) -> SuiteReport {
        self.run_with(Options::default())
    }
}

/// The codes of the (only) test file's problems.
fn codes(report: &SuiteReport) -> Vec<&'static str> {
    report.files[0]
        .problems
        .iter()
        .map(|problem| problem.diagnostic.code.as_str())
        .collect()
}

fn only_case(report: &SuiteReport) -> &CaseReport {
    assert_eq!(report.files.len(), 1);
    let file = &report.files[0];
    let problems: Vec<String> = file.problems.iter().map(|p| p.render(false)).collect();
    assert!(
        !file.is_invalid(),
        "invalid test file:\n{}",
        problems.join("\n")
    );
    assert_eq!(file.cases.len(), 1);
    &file.cases[0]
}

const ENROLLMENT: &str = r"
name: enrollment
inputs:
  photo: {type: file}
steps:
  enroll:
    uses: face.create_enrollment
    with: {user_authorized: true}
    retry: {attempts: 3, initial: 1s, backoff: exponential}
  upload:
    uses: face.upload_photo
    needs: [enroll]
    with:
      file_upload_link: ${{ steps.enroll.outputs.file_upload_link }}
      photo: ${{ inputs.photo }}
    timeout: 5s
    retry: {attempts: 2, initial: 3s, backoff: fixed}
  processed:
    uses: face.await_enrollment
    needs: [upload]
    with:
      enrollment_id: ${{ steps.enroll.outputs.enrollment_id }}
  blocklisted:
    uses: core.fail
    needs: [processed]
    if: steps.processed.outputs.reason == 'face_in_blocklist'
    with: {message: on the blocklist}
outputs:
  outcome: ${{ 'blocklisted' if steps.blocklisted.status == 'failed' else 'enrolled' }}
";

const MOCKS: &str = r#"
    inputs: {photo: photo.jpg}
    mocks:
      enroll:
        - error: {message: overloaded, code: http_status, retryable: true}
        - outputs: {enrollment_id: E1, status: pending, file_upload_link: "https://upload.test/secret-link"}
      upload:
        - {delay: 9s, outputs: {bytes: 1}}
        - {delay: 2s, outputs: {bytes: 1}}
      processed:
        - outputs: {status: pending}
        - outputs: {status: failure, reason: face_in_blocklist}
"#;

#[test]
fn a_passing_case_runs_on_the_virtual_clock_and_records_every_wait() {
    let tests = format!(
        "workflow: flow.yaml\ncases:\n  blocklisted:{MOCKS}    expect:\n      status: failed\n      outputs: {{outcome: blocklisted}}\n      steps:\n        enroll: {{status: succeeded, attempts: 2}}\n        upload: {{status: succeeded, attempts: 2, outputs: {{bytes: 1}}}}\n        processed: {{attempts: 2}}\n        blocklisted: {{status: failed, error: {{code: failed, message: blocklist}}}}\n"
    );
    let project = Project::new(ENROLLMENT, &tests);
    let started = std::time::Instant::now();
    let report = project.run();
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Passed, "{:?}", case.mismatches);
    let trace = case.trace.as_ref().unwrap();
    // enroll: fails at 0s, retries after 1s; upload: the first attempt
    // (9s) times out at 5s, the retry waits 3s and takes 2s; processed:
    // polls after the step type's default 5s (its fallback: the provider's
    // webhook wakes it at once in a real run).
    let enroll = &trace.steps["enroll"];
    assert_eq!(enroll.attempts[0].then.as_deref(), Some("retry in 1s"));
    assert_eq!(enroll.attempts[1].at, Duration::from_secs(1));
    let upload = &trace.steps["upload"];
    assert_eq!(upload.attempts[0].result, AttemptResult::TimedOut(true));
    assert_eq!(upload.attempts[0].took, Some(Duration::from_secs(5)));
    assert_eq!(upload.attempts[1].at, Duration::from_secs(9));
    assert_eq!(upload.attempts[1].took, Some(Duration::from_secs(2)));
    let processed = &trace.steps["processed"];
    assert_eq!(processed.attempts[0].at, Duration::from_secs(11));
    assert_eq!(processed.attempts[1].at, Duration::from_secs(16));
    assert_eq!(trace.duration, Duration::from_secs(16));
    // 16 virtual seconds took no real time to speak of.
    assert!(started.elapsed() < Duration::from_secs(5));
    // The upload link is a credential: redacted wherever it shows.
    let shown = format!("{}{}", trace.to_yaml(), trace.path_lines().join("\n"));
    assert!(!shown.contains("secret-link"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn each_kind_of_unmet_expectation_is_reported_with_expected_and_actual() {
    let tests = format!(
        "workflow: flow.yaml\ncases:\n  wrong:{MOCKS}    expect:\n      status: succeeded\n      outputs: {{outcome: enrolled}}\n      error: run_timeout\n      steps:\n        blocklisted: skipped\n        enroll: {{attempts: 1, outputs: {{enrollment_id: E2}}, error: http_status}}\n"
    );
    let project = Project::new(ENROLLMENT, &tests);
    let report = project.run();
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Failed);
    let found: Vec<(String, String, String)> = case
        .mismatches
        .iter()
        .map(|m| (m.path.clone(), m.expected.to_string(), m.actual.to_string()))
        .collect();
    let expected = [
        ("status", "\"succeeded\"", "\"failed\""),
        ("outputs.outcome", "\"enrolled\"", "\"blocklisted\""),
        ("error", "{\"code\":\"run_timeout\"}", "null"),
        ("steps.blocklisted.status", "\"skipped\"", "\"failed\""),
        ("steps.enroll.attempts", "1", "2"),
        ("steps.enroll.outputs.enrollment_id", "\"E2\"", "\"E1\""),
        ("steps.enroll.error", "{\"code\":\"http_status\"}", "null"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(found, expected);
    assert_eq!(report.exit_code(), 1);
    let text = report::human(&report, Style::default());
    assert!(text.contains("FAIL  "), "{text}");
    assert!(text.contains("- steps.enroll.attempts: 1\n"), "{text}");
    assert!(text.contains("+ steps.enroll.attempts: 2\n"), "{text}");
    assert!(text.contains("the path the run took (failed):"), "{text}");
    assert!(
        text.lines()
            .any(|line| line.contains(" 6s  upload ") && line.ends_with("attempt 1 timed out")),
        "{text}"
    );
    assert!(text.contains("0 passed, 1 failed"), "{text}");
}

#[test]
fn a_step_that_is_not_pure_and_not_mocked_stops_the_case_with_a_located_error() {
    let tests = "workflow: flow.yaml\ncases:\n  forgot_upload:\n    inputs: {photo: photo.jpg}\n    mocks:\n      enroll: {outputs: {enrollment_id: E1, file_upload_link: \"https://u.test/l\"}}\n    expect: {status: failed}\n";
    let project = Project::new(ENROLLMENT, tests);
    let report = project.run();
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Error);
    let Some(CaseError::Located(error)) = &case.error else {
        panic!("{:?}", case.error);
    };
    assert_eq!(error.diagnostic.code.as_str(), "IDF0105");
    let json = error.to_json();
    assert_eq!((json.line, json.column), (3, 3));
    assert!(
        json.message.contains("step `upload` (face.upload_photo)"),
        "{}",
        json.message
    );
    assert!(
        json.help
            .as_deref()
            .unwrap()
            .contains("bytes: ..., content_type: ..."),
        "{json:?}"
    );
    assert_eq!(report.exit_code(), 2);
}

#[test]
fn mocks_of_steps_that_do_not_exist_and_undeclared_outputs_are_located() {
    let tests = "workflow: flow.yaml\ncases:\n  typos:\n    inputs: {photo: photo.jpg}\n    mocks:\n      enrol: {outputs: {enrollment_id: E1}}\n      upload: {outputs: {bytes: 1, colour: red}}\n      face.await_validation: {outputs: {}}\n    expect:\n      steps: {proccessed: skipped}\n      outputs: {outcom: x}\n";
    let project = Project::new(ENROLLMENT, tests);
    let report = project.run();
    let file = &report.files[0];
    assert!(file.is_invalid());
    assert!(file.cases.is_empty(), "an invalid file runs no case");
    let found: Vec<(String, usize, usize)> = file
        .problems
        .iter()
        .map(|problem| {
            let json = problem.to_json();
            (json.code.to_owned(), json.line, json.column)
        })
        .collect();
    let expected: Vec<(String, usize, usize)> = [
        ("IDF0101", 6, 7),
        ("IDF0102", 7, 36),
        ("IDF0101", 8, 7),
        ("IDF0101", 10, 15),
        ("IDF0101", 11, 17),
    ]
    .iter()
    .map(|(code, line, column)| ((*code).to_owned(), *line, *column))
    .collect();
    let mut found_sorted = found.clone();
    found_sorted.sort_by_key(|(_, line, column)| (*line, *column));
    assert_eq!(found_sorted, expected);
    let rendered = file.problems[0].render(false);
    assert!(rendered.contains("did you mean `enroll`?"), "{rendered}");
    assert_eq!(report.exit_code(), 2);
}

#[test]
fn shape_errors_use_the_workflow_codes_and_inputs_are_checked() {
    let tests = "workflow: flow.yaml\ncases:\n  bad:\n    inputs: {photo: missing.jpg, colour: red}\n    mokcs: {}\n    expect: {status: done}\n";
    let project = Project::new(ENROLLMENT, tests);
    let report = project.run();
    // The shape is read first: the misspelt key and the bad status.
    assert_eq!(codes(&report), ["IDF0003", "IDF0006"]);
    let tests =
        "workflow: flow.yaml\ncases:\n  bad:\n    inputs: {photo: missing.jpg, colour: red}\n";
    project.write("flow.test.yaml", tests);
    let report = project.run();
    assert_eq!(codes(&report), ["IDF0103", "IDF0103"]);
    project.write("flow.test.yaml", "workflow: nowhere.yaml\ncases: {a: {}}\n");
    let report = project.run();
    assert_eq!(codes(&report), ["IDF0104"]);
}

#[test]
fn pure_steps_run_for_real_and_sleep_on_the_virtual_clock() {
    let workflow = "name: pure\nsteps:\n  wait:\n    uses: core.sleep\n    with: {duration: 2h}\n  set:\n    uses: core.set\n    needs: [wait]\n    with: {n: 3}\noutputs:\n  n: ${{ steps.set.outputs.n }}\n";
    let tests = "workflow: flow.yaml\ncases:\n  real:\n    expect: {status: succeeded, outputs: {n: 3}, steps: {wait: succeeded}}\n";
    let project = Project::new(workflow, tests);
    let started = std::time::Instant::now();
    let report = project.run();
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Passed, "{:?}", case.mismatches);
    let trace = case.trace.as_ref().unwrap();
    assert_eq!(
        trace.steps["wait"].attempts[0].took,
        Some(Duration::from_hours(2))
    );
    assert_eq!(trace.steps["set"].attempts[0].at, Duration::from_hours(2));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_run_timeout_is_virtual_too() {
    let workflow = "name: slow\ntimeout: 1m\nsteps:\n  call:\n    uses: face.create_enrollment\n    with: {user_authorized: true}\n";
    let tests = "workflow: flow.yaml\ncases:\n  slow:\n    mocks:\n      call: {delay: 1h, outputs: {enrollment_id: E}}\n    expect:\n      status: failed\n      error: {code: run_timeout}\n      steps: {call: cancelled}\n";
    let project = Project::new(workflow, tests);
    let report = project.run();
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Passed, "{:?}", case.mismatches);
    let trace = case.trace.as_ref().unwrap();
    assert_eq!(trace.duration, Duration::from_mins(1));
    assert_eq!(
        trace.steps["call"].attempts[0].result,
        AttemptResult::Cancelled(true)
    );
}

fn snapshot_file(project: &Project) -> PathBuf {
    project.path("snapshots/flow__snap.snap")
}

const SNAPSHOT_TESTS: &str = "workflow: flow.yaml\ncases:\n  snap:\n    description: a snapshotted case\n    snapshot: true\n";

fn snapshot_project(message: &str) -> Project {
    let workflow = format!(
        "name: snap\nsteps:\n  hello:\n    uses: core.set\n    with: {{message: {message}}}\n"
    );
    Project::new(&workflow, SNAPSHOT_TESTS)
}

fn snapshots(ci: bool, accept: bool) -> Options {
    Options {
        snapshot_all: false,
        snapshots: SnapshotSettings { ci, accept },
    }
}

fn snapshot_run(project: &Project, ci: bool, accept: bool) -> SnapshotOutcome {
    let report = project.run_with(snapshots(ci, accept));
    only_case(&report).snapshot.clone().expect("a snapshot")
}

#[test]
fn a_new_snapshot_is_pending_review_locally_and_written_nowhere_in_ci() {
    let project = snapshot_project("hi");
    let outcome = snapshot_run(&project, true, false);
    assert!(
        matches!(&outcome, SnapshotOutcome::New { pending: None, .. }),
        "{outcome:?}"
    );
    assert!(!project.path("snapshots").exists(), "CI writes nothing");
    let outcome = snapshot_run(&project, false, false);
    let SnapshotOutcome::New {
        pending: Some(pending),
        ..
    } = &outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(pending, &project.path("snapshots/flow__snap.snap.new"));
    assert!(!snapshot_file(&project).exists());
    // insta reads the pending file as it reads its own.
    let snapshot = insta::Snapshot::from_file(pending).unwrap();
    assert_eq!(
        snapshot.metadata().description(),
        Some("a snapshotted case")
    );
    assert_eq!(
        snapshot.metadata().expression(),
        Some("the trace of case `snap`")
    );
    let contents = snapshot.as_text().unwrap().to_string();
    assert!(
        contents.starts_with("workflow: snap\nstatus: succeeded\n"),
        "{contents}"
    );
    assert!(contents.contains("message: hi"), "{contents}");
}

#[test]
fn snapshots_are_accepted_matched_and_fail_when_changed() {
    let project = snapshot_project("hi");
    let outcome = snapshot_run(&project, false, true);
    assert!(
        matches!(outcome, SnapshotOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let written = std::fs::read_to_string(snapshot_file(&project)).unwrap();
    assert!(written.starts_with("---\nsource: "), "{written}");
    assert!(
        written.contains("\nexpression: the trace of case `snap`\n"),
        "{written}"
    );
    assert!(!project.path("snapshots/flow__snap.snap.new").exists());
    // The same run matches, in CI too.
    assert!(matches!(
        snapshot_run(&project, true, false),
        SnapshotOutcome::Matched { .. }
    ));
    // A changed workflow changes the trace: the case fails, with a diff.
    project.write(
        "flow.yaml",
        "name: snap\nsteps:\n  hello:\n    uses: core.set\n    with: {message: bye}\n",
    );
    let report = project.run_with(snapshots(true, false));
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Failed);
    let Some(SnapshotOutcome::Changed { pending, diff, .. }) = &case.snapshot else {
        panic!("{:?}", case.snapshot);
    };
    assert!(pending.is_none(), "CI writes nothing");
    assert!(diff.contains("-      message: hi\n"), "{diff}");
    assert!(diff.contains("+      message: bye\n"), "{diff}");
    assert_eq!(report.exit_code(), 1);
    // Locally, the new trace waits for review beside the old one.
    let outcome = snapshot_run(&project, false, false);
    assert!(
        matches!(&outcome, SnapshotOutcome::Changed { pending: Some(p), .. } if p.exists()),
        "{outcome:?}"
    );
    assert_eq!(
        std::fs::read_to_string(snapshot_file(&project)).unwrap(),
        written
    );
}

#[test]
fn secrets_must_be_given_and_never_show() {
    let workflow = "name: secretive\nsecrets: [API_TOKEN]\nsteps:\n  call:\n    uses: core.http\n    with:\n      url: https://crm.test/me\n      headers: {Authorization: \"Bearer ${{ secrets.API_TOKEN }}\"}\noutputs:\n  body: ${{ steps.call.outputs.body }}\n";
    // The mocked service echoes the token back.
    let tests = "workflow: flow.yaml\ncases:\n  uses_the_token:\n    secrets: {API_TOKEN: tok-very-secret}\n    snapshot: true\n    mocks:\n      call: {outputs: {status: 200, body: hello tok-very-secret}}\n    expect:\n      outputs: {body: hello nobody}\n";
    let project = Project::new(workflow, tests);
    let report = project.run_with(snapshots(false, false));
    let text = format!(
        "{}{}{}",
        report::human(&report, Style::default()),
        report::json(&report, true),
        report::junit(&report)
    );
    assert!(text.contains("hello [redacted]"), "{text}");
    assert!(!text.contains("tok-very-secret"), "{text}");
    let pending =
        std::fs::read_to_string(project.path("snapshots/flow__uses_the_token.snap.new")).unwrap();
    assert!(!pending.contains("tok-very-secret"), "{pending}");
    assert!(
        pending.contains("Authorization: \"[redacted]\""),
        "{pending}"
    );
    project.write(
        "flow.test.yaml",
        "workflow: flow.yaml\ncases:\n  no_token: {}\n",
    );
    let report = project.run();
    assert_eq!(codes(&report), ["IDF0103"]);
}

#[test]
fn coverage_lists_steps_and_branches_no_case_reached() {
    let tests = format!("workflow: flow.yaml\ncases:\n  blocklisted:{MOCKS}");
    let project = Project::new(ENROLLMENT, &tests);
    let report = project.run();
    let coverage = report.coverage.report();
    assert_eq!(coverage.len(), 1);
    assert!(coverage[0].steps_never_run.is_empty(), "{coverage:?}");
    assert!(coverage[0].if_never_true.is_empty(), "{coverage:?}");
    assert_eq!(coverage[0].if_never_false, ["blocklisted"]);
    let text = report::human(
        &report,
        Style {
            color: false,
            coverage: true,
        },
    );
    assert!(text.contains("`if` never false: blocklisted"), "{text}");
}

#[test]
fn test_files_are_found_in_folders() {
    let project = Project::new(ENROLLMENT, "workflow: flow.yaml\ncases: {a: {}}\n");
    std::fs::create_dir_all(project.path("nested/.hidden")).unwrap();
    project.write("nested/more.test.yml", "");
    project.write("nested/.hidden/skip.test.yaml", "");
    project.write("nested/flow.yaml", "");
    let found = idflow_testing::find_test_files(&[project.dir.path().to_path_buf()]).unwrap();
    let names: Vec<&Path> = found
        .iter()
        .map(|path| path.strip_prefix(project.dir.path()).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            Path::new("flow.test.yaml"),
            Path::new("nested/more.test.yml")
        ]
    );
}

/// Runs `events` (a recorded run of the workflow in `project`) through the
/// exporter and then as a test.
fn export_and_run(project: &Project, events: &[idflow_engine::run::Event]) -> SuiteReport {
    let registry = registry();
    let source =
        idflow_engine::validate::read_source(&project.path("flow.yaml")).expect("workflow");
    let validated = idflow_engine::validate::validate(
        source,
        &registry,
        &idflow_engine::expr::ExprEngine::new(),
    );
    let workflow = std::sync::Arc::new(validated.workflow.expect("a valid workflow"));
    let case = idflow_testing::export::case_from_events(&workflow, &registry, events, "recorded")
        .expect("a finished run");
    let text = idflow_testing::export::test_file("flow.yaml", "recorded", &case);
    assert!(
        !text.contains("secret-link"),
        "a credential was exported:\n{text}"
    );
    assert!(
        text.contains("placeholder-enroll-file_upload_link"),
        "{text}"
    );
    project.write("flow.test.yaml", &text);
    project.run()
}

#[test]
fn a_recorded_run_becomes_a_test_that_passes_and_fails_when_the_outcome_logic_changes() {
    // Record a run: the simulator feeds the engine's machine the same
    // events a real run logs, and keeps them.
    let tests = format!("workflow: flow.yaml\ncases:\n  blocklisted:{MOCKS}");
    let project = Project::new(ENROLLMENT, &tests);
    let registry = registry();
    let source = idflow_engine::validate::read_source(&project.path("flow.yaml")).unwrap();
    let engine = std::sync::Arc::new(idflow_engine::expr::ExprEngine::new());
    let workflow = idflow_engine::validate::validate(source, &registry, &engine)
        .workflow
        .unwrap();
    let subject =
        idflow_testing::simulate::Subject::new(std::sync::Arc::new(workflow), &registry, engine);
    let file = idflow_testing::load::read(
        &idflow_engine::validate::read_source(&project.path("flow.test.yaml")).unwrap(),
        project.dir.path(),
    )
    .unwrap();
    let run = idflow_testing::simulate::Simulator::new()
        .unwrap()
        .run(&subject, &file.cases[0], project.dir.path(), &registry)
        .unwrap();

    let report = export_and_run(&project, &run.events);
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Passed, "{:?}", case.mismatches);
    let trace = case.trace.as_ref().unwrap();
    assert_eq!(trace.outputs["outcome"], "blocklisted");
    assert_eq!(trace.steps["enroll"].attempt_count(), 2);
    assert_eq!(
        trace.steps["upload"].attempts[0].result,
        AttemptResult::TimedOut(true)
    );

    // The outcome logic changes: the same recorded answers now lead
    // elsewhere, and the exported test says so.
    project.write(
        "flow.yaml",
        &ENROLLMENT.replace("== 'face_in_blocklist'", "== 'no_face_detected'"),
    );
    let report = project.run();
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Failed);
    let paths: Vec<&str> = case.mismatches.iter().map(|m| m.path.as_str()).collect();
    assert!(paths.contains(&"outputs.outcome"), "{paths:?}");
    assert!(paths.contains(&"steps.blocklisted.status"), "{paths:?}");
}

#[test]
fn a_run_recorded_by_the_real_driver_exports_to_a_passing_test() {
    let workflow = "name: real\nsteps:\n  first:\n    uses: core.set\n    with: {n: 1}\n  wait:\n    uses: core.sleep\n    needs: [first]\n    with: {duration: 3s}\n  count:\n    uses: core.set\n    needs: [wait]\n    with:\n      attempt: ${{ attempt }}\n      done: ${{ attempt >= 2 }}\n    until: outputs.done\n    poll: {interval: 1s}\noutputs:\n  attempts: ${{ steps.count.outputs.attempt }}\n";
    let project = Project::new(workflow, "workflow: flow.yaml\ncases: {a: {}}\n");
    let registry = registry();
    let source = idflow_engine::validate::read_source(&project.path("flow.yaml")).unwrap();
    let workflow = idflow_engine::validate::validate(
        source,
        &registry,
        &idflow_engine::expr::ExprEngine::new(),
    )
    .workflow
    .unwrap();
    let runner = idflow_engine::run::Runner::new(std::sync::Arc::new(workflow), &registry).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (result, events) = runtime.block_on(runner.run_recorded(
        idflow_engine::run::RunRequest::new(serde_json::json!({})).seed(7),
        Vec::new(),
    ));
    assert_eq!(result.status.as_str(), "succeeded");
    let workflow = std::sync::Arc::new(runner.workflow().clone());
    let case = idflow_testing::export::case_from_events(&workflow, &registry, &events, "real run")
        .unwrap();
    assert_eq!(case.mocks["count"].len(), 2);
    // The real clock's readings (paused, but read around the attempt).
    let waited =
        idflow_core::parse_duration(case.mocks["wait"][0].delay.as_deref().unwrap()).unwrap();
    assert!(
        waited.abs_diff(Duration::from_secs(3)) < Duration::from_millis(50),
        "{waited:?}"
    );
    project.write(
        "flow.test.yaml",
        &idflow_testing::export::test_file("flow.yaml", "recorded", &case),
    );
    let report = project.run();
    let case = only_case(&report);
    assert_eq!(case.status, CaseStatus::Passed, "{:?}", case.mismatches);
    assert_eq!(case.trace.as_ref().unwrap().outputs["attempts"], 2);
}
