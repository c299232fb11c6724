//! The HTTP surface: every route of the provider on one origin, and the JSON
//! answers for unknown routes and methods.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `POST /v1/enrollments` | API key | create an enrollment (idempotent) |
//! | `GET /v1/enrollments/{id}` | API key | read an enrollment |
//! | `DELETE /v1/enrollments/{id}` | API key | delete an enrollment and its embedding |
//! | `GET /v1/accounts/{account_id}/enrollments` | API key | an account's enrollments |
//! | `PUT /v1/uploads/{nonce}?expires=..&signature=..` | the link | upload the photo |
//! | `POST /v1/validations` | API key | create a face validation (idempotent) |
//! | `GET /v1/validations/{id}[?show_details=true]` | API key | read a validation |
//! | `POST /v1/api-keys` | API key | create a web token (idempotent) |
//! | `GET /v1/processes/{id}/result` | API key | result of a web process |
//! | `POST /v1/webhooks`, `GET /v1/webhooks`, `DELETE /v1/webhooks/{id}` | API key | webhooks |
//! | `GET /?token=..` | web token | the verification page |
//! | `GET /assets/verify.js`, `GET /assets/verify.css` | none | the page's script and style |
//! | `POST /v1/web/processes` | web token (Bearer) | the page's photo: starts the process |
//! | `POST /v1/web/processes/{id}/photos` | web token (Bearer) | another photo after an unusable one |
//! | `GET /v1/web/processes/{id}` | web token (Bearer) | the page polls the outcome |
//!
//! Every request is answered within [`crate::ProviderConfig::request_timeout`]
//! (else 408, code 40801).

mod api_keys;
mod enrollments;
pub(crate) mod error;
mod extract;
mod idempotency;
mod processes;
mod uploads;
mod validations;
mod web;
mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

pub use error::ApiError;
pub use extract::{API_KEY_HEADER, FORM_LIMIT, IDEMPOTENCY_HEADER};
pub use idempotency::REPLAYED_HEADER;
pub use validations::DEFAULT_THRESHOLD;

use crate::state::AppState;

/// The provider's routes, ready to serve.
pub fn router(state: AppState) -> Router {
    let request_timeout = state.config().request_timeout;
    Router::new()
        .route("/", get(web::page))
        .route("/assets/verify.js", get(web::script))
        .route("/assets/verify.css", get(web::style))
        .route("/v1/enrollments", post(enrollments::create))
        .route(
            "/v1/enrollments/{enrollment_id}",
            get(enrollments::read).delete(enrollments::delete),
        )
        .route(
            "/v1/accounts/{account_id}/enrollments",
            get(enrollments::list_for_account),
        )
        .route("/v1/uploads/{nonce}", put(uploads::upload))
        .route("/v1/validations", post(validations::create))
        .route("/v1/validations/{validation_id}", get(validations::read))
        .route("/v1/api-keys", post(api_keys::create))
        .route("/v1/processes/{process_id}/result", get(processes::result))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{webhook_id}",
            axum::routing::delete(webhooks::delete),
        )
        .route("/v1/web/processes", post(web::start_process))
        .route("/v1/web/processes/{process_id}", get(web::poll_process))
        .route(
            "/v1/web/processes/{process_id}/photos",
            post(web::add_photo),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(request_timeout, time_limit))
        .with_state(state)
}

/// Answers 408 when the request is not answered within `limit`. Creating
/// work goes on in its own task (see `idempotency`).
async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::request_timeout(limit).into_response(),
    }
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;

    /// A body sent too slowly (or any request not answered in time) gets a
    /// JSON 408 instead of holding its connection for good.
    #[tokio::test(start_paused = true)]
    async fn requests_not_answered_within_the_timeout_get_408() {
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_mins(5)).await;
                    "late"
                }),
            )
            .layer(middleware::from_fn_with_state(
                Duration::from_mins(1),
                time_limit,
            ));
        let request = Request::get("/slow").body(Body::empty()).unwrap();
        let started = tokio::time::Instant::now();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_mins(1));
        assert_eq!(response.status(), axum::http::StatusCode::REQUEST_TIMEOUT);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], 40801, "{body}");
    }
}
