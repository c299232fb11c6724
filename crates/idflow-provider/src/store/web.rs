//! Web tokens and the verification processes they start (one each), with
//! the photos a process takes (another after an unusable one, up to
//! [`MAX_PHOTOS_PER_PROCESS`]).

use super::Store;
use super::uploads::insert_pending_image;
use super::validations::NewValidation;
use crate::model::{MAX_PHOTOS_PER_PROCESS, Status, TargetKind, reason};

/// A web token as stored (the JWT itself is never stored).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct WebTokenRow {
    pub(crate) jti: String,
    pub(crate) client_id: String,
    pub(crate) account_id: String,
    pub(crate) flow_id: Option<String>,
    pub(crate) redirect_url: Option<String>,
    pub(crate) expires_at: i64,
    pub(crate) process_id: Option<String>,
}

/// A new web token.
#[derive(Debug)]
pub(crate) struct NewWebToken<'a> {
    pub(crate) jti: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) account_id: &'a str,
    pub(crate) country: &'a str,
    pub(crate) flow_id: Option<&'a str>,
    pub(crate) redirect_url: Option<&'a str>,
    pub(crate) expires_at: i64,
    pub(crate) now: i64,
}

/// A process to start from a web token, with its validation and photo.
#[derive(Debug)]
pub(crate) struct NewProcess<'a> {
    pub(crate) id: &'a str,
    pub(crate) token: &'a WebTokenRow,
    pub(crate) validation: NewValidation<'a>,
    pub(crate) photo: &'a [u8],
}

/// A process with the outcome of its validation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ProcessRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) account_id: String,
    pub(crate) flow_id: Option<String>,
    pub(crate) validation_id: String,
    pub(crate) created_at: i64,
    pub(crate) status: String,
    pub(crate) reason: Option<String>,
    pub(crate) similarity_status: Option<String>,
    pub(crate) confidence_score: Option<f64>,
    pub(crate) threshold: f64,
    pub(crate) updated_at: Option<i64>,
    /// Photos sent so far (the latest one's validation is `validation_id`).
    pub(crate) photos: i64,
}

impl ProcessRow {
    /// The latest photo could not be used and another may be sent: the
    /// process is not over.
    pub(crate) fn awaits_photo(&self) -> bool {
        self.status == Status::Failure.as_str()
            && self
                .reason
                .as_deref()
                .is_some_and(reason::is_unusable_photo)
            && self.photos < MAX_PHOTOS_PER_PROCESS
    }

    /// Photos that may still be sent.
    pub(crate) fn photos_left(&self) -> i64 {
        (MAX_PHOTOS_PER_PROCESS - self.photos).max(0)
    }
}

/// Another photo for a process whose latest photo could not be used.
#[derive(Debug)]
pub(crate) struct NewPhoto<'a> {
    pub(crate) process: &'a ProcessRow,
    pub(crate) validation: NewValidation<'a>,
    pub(crate) photo: &'a [u8],
}

/// The columns of [`ProcessRow`], as a literal for `concat!`.
macro_rules! process_select {
    () => {
        "SELECT p.id, p.client_id, p.account_id, p.flow_id, p.validation_id, \
         p.created_at, v.status, v.reason, v.similarity_status, v.confidence_score, v.threshold, \
         v.updated_at, p.photos FROM processes p JOIN validations v ON v.id = p.validation_id "
    };
}

impl Store {
    pub(crate) async fn insert_web_token(&self, new: &NewWebToken<'_>) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO web_tokens (jti, client_id, account_id, country, flow_id, redirect_url,
                                     expires_at, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.jti)
        .bind(new.client_id)
        .bind(new.account_id)
        .bind(new.country)
        .bind(new.flow_id)
        .bind(new.redirect_url)
        .bind(new.expires_at)
        .bind(new.now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn web_token(&self, jti: &str) -> Result<Option<WebTokenRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT jti, client_id, account_id, flow_id, redirect_url, expires_at, process_id
             FROM web_tokens WHERE jti = ?",
        )
        .bind(jti)
        .fetch_optional(&self.pool)
        .await
    }

    /// Starts the token's one process: `Ok(false)` if it already started one.
    pub(crate) async fn start_process(
        &self,
        new: &NewProcess<'_>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE web_tokens SET process_id = ? WHERE jti = ? AND process_id IS NULL",
        )
        .bind(new.id)
        .bind(&new.token.jti)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        new.validation.insert(&mut tx, None).await?;
        sqlx::query(
            "INSERT INTO processes (id, client_id, account_id, flow_id, token_jti, validation_id,
                                    created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.id)
        .bind(&new.token.client_id)
        .bind(&new.token.account_id)
        .bind(&new.token.flow_id)
        .bind(&new.token.jti)
        .bind(new.validation.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_pending_image(
            &mut tx,
            TargetKind::Validation,
            new.validation.id,
            &new.token.client_id,
            new.photo,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records another photo of a process, as a new validation that becomes
    /// the process's latest; `Ok(false)` if the process is no longer waiting
    /// for one (another photo came first, or the limit was reached).
    pub(crate) async fn add_process_photo(
        &self,
        new: &NewPhoto<'_>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        new.validation.insert(&mut tx, None).await?;
        let claimed = sqlx::query(
            "UPDATE processes SET validation_id = ?, photos = photos + 1
             WHERE id = ? AND validation_id = ? AND photos < ?",
        )
        .bind(new.validation.id)
        .bind(&new.process.id)
        .bind(&new.process.validation_id)
        .bind(MAX_PHOTOS_PER_PROCESS)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_pending_image(
            &mut tx,
            TargetKind::Validation,
            new.validation.id,
            &new.process.client_id,
            new.photo,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn process(
        &self,
        client_id: &str,
        id: &str,
    ) -> Result<Option<ProcessRow>, sqlx::Error> {
        sqlx::query_as(concat!(
            process_select!(),
            "WHERE p.client_id = ? AND p.id = ?"
        ))
        .bind(client_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The process a validation belongs to, if it came from the web flow.
    pub(crate) async fn process_of_validation(
        &self,
        validation_id: &str,
    ) -> Result<Option<ProcessRow>, sqlx::Error> {
        sqlx::query_as(concat!(process_select!(), "WHERE p.validation_id = ?"))
            .bind(validation_id)
            .fetch_optional(&self.pool)
            .await
    }
}
