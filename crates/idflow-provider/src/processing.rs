//! Background processing of uploaded photos, off the request path: analyse
//! with the face engine, search the blocklist, compare with the enrolled
//! face, store the outcome, forget the photo, notify and send webhooks.
//! Also the end of enrollments whose photo never came: once their upload
//! link has expired unused they fail with `upload_link_expired` (when they
//! are read, and in a sweep every minute), so status gates stop waiting.
//!
//! Decisions:
//! - An enrollment succeeds when one face (the largest, if several) gives an
//!   embedding and, for `face-recognition`, no blocklisted face of the same
//!   client lies within [`idflow_vision::SAME_PERSON_DISTANCE`] (0.6).
//! - A validation succeeds when the new face is not blocklisted and
//!   `confidence_score(distance to the enrolled face) >= threshold`.

use idflow_vision::{
    AnalyzeError, Embedding, FaceAnalysis, SAME_PERSON_DISTANCE, confidence_score, distance,
};

use crate::model::{EnrollmentType, Status, TargetKind, reason};
use crate::state::{AppState, ProcessedEvent};
use crate::store::{
    AccountReference, EnrollmentOutcome, ExpiryScope, PendingImage, ValidationOutcome,
};
use crate::{views, webhooks};

/// Queues the photos left unprocessed by a previous run.
pub(crate) async fn resume_pending(state: &AppState) -> Result<(), sqlx::Error> {
    let pending = state.store().pending_images().await?;
    if !pending.is_empty() {
        tracing::info!(
            count = pending.len(),
            "resuming photos received before the last stop"
        );
    }
    for image in pending {
        submit(state, image);
    }
    Ok(())
}

/// How often enrollments whose upload link expired are looked for.
const EXPIRY_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_mins(1);

/// Ends the enrollments in `scope` whose upload link expired before a photo
/// came (`failure`, `upload_link_expired`), with their notifications and
/// `enrollment.failed` webhooks.
pub(crate) async fn end_expired_enrollments(
    state: &AppState,
    scope: ExpiryScope<'_>,
) -> Result<(), sqlx::Error> {
    let ended = state
        .store()
        .end_expired_enrollments(scope, state.now())
        .await?;
    for row in ended {
        tracing::info!(
            id = row.id,
            "enrollment ended: its upload link expired unused"
        );
        webhooks::emit(
            state,
            &row.client_id,
            "enrollment.failed",
            views::enrollment(&row, None),
        );
        state.notify_processed(ProcessedEvent {
            kind: TargetKind::Enrollment,
            id: row.id,
            status: Status::Failure,
            reason: Some(reason::UPLOAD_LINK_EXPIRED.to_owned()),
        });
    }
    Ok(())
}

/// Ends expired enrollments every minute until the provider stops.
pub(crate) fn sweep_expired_enrollments(state: &AppState) {
    let task_state = state.clone();
    state.spawn(async move {
        let mut ticks = tokio::time::interval(EXPIRY_SWEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = task_state.stopping().cancelled() => return,
            }
            if let Err(error) = end_expired_enrollments(&task_state, ExpiryScope::All).await {
                tracing::error!(%error, "could not end enrollments whose upload link expired");
            }
        }
    });
}

/// Processes a received photo in the background.
pub(crate) fn submit(state: &AppState, image: PendingImage) {
    let task_state = state.clone();
    state.spawn(async move {
        let kind = image.kind;
        let id = image.target_id.clone();
        let result = match kind {
            TargetKind::Enrollment => process_enrollment(&task_state, image).await,
            TargetKind::Validation => process_validation(&task_state, image).await,
        };
        if let Err(error) = result {
            // The photo stays stored and is processed again at the next start.
            tracing::error!(kind = kind.as_str(), id, %error, "could not store a processing outcome");
        }
    });
}

