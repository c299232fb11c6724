//! The `idflow` binary.
//!
//! ## Layout
//! - [`commands`]: one module per subcommand.
//! - the registry of step types comes from the library half
//!   (`idflow_cli::registry`).
//!
//! Exit codes: 0 success, 1 the thing checked or run failed (an invalid
//! workflow, a failed run, a failed test case), 2 usage or I/O errors (and
//! invalid test files), 130 interrupted. A closed standard output (`idflow
//! steps | head`) ends a command quietly with 0.

mod commands;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// `idflow --version`: the version and the git commit it was built from
/// (`build.rs`).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("IDFLOW_COMMIT"), ")");

/// idflow: compose identity-verification flows as YAML step graphs.
#[derive(Debug, Parser)]
#[command(name = "idflow", version = VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow.
    Run(commands::run::Args),
    /// Check workflow files and report every problem with its place.
    Validate(commands::validate::Args),
    /// Draw a workflow's step graph.
    Graph(commands::graph::Args),
    /// Run workflow tests (`*.test.yaml`): mocked steps, virtual time.
    Test(commands::test::Args),
    /// Print the JSON Schema of the workflow format, or of test files (for editors).
    Schema(commands::schema::Args),
    /// List the step types this binary can run.
    Steps(commands::steps::Args),
    /// Run the idflow server: the runs API, a worker executing runs, and the embedded identity provider.
    Serve(commands::serve::Args),
    /// Make, list and revoke the server's API tokens.
    Token(commands::token::Args),
    /// Send outside events to the run steps that wait for them.
    Events(commands::events::Args),
    /// Administer the embedded identity provider's data (clients).
    Provider(commands::provider::Args),
    /// List, show, resume, cancel and prune the runs kept in the data directory.
    Runs(commands::runs::Args),
    /// Print the shell completion script of idflow (bash, zsh, fish, elvish, powershell).
    Completions(commands::shell::CompletionsArgs),
    /// Print the manual page of idflow (roff), or write one page per command.
    Man(commands::shell::ManArgs),
}

/// How a command ended, as an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything went well.
    Success,
    /// The workflow is invalid (validate), or the run failed.
    Failure,
    /// The workflow or the inputs are invalid, so nothing ran.
    Invalid,
    /// The user interrupted the run.
    Interrupted,
}

/// A panic (a bug, in idflow or in a step) is reported without its
/// message, which could quote a secret the step was handling.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map_or_else(String::new, |location| {
            format!(" at {}:{}", location.file(), location.line())
        });
        let text = format!(
            "idflow: internal error{place}; please report it (the message is withheld: it may contain secrets)"
        );
        if commands::run::progress::json_logs() {
            tracing::error!("{text}");
        } else {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{text}");
            }
        }
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::Test(args) => commands::test::run(&args),
        Command::Schema(args) => commands::schema::run(&args),
        Command::Steps(args) => commands::steps::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Token(args) => commands::token::run(&args),
        Command::Events(args) => commands::events::run(&args),
        Command::Provider(args) => commands::provider::run(&args),
        Command::Runs(args) => commands::runs::run(&args),
        Command::Completions(args) => commands::shell::completions(&args, Cli::command()),
        Command::Man(args) => commands::shell::man(&args, Cli::command()),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Ok(Outcome::Invalid) => ExitCode::from(2),
        Ok(Outcome::Interrupted) => ExitCode::from(commands::run::INTERRUPTED),
        // `idflow steps | head`: the reader has all it wanted.
        Err(error) if commands::stdout_closed(&error) => ExitCode::SUCCESS,
        Err(error) => {
            if commands::run::progress::json_logs() {
                tracing::error!("{error:#}");
            } else {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("error: {error:#}");
                }
            }
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own consistency checks (unique argument ids, valid defaults)
    /// over every subcommand.
    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
