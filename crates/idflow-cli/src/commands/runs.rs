//! `idflow runs ...`: the runs recorded in the data directory: list them,
//! show one, resume unfinished ones (what a restarted machine does),
//! cancel one, prune old ones.
//!
//! Exit codes: 0 done (for `show`: the run exists; for `resume RUN_ID`:
//! it succeeded), 1 a resumed or cancelled run ended failed or cancelled,
//! 2 usage, a run that does not exist, or a store that cannot be used.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use idflow_engine::run::{CancelOutcome, Executor, RunFilter, RunPhase, RunRecord, RunStore as _};
use idflow_engine::validate::validate;
use tokio_util::sync::CancellationToken;

use super::data::{self, DataArgs};
use super::provider::ModelsDir;
use super::remote::{Client, ServerArgs};
use super::run::provider;
use crate::Outcome;

/// Arguments of `idflow runs`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: RunsCommand,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, clap::Subcommand)]
enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only runs in this state.
        #[arg(long, value_parser = parse_phase, value_name = "STATUS")]
        status: Option<RunPhase>,
        /// Only runs of this workflow (its `name`).
        #[arg(long, value_name = "NAME")]
        workflow: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: u32,
        /// One JSON array of runs instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one run: the result JSON of `idflow run --json`, with status
    /// `pending`, `running` or `waiting` while it is unfinished.
    Show {
        /// The run's id.
        run_id: String,
        /// Print the JSON (default: a summary).
        #[arg(long)]
        json: bool,
    },
    /// Go on with unfinished runs in this process until they end (what a
    /// restarted machine does); with RUN_ID, that run only.
    Resume {
        /// The run to resume.
        run_id: Option<String>,
        #[command(flatten)]
        models: ModelsDir,
        /// Provider settings file (see `idflow run --config`).
        #[arg(long, value_name = "FILE")]
        config: Option<std::path::PathBuf>,
    },
    /// Cancel a run: cleanup steps (`if: cancelled()` or `always()`) still
    /// run. A run no live process holds is cancelled here.
    Cancel {
        /// The run's id.
        run_id: String,
    },
    /// Write a finished run as a workflow test case (`idflow test`): its
    /// steps' recorded answers become the mocks, how it ended the
    /// expectations; credentials are replaced by placeholders.
    Export {
        /// The run's id.
        run_id: String,
        /// The test file to write (`*.test.yaml`).
        #[arg(long = "test", value_name = "FILE")]
        test: std::path::PathBuf,
        /// The workflow file the test names (relative to the test file):
        /// default, the file the run was started from.
        #[arg(long, value_name = "FILE")]
        workflow: Option<std::path::PathBuf>,
    },
    /// Delete finished runs older than AGE (default 720h: 30 days) and their logs.
    Prune {
        /// How old a finished run must be, e.g. `720h` (30 days), `12h`.
        #[arg(long, default_value = "720h", value_name = "AGE")]
        older_than: String,
    },
}

/// `idflow runs ... --server URL`: the same answers, from the server's API.
async fn remote(command: &RunsCommand, client: &Client) -> anyhow::Result<Outcome> {
    match command {
        RunsCommand::List {
            status,
            workflow,
            limit,
            json,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(status) = status {
                query.push(("status", status.as_str().to_owned()));
            }
            if let Some(workflow) = workflow {
                query.push(("workflow", workflow.clone()));
            }
            let page = client.list(&query).await?;
            let runs: Vec<Listed> = page["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Listed::from_api)
                .collect();
            list(&runs, *json)
        }
        RunsCommand::Show { run_id, json } => {
            let result = client.run(run_id).await?;
            let mut out = crate::commands::stdout();
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
            } else {
                write_summary(&mut out, &result)?;
            }
            Ok(Outcome::Success)
        }
        RunsCommand::Cancel { run_id } => {
            let answer = client.cancel(run_id).await?;
            writeln!(
                crate::commands::stdout(),
                "run {run_id}: cancel requested (it was {}); its cleanup steps run before it ends",
                answer["status"].as_str().unwrap_or("?")
            )?;
            Ok(Outcome::Success)
        }
        RunsCommand::Resume { .. } | RunsCommand::Export { .. } | RunsCommand::Prune { .. } => {
            anyhow::bail!(
                "this works on a data directory, not through --server: the server resumes its runs itself; run it on the server's machine with --data"
            )
        }
    }
}

