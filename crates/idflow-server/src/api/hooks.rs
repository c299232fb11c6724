//! `POST /api/v1/hooks/truora`: the face provider's signed webhooks in,
//! each turned into outside events that wake the runs waiting for them.
//!
//! The route needs no API token: the webhook's signature (a JWT signed
//! with HS256 under one of the hook's secrets, see [`idflow_face::webhooks`])
//! is its authentication. A body that is not such a JWT, is signed with
//! another secret, or has expired is refused with 401 and delivers
//! nothing; a signed one is delivered as one event per key
//! ([`idflow_face::webhooks::keys`]: `truora:enrollment:<id>`,
//! `truora:validation:<id>`, `truora:process:<id>` and
//! `truora:account:<account_id>:process`) with the webhook's `data` and
//! `event` as payload, under an idempotency key derived from its `jti`, so
//! that a provider's retry is delivered once. The answer is 202.
//!
//! [`Hooks`] holds the secrets (more can be added while serving: a hook
//! registered with the provider after the server started) and where the
//! events go ([`EventTarget`]: the executor of durable runs, or the
//! [`MemoryInbox`] of in-memory ones); [`router`] serves the route alone,
//! for a process that runs workflows without the server (`idflow run`).

use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;
use idflow_engine::run::{Delivery, ExecError, Executor, MemoryInbox};
use idflow_face::webhooks::{self, WebhookError, WebhookSecret};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::ServerState;
use crate::api::API_PREFIX;
use crate::error::{ApiError, ErrorBody};

/// The path of the provider's webhooks, under [`API_PREFIX`].
pub const TRUORA_HOOK_PATH: &str = "/hooks/truora";

/// The largest webhook body (a record and its claims are a few KiB).
pub const MAX_HOOK_BODY_BYTES: usize = 256 * 1024;

/// Where the events of webhooks go.
#[async_trait]
pub trait EventTarget: Send + Sync + 'static {
    /// Delivers one event (see [`idflow_core::inbox`]).
    async fn deliver(
        &self,
        key: &str,
        payload: &Value,
        idempotency_key: &str,
    ) -> Result<Delivery, ExecError>;
}

#[async_trait]
impl EventTarget for Executor {
    async fn deliver(
        &self,
        key: &str,
        payload: &Value,
        idempotency_key: &str,
    ) -> Result<Delivery, ExecError> {
        self.deliver_event(key, payload, Some(idempotency_key))
            .await
    }
}

#[async_trait]
impl EventTarget for MemoryInbox {
    async fn deliver(
        &self,
        key: &str,
        payload: &Value,
        idempotency_key: &str,
    ) -> Result<Delivery, ExecError> {
        Ok(MemoryInbox::deliver(
            self,
            key,
            payload.clone(),
            Some(idempotency_key),
        ))
    }
}

/// The webhook receiver: the secrets a webhook may be signed with, and
/// where its events go. Clones share both.
#[derive(Clone)]
pub struct Hooks {
    secrets: Arc<RwLock<Vec<WebhookSecret>>>,
    target: Arc<dyn EventTarget>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("secrets", &self.read_secrets().len())
            .finish_non_exhaustive()
    }
}

impl Hooks {
    /// A receiver of webhooks signed with one of `secrets` (none: every
    /// webhook is refused until one is added), delivering to `target`.
    pub fn new(secrets: Vec<WebhookSecret>, target: Arc<dyn EventTarget>) -> Self {
        Self {
            secrets: Arc::new(RwLock::new(secrets)),
            target,
        }
    }

    /// Accepts webhooks signed with `secret` too, from now on.
    pub fn add_secret(&self, secret: WebhookSecret) {
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if !secrets.contains(&secret) {
            secrets.push(secret);
        }
    }

