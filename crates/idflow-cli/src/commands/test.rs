//! `idflow test [PATH...]`: run workflow tests written in YAML
//! (`*.test.yaml`) with mocked steps on a virtual clock, and report each
//! case (human, JSON, JUnit XML), snapshots and coverage.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use idflow_testing::report::{self, Style};
use idflow_testing::snapshot::SnapshotSettings;
use idflow_testing::{Options, Suite, find_test_files};

use super::OutputFormat;
use crate::Outcome;

/// Arguments of `idflow test`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Test files (`*.test.yaml`), or folders to search for them (default:
    /// the current folder).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Also write the results as JUnit XML to FILE (for CI systems).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Snapshot every case's trace, not only cases with `snapshot: true`.
    #[arg(long)]
    snapshot: bool,
    /// Write new and changed snapshots as accepted (instead of `.snap.new`
    /// files to review).
    #[arg(long)]
    accept: bool,
    /// List the steps and `if` branches no case reached.
    #[arg(long)]
    coverage: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let files = find_test_files(&paths).context("cannot search for test files")?;
    if files.is_empty() {
        anyhow::bail!("no test files (*.test.yaml) found in the given paths");
    }
    let registry = idflow_cli::registry::build()?;
    let options = Options {
        snapshot_all: args.snapshot,
        snapshots: SnapshotSettings::from_env(args.accept),
    };
    let suite = Suite::new(&registry, options).context("cannot start the test clock")?;
    let results = suite.run(&files);
    let mut out = crate::commands::stdout();
    match args.format {
        OutputFormat::Human => {
            let style = Style {
                color: super::use_color(),
                coverage: args.coverage,
            };
            write!(out, "{}", report::human(&results, style))?;
        }
        OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report::json(&results, args.coverage))?
        )?,
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&results))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(match results.exit_code() {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        _ => Outcome::Invalid,
    })
}
