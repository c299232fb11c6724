//! One module per `idflow` subcommand, plus what they share.

pub(crate) mod data;
pub(crate) mod events;
pub(crate) mod graph;
pub(crate) mod local_hook;
pub(crate) mod provider;
pub(crate) mod remote;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod schema;
pub(crate) mod serve;
pub(crate) mod shell;
pub(crate) mod steps;
pub(crate) mod telemetry;
pub(crate) mod test;
pub(crate) mod token;
pub(crate) mod validate;

use std::io::{IsTerminal as _, Write};
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

/// Standard output, where a command prints its results.
///
/// A reader that went away (`idflow steps | head -c 100`) is not an error:
/// writes then fail with [`StdoutClosed`] inside the `io::Error`, and
/// `main` ends the command quietly with exit 0, as other Unix tools do.
/// (Rust ignores `SIGPIPE`, so the write itself reports the closed pipe.)
pub(crate) fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// See [`stdout`].
pub(crate) struct Stdout(std::io::StdoutLock<'static>);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// Marks a broken pipe on stdout, so that it is told apart from a broken
/// connection elsewhere (a provider, a webhook), which stays an error.
fn closed(error: std::io::Error) -> std::io::Error {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        error
    }
}

/// The reader of standard output went away.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether a command stopped because its reader closed standard output.
pub(crate) fn stdout_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .is_some_and(<dyn std::error::Error + Send + Sync>::is::<StdoutClosed>)
    })
}

/// Reads and validates one file; an unreadable file is an I/O error.
pub(crate) fn load(path: &Path) -> anyhow::Result<Validated> {
    let file = read_source(path).with_context(|| format!("cannot read {}", path.display()))?;
    let registry = idflow_cli::registry::build()?;
    Ok(validate(Arc::clone(&file), &registry, &ExprEngine::new()))
}
