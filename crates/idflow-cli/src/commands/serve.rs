//! `idflow serve`: the idflow server. One process, one origin:
//! - the runs API under `/api/v1` (tokens: `idflow token`), `/healthz`,
//!   `/readyz` and `/metrics` (idflow-server);
//! - a worker loop executing the runs of its store (those started through
//!   the API, and the unfinished ones found at start);
//! - the embedded identity provider's routes (API, upload links,
//!   verification page), unless a provider is configured
//!   (`TRUORA_API_KEY`, `idflow.toml`) or `--no-provider` says not to; the
//!   face steps of its runs use it, and its webhooks come back to
//!   `POST /api/v1/hooks/truora` here (the server registers that hook for
//!   its local client at start, see [`local_hook`]) to wake them.
//!
//! The workflows offered are the files of `--workflows DIR`, validated at
//! start and again on SIGHUP. SIGINT or SIGTERM stops it gracefully: no
//! new connections or claims, requests in flight are answered, runs being
//! driven get a grace period to end or park (the rest go on from their
//! logs at the next start), photos being analysed are finished.
//!
//! Once it is ready it prints one line on stdout with the URL it serves
//! (with the bound port, so `--addr 127.0.0.1:0` is usable); logs go to
//! stderr (filter with `IDFLOW_LOG`, default `info`); with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, run and attempt spans go there as
//! OpenTelemetry traces (see [`telemetry`]). Exit codes: 0 after a
//! clean stop, 2 when it cannot start (address in use, face models missing,
//! unusable data directory or workflows folder).

use std::io::Write as _;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use idflow_engine::run::{ExecutorOptions, RunStore};
use idflow_face::webhooks::WebhookSecret;
use idflow_face::{FaceConnection, ProviderSettings};
use idflow_provider::{AppState, ENV_PUBLIC_URL, ProviderConfig};
use idflow_server::{Catalog, Changes, ServerParts, ServerState, WatchedStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::data::{self, DataArgs};
use super::local_hook;
use super::provider::{ModelsDir, provider_error};
use super::telemetry;
use crate::Outcome;

/// Arguments of `idflow serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on, HOST:PORT (port 0 picks a free port; the line
    /// printed at start shows the one bound).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    #[command(flatten)]
    data: DataArgs,
    /// The folder of workflow files the server offers (validated at start
    /// and on SIGHUP) [default: ./workflows, when it exists].
    #[arg(long, value_name = "DIR")]
    workflows: Option<PathBuf>,
    /// Do not serve the embedded provider (face steps then need a
    /// configured provider).
    #[arg(long)]
    no_provider: bool,
    /// Provider settings file (a `[provider]` table); default
    /// `./idflow.toml` when it exists. Environment variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    models: ModelsDir,
    /// Base URL written into upload links, as clients reach this service
    /// [default: http://<bound address>].
    #[arg(long, value_name = "URL", env = ENV_PUBLIC_URL)]
    public_url: Option<Url>,
    /// Most connections served at once, never more than three quarters of
    /// `ulimit -n`; at the limit a new connection takes the place of the
    /// one idle for longest [default: 4096].
    #[arg(long, value_name = "N")]
    max_connections: Option<NonZeroUsize>,
    /// Let webhooks reach loopback, private and link-local addresses (by
    /// default they may reach public addresses only).
    #[arg(long)]
    allow_private_webhooks: bool,
    /// A URL prefix webhooks may reach whatever its address, such as an
    /// idflow server's own hook address (repeatable).
    #[arg(long, value_name = "URL")]
    allow_webhook_url: Vec<Url>,
    /// A file holding the secret the face provider's webhooks to
    /// `POST /api/v1/hooks/truora` are signed with (a provider other than
    /// the embedded one; `IDFLOW_HOOK_SECRET` may hold it instead). The
    /// embedded provider's hook needs none: the server registers it itself.
    #[arg(long, value_name = "FILE")]
    hook_secret_file: Option<PathBuf>,
    /// On SIGTERM, how long runs being driven get to end or park before
    /// they are stopped where they are (they go on at the next start).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    stop_grace: Duration,
}

/// The workflows folder when `--workflows` is not given.
const DEFAULT_WORKFLOWS: &str = "workflows";

/// The environment variable that may hold the webhooks' secret (instead of
/// `--hook-secret-file`).
const ENV_HOOK_SECRET: &str = "IDFLOW_HOOK_SECRET";

