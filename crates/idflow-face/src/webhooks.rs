//! The provider's webhooks, as their receiver sees them: checking a signed
//! webhook ([`verify`]) and the event keys the face steps wait for
//! ([`keys`]), so that the receiver (the idflow server's
//! `POST /api/v1/hooks/truora`) and the waiting steps name events alike.
//!
//! A webhook is an HTTP POST whose body (`Content-Type: application/jwt`)
//! is a JWT signed with HS256 under the hook's secret (the text the provider
//! gave when the hook was registered, as bytes). Its claims:
//!
//! | claim | what |
//! |---|---|
//! | `jti` | the event's id: the same in every retry of one delivery |
//! | `iat` | when it was signed (Unix seconds) |
//! | `exp` | optional: when it expires |
//! | `event` | `enrollment.succeeded`, `enrollment.failed`, `validation.succeeded`, `validation.failed`, `process.succeeded`, `process.failed` |
//! | `data` | the record the event is about, as the provider's API shows it |
//!
//! A webhook is refused when it is not a JWT, not HS256, not signed by one
//! of the secrets, expired (`exp` passed), signed more than [`MAX_AGE`] ago
//! or more than [`MAX_CLOCK_SKEW`] in the future.
//!
//! Each webhook becomes events ([`Webhook::events`]) under the keys of
//! [`keys`], with the webhook's `data` plus its `event` name as payload, and
//! an idempotency key derived from `jti` and the event key, so that a
//! provider's retry is delivered once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How old a webhook may be (from its `iat`): longer than the provider
/// retries one delivery, short enough that a captured webhook cannot be
/// replayed for long.
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_hours(1);

/// How far in the future a webhook's `iat` may be (clocks differ).
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_mins(5);

/// The event keys of the provider's webhooks, one function per kind.
pub mod keys {
    /// The prefix of every key of the provider's webhooks.
    pub const PREFIX: &str = "truora:";

    /// An enrollment's events: `truora:enrollment:<enrollment_id>`.
    pub fn enrollment(enrollment_id: &str) -> String {
        format!("{PREFIX}enrollment:{enrollment_id}")
    }

    /// A validation's events: `truora:validation:<validation_id>`.
    pub fn validation(validation_id: &str) -> String {
        format!("{PREFIX}validation:{validation_id}")
    }

    /// A web process's events: `truora:process:<process_id>`.
    pub fn process(process_id: &str) -> String {
        format!("{PREFIX}process:{process_id}")
    }

    /// The web process events of an account, for a wait that knows the
    /// account but not yet the process (the person's browser verification):
    /// `truora:account:<account_id>:process`.
    pub fn account_process(account_id: &str) -> String {
        format!("{PREFIX}account:{account_id}:process")
    }
}

/// A hook's secret. It never shows in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// The secret as the provider gave it (its text's bytes are the HMAC
    /// key). `None` when it is empty.
    pub fn new(secret: &str) -> Option<Self> {
        let secret = secret.trim();
        (!secret.is_empty()).then(|| Self(secret.as_bytes().to_vec()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// Why a webhook is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not a compact JWT with a JSON header and claims.
    #[error("the body is not a signed JWT")]
    Malformed,
    /// Signed with another algorithm than HS256 (or `none`).
    #[error("the webhook is not signed with HS256")]
    WrongAlgorithm,
    /// No secret of this receiver made this signature.
    #[error("the webhook's signature is not valid")]
    BadSignature,
    /// Past its `exp`, or signed more than [`MAX_AGE`] ago.
    #[error("the webhook has expired")]
    Expired,
    /// Signed more than [`MAX_CLOCK_SKEW`] in the future.
    #[error("the webhook is dated in the future")]
    FromTheFuture,
    /// Correctly signed, but a claim it needs is missing or of the wrong
    /// type.
    #[error("the webhook's claims are not usable: {0}")]
    Claims(String),
}

impl WebhookError {
    /// Whether the sender could not prove it is the provider (as opposed
    /// to a signed webhook this receiver cannot use).
    pub fn is_unauthenticated(&self) -> bool {
        !matches!(self, Self::Claims(_))
    }
}

/// A webhook whose signature was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// The event's id (`jti`).
    pub id: String,
    /// The event's name (`enrollment.succeeded`, ...).
    pub event: String,
    /// The record it is about.
    pub data: serde_json::Map<String, Value>,
}

/// One event a webhook becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The key waits name (see [`keys`]).
    pub key: String,
    /// The webhook's `data` with its `event` name.
    pub payload: Value,
    /// The same for every retry of the webhook: a repeat is ignored.
    pub idempotency_key: String,
}

