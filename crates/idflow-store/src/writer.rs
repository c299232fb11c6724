//! The one writer: every write of the store runs in this task, on one
//! connection, and the writes waiting when a transaction begins are
//! committed together (group commit). A write that is refused (a fenced
//! append) or fails changes nothing, so the others of its batch stand: it
//! is one mutating statement checked before it changes anything, or it
//! runs under a savepoint.

use idflow_engine::run::{
    Append, BoundEvent, Definition, Delivery, NewEvent, NewRun, Release, RunPhase, RunRecord,
    StoreError,
};
use sqlx::{Connection as _, SqliteConnection};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::api::StartClaim;
use crate::api::writes as api;
use crate::inbox;
use crate::sqlite::{RUN_COLUMNS, db_error, millis, record_of};

/// Writes waiting at once, at most, in one transaction.
const MAX_BATCH: usize = 512;

/// One write, with where its answer goes.
pub(crate) enum Write {
    PutDefinition(Definition, Reply<()>),
    CreateRun(Box<NewRun>, Reply<()>),
    Append(Append, Reply<()>),
    Release {
        run_id: String,
        owner: String,
        next_seq: u64,
        release: Release,
        reply: Reply<()>,
    },
    ClaimDue {
        owner: String,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
        reply: Reply<Vec<RunRecord>>,
    },
    Claim {
        run_id: String,
        owner: String,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        reply: Reply<Option<RunRecord>>,
    },
    Heartbeat {
        owner: String,
        lease_until: OffsetDateTime,
        reply: Reply<Vec<String>>,
    },
    ReleaseAll {
        owner: String,
        now: OffsetDateTime,
        reply: Reply<()>,
    },
    RequestCancel {
        run_id: String,
        now: OffsetDateTime,
        reply: Reply<Option<RunRecord>>,
    },
    ExpireLeases(String, Reply<u64>),
    Prune(OffsetDateTime, Reply<u64>),
    CreateToken {
        name: String,
        hash: String,
        now: OffsetDateTime,
        reply: Reply<bool>,
    },
    RevokeToken {
        name: String,
        reply: Reply<bool>,
    },
    TokenUsed {
        name: String,
        at: i64,
        reply: Reply<()>,
    },
    ClaimStart {
        key: String,
        body_hash: String,
        run_id: String,
        now: OffsetDateTime,
        reply: Reply<StartClaim>,
    },
    DeliverEvent(Box<NewEvent>, Reply<Delivery>),
    ReceiveEvent {
        run_id: String,
        step_id: String,
        key: String,
        now: OffsetDateTime,
        reply: Reply<Option<BoundEvent>>,
    },
    TakeWakes(String, Reply<Vec<String>>),
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Runs writes until every sender is gone.
pub(crate) async fn run(mut connection: SqliteConnection, mut writes: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while writes.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Err(error) = commit(&mut connection, &mut batch).await {
            // The transaction failed as a whole: every write of it hears so.
            let error = db_error(&error);
            for write in batch.drain(..) {
                write.fail(error.clone());
            }
        }
    }
    let _ = connection.close().await;
}

/// Applies a batch in one transaction and answers each write once it is
/// committed.
async fn commit(
    connection: &mut SqliteConnection,
    batch: &mut Vec<Write>,
) -> Result<(), sqlx::Error> {
    let mut tx = connection.begin().await?;
    let mut answers = Vec::with_capacity(batch.len());
    for write in batch.drain(..) {
        // Writes of several statements that could fail halfway run under a
        // savepoint; the others are one mutating statement, refused
        // before they change anything (see `append_events`).
        if matches!(
            write,
            Write::CreateRun(..)
                | Write::Prune(..)
                | Write::DeliverEvent(..)
                | Write::ReceiveEvent { .. }
        ) {
            let mut savepoint = tx.begin().await?;
            let (answer, ok) = apply(&mut savepoint, write).await;
            if ok {
                savepoint.commit().await?;
            } else {
                savepoint.rollback().await?;
            }
            answers.push(answer);
        } else {
            answers.push(apply(&mut tx, write).await.0);
        }
    }
    let failure = tx.commit().await.err().map(|error| db_error(&error));
    for answer in answers {
        answer(failure.clone());
    }
    Ok(())
}

/// A write's answer, sent once its transaction ends (with the commit's
/// error, if the commit failed).
type Answer = Box<dyn FnOnce(Option<StoreError>) + Send>;