fn parse_duration(text: &str) -> Result<Duration, String> {
    idflow_core::parse_duration(text).map_err(|error| error.to_string())
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let data_dir = args.data.resolve()?;
    let traces = telemetry::traces_from_env()?;
    telemetry::init_logging(traces.as_ref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(serve(args, data_dir, traces.is_some()));
    drop(runtime);
    if let Some(traces) = &traces {
        telemetry::flush_traces(traces);
    }
    outcome
}

/// The embedded provider to serve, and the face steps' connection.
struct Face {
    provider: Option<AppState>,
    connection: FaceConnection,
    /// The embedded provider's local client's key (its hook is registered
    /// with it).
    local_key: Option<String>,
}

/// The secrets of `--hook-secret-file` and `IDFLOW_HOOK_SECRET` (never
/// shown: an error names the file, not its content).
fn configured_hook_secrets(args: &Args) -> anyhow::Result<Vec<WebhookSecret>> {
    let mut secrets = Vec::new();
    if let Some(path) = &args.hook_secret_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the hook secret file {}", path.display()))?;
        secrets.push(
            WebhookSecret::new(&text)
                .with_context(|| format!("the hook secret file {} is empty", path.display()))?,
        );
    }
    if let Some(text) = std::env::var_os(ENV_HOOK_SECRET) {
        let text = text
            .into_string()
            .map_err(|_| anyhow::anyhow!("{ENV_HOOK_SECRET} is not UTF-8"))?;
        secrets.extend(WebhookSecret::new(&text));
    }
    Ok(secrets)
}

async fn serve(args: &Args, data_dir: PathBuf, traced: bool) -> anyhow::Result<Outcome> {
    // Listen for stop signals before saying we are ready.
    let stop = stop_signal()?;
    let metrics = telemetry::install_metrics()?;
    let listener = TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let url = Url::parse(&format!("http://{bound}/"))
        .with_context(|| format!("the bound address {bound} makes no URL"))?;
    let public_url = args.public_url.clone().unwrap_or_else(|| url.clone());
    let hook_url = local_hook::hook_url(bound)?;
    let hook_secrets = configured_hook_secrets(args)?;
    let face = face(args, &data_dir, &public_url, &hook_url).await?;
    let registry = Arc::new(idflow_cli::registry::build_with(face.connection)?);
    let catalog = match &args.workflows {
        Some(dir) => Catalog::load(dir, Arc::clone(&registry))?,
        None if Path::new(DEFAULT_WORKFLOWS).is_dir() => {
            Catalog::load(Path::new(DEFAULT_WORKFLOWS), Arc::clone(&registry))?
        }
        None => {
            tracing::warn!(
                "no ./{DEFAULT_WORKFLOWS} folder here: no workflow is offered (pass --workflows DIR)"
            );
            Catalog::empty(Path::new(DEFAULT_WORKFLOWS), Arc::clone(&registry))
        }
    };
    log_catalog(&catalog);

    let changes = Changes::new();
    let store = data::open_store(&data_dir).await?;
    let api_store = Arc::clone(&store) as Arc<dyn idflow_store::ApiStore>;
    let watched = Arc::new(WatchedStore::new(
        store as Arc<dyn RunStore>,
        changes.clone(),
    ));
    let options = ExecutorOptions {
        stop_grace: args.stop_grace,
        ..ExecutorOptions::default()
    };
    let executor = data::executor_on(watched, &data_dir, registry, options)?;
    if traced {
        let _ = executor.trace_runs(Arc::new(telemetry::RunTraces));
    }
    data::reclaim_dead_owners(&executor).await?;
    let state = ServerState::new(ServerParts {
        executor: executor.clone(),
        api_store,
        catalog,
        changes,
        secrets: Arc::new(data::environment_secret),
        uploads: data_dir.join("uploads"),
        metrics: Some(metrics),
        hook_secrets,
    });
    tokio::spawn(reload_on_hangup(state.clone()));
    let hooks = state.hooks().clone();
    let routes = idflow_server::router(state);

    let stop_work = CancellationToken::new();
    let worker = tokio::spawn({
        let executor = executor.clone();
        let stop_work = stop_work.clone();
        async move { executor.work(stop_work, false).await }
    });
    let serving = if let Some(provider) = face.provider {
        let serving = tokio::spawn(idflow_provider::serve_state_with(
            listener, provider, routes, stop,
        ));
        if let Some(key) = &face.local_key {
            register_hook(key, &hook_url, &data_dir, &hooks).await;
        }
        serving
    } else {
        let routes = routes.fallback(|| async {
            idflow_server::ApiError::not_found("no_such_route", "no such route")
        });
        let mut limits = idflow_provider::ConnectionLimits::default();
        if let Some(max) = args.max_connections {
            limits.max_connections = max.get();
        }
        tokio::spawn(async move {
            idflow_provider::serve_router(listener, routes, limits, stop).await;
            Ok(())
        })
    };
    {
        let mut out = crate::commands::stdout();
        writeln!(out, "idflow server listening on {url}")?;
        out.flush()?;
    }
    serving
        .await
        .context("the server stopped")?
        .map_err(|error| provider_error(&error))?;
    stop_work.cancel();
    match worker.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, "the worker loop failed"),
        Err(error) => tracing::error!(%error, "the worker loop stopped"),
    }
    tracing::info!("stopped");
    Ok(Outcome::Success)
}