/// Checks `token` (a webhook's body) against `secrets` (any of them may
/// have signed it) at `now` (Unix seconds), and reads its claims.
pub fn verify(secrets: &[WebhookSecret], token: &str, now: i64) -> Result<Webhook, WebhookError> {
    let mut parts = token.trim().split('.');
    let (Some(header_part), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(WebhookError::Malformed);
    };
    let header = decode_json(header_part)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(WebhookError::WrongAlgorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| WebhookError::Malformed)?;
    let signing_input = format!("{header_part}.{payload}");
    // Every secret is tried (no early return), so the time taken says
    // nothing about which one matched.
    let signed = secrets.iter().fold(false, |found, secret| {
        let mut mac = secret.mac();
        mac.update(signing_input.as_bytes());
        let expected = mac.finalize().into_bytes();
        found | bool::from(expected.as_slice().ct_eq(&signature))
    });
    if !signed {
        return Err(WebhookError::BadSignature);
    }
    let claims = decode_json(payload)?;
    check_time(&claims, now)?;
    read_claims(claims)
}

/// `exp` not passed, `iat` neither too old nor in the future.
fn check_time(claims: &Value, now: i64) -> Result<(), WebhookError> {
    let seconds = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| WebhookError::Claims(format!("`{name}` is not a number of seconds"))),
    };
    let max_age = i64::try_from(MAX_AGE.as_secs()).unwrap_or(i64::MAX);
    let skew = i64::try_from(MAX_CLOCK_SKEW.as_secs()).unwrap_or(i64::MAX);
    if let Some(exp) = seconds("exp")?
        && exp <= now
    {
        return Err(WebhookError::Expired);
    }
    let iat = seconds("iat")?.ok_or_else(|| WebhookError::Claims("`iat` is missing".into()))?;
    if iat < now.saturating_sub(max_age) {
        return Err(WebhookError::Expired);
    }
    if iat > now.saturating_add(skew) {
        return Err(WebhookError::FromTheFuture);
    }
    Ok(())
}

fn read_claims(claims: Value) -> Result<Webhook, WebhookError> {
    let Value::Object(mut claims) = claims else {
        return Err(WebhookError::Malformed);
    };
    let mut text = |name: &str| match claims.remove(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        _ => Err(WebhookError::Claims(format!("`{name}` is not a text"))),
    };
    let id = text("jti")?;
    let event = text("event")?;
    let Some(Value::Object(data)) = claims.remove("data") else {
        return Err(WebhookError::Claims("`data` is not an object".into()));
    };
    Ok(Webhook { id, event, data })
}

fn decode_json(part: &str) -> Result<Value, WebhookError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| WebhookError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| WebhookError::Malformed)
}

impl Webhook {
    /// The events this webhook becomes (see [`keys`]): one for an
    /// enrollment or a validation, two for a web process (its own key and
    /// its account's); none for an event of another kind. A record
    /// without the id its key needs is a [`WebhookError::Claims`].
    pub fn events(&self) -> Result<Vec<WebhookEvent>, WebhookError> {
        let kind = self.event.split('.').next().unwrap_or_default();
        let keys = match kind {
            "enrollment" => vec![keys::enrollment(self.field("enrollment_id")?)],
            "validation" => vec![keys::validation(self.field("validation_id")?)],
            "process" => vec![
                keys::process(self.field("process_id")?),
                keys::account_process(self.field("account_id")?),
            ],
            _ => Vec::new(),
        };
        let mut payload = self.data.clone();
        payload.insert("event".to_owned(), Value::String(self.event.clone()));
        let payload = Value::Object(payload);
        Ok(keys
            .into_iter()
            .map(|key| WebhookEvent {
                idempotency_key: format!("{}{}:{key}", keys::PREFIX, self.id),
                key,
                payload: payload.clone(),
            })
            .collect())
    }

    /// A text field of `data` that names a record.
    fn field(&self, name: &str) -> Result<&str, WebhookError> {
        self.data
            .get(name)
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                WebhookError::Claims(format!("a `{}` event's `data` has no `{name}`", self.event))
            })
    }
}

