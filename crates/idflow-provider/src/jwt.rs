//! Compact JWTs signed with HS256 (web tokens, webhook bodies): signing and
//! verification with a constant-time signature check.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::secrets::{constant_time_eq, hmac_sha256};

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is not signed with HS256")]
    WrongAlgorithm,
    #[error("the token signature is not valid")]
    BadSignature,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs `claims` (a JSON object) with HS256 under `key`.
pub(crate) fn sign(key: &[u8], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(key, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// Verifies the signature of `token` under `key` and returns its claims.
/// Expiry is the caller's business (it owns the clock).
pub(crate) fn verify(key: &[u8], token: &str) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Value = decode_json(header)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::WrongAlgorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let signing_input_len = token.len() - signature_len(token);
    let expected = hmac_sha256(key, &token.as_bytes()[..signing_input_len]);
    if !constant_time_eq(&expected, &signature) {
        return Err(JwtError::BadSignature);
    }
    let claims: Value = decode_json(payload)?;
    if claims.is_object() {
        Ok(claims)
    } else {
        Err(JwtError::Malformed)
    }
}

/// Length of the signature part plus its leading dot.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let token = sign(b"key", &json!({"sub": "a", "exp": 10}));
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(
            verify(b"key", &token).unwrap(),
            json!({"sub": "a", "exp": 10})
        );
    }

    #[test]
    fn wrong_key_or_tampered_payload_is_refused() {
        let token = sign(b"key", &json!({"sub": "a"}));
        assert_eq!(verify(b"other", &token), Err(JwtError::BadSignature));
        let parts: Vec<&str> = token.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"b"}"#);
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(verify(b"key", &forged), Err(JwtError::BadSignature));
    }

    #[test]
    fn none_algorithm_and_garbage_are_refused() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"a"}"#);
        assert_eq!(
            verify(b"key", &format!("{header}.{payload}.")),
            Err(JwtError::WrongAlgorithm)
        );
        assert_eq!(verify(b"key", "abc"), Err(JwtError::Malformed));
        assert_eq!(verify(b"key", "a.b.c.d"), Err(JwtError::Malformed));
    }
}
