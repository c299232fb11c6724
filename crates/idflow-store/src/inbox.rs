//! Outside events on SQLite: delivery to the oldest wait or kept for the
//! first one, waits registered by the steps' calls, and the wake flags
//! their runs' drivers read (see `idflow_engine::run::inbox` for the
//! rules). Every function here runs inside the writer's transaction.

use idflow_engine::run::{BoundEvent, Delivery, NewEvent, StoreError};
use sqlx::{Row as _, SqliteConnection};
use time::OffsetDateTime;

use crate::sqlite::{db_error, from_millis, millis};

/// Binds the event to the oldest open wait for its key of an unfinished
/// run (making a parked run due), or keeps it.
pub(crate) async fn deliver(
    c: &mut SqliteConnection,
    event: NewEvent,
) -> Result<Delivery, StoreError> {
    if let Some(idempotency_key) = &event.idempotency_key {
        let seen: Option<i64> =
            sqlx::query_scalar("SELECT id FROM inbox_events WHERE idempotency_key = ?")
                .bind(idempotency_key)
                .fetch_optional(&mut *c)
                .await
                .map_err(db_error)?;
        if seen.is_some() {
            return Ok(Delivery::Duplicate);
        }
    }
    let wait = sqlx::query(
        "SELECT w.id, w.rid, w.step_id, r.id FROM inbox_waits w JOIN runs r ON r.rid = w.rid \
         WHERE w.key = ? AND w.event_id IS NULL AND r.finished_at IS NULL ORDER BY w.id LIMIT 1",
    )
    .bind(&event.key)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_error)?;
    let event_id: i64 = sqlx::query_scalar(
        "INSERT INTO inbox_events (key, payload, idempotency_key, received_at, keep_until, bound) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&event.key)
    .bind(&event.payload)
    .bind(&event.idempotency_key)
    .bind(millis(event.received_at))
    .bind(millis(event.keep_until))
    .bind(i64::from(wait.is_some()))
    .fetch_one(&mut *c)
    .await
    .map_err(db_error)?;
    let Some(wait) = wait else {
        return Ok(Delivery::Kept);
    };
    let get_err = |error: sqlx::Error| db_error(&error);
    let wait_id: i64 = wait.try_get(0).map_err(get_err)?;
    let rid: i64 = wait.try_get(1).map_err(get_err)?;
    let step_id: String = wait.try_get(2).map_err(get_err)?;
    let run_id: String = wait.try_get(3).map_err(get_err)?;
    sqlx::query("UPDATE inbox_waits SET event_id = ?, woken = 1 WHERE id = ?")
        .bind(event_id)
        .bind(wait_id)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    // A parked run goes on now; a held one when its holder hears of the
    // wake (or parks it: see the release).
    let now = millis(event.received_at);
    sqlx::query(
        "UPDATE runs SET due_at = ?, updated_at = ? \
         WHERE rid = ? AND lease_owner IS NULL AND finished_at IS NULL",
    )
    .bind(now)
    .bind(now)
    .bind(rid)
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    Ok(Delivery::Delivered { run_id, step_id })
}

/// The event bound to a step's wait: registers the wait and binds the
/// oldest kept event to it when it has none.
pub(crate) async fn receive(
    c: &mut SqliteConnection,
    run_id: &str,
    step_id: &str,
    key: &str,
    now: OffsetDateTime,
) -> Result<Option<BoundEvent>, StoreError> {
    let rid: Option<i64> = sqlx::query_scalar("SELECT rid FROM runs WHERE id = ?")
        .bind(run_id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_error)?;
    let Some(rid) = rid else {
        return Err(StoreError::NotFound(format!("run {run_id}")));
    };
    let wait = sqlx::query(
        "SELECT w.id, e.payload, e.received_at FROM inbox_waits w \
         LEFT JOIN inbox_events e ON e.id = w.event_id \
         WHERE w.rid = ? AND w.step_id = ? AND w.key = ?",
    )
    .bind(rid)
    .bind(step_id)
    .bind(key)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_error)?;
    let get_err = |error: sqlx::Error| db_error(&error);
    let wait_id: i64 = match wait {
        Some(row) => {
            let payload: Option<String> = row.try_get(1).map_err(get_err)?;
            if let Some(payload) = payload {
                return Ok(Some(BoundEvent {
                    payload,
                    received_at: from_millis(row.try_get(2).map_err(get_err)?),
                }));
            }
            row.try_get(0).map_err(get_err)?
        }
        None => sqlx::query_scalar(
            "INSERT INTO inbox_waits (rid, step_id, key, registered_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(rid)
        .bind(step_id)
        .bind(key)
        .bind(millis(now))
        .fetch_one(&mut *c)
        .await
        .map_err(db_error)?,
    };
    let kept = sqlx::query(
        "SELECT id, payload, received_at FROM inbox_events \
         WHERE key = ? AND bound = 0 AND keep_until > ? ORDER BY id LIMIT 1",
    )
    .bind(key)
    .bind(millis(now))
    .fetch_optional(&mut *c)
    .await
    .map_err(db_error)?;
    let Some(kept) = kept else {
        return Ok(None);
    };
    let event_id: i64 = kept.try_get(0).map_err(get_err)?;
    sqlx::query("UPDATE inbox_events SET bound = 1 WHERE id = ?")
        .bind(event_id)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    sqlx::query("UPDATE inbox_waits SET event_id = ? WHERE id = ?")
        .bind(event_id)
        .bind(wait_id)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(Some(BoundEvent {
        payload: kept.try_get(1).map_err(get_err)?,
        received_at: from_millis(kept.try_get(2).map_err(get_err)?),
    }))
}

/// The steps of a run woken since the last call; their flags cleared.
pub(crate) async fn take_wakes(
    c: &mut SqliteConnection,
    run_id: &str,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "UPDATE inbox_waits SET woken = 0 \
         WHERE woken = 1 AND rid = (SELECT rid FROM runs WHERE id = ?) RETURNING step_id",
    )
    .bind(run_id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_error)
}

/// Forgets the waits of runs about to be pruned, events kept past their
/// time, and events whose waits are gone.
pub(crate) async fn prune(
    c: &mut SqliteConnection,
    finished_before: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM inbox_waits WHERE rid IN \
         (SELECT rid FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?)",
    )
    .bind(finished_before)
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    sqlx::query(
        "DELETE FROM inbox_events WHERE (bound = 0 AND keep_until <= ?) \
         OR (bound = 1 AND id NOT IN (SELECT event_id FROM inbox_waits WHERE event_id IS NOT NULL))",
    )
    .bind(millis(now))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    Ok(())
}