/// Signs `claims` as the provider signs a webhook (HS256 under `secret`):
/// for senders of webhooks and for tests of receivers.
pub fn sign(secret: &WebhookSecret, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = secret.mac();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn secret(text: &str) -> WebhookSecret {
        WebhookSecret::new(text).unwrap()
    }

    fn claims(event: &str, data: Value) -> Value {
        let mut claims = json!({"iss": "idflow-provider", "iat": NOW, "jti": "EVT1", "event": event, "webhook_id": "WHK1"});
        claims["data"] = data;
        claims
    }

    #[test]
    fn a_signed_enrollment_webhook_becomes_one_event() {
        let token = sign(
            &secret("s3cret"),
            &claims(
                "enrollment.succeeded",
                json!({"enrollment_id": "ENR1", "status": "success"}),
            ),
        );
        let hook = verify(&[secret("other"), secret("s3cret")], &token, NOW + 10).unwrap();
        assert_eq!(hook.id, "EVT1");
        assert_eq!(
            hook.events().unwrap(),
            vec![WebhookEvent {
                key: "truora:enrollment:ENR1".into(),
                payload: json!({"enrollment_id": "ENR1", "status": "success", "event": "enrollment.succeeded"}),
                idempotency_key: "truora:EVT1:truora:enrollment:ENR1".into(),
            }]
        );
    }

    #[test]
    fn a_process_webhook_is_also_an_event_of_its_account() {
        let token = sign(
            &secret("s"),
            &claims(
                "process.failed",
                json!({"process_id": "PRC1", "account_id": "acc-7", "status": "failure"}),
            ),
        );
        let events = verify(&[secret("s")], &token, NOW)
            .unwrap()
            .events()
            .unwrap();
        let keys: Vec<&str> = events.iter().map(|event| event.key.as_str()).collect();
        assert_eq!(
            keys,
            ["truora:process:PRC1", "truora:account:acc-7:process"]
        );
        assert_ne!(events[0].idempotency_key, events[1].idempotency_key);
        let validation = sign(
            &secret("s"),
            &claims("validation.succeeded", json!({"validation_id": "VLD1"})),
        );
        let events = verify(&[secret("s")], &validation, NOW)
            .unwrap()
            .events()
            .unwrap();
        assert_eq!(events[0].key, "truora:validation:VLD1");
        let other = sign(&secret("s"), &claims("blocklist.updated", json!({})));
        assert_eq!(
            verify(&[secret("s")], &other, NOW).unwrap().events(),
            Ok(vec![])
        );
        let without_id = sign(&secret("s"), &claims("enrollment.failed", json!({})));
        assert!(matches!(
            verify(&[secret("s")], &without_id, NOW).unwrap().events(),
            Err(WebhookError::Claims(_))
        ));
    }

    #[test]
    fn forged_unsigned_and_wrongly_signed_webhooks_are_refused() {
        let data = json!({"enrollment_id": "ENR1"});
        let token = sign(&secret("right"), &claims("enrollment.succeeded", data));
        let secrets = [secret("right")];
        assert_eq!(
            verify(&[secret("wrong")], &token, NOW),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(verify(&[], &token, NOW), Err(WebhookError::BadSignature));
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = claims("enrollment.succeeded", json!({"enrollment_id": "ENR2"}));
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
            parts[2]
        );
        assert_eq!(
            verify(&secrets, &forged, NOW),
            Err(WebhookError::BadSignature)
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(
            verify(&secrets, &none, NOW),
            Err(WebhookError::WrongAlgorithm)
        );
        for garbage in ["", "abc", "a.b.c", "a.b.c.d", "{\"event\":\"x\"}"] {
            assert_eq!(
                verify(&secrets, garbage, NOW),
                Err(WebhookError::Malformed),
                "{garbage}"
            );
        }
        assert!(WebhookError::BadSignature.is_unauthenticated());
        assert!(!WebhookError::Claims(String::new()).is_unauthenticated());
    }

    #[test]
    fn old_expired_and_future_webhooks_are_refused() {
        let secrets = [secret("s")];
        let at = |iat: i64, exp: Option<i64>| {
            let mut claims = claims("enrollment.failed", json!({"enrollment_id": "E"}));
            claims["iat"] = json!(iat);
            if let Some(exp) = exp {
                claims["exp"] = json!(exp);
            }
            sign(&secrets[0], &claims)
        };
        let hour = 3600;
        assert!(verify(&secrets, &at(NOW - hour + 1, None), NOW).is_ok());
        assert_eq!(
            verify(&secrets, &at(NOW - hour - 1, None), NOW),
            Err(WebhookError::Expired)
        );
        assert_eq!(
            verify(&secrets, &at(NOW, Some(NOW)), NOW),
            Err(WebhookError::Expired)
        );
        assert!(verify(&secrets, &at(NOW, Some(NOW + 1)), NOW).is_ok());
        assert_eq!(
            verify(&secrets, &at(NOW + 301, None), NOW),
            Err(WebhookError::FromTheFuture)
        );
        let mut without_iat = claims("enrollment.failed", json!({"enrollment_id": "E"}));
        without_iat.as_object_mut().unwrap().remove("iat");
        assert!(matches!(
            verify(&secrets, &sign(&secrets[0], &without_iat), NOW),
            Err(WebhookError::Claims(_))
        ));
    }

    #[test]
    fn secrets_never_show() {
        assert_eq!(
            format!("{:?}", secret("s3cret")),
            "WebhookSecret([redacted])"
        );
        assert_eq!(WebhookSecret::new("  "), None);
    }
}
