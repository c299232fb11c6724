//! Face validations (a new selfie against the account's enrolled face):
//! `face.create_validation` and `face.await_validation`.

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

use super::{
    DEFAULT_POLL, creation_key, listen_for_webhook, outputs, provider_failure,
    received_upload_link, required_id, text_or_null,
};
use crate::client::NewValidation;
use crate::connection::FaceConnection;
use crate::webhooks;

/// A check a validation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Subvalidation {
    /// The selfie's face against the enrolled face.
    Similarity,
    /// The selfie is of a live person (Truora only; the embedded provider
    /// refuses it).
    PassiveLiveness,
}

impl Subvalidation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Similarity => "similarity",
            Self::PassiveLiveness => "passive_liveness",
        }
    }
}

/// The `with` of `face.create_validation`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateValidationInput {
    /// The account whose enrolled face the selfie is compared with (it must
    /// have a successful enrollment).
    pub account_id: String,
    /// The least confidence score that passes, from 0 to 1 (Truora's
    /// examples use 0.65). The provider's default when absent.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1))]
    pub threshold: Option<f64>,
    /// The checks to run (`similarity`, `passive_liveness`); the provider's
    /// default (`similarity`) when absent.
    #[serde(default)]
    pub subvalidations: Option<Vec<Subvalidation>>,
}

/// `face.create_validation`.
#[derive(Debug)]
pub struct CreateValidationStep {
    metadata: StepMetadata,
    connection: FaceConnection,
}

impl CreateValidationStep {
    /// The step type, talking to `connection`.
    pub fn new(connection: FaceConnection) -> Self {
        Self {
            metadata: StepMetadata::new::<CreateValidationInput>(
                "face.create_validation",
                "Creates a face validation of an enrolled account (POST /v1/validations) and \
                 returns the link to upload the selfie to.",
            )
            .repeatable()
            .output("validation_id", "The new validation's id.")
            .sensitive_output(
                "file_upload_link",
                "Where to upload the selfie (a credential: pass it to face.upload_photo; it is \
                 redacted in logs and results).",
            ),
            connection,
        }
    }
}

#[async_trait]
impl Step for CreateValidationStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: CreateValidationInput = decode_input(input)?;
        if let Some(threshold) = input.threshold
            && !(0.0..=1.0).contains(&threshold)
        {
            return Err(StepError::invalid_input(format!(
                "`threshold` is {threshold}; it must be from 0 to 1"
            )));
        }
        let mut subvalidations: Vec<String> = input
            .subvalidations
            .unwrap_or_default()
            .into_iter()
            .map(|check| check.as_str().to_owned())
            .collect();
        subvalidations.dedup();
        let request = NewValidation {
            account_id: required_id("account_id", &input.account_id)?.to_owned(),
            threshold: input.threshold,
            subvalidations,
        };
        let client = self.connection.for_attempt(ctx)?;
        let key = creation_key(ctx, &request.form());
        let validation = client
            .create_validation(&request, Some(&key))
            .await
            .map_err(provider_failure(ctx, false))?;
        let link = received_upload_link(
            ctx,
            validation.upload_link(),
            &format!("validation `{}`", validation.validation_id),
            "selfie",
        )?;
        tracing::debug!(validation_id = %validation.validation_id, "validation created");
        Ok(outputs([
            ("validation_id", validation.validation_id.clone().into()),
            ("file_upload_link", link.expose().into()),
        ]))
    }
}

/// The `with` of `face.await_validation`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidationIdInput {
    /// The validation's id (`validation_id` of face.create_validation).
    pub validation_id: String,
}

/// `face.await_validation`: the validation's status gate, woken by the
/// provider's webhook for it (event key `truora:validation:<id>`), polling
/// as a fallback.
#[derive(Debug)]
pub struct AwaitValidationStep {
    metadata: StepMetadata,
    connection: FaceConnection,
}

impl AwaitValidationStep {
    /// The step type, talking to `connection`.
    pub fn new(connection: FaceConnection) -> Self {
        Self {
            metadata: StepMetadata::new::<ValidationIdInput>(
                "face.await_validation",
                "Waits until a validation is decided: reads it \
                 (GET /v1/validations/{id}?show_details=true) again until its \
                 validation_status is no longer `pending`, at once when the provider's webhook \
                 for it arrives (event `truora:validation:<id>`), else polling as a fallback \
                 (5s, doubling to 30s, 10 minutes in all; `until` and `poll` override).",
            )
            .with_default_gate("outputs.validation_status != 'pending'", DEFAULT_POLL)
            .repeatable()
            .output("validation_status", "`pending`, `success` or `failure`.")
            .output(
                "similarity_status",
                "`success` or `failure` of the face comparison, or null before it is made.",
            )
            .output(
                "confidence_score",
                "How sure the provider is that the selfie shows the enrolled person (0 to 1), \
                 or null.",
            )
            .output(
                "reason",
                "Why it failed or is pending (`similarity_threshold_not_passed`, \
                 `no_face_detected`, `face_in_blocklist`, `validation_expired`, ...), or null.",
            ),
            connection,
        }
    }
}

#[async_trait]
impl Step for AwaitValidationStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: ValidationIdInput = decode_input(input)?;
        let id = required_id("validation_id", &input.validation_id)?;
        let client = self.connection.for_attempt(ctx)?;
        listen_for_webhook(ctx, &self.metadata.name, &webhooks::keys::validation(id)).await;
        let validation = client
            .validation(id)
            .await
            .map_err(provider_failure(ctx, false))?;
        let Some(status) = validation.validation_status.as_deref() else {
            return Err(StepError::terminal(
                "invalid_response",
                format!("the provider's answer for validation `{id}` has no `validation_status`"),
            ));
        };
        let face = validation.face();
        tracing::debug!(validation_id = %validation.validation_id, status, "validation read");
        Ok(outputs([
            ("validation_status", status.into()),
            (
                "similarity_status",
                text_or_null(face.and_then(|face| face.similarity_status.as_deref())),
            ),
            (
                "confidence_score",
                face.and_then(|face| face.confidence_score)
                    .map_or(serde_json::Value::Null, Into::into),
            ),
            ("reason", text_or_null(validation.reason())),
        ]))
    }
}
