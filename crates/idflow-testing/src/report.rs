//! A suite's results for people ([`human`]: one line per case, a diff and
//! the path the run took for each failure, a summary line), for tools
//! ([`json`]) and for CI systems ([`junit`], JUnit XML as Jenkins, GitLab
//! and GitHub read it). Everything shown here was redacted already.

use std::fmt::Write as _;

use idflow_engine::diagnostic::JsonDiagnostic;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde::Serialize;
use serde_json::Value;

use crate::coverage::WorkflowCoverage;
use crate::expect::Mismatch;
use crate::snapshot::SnapshotOutcome;
use crate::suite::{CaseError, CaseReport, CaseStatus, FileReport, SuiteReport};
use crate::trace::Trace;

/// How the human report looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colors.
    pub color: bool,
    /// List what no case reached.
    pub coverage: bool,
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// The report for a terminal.
pub fn human(report: &SuiteReport, style: Style) -> String {
    let paint = |color: &str, text: &str| {
        if style.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for file in &report.files {
        let path = file.path.display();
        if file.is_invalid() {
            let _ = writeln!(out, "{} {path}", paint(RED, "INVALID"));
            for problem in &file.problems {
                out.push_str(&indent(&problem.render(style.color), 4));
            }
            continue;
        }
        for case in &file.cases {
            let (label, color) = match case.status {
                CaseStatus::Passed => ("PASS ", GREEN),
                CaseStatus::Failed => ("FAIL ", RED),
                CaseStatus::Error => ("ERROR", RED),
            };
            let mut line = format!("{} {path} › {}", paint(color, label), case.name);
            if let Some(SnapshotOutcome::Accepted { .. }) = &case.snapshot {
                line.push_str(&paint(YELLOW, " (snapshot written)"));
            }
            let _ = writeln!(out, "{line}");
            if case.status != CaseStatus::Passed {
                out.push_str(&indent(&failure_text(case, style), 4));
            }
        }
    }
    if style.coverage {
        out.push_str(&coverage_text(&report.coverage.report()));
    }
    let mut summary = format!("{} passed, {} failed", report.passed(), report.failed());
    let invalid = report.invalid_files();
    if invalid > 0 {
        let _ = write!(summary, ", {invalid} invalid test file{}", plural(invalid));
    }
    let _ = writeln!(
        out,
        "\n{summary} {}",
        paint(DIM, &format!("({} ms)", report.elapsed.as_millis()))
    );
    out
}

/// Why a case did not pass: its error, its unmet expectations as a diff,
/// its snapshot's fate, and the path the run took.
pub fn failure_text(case: &CaseReport, style: Style) -> String {
    let mut out = String::new();
    if let Some(description) = &case.description {
        let _ = writeln!(out, "{description}");
    }
    match &case.error {
        Some(CaseError::Located(report)) => out.push_str(&report.render(style.color)),
        Some(CaseError::Plain(message)) => {
            let _ = writeln!(out, "error: {message}");
        }
        None => {}
    }
    if !case.mismatches.is_empty() {
        let _ = writeln!(out, "expected (-) and actual (+):");
        for mismatch in &case.mismatches {
            let minus = format!("- {}: {}", mismatch.path, shown(&mismatch.expected));
            let plus = format!("+ {}: {}", mismatch.path, shown(&mismatch.actual));
            if style.color {
                let _ = writeln!(out, "  {RED}{minus}{RESET}\n  {GREEN}{plus}{RESET}");
            } else {
                let _ = writeln!(out, "  {minus}\n  {plus}");
            }
        }
    }
    match &case.snapshot {
        Some(SnapshotOutcome::New { path, pending }) => {
            let _ = writeln!(
                out,
                "new snapshot {}{}",
                path.display(),
                review_hint(pending.as_ref())
            );
        }
        Some(SnapshotOutcome::Changed {
            path,
            pending,
            diff,
        }) => {
            let _ = writeln!(
                out,
                "snapshot {} changed{}",
                path.display(),
                review_hint(pending.as_ref())
            );
            out.push_str(&indent(diff, 2));
        }
        Some(SnapshotOutcome::Unusable { path, reason }) => {
            let _ = writeln!(out, "snapshot {}: {reason}", path.display());
        }
        _ => {}
    }
    if let Some(trace) = &case.trace {
        let _ = writeln!(out, "the path the run took ({}):", trace.status);
        for line in trace.path_lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

fn review_hint(pending: Option<&std::path::PathBuf>) -> String {
    match pending {
        Some(pending) => format!(
            "; the new one is in {} (`cargo insta review`, or run again with --accept)",
            pending.display()
        ),
        None => " (in CI nothing is written: run `idflow test` locally and commit the reviewed snapshot)".to_owned(),
    }
}

fn coverage_text(coverage: &[WorkflowCoverage]) -> String {
    let mut out = String::new();
    for workflow in coverage {
        let _ = writeln!(
            out,
            "\ncoverage of {} ({} case{}):",
            workflow.workflow,
            workflow.cases,
            plural(workflow.cases)
        );
        if workflow.is_complete() {
            let _ = writeln!(out, "  every step ran and every `if` went both ways");
            continue;
        }
        for (what, steps) in [
            ("steps never run", &workflow.steps_never_run),
            ("`if` never true", &workflow.if_never_true),
            ("`if` never false", &workflow.if_never_false),
        ] {
            if !steps.is_empty() {
                let _ = writeln!(out, "  {what}: {}", steps.join(", "));
            }
        }
    }
    out
}

/// A value in a diff line: JSON, `(nothing)` for null.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "(nothing)".to_owned(),
        Value::String(text) => format!("{text:?}"),
        other => other.to_string(),
    }
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    let mut out = String::new();
    for line in text.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
    out
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The report as `idflow test --format json` prints it.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed or could not run.
    pub failed: usize,
    /// Test files that are invalid.
    pub invalid_files: usize,
    /// Every file.
    pub files: Vec<JsonFile<'a>>,
    /// What no case reached (with `--coverage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Vec<WorkflowCoverage>>,
}

/// One file in the JSON report.
#[derive(Debug, Serialize)]
pub struct JsonFile<'a> {
    /// The path, as given.
    pub path: String,
    /// Its problems (errors make it invalid).
    pub diagnostics: Vec<JsonDiagnostic>,
    /// Its cases.
    pub cases: Vec<JsonCase<'a>>,
}

