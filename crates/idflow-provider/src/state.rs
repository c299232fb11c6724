//! The shared state of a running provider: configuration, store, keys, the
//! face engine, background tasks, and the notification of processed records.

use std::sync::Arc;

use idflow_vision::{EngineConfig, FaceEngine};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::config::ProviderConfig;
use crate::error::ProviderError;
use crate::model::{Status, TargetKind};
use crate::secrets::Keys;
use crate::store::Store;

/// A record whose photo was processed (sent once its outcome is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedEvent {
    pub kind: TargetKind,
    pub id: String,
    pub status: Status,
    pub reason: Option<String>,
}

/// State shared by all requests and background tasks; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ProviderConfig,
    base_url: Url,
    store: Store,
    keys: Keys,
    engine: Arc<FaceEngine>,
    http: reqwest::Client,
    processed: broadcast::Sender<ProcessedEvent>,
    tasks: TaskTracker,
    stopping: CancellationToken,
}

impl AppState {
    /// Loads the face models (about a second) and opens the data directory.
    /// `config.public_base_url` must be set ([`crate::serve`] sets it).
    pub async fn open(config: ProviderConfig) -> Result<Self, ProviderError> {
        let engine = load_engine(&config).await?;
        Self::open_with_engine(config, engine).await
    }

    /// Opens the data directory with an engine that is already loaded (to
    /// share one engine between providers, as tests do).
    pub async fn open_with_engine(
        config: ProviderConfig,
        engine: Arc<FaceEngine>,
    ) -> Result<Self, ProviderError> {
        let base_url = config
            .public_base_url
            .clone()
            .ok_or(ProviderError::MissingPublicUrl)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ProviderError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let keys = Keys::load_or_create(&config.data_dir)?;
        let store = Store::open(&config.data_dir).await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ProviderError::HttpClient(error.to_string()))?;
        let (processed, _) = broadcast::channel(1024);
        let state = Self {
            inner: Arc::new(Inner {
                config,
                base_url,
                store,
                keys,
                engine,
                http,
                processed,
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
            }),
        };
        crate::processing::resume_pending(&state).await?;
        Ok(state)
    }

    /// Notifications of processed enrollments and validations. Subscribe
    /// before the upload whose outcome you wait for.
    pub fn subscribe_processed(&self) -> broadcast::Receiver<ProcessedEvent> {
        self.inner.processed.subscribe()
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// The base URL written into links.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// Stops background work (webhook retries are abandoned, analyses in
    /// progress finish) and closes the database.
    pub async fn shutdown(&self) {
        self.inner.stopping.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        self.inner.store.close().await;
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub(crate) fn engine(&self) -> &FaceEngine {
        &self.inner.engine
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.config.clock.unix_now()
    }

    pub(crate) fn stopping(&self) -> &CancellationToken {
        &self.inner.stopping
    }

    pub(crate) fn notify_processed(&self, event: ProcessedEvent) {
        // No subscriber is fine: notifications are for whoever listens.
        let _ = self.inner.processed.send(event);
    }

    /// Runs `task` in the background; `shutdown` waits for it.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.tasks.spawn(task);
    }
}

/// Loads the face engine off the async runtime (it blocks while models load).
pub async fn load_engine(config: &ProviderConfig) -> Result<Arc<FaceEngine>, ProviderError> {
    let engine_config = EngineConfig::new(config.models_dir.clone()).with_workers(config.workers);
    tokio::task::spawn_blocking(move || FaceEngine::load(engine_config))
        .await
        .map_err(|error| ProviderError::ServerTask(error.to_string()))?
        .map(Arc::new)
        .map_err(ProviderError::Engine)
}
