//! Enrollments: reference faces and blocklisted faces, with their embeddings.

use super::Store;
use super::uploads::{NewLink, delete_pending_image};
use crate::model::{EnrollmentType, Status, TargetKind};

/// The columns of [`EnrollmentRow`], as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, client_id, account_id, enrollment_type, status, reason, country, fraud_reason, \
         faces_seen, created_at, updated_at"
    };
}

/// An enrollment as stored (without its embedding).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EnrollmentRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) account_id: String,
    pub(crate) enrollment_type: String,
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) fraud_reason: Option<String>,
    pub(crate) faces_seen: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: Option<i64>,
}

/// A new enrollment, waiting for its file.
#[derive(Debug)]
pub(crate) struct NewEnrollment<'a> {
    pub(crate) id: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) account_id: &'a str,
    pub(crate) enrollment_type: EnrollmentType,
    pub(crate) country: Option<&'a str>,
    pub(crate) fraud_reason: Option<&'a str>,
    pub(crate) now: i64,
}

/// The result of processing an enrollment's photo.
#[derive(Debug)]
pub(crate) struct EnrollmentOutcome<'a> {
    pub(crate) status: Status,
    pub(crate) reason: Option<&'a str>,
    pub(crate) embedding: Option<Vec<u8>>,
    pub(crate) faces_seen: Option<i64>,
}

/// Which pending enrollments to end when their upload link has expired.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ExpiryScope<'a> {
    /// One enrollment of a client.
    Enrollment { client_id: &'a str, id: &'a str },
    /// The enrollments of a client's account.
    Account {
        client_id: &'a str,
        account_id: &'a str,
    },
    /// Every enrollment.
    All,
}

/// What an account offers as the reference for a validation.
#[derive(Debug)]
pub(crate) enum AccountReference {
    /// The client has no face-recognition enrollment for this account.
    Unknown,
    /// The account exists but has no successful face-recognition enrollment.
    NotEnrolled,
    /// The embedding of the latest successful face-recognition enrollment.
    Enrolled { embedding: Vec<u8> },
}

impl Store {
    /// Inserts an enrollment and its upload link in one transaction.
    pub(crate) async fn insert_enrollment(
        &self,
        new: &NewEnrollment<'_>,
        link: &NewLink<'_>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO enrollments (id, client_id, account_id, enrollment_type, status, reason,
                                      country, fraud_reason, created_at)
             VALUES (?, ?, ?, ?, 'pending', 'waiting_file_upload', ?, ?, ?)",
        )
        .bind(new.id)
        .bind(new.client_id)
        .bind(new.account_id)
        .bind(new.enrollment_type.as_str())
        .bind(new.country)
        .bind(new.fraud_reason)
        .bind(new.now)
        .execute(&mut *tx)
        .await?;
        link.insert(&mut tx, new.client_id, TargetKind::Enrollment, new.id)
            .await?;
        tx.commit().await
    }

    pub(crate) async fn enrollment(
        &self,
        client_id: &str,
        id: &str,
    ) -> Result<Option<EnrollmentRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM enrollments WHERE client_id = ? AND id = ?"
        ))
        .bind(client_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub(crate) async fn account_enrollments(
        &self,
        client_id: &str,
        account_id: &str,
    ) -> Result<Vec<EnrollmentRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM enrollments WHERE client_id = ? AND account_id = ? ORDER BY created_at, id"
        ))
        .bind(client_id)
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Deletes an enrollment with its embedding, link and pending photo;
    /// returns the record as it was.
    pub(crate) async fn delete_enrollment(
        &self,
        client_id: &str,
        id: &str,
    ) -> Result<Option<EnrollmentRow>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let row: Option<EnrollmentRow> = sqlx::query_as(concat!(
            "DELETE FROM enrollments WHERE client_id = ? AND id = ? RETURNING ",
            columns!()
        ))
        .bind(client_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_some() {
            sqlx::query(
                "DELETE FROM upload_links WHERE target_kind = 'enrollment' AND target_id = ?",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            delete_pending_image(&mut tx, TargetKind::Enrollment, id).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// Records the outcome of processing and forgets the photo. `Ok(false)` if
    /// the enrollment was deleted meanwhile.
    pub(crate) async fn finish_enrollment(
        &self,
        id: &str,
        outcome: &EnrollmentOutcome<'_>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let update = sqlx::query(
            "UPDATE enrollments SET status = ?, reason = ?, embedding = ?, faces_seen = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(outcome.status.as_str())
        .bind(outcome.reason)
        .bind(outcome.embedding.as_deref())
        .bind(outcome.faces_seen)
        .bind(now)
        .bind(id);
        self.finish_target(update, TargetKind::Enrollment, id).await
    }

    /// Ends the enrollments in `scope` still waiting for a photo whose
    /// upload link expired unused: `failure`, reason `upload_link_expired`.
    /// Returns the records ended.
    pub(crate) async fn end_expired_enrollments(
        &self,
        scope: ExpiryScope<'_>,
        now: i64,
    ) -> Result<Vec<EnrollmentRow>, sqlx::Error> {
        let (client_id, id, account_id) = match scope {
            ExpiryScope::Enrollment { client_id, id } => (Some(client_id), Some(id), None),
            ExpiryScope::Account {
                client_id,
                account_id,
            } => (Some(client_id), None, Some(account_id)),
            ExpiryScope::All => (None, None, None),
        };
        sqlx::query_as(concat!(
            "UPDATE enrollments SET status = 'failure', reason = 'upload_link_expired', updated_at = ?1
             WHERE status = 'pending' AND reason = 'waiting_file_upload'
               AND (?2 IS NULL OR client_id = ?2) AND (?3 IS NULL OR id = ?3)
               AND (?4 IS NULL OR account_id = ?4)
               AND id IN (SELECT target_id FROM upload_links
                          WHERE target_kind = 'enrollment' AND used_at IS NULL AND expires_at <= ?1)
             RETURNING ",
            columns!()
        ))
        .bind(now)
        .bind(client_id)
        .bind(id)
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
    }

    /// Embeddings of the client's blocklist (successful face-search enrollments).
    pub(crate) async fn blocklist(&self, client_id: &str) -> Result<Vec<Vec<u8>>, sqlx::Error> {
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
            "SELECT embedding FROM enrollments
             WHERE client_id = ? AND enrollment_type = 'face-search' AND status = 'success'
               AND embedding IS NOT NULL",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(embedding,)| embedding).collect())
    }

    /// The account's reference face for validations.
    pub(crate) async fn account_reference(
        &self,
        client_id: &str,
        account_id: &str,
    ) -> Result<AccountReference, sqlx::Error> {
        let rows: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT status, embedding FROM enrollments
             WHERE client_id = ? AND account_id = ? AND enrollment_type = 'face-recognition'
             ORDER BY updated_at DESC, created_at DESC",
        )
        .bind(client_id)
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(AccountReference::Unknown);
        }
        Ok(rows
            .into_iter()
            .find_map(|(status, embedding)| {
                embedding.filter(|_| status == Status::Success.as_str())
            })
            .map_or(AccountReference::NotEnrolled, |embedding| {
                AccountReference::Enrolled { embedding }
            }))
    }
}
