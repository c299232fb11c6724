//! One module per `idflow` subcommand, plus what they share.

pub(crate) mod data;
pub(crate) mod graph;
pub(crate) mod provider;
pub(crate) mod remote;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod schema;
pub(crate) mod serve;
pub(crate) mod steps;
pub(crate) mod telemetry;
pub(crate) mod test;
pub(crate) mod token;
pub(crate) mod validate;

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use idflow_engine::expr::ExprEngine;
use idflow_engine::validate::{Validated, read_source, validate};

/// How a command prints what it found.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// For people.
    Human,
    /// JSON, for tools.
    Json,
}

/// Whether to color output on stdout.
pub(crate) fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Reads and validates one file; an unreadable file is an I/O error.
pub(crate) fn load(path: &Path) -> anyhow::Result<Validated> {
    let file = read_source(path).with_context(|| format!("cannot read {}", path.display()))?;
    let registry = idflow_cli::registry::build()?;
    Ok(validate(Arc::clone(&file), &registry, &ExprEngine::new()))
}
