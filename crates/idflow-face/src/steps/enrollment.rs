//! Enrollments: `face.create_enrollment`, `face.get_enrollment` and
//! `face.await_enrollment`.
//!
//! Creating is not idempotent upstream: the request carries an
//! `Idempotency-Key` derived from the run id, the step id and the request
//! (the same on every attempt), and an ambiguous failure (a timeout or
//! broken connection after sending, a 5xx) is terminal unless the workflow
//! sets `retry_ambiguous: true`.

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

use super::{
    DEFAULT_POLL, creation_key, listen_for_webhook, optional_text, outputs, provider_failure,
    received_upload_link, required_id, text_or_null,
};
use crate::client::{EnrollmentType, NewEnrollment};
use crate::connection::FaceConnection;
use crate::webhooks;

/// The `with` of `face.create_enrollment`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnrollmentInput {
    /// The account to enroll (letters, digits, `_`, `.`, `-`). The provider
    /// makes one up (prefix `ACC`) when it is absent or empty.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `face-recognition` (the default): the user's reference face, for
    /// later validations; `face-search`: a face reported to your blocklist.
    #[serde(default, rename = "type")]
    pub kind: EnrollmentType,
    /// The user consented to the processing of their face: must be `true`.
    #[schemars(extend("const" = true))]
    pub user_authorized: bool,
    /// `face-search` only (required there): the country of the fraud, one
    /// of BR, CL, CO, CR, EC, MX, PE.
    #[serde(default)]
    pub country: Option<String>,
    /// `face-search` only (required there): why the face is reported, a
    /// lowercase word such as `manipulated_photo`, `manipulated_document`
    /// or `non_payment`.
    #[serde(default)]
    pub fraud_reason: Option<String>,
    /// Retry after an ambiguous failure (a timeout or broken connection
    /// after the request was sent, or a 5xx), with the same
    /// `Idempotency-Key`. Default `false`: such a failure is terminal,
    /// because a provider that ignores the key could create the enrollment
    /// twice. The step's `retry` policy still decides how often.
    #[serde(default)]
    pub retry_ambiguous: bool,
}

/// `face.create_enrollment`.
#[derive(Debug)]
pub struct CreateEnrollmentStep {
    metadata: StepMetadata,
    connection: FaceConnection,
}

impl CreateEnrollmentStep {
    /// The step type, talking to `connection`.
    pub fn new(connection: FaceConnection) -> Self {
        Self {
            metadata: StepMetadata::new::<CreateEnrollmentInput>(
                "face.create_enrollment",
                "Creates an enrollment (POST /v1/enrollments) and returns the link to upload \
                 the photo to. Sends an Idempotency-Key; an ambiguous failure is not retried \
                 unless `retry_ambiguous` is true.",
            )
            // Repeated after a crash with the same Idempotency-Key, the
            // provider answers with the first creation.
            .repeatable()
            .output("enrollment_id", "The new enrollment's id.")
            .output(
                "account_id",
                "The enrolled account (made up by the provider when not given).",
            )
            .output("status", "`pending` right after creation.")
            .output(
                "reason",
                "Why it is pending (`waiting_file_upload`), or null.",
            )
            .sensitive_output(
                "file_upload_link",
                "Where to upload the photo (a credential: pass it to face.upload_photo; it is \
                 redacted in logs and results).",
            )
            .output("creation_date", "When it was created (RFC 3339), or null."),
            connection,
        }
    }

    /// The request, after the checks the schema cannot make.
    fn request(input: CreateEnrollmentInput) -> Result<NewEnrollment, StepError> {
        if !input.user_authorized {
            return Err(StepError::invalid_input(
                "`user_authorized` must be true: the user must consent to the processing of \
                 their face before it is enrolled",
            ));
        }
        let country = optional_text(input.country);
        let fraud_reason = optional_text(input.fraud_reason);
        match input.kind {
            EnrollmentType::FaceRecognition if country.is_some() || fraud_reason.is_some() => {
                return Err(StepError::invalid_input(
                    "`country` and `fraud_reason` are for `type: face-search` (reporting a \
                     face to the blocklist); remove them, or set `type: face-search`",
                ));
            }
            EnrollmentType::FaceSearch if country.is_none() || fraud_reason.is_none() => {
                return Err(StepError::invalid_input(
                    "`type: face-search` needs `country` (BR, CL, CO, CR, EC, MX or PE) and \
                     `fraud_reason` (such as `manipulated_photo`)",
                ));
            }
            _ => {}
        }
        Ok(NewEnrollment {
            kind: input.kind,
            account_id: optional_text(input.account_id),
            country,
            fraud_reason,
        })
    }
}

