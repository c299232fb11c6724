//! `idflow schema`: the JSON Schema (draft-07) of the workflow format,
//! with every registered step type's inputs.

use std::io::Write as _;

use idflow_engine::schema::workflow_schema_text;

use crate::Outcome;

/// Arguments of `idflow schema`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args) -> anyhow::Result<Outcome> {
    let registry = idflow_cli::registry::build()?;
    write!(
        std::io::stdout().lock(),
        "{}",
        workflow_schema_text(&registry)
    )?;
    Ok(Outcome::Success)
}