/// Registers the embedded provider's hook for its local client, at this
/// server's own address (where the provider is reached too), and accepts
/// its secret. A failure only costs the wake-ups: the face gates poll.
async fn register_hook(key: &str, hook_url: &Url, data_dir: &Path, hooks: &idflow_server::Hooks) {
    let registered = async {
        let base = hook_url.join("/")?;
        let hook = local_hook::ProviderHooks::new(&base, key)?
            .register_kept(hook_url, &data::provider_dir(data_dir))
            .await?;
        hooks.add_secret(hook.secret()?);
        anyhow::Ok(hook)
    }
    .await;
    match registered {
        Ok(hook) => tracing::info!(
            webhook = %hook.webhook_id,
            url = %hook.url,
            "the embedded provider's webhooks wake the face steps"
        ),
        Err(error) => tracing::warn!(
            "the embedded provider's hook could not be registered; face steps poll instead: {error:#}"
        ),
    }
}

/// The face steps' provider: the configured one, else the embedded one
/// served here (unless `--no-provider`), allowed to send its webhooks to
/// `hook_url` (this server).
async fn face(
    args: &Args,
    data_dir: &std::path::Path,
    public_url: &Url,
    hook_url: &Url,
) -> anyhow::Result<Face> {
    if let Some(settings) =
        ProviderSettings::load(args.config.as_deref()).context("reading the provider settings")?
    {
        tracing::info!(
            "face steps use the configured provider; the embedded provider is not served"
        );
        return Ok(Face {
            provider: None,
            connection: FaceConnection::configured(settings)
                .context("connecting to the configured provider")?,
            local_key: None,
        });
    }
    if args.no_provider {
        return Ok(Face {
            provider: None,
            connection: FaceConnection::unconfigured(),
            local_key: None,
        });
    }
    let provider_dir = data::provider_dir(data_dir);
    let mut config = ProviderConfig::new(&provider_dir, args.models.resolve());
    config.public_base_url = Some(public_url.clone());
    if let Some(max) = args.max_connections {
        config.max_connections = max.get();
    }
    config.webhook_targets.allow_private = args.allow_private_webhooks;
    config
        .webhook_targets
        .allowed
        .clone_from(&args.allow_webhook_url);
    config.webhook_targets.allowed.push(hook_url.clone());
    // Loads the face models (a missing model names `scripts/setup`) and
    // opens the data directory.
    let provider = AppState::open(config)
        .await
        .map_err(|error| provider_error(&error))?;
    let key = super::run::provider::local_client_key(&provider_dir).await?;
    let base = public_url.as_str().trim_end_matches('/');
    let settings = ProviderSettings::single_origin(base, &key)
        .context("connecting to the embedded provider")?;
    tracing::info!(data = %provider_dir.display(), "serving the embedded face provider");
    Ok(Face {
        provider: Some(provider),
        connection: FaceConnection::configured(settings)
            .context("connecting to the embedded provider")?,
        local_key: Some(key),
    })
}

fn log_catalog(catalog: &Catalog) {
    for entry in catalog.entries().iter() {
        if entry.workflow.is_some() && entry.problem.is_none() {
            tracing::info!(workflow = entry.name, file = %entry.path.display(), "workflow offered");
        } else {
            let first = entry
                .problem
                .clone()
                .or_else(|| {
                    entry
                        .diagnostics
                        .first()
                        .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
                })
                .unwrap_or_default();
            tracing::warn!(file = %entry.path.display(), problem = first, "workflow invalid: it cannot be started");
        }
    }
}

/// Reads the workflows folder again at each SIGHUP.
async fn reload_on_hangup(state: ServerState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be watched: workflows are read at start only");
            return;
        };
        while hangups.recv().await.is_some() {
            match state.catalog().reload() {
                Ok((valid, invalid)) => {
                    tracing::info!(valid, invalid, "workflows read again (SIGHUP)");
                    log_catalog(state.catalog());
                }
                Err(error) => {
                    tracing::error!(%error, "workflows not read again; the previous ones stay");
                }
            }
        }
    }
    #[cfg(not(unix))]
    drop(state);
}

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM; the handlers are in
/// place when this returns.
#[cfg(unix)]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received; stopping"),
            _ = terminate.recv() => tracing::info!("SIGTERM received; stopping"),
        }
    })
}

/// Resolves at the first Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Logs on stderr, filtered by `IDFLOW_LOG` (default `info`).
pub(crate) fn init_logging() {
    telemetry::init_logging(None);
}
