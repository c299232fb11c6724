//! Face validations: a new photo compared with the account's enrolled face.

use sqlx::{Sqlite, Transaction};

use super::Store;
use super::uploads::NewLink;
use crate::model::{Status, TargetKind};

/// The columns of [`ValidationRow`], as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, client_id, account_id, threshold, subvalidations, status, reason, similarity_status, \
         confidence_score, faces_seen, created_at, updated_at"
    };
}

/// A validation as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ValidationRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) account_id: String,
    pub(crate) threshold: f64,
    /// Comma-separated subvalidation names.
    pub(crate) subvalidations: String,
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) similarity_status: Option<String>,
    pub(crate) confidence_score: Option<f64>,
    pub(crate) faces_seen: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: Option<i64>,
}

/// A new validation.
#[derive(Debug)]
pub(crate) struct NewValidation<'a> {
    pub(crate) id: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) account_id: &'a str,
    pub(crate) threshold: f64,
    pub(crate) subvalidations: &'a str,
    pub(crate) expires_at: i64,
    pub(crate) now: i64,
}

impl NewValidation<'_> {
    /// Inserts the validation, pending, with `reason` (`waiting_file_upload` or none).
    pub(crate) async fn insert(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        reason: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO validations (id, client_id, account_id, threshold, subvalidations, status,
                                      reason, similarity_status, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?, 'pending', ?, 'pending', ?, ?)",
        )
        .bind(self.id)
        .bind(self.client_id)
        .bind(self.account_id)
        .bind(self.threshold)
        .bind(self.subvalidations)
        .bind(reason)
        .bind(self.expires_at)
        .bind(self.now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// The result of processing a validation's photo.
#[derive(Debug)]
pub(crate) struct ValidationOutcome<'a> {
    pub(crate) status: Status,
    pub(crate) reason: Option<&'a str>,
    pub(crate) similarity_status: Status,
    pub(crate) confidence_score: Option<f64>,
    pub(crate) faces_seen: Option<i64>,
}

impl Store {
    /// Inserts a validation waiting for its file, with its upload link.
    pub(crate) async fn insert_validation(
        &self,
        new: &NewValidation<'_>,
        link: &NewLink<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        new.insert(&mut tx, Some(crate::model::reason::WAITING_FILE_UPLOAD))
            .await?;
        link.insert(&mut tx, new.client_id, TargetKind::Validation, new.id)
            .await?;
        tx.commit().await
    }

    /// The validation, after marking it expired if its file never came in time.
    pub(crate) async fn validation(
        &self,
        client_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<ValidationRow>, sqlx::Error> {
        sqlx::query(
            "UPDATE validations
             SET status = 'failure', reason = 'validation_expired', similarity_status = 'failure',
                 updated_at = ?
             WHERE client_id = ? AND id = ? AND status = 'pending'
               AND reason = 'waiting_file_upload' AND expires_at <= ?",
        )
        .bind(now)
        .bind(client_id)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM validations WHERE client_id = ? AND id = ?"
        ))
        .bind(client_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Records the outcome of processing and forgets the photo.
    pub(crate) async fn finish_validation(
        &self,
        id: &str,
        outcome: &ValidationOutcome<'_>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let update = sqlx::query(
            "UPDATE validations
             SET status = ?, reason = ?, similarity_status = ?, confidence_score = ?, faces_seen = ?,
                 updated_at = ?
             WHERE id = ?",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.reason)
        .bind(outcome.similarity_status.as_str())
        .bind(outcome.confidence_score)
        .bind(outcome.faces_seen)
        .bind(now)
        .bind(id);
        self.finish_target(update, TargetKind::Validation, id).await
    }
}