#[async_trait]
impl Step for CreateEnrollmentStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: CreateEnrollmentInput = decode_input(input)?;
        let retry_ambiguous = input.retry_ambiguous;
        let request = Self::request(input)?;
        let client = self.connection.for_attempt(ctx)?;
        let key = creation_key(ctx, &request.form());
        let enrollment = client
            .create_enrollment(&request, Some(&key))
            .await
            .map_err(provider_failure(ctx, !retry_ambiguous))?;
        let link = received_upload_link(
            ctx,
            enrollment.file_upload_link.as_ref(),
            &format!("enrollment `{}`", enrollment.enrollment_id),
            "photo",
        )?;
        tracing::debug!(
            enrollment_id = %enrollment.enrollment_id,
            status = %enrollment.status,
            "enrollment created"
        );
        Ok(outputs([
            ("enrollment_id", enrollment.enrollment_id.clone().into()),
            ("account_id", text_or_null(enrollment.account_id.as_deref())),
            ("status", enrollment.status.clone().into()),
            ("reason", text_or_null(enrollment.reason.as_deref())),
            ("file_upload_link", link.expose().into()),
            (
                "creation_date",
                text_or_null(enrollment.creation_date.as_deref()),
            ),
        ]))
    }
}

/// The `with` of `face.get_enrollment` and `face.await_enrollment`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentIdInput {
    /// The enrollment's id (`enrollment_id` of face.create_enrollment).
    pub enrollment_id: String,
}

/// `face.get_enrollment`, and with a default status gate,
/// `face.await_enrollment`: one read of an enrollment.
#[derive(Debug)]
pub struct GetEnrollmentStep {
    metadata: StepMetadata,
    connection: FaceConnection,
    /// The gate: each attempt registers its wait for the enrollment's
    /// webhook first.
    wakes_on_webhook: bool,
}

impl GetEnrollmentStep {
    /// `face.get_enrollment`: one read.
    pub fn get(connection: FaceConnection) -> Self {
        Self {
            metadata: Self::metadata_for(
                "face.get_enrollment",
                "Reads an enrollment (GET /v1/enrollments/{id}) once.",
            ),
            connection,
            wakes_on_webhook: false,
        }
    }

    /// `face.await_enrollment`: reads the enrollment again until its status
    /// is no longer `pending` (the engine's status gate: default
    /// `until: outputs.status != 'pending'`, polling after 5 s, doubling up
    /// to 30 s, for 10 minutes; the workflow may override both). The
    /// provider's webhook for the enrollment (event key
    /// `truora:enrollment:<id>`) wakes it at once: polling is the fallback.
    pub fn await_processed(connection: FaceConnection) -> Self {
        Self {
            metadata: Self::metadata_for(
                "face.await_enrollment",
                "Waits until an enrollment is processed: reads it (GET /v1/enrollments/{id}) \
                 again until its status is no longer `pending`, at once when the provider's \
                 webhook for it arrives (event `truora:enrollment:<id>`), else polling as a \
                 fallback (5s, doubling to 30s, 10 minutes in all; `until` and `poll` \
                 override).",
            )
            .with_default_gate("outputs.status != 'pending'", DEFAULT_POLL),
            connection,
            wakes_on_webhook: true,
        }
    }

    fn metadata_for(name: &str, description: &str) -> StepMetadata {
        StepMetadata::new::<EnrollmentIdInput>(name, description)
            .repeatable()
            .output("status", "`pending`, `success` or `failure`.")
            .output(
                "reason",
                "Why it is pending or failed (`waiting_file_upload`, `no_face_detected`, \
                 `face_in_blocklist`, `file_format_not_supported`, ...), or null.",
            )
            .output("account_id", "The enrolled account, or null.")
            .output("enrollment_id", "The enrollment's id.")
            .output("update_date", "When it last changed (RFC 3339), or null.")
    }
}

#[async_trait]
impl Step for GetEnrollmentStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: EnrollmentIdInput = decode_input(input)?;
        let id = required_id("enrollment_id", &input.enrollment_id)?;
        let client = self.connection.for_attempt(ctx)?;
        if self.wakes_on_webhook {
            listen_for_webhook(ctx, &self.metadata.name, &webhooks::keys::enrollment(id)).await;
        }
        let enrollment = client
            .enrollment(id)
            .await
            .map_err(provider_failure(ctx, false))?;
        tracing::debug!(
            enrollment_id = %enrollment.enrollment_id,
            status = %enrollment.status,
            "enrollment read"
        );
        Ok(outputs([
            ("status", enrollment.status.into()),
            ("reason", text_or_null(enrollment.reason.as_deref())),
            ("account_id", text_or_null(enrollment.account_id.as_deref())),
            ("enrollment_id", enrollment.enrollment_id.into()),
            (
                "update_date",
                text_or_null(enrollment.update_date.as_deref()),
            ),
        ]))
    }
}
