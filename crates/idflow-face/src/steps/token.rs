//! `face.issue_token`: a temporary web token for the verification page
//! (`POST /v1/api-keys` on the account host), and the page's URL.
//!
//! The token and the URL are credentials: they join the run's redactor as
//! soon as they arrive and are declared sensitive, so the run result shows
//! `[redacted]` in their place; later steps still receive them.

use async_trait::async_trait;
use base64::Engine as _;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

use super::{creation_key, optional_text, outputs, provider_failure, required_id, text_or_null};
use crate::client::NewWebToken;
use crate::connection::FaceConnection;

/// The `with` of `face.issue_token`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTokenInput {
    /// The enrolled account (it must have a successful enrollment).
    pub account_id: String,
    /// `ALL` (the default) or a two-letter country code.
    #[serde(default = "all_countries")]
    pub country: String,
    /// Where the verification page sends the user when done (the process
    /// id is appended).
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// The provider's web flow to run.
    #[serde(default)]
    pub flow_id: Option<String>,
}

fn all_countries() -> String {
    "ALL".to_owned()
}

/// `face.issue_token`.
#[derive(Debug)]
pub struct IssueTokenStep {
    metadata: StepMetadata,
    connection: FaceConnection,
}

impl IssueTokenStep {
    /// The step type, talking to `connection`.
    pub fn new(connection: FaceConnection) -> Self {
        Self {
            metadata: StepMetadata::new::<IssueTokenInput>(
                "face.issue_token",
                "Issues a temporary web token for the account (POST /v1/api-keys) and the URL \
                 of the verification page where the user takes a selfie.",
            )
            .repeatable()
            .sensitive_output(
                "api_key",
                "The web token (a credential, redacted in logs and results).",
            )
            .sensitive_output(
                "verification_url",
                "`<identity web base>/?token=<api_key>`: the page to send the user to (a \
                 credential, redacted in logs and results).",
            )
            .output(
                "expires_at",
                "When the token expires (RFC 3339), when the token says so; else null.",
            ),
            connection,
        }
    }
}

#[async_trait]
impl Step for IssueTokenStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: IssueTokenInput = decode_input(input)?;
        let request = NewWebToken {
            account_id: required_id("account_id", &input.account_id)?.to_owned(),
            country: required_id("country", &input.country)?.to_ascii_uppercase(),
            redirect_url: optional_text(input.redirect_url),
            flow_id: optional_text(input.flow_id),
        };
        let client = self.connection.for_attempt(ctx)?;
        let key = creation_key(ctx, &request.form());
        let token = client
            .create_web_token(&request, Some(&key))
            .await
            .map_err(provider_failure(ctx, false))?;
        ctx.redactor().add(token.api_key.expose());
        let url = client.verification_url(&token.api_key);
        ctx.redactor().add(url.expose());
        let expires_at = jwt_expiry(token.api_key.expose());
        tracing::debug!(expires_at = expires_at.as_deref(), "web token issued");
        Ok(outputs([
            ("api_key", token.api_key.expose().into()),
            ("verification_url", url.expose().into()),
            ("expires_at", text_or_null(expires_at.as_deref())),
        ]))
    }
}

/// The `exp` claim of a JWT, as RFC 3339; `None` when the token is not a
/// JWT or has no usable `exp`. The signature is not checked: the token is
/// the provider's, and only its expiry is read, for people.
fn jwt_expiry(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    time::OffsetDateTime::from_unix_timestamp(exp)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &serde_json::Value) -> String {
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        format!(
            "{}.{}.signature",
            encode(br#"{"alg":"HS256","typ":"JWT"}"#),
            encode(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn expiry_is_read_from_the_token_when_it_has_one() {
        assert_eq!(
            jwt_expiry(&jwt(
                &serde_json::json!({"exp": 1_700_000_000, "key_type": "web"})
            )),
            Some("2023-11-14T22:13:20Z".to_owned())
        );
        assert_eq!(
            jwt_expiry(&jwt(&serde_json::json!({"key_type": "web"}))),
            None
        );
        assert_eq!(jwt_expiry(&jwt(&serde_json::json!({"exp": "soon"}))), None);
        assert_eq!(jwt_expiry("opaque-token"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
    }
}