fn answer<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> (Answer, bool) {
    let ok = result.is_ok();
    let send = move |failure: Option<StoreError>| {
        let _ = reply.send(match failure {
            Some(error) => Err(error),
            None => result,
        });
    };
    (Box::new(send), ok)
}

impl Write {
    fn fail(self, error: StoreError) {
        match self {
            Write::PutDefinition(_, reply)
            | Write::CreateRun(_, reply)
            | Write::Append(_, reply)
            | Write::Release { reply, .. }
            | Write::ReleaseAll { reply, .. }
            | Write::TokenUsed { reply, .. } => drop(reply.send(Err(error))),
            Write::CreateToken { reply, .. } | Write::RevokeToken { reply, .. } => {
                drop(reply.send(Err(error)));
            }
            Write::ClaimStart { reply, .. } => drop(reply.send(Err(error))),
            Write::DeliverEvent(_, reply) => drop(reply.send(Err(error))),
            Write::ReceiveEvent { reply, .. } => drop(reply.send(Err(error))),
            Write::ClaimDue { reply, .. } => drop(reply.send(Err(error))),
            Write::Claim { reply, .. } | Write::RequestCancel { reply, .. } => {
                drop(reply.send(Err(error)));
            }
            Write::Heartbeat { reply, .. } | Write::TakeWakes(_, reply) => {
                drop(reply.send(Err(error)));
            }
            Write::Prune(_, reply) | Write::ExpireLeases(_, reply) => {
                drop(reply.send(Err(error)));
            }
        }
    }
}

async fn apply(c: &mut SqliteConnection, write: Write) -> (Answer, bool) {
    match write {
        Write::PutDefinition(definition, reply) => {
            answer(reply, put_definition(c, &definition).await)
        }
        Write::CreateRun(run, reply) => answer(reply, create_run(c, *run).await),
        Write::Append(append, reply) => answer(reply, append_events(c, append).await),
        Write::Release {
            run_id,
            owner,
            next_seq,
            release,
            reply,
        } => answer(
            reply,
            release_run(c, &run_id, &owner, next_seq, release).await,
        ),
        Write::ClaimDue {
            owner,
            now,
            lease_until,
            limit,
            reply,
        } => answer(reply, claim_due(c, &owner, now, lease_until, limit).await),
        Write::Claim {
            run_id,
            owner,
            now,
            lease_until,
            reply,
        } => answer(reply, claim(c, &run_id, &owner, now, lease_until).await),
        Write::Heartbeat {
            owner,
            lease_until,
            reply,
        } => answer(reply, heartbeat(c, &owner, lease_until).await),
        Write::ReleaseAll { owner, now, reply } => answer(reply, release_all(c, &owner, now).await),
        Write::RequestCancel { run_id, now, reply } => {
            answer(reply, request_cancel(c, &run_id, now).await)
        }
        Write::Prune(before, reply) => answer(reply, prune(c, before).await),
        Write::ExpireLeases(owner, reply) => answer(reply, expire_leases(c, &owner).await),
        Write::CreateToken {
            name,
            hash,
            now,
            reply,
        } => answer(reply, api::create_token(c, &name, &hash, now).await),
        Write::RevokeToken { name, reply } => answer(reply, api::revoke_token(c, &name).await),
        Write::TokenUsed { name, at, reply } => answer(reply, api::token_used(c, &name, at).await),
        Write::ClaimStart {
            key,
            body_hash,
            run_id,
            now,
            reply,
        } => answer(
            reply,
            api::claim_start(c, &key, &body_hash, &run_id, now).await,
        ),
        Write::DeliverEvent(event, reply) => answer(reply, inbox::deliver(c, *event).await),
        Write::ReceiveEvent {
            run_id,
            step_id,
            key,
            now,
            reply,
        } => answer(reply, inbox::receive(c, &run_id, &step_id, &key, now).await),
        Write::TakeWakes(run_id, reply) => answer(reply, inbox::take_wakes(c, &run_id).await),
    }
}

