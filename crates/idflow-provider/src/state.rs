//! The shared state of a running provider: configuration, store, keys, the
//! face engine, background tasks, and the notification of processed records.

use std::sync::Arc;

use idflow_vision::{EngineConfig, FaceEngine};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use crate::clients::ClientKeys;
use crate::config::ProviderConfig;
use crate::error::ProviderError;
use crate::model::{Status, TargetKind};
use crate::secrets::Keys;
use crate::store::Store;
use crate::webhook_targets::PublicOnlyResolver;

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
    client_keys: ClientKeys,
    engine: Arc<FaceEngine>,
    /// Webhook deliveries that may go to any address.
    http: reqwest::Client,
    /// Webhook deliveries that may go to public addresses only.
    public_http: reqwest::Client,
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
    /// share one engine between providers, as tests do). Idempotency-Keys
    /// left in flight by a previous run are released: a data directory is
    /// served by one process at a time.
    pub async fn open_with_engine(
        config: ProviderConfig,
        engine: Arc<FaceEngine>,
    ) -> Result<Self, ProviderError> {
        let base_url = config
            .public_base_url
            .clone()
            .ok_or(ProviderError::MissingPublicUrl)?;
        crate::data_dir::prepare(&config.data_dir)?;
        let keys = Keys::load_or_create(&config.data_dir)?;
        let store = Store::open(&config.data_dir).await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ProviderError::HttpClient(error.to_string()))?;
        let public_http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnlyResolver))
            .build()
            .map_err(|error| ProviderError::HttpClient(error.to_string()))?;
        let (processed, _) = broadcast::channel(1024);
        let state = Self {
            inner: Arc::new(Inner {
                config,
                base_url,
                store,
                keys,
                client_keys: ClientKeys::default(),
                engine,
                http,
                public_http,
                processed,
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
            }),
        };
        let released = state.store().release_in_flight_idempotency().await?;
        if released > 0 {
            tracing::warn!(
                count = released,
                "released Idempotency-Keys left in flight by the previous run; their requests may be retried"
            );
        }
        crate::processing::resume_pending(&state).await?;
        crate::processing::sweep_expired_enrollments(&state);
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

    pub(crate) fn client_keys(&self) -> &ClientKeys {
        &self.inner.client_keys
    }

    pub(crate) fn engine(&self) -> &FaceEngine {
        &self.inner.engine
    }

    /// The HTTP client for webhook deliveries to `url`: one that connects
    /// only to public addresses unless the configuration allows any for it.
    pub(crate) fn webhook_client(&self, url: &Url) -> &reqwest::Client {
        if self.inner.config.webhook_targets.allows_any_address(url) {
            &self.inner.http
        } else {
            &self.inner.public_http
        }
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
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.tasks.spawn(task)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EnrollmentType;
    use crate::store::{LinkUse, NewEnrollment, NewLink};

    /// A photo received but not processed before a stop is processed at the
    /// next start, and then forgotten.
    #[tokio::test]
    async fn photos_left_unprocessed_are_processed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let photo = idflow_vision::assets::photo("obama.jpg").unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).await.unwrap();
        let key = crate::clients::insert_client(&store, "alpha")
            .await
            .unwrap();
        let crate::clients::KeyCheck::Valid { client_id } =
            crate::clients::check_api_key(&store, &key).await.unwrap()
        else {
            panic!("the new key is refused")
        };
        let new = NewEnrollment {
            id: "ENR1",
            client_id: &client_id,
            account_id: "acct",
            enrollment_type: EnrollmentType::FaceRecognition,
            country: None,
            fraud_reason: None,
            now: 1,
        };
        let link = NewLink {
            nonce: "n1",
            expires_at: i64::MAX,
        };
        store.insert_enrollment(&new, &link).await.unwrap();
        // The upload is accepted, then the provider "stops" before processing.
        assert!(matches!(
            store.use_upload_link("n1", 2, &photo).await.unwrap(),
            LinkUse::Accepted { .. }
        ));
        assert_eq!(store.pending_images().await.unwrap().len(), 1);
        store.close().await;

        let mut config = ProviderConfig::new(dir.path(), idflow_vision::assets::models_dir());
        config.public_base_url = Some(Url::parse("http://127.0.0.1:9").unwrap());
        config.workers = 1;
        let state = AppState::open(config).await.unwrap();
        // Shutting down waits for background work, including the resumed photo.
        state.shutdown().await;

        let store = Store::open(dir.path()).await.unwrap();
        let row = store.enrollment(&client_id, "ENR1").await.unwrap().unwrap();
        assert_eq!(row.status, "success");
        assert!(
            store.pending_images().await.unwrap().is_empty(),
            "the photo is forgotten"
        );
        store.close().await;
    }
}
