//! Running the provider: `serve(listener, config, shutdown)`, and
//! `start_embedded` for running it in-process on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::sync::Arc;

use idflow_vision::FaceEngine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::ProviderConfig;
use crate::connections::ConnectionLimits;
use crate::error::ProviderError;
use crate::http::router;
use crate::state::{AppState, ProcessedEvent, load_engine};

fn url_of(addr: SocketAddr) -> Result<Url, ProviderError> {
    Url::parse(&format!("http://{addr}")).map_err(|_| ProviderError::MissingPublicUrl)
}

/// Serves the provider on `listener` until `shutdown` completes; then stops
/// background work and closes the database. `config.public_base_url`
/// defaults to `http://<bound address>`.
pub async fn serve(
    listener: TcpListener,
    mut config: ProviderConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ProviderError> {
    if config.public_base_url.is_none() {
        config.public_base_url = Some(url_of(listener.local_addr()?)?);
    }
    let state = AppState::open(config).await?;
    serve_state(listener, state, shutdown).await
}

/// Serves an already opened [`AppState`] (see [`serve`]) with the limits of
/// its configuration: header-read and request timeouts, the connection limit.
pub async fn serve_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ProviderError> {
    serve_state_with(listener, state, axum::Router::new(), shutdown).await
}

/// Serves the provider's routes together with `extra` (routes of its own,
/// such as an idflow server's API; they must not overlap the provider's
/// and have no fallback), as [`serve_state`] does.
pub async fn serve_state_with(
    listener: TcpListener,
    state: AppState,
    extra: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ProviderError> {
    let limits = connection_limits(state.config());
    let routes = router(state.clone()).merge(extra);
    crate::connections::serve(listener, routes, limits, shutdown).await;
    state.shutdown().await;
    Ok(())
}

/// The connection limits a configuration sets.
pub fn connection_limits(config: &ProviderConfig) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: config.header_read_timeout,
        request_timeout: config.request_timeout,
        max_connections: config.max_connections,
    }
}

/// A provider running in-process; stop it with [`EmbeddedProvider::shutdown`].
#[derive(Debug)]
pub struct EmbeddedProvider {
    addr: SocketAddr,
    state: AppState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ProviderError>>,
}

impl EmbeddedProvider {
    /// The bound address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the API, the upload links and the verification page.
    pub fn base_url(&self) -> &Url {
        self.state.base_url()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Notifications of processed records (see [`AppState::subscribe_processed`]).
    pub fn subscribe_processed(&self) -> tokio::sync::broadcast::Receiver<ProcessedEvent> {
        self.state.subscribe_processed()
    }

    /// Stops serving, waits for background work, closes the database.
    pub async fn shutdown(self) -> Result<(), ProviderError> {
        // The server may already have stopped on its own; its result says why.
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|error| ProviderError::ServerTask(error.to_string()))?
    }
}

/// Loads the face engine and starts the provider on `127.0.0.1:0`.
pub async fn start_embedded(config: ProviderConfig) -> Result<EmbeddedProvider, ProviderError> {
    let engine = load_engine(&config).await?;
    start_embedded_with_engine(config, engine).await
}

/// Starts the provider on `127.0.0.1:0` with an engine already loaded.
pub async fn start_embedded_with_engine(
    mut config: ProviderConfig,
    engine: Arc<FaceEngine>,
) -> Result<EmbeddedProvider, ProviderError> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    if config.public_base_url.is_none() {
        config.public_base_url = Some(url_of(addr)?);
    }
    let state = AppState::open_with_engine(config, engine).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_state(listener, state.clone(), async move {
        // A dropped sender also stops the server.
        let _ = stopped.await;
    }));
    Ok(EmbeddedProvider {
        addr,
        state,
        stop,
        task,
    })
}
