//! Clients (tenants) and the hashes of their API keys.

use super::Store;

impl Store {
    /// Inserts a client; `Ok(false)` if the name is taken.
    pub(crate) async fn insert_client(
        &self,
        id: &str,
        name: &str,
        key_id: &str,
        key_hash: &[u8],
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "INSERT INTO clients (id, name, key_id, key_hash, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(key_id)
        .bind(key_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The client id and key hash for an API key id.
    pub(crate) async fn client_key(
        &self,
        key_id: &str,
    ) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
        sqlx::query_as("SELECT id, key_hash FROM clients WHERE key_id = ? AND revoked_at IS NULL")
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// A client's name (shown to its users on the verification page).
    pub(crate) async fn client_name(&self, id: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT name FROM clients WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every client, by name.
    pub(crate) async fn clients(&self) -> Result<Vec<ClientRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, name, key_id, created_at, rotated_at, revoked_at FROM clients ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Gives the client named `name` a new key (and lifts a revocation);
    /// `Ok(false)` if there is no such client.
    pub(crate) async fn rotate_client_key(
        &self,
        name: &str,
        key_id: &str,
        key_hash: &[u8],
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE clients SET key_id = ?, key_hash = ?, rotated_at = ?, revoked_at = NULL
             WHERE name = ?",
        )
        .bind(key_id)
        .bind(key_hash)
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Revokes the key of the client named `name`: `Some(true)` revoked now,
    /// `Some(false)` already revoked, `None` no such client.
    pub(crate) async fn revoke_client(
        &self,
        name: &str,
        now: i64,
    ) -> Result<Option<bool>, sqlx::Error> {
        let revoked =
            sqlx::query("UPDATE clients SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(name)
                .execute(&self.pool)
                .await?;
        if revoked.rows_affected() == 1 {
            return Ok(Some(true));
        }
        let exists: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM clients WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(exists.map(|_| false))
    }
}

/// A client's row, without its key hash.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClientRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) key_id: String,
    pub(crate) created_at: i64,
    pub(crate) rotated_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
}
