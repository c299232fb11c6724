//! Hostile inputs through the real binary (issue 17, "The workflow
//! language"): deep and huge expressions, wide lines, thousands of
//! diagnostics, special files. Each command must end with exit code 0, 1 or
//! 2 (never a panic's 101 or an abort's 134), say what is wrong, and stay
//! under 512 MB of memory. How long they take is measured by the
//! `hostile` benchmark, not here.

use std::path::Path;
use std::process::Output;

use idflow_tests::hostile::{Case, cases};
use idflow_tests::idflow;
use serde_json::Value;

/// The most memory (resident, in KiB) one command may use.
const MAX_RSS_KIB: u64 = 512 * 1024;

/// Runs the binary under `/usr/bin/time` (installed by scripts/setup) and
/// returns its output and its peak resident memory in KiB.
fn run_measured(args: &[&str], dir: &Path) -> (Output, u64) {
    let report = dir.join("time.txt");
    let output = std::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(idflow_tests::idflow_bin())
        .args(args)
        .current_dir(dir)
        .env("IDFLOW_DATA", dir.join("idflow-data"))
        .output()
        .expect("/usr/bin/time runs (scripts/setup installs the `time` package)");
    let rss = std::fs::read_to_string(&report)
        .ok()
        .and_then(|text| text.lines().last()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no memory figure from /usr/bin/time for {args:?}"));
    (output, rss)
}

fn check_ends_cleanly(case: &str, args: &[&str], output: &Output, rss_kib: u64) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{case}: `idflow {}` ended with {:?}: {stderr}",
        args.join(" "),
        output.status
    );
    assert!(!stderr.contains("internal error"), "{case}: {stderr}");
    assert!(
        rss_kib <= MAX_RSS_KIB,
        "{case}: `idflow {}` used {rss_kib} KiB",
        args.join(" ")
    );
}

fn json_diagnostics(output: &Output) -> Vec<Value> {
    serde_json::from_slice::<Vec<Value>>(&output.stdout)
        .expect("validate --format json prints a JSON list")
}

fn write_case(dir: &Path, case: &Case) -> String {
    let file = format!("{}.yaml", case.name);
    std::fs::write(dir.join(&file), &case.text).expect("the temporary folder is writable");
    file
}

#[test]
fn every_reproduction_ends_with_a_diagnostic_or_a_clean_failure_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let file = write_case(dir.path(), &case);
        let mut outputs = Vec::new();
        for args in [
            vec!["validate", file.as_str()],
            vec!["validate", "--format", "json", file.as_str()],
            vec!["graph", file.as_str()],
        ] {
            let (output, rss) = run_measured(&args, dir.path());
            check_ends_cleanly(case.name, &args, &output, rss);
            outputs.push(output);
        }
        let expected = i32::from(!case.valid);
        assert_eq!(outputs[0].status.code(), Some(expected), "{}", case.name);
        assert_eq!(outputs[2].status.code(), Some(expected), "{}", case.name);
        let diagnostics = json_diagnostics(&outputs[1]);
        match case.name {
            "deep-unary-minus" | "deep-not" | "long-sum" | "long-concatenation" => {
                assert_eq!(diagnostics.len(), 1, "{}: {diagnostics:?}", case.name);
                assert_eq!(diagnostics[0]["code"], "IDF0021", "{}", case.name);
                let message = diagnostics[0]["message"].as_str().unwrap();
                assert!(message.contains("too complex"), "{message}");
            }
            "wide-line" => {
                assert_eq!(diagnostics[0]["code"], "IDF0001");
                assert_eq!(diagnostics[0]["column"], 70_001);
                // The human form shows the place, clipped around it.
                let human = String::from_utf8_lossy(&outputs[0].stdout);
                assert!(human.contains("wide-line.yaml:1:70001"), "{human}");
                assert!(
                    human.lines().all(|line| line.chars().count() < 400),
                    "{human}"
                );
            }
            "dead-chain" => {
                assert_eq!(diagnostics.len(), 20_000);
                assert!(diagnostics.iter().all(|d| d["code"] == "IDF1001"));
                assert_eq!(diagnostics[19_999]["line"], 8 + 5 * 19_998);
            }
            _ => assert_eq!(diagnostics, Vec::<Value>::new(), "{}", case.name),
        }
    }
}

#[test]
fn runaway_expressions_fail_their_step_with_an_expression_error() {
    let dir = tempfile::tempdir().unwrap();
    for (name, reason) in [
        ("tojson-indent", "tojson indents by at most 32 spaces"),
        ("list-repetition-in-with", "ran too long"),
        ("membership-in-a-repetition", "ran too long"),
        ("deep-unary-minus", "IDF0021"),
    ] {
        let case = cases().into_iter().find(|case| case.name == name).unwrap();
        let file = write_case(dir.path(), &case);
        let args = ["run", file.as_str()];
        let (output, rss) = run_measured(&args, dir.path());
        check_ends_cleanly(name, &args, &output, rss);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let expected = if case.valid { 1 } else { 2 };
        assert_eq!(output.status.code(), Some(expected), "{name}: {said}");
        assert!(said.contains(reason), "{name}: {said}");
        if case.valid {
            // The step fails with the terminal error `expression`.
            assert!(said.contains("error=expression: "), "{name}: {said}");
        }
    }
}

#[test]
fn special_files_are_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("echo.yaml");
    std::fs::write(
        &workflow,
        "name: echo\ninputs:\n  x:\n    type: string\nsteps:\n  a:\n    uses: core.log\n    with:\n      message: \"${{ inputs.x }}\"\n",
    )
    .unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let fifo = fifo.to_str().unwrap();
    let workflow = workflow.to_str().unwrap();
    for (args, says) in [
        (
            vec!["validate", "/dev/zero"],
            "it is a character device, not a regular file",
        ),
        (
            vec!["validate", fifo],
            "it is a named pipe, not a regular file",
        ),
        (vec!["graph", "/dev/zero"], "it is a character device"),
        (vec!["run", "/dev/zero"], "it is a character device"),
        (vec!["run", fifo], "it is a named pipe"),
        (
            vec!["run", workflow, "--input", "x=@/dev/zero"],
            "cannot read the value of input `x` from /dev/zero: it is a character device",
        ),
        (
            vec!["run", workflow, "--inputs", "/dev/zero"],
            "cannot read inputs from /dev/zero: it is a character device",
        ),
    ] {
        let (output, rss) = run_measured(&args, dir.path());
        check_ends_cleanly("special file", &args, &output, rss);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // A regular file of the right size still works.
    let value = dir.path().join("value.txt");
    std::fs::write(&value, "from a file\n").unwrap();
    idflow()
        .args([
            "run",
            workflow,
            "--input",
            &format!("x=@{}", value.display()),
        ])
        .assert()
        .success();
}