fn parse_phase(text: &str) -> Result<RunPhase, String> {
    RunPhase::parse(text).ok_or_else(|| {
        let names: Vec<_> = RunPhase::ALL.iter().map(|phase| phase.as_str()).collect();
        format!("not a run status; one of {}", names.join(", "))
    })
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Some(client) = args.server.client()? {
        return runtime.block_on(remote(&args.command, &client));
    }
    let data_dir = args.data.resolve()?;
    runtime.block_on(async {
        match &args.command {
            RunsCommand::List {
                status,
                workflow,
                limit,
                json,
            } => {
                let store = data::open_store(&data_dir).await?;
                let filter = RunFilter {
                    phase: *status,
                    workflow: workflow.clone(),
                    limit: Some(*limit),
                    before: None,
                };
                let runs: Vec<Listed> = store
                    .list_runs(&filter)
                    .await?
                    .iter()
                    .map(Listed::from)
                    .collect();
                list(&runs, *json)
            }
            RunsCommand::Show { run_id, json } => {
                let executor = data::executor(&data_dir, idflow_cli::registry::build()?).await?;
                show(&executor, run_id, *json).await
            }
            RunsCommand::Resume {
                run_id,
                models,
                config,
            } => resume(&data_dir, run_id.as_deref(), models, config.as_deref()).await,
            RunsCommand::Cancel { run_id } => {
                let executor = connected_executor(&data_dir, &ModelsDir::default(), None).await?;
                cancel(&executor, run_id).await
            }
            RunsCommand::Export {
                run_id,
                test,
                workflow,
            } => {
                let executor = data::executor(&data_dir, idflow_cli::registry::build()?).await?;
                export(&executor, run_id, test, workflow.as_deref()).await
            }
            RunsCommand::Prune { older_than } => {
                let age = idflow_core::parse_duration(older_than)
                    .map_err(|error| anyhow::anyhow!("--older-than {older_than}: {error}"))?;
                let store = data::open_store(&data_dir).await?;
                let before = time::OffsetDateTime::now_utc() - age;
                let pruned = store.prune(before).await?;
                writeln!(crate::commands::stdout(), "pruned {pruned} finished runs")?;
                Ok(Outcome::Success)
            }
        }
    })
}

/// One listed run (from the store or from a server's API).
struct Listed {
    id: String,
    status: String,
    workflow: String,
    started_at: String,
    json: serde_json::Value,
}

impl From<&RunRecord> for Listed {
    fn from(run: &RunRecord) -> Self {
        Self {
            id: run.id.clone(),
            status: run.phase.as_str().to_owned(),
            workflow: run.workflow.clone(),
            started_at: rfc3339(run.created_at),
            json: serde_json::json!({
                "run_id": run.id,
                "workflow": run.workflow,
                "status": run.phase,
                "definition": run.definition,
                "started_at": rfc3339(run.created_at),
                "finished_at": run.finished_at.map(rfc3339),
                "due_at": run.due_at.map(rfc3339),
            }),
        }
    }
}

impl Listed {
    /// A run as `GET /api/v1/runs` lists it.
    fn from_api(run: &serde_json::Value) -> Self {
        let text = |key: &str| run[key].as_str().unwrap_or("?").to_owned();
        Self {
            id: text("run_id"),
            status: text("status"),
            workflow: text("workflow"),
            started_at: text("created_at"),
            json: run.clone(),
        }
    }
}

