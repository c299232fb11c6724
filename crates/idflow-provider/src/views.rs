//! JSON views of the records, with the contract's field names; shared by the
//! API responses and the webhook payloads.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::{Status, rfc3339};
use crate::store::{EnrollmentRow, ProcessRow, ValidationRow};

/// Validation `type` (the only one this provider runs).
pub(crate) const FACE_RECOGNITION: &str = "face-recognition";

fn insert_some<T: Serialize>(object: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        object.insert(key.to_owned(), json!(value));
    }
}

/// `creation_date`, and `update_date` once the record has changed.
fn insert_dates(object: &mut Map<String, Value>, created_at: i64, updated_at: Option<i64>) {
    object.insert("creation_date".into(), json!(rfc3339(created_at)));
    insert_some(object, "update_date", updated_at.map(rfc3339));
}

/// Scores are shown with four decimals.
fn round_score(score: f64) -> Value {
    json!((score * 10_000.0).round() / 10_000.0)
}

/// The face comparison of a validation or process, as far as it has come.
fn face_comparison(
    similarity_status: Option<&str>,
    confidence_score: Option<f64>,
) -> Map<String, Value> {
    let mut face = Map::new();
    insert_some(&mut face, "similarity_status", similarity_status);
    insert_some(
        &mut face,
        "confidence_score",
        confidence_score.map(round_score),
    );
    face
}

/// The `details` of a validation: its face comparison.
fn details(face: Map<String, Value>) -> Value {
    json!({"face_recognition_validations": Value::Object(face)})
}

/// An enrollment (`file_upload_link` only in the creating response).
pub(crate) fn enrollment(row: &EnrollmentRow, file_upload_link: Option<&str>) -> Value {
    let mut object = Map::new();
    object.insert("enrollment_id".into(), json!(row.id));
    object.insert("account_id".into(), json!(row.account_id));
    object.insert("validation_type".into(), json!(row.enrollment_type));
    object.insert("status".into(), json!(row.status));
    insert_some(&mut object, "reason", row.reason.as_ref());
    insert_dates(&mut object, row.created_at, row.updated_at);
    insert_some(&mut object, "country", row.country.as_ref());
    insert_some(&mut object, "fraud_reason", row.fraud_reason.as_ref());
    insert_some(&mut object, "faces_seen", row.faces_seen);
    insert_some(&mut object, "file_upload_link", file_upload_link);
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
    let reason_key = if row.status == Status::Failure.as_str() {
        "declined_reason"
    } else {
        "reason"
    };
    insert_some(&mut object, reason_key, row.reason.as_ref());
    insert_dates(&mut object, row.created_at, row.updated_at);
    if show_details {
        let mut face = face_comparison(row.similarity_status.as_deref(), row.confidence_score);
        insert_some(&mut face, "faces_seen", row.faces_seen);
        object.insert("details".into(), details(face));
    }
    insert_some(
        &mut object,
        "instructions",
        file_upload_link.map(|link| json!({"file_upload_link": link})),
    );
    Value::Object(object)
}

/// A web process and its outcome (`GET /v1/processes/{id}/result`): the
/// latest photo's validation; `pending` while the user may send another
/// photo after an unusable one.
pub(crate) fn process(row: &ProcessRow) -> Value {
    let mut validation = Map::new();
    validation.insert("validation_id".into(), json!(row.validation_id));
    validation.insert("type".into(), json!(FACE_RECOGNITION));
    validation.insert("validation_status".into(), json!(row.status));
    validation.insert("threshold".into(), json!(row.threshold));
    if row.status == Status::Failure.as_str() {
        insert_some(&mut validation, "declined_reason", row.reason.as_ref());
    }
    let face = face_comparison(row.similarity_status.as_deref(), row.confidence_score);
    validation.insert("details".into(), details(face));

    let mut object = Map::new();
    object.insert("process_id".into(), json!(row.id));
    object.insert("account_id".into(), json!(row.account_id));
    insert_some(&mut object, "flow_id", row.flow_id.as_ref());
    let status = if row.awaits_photo() {
        Status::Pending.as_str()
    } else {
        row.status.as_str()
    };
    object.insert("status".into(), json!(status));
    insert_dates(&mut object, row.created_at, row.updated_at);
    object.insert("validations".into(), json!([Value::Object(validation)]));
    Value::Object(object)
}
