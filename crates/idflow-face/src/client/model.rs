//! What the provider contract sends and answers, as typed values: the form
//! fields of each creating request, and the JSON of each answer (unknown
//! fields ignored, so that a provider may say more than the contract).

use serde::Deserialize;

/// A credential from the provider (an upload link, a web token, a
/// verification URL): `Debug` never shows it; [`Credential::expose`] does,
/// for the one place that must send or output it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Credential(String);

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(idflow_core::redact::REDACTED)
    }
}

impl Credential {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The `type` of an enrollment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnrollmentType {
    /// A user's reference face, for later validations.
    #[default]
    FaceRecognition,
    /// A face reported to the client's blocklist.
    FaceSearch,
}

impl EnrollmentType {
    /// As the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FaceRecognition => "face-recognition",
            Self::FaceSearch => "face-search",
        }
    }
}

/// `POST /v1/enrollments`; `user_authorized=true` is always sent (the step
/// refuses to create an enrollment without the user's consent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnrollment {
    /// `face-recognition` or `face-search`.
    pub kind: EnrollmentType,
    /// The account; the provider makes one up when absent.
    pub account_id: Option<String>,
    /// `face-search` only: the country of the fraud.
    pub country: Option<String>,
    /// `face-search` only: why the face is reported.
    pub fraud_reason: Option<String>,
}

impl NewEnrollment {
    /// The form fields, in a fixed order.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("type", self.kind.as_str().to_owned()),
            ("user_authorized", "true".to_owned()),
        ];
        push_some(&mut form, "account_id", self.account_id.as_ref());
        push_some(&mut form, "country", self.country.as_ref());
        push_some(&mut form, "fraud_reason", self.fraud_reason.as_ref());
        form
    }
}

/// `POST /v1/validations` of type `face-recognition`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewValidation {
    /// The enrolled account.
    pub account_id: String,
    /// The least confidence score that passes (0 to 1); the provider's
    /// default when absent.
    pub threshold: Option<f64>,
    /// `similarity`, `passive_liveness`; the provider's default when empty.
    pub subvalidations: Vec<String>,
}

impl NewValidation {
    /// The form fields, in a fixed order (`subvalidations` repeated).
    pub fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("type", "face-recognition".to_owned()),
            ("account_id", self.account_id.clone()),
        ];
        if let Some(threshold) = self.threshold {
            form.push(("threshold", threshold.to_string()));
        }
        for name in &self.subvalidations {
            form.push(("subvalidations", name.clone()));
        }
        form
    }
}

/// `POST /v1/api-keys`: a temporary web token for the verification page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebToken {
    /// The enrolled account.
    pub account_id: String,
    /// `ALL` or a country code.
    pub country: String,
    /// Where the page sends the user when done.
    pub redirect_url: Option<String>,
    /// The provider's web flow to run.
    pub flow_id: Option<String>,
}

impl NewWebToken {
    /// The form fields, in a fixed order.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("key_type", "web".to_owned()),
            ("grant", "digital-identity".to_owned()),
            ("api_key_version", "1".to_owned()),
            ("country", self.country.clone()),
            ("account_id", self.account_id.clone()),
        ];
        push_some(&mut form, "redirect_url", self.redirect_url.as_ref());
        push_some(&mut form, "flow_id", self.flow_id.as_ref());
        form
    }
}

fn push_some(form: &mut Vec<(&'static str, String)>, name: &'static str, value: Option<&String>) {
    if let Some(value) = value {
        form.push((name, value.clone()));
    }
}

/// An enrollment as the provider answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Enrollment {
    /// Its id.
    pub enrollment_id: String,
    /// The account it belongs to.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `pending`, `success` or `failure`.
    pub status: String,
    /// Why it is pending or failed (`waiting_file_upload`,
    /// `no_face_detected`, ...).
    #[serde(default)]
    pub reason: Option<String>,
    /// Where to `PUT` the photo (in the creating answer only).
    #[serde(default)]
    pub file_upload_link: Option<Credential>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub creation_date: Option<String>,
    /// When it last changed (RFC 3339).
    #[serde(default)]
    pub update_date: Option<String>,
}

/// A validation as the provider answers it (creating answer, or
/// `GET ...?show_details=true`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Validation {
    /// Its id.
    pub validation_id: String,
    /// `pending`, `success` or `failure` (absent in some creating answers).
    #[serde(default)]
    pub validation_status: Option<String>,
    /// Why it is pending.
    #[serde(default)]
    pub reason: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub declined_reason: Option<String>,
    /// The face comparison.
    #[serde(default)]
    pub details: Option<ValidationDetails>,
    /// Where to upload the selfie.
    #[serde(default)]
    pub instructions: Option<Instructions>,
    /// Where to upload the selfie, for providers that put it at the top.
    #[serde(default)]
    pub file_upload_link: Option<Credential>,
}

