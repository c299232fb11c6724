//! `idflow run WORKFLOW --server URL`: the run is started on the idflow
//! server (a workflow file names the workflow by its `name`; the server
//! runs its own copy, pinned by hash) and followed from here through its
//! event stream: a line per step change on stderr, the result as `idflow
//! run` prints it, the same exit codes. `--detach` prints the run id and
//! leaves.

use std::io::Write as _;

use anyhow::Context as _;
use idflow_engine::model::InputType;
use serde_json::Value;

use super::Args;
use crate::Outcome;
use crate::commands::remote::{Client, file_input};

pub(super) fn run(args: &Args, client: &Client) -> anyhow::Result<Outcome> {
    super::progress::init_logging(args.log_format, None);
    let (name, local_hash) = if args.file.is_file() {
        let validated = crate::commands::load(&args.file)?;
        for report in validated.reports() {
            super::progress::diagnostic(&report, args.log_format, crate::commands::use_color())?;
        }
        let Some(workflow) = validated.workflow else {
            return Ok(Outcome::Invalid);
        };
        let hash = idflow_engine::run::Definition::new(
            workflow.name.clone(),
            validated.file.name.clone(),
            validated.file.text.clone(),
        )
        .hash;
        (workflow.name, Some(hash))
    } else {
        (args.file.to_string_lossy().into_owned(), None)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let detail = client.workflow(&name).await?;
        if local_hash.is_some() && detail["hash"].as_str() != local_hash.as_deref() {
            tracing::warn!(
                workflow = name,
                "the server offers another version of {} than this file: the run uses the server's",
                args.file.display()
            );
        }
        let base_dir = std::env::current_dir().context("cannot read the current folder")?;
        let kinds = input_kinds(&detail);
        let kind_of = |input: &str| kinds.iter().find(|(n, _)| n == input).map(|(_, k)| *k);
        let (mut given, problems) = super::inputs::given(args, &base_dir, kind_of);
        let mut problems = problems;
        for (input, value) in &mut given {
            if kind_of(input) != Some(InputType::File) {
                continue;
            }
            if let Value::String(path) = value {
                match file_input(&base_dir.join(&*path)) {
                    Ok(file) => *value = file,
                    Err(error) => problems.push(format!("the input `{input}`: {error:#}")),
                }
            }
        }
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(|p| format!("error: {p}")).collect();
            super::progress::say(args.log_format, &lines)?;
            return Ok(Outcome::Invalid);
        }
        let run_id = match client.start(&name, given).await {
            Ok(run_id) => run_id,
            Err(error) => {
                let lines = [
                    format!("error: {error:#}"),
                    "the run did not start".to_owned(),
                ];
                super::progress::say(args.log_format, &lines)?;
                return Ok(Outcome::Invalid);
            }
        };
        if args.detach {
            writeln!(crate::commands::stdout(), "{run_id}")?;
            return Ok(Outcome::Success);
        }
        tracing::info!(run_id, "run started on the server");
        let result = client
            .follow(&run_id, |event, data| {
                if event == "step" {
                    let step = data["step"].as_str().unwrap_or("?");
                    let status = data["status"].as_str().unwrap_or("?");
                    tracing::info!(step, status, attempts = %data["attempts"], "step");
                }
            })
            .await?;
        print_result(&result, args.json)?;
        Ok(outcome_of(&result))
    })
}

/// The declared inputs' names and types, from the server's description.
fn input_kinds(detail: &Value) -> Vec<(String, InputType)> {
    detail["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|input| {
            Some((
                input["name"].as_str()?.to_owned(),
                InputType::parse(input["type"].as_str()?)?,
            ))
        })
        .collect()
}

fn print_result(result: &Value, json: bool) -> anyhow::Result<()> {
    let mut out = crate::commands::stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(result)?)?;
        return Ok(());
    }
    crate::commands::runs::write_summary(&mut out, result)?;
    Ok(())
}

/// The exit of a finished run, from its status.
fn outcome_of(result: &Value) -> Outcome {
    match result["status"].as_str() {
        Some("succeeded") => Outcome::Success,
        _ => Outcome::Failure,
    }
}
