//! `face.upload_photo`: `PUT` a photo to an upload link.
//!
//! The photo is read and checked before any request (missing, unreadable,
//! empty or too large files are refused with a terminal error); its content
//! type comes from its bytes. The link is a credential: it joins the run's
//! redactor at once and is never shown.

use std::path::Path;

use async_trait::async_trait;
use idflow_core::{Outputs, Step, StepContext, StepError, StepMetadata, decode_input};

use super::{outputs, provider_failure};
use crate::client::Credential;
use crate::connection::FaceConnection;
use crate::photo::read_photo;

/// The `with` of `face.upload_photo`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadPhotoInput {
    /// The upload link (`file_upload_link` of face.create_enrollment or
    /// face.create_validation).
    pub file_upload_link: String,
    /// The photo's path (a `file` input of the workflow; relative paths are
    /// resolved against the folder the run was started from). JPEG, PNG or
    /// WebP, at most 10 MiB.
    pub photo: String,
}

impl std::fmt::Debug for UploadPhotoInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadPhotoInput")
            .field("file_upload_link", &idflow_core::redact::REDACTED)
            .field("photo", &self.photo)
            .finish()
    }
}

/// `face.upload_photo`.
#[derive(Debug)]
pub struct UploadPhotoStep {
    metadata: StepMetadata,
    connection: FaceConnection,
}

impl UploadPhotoStep {
    /// The step type, talking to `connection`.
    pub fn new(connection: FaceConnection) -> Self {
        Self {
            metadata: StepMetadata::new::<UploadPhotoInput>(
                "face.upload_photo",
                "Uploads a photo (PUT to the upload link, without the API key) with the content \
                 type its bytes show (image/jpeg, image/png, image/webp). A missing, unreadable, \
                 empty or too large file fails before any request.",
            )
            .credential_input("file_upload_link")
            .output("bytes", "How many bytes were uploaded.")
            .output(
                "content_type",
                "The content type sent, detected from the bytes: `image/jpeg`, `image/png`, \
                 `image/webp`, or `application/octet-stream` for anything else (the provider \
                 then answers `file_format_not_supported`).",
            ),
            connection,
        }
    }
}

#[async_trait]
impl Step for UploadPhotoStep {
    fn metadata(&self) -> &StepMetadata {
        &self.metadata
    }

    async fn run(&self, ctx: &StepContext, input: serde_json::Value) -> Result<Outputs, StepError> {
        let input: UploadPhotoInput = decode_input(input)?;
        let link = Credential::new(input.file_upload_link.trim());
        ctx.redactor().add(link.expose());
        if link.expose().is_empty() {
            return Err(StepError::invalid_input("`file_upload_link` is empty"));
        }
        if input.photo.trim().is_empty() {
            return Err(StepError::invalid_input("`photo` is empty"));
        }
        let client = self.connection.for_attempt(ctx)?;
        let shown = Path::new(&input.photo);
        let photo = read_photo(
            &ctx.resolve_path(shown),
            shown,
            client.options().max_photo_bytes,
        )
        .await
        .map_err(|error| error.to_step_error())?;
        client
            .upload_photo(&link, &photo)
            .await
            .map_err(provider_failure(ctx, false))?;
        tracing::debug!(
            bytes = photo.len(),
            content_type = photo.content_type(),
            "photo uploaded"
        );
        Ok(outputs([
            ("bytes", photo.len().into()),
            ("content_type", photo.content_type().into()),
        ]))
    }
}
