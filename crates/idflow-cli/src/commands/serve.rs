//! `idflow serve`: run the embedded identity provider (the API, the upload
//! links and the verification page) until Ctrl-C or SIGTERM, then stop
//! gracefully: requests in flight are answered, photos being analysed are
//! finished, and the database is closed.
//!
//! Once it is ready it prints one line on stdout with the URL it serves
//! (with the bound port, so `--addr 127.0.0.1:0` is usable); logs go to
//! stderr (filter with `IDFLOW_LOG`, default `info`). Exit codes: 0 after a
//! clean stop, 2 when it cannot start (address in use, face models missing,
//! unusable data directory).

use std::io::Write as _;

use anyhow::Context as _;
use std::num::NonZeroUsize;

use idflow_provider::{AppState, ENV_PUBLIC_URL, ProviderConfig};
use tokio::net::TcpListener;
use url::Url;

use super::provider::{DataDir, ModelsDir, provider_error};
use crate::Outcome;

/// Arguments of `idflow serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on, HOST:PORT (port 0 picks a free port; the line
    /// printed at start shows the one bound).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    #[command(flatten)]
    data: DataDir,
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
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    let data_dir = args.data.resolve()?;
    let models_dir = args.models.resolve();
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, ProviderConfig::new(data_dir, models_dir)))
}

async fn serve(args: &Args, mut config: ProviderConfig) -> anyhow::Result<Outcome> {
    // Listen for stop signals before saying we are ready.
    let stop = stop_signal()?;
    let listener = TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let url = Url::parse(&format!("http://{bound}/"))
        .with_context(|| format!("the bound address {bound} makes no URL"))?;
    config.public_base_url = Some(args.public_url.clone().unwrap_or_else(|| url.clone()));
    if let Some(max) = args.max_connections {
        config.max_connections = max.get();
    }
    config.webhook_targets.allow_private = args.allow_private_webhooks;
    config
        .webhook_targets
        .allowed
        .clone_from(&args.allow_webhook_url);
    // Loads the face models (a missing model names `scripts/setup`) and
    // opens the data directory.
    let state = AppState::open(config)
        .await
        .map_err(|error| provider_error(&error))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "idflow provider listening on {url}")?;
        out.flush()?;
    }
    idflow_provider::serve_state(listener, state, stop)
        .await
        .map_err(|error| provider_error(&error))?;
    tracing::info!("stopped");
    Ok(Outcome::Success)
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
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Another subscriber already set (never, in the binary) keeps its place.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .try_init();
}
