//! Webhook registrations.

use super::Store;

/// A registered webhook.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct WebhookRow {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) created_at: i64,
}

impl Store {
    pub(crate) async fn insert_webhook(
        &self,
        client_id: &str,
        row: &WebhookRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO webhooks (id, client_id, url, secret, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(client_id)
        .bind(&row.url)
        .bind(&row.secret)
        .bind(row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn webhooks(&self, client_id: &str) -> Result<Vec<WebhookRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, url, secret, created_at FROM webhooks WHERE client_id = ?
             ORDER BY created_at, id",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await
    }

    pub(crate) async fn delete_webhook(
        &self,
        client_id: &str,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query("DELETE FROM webhooks WHERE client_id = ? AND id = ?")
            .bind(client_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
