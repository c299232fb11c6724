//! The `idflow` binary end to end: commands, output formats, exit codes,
//! and runs of real workflows.

use idflow_tests::idflow;
use serde_json::Value;

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn validate_accepts_every_shipped_workflow() {
    let output = idflow().args(["validate", "workflows"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 invalid, 0 warning(s)"), "{stdout}");
}

#[test]
fn validate_reports_located_json_diagnostics_and_exits_1() {
    let output = idflow()
        .args([
            "validate",
            "--format",
            "json",
            "tests/fixtures/invalid/IDF0003-misspelt-step-key.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let diagnostics = stdout_json(&output);
    let first = &diagnostics[0];
    assert_eq!(first["code"], "IDF0003");
    assert_eq!(first["severity"], "error");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(10), Some(5))
    );
    assert_eq!(first["help"], "did you mean `needs`?");
}

#[test]
fn validate_renders_the_source_line_with_a_caret_and_help() {
    let output = idflow()
        .args([
            "validate",
            "tests/fixtures/invalid/IDF0008-unknown-step-type.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("IDF0008"), "{stdout}");
    assert!(stdout.contains("uses: core.logg"), "{stdout}");
    assert!(stdout.contains("did you mean `core.log`?"), "{stdout}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let missing = idflow()
        .args(["validate", "no/such/file.yaml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read no/such/file.yaml"));
    let usage = idflow().args(["validate"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn graph_draws_every_format() {
    let mermaid = idflow()
        .args(["graph", "workflows/hello-world.yaml"])
        .output()
        .unwrap();
    let mermaid = String::from_utf8_lossy(&mermaid.stdout);
    assert!(mermaid.contains("s_greet --> s_count"), "{mermaid}");
    // The logic shows: the gate's loop, and the `if` in the box.
    assert!(
        mermaid.contains("s_count -.->|\"until done\"| s_count"),
        "{mermaid}"
    );
    assert!(mermaid.contains("<br/>if: always()"), "{mermaid}");
    let dot = idflow()
        .args(["graph", "workflows/hello-world.yaml", "--format", "dot"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dot.stdout).contains("\"count\" -> \"summary\";"));
    let json = stdout_json(
        &idflow()
            .args(["graph", "workflows/hello-world.yaml", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(json["edges"].as_array().map(Vec::len), Some(3));
}

/// `idflow steps | head -c 100`: a reader that closes the pipe early is
/// not an error. The read end is closed before the binary starts, so its
/// first write meets the closed pipe every time (no race with a reader).
#[test]
fn a_closed_stdout_ends_quietly_with_exit_0() {
    for args in [
        &["steps"][..],
        &["steps", "--format", "json"],
        &["schema"],
        &["graph", "workflows/face-enrollment.yaml"],
        &["graph", "workflows/face-enrollment.yaml", "--format", "dot"],
        &["validate", "workflows"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(idflow_tests::idflow_bin())
            .current_dir(idflow_tests::repo_root())
            .env("NO_COLOR", "1")
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

/// A step's own log line (`core.log`) carries the run id, workflow, step
/// and attempt once each, in JSON and in text.
#[test]
fn a_steps_log_line_names_each_field_once() {
    let json = idflow()
        .args([
            "run",
            "workflows/hello-world.yaml",
            "--ephemeral",
            "--log-format",
            "json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert_eq!(json.status.code(), Some(0), "{stderr}");
    let greeting: Value = stderr
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .find(|line| line["message"] == "hello world")
        .unwrap_or_else(|| panic!("no greeting: {stderr}"));
    let keys: Vec<&str> = greeting
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "timestamp",
            "level",
            "message",
            "run_id",
            "workflow",
            "attempt",
            "step"
        ],
        "{greeting}"
    );
    assert_eq!(
        (
            &greeting["workflow"],
            &greeting["step"],
            &greeting["attempt"]
        ),
        (
            &Value::from("hello-world"),
            &Value::from("greet"),
            &Value::from(1)
        )
    );

    let text = idflow()
        .args(["run", "workflows/hello-world.yaml", "--ephemeral"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&text.stderr);
    let line = stderr
        .lines()
        .find(|line| line.contains(" hello world"))
        .unwrap_or_else(|| panic!("no greeting: {stderr}"));
    for field in ["run_id=", "workflow=", "step=", "attempt="] {
        assert_eq!(line.matches(field).count(), 1, "{field} in {line}");
    }
    assert!(line.contains("step=greet attempt=1"), "{line}");
}

#[test]
fn schema_and_steps_describe_the_registered_step_types() {
    let schema = stdout_json(&idflow().arg("schema").output().unwrap());
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let steps = stdout_json(
        &idflow()
            .args(["steps", "--format", "json"])
            .output()
            .unwrap(),
    );
    let names: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        names.contains(&"core.http") && names.contains(&"core.set"),
        "{names:?}"
    );
    let http = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "core.http")
        .unwrap();
    assert_eq!(
        http["credential_inputs"],
        serde_json::json!(["headers", "query", "json", "form", "body"])
    );
    let human = idflow().arg("steps").output().unwrap();
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("core.sleep"));
    // Where secrets may go, and which outputs are secrets.
    assert!(human.contains("      headers (credential): "), "{human}");
    assert!(human.contains("      url (required): "), "{human}");
    assert!(
        human.contains("      file_upload_link (required, credential): "),
        "{human}"
    );
    assert!(
        human.contains("      verification_url (sensitive): "),
        "{human}"
    );
}

#[test]
fn run_shows_conditions_skips_polling_with_attempt_and_outputs() {
    let output = idflow()
        .args([
            "run",
            "workflows/hello-world.yaml",
            "--json",
            "--input",
            "who=ana",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result = stdout_json(&output);
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["steps"]["greet_loudly"]["status"], "skipped");
    assert_eq!(result["steps"]["count"]["attempts"], 3);
    assert_eq!(
        result["outputs"],
        serde_json::json!({"greeted": "ana", "attempts": 3, "loud": "skipped"})
    );
    let loud = stdout_json(
        &idflow()
            .args([
                "run",
                "workflows/hello-world.yaml",
                "--json",
                "--input",
                "shout=true",
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(loud["outputs"]["loud"], "succeeded");
}

#[test]
fn independent_steps_overlap_and_secrets_never_surface() {
    let secret = "s3cr3t-token-value-42";
    let output = idflow()
        .args([
            "run",
            "tests/fixtures/run/parallel-and-secrets.yaml",
            "--json",
        ])
        .env("IDFLOW_TEST_TOKEN", secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        !stdout.contains(secret),
        "secret in the run result: {stdout}"
    );
    assert!(!stderr.contains(secret), "secret in the logs: {stderr}");
    let result = stdout_json(&output);
    // Both sleeps started before either finished: they ran at once.
    let time = |step: &str, field: &str| result["steps"][step][field].as_str().unwrap().to_owned();
    assert!(time("slow_b", "started_at") < time("slow_a", "finished_at"));
    assert!(time("slow_a", "started_at") < time("slow_b", "finished_at"));
    assert_eq!(result["steps"]["flaky"]["status"], "failed");
    assert_eq!(
        result["steps"]["flaky"]["error"]["code"], "connection",
        "{stdout}"
    );
    assert!(stderr.contains("both branches are done"), "{stderr}");
}

#[test]
fn a_failed_run_exits_1_and_runs_its_cleanup() {
    let output = idflow()
        .args(["run", "tests/fixtures/run/fails.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("broken: failed: the document was rejected (failed)"),
        "{stdout}"
    );
    assert!(stdout.contains("skipped: skipped"), "{stdout}");
    assert!(stdout.contains("cleanup: succeeded"), "{stdout}");
}

#[test]
fn bad_inputs_and_missing_secrets_stop_the_run_before_it_starts() {
    let output = idflow()
        .args([
            "run",
            "workflows/hello-world.yaml",
            "--input",
            "shout=loud",
            "--input",
            "whom=x",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the input `shout` must be true or false"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no input `whom` (did you mean `who`?)"),
        "{stderr}"
    );
    let output = idflow()
        .args(["run", "tests/fixtures/run/parallel-and-secrets.yaml"])
        .env_remove("IDFLOW_TEST_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("set the environment variable IDFLOW_TEST_TOKEN")
    );
}

#[test]
fn an_invalid_workflow_does_not_run_and_exits_2() {
    let output = idflow()
        .args(["run", "tests/fixtures/invalid/IDF0010-cycle-of-two.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("IDF0010"));
}

#[test]
fn ctrl_c_cancels_the_run_cleanly_runs_cleanup_and_exits_130() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(idflow_tests::idflow_bin())
        .args(["run", "tests/fixtures/run/long-wait.yaml", "--json"])
        .current_dir(idflow_tests::repo_root())
        .env("NO_COLOR", "1")
        .env("IDFLOW_DATA", idflow_tests::scratch_data_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the step is running (progress goes to stderr), then
    // interrupt like Ctrl-C does.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("wait: running") {
            break;
        }
    }
    assert!(seen.contains("wait: running"), "{seen}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{seen}{}", rest.join("\n"));
    let result = stdout_json(&output);
    assert_eq!(result["status"], "cancelled");
    assert_eq!(result["steps"]["wait"]["status"], "cancelled");
    assert_eq!(result["steps"]["cleanup"]["status"], "succeeded");
}

/// `idflow completions SHELL` prints a completion script that knows the
/// subcommands; bash accepts the bash one.
#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _idflow"),
        ("zsh", "#compdef idflow"),
        ("fish", "complete -c idflow"),
    ] {
        let output = idflow().args(["completions", shell]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("validate") && script.contains("clients"),
            "{shell}"
        );
    }
    let script = idflow()
        .args(["completions", "bash"])
        .output()
        .unwrap()
        .stdout;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idflow.bash");
    std::fs::write(&path, script).unwrap();
    let sourced = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p idflow", path.display()))
        .output()
        .unwrap();
    assert!(
        sourced.status.success(),
        "{}",
        String::from_utf8_lossy(&sourced.stderr)
    );
    let unknown = idflow().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

/// `idflow man` prints the roff page of idflow; `--out-dir` writes one
/// page per command.
#[test]
fn man_pages_are_printed_and_written() {
    let output = idflow().arg("man").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH idflow 1"),
        "{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS", ".SH VERSION"] {
        assert!(page.contains(section), "{section} in {page}");
    }
    assert!(page.contains("idflow\\-validate"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let written = idflow()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        written.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    for page in [
        "idflow.1",
        "idflow-run.1",
        "idflow-provider-clients-rotate.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".SH NAME"), "{page}");
    }
}

/// `idflow --version` names the commit it was built from: one of this
/// repository's.
#[test]
fn version_names_the_commit_it_was_built_from() {
    let output = idflow().arg("--version").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let commit = version
        .strip_prefix(concat!("idflow ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{version}"));
    assert!(
        commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{version}"
    );
    let known = std::process::Command::new("git")
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .current_dir(idflow_tests::repo_root())
        .status()
        .unwrap();
    assert!(
        known.success(),
        "{commit} is not a commit of this repository"
    );
}

/// `scripts/pre-commit`, the hook the authoring guide describes: it
/// validates the staged workflow files (those naming the schema in their
/// first line) and stops a commit with an invalid one.
#[test]
fn the_pre_commit_hook_stops_a_commit_with_an_invalid_workflow() {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    git(&["init", "-q"]);
    let line = "# yaml-language-server: $schema=../docs/workflow.schema.json\n";
    std::fs::create_dir(repo.path().join("flows")).unwrap();
    let hello =
        std::fs::read_to_string(idflow_tests::repo_root().join("workflows/hello-world.yaml"))
            .unwrap();
    std::fs::write(repo.path().join("flows/good.yaml"), &hello).unwrap();
    // Not a workflow (no schema line): left alone.
    std::fs::write(repo.path().join("config.yaml"), "anything: [at all\n").unwrap();
    git(&["add", "."]);
    let hook = || {
        std::process::Command::new(idflow_tests::repo_root().join("scripts/pre-commit"))
            .current_dir(repo.path())
            .env("IDFLOW", idflow_tests::idflow_bin())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let passed = hook();
    assert!(
        passed.status.success(),
        "{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    assert!(String::from_utf8_lossy(&passed.stdout).contains("flows/good.yaml: valid"));

    // The staged text is checked, not the work tree.
    let typo = format!(
        "{line}name: typo\nsteps:\n  hello:\n    uses: core.log\n    neds: [nothing]\n    with:\n      message: hi\n"
    );
    std::fs::write(repo.path().join("flows/typo.yaml"), &typo).unwrap();
    git(&["add", "flows/typo.yaml"]);
    std::fs::write(repo.path().join("flows/typo.yaml"), &hello).unwrap();
    let stopped = hook();
    assert_eq!(stopped.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&stopped.stdout);
    assert!(
        stdout.contains("flows/typo.yaml:6:5: error IDF0003"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&stopped.stderr)
            .contains("pre-commit: fix the workflow files above")
    );
}
