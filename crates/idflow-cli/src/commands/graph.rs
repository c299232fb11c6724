//! `idflow graph FILE`: draw a workflow's step graph.

use std::io::Write as _;
use std::path::PathBuf;

use idflow_engine::graph::{GraphFormat, render};

use crate::Outcome;

/// Arguments of `idflow graph`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workflow file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz dot.
    Dot,
    /// JSON nodes and edges.
    Json,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let validated = super::load(&args.file)?;
    let Some(workflow) = &validated.workflow else {
        let mut err = std::io::stderr().lock();
        for report in validated.reports() {
            writeln!(err, "{}", report.render(false))?;
        }
        writeln!(
            err,
            "{} is not valid; fix it to draw its graph (`idflow validate` says more)",
            args.file.display()
        )?;
        return Ok(Outcome::Failure);
    };
    let format = match args.format {
        Format::Mermaid => GraphFormat::Mermaid,
        Format::Dot => GraphFormat::Dot,
        Format::Json => GraphFormat::Json,
    };
    write!(crate::commands::stdout(), "{}", render(workflow, format))?;
    Ok(Outcome::Success)
}
