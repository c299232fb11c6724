//! What the idflow server keeps beside the runs: API tokens (only their
//! SHA-256) and the `Idempotency-Key`s of run starts. [`ApiStore`] is the
//! interface the server uses; [`SqliteStore`] implements it.

use async_trait::async_trait;
use idflow_engine::run::StoreError;
use sqlx::Row as _;
use time::OffsetDateTime;

use crate::sqlite::{SqliteStore, db_error, from_millis};
use crate::writer::Write;

/// An API token as kept: its name and when it was made and last used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The name it was created with (unique).
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last accepted (to the minute), if ever.
    pub used_at: Option<OffsetDateTime>,
}

/// What happened to a run start made with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartClaim {
    /// The key is new: it now names this run, which the caller must create.
    New,
    /// The key was used before with the same body, for this run.
    Repeat {
        /// The run the first request started (or was starting).
        run_id: String,
    },
    /// The key was used before with another body.
    Mismatch,
}

/// Tokens and idempotency keys of the server's API.
#[async_trait]
pub trait ApiStore: Send + Sync + 'static {
    /// Keeps a new token's hash under `name`. `Ok(false)`: that name is
    /// taken (nothing changed).
    async fn create_token(
        &self,
        name: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes the token `name`; `Ok(false)` when there was none.
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;

    /// Every token, by name.
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Every token's name and hash (the server compares a presented
    /// token's hash with each, in constant time).
    async fn token_hashes(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Notes that the token `name` was accepted at `now` (kept to the
    /// minute: at most one write a minute per token).
    async fn note_token_use(&self, name: &str, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Ties `key` to a start of `run_id` whose body hashes to `body_hash`,
    /// unless the key is known (then says how it was used).
    async fn claim_start(
        &self,
        key: &str,
        body_hash: &str,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<StartClaim, StoreError>;
}

#[async_trait]
impl ApiStore for SqliteStore {
    async fn create_token(
        &self,
        name: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (name, hash) = (name.to_owned(), hash.to_owned());
        self.write(|reply| Write::CreateToken {
            name,
            hash,
            now,
            reply,
        })
        .await
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(|reply| Write::RevokeToken { name, reply }).await
    }

    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, created_at, used_at FROM api_tokens ORDER BY name")
            .fetch_all(self.reads())
            .await
            .map_err(|error| db_error(&error))?;
        rows.iter()
            .map(|row| {
                Ok(TokenRecord {
                    name: row.try_get(0).map_err(|error| db_error(&error))?,
                    created_at: from_millis(row.try_get(1).map_err(|error| db_error(&error))?),
                    used_at: row
                        .try_get::<Option<i64>, _>(2)
                        .map_err(|error| db_error(&error))?
                        .map(from_millis),
                })
            })
            .collect()
    }

    async fn token_hashes(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query_as("SELECT name, hash FROM api_tokens")
            .fetch_all(self.reads())
            .await
            .map_err(|error| db_error(&error))
    }

    async fn note_token_use(&self, name: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let minute = crate::sqlite::millis(now) / 60_000 * 60_000;
        let name = name.to_owned();
        self.write(|reply| Write::TokenUsed {
            name,
            at: minute,
            reply,
        })
        .await
    }

    async fn claim_start(
        &self,
        key: &str,
        body_hash: &str,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<StartClaim, StoreError> {
        let (key, body_hash, run_id) = (key.to_owned(), body_hash.to_owned(), run_id.to_owned());
        self.write(|reply| Write::ClaimStart {
            key,
            body_hash,
            run_id,
            now,
            reply,
        })
        .await
    }
}

/// The writer's half of [`ApiStore`].
pub(crate) mod writes {
    use sqlx::SqliteConnection;
    use time::OffsetDateTime;

    use super::StartClaim;
    use crate::sqlite::{db_error, millis};
    use idflow_engine::run::StoreError;

    pub(crate) async fn create_token(
        c: &mut SqliteConnection,
        name: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO api_tokens (name, hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(hash)
        .bind(millis(now))
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn revoke_token(
        c: &mut SqliteConnection,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE name = ?")
            .bind(name)
            .execute(&mut *c)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn token_used(
        c: &mut SqliteConnection,
        name: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_tokens SET used_at = ?1 WHERE name = ?2 AND (used_at IS NULL OR used_at < ?1)",
        )
            .bind(at)
            .bind(name)
            .execute(&mut *c)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    pub(crate) async fn claim_start(
        c: &mut SqliteConnection,
        key: &str,
        body_hash: &str,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<StartClaim, StoreError> {
        let known: Option<(String, String)> =
            sqlx::query_as("SELECT body_hash, run_id FROM start_requests WHERE key = ?")
                .bind(key)
                .fetch_optional(&mut *c)
                .await
                .map_err(db_error)?;
        if let Some((known_body, known_run)) = known {
            return Ok(if known_body == body_hash {
                StartClaim::Repeat { run_id: known_run }
            } else {
                StartClaim::Mismatch
            });
        }
        sqlx::query(
            "INSERT INTO start_requests (key, body_hash, run_id, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(key)
        .bind(body_hash)
        .bind(run_id)
        .bind(millis(now))
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
        Ok(StartClaim::New)
    }
}
