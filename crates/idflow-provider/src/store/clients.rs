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
        sqlx::query_as("SELECT id, key_hash FROM clients WHERE key_id = ?")
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
}
