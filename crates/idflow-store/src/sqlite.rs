//! [`SqliteStore`]: the run store in `<data dir>/runs.sqlite3`.
//!
//! - Opening never rewrites a file it does not recognise: a file that is
//!   not SQLite, or a SQLite database of another program (its
//!   `application_id` is not idflow's and it has tables), is refused with
//!   a clear error before any migration runs.
//! - Migrations are sqlx's, versioned, embedded from `migrations/`.
//! - WAL journal; `synchronous` NORMAL by default (a power loss may drop
//!   the last commits, never corrupt the file), FULL on request.
//! - Reads use a small pool; writes go to the [writer](crate::writer)
//!   task (group commit).

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use idflow_engine::run::{
    Append, BoundEvent, Definition, Delivery, DueSummary, NewEvent, NewRun, Release, RunFilter,
    RunPhase, RunRecord, RunStore, StoreError,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Row as _, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::writer::{self, Write};

/// The database's file name in the data directory.
pub const DATABASE_FILE: &str = "runs.sqlite3";

/// idflow's mark in the SQLite header (`idfw`).
const APPLICATION_ID: i64 = 0x6964_6677;

/// The columns of a run record, in [`record_of`]'s order.
pub(crate) const RUN_COLUMNS: &str = "id, workflow, definition, phase, base_dir, created_at, updated_at, finished_at, \
     next_seq, due_at, cancel_requested, lease_owner, lease_until, result";

/// How hard a commit holds on to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: a crash of the process loses
    /// nothing; a power loss may lose the last commits.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on disk before it returns.
    Full,
}

