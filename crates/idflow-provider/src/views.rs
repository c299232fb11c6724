//! JSON views of the records, with the contract's field names; shared by the
//! API responses and the webhook payloads.

use serde_json::{Map, Value, json};

use crate::model::{Status, rfc3339};
use crate::store::{EnrollmentRow, ProcessRow, ValidationRow};

/// Validation `type` (the only one this provider runs).
pub(crate) const FACE_RECOGNITION: &str = "face-recognition";

fn insert_some(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), value);
    }
}

/// Scores are shown with four decimals.
fn round_score(score: f64) -> Value {
    json!((score * 10_000.0).round() / 10_000.0)
}

/// An enrollment (`file_upload_link` only in the creating response).
pub(crate) fn enrollment(row: &EnrollmentRow, file_upload_link: Option<&str>) -> Value {
    let mut object = Map::new();
    object.insert("enrollment_id".into(), json!(row.id));
    object.insert("account_id".into(), json!(row.account_id));
    object.insert("validation_type".into(), json!(row.enrollment_type));
    object.insert("status".into(), json!(row.status));
    insert_some(&mut object, "reason", row.reason.as_ref().map(|r| json!(r)));
    object.insert("creation_date".into(), json!(rfc3339(row.created_at)));
    insert_some(
        &mut object,
        "update_date",
        row.updated_at.map(|t| json!(rfc3339(t))),
    );
    insert_some(
        &mut object,
        "country",
        row.country.as_ref().map(|c| json!(c)),
    );
    insert_some(
        &mut object,
        "fraud_reason",
        row.fraud_reason.as_ref().map(|r| json!(r)),
    );
    insert_some(&mut object, "faces_seen", row.faces_seen.map(|n| json!(n)));
    insert_some(
        &mut object,
        "file_upload_link",
        file_upload_link.map(|link| json!(link)),
    );
    Value::Object(object)
}

/// A validation; `details` only with `show_details=true`, `instructions` only
/// in the creating response.
pub(crate) fn validation(
    row: &ValidationRow,
    show_details: bool,
    file_upload_link: Option<&str>,
) -> Value {
    let mut object = Map::new();
    object.insert("validation_id".into(), json!(row.id));
    object.insert("type".into(), json!(FACE_RECOGNITION));
    object.insert("account_id".into(), json!(row.account_id));
    object.insert("validation_status".into(), json!(row.status));
    object.insert("threshold".into(), json!(row.threshold));
    object.insert(
        "subvalidations".into(),
        json!(row.subvalidations.split(',').collect::<Vec<_>>()),
    );
    if row.status == Status::Failure.as_str() {
        insert_some(
            &mut object,
            "declined_reason",
            row.reason.as_ref().map(|r| json!(r)),
        );
    } else {
        insert_some(&mut object, "reason", row.reason.as_ref().map(|r| json!(r)));
    }
    object.insert("creation_date".into(), json!(rfc3339(row.created_at)));
    insert_some(
        &mut object,
        "update_date",
        row.updated_at.map(|t| json!(rfc3339(t))),
    );
    if show_details {
        let mut face = Map::new();
        insert_some(
            &mut face,
            "similarity_status",
            row.similarity_status.as_ref().map(|s| json!(s)),
        );
        insert_some(
            &mut face,
            "confidence_score",
            row.confidence_score.map(round_score),
        );
        insert_some(&mut face, "faces_seen", row.faces_seen.map(|n| json!(n)));
        object.insert(
            "details".into(),
            json!({"face_recognition_validations": Value::Object(face)}),
        );
    }
    insert_some(
        &mut object,
        "instructions",
        file_upload_link.map(|link| json!({"file_upload_link": link})),
    );
    Value::Object(object)
}

/// A web process and its outcome (`GET /v1/processes/{id}/result`).
pub(crate) fn process(row: &ProcessRow) -> Value {
    let mut validation = Map::new();
    validation.insert("validation_id".into(), json!(row.validation_id));
    validation.insert("type".into(), json!(FACE_RECOGNITION));
    validation.insert("validation_status".into(), json!(row.status));
    validation.insert("threshold".into(), json!(row.threshold));
    if row.status == Status::Failure.as_str() {
        insert_some(
            &mut validation,
            "declined_reason",
            row.reason.as_ref().map(|r| json!(r)),
        );
    }
    let mut face = Map::new();
    insert_some(
        &mut face,
        "similarity_status",
        row.similarity_status.as_ref().map(|s| json!(s)),
    );
    insert_some(
        &mut face,
        "confidence_score",
        row.confidence_score.map(round_score),
    );
    validation.insert(
        "details".into(),
        json!({"face_recognition_validations": Value::Object(face)}),
    );

    let mut object = Map::new();
    object.insert("process_id".into(), json!(row.id));
    object.insert("account_id".into(), json!(row.account_id));
    insert_some(
        &mut object,
        "flow_id",
        row.flow_id.as_ref().map(|f| json!(f)),
    );
    object.insert("status".into(), json!(row.status));
    object.insert("creation_date".into(), json!(rfc3339(row.created_at)));
    insert_some(
        &mut object,
        "update_date",
        row.updated_at.map(|t| json!(rfc3339(t))),
    );
    object.insert("validations".into(), json!([Value::Object(validation)]));
    Value::Object(object)
}