/// One case in the JSON report.
#[derive(Debug, Serialize)]
pub struct JsonCase<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it checks.
    pub description: Option<&'a str>,
    /// `passed`, `failed` or `error`.
    pub status: CaseStatus,
    /// Unmet expectations.
    pub mismatches: &'a [Mismatch],
    /// Why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Its snapshot's fate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<&'a SnapshotOutcome>,
    /// What the run did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<&'a Trace>,
    /// The path the run took, one line per thing that happened.
    pub path: Vec<String>,
    /// Wall-clock milliseconds.
    pub elapsed_ms: f64,
}

/// The report as JSON.
pub fn json(report: &SuiteReport, coverage: bool) -> Value {
    let files = report
        .files
        .iter()
        .map(|file| JsonFile {
            path: file.path.display().to_string(),
            diagnostics: file
                .problems
                .iter()
                .map(idflow_engine::diagnostic::Report::to_json)
                .collect(),
            cases: file.cases.iter().map(json_case).collect(),
        })
        .collect();
    let report = JsonReport {
        passed: report.passed(),
        failed: report.failed(),
        invalid_files: report.invalid_files(),
        files,
        coverage: coverage.then(|| report.coverage.report()),
    };
    serde_json::to_value(report).unwrap_or(Value::Null)
}

fn json_case(case: &CaseReport) -> JsonCase<'_> {
    JsonCase {
        name: &case.name,
        description: case.description.as_deref(),
        status: case.status,
        mismatches: &case.mismatches,
        error: case.error.as_ref().map(|error| match error {
            CaseError::Located(report) => {
                serde_json::to_value(report.to_json()).unwrap_or(Value::Null)
            }
            CaseError::Plain(message) => serde_json::json!({ "message": message }),
        }),
        snapshot: case.snapshot.as_ref(),
        trace: case.trace.as_ref(),
        path: case
            .trace
            .as_ref()
            .map(Trace::path_lines)
            .unwrap_or_default(),
        elapsed_ms: case.elapsed.as_secs_f64() * 1000.0,
    }
}

/// The report as JUnit XML: one `<testsuite>` per test file, one
/// `<testcase>` per case; an unmet expectation is a `<failure>`, a case
/// that could not run or an invalid file is an `<error>`.
pub fn junit(report: &SuiteReport) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let _ = write_junit(&mut writer, report);
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