async fn put_definition(
    c: &mut SqliteConnection,
    definition: &Definition,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO definitions (hash, workflow, path, source, created_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&definition.hash)
    .bind(&definition.workflow)
    .bind(&definition.path)
    .bind(&definition.source)
    .bind(millis(OffsetDateTime::now_utc()))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn create_run(c: &mut SqliteConnection, run: NewRun) -> Result<(), StoreError> {
    put_definition(c, &run.definition).await?;
    let created = millis(run.created_at);
    let (phase, lease_until, due_at) = match &run.owner {
        Some(_) => (RunPhase::Running, Some(millis(run.lease_until)), None),
        None => (RunPhase::Pending, None, Some(created)),
    };
    let rid: i64 = sqlx::query_scalar(
        "INSERT INTO runs (id, workflow, definition, phase, base_dir, created_at, updated_at, next_seq, lease_owner, lease_until, due_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING rid",
    )
    .bind(&run.id)
    .bind(&run.workflow)
    .bind(&run.definition.hash)
    .bind(phase.as_str())
    .bind(&run.base_dir)
    .bind(created)
    .bind(created)
    .bind(i64::try_from(run.events.len()).unwrap_or(i64::MAX))
    .bind(&run.owner)
    .bind(lease_until)
    .bind(due_at)
    .fetch_one(&mut *c)
    .await
    .map_err(db_error)?;
    insert_events(c, rid, 0, &run.events).await
}

async fn insert_events(
    c: &mut SqliteConnection,
    rid: i64,
    first: u64,
    events: &[Vec<u8>],
) -> Result<(), StoreError> {
    // One statement per chunk (SQLite binds at most 32766 parameters).
    for (chunk_index, chunk) in events.chunks(1000).enumerate() {
        let mut sql = String::from("INSERT INTO events (rid, seq, body) VALUES ");
        for index in 0..chunk.len() {
            sql.push_str(if index == 0 {
                "(?, ?, ?)"
            } else {
                ", (?, ?, ?)"
            });
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (offset, body) in chunk.iter().enumerate() {
            let seq = first + (chunk_index * 1000 + offset) as u64;
            query = query
                .bind(rid)
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .bind(body.as_slice());
        }
        query.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

async fn append_events(c: &mut SqliteConnection, append: Append) -> Result<(), StoreError> {
    let count = i64::try_from(append.events.len()).unwrap_or(i64::MAX);
    let expected = i64::try_from(append.expected_seq).unwrap_or(i64::MAX);
    let rid: Option<i64> = sqlx::query_scalar(
        "UPDATE runs SET next_seq = next_seq + ?, updated_at = ? \
         WHERE id = ? AND lease_owner = ? AND next_seq = ? AND finished_at IS NULL RETURNING rid",
    )
    .bind(count)
    .bind(millis(OffsetDateTime::now_utc()))
    .bind(&append.run_id)
    .bind(&append.owner)
    .bind(expected)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_error)?;
    let Some(rid) = rid else {
        return Err(StoreError::Conflict {
            run_id: append.run_id,
            expected_seq: append.expected_seq,
        });
    };
    let inserted = insert_events(c, rid, append.expected_seq, &append.events).await;
    if inserted.is_err() {
        // Undo the fence's move so that this write changes nothing (it has
        // no savepoint of its own; the rest of its batch stands).
        let _ = sqlx::query("DELETE FROM events WHERE rid = ? AND seq >= ?")
            .bind(rid)
            .bind(expected)
            .execute(&mut *c)
            .await;
        let _ = sqlx::query("UPDATE runs SET next_seq = ? WHERE rid = ?")
            .bind(expected)
            .bind(rid)
            .execute(&mut *c)
            .await;
    }
    inserted
}

async fn release_run(
    c: &mut SqliteConnection,
    run_id: &str,
    owner: &str,
    next_seq: u64,
    release: Release,
) -> Result<(), StoreError> {
    let now = millis(OffsetDateTime::now_utc());
    let next_seq_sql = i64::try_from(next_seq).unwrap_or(i64::MAX);
    let updated = match release {
        Release::Park { due_at } => sqlx::query(
            "UPDATE runs SET phase = 'waiting', lease_owner = NULL, lease_until = NULL, updated_at = ?, \
             due_at = CASE WHEN cancel_requested = 1 \
                 OR EXISTS (SELECT 1 FROM inbox_waits w WHERE w.rid = runs.rid AND w.woken = 1) \
                 THEN ? ELSE ? END \
             WHERE id = ? AND lease_owner = ? AND next_seq = ? AND finished_at IS NULL",
        )
        .bind(now)
        .bind(now)
        .bind(due_at.map(millis))
        .bind(run_id)
        .bind(owner)
        .bind(next_seq_sql)
        .execute(&mut *c)
        .await,
        Release::Finish { phase, result } => sqlx::query(
            "UPDATE runs SET phase = ?, result = ?, finished_at = ?, updated_at = ?, lease_owner = NULL, \
             lease_until = NULL, due_at = NULL, cancel_requested = 0 \
             WHERE id = ? AND lease_owner = ? AND next_seq = ? AND finished_at IS NULL",
        )
        .bind(phase.as_str())
        .bind(result)
        .bind(now)
        .bind(now)
        .bind(run_id)
        .bind(owner)
        .bind(next_seq_sql)
        .execute(&mut *c)
        .await,
    }
    .map_err(db_error)?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::Conflict {
            run_id: run_id.to_owned(),
            expected_seq: next_seq,
        });
    }
    Ok(())
}

async fn claim_due(
    c: &mut SqliteConnection,
    owner: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> Result<Vec<RunRecord>, StoreError> {
    let now = millis(now);
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE runs SET lease_owner = ?, lease_until = ?, due_at = NULL, phase = 'running', updated_at = ? \
         WHERE rid IN ( \
             SELECT rid FROM (SELECT rid, due_at AS at FROM runs WHERE due_at IS NOT NULL AND lease_owner IS NULL AND due_at <= ? \
                              UNION ALL \
                              SELECT rid, lease_until AS at FROM runs WHERE lease_owner IS NOT NULL AND lease_until < ? AND finished_at IS NULL) \
             ORDER BY at LIMIT ?) \
         RETURNING {RUN_COLUMNS}"
    )))
    .bind(owner)
    .bind(millis(lease_until))
    .bind(now)
    .bind(now)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await
    .map_err(db_error)?;
    rows.iter().map(record_of).collect()
}