fn list(runs: &[Listed], json: bool) -> anyhow::Result<Outcome> {
    let mut out = crate::commands::stdout();
    if json {
        let items: Vec<_> = runs.iter().map(|run| &run.json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(Outcome::Success);
    }
    if runs.is_empty() {
        writeln!(out, "no runs")?;
        return Ok(Outcome::Success);
    }
    writeln!(
        out,
        "{:<36}  {:<10}  {:<24}  STARTED",
        "RUN", "STATUS", "WORKFLOW"
    )?;
    for run in runs {
        writeln!(
            out,
            "{:<36}  {:<10}  {:<24}  {}",
            run.id, run.status, run.workflow, run.started_at
        )?;
    }
    Ok(Outcome::Success)
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn show(executor: &Executor, run_id: &str, json: bool) -> anyhow::Result<Outcome> {
    let Some(record) = executor.store().run(run_id).await? else {
        anyhow::bail!("no run {run_id} in this data directory");
    };
    let mut result = executor.result_json(&record).await?;
    if let Some(object) = result.as_object_mut() {
        object.insert("status".into(), record.phase.as_str().into());
    }
    let mut out = crate::commands::stdout();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
    } else {
        write_summary(&mut out, &result)?;
    }
    Ok(Outcome::Success)
}

/// A run result JSON (`idflow run --json`, `GET /api/v1/runs/{id}`) for
/// people: the run's status, each step's, errors and outputs.
pub(crate) fn write_summary(
    out: &mut impl std::io::Write,
    result: &serde_json::Value,
) -> std::io::Result<()> {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or("?").to_owned();
    writeln!(
        out,
        "run {} of {}: {} (started {})",
        text(&result["run_id"]),
        text(&result["workflow"]),
        text(&result["status"]),
        text(&result["started_at"]),
    )?;
    if let Some(steps) = result.get("steps").and_then(serde_json::Value::as_object) {
        for (id, step) in steps {
            let status = step["status"].as_str().unwrap_or("?");
            let attempts = step["attempts"].as_u64().unwrap_or(0);
            match step.get("error").filter(|error| !error.is_null()) {
                Some(error) => writeln!(
                    out,
                    "  {id}: {status} ({attempts} attempts): {} ({})",
                    error["message"].as_str().unwrap_or(""),
                    error["code"].as_str().unwrap_or("")
                )?,
                None => writeln!(out, "  {id}: {status} ({attempts} attempts)")?,
            }
        }
    }
    if let Some(error) = result.get("error").filter(|error| !error.is_null()) {
        writeln!(
            out,
            "  run: {} ({})",
            error["message"].as_str().unwrap_or(""),
            error["code"].as_str().unwrap_or("")
        )?;
    }
    if let Some(outputs) = result
        .get("outputs")
        .and_then(serde_json::Value::as_object)
        .filter(|outputs| !outputs.is_empty())
    {
        writeln!(out, "outputs:")?;
        for (name, value) in outputs {
            match value {
                serde_json::Value::String(value) => writeln!(out, "  {name}: {value}")?,
                other => writeln!(out, "  {name}: {other}")?,
            }
        }
    }
    Ok(())
}

async fn resume(
    data_dir: &Path,
    run_id: Option<&str>,
    models: &ModelsDir,
    config: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let executor = connected_executor(data_dir, models, config).await?;
    data::reclaim_dead_owners(&executor).await?;
    let Some(run_id) = run_id else {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        executor.work(stop.clone(), true).await?;
        if stop.is_cancelled() {
            return Ok(Outcome::Interrupted);
        }
        writeln!(crate::commands::stdout(), "no unfinished runs left")?;
        return Ok(Outcome::Success);
    };
    if let Some(result) = executor.resume(run_id).await? {
        writeln!(crate::commands::stdout(), "run {run_id}: {}", result.status)?;
        return Ok(outcome_of(RunPhase::from(result.status)));
    }
    match executor.store().run(run_id).await? {
        None => anyhow::bail!("no run {run_id} in this data directory"),
        Some(record) if record.phase.is_finished() => {
            writeln!(
                crate::commands::stdout(),
                "run {run_id} had already finished: {}",
                record.phase
            )?;
            Ok(outcome_of(record.phase))
        }
        Some(record) => anyhow::bail!(
            "run {run_id} is being executed by another process ({})",
            record.lease_owner.unwrap_or_default()
        ),
    }
}

async fn cancel(executor: &Executor, run_id: &str) -> anyhow::Result<Outcome> {
    data::reclaim_dead_owners(executor).await?;
    let mut out = crate::commands::stdout();
    match executor.cancel(run_id).await? {
        CancelOutcome::AlreadyFinished(phase) => {
            writeln!(out, "run {run_id} had already finished: {phase}")?;
            Ok(outcome_of(phase))
        }
        CancelOutcome::Requested { owner } => {
            writeln!(
                out,
                "run {run_id}: cancel requested; {owner} is running it and will stop it"
            )?;
            Ok(Outcome::Success)
        }
        CancelOutcome::Cancelled(result) => {
            writeln!(out, "run {run_id}: {}", result.status)?;
            Ok(Outcome::Success)
        }
    }
}

async fn export(
    executor: &Executor,
    run_id: &str,
    test: &Path,
    workflow_file: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let Some(record) = executor.store().run(run_id).await? else {
        anyhow::bail!("no run {run_id} in this data directory");
    };
    if !record.phase.is_finished() {
        anyhow::bail!(
            "run {run_id} has not finished ({}): only a finished run can become a test",
            record.phase
        );
    }
    let (workflow, events) = executor.recorded(&record).await?;
    let registry = idflow_cli::registry::build()?;
    let description = format!(
        "run {run_id} of {}, recorded {}",
        record.workflow,
        rfc3339(record.created_at)
    );
    let case =
        idflow_testing::export::case_from_events(&workflow, &registry, &events, &description)
            .with_context(|| format!("run {run_id} cannot become a test"))?;
    // The workflow path as the test file must name it: relative to the
    // test file's folder.
    let definition = executor.store().definition(&record.definition).await?;
    let workflow_path = match workflow_file {
        Some(path) => path.to_path_buf(),
        None => Path::new(&record.base_dir).join(&definition.path),
    };
    let test_dir = std::path::absolute(test)
        .ok()
        .and_then(|path| path.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let workflow_path = std::path::absolute(&workflow_path).unwrap_or(workflow_path);
    let relative = relative_path(&test_dir, &workflow_path);
    let name = record
        .workflow
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let text = idflow_testing::export::test_file(&relative, &format!("recorded_{name}"), &case);
    std::fs::write(test, text).with_context(|| format!("cannot write {}", test.display()))?;
    writeln!(
        crate::commands::stdout(),
        "wrote {} (run it with `idflow test {}`)",
        test.display(),
        test.display()
    )?;
    Ok(Outcome::Success)
}

/// `to` as a path relative to the folder `from` (both absolute).
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative = std::path::PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for part in &to_parts[common..] {
        relative.push(part);
    }
    relative.display().to_string()
}

fn outcome_of(phase: RunPhase) -> Outcome {
    match phase {
        RunPhase::Succeeded => Outcome::Success,
        _ => Outcome::Failure,
    }
}

/// An executor whose face steps are connected (to the configured provider,
/// or to the embedded one) when an unfinished run needs them.
async fn connected_executor(
    data_dir: &Path,
    models: &ModelsDir,
    config: Option<&Path>,
) -> anyhow::Result<Executor> {
    let store = data::open_store(data_dir).await?;
    let registry = if unfinished_runs_use_face_steps(&store).await? {
        let face = provider::connect(config, models, &data::provider_dir(data_dir)).await?;
        // The embedded provider lives as long as this process (its
        // webhooks are not listened for: the face gates poll).
        if let Some(embedded) = face.embedded {
            std::mem::forget(embedded.provider);
        }
        idflow_cli::registry::build_with(face.connection)?
    } else {
        idflow_cli::registry::build()?
    };
    data::executor(data_dir, registry).await
}

async fn unfinished_runs_use_face_steps(
    store: &Arc<idflow_store::SqliteStore>,
) -> anyhow::Result<bool> {
    let registry = idflow_cli::registry::build()?;
    let engine = idflow_engine::expr::ExprEngine::new();
    let mut seen = std::collections::HashSet::new();
    for phase in [RunPhase::Pending, RunPhase::Running, RunPhase::Waiting] {
        let filter = RunFilter {
            phase: Some(phase),
            ..RunFilter::default()
        };
        for run in store.list_runs(&filter).await? {
            if !seen.insert(run.definition.clone()) {
                continue;
            }
            let definition = store.definition(&run.definition).await?;
            let file = idflow_engine::source::SourceFile::new(definition.path, definition.source);
            if validate(file, &registry, &engine)
                .workflow
                .is_some_and(|workflow| provider::uses_face_steps(&workflow))
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
