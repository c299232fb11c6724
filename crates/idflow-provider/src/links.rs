//! Upload links: `<base>/v1/uploads/<nonce>?expires=<unix>&signature=<hex>`,
//! where the signature is HMAC-SHA256 (installation key) of `nonce.expires`.
//! The link is the credential (no API key): forged links are refused before
//! the store is read; the store makes each link single-use and expiring.

use crate::secrets::{constant_time_eq, hmac_sha256, random_hex};
use crate::state::AppState;

/// A link issued for a new record.
#[derive(Debug, Clone)]
pub(crate) struct IssuedLink {
    pub(crate) nonce: String,
    pub(crate) expires_at: i64,
    pub(crate) url: String,
}

fn signature(key: &[u8], nonce: &str, expires_at: i64) -> String {
    hex::encode(hmac_sha256(key, format!("{nonce}.{expires_at}").as_bytes()))
}

/// Issues a link valid until `expires_at`.
pub(crate) fn issue(state: &AppState, expires_at: i64) -> IssuedLink {
    let nonce = random_hex::<16>();
    let signature = signature(state.keys().upload_links(), &nonce, expires_at);
    let base = state.base_url().as_str().trim_end_matches('/');
    let url = format!("{base}/v1/uploads/{nonce}?expires={expires_at}&signature={signature}");
    IssuedLink {
        nonce,
        expires_at,
        url,
    }
}

/// Whether the link's signature is the one this installation issued.
pub(crate) fn signature_is_valid(
    state: &AppState,
    nonce: &str,
    expires: &str,
    presented: &str,
) -> bool {
    let Ok(expires_at) = expires.parse::<i64>() else {
        return false;
    };
    let expected = signature(state.keys().upload_links(), nonce, expires_at);
    constant_time_eq(expected.as_bytes(), presented.as_bytes())
}
