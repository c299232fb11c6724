//! SQLite storage (sqlx, runtime queries, embedded migrations) in
//! `<data_dir>/provider.sqlite3`. Every query that reads a client's record
//! filters by its client id, so another client's id reads as absent.

mod clients;
mod enrollments;
mod idempotency;
mod uploads;
mod validations;
mod web;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::ProviderError;

pub(crate) use enrollments::{
    AccountReference, EnrollmentOutcome, EnrollmentRow, ExpiryScope, NewEnrollment,
};
pub(crate) use idempotency::IdempotencyBegin;
pub(crate) use uploads::{LinkUse, NewLink, PendingImage};
pub(crate) use validations::{NewValidation, ValidationOutcome, ValidationRow};
pub(crate) use web::{NewPhoto, NewProcess, NewWebToken, ProcessRow, WebTokenRow};
pub(crate) use webhooks::WebhookRow;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "provider.sqlite3";

/// The provider's database.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and migrates it.
    pub(crate) async fn open(data_dir: &Path) -> Result<Self, ProviderError> {
        let path = data_dir.join(DATABASE_FILE);
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|source| ProviderError::OpenDatabase {
                path: path.clone(),
                source,
            })?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|source| ProviderError::OpenDatabase { path, source })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Waits for open connections to finish and closes the database.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
