//! The contract's vocabulary: record types, statuses, reasons, id prefixes,
//! and the time encoding the store uses.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Enrollment `type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentType {
    /// A user's reference face.
    FaceRecognition,
    /// A face added to the client's blocklist.
    FaceSearch,
}

impl EnrollmentType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FaceRecognition => "face-recognition",
            Self::FaceSearch => "face-search",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "face-recognition" => Some(Self::FaceRecognition),
            "face-search" => Some(Self::FaceSearch),
            _ => None,
        }
    }
}

/// Record status values (`status`, `validation_status`, `similarity_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Success,
    Failure,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Reasons, exactly as the contract spells them.
pub mod reason {
    /// Pending: the upload link has not received a file yet.
    pub const WAITING_FILE_UPLOAD: &str = "waiting_file_upload";
    /// The file is not a JPEG, PNG or WebP image, is corrupt, or exceeds the
    /// decoding limits (a decompression bomb).
    pub const FILE_FORMAT_NOT_SUPPORTED: &str = "file_format_not_supported";
    /// The uploaded file was empty.
    pub const EMPTY_INPUT_FILE: &str = "empty_input_file";
    /// No face was found in the photo.
    pub const NO_FACE_DETECTED: &str = "no_face_detected";
    /// The face matches a face in the client's blocklist.
    pub const FACE_IN_BLOCKLIST: &str = "face_in_blocklist";
    /// The validation's confidence score is below its threshold.
    pub const SIMILARITY_THRESHOLD_NOT_PASSED: &str = "similarity_threshold_not_passed";
    /// The validation's photo did not arrive before its timeout.
    pub const VALIDATION_EXPIRED: &str = "validation_expired";
    /// The enrollment's upload link expired before a photo was sent to it
    /// (*inferred*: the contract publishes no reason for this case).
    pub const UPLOAD_LINK_EXPIRED: &str = "upload_link_expired";
    /// The account had no successful enrollment left when the photo was processed.
    pub const ENROLLMENT_NOT_FOUND: &str = "enrollment_not_found";
    /// The face engine failed (the cause is logged).
    pub const INTERNAL_ERROR: &str = "internal_error";

    /// Whether a failure is the photo's fault (no face, unreadable, empty),
    /// so that another photo may succeed; a mismatch or a blocklisted face
    /// is a decision, not a bad photo.
    pub fn is_unusable_photo(reason: &str) -> bool {
        matches!(
            reason,
            NO_FACE_DETECTED | FILE_FORMAT_NOT_SUPPORTED | EMPTY_INPUT_FILE
        )
    }
}

/// Photos one web process may take: after an unusable photo (see
/// [`reason::is_unusable_photo`]) the page may send another, up to this many
/// in all; the process fails with the last photo's reason after that.
pub(crate) const MAX_PHOTOS_PER_PROCESS: i64 = 3;

/// What an upload link (or a pending photo) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Enrollment,
    Validation,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrollment => "enrollment",
            Self::Validation => "validation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enrollment" => Some(Self::Enrollment),
            "validation" => Some(Self::Validation),
            _ => None,
        }
    }
}

/// Id prefixes of generated ids.
pub(crate) mod prefix {
    pub(crate) const CLIENT: &str = "CLI";
    pub(crate) const ACCOUNT: &str = "ACC";
    pub(crate) const ENROLLMENT: &str = "ENR";
    pub(crate) const VALIDATION: &str = "VLD";
    pub(crate) const PROCESS: &str = "IDP";
    pub(crate) const WEBHOOK: &str = "WHK";
    pub(crate) const EVENT: &str = "EVT";
}

/// A new id: the prefix followed by 32 hexadecimal characters.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Whether `text` is a valid account id (`[a-zA-Z0-9_.-]+`, at most 128 characters).
pub(crate) fn is_valid_account_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// RFC 3339 text of a stored time.
pub(crate) fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        assert!(is_valid_account_id("user_1.a-b"));
        assert!(!is_valid_account_id(""));
        assert!(!is_valid_account_id("a b"));
        assert!(!is_valid_account_id("a/b"));
        assert!(!is_valid_account_id(&"a".repeat(129)));
    }

    #[test]
    fn ids_have_prefix() {
        let id = new_id(prefix::ENROLLMENT);
        assert!(id.starts_with("ENR"));
        assert_eq!(id.len(), 35);
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
