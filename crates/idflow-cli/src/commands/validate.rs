//! `idflow validate PATH...`: check workflow files (or every `.yaml`/`.yml`
//! file in folders) and report every problem with its place.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use idflow_engine::expr::ExprEngine;
use idflow_engine::validate::{read_source, validate};

use super::OutputFormat;
use crate::Outcome;

/// Arguments of `idflow validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Workflow files, or folders to search for `.yaml` and `.yml` files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
}

/// Every workflow file a path names (folders are searched recursively,
/// in sorted order; test files, `*.test.yaml`, are not workflows).
pub(crate) fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !metadata.is_dir() {
        // A file, or something that is not one (a device, a pipe): reading
        // it says which.
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if entry
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
            && !idflow_testing::suite::is_test_file(&entry)
        {
            out.push(entry);
        }
    }
    Ok(())
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let mut files = Vec::new();
    for path in &args.paths {
        collect_files(path, &mut files)?;
    }
    if files.is_empty() {
        anyhow::bail!("no workflow files (.yaml, .yml) found in the given paths");
    }
    let registry = idflow_cli::registry::build()?;
    let engine = ExprEngine::new();
    let mut json = Vec::new();
    let mut invalid = 0usize;
    let mut warnings = 0usize;
    let mut out = crate::commands::stdout();
    let color = super::use_color();
    for path in &files {
        let source =
            read_source(path).with_context(|| format!("cannot read {}", path.display()))?;
        let validated = validate(Arc::clone(&source), &registry, &engine);
        if validated.has_errors() {
            invalid += 1;
        }
        for report in validated.reports() {
            if !report.diagnostic.is_error() {
                warnings += 1;
            }
            match args.format {
                OutputFormat::Human => {
                    write!(out, "{}", report.render(color))?;
                    writeln!(out)?;
                }
                OutputFormat::Json => json.push(report.to_json()),
            }
        }
        if matches!(args.format, OutputFormat::Human) && !validated.has_errors() {
            writeln!(out, "{}: valid", path.display())?;
        }
    }
    match args.format {
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?,
        OutputFormat::Human => {
            writeln!(
                out,
                "{} file(s) checked: {} valid, {invalid} invalid, {warnings} warning(s)",
                files.len(),
                files.len() - invalid
            )?;
        }
    }
    Ok(if invalid == 0 {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
