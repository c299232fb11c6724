//! Running test files: find them, load each (and its workflow, validated
//! once however many files test it), run every case, check expectations
//! and snapshots, and collect what happened for the reports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use idflow_core::StepRegistry;
use idflow_engine::diagnostic::{Code, Diagnostic, Report};
use idflow_engine::expr::ExprEngine;
use idflow_engine::source::{SourceFile, Span};
use idflow_engine::validate::{read_source, validate};

use crate::case::{Case, TestFile};
use crate::coverage::Coverage;
use crate::expect::{self, Mismatch};
use crate::load;
use crate::simulate::{SimulationError, Simulator, Subject};
use crate::snapshot::{self, SnapshotOutcome, SnapshotSettings};
use crate::trace::Trace;

/// How a suite runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Snapshot every case, not only those with `snapshot: true`.
    pub snapshot_all: bool,
    /// What to do with new and changed snapshots.
    pub snapshots: SnapshotSettings,
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Every expectation (and the snapshot) held.
    Passed,
    /// An expectation or the snapshot did not hold.
    Failed,
    /// The case could not run to its end (a missing mock).
    Error,
}

/// Why a case could not run to its end.
#[derive(Debug, Clone)]
pub enum CaseError {
    /// A problem in the test file, found while running (a missing mock).
    Located(Report),
    /// Anything else (a run that never ends).
    Plain(String),
}

impl std::fmt::Display for CaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaseError::Located(report) => write!(f, "{report}"),
            CaseError::Plain(message) => f.write_str(message),
        }
    }
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// What it checks.
    pub description: Option<String>,
    /// How it ended.
    pub status: CaseStatus,
    /// Unmet expectations (secrets hidden).
    pub mismatches: Vec<Mismatch>,
    /// The run's trace (secrets hidden), when it ran to its end.
    pub trace: Option<Trace>,
    /// The snapshot's fate, when the case is snapshotted.
    pub snapshot: Option<SnapshotOutcome>,
    /// Why it could not run.
    pub error: Option<CaseError>,
    /// Wall-clock time the case took.
    pub elapsed: Duration,
}

/// One test file's result.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file, as given.
    pub path: PathBuf,
    /// Its problems (a file with errors runs no case).
    pub problems: Vec<Report>,
    /// Its cases.
    pub cases: Vec<CaseReport>,
}

impl FileReport {
    /// Whether the file is invalid (nothing ran).
    pub fn is_invalid(&self) -> bool {
        self.problems
            .iter()
            .any(|report| report.diagnostic.is_error())
    }
}

/// Every file's result, and what the cases covered.
#[derive(Debug, Clone, Default)]
pub struct SuiteReport {
    /// The files, in the order they ran.
    pub files: Vec<FileReport>,
    /// Steps and `if` branches reached.
    pub coverage: Coverage,
    /// Wall-clock time of the whole suite.
    pub elapsed: Duration,
}

impl SuiteReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.count(CaseStatus::Passed)
    }

    /// Cases that failed or could not run.
    pub fn failed(&self) -> usize {
        self.count(CaseStatus::Failed) + self.count(CaseStatus::Error)
    }

    /// Test files that are invalid.
    pub fn invalid_files(&self) -> usize {
        self.files.iter().filter(|file| file.is_invalid()).count()
    }

    fn count(&self, status: CaseStatus) -> usize {
        self.files
            .iter()
            .flat_map(|file| &file.cases)
            .filter(|case| case.status == status)
            .count()
    }

    /// The exit code `idflow test` ends with: 0 all passed, 1 a case
    /// failed, 2 a test file is invalid or a case could not run.
    pub fn exit_code(&self) -> u8 {
        let errors = self.count(CaseStatus::Error);
        if self.invalid_files() > 0 || errors > 0 {
            2
        } else {
            u8::from(self.failed() > 0)
        }
    }
}

/// Every `*.test.yaml` (or `.test.yml`) file `paths` name: files as given,
/// folders searched recursively (sorted, hidden folders and `target/`
/// skipped).
pub fn find_test_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        if std::fs::metadata(path)?.is_file() {
            found.push(path.clone());
            continue;
        }
        let walker = walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0
                    || !entry.file_type().is_dir()
                    || !entry
                        .file_name()
                        .to_str()
                        .is_some_and(|name| name.starts_with('.') || name == "target")
            });
        for entry in walker {
            let entry = entry.map_err(std::io::Error::other)?;
            if entry.file_type().is_file() && is_test_file(entry.path()) {
                // `./a.test.yaml` reads better as `a.test.yaml`.
                let found_path = entry.into_path();
                found.push(match found_path.strip_prefix(".") {
                    Ok(relative) if path == Path::new(".") => relative.to_path_buf(),
                    _ => found_path,
                });
            }
        }
    }
    Ok(found)
}

/// Whether a path names a test file (`*.test.yaml`, `*.test.yml`).
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(".test.yaml") || name.ends_with(".test.yml"))
}

/// Runs test files against one registry of step types.
#[derive(Debug)]
pub struct Suite<'r> {
    registry: &'r StepRegistry,
    engine: Arc<ExprEngine>,
    simulator: Simulator,
    options: Options,
    /// Validated workflows by path, each loaded once.
    workflows: HashMap<PathBuf, Result<Arc<Subject>, Vec<Report>>>,
    coverage: Coverage,
}

impl<'r> Suite<'r> {
    /// A suite whose workflows use the step types of `registry`.
    ///
    /// # Errors
    /// When the paused clock pure steps run on cannot be made.
    pub fn new(registry: &'r StepRegistry, options: Options) -> std::io::Result<Self> {
        Ok(Self {
            registry,
            engine: Arc::new(ExprEngine::new()),
            simulator: Simulator::new()?,
            options,
            workflows: HashMap::new(),
            coverage: Coverage::default(),
        })
    }

