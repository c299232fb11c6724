//! `idflow token create|list|revoke`: the API tokens of the idflow server
//! (kept, hashed, in the data directory's run store, so every server on
//! that store accepts them).

use std::io::Write as _;

use anyhow::Context as _;
use idflow_server::tokens::{self, TokenError};

use super::data::{self, DataArgs};
use crate::Outcome;

/// Arguments of `idflow token`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Make a token and print it alone on stdout (it is shown once: only
    /// its hash is kept).
    Create {
        /// What the token is for: 1 to 64 letters, digits, `.`, `_` or `-`.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the tokens: names, when made, when last used.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token: servers refuse it within a second.
    Revoke {
        /// The token's name.
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match &args.command {
            TokenCommand::Create { name, data } => {
                let store = data::open_store(&data.resolve()?).await?;
                match tokens::create(&*store, name).await {
                    Ok(token) => {
                        let mut out = crate::commands::stdout();
                        writeln!(out, "{token}")?;
                        out.flush()?;
                        #[allow(clippy::print_stderr)]
                        {
                            eprintln!(
                                "created token {name:?}; keep it now: it is not shown again (send it as `Authorization: Bearer TOKEN`)"
                            );
                        }
                        Ok(Outcome::Success)
                    }
                    Err(error) => refused(&error),
                }
            }
            TokenCommand::List { data } => {
                let store = data::open_store(&data.resolve()?).await?;
                let list = tokens::list(&*store).await?;
                let mut out = crate::commands::stdout();
                if list.is_empty() {
                    writeln!(out, "no tokens (`idflow token create NAME` makes one)")?;
                }
                for token in list {
                    let used = token
                        .used_at
                        .map_or_else(|| "never used".to_owned(), |at| format!("last used {}", rfc3339(at)));
                    writeln!(out, "{}\tcreated {}\t{used}", token.name, rfc3339(token.created_at))?;
                }
                Ok(Outcome::Success)
            }
            TokenCommand::Revoke { name, data } => {
                let store = data::open_store(&data.resolve()?).await?;
                match tokens::revoke(&*store, name).await {
                    Ok(()) => {
                        writeln!(crate::commands::stdout(), "revoked token {name:?}")?;
                        Ok(Outcome::Success)
                    }
                    Err(error) => refused(&error),
                }
            }
        }
    })
}

/// A refused request (a bad or taken name, an unknown token) is a usage
/// error; a store failure is an error.
fn refused(error: &TokenError) -> anyhow::Result<Outcome> {
    if let TokenError::Store(_) = error {
        return Err(anyhow::anyhow!("{error}"));
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!("error: {error}");
    }
    Ok(Outcome::Invalid)
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
