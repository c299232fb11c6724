//! Webhook delivery: each event is POSTed to every webhook of its client as
//! `Content-Type: application/jwt`, the body a JWT (HS256) signed with the
//! hook's secret, with claims `iss`, `iat`, `jti` (the event id), `event`,
//! `webhook_id` and `data` (the record as the API shows it). A delivery that
//! does not get a 2xx answer is retried with doubling delays
//! ([`crate::RetryPolicy`]); retries stop when the provider shuts down.
//!
//! Events: `enrollment.succeeded`, `enrollment.failed`,
//! `validation.succeeded`, `validation.failed` (validations created through
//! the API; `data` with its `details`), `process.succeeded`,
//! `process.failed` (web processes, whose validations send no event of
//! their own). Each delivery checks its target again
//! ([`crate::WebhookTargets`]).

use axum::http::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::jwt;
use crate::model::{new_id, prefix};
use crate::state::AppState;
use crate::store::WebhookRow;
use crate::webhook_targets::is_public;

/// The address written in `url`, if its host is one.
fn ip_of(url: &url::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// Sends `event` with `data` to the client's webhooks, in the background.
pub(crate) fn emit(state: &AppState, client_id: &str, event: &'static str, data: Value) {
    let task_state = state.clone();
    let client_id = client_id.to_owned();
    state.spawn(async move {
        let hooks = match task_state.store().webhooks(&client_id).await {
            Ok(hooks) => hooks,
            Err(error) => {
                tracing::error!(%error, event, "could not read webhooks; event not sent");
                return;
            }
        };
        let event_id = new_id(prefix::EVENT);
        for hook in hooks {
            let claims = json!({
                "iss": "idflow-provider",
                "iat": task_state.now(),
                "jti": event_id,
                "event": event,
                "webhook_id": hook.id,
                "data": data,
            });
            let delivery_state = task_state.clone();
            task_state.spawn(async move { deliver(&delivery_state, &hook, event, &claims).await });
        }
    });
}

async fn deliver(state: &AppState, hook: &WebhookRow, event: &str, claims: &Value) {
    let Ok(url) = url::Url::parse(&hook.url) else {
        tracing::error!(
            webhook = hook.id,
            event,
            "a stored webhook URL is invalid; not sent"
        );
        return;
    };
    // Checked again at each delivery: the operator's settings may have
    // changed, and names are resolved to public addresses only.
    let client = state.webhook_client(&url);
    if let Some(ip) = ip_of(&url)
        && !state.config().webhook_targets.allows_any_address(&url)
        && !is_public(ip)
    {
        tracing::warn!(
            webhook = hook.id,
            event,
            "webhook not sent: its address is not public and private webhooks are not allowed"
        );
        return;
    }
    let body = jwt::sign(hook.secret.as_bytes(), claims);
    let policy = state.config().webhook_retry;
    for attempt in 1..=policy.attempts.max(1) {
        if attempt > 1 {
            tokio::select! {
                () = tokio::time::sleep(policy.delay_before(attempt - 1)) => {}
                () = state.stopping().cancelled() => {
                    tracing::warn!(webhook = hook.id, event, "shutting down; webhook delivery abandoned");
                    return;
                }
            }
        }
        let sent = client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/jwt")
            .timeout(policy.request_timeout)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(webhook = hook.id, event, attempt, "webhook delivered");
                return;
            }
            Ok(response) => tracing::warn!(
                webhook = hook.id,
                event,
                attempt,
                status = response.status().as_u16(),
                "webhook refused"
            ),
            Err(error) => tracing::warn!(
                webhook = hook.id,
                event,
                attempt,
                error = %error.without_url(),
                "webhook unreachable"
            ),
        }
    }
    tracing::error!(
        webhook = hook.id,
        event,
        "webhook delivery gave up after all attempts"
    );
}
