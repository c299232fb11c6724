//! The routes of `/api/v1`, every one behind [`require_token`] but the
//! provider's webhooks (authenticated by their signature), and the OpenAPI
//! 3.1 document generated from their annotations (served at
//! `/api/v1/openapi.json`). Routes are registered through utoipa-axum, so
//! a route cannot exist without being documented, and the document's path
//! list is the router's route list (the tests walk it; a route without a
//! token says `security: [{}]`).
//!
//! - [`workflows`]: the workflows offered.
//! - [`runs`]: start, list, read and cancel runs; a run's timeline and
//!   the graph of its pinned workflow.
//! - [`events`]: a run's live progress as Server-Sent Events.
//! - [`inbox`]: outside events sent to the run steps waiting for them.
//! - [`hooks`]: the face provider's signed webhooks, turned into events
//!   that wake the runs waiting for them.
//! - [`request`]: JSON bodies and `Idempotency-Key`s, read alike by every
//!   write route.

pub mod events;
pub mod hooks;
pub mod inbox;
pub mod request;
pub mod runs;
pub mod workflows;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDocument, Server};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{method_not_allowed, no_such_route};
use crate::tokens::require_token;
use crate::{ServerState, health};

/// Where the API lives.
pub const API_PREFIX: &str = "/api/v1";

/// The largest request body: a run's inputs with its files (base64).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "idflow",
        description = "Start, find, watch and cancel durable identity-verification runs. Every route needs `Authorization: Bearer TOKEN` (`idflow token create NAME`) but the provider's webhooks, which are signed. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    tags(
        (name = "workflows", description = "The workflows this server offers."),
        (name = "runs", description = "Runs: start, list, read, watch, cancel."),
        (name = "events", description = "Outside events for the run steps that wait for them."),
        (name = "hooks", description = "Webhooks of the face provider, authenticated by their signature instead of a token."),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes: those behind the token, those authenticated
/// otherwise (the provider's webhooks), and their document.
fn parts() -> (Router<ServerState>, Router<ServerState>, OpenApiDocument) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(workflows::list_workflows))
        .routes(routes!(workflows::get_workflow))
        .routes(routes!(runs::start_run, runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(runs::get_timeline))
        .routes(routes!(runs::get_graph))
        .routes(routes!(events::run_events))
        .routes(routes!(inbox::send_event))
        .split_for_parts();
    let (signed, signed_document) = OpenApiRouter::new()
        .routes(routes!(hooks::truora_hook))
        .split_for_parts();
    document.merge(signed_document);
    document.servers = Some(vec![Server::new(API_PREFIX)]);
    (router, signed, document)
}

/// The OpenAPI document of the API.
pub fn openapi() -> OpenApiDocument {
    parts().2
}

/// Every route of the server's HTTP side: `/api/v1/...` (tokens needed,
/// but for the provider's webhooks),
/// the run viewer under `/ui` (a session needed), the health checks and,
/// when the state has a recorder, `/metrics`.
pub fn router(state: ServerState) -> Router {
    let (routes, signed, document) = parts();
    let serves_metrics = state.metrics().is_some();
    let document: std::sync::Arc<str> = document
        .to_json()
        .unwrap_or_else(|_| "{}".to_owned())
        .into();
    let api = routes
        .route(
            "/openapi.json",
            get(move || {
                let document = std::sync::Arc::clone(&document);
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        document.to_string(),
                    )
                }
            }),
        )
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        // Added after the token layer, which thus leaves them out.
        .merge(signed.layer(DefaultBodyLimit::max(hooks::MAX_HOOK_BODY_BYTES)));
    let mut router = Router::new()
        .nest(API_PREFIX, api)
        .merge(crate::ui::router(state.clone()))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if serves_metrics {
        router = router.route("/metrics", get(crate::metrics::metrics));
    }
    router.with_state(state)
}
