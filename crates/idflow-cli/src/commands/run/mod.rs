//! `idflow run FILE`: run a workflow, with live progress, and report the
//! result.
//!
//! - [`inputs`]: reading `--input`, `--inputs` and the secrets from the
//!   environment, checked before anything runs.
//! - [`json_log`]: the flat JSON lines of `--log-format json`.
//! - [`progress`]: live progress (a line per step in a terminal, plain log
//!   lines otherwise) and the logging setup.
//! - [`provider`]: the face steps' provider: the configured one, or the
//!   embedded one started in-process.
//! - [`remote`]: `--server URL`: the run is started on an idflow server and
//!   followed from here.
//!
//! Exit codes: 0 succeeded, 1 failed, 2 invalid workflow or inputs, 130
//! interrupted (Ctrl-C cancels the run cleanly; a second Ctrl-C stops it at
//! once).

mod inputs;
mod json_log;
pub(crate) mod progress;
pub(crate) mod provider;
mod remote;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use idflow_engine::run::{
    MemoryInbox, RunRequest, RunResult, RunStatus, Runner, StartedVia, StepState,
};
use tokio_util::sync::CancellationToken;

use crate::Outcome;

/// Arguments of `idflow run`.
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools, reason = "command-line switches")]
pub(crate) struct Args {
    /// The workflow file (with `--server`: a workflow file, or the name of
    /// a workflow the server offers).
    file: PathBuf,
    /// An input: `NAME=VALUE`, or `NAME=@PATH` to read the value from a file
    /// (for a `file` input, `@PATH` and `PATH` both name the file).
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// A JSON file with an object of inputs (typed JSON values).
    #[arg(long = "inputs", value_name = "FILE.json")]
    inputs_file: Option<PathBuf>,
    /// Print the run result as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = progress::LogFormat::Text)]
    log_format: progress::LogFormat,
    /// At most this many step attempts at once.
    #[arg(long, value_name = "N")]
    max_concurrency: Option<std::num::NonZeroU32>,
    /// Provider settings file (a `[provider]` table); default `./idflow.toml`
    /// when it exists. Environment variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    models: super::provider::ModelsDir,
    /// Show the real value of this run output in the summary (outputs that
    /// hold credentials, like a verification link, are otherwise redacted).
    /// Never affects `--json` or the logs.
    #[arg(long, value_name = "OUTPUT")]
    reveal: Vec<String>,
    /// After the run, keep the embedded provider serving (its verification
    /// page) until Ctrl-C.
    #[arg(long)]
    serve: bool,
    #[command(flatten)]
    data: super::data::DataArgs,
    /// Keep the run in memory only: nothing is recorded, and a crash loses
    /// it (by default every run is recorded in the data directory and can
    /// be resumed with `idflow runs resume`).
    #[arg(long, conflicts_with = "detach")]
    ephemeral: bool,
    /// Record the run and print its id without running it here: a worker
    /// (`idflow runs resume`, or the server's) executes it.
    #[arg(long, conflicts_with_all = ["json", "serve", "reveal"])]
    detach: bool,
    #[command(flatten)]
    server: super::remote::ServerArgs,
}

/// Exit code for an interrupted run.
pub(crate) const INTERRUPTED: u8 = 130;

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    if args.log_format == progress::LogFormat::Json {
        // From the first line on: every line on stderr is JSON.
        progress::init_logging(args.log_format, None);
    }
    if let Some(client) = args.server.client()? {
        return remote::run(args, &client);
    }
    let validated = super::load(&args.file)?;
    let color = super::use_color();
    // Errors stop the run; warnings do not, but are worth seeing.
    for report in validated.reports() {
        progress::diagnostic(&report, args.log_format, color)?;
    }
    let Some(workflow) = validated.workflow else {
        return Ok(Outcome::Invalid);
    };
    let file = validated.file;
    let data_dir = args.data.resolve()?;
    let base_dir = std::env::current_dir().context("cannot read the current folder")?;
    let (inputs, secrets) = match inputs::collect(&workflow, args, &base_dir) {
        Ok(found) => found,
        Err(problems) => {
            let mut lines: Vec<String> = problems
                .iter()
                .map(|problem| format!("error: {problem}"))
                .collect();
            lines.push(
                "the run did not start; `idflow run --help` shows how to give inputs".to_owned(),
            );
            progress::say(args.log_format, &lines)?;
            return Ok(Outcome::Invalid);
        }
    };
    let workflow = Arc::new(workflow);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if args.detach {
        return runtime.block_on(detach(
            workflow, &file, &data_dir, inputs, secrets, base_dir,
        ));
    }
    let display = progress::Display::start(&workflow, args.log_format);
    let result = runtime.block_on(async {
        let face = if provider::uses_face_steps(&workflow) {
            let provider_dir = super::data::provider_dir(&data_dir);
            Some(provider::connect(args.config.as_deref(), &args.models, &provider_dir).await?)
        } else {
            None
        };
        let (registry, embedded) = match face {
            Some(face) => (
                idflow_cli::registry::build_with(face.connection)?,
                face.embedded,
            ),
            None => (idflow_cli::registry::build()?, None),
        };
        let cancel = CancellationToken::new();
        let force = CancellationToken::new();
        let interrupts = tokio::spawn(watch_interrupts(cancel.clone(), force.clone()));
        let mut request = RunRequest::new(inputs)
            .secrets(secrets)
            .base_dir(base_dir)
            .via(StartedVia::Cli)
            .cancel_on(cancel.clone())
            .force_cancel_on(force)
            .observe(display.observer());
        if let Some(limit) = args.max_concurrency {
            request = request.max_concurrency(limit);
        }
        for name in &args.reveal {
            request = request.reveal(name.clone());
        }
        let (hook_listener, embedded) = match embedded {
            Some(embedded) => (Some((embedded.hook, embedded.key)), Some(embedded.provider)),
            None => (None, None),
        };
        let (result, hook) = if args.ephemeral {
            let runner = Runner::new(Arc::clone(&workflow), &registry)?;
            let inbox = MemoryInbox::new();
            let hook = match (hook_listener, &embedded) {
                (Some((listener, key)), Some(provider)) => {
                    request = inbox.attach(request);
                    start_hook(listener, Arc::new(inbox), provider, &key).await
                }
                _ => None,
            };
            (runner.run(request).await, hook)
        } else {
            let executor = super::data::executor(&data_dir, registry).await?;
            let run_id = uuid::Uuid::now_v7().to_string();
            tracing::info!(
                run_id = %run_id,
                store = %data_dir.display(),
                "run recorded (`idflow runs show {run_id}`)"
            );
            let hook = match (hook_listener, &embedded) {
                (Some((listener, key)), Some(provider)) => {
                    start_hook(listener, Arc::new(executor.clone()), provider, &key).await
                }
                _ => None,
            };
            let result = executor
                .run(Arc::clone(&workflow), &file, request.run_id(run_id))
                .await?;
            (result, hook)
        };
        if let Some(hook) = hook {
            hook.finish().await;
        }
        interrupts.abort();
        anyhow::Ok((result, cancel.is_cancelled(), embedded))
    });
    let (result, interrupted, embedded) = result?;
    display.finish();
    report(&result, args.json, color)?;
    if let Some(embedded) = embedded {
        runtime.block_on(async {
            if args.serve && !interrupted {
                tracing::info!(
                    "the embedded provider keeps serving at {} (open the verification link above); press Ctrl-C to stop",
                    embedded.base_url().as_str().trim_end_matches('/')
                );
                let _ = tokio::signal::ctrl_c().await;
            }
            embedded.shutdown().await.map_err(|error| anyhow::anyhow!("stopping the embedded provider: {error}"))
        })?;
    }
    Ok(match result.status {
        RunStatus::Succeeded => Outcome::Success,
        RunStatus::Cancelled if interrupted => Outcome::Interrupted,
        RunStatus::Failed | RunStatus::Cancelled => Outcome::Failure,
    })
}