/// The reason a failed analysis gives.
fn failure_reason(error: &AnalyzeError) -> &'static str {
    match error {
        AnalyzeError::EmptyInput => reason::EMPTY_INPUT_FILE,
        AnalyzeError::UnsupportedFormat
        | AnalyzeError::TooLarge { .. }
        | AnalyzeError::Corrupt(_) => reason::FILE_FORMAT_NOT_SUPPORTED,
        AnalyzeError::NoFaceDetected => reason::NO_FACE_DETECTED,
        AnalyzeError::EngineUnavailable => reason::INTERNAL_ERROR,
    }
}

async fn analyze(
    state: &AppState,
    kind: TargetKind,
    id: &str,
    bytes: Vec<u8>,
) -> Result<FaceAnalysis, AnalyzeError> {
    let result = state.engine().analyze(bytes).await;
    match &result {
        Ok(analysis) => tracing::debug!(
            kind = kind.as_str(),
            id,
            faces_seen = analysis.faces_seen,
            format = analysis.format.as_str(),
            width = analysis.width,
            height = analysis.height,
            "photo analysed"
        ),
        Err(AnalyzeError::EngineUnavailable) => {
            tracing::error!(kind = kind.as_str(), id, "the face engine is unavailable");
        }
        Err(error) => tracing::debug!(kind = kind.as_str(), id, %error, "photo refused"),
    }
    result
}

/// Whether `embedding` matches a face in the client's blocklist.
async fn in_blocklist(
    state: &AppState,
    client_id: &str,
    embedding: &Embedding,
) -> Result<bool, sqlx::Error> {
    let blocklist = state.store().blocklist(client_id).await?;
    Ok(blocklist
        .iter()
        .any(|stored| match Embedding::from_bytes(stored) {
            Ok(blocked) => distance(&blocked, embedding) <= SAME_PERSON_DISTANCE,
            Err(error) => {
                tracing::error!(%error, "a stored blocklist embedding is unreadable; skipped");
                false
            }
        }))
}

fn faces_seen(analysis: &FaceAnalysis) -> Option<i64> {
    i64::try_from(analysis.faces_seen).ok()
}

async fn process_enrollment(state: &AppState, image: PendingImage) -> Result<(), sqlx::Error> {
    let store = state.store();
    let Some(row) = store.enrollment(&image.client_id, &image.target_id).await? else {
        // Deleted meanwhile: nothing to record (the photo went with it).
        return Ok(());
    };
    let analysis = analyze(state, TargetKind::Enrollment, &row.id, image.bytes).await;
    let outcome = match &analysis {
        Err(error) => EnrollmentOutcome {
            status: Status::Failure,
            reason: Some(failure_reason(error)),
            embedding: None,
            faces_seen: None,
        },
        Ok(found) => {
            let blocked = EnrollmentType::parse(&row.enrollment_type)
                == Some(EnrollmentType::FaceRecognition)
                && in_blocklist(state, &row.client_id, &found.embedding).await?;
            if blocked {
                EnrollmentOutcome {
                    status: Status::Failure,
                    reason: Some(reason::FACE_IN_BLOCKLIST),
                    embedding: None,
                    faces_seen: faces_seen(found),
                }
            } else {
                EnrollmentOutcome {
                    status: Status::Success,
                    reason: None,
                    embedding: Some(found.embedding.to_bytes().to_vec()),
                    faces_seen: faces_seen(found),
                }
            }
        }
    };
    if !store
        .finish_enrollment(&row.id, &outcome, state.now())
        .await?
    {
        return Ok(());
    }
    let event = match outcome.status {
        Status::Success => "enrollment.succeeded",
        _ => "enrollment.failed",
    };
    if let Some(updated) = store.enrollment(&row.client_id, &row.id).await? {
        webhooks::emit(
            state,
            &row.client_id,
            event,
            views::enrollment(&updated, None),
        );
    }
    state.notify_processed(ProcessedEvent {
        kind: TargetKind::Enrollment,
        id: row.id,
        status: outcome.status,
        reason: outcome.reason.map(str::to_owned),
    });
    Ok(())
}

