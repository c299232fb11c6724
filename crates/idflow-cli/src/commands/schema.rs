//! `idflow schema`: the JSON Schema (draft-07) of the workflow format,
//! with every registered step type's inputs; `--tests`: the schema of test
//! files (`*.test.yaml`).

use std::io::Write as _;

use idflow_engine::schema::workflow_schema_text;
use idflow_testing::schema::tests_schema_text;

use crate::Outcome;

/// Arguments of `idflow schema`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The schema of test files (`*.test.yaml`) instead of workflows.
    #[arg(long)]
    tests: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let text = if args.tests {
        tests_schema_text()
    } else {
        workflow_schema_text(&idflow_cli::registry::build()?)
    };
    write!(crate::commands::stdout(), "{text}")?;
    Ok(Outcome::Success)
}
