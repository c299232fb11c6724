//! Web tokens: JWTs (HS256, installation key) for the verification page.
//!
//! Claims: `iss` (`idflow-provider`), `jti`, `iat`, `exp`, `key_type` (`web`),
//! `grant` (`digital-identity`), `api_key_version` (1), `client_id`, and
//! `additional_data` {`country`, `account_id`, `flow_id`?, `redirect_url`?}.
//! The store keeps each token's id, so a token is bound to its client and
//! account, expires (the stored expiry, checked against the provider's
//! clock), and starts one process only.

use serde_json::{Map, Value, json};

use crate::jwt;
use crate::state::AppState;
use crate::store::{NewWebToken, WebTokenRow};

/// Issuer claim of tokens and webhook bodies.
pub(crate) const ISSUER: &str = "idflow-provider";

/// The JWT for a stored token.
pub(crate) fn sign(state: &AppState, token: &NewWebToken<'_>) -> String {
    let mut additional = Map::new();
    additional.insert("country".into(), json!(token.country));
    additional.insert("account_id".into(), json!(token.account_id));
    if let Some(flow_id) = token.flow_id {
        additional.insert("flow_id".into(), json!(flow_id));
    }
    if let Some(redirect_url) = token.redirect_url {
        additional.insert("redirect_url".into(), json!(redirect_url));
    }
    let claims = json!({
        "iss": ISSUER,
        "jti": token.jti,
        "iat": token.now,
        "exp": token.expires_at,
        "key_type": "web",
        "grant": "digital-identity",
        "api_key_version": 1,
        "client_id": token.client_id,
        "additional_data": Value::Object(additional),
    });
    jwt::sign(state.keys().web_tokens(), &claims)
}

/// What a presented token is worth.
#[derive(Debug)]
pub(crate) enum TokenCheck {
    /// Malformed, forged, or unknown to this installation.
    Invalid,
    Expired(WebTokenRow),
    /// It already started its process.
    Used(WebTokenRow),
    Usable(WebTokenRow),
}

/// Checks a presented token against the signature, the store and the clock.
pub(crate) async fn check(state: &AppState, token: &str) -> Result<TokenCheck, sqlx::Error> {
    let Ok(claims) = jwt::verify(state.keys().web_tokens(), token) else {
        return Ok(TokenCheck::Invalid);
    };
    let Some(jti) = claims.get("jti").and_then(Value::as_str) else {
        return Ok(TokenCheck::Invalid);
    };
    let Some(row) = state.store().web_token(jti).await? else {
        return Ok(TokenCheck::Invalid);
    };
    if claims.get("client_id").and_then(Value::as_str) != Some(row.client_id.as_str()) {
        return Ok(TokenCheck::Invalid);
    }
    Ok(if state.now() >= row.expires_at {
        TokenCheck::Expired(row)
    } else if row.process_id.is_some() {
        TokenCheck::Used(row)
    } else {
        TokenCheck::Usable(row)
    })
}