async fn process_validation(state: &AppState, image: PendingImage) -> Result<(), sqlx::Error> {
    let store = state.store();
    let Some(row) = store
        .validation(&image.client_id, &image.target_id, state.now())
        .await?
    else {
        return Ok(());
    };
    let analysis = analyze(state, TargetKind::Validation, &row.id, image.bytes).await;
    let outcome = match &analysis {
        Err(error) => declined(failure_reason(error), None, None),
        Ok(found) => {
            if in_blocklist(state, &row.client_id, &found.embedding).await? {
                declined(reason::FACE_IN_BLOCKLIST, None, faces_seen(found))
            } else {
                compare_with_enrollment(
                    state,
                    &row.client_id,
                    &row.account_id,
                    row.threshold,
                    found,
                )
                .await?
            }
        }
    };
    if !store
        .finish_validation(&row.id, &outcome, state.now())
        .await?
    {
        return Ok(());
    }
    let success = outcome.status == Status::Success;
    match store.process_of_validation(&row.id).await? {
        // A process whose photo could not be used waits for another: it is
        // not over.
        Some(process) if process.awaits_photo() => {}
        Some(process) => {
            let event = if success {
                "process.succeeded"
            } else {
                "process.failed"
            };
            webhooks::emit(state, &process.client_id, event, views::process(&process));
        }
        // A validation of the API (not of a web process): its own event.
        None => {
            if let Some(updated) = store
                .validation(&row.client_id, &row.id, state.now())
                .await?
            {
                let event = if success {
                    "validation.succeeded"
                } else {
                    "validation.failed"
                };
                webhooks::emit(
                    state,
                    &row.client_id,
                    event,
                    views::validation(&updated, true, None),
                );
            }
        }
    }
    state.notify_processed(ProcessedEvent {
        kind: TargetKind::Validation,
        id: row.id,
        status: outcome.status,
        reason: outcome.reason.map(str::to_owned),
    });
    Ok(())
}

fn declined(
    why: &'static str,
    confidence_score: Option<f64>,
    faces_seen: Option<i64>,
) -> ValidationOutcome<'static> {
    ValidationOutcome {
        status: Status::Failure,
        reason: Some(why),
        similarity_status: Status::Failure,
        confidence_score,
        faces_seen,
    }
}

async fn compare_with_enrollment(
    state: &AppState,
    client_id: &str,
    account_id: &str,
    threshold: f64,
    found: &FaceAnalysis,
) -> Result<ValidationOutcome<'static>, sqlx::Error> {
    let reference = state
        .store()
        .account_reference(client_id, account_id)
        .await?;
    let AccountReference::Enrolled { embedding } = reference else {
        return Ok(declined(
            reason::ENROLLMENT_NOT_FOUND,
            None,
            faces_seen(found),
        ));
    };
    let enrolled = match Embedding::from_bytes(&embedding) {
        Ok(enrolled) => enrolled,
        Err(error) => {
            tracing::error!(%error, "the enrolled embedding is unreadable");
            return Ok(declined(reason::INTERNAL_ERROR, None, faces_seen(found)));
        }
    };
    let score = f64::from(confidence_score(distance(&enrolled, &found.embedding)));
    Ok(if score >= threshold {
        ValidationOutcome {
            status: Status::Success,
            reason: None,
            similarity_status: Status::Success,
            confidence_score: Some(score),
            faces_seen: faces_seen(found),
        }
    } else {
        declined(
            reason::SIMILARITY_THRESHOLD_NOT_PASSED,
            Some(score),
            faces_seen(found),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_errors_map_to_contract_reasons() {
        assert_eq!(
            failure_reason(&AnalyzeError::EmptyInput),
            "empty_input_file"
        );
        assert_eq!(
            failure_reason(&AnalyzeError::UnsupportedFormat),
            "file_format_not_supported"
        );
        assert_eq!(
            failure_reason(&AnalyzeError::Corrupt("bad".into())),
            "file_format_not_supported"
        );
        assert_eq!(
            failure_reason(&AnalyzeError::NoFaceDetected),
            "no_face_detected"
        );
        assert_eq!(
            failure_reason(&AnalyzeError::EngineUnavailable),
            "internal_error"
        );
    }
}
