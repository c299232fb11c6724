//! Single-use upload links and the photos waiting to be processed, and
//! [`Store::finish_target`], which records a processed photo's outcome.

use sqlx::query::Query;
use sqlx::{Database, Sqlite, Transaction};

use super::Store;
use crate::model::TargetKind;

/// A link to create with its record.
#[derive(Debug)]
pub(crate) struct NewLink<'a> {
    pub(crate) nonce: &'a str,
    pub(crate) expires_at: i64,
}

impl NewLink<'_> {
    pub(crate) async fn insert(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
        client_id: &str,
        kind: TargetKind,
        target_id: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO upload_links (nonce, client_id, target_kind, target_id, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(self.nonce)
        .bind(client_id)
        .bind(kind.as_str())
        .bind(target_id)
        .bind(self.expires_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// What happened when a file was sent to a link.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LinkUse {
    Unknown,
    Used,
    Expired,
    Accepted {
        client_id: String,
        kind: TargetKind,
        target_id: String,
    },
}

/// A photo received and not yet processed.
#[derive(Debug)]
pub(crate) struct PendingImage {
    pub(crate) kind: TargetKind,
    pub(crate) target_id: String,
    pub(crate) client_id: String,
    pub(crate) bytes: Vec<u8>,
}

impl Store {
    /// Uses the link once: marks it used, keeps the photo until it is
    /// processed and clears `waiting_file_upload`, all in one transaction.
    pub(crate) async fn use_upload_link(
        &self,
        nonce: &str,
        now: i64,
        bytes: &[u8],
    ) -> Result<LinkUse, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let claimed: Option<(String, String, String)> = sqlx::query_as(
            "UPDATE upload_links SET used_at = ?
             WHERE nonce = ? AND used_at IS NULL AND expires_at > ?
             RETURNING client_id, target_kind, target_id",
        )
        .bind(now)
        .bind(nonce)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((client_id, kind, target_id)) = claimed else {
            let state: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT used_at FROM upload_links WHERE nonce = ?")
                    .bind(nonce)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match state {
                None => LinkUse::Unknown,
                Some((Some(_),)) => LinkUse::Used,
                Some((None,)) => LinkUse::Expired,
            });
        };
        let Some(kind) = TargetKind::parse(&kind) else {
            return Ok(LinkUse::Unknown);
        };
        insert_pending_image(&mut tx, kind, &target_id, &client_id, bytes, now).await?;
        let clear_waiting = match kind {
            TargetKind::Enrollment => {
                "UPDATE enrollments SET reason = NULL, updated_at = ? WHERE id = ? AND status = 'pending'"
            }
            TargetKind::Validation => {
                "UPDATE validations SET reason = NULL, updated_at = ? WHERE id = ? AND status = 'pending'"
            }
        };
        sqlx::query(clear_waiting)
            .bind(now)
            .bind(&target_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(LinkUse::Accepted {
            client_id,
            kind,
            target_id,
        })
    }

    /// Photos received before a stop and not processed yet.
    pub(crate) async fn pending_images(&self) -> Result<Vec<PendingImage>, sqlx::Error> {
        let rows: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT target_kind, target_id, client_id, bytes FROM pending_images ORDER BY received_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, target_id, client_id, bytes)| {
                Some(PendingImage {
                    kind: TargetKind::parse(&kind)?,
                    target_id,
                    client_id,
                    bytes,
                })
            })
            .collect())
    }

    /// Runs `update` (recording the outcome of an enrollment's or a
    /// validation's photo) and deletes the photo, in one transaction.
    /// `Ok(false)` if the update touched no row (the record was deleted).
    pub(crate) async fn finish_target(
        &self,
        update: Query<'_, Sqlite, <Sqlite as Database>::Arguments>,
        kind: TargetKind,
        target_id: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let updated = update.execute(&mut *tx).await?.rows_affected();
        delete_pending_image(&mut tx, kind, target_id).await?;
        tx.commit().await?;
        Ok(updated == 1)
    }
}

/// Deletes the photo waiting for this enrollment or validation, if any.
pub(crate) async fn delete_pending_image(
    tx: &mut Transaction<'_, Sqlite>,
    kind: TargetKind,
    target_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM pending_images WHERE target_kind = ? AND target_id = ?")
        .bind(kind.as_str())
        .bind(target_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn insert_pending_image(
    tx: &mut Transaction<'_, Sqlite>,
    kind: TargetKind,
    target_id: &str,
    client_id: &str,
    bytes: &[u8],
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pending_images (target_kind, target_id, client_id, bytes, received_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(kind.as_str())
    .bind(target_id)
    .bind(client_id)
    .bind(bytes)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