impl Validation {
    /// The upload link, wherever the answer put it.
    pub fn upload_link(&self) -> Option<&Credential> {
        self.instructions
            .as_ref()
            .and_then(|instructions| instructions.file_upload_link.as_ref())
            .or(self.file_upload_link.as_ref())
    }

    /// Why it failed or is pending.
    pub fn reason(&self) -> Option<&str> {
        self.declined_reason.as_deref().or(self.reason.as_deref())
    }

    /// The face comparison's details.
    pub fn face(&self) -> Option<&FaceComparison> {
        self.details
            .as_ref()
            .and_then(|details| details.face_recognition_validations.as_ref())
    }
}

/// `details` of a validation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ValidationDetails {
    /// The face comparison.
    #[serde(default)]
    pub face_recognition_validations: Option<FaceComparison>,
}

/// `details.face_recognition_validations`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FaceComparison {
    /// `success` or `failure` of the similarity check.
    #[serde(default)]
    pub similarity_status: Option<String>,
    /// How sure the provider is that it is the same person (0 to 1).
    #[serde(default)]
    pub confidence_score: Option<f64>,
}

/// `instructions` of a creating validation answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Instructions {
    /// Where to upload the selfie.
    #[serde(default)]
    pub file_upload_link: Option<Credential>,
}

/// A web process as the provider answers it
/// (`GET /v1/processes/{id}/result`): the verification page's process and
/// the validation of the latest photo the person sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Process {
    /// Its id.
    pub process_id: String,
    /// The account whose enrolled face the person was compared with.
    #[serde(default)]
    pub account_id: Option<String>,
    /// `pending` (the person has not finished, or may send another photo),
    /// `success` or `failure`.
    pub status: String,
    /// Why it failed, for providers that say so at the top.
    #[serde(default)]
    pub declined_reason: Option<String>,
    /// Its validations, the latest last.
    #[serde(default)]
    pub validations: Vec<Validation>,
}

impl Process {
    /// The validation of the latest photo.
    pub fn validation(&self) -> Option<&Validation> {
        self.validations.last()
    }

    /// Why it failed (or is pending), wherever the answer says so.
    pub fn reason(&self) -> Option<&str> {
        self.declined_reason
            .as_deref()
            .or_else(|| self.validation().and_then(Validation::reason))
    }

    /// How sure the provider is that the person is the enrolled one.
    pub fn confidence_score(&self) -> Option<f64> {
        self.validation()
            .and_then(Validation::face)
            .and_then(|face| face.confidence_score)
    }
}

/// The answer of `POST /v1/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebToken {
    /// The token (a JWT).
    pub api_key: Credential,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_hold_the_contracts_fields_in_a_fixed_order() {
        let enrollment = NewEnrollment {
            kind: EnrollmentType::FaceSearch,
            account_id: Some("acc-1".into()),
            country: Some("CO".into()),
            fraud_reason: Some("manipulated_photo".into()),
        };
        assert_eq!(
            enrollment.form(),
            [
                ("type", "face-search".to_owned()),
                ("user_authorized", "true".to_owned()),
                ("account_id", "acc-1".to_owned()),
                ("country", "CO".to_owned()),
                ("fraud_reason", "manipulated_photo".to_owned()),
            ]
        );
        let validation = NewValidation {
            account_id: "acc-1".into(),
            threshold: Some(0.8),
            subvalidations: vec!["similarity".into(), "passive_liveness".into()],
        };
        assert_eq!(
            validation.form(),
            [
                ("type", "face-recognition".to_owned()),
                ("account_id", "acc-1".to_owned()),
                ("threshold", "0.8".to_owned()),
                ("subvalidations", "similarity".to_owned()),
                ("subvalidations", "passive_liveness".to_owned()),
            ]
        );
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let enrollment: Enrollment = serde_json::from_value(serde_json::json!({
            "enrollment_id": "ENR1", "status": "pending",
            "file_upload_link": "https://up.example/x?signature=abc123",
        }))
        .unwrap();
        let shown = format!("{enrollment:?}");
        assert!(!shown.contains("abc123"), "{shown}");
        assert_eq!(
            enrollment.file_upload_link.unwrap().expose(),
            "https://up.example/x?signature=abc123"
        );
    }

    #[test]
    fn validation_reasons_and_links_are_found_where_providers_put_them() {
        let declined: Validation = serde_json::from_value(serde_json::json!({
            "validation_id": "VLD1", "validation_status": "failure",
            "declined_reason": "similarity_threshold_not_passed",
            "details": {"face_recognition_validations": {"similarity_status": "failure", "confidence_score": 0.3}},
        }))
        .unwrap();
        assert_eq!(declined.reason(), Some("similarity_threshold_not_passed"));
        assert_eq!(declined.face().unwrap().confidence_score, Some(0.3));
        let created: Validation = serde_json::from_value(serde_json::json!({
            "validation_id": "VLD2", "instructions": {"file_upload_link": "https://up/1"},
        }))
        .unwrap();
        assert_eq!(created.upload_link().unwrap().expose(), "https://up/1");
        assert_eq!(created.face(), None);
    }
}