/// Serves the run's hook for the embedded provider's webhooks (delivered
/// to `target`). When it cannot, the face gates poll: said once, at debug.
async fn start_hook(
    listener: crate::commands::local_hook::RunHookListener,
    target: Arc<dyn idflow_server::EventTarget>,
    provider: &idflow_provider::EmbeddedProvider,
    key: &str,
) -> Option<crate::commands::local_hook::RunHook> {
    match listener.start(target, provider.base_url(), key).await {
        Ok(hook) => Some(hook),
        Err(error) => {
            tracing::warn!(
                "the embedded provider's webhooks cannot reach this run; face steps poll instead: {error:#}"
            );
            None
        }
    }
}

/// Records the run for a worker and prints its id.
async fn detach(
    workflow: Arc<idflow_engine::model::Workflow>,
    file: &idflow_engine::source::SourceFile,
    data_dir: &std::path::Path,
    inputs: serde_json::Value,
    secrets: idflow_engine::run::Secrets,
    base_dir: PathBuf,
) -> anyhow::Result<Outcome> {
    let executor = super::data::executor(data_dir, idflow_cli::registry::build()?).await?;
    let request = RunRequest::new(inputs)
        .secrets(secrets)
        .base_dir(base_dir)
        .via(StartedVia::Cli);
    let run_id = executor.submit(workflow, file, request).await?;
    writeln!(crate::commands::stdout(), "{run_id}")?;
    Ok(Outcome::Success)
}

/// The first Ctrl-C cancels the run (cleanup steps still run); the second
/// stops it at once.
async fn watch_interrupts(cancel: CancellationToken, force: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            force.cancel();
        }
    }
}

fn report(result: &RunResult, json: bool, color: bool) -> anyhow::Result<()> {
    if json {
        let mut out = crate::commands::stdout();
        writeln!(out, "{}", serde_json::to_string_pretty(result)?)?;
        return Ok(());
    }
    let mut out = crate::commands::stdout();
    let paint = |text: &str, code: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let status = match result.status {
        RunStatus::Succeeded => paint("succeeded", "32"),
        RunStatus::Failed => paint("failed", "31"),
        RunStatus::Cancelled => paint("cancelled", "33"),
    };
    let elapsed = (result.finished_at - result.started_at).as_seconds_f64();
    writeln!(
        out,
        "run {} of {}: {status} in {elapsed:.2}s",
        result.run_id, result.workflow
    )?;
    for (id, step) in &result.steps {
        let state = match step.status {
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Cancelled => "cancelled",
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Waiting => "waiting",
        };
        let attempts = if step.attempts > 1 {
            format!(" after {} attempts", step.attempts)
        } else {
            String::new()
        };
        match &step.error {
            Some(error) => writeln!(
                out,
                "  {id}: {state}{attempts}: {} ({})",
                error.message, error.code
            )?,
            None => writeln!(out, "  {id}: {state}{attempts}")?,
        }
    }
    if let Some(error) = &result.error {
        writeln!(out, "  run: {} ({})", error.message, error.code)?;
    }
    if !result.outputs.is_empty() {
        writeln!(out, "outputs:")?;
        for (name, value) in &result.outputs {
            let value = result.revealed.get(name).unwrap_or(value);
            let text = match value {
                serde_json::Value::String(s) if s == idflow_core::redact::REDACTED => {
                    format!("{s} (`--reveal {name}` shows it)")
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "  {name}: {text}")?;
        }
    }
    Ok(())
}