/// The run store on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reads: SqlitePool,
    writes: mpsc::Sender<Write>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        Self::open_file(&data_dir.join(DATABASE_FILE), durability).await
    }

    /// Opens (creating if needed) the store in the file `path`.
    pub async fn open_file(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        check_not_foreign(path)?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|error| db_error(&error))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        check_ours(path).await?;
        let mut writer = options
            .connect()
            .await
            .map_err(|error| opening_error(path, &error))?;
        sqlx::migrate!("./migrations")
            .run(&mut writer)
            .await
            .map_err(|error| {
                StoreError::Unusable(format!(
                    "cannot bring {} up to date: {error}",
                    path.display()
                ))
            })?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|error| opening_error(path, &error))?;
        let (writes, queue) = mpsc::channel(4096);
        tokio::spawn(writer::run(writer, queue));
        Ok(Self {
            reads,
            writes,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pool of read connections.
    pub(crate) fn reads(&self) -> &SqlitePool {
        &self.reads
    }

    /// Closes the read pool (the writer ends when the last clone is gone).
    pub async fn close(&self) {
        self.reads.close().await;
    }

    pub(crate) async fn write<T>(
        &self,
        make: impl FnOnce(writer::Reply<T>) -> Write,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Database("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Database("the store's writer has stopped".into()))?
    }
}

/// Refuses a file that exists and is not a SQLite database, before SQLite
/// (which would report it late, or rewrite an empty file) sees it.
fn check_not_foreign(path: &Path) -> Result<(), StoreError> {
    use std::io::Read as _;
    let mut header = [0_u8; 16];
    let read = match std::fs::File::open(path) {
        Ok(mut file) => file.read(&mut header).map_err(|error| {
            StoreError::Unusable(format!("cannot read {}: {error}", path.display()))
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(StoreError::Unusable(format!(
                "cannot open {}: {error}",
                path.display()
            )));
        }
    };
    if read == 0 || header == *b"SQLite format 3\0" {
        return Ok(());
    }
    Err(StoreError::Unusable(format!(
        "{} is not an idflow run store (not a SQLite database: corrupt, or another program's file); it was left untouched: move it away, or restore it from a backup",
        path.display()
    )))
}

/// Refuses a SQLite database of another program (it has tables and not
/// idflow's `application_id`), looking read-only so that nothing changes.
async fn check_ours(path: &Path) -> Result<(), StoreError> {
    if std::fs::metadata(path).map_or(true, |metadata| metadata.len() == 0) {
        return Ok(());
    }
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|error| opening_error(path, &error))?;
    let application_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut connection)
        .await
        .map_err(|error| opening_error(path, &error))?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_one(&mut connection)
    .await
    .map_err(|error| opening_error(path, &error))?;
    drop(connection);
    if application_id != APPLICATION_ID && tables > 0 {
        return Err(StoreError::Unusable(format!(
            "{} is a database of another program, not an idflow run store; it was left untouched (give idflow a data folder of its own)",
            path.display()
        )));
    }
    Ok(())
}

fn opening_error(path: &Path, error: &sqlx::Error) -> StoreError {
    StoreError::Unusable(format!(
        "cannot open the run store {}: {error}",
        path.display()
    ))
}

/// A database error as the engine sees it.
pub(crate) fn db_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

/// Milliseconds since the epoch.
pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A run record from a row of [`RUN_COLUMNS`].
pub(crate) fn record_of(row: &SqliteRow) -> Result<RunRecord, StoreError> {
    let get_err = |error: sqlx::Error| db_error(&error);
    let id: String = row.try_get(0).map_err(get_err)?;
    let phase: String = row.try_get(3).map_err(get_err)?;
    let Some(phase) = RunPhase::parse(&phase) else {
        return Err(StoreError::Corrupt {
            run_id: id,
            reason: format!("unknown phase `{phase}`"),
        });
    };
    let next_seq: i64 = row.try_get(8).map_err(get_err)?;
    let cancel: i64 = row.try_get(10).map_err(get_err)?;
    Ok(RunRecord {
        workflow: row.try_get(1).map_err(get_err)?,
        definition: row.try_get(2).map_err(get_err)?,
        phase,
        base_dir: row.try_get(4).map_err(get_err)?,
        created_at: from_millis(row.try_get(5).map_err(get_err)?),
        updated_at: from_millis(row.try_get(6).map_err(get_err)?),
        finished_at: row
            .try_get::<Option<i64>, _>(7)
            .map_err(get_err)?
            .map(from_millis),
        next_seq: u64::try_from(next_seq).unwrap_or(0),
        due_at: row
            .try_get::<Option<i64>, _>(9)
            .map_err(get_err)?
            .map(from_millis),
        cancel_requested: cancel != 0,
        lease_owner: row.try_get(11).map_err(get_err)?,
        lease_until: row
            .try_get::<Option<i64>, _>(12)
            .map_err(get_err)?
            .map(from_millis),
        result: row.try_get(13).map_err(get_err)?,
        id,
    })
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn put_definition(&self, definition: &Definition) -> Result<(), StoreError> {
        let definition = definition.clone();
        self.write(|reply| Write::PutDefinition(definition, reply))
            .await
    }

    async fn definition(&self, hash: &str) -> Result<Definition, StoreError> {
        let row =
            sqlx::query("SELECT hash, workflow, path, source FROM definitions WHERE hash = ?")
                .bind(hash)
                .fetch_optional(&self.reads)
                .await
                .map_err(|error| db_error(&error))?
                .ok_or_else(|| StoreError::NotFound(format!("workflow definition {hash}")))?;
        let get = |index: usize| -> Result<String, StoreError> {
            row.try_get(index).map_err(|error| db_error(&error))
        };
        Ok(Definition {
            hash: get(0)?,
            workflow: get(1)?,
            path: get(2)?,
            source: get(3)?,
        })
    }

    async fn deliver_event(&self, event: NewEvent) -> Result<Delivery, StoreError> {
        self.write(|reply| Write::DeliverEvent(Box::new(event), reply))
            .await
    }

    async fn receive_event(
        &self,
        run_id: &str,
        step_id: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<BoundEvent>, StoreError> {
        let (run_id, step_id, key) = (run_id.to_owned(), step_id.to_owned(), key.to_owned());
        self.write(|reply| Write::ReceiveEvent {
            run_id,
            step_id,
            key,
            now,
            reply,
        })
        .await
    }

    async fn take_wakes(&self, run_id: &str) -> Result<Vec<String>, StoreError> {
        let run_id = run_id.to_owned();
        self.write(|reply| Write::TakeWakes(run_id, reply)).await
    }

    async fn woken_runs(&self, owner: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT DISTINCT r.id FROM inbox_waits w JOIN runs r ON r.rid = w.rid \
             WHERE w.woken = 1 AND r.lease_owner = ?",
        )
        .bind(owner)
        .fetch_all(&self.reads)
        .await
        .map_err(|error| db_error(&error))
    }

    async fn create_run(&self, run: NewRun) -> Result<(), StoreError> {
        self.write(|reply| Write::CreateRun(Box::new(run), reply))
            .await
    }

    async fn append(&self, append: Append) -> Result<(), StoreError> {
        self.write(|reply| Write::Append(append, reply)).await
    }

    async fn events(&self, run_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        sqlx::query_scalar(
            "SELECT e.body FROM events e JOIN runs r ON r.rid = e.rid WHERE r.id = ? ORDER BY e.seq",
        )
        .bind(run_id)
        .fetch_all(&self.reads)
        .await
        .map_err(|error| db_error(&error))
    }

    async fn release(
        &self,
        run_id: &str,
        owner: &str,
        next_seq: u64,
        release: Release,
    ) -> Result<(), StoreError> {
        let (run_id, owner) = (run_id.to_owned(), owner.to_owned());
        self.write(|reply| Write::Release {
            run_id,
            owner,
            next_seq,
            release,
            reply,
        })
        .await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let owner = owner.to_owned();
        self.write(|reply| Write::ClaimDue {
            owner,
            now,
            lease_until,
            limit,
            reply,
        })
        .await
    }

    async fn claim(
        &self,
        run_id: &str,
        owner: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Option<RunRecord>, StoreError> {
        let (run_id, owner) = (run_id.to_owned(), owner.to_owned());
        self.write(|reply| Write::Claim {
            run_id,
            owner,
            now,
            lease_until,
            reply,
        })
        .await
    }

    async fn heartbeat(
        &self,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let owner = owner.to_owned();
        self.write(|reply| Write::Heartbeat {
            owner,
            lease_until,
            reply,
        })
        .await
    }

    async fn lease_owners(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT DISTINCT lease_owner FROM runs WHERE lease_owner IS NOT NULL")
            .fetch_all(&self.reads)
            .await
            .map_err(|error| db_error(&error))
    }

    async fn expire_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        self.write(|reply| Write::ExpireLeases(owner, reply)).await
    }

    async fn release_all(&self, owner: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.write(|reply| Write::ReleaseAll { owner, now, reply })
            .await
    }

    async fn request_cancel(
        &self,
        run_id: &str,
        now: OffsetDateTime,
    ) -> Result<RunRecord, StoreError> {
        let id = run_id.to_owned();
        self.write(|reply| Write::RequestCancel {
            run_id: id,
            now,
            reply,
        })
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("run {run_id}")))
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"
        )))
        .bind(run_id)
        .fetch_optional(&self.reads)
        .await
        .map_err(|error| db_error(&error))?;
        row.as_ref().map(record_of).transpose()
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1");
        if filter.phase.is_some() {
            sql.push_str(" AND phase = ?");
        }
        if filter.workflow.is_some() {
            sql.push_str(" AND workflow = ?");
        }
        if filter.before.is_some() {
            sql.push_str(" AND id < ?");
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(phase) = filter.phase {
            query = query.bind(phase.as_str());
        }
        if let Some(workflow) = &filter.workflow {
            query = query.bind(workflow);
        }
        if let Some(before) = &filter.before {
            query = query.bind(before);
        }
        let rows = query
            .bind(filter.limit.map_or(-1, i64::from))
            .fetch_all(&self.reads)
            .await
            .map_err(|error| db_error(&error))?;
        rows.iter().map(record_of).collect()
    }

    async fn next_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT min(at) FROM ( \
                 SELECT min(due_at) AS at FROM runs WHERE due_at IS NOT NULL AND lease_owner IS NULL \
                 UNION ALL \
                 SELECT min(lease_until) AS at FROM runs WHERE lease_owner IS NOT NULL)",
        )
        .fetch_one(&self.reads)
        .await
        .map_err(|error| db_error(&error))?;
        Ok(next.map(from_millis))
    }

    async fn unfinished(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM runs WHERE finished_at IS NULL")
            .fetch_one(&self.reads)
            .await
            .map_err(|error| db_error(&error))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn due_summary(&self, now: OffsetDateTime) -> Result<DueSummary, StoreError> {
        // The same two sets `claim_due` takes from, each read through its
        // partial index (runs_due, runs_leased).
        let (waiting, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT count(*), min(at) FROM ( \
                 SELECT due_at AS at FROM runs WHERE due_at IS NOT NULL AND lease_owner IS NULL AND due_at <= ?1 \
                 UNION ALL \
                 SELECT lease_until AS at FROM runs WHERE lease_owner IS NOT NULL AND lease_until < ?1 AND finished_at IS NULL)",
        )
        .bind(millis(now))
        .fetch_one(&self.reads)
        .await
        .map_err(|error| db_error(&error))?;
        Ok(DueSummary {
            waiting: u64::try_from(waiting).unwrap_or(0),
            oldest: oldest.map(from_millis),
        })
    }

    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.write(|reply| Write::Prune(before, reply)).await
    }
}