    /// No longer accepts webhooks signed with `secret`.
    pub fn remove_secret(&self, secret: &WebhookSecret) {
        self.secrets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|kept| kept != secret);
    }

    fn read_secrets(&self) -> Vec<WebhookSecret> {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl FromRef<ServerState> for Hooks {
    fn from_ref(state: &ServerState) -> Self {
        state.hooks().clone()
    }
}

/// The route alone, at `/api/v1/hooks/truora`: for a process that runs
/// workflows without the server (`idflow run` listens on loopback with it
/// while its run lasts).
pub fn router(hooks: Hooks) -> Router {
    Router::new()
        .route(
            &format!("{API_PREFIX}{TRUORA_HOOK_PATH}"),
            post(truora_hook).layer(DefaultBodyLimit::max(MAX_HOOK_BODY_BYTES)),
        )
        .with_state(hooks)
}

/// A webhook accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookAccepted {
    /// The provider's event (`enrollment.succeeded`, ...).
    pub event: String,
    /// What became of each event it was turned into (none for an event
    /// of a kind no step waits for).
    pub deliveries: Vec<HookDelivery>,
}

/// What became of one event.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookDelivery {
    /// The event's key (`truora:enrollment:ENR...`).
    pub key: String,
    /// `delivered` (a waiting step has it), `kept` (for the first wait
    /// for its key) or `duplicate` (a retry of a webhook delivered before).
    pub outcome: String,
}

/// The provider's webhook, turned into events.
#[utoipa::path(
    post,
    path = "/hooks/truora",
    tag = "hooks",
    security(()),
    request_body(
        content = String,
        content_type = "application/jwt",
        description = "The webhook: a JWT signed with HS256 under the hook's secret, with claims `jti`, `iat`, `event` and `data`."
    ),
    responses(
        (status = 202, description = "Delivered: each event went to the step waiting for its key, was kept for the first wait, or was a retry already delivered.", body = HookAccepted),
        (status = 401, description = "The body is not a webhook signed with this server's hook secret, or it has expired; nothing was delivered.", body = ErrorBody),
        (status = 413, description = "The body is too large.", body = ErrorBody),
        (status = 422, description = "Correctly signed, but its claims lack what the event's key needs.", body = ErrorBody),
        (status = 503, description = "The run store cannot be used now; the provider retries.", body = ErrorBody),
    )
)]
pub async fn truora_hook(
    State(hooks): State<Hooks>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<HookAccepted>), ApiError> {
    let body = body?;
    let secrets = hooks.read_secrets();
    if secrets.is_empty() {
        tracing::warn!("a provider webhook was refused: this server has no hook secret");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "hook_not_configured",
            "this server accepts no provider webhooks: it has no hook secret (set \
             IDFLOW_HOOK_SECRET, or serve the embedded provider, which registers its own hook)",
        ));
    }
    let token = std::str::from_utf8(&body).unwrap_or_default();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let webhook = webhooks::verify(&secrets, token, now).map_err(refused)?;
    let events = webhook.events().map_err(refused)?;
    let mut deliveries = Vec::with_capacity(events.len());
    for event in events {
        let delivery = hooks
            .target
            .deliver(&event.key, &event.payload, &event.idempotency_key)
            .await?;
        let outcome = match delivery {
            Delivery::Delivered { .. } => "delivered",
            Delivery::Kept => "kept",
            Delivery::Duplicate => "duplicate",
        };
        tracing::info!(
            webhook = %webhook.event,
            key = %event.key,
            outcome,
            "provider webhook"
        );
        deliveries.push(HookDelivery {
            key: event.key,
            outcome: outcome.to_owned(),
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(HookAccepted {
            event: webhook.event,
            deliveries,
        }),
    ))
}

/// 401 for a webhook that is not the provider's, 422 for one whose claims
/// do not do.
fn refused(error: WebhookError) -> ApiError {
    tracing::warn!(reason = %error, "a provider webhook was refused");
    match error {
        WebhookError::Claims(problem) => ApiError::unprocessable(
            "invalid_webhook_claims",
            format!("the webhook's claims are not usable: {problem}"),
        ),
        unauthenticated => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_webhook",
            format!("{unauthenticated}: webhooks must be signed with this server's hook secret"),
        ),
    }
}