fn write_junit(writer: &mut Writer<Vec<u8>>, report: &SuiteReport) -> std::io::Result<()> {
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let tests: usize = report
        .files
        .iter()
        .map(|file| file.cases.len().max(usize::from(file.is_invalid())))
        .sum();
    let errors = report.invalid_files()
        + report
            .files
            .iter()
            .flat_map(|file| &file.cases)
            .filter(|case| case.status == CaseStatus::Error)
            .count();
    let failures = report.failed() + report.invalid_files() - errors;
    writer
        .create_element("testsuites")
        .with_attribute(("name", "idflow test"))
        .with_attribute(("tests", tests.to_string().as_str()))
        .with_attribute(("failures", failures.to_string().as_str()))
        .with_attribute(("errors", errors.to_string().as_str()))
        .with_attribute(("time", seconds(report.elapsed).as_str()))
        .write_inner_content(|writer| {
            for file in &report.files {
                write_suite(writer, file)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_suite(writer: &mut Writer<Vec<u8>>, file: &FileReport) -> std::io::Result<()> {
    let path = file.path.display().to_string();
    let count = |status: CaseStatus| {
        file.cases
            .iter()
            .filter(|case| case.status == status)
            .count()
    };
    let invalid = usize::from(file.is_invalid());
    let time: std::time::Duration = file.cases.iter().map(|case| case.elapsed).sum();
    writer
        .create_element("testsuite")
        .with_attribute(("name", path.as_str()))
        .with_attribute(("tests", (file.cases.len() + invalid).to_string().as_str()))
        .with_attribute(("failures", count(CaseStatus::Failed).to_string().as_str()))
        .with_attribute((
            "errors",
            (count(CaseStatus::Error) + invalid).to_string().as_str(),
        ))
        .with_attribute(("skipped", "0"))
        .with_attribute(("time", seconds(time).as_str()))
        .with_attribute(("file", path.as_str()))
        .write_inner_content(|writer| {
            if file.is_invalid() {
                let text: String = file
                    .problems
                    .iter()
                    .map(|problem| problem.render(false) + "\n")
                    .collect();
                let message = file
                    .problems
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                writer
                    .create_element("testcase")
                    .with_attribute(("name", "(test file)"))
                    .with_attribute(("classname", path.as_str()))
                    .write_inner_content(|writer| {
                        writer
                            .create_element("error")
                            .with_attribute(("type", "invalid_test_file"))
                            .with_attribute(("message", xml_text(&message).as_str()))
                            .write_text_content(BytesText::new(&xml_text(&text)))?;
                        Ok(())
                    })?;
            }
            for case in &file.cases {
                let element = writer
                    .create_element("testcase")
                    .with_attribute(("name", case.name.as_str()))
                    .with_attribute(("classname", path.as_str()))
                    .with_attribute(("time", seconds(case.elapsed).as_str()));
                if case.status == CaseStatus::Passed {
                    element.write_empty()?;
                    continue;
                }
                let (kind, kind_type, message) = match &case.error {
                    Some(error) => ("error", "case_error", error.to_string()),
                    None => ("failure", "expectation", failure_summary(case)),
                };
                let text = failure_text(case, Style::default());
                element.write_inner_content(|writer| {
                    writer
                        .create_element(kind)
                        .with_attribute(("type", kind_type))
                        .with_attribute(("message", xml_text(&message).as_str()))
                        .write_text_content(BytesText::new(&xml_text(&text)))?;
                    Ok(())
                })?;
            }
            Ok(())
        })?;
    Ok(())
}

fn failure_summary(case: &CaseReport) -> String {
    let mut parts = Vec::new();
    if !case.mismatches.is_empty() {
        parts.push(format!(
            "{} expectation{} not met",
            case.mismatches.len(),
            plural(case.mismatches.len())
        ));
    }
    match &case.snapshot {
        Some(SnapshotOutcome::New { .. }) => parts.push("new snapshot".to_owned()),
        Some(SnapshotOutcome::Changed { .. }) => parts.push("snapshot changed".to_owned()),
        Some(SnapshotOutcome::Unusable { reason, .. }) => parts.push(format!("snapshot: {reason}")),
        _ => {}
    }
    parts.join("; ")
}

/// Seconds with three decimals, as JUnit readers expect.
fn seconds(duration: std::time::Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Text XML 1.0 can hold: control characters other than tab and line
/// breaks (and ANSI escapes with them) are dropped.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect()
}