    /// Runs every file, then reports.
    pub fn run(mut self, files: &[PathBuf]) -> SuiteReport {
        let started = Instant::now();
        let files = files.iter().map(|path| self.run_file(path)).collect();
        SuiteReport {
            files,
            coverage: self.coverage,
            elapsed: started.elapsed(),
        }
    }

    /// Runs one test file.
    pub fn run_file(&mut self, path: &Path) -> FileReport {
        let mut report = FileReport {
            path: path.to_path_buf(),
            problems: Vec::new(),
            cases: Vec::new(),
        };
        let source = match read_source(path) {
            Ok(source) => source,
            Err(error) => {
                let source = SourceFile::new(path.display().to_string(), "");
                report.problems.push(Report {
                    file: source,
                    diagnostic: Diagnostic::new(
                        Code::TestWorkflow,
                        Span::new(0, 0),
                        format!("cannot read the test file: {error}"),
                    ),
                });
                return report;
            }
        };
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let locate = |diagnostic: Diagnostic| Report {
            file: Arc::clone(&source),
            diagnostic,
        };
        let file = match load::read(&source, &dir) {
            Ok(file) => file,
            Err(diagnostics) => {
                report.problems = diagnostics.into_iter().map(locate).collect();
                return report;
            }
        };
        let subject = match self.subject(&file) {
            Ok(subject) => subject,
            Err(problems) => {
                report.problems = problems;
                return report;
            }
        };
        let problems = load::check(&file, subject.workflow(), self.registry);
        if !problems.is_empty() {
            report.problems = problems.into_iter().map(locate).collect();
            return report;
        }
        let workflow_key = file.workflow_path.clone();
        for case in &file.cases {
            let case_report = self.run_case(&file, &subject, case);
            if let Some(trace) = &case_report.trace {
                self.coverage.add(&workflow_key, subject.workflow(), trace);
            }
            report.cases.push(case_report);
        }
        report
    }

    /// The validated workflow a file tests (loaded once per path).
    fn subject(&mut self, file: &TestFile) -> Result<Arc<Subject>, Vec<Report>> {
        let key = file
            .workflow_path
            .canonicalize()
            .unwrap_or_else(|_| file.workflow_path.clone());
        let pointer = |message: String| {
            Report {
            file: Arc::clone(&file.source),
            diagnostic: Diagnostic::new(Code::TestWorkflow, file.workflow_span, message)
                .label("this workflow")
                .help("`workflow:` is the workflow's path relative to the test file; `idflow validate` shows what is wrong with it"),
        }
        };
        let loaded = self.workflows.entry(key).or_insert_with(|| {
            let source = read_source(&file.workflow_path).map_err(|error| {
                vec![pointer(format!(
                    "cannot read the workflow {}: {error}",
                    file.workflow_path.display()
                ))]
            })?;
            let validated = validate(source, self.registry, &self.engine);
            match validated.workflow {
                Some(workflow) if !validated.has_errors() => Ok(Arc::new(Subject::new(
                    Arc::new(workflow),
                    self.registry,
                    Arc::clone(&self.engine),
                ))),
                _ => {
                    let mut reports = vec![pointer(format!(
                        "the workflow {} is invalid",
                        file.workflow_path.display()
                    ))];
                    reports.extend(
                        validated
                            .reports()
                            .into_iter()
                            .filter(|report| report.diagnostic.is_error()),
                    );
                    Err(reports)
                }
            }
        });
        match loaded {
            Ok(subject) => Ok(Arc::clone(subject)),
            Err(reports) => {
                // Point at this file's `workflow:`, not the first file's.
                let mut reports = reports.clone();
                if let Some(first) = reports.first_mut() {
                    *first = pointer(first.diagnostic.message.clone());
                }
                Err(reports)
            }
        }
    }

    fn run_case(&self, file: &TestFile, subject: &Subject, case: &Case) -> CaseReport {
        let started = Instant::now();
        let mut report = CaseReport {
            name: case.name.value.clone(),
            description: case.description.clone(),
            status: CaseStatus::Passed,
            mismatches: Vec::new(),
            trace: None,
            snapshot: None,
            error: None,
            elapsed: Duration::ZERO,
        };
        match self.simulator.run(subject, case, &file.dir, self.registry) {
            Ok(run) => {
                let mismatches = expect::check(&case.expect, &run.trace);
                let trace = run.trace.redacted(&run.redactor);
                if case.snapshot || self.options.snapshot_all {
                    let outcome = snapshot::check(
                        &snapshot::Target::new(file, case),
                        &trace.to_yaml(),
                        self.options.snapshots,
                    );
                    if !outcome.passed() {
                        report.status = CaseStatus::Failed;
                    }
                    report.snapshot = Some(outcome);
                }
                if !mismatches.is_empty() {
                    report.status = CaseStatus::Failed;
                }
                report.mismatches = mismatches
                    .iter()
                    .map(|mismatch| mismatch.redacted(&run.redactor))
                    .collect();
                report.trace = Some(trace);
            }
            Err(error) => {
                report.status = CaseStatus::Error;
                report.error = Some(match error {
                    SimulationError::MissingMock(diagnostic) => CaseError::Located(Report {
                        file: Arc::clone(&file.source),
                        diagnostic: *diagnostic,
                    }),
                    other => CaseError::Plain(other.to_string()),
                });
            }
        }
        report.elapsed = started.elapsed();
        report
    }
}
