//! # idflow-server: the idflow server's HTTP side
//!
//! The runs API under `/api/v1` (start, find, watch and cancel durable
//! runs of the workflows in a folder), the run viewer under `/ui`, its
//! bearer tokens, health checks and the OpenAPI document generated from
//! the handlers. It does not
//! listen or execute anything itself: the `idflow serve` command binds
//! the socket, runs the executor's worker loop beside it, and merges in
//! the embedded provider's routes.
//!
//! ## Layout
//! - [`catalog`]: the workflows a server offers, validated at start and
//!   on reload; invalid files are kept with their diagnostics.
//! - [`tokens`]: API tokens: made, hashed, compared in constant time.
//! - [`watch`]: a [`RunStore`](idflow_engine::run::RunStore) wrapper that
//!   tells live watchers which runs changed.
//! - [`error`]: the one error shape, `{"error": {"code", "message"}}`.
//! - [`api`]: the routes, one module per resource (the provider's signed
//!   webhooks in [`api::hooks`]), and the OpenAPI document.
//! - [`health`]: `/healthz` and `/readyz`.
//! - [`ui`]: the run viewer (sign-in, runs, a run's graph and timeline),
//!   its pages embedded in the binary.
//! - [`metrics`]: `/metrics`, the Prometheus text of the recorder the
//!   binary installed, with the store's due work read when scraped.

pub mod api;
pub mod catalog;
pub mod error;
pub mod health;
pub mod metrics;
pub mod tokens;
pub mod ui;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use idflow_engine::run::{Executor, SecretSource};
use idflow_face::webhooks::WebhookSecret;
use idflow_store::ApiStore;

pub use api::hooks::{EventTarget, Hooks};
pub use api::{openapi, router};
pub use catalog::Catalog;
pub use error::ApiError;
pub use metrics::RenderMetrics;
pub use tokens::Tokens;
pub use watch::{Changes, WatchedStore};

/// Everything the handlers share.
#[derive(Clone)]
pub struct ServerState {
    inner: Arc<StateInner>,
}

struct StateInner {
    executor: Executor,
    api_store: Arc<dyn ApiStore>,
    catalog: Catalog,
    tokens: Tokens,
    changes: Changes,
    secrets: Arc<dyn SecretSource>,
    uploads: PathBuf,
    metrics: Option<RenderMetrics>,
    hooks: Hooks,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("executor", &self.inner.executor)
            .field("uploads", &self.inner.uploads)
            .finish_non_exhaustive()
    }
}

/// What a server is made of.
pub struct ServerParts {
    /// Executes the runs (its store should be a [`WatchedStore`] sending
    /// to `changes`, so that live progress is prompt).
    pub executor: Executor,
    /// Where tokens and idempotency keys are kept.
    pub api_store: Arc<dyn ApiStore>,
    /// The workflows offered.
    pub catalog: Catalog,
    /// Run changes, for live progress.
    pub changes: Changes,
    /// Where a start checks that the secrets a workflow reads are set.
    pub secrets: Arc<dyn SecretSource>,
    /// Where files given as inputs are written (a folder per run).
    pub uploads: PathBuf,
    /// The metrics recorder's text, served at `/metrics` (none: no such
    /// route).
    pub metrics: Option<RenderMetrics>,
    /// The secrets the provider's webhooks may be signed with
    /// (`POST /api/v1/hooks/truora`; none: refused until one is added with
    /// [`ServerState::hooks`]).
    pub hook_secrets: Vec<WebhookSecret>,
}

impl std::fmt::Debug for ServerParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerParts")
            .field("executor", &self.executor)
            .field("uploads", &self.uploads)
            .finish_non_exhaustive()
    }
}

impl ServerState {
    /// The state of a server made of `parts`.
    pub fn new(parts: ServerParts) -> Self {
        let tokens = Tokens::new(Arc::clone(&parts.api_store));
        let hooks = Hooks::new(parts.hook_secrets, Arc::new(parts.executor.clone()));
        Self {
            inner: Arc::new(StateInner {
                executor: parts.executor,
                api_store: parts.api_store,
                catalog: parts.catalog,
                tokens,
                changes: parts.changes,
                secrets: parts.secrets,
                uploads: parts.uploads,
                metrics: parts.metrics,
                hooks,
            }),
        }
    }

    /// The executor of the runs.
    pub fn executor(&self) -> &Executor {
        &self.inner.executor
    }

    /// The workflows offered.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The API tokens.
    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// The receiver of the provider's webhooks (add the secret of a hook
    /// registered after the start here).
    pub fn hooks(&self) -> &Hooks {
        &self.inner.hooks
    }

    pub(crate) fn api_store(&self) -> &Arc<dyn ApiStore> {
        &self.inner.api_store
    }

    pub(crate) fn changes(&self) -> &Changes {
        &self.inner.changes
    }

    pub(crate) fn secrets(&self) -> &Arc<dyn SecretSource> {
        &self.inner.secrets
    }

    pub(crate) fn uploads(&self) -> &PathBuf {
        &self.inner.uploads
    }

    pub(crate) fn metrics(&self) -> Option<&RenderMetrics> {
        self.inner.metrics.as_ref()
    }
}