async fn claim(
    c: &mut SqliteConnection,
    run_id: &str,
    owner: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> Result<Option<RunRecord>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE runs SET lease_owner = ?, lease_until = ?, due_at = NULL, phase = 'running', updated_at = ? \
         WHERE id = ? AND finished_at IS NULL AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) \
         RETURNING {RUN_COLUMNS}"
    )))
    .bind(owner)
    .bind(millis(lease_until))
    .bind(millis(now))
    .bind(run_id)
    .bind(owner)
    .bind(millis(now))
    .fetch_optional(&mut *c)
    .await
    .map_err(db_error)?;
    row.as_ref().map(record_of).transpose()
}

async fn heartbeat(
    c: &mut SqliteConnection,
    owner: &str,
    lease_until: OffsetDateTime,
) -> Result<Vec<String>, StoreError> {
    sqlx::query("UPDATE runs SET lease_until = ? WHERE lease_owner = ?")
        .bind(millis(lease_until))
        .bind(owner)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    sqlx::query_scalar("SELECT id FROM runs WHERE lease_owner = ? AND cancel_requested = 1")
        .bind(owner)
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)
}

async fn release_all(
    c: &mut SqliteConnection,
    owner: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE runs SET lease_owner = NULL, lease_until = NULL, due_at = ?, phase = 'pending', updated_at = ? \
         WHERE lease_owner = ? AND finished_at IS NULL",
    )
    .bind(millis(now))
    .bind(millis(now))
    .bind(owner)
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn request_cancel(
    c: &mut SqliteConnection,
    run_id: &str,
    now: OffsetDateTime,
) -> Result<Option<RunRecord>, StoreError> {
    sqlx::query(
        "UPDATE runs SET cancel_requested = 1, updated_at = ?, \
         due_at = CASE WHEN lease_owner IS NULL THEN ? ELSE due_at END \
         WHERE id = ? AND finished_at IS NULL",
    )
    .bind(millis(now))
    .bind(millis(now))
    .bind(run_id)
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"
    )))
    .bind(run_id)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_error)?;
    row.as_ref().map(record_of).transpose()
}

async fn prune(c: &mut SqliteConnection, before: OffsetDateTime) -> Result<u64, StoreError> {
    let before = millis(before);
    inbox::prune(c, before, OffsetDateTime::now_utc()).await?;
    sqlx::query("DELETE FROM events WHERE rid IN (SELECT rid FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?)")
        .bind(before)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    let runs = sqlx::query("DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?")
        .bind(before)
        .execute(&mut *c)
        .await
        .map_err(db_error)?
        .rows_affected();
    // Idempotency keys are kept as long as the runs they started.
    sqlx::query("DELETE FROM start_requests WHERE created_at < ?")
        .bind(before)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    sqlx::query("DELETE FROM definitions WHERE hash NOT IN (SELECT definition FROM runs)")
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(runs)
}

async fn expire_leases(c: &mut SqliteConnection, owner: &str) -> Result<u64, StoreError> {
    let result = sqlx::query("UPDATE runs SET lease_until = 0 WHERE lease_owner = ?")
        .bind(owner)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(result.rows_affected())
}
