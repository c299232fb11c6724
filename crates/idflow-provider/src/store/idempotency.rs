//! Stored responses of creating requests, keyed by client and Idempotency-Key.
//! A record without a response is in flight (see `http::idempotency`).

use super::Store;

/// What to do with a request that carries an Idempotency-Key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum IdempotencyBegin {
    /// First use of the key: run the request, then complete or abandon it.
    Fresh,
    /// The key has a stored response for the same request: answer it again.
    Replay { status: u16, body: String },
    /// The same key is being used by a request still running.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

impl Store {
    /// Claims the key for a request: fresh when it is new, or when it has
    /// been in flight since before `stale_before` (its request is taken over).
    pub(crate) async fn begin_idempotent(
        &self,
        client_id: &str,
        key: &str,
        fingerprint: &[u8],
        now: i64,
        stale_before: i64,
    ) -> Result<IdempotencyBegin, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (client_id, key, fingerprint, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (client_id, key) DO UPDATE
                SET fingerprint = excluded.fingerprint, created_at = excluded.created_at
                WHERE idempotency_keys.status_code IS NULL AND idempotency_keys.created_at < ?",
        )
        .bind(client_id)
        .bind(key)
        .bind(fingerprint)
        .bind(now)
        .bind(stale_before)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(IdempotencyBegin::Fresh);
        }
        let stored: Option<(Vec<u8>, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT fingerprint, status_code, body FROM idempotency_keys WHERE client_id = ? AND key = ?",
        )
        .bind(client_id)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match stored {
            Some((stored_fingerprint, _, _)) if stored_fingerprint != fingerprint => {
                IdempotencyBegin::Mismatch
            }
            Some((_, Some(status), Some(body))) => IdempotencyBegin::Replay {
                status: u16::try_from(status).unwrap_or(500),
                body,
            },
            // Still running, or abandoned between our insert and our read:
            // in flight either way; the caller may retry.
            Some(_) | None => IdempotencyBegin::InFlight,
        })
    }

    pub(crate) async fn complete_idempotent(
        &self,
        client_id: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE idempotency_keys SET status_code = ?, body = ? WHERE client_id = ? AND key = ?",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(client_id)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets every key in flight (at start: their requests died with the
    /// previous process); returns how many.
    pub(crate) async fn release_in_flight_idempotency(&self) -> Result<u64, sqlx::Error> {
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE status_code IS NULL")
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    /// Forgets a key whose request failed on our side, so it can be retried.
    pub(crate) async fn abandon_idempotent(
        &self,
        client_id: &str,
        key: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE client_id = ? AND key = ? AND status_code IS NULL",
        )
        .bind(client_id)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
