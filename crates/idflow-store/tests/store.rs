//! The SQLite run store against the engine's contract: fenced appends,
//! leases and due work, cancel requests, pruning, refusing foreign or
//! corrupt files without touching them, migrations.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use idflow_engine::run::{
    Append, Definition, DueSummary, NewRun, Release, RunFilter, RunPhase, RunStore, StoreError,
};
use idflow_store::{DATABASE_FILE, Durability, SqliteStore};
use time::OffsetDateTime;

fn definition() -> Definition {
    Definition::new("demo", "demo.yaml", "name: demo\nsteps: {}\n")
}

fn new_run(id: &str, owner: &str, now: OffsetDateTime) -> NewRun {
    NewRun {
        id: id.into(),
        workflow: "demo".into(),
        definition: definition(),
        base_dir: "/flows".into(),
        created_at: now,
        events: vec![b"e0".to_vec(), b"e1".to_vec()],
        owner: Some(owner.into()),
        lease_until: now + Duration::from_secs(30),
    }
}

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path(), Durability::Normal)
        .await
        .expect("the store opens")
}

fn append(run: &str, owner: &str, expected_seq: u64, events: &[&str]) -> Append {
    Append {
        run_id: run.into(),
        owner: owner.into(),
        expected_seq,
        events: events.iter().map(|e| e.as_bytes().to_vec()).collect(),
    }
}

#[tokio::test]
async fn appends_are_fenced_by_owner_and_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    store.create_run(new_run("r1", "w1", now)).await.unwrap();
    store
        .append(append("r1", "w1", 2, &["e2", "e3"]))
        .await
        .unwrap();

    // A stale writer (an old idea of the log's length) is refused...
    let stale = store.append(append("r1", "w1", 2, &["fork"])).await;
    assert_eq!(
        stale,
        Err(StoreError::Conflict {
            run_id: "r1".into(),
            expected_seq: 2
        })
    );
    // ...and so is a writer that does not hold the run.
    assert!(matches!(
        store.append(append("r1", "w2", 4, &["x"])).await,
        Err(StoreError::Conflict { .. })
    ));
    let events = store.events("r1").await.unwrap();
    assert_eq!(
        events,
        ["e0", "e1", "e2", "e3"].map(|e| e.as_bytes().to_vec())
    );
    let record = store.run("r1").await.unwrap().unwrap();
    assert_eq!((record.next_seq, record.phase), (4, RunPhase::Running));
    assert_eq!(record.lease_owner.as_deref(), Some("w1"));
    assert_eq!(
        store.definition(&record.definition).await.unwrap(),
        definition()
    );
}

#[tokio::test]
async fn many_concurrent_appends_commit_together_and_each_hears_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir).await);
    let now = OffsetDateTime::now_utc();
    for i in 0..50 {
        store
            .create_run(new_run(&format!("r{i}"), "w", now))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let run = format!("r{i}");
            for seq in 2..12 {
                store.append(append(&run, "w", seq, &["e"])).await.unwrap();
            }
            // Every tenth writer also tries a stale append.
            if i % 10 == 0 {
                assert!(
                    store
                        .append(append(&run, "w", 5, &["stale"]))
                        .await
                        .is_err()
                );
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for i in 0..50 {
        assert_eq!(store.events(&format!("r{i}")).await.unwrap().len(), 12);
    }
}

#[tokio::test]
async fn the_due_summary_counts_what_claim_due_would_take_and_the_oldest_due_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    let park = |due| Release::Park { due_at: Some(due) };
    assert_eq!(store.due_summary(now).await.unwrap(), DueSummary::default());
    for id in ["old", "recent", "future", "held", "lapsed"] {
        store.create_run(new_run(id, "w1", now)).await.unwrap();
    }
    store
        .release("old", "w1", 2, park(now - Duration::from_secs(90)))
        .await
        .unwrap();
    store
        .release("recent", "w1", 2, park(now - Duration::from_secs(5)))
        .await
        .unwrap();
    store
        .release("future", "w1", 2, park(now + Duration::from_mins(1)))
        .await
        .unwrap();
    // "held" and "lapsed" stay leased by w1 until now + 30 s.
    let summary = store.due_summary(now).await.unwrap();
    assert_eq!(summary.waiting, 2);
    assert_eq!(
        summary.oldest.map(OffsetDateTime::unix_timestamp),
        Some((now - Duration::from_secs(90)).unix_timestamp())
    );
    // Past the leases and the future due time, everything unfinished is due.
    let summary = store
        .due_summary(now + Duration::from_mins(2))
        .await
        .unwrap();
    assert_eq!(summary.waiting, 5);
    // Claimed runs are no longer waiting.
    let later = now + Duration::from_mins(2);
    let claimed = store
        .claim_due("w2", later, later + Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    assert_eq!(store.due_summary(later).await.unwrap().waiting, 0);
}

#[tokio::test]
async fn parked_runs_are_claimed_when_due_by_one_owner_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    let later = now + Duration::from_mins(1);
    store.create_run(new_run("soon", "w1", now)).await.unwrap();
    store.create_run(new_run("later", "w1", now)).await.unwrap();
    let park = |due| Release::Park { due_at: Some(due) };
    store.release("soon", "w1", 2, park(now)).await.unwrap();
    store.release("later", "w1", 2, park(later)).await.unwrap();
    // Parking by someone who does not hold it, or with a stale length, fails.
    assert!(store.release("soon", "w1", 2, park(now)).await.is_err());

    assert_eq!(
        store
            .next_due()
            .await
            .unwrap()
            .map(OffsetDateTime::unix_timestamp),
        Some(now.unix_timestamp())
    );
    let lease = now + Duration::from_secs(30);
    let claimed = store.claim_due("w2", now, lease, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["soon"]
    );
    assert_eq!(claimed[0].phase, RunPhase::Running);
    // Nobody else gets it while the lease holds.
    assert!(
        store
            .claim_due("w3", now, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.claim("soon", "w3", now, lease).await.unwrap(), None);
    // The owner renews; once its lease has passed, another owner may take it.
    assert!(store.heartbeat("w2", lease).await.unwrap().is_empty());
    let after_lease = later + Duration::from_secs(1);
    let taken = store
        .claim_due("w3", after_lease, after_lease + Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["soon", "later"]
    );
    // The old owner's late writes are refused.
    assert!(
        store
            .append(append("soon", "w2", 2, &["late"]))
            .await
            .is_err()
    );
    assert_eq!(store.unfinished().await.unwrap(), 2);
}

#[tokio::test]
async fn a_dead_owners_leases_can_be_ended_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    store.create_run(new_run("r", "dead", now)).await.unwrap();
    assert_eq!(store.lease_owners().await.unwrap(), ["dead"]);
    assert!(
        store
            .claim_due("me", now, now + Duration::from_secs(30), 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.expire_leases("dead").await.unwrap(), 1);
    let claimed = store
        .claim_due("me", now, now + Duration::from_secs(30), 5)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
}

#[tokio::test]
async fn cancel_requests_wake_parked_runs_and_reach_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    let lease = now + Duration::from_secs(30);
    store.create_run(new_run("held", "w1", now)).await.unwrap();
    store
        .create_run(new_run("parked", "w1", now))
        .await
        .unwrap();
    store
        .release(
            "parked",
            "w1",
            2,
            Release::Park {
                due_at: Some(now + Duration::from_hours(1)),
            },
        )
        .await
        .unwrap();
    let held = store.request_cancel("held", now).await.unwrap();
    assert!(held.cancel_requested);
    assert_eq!(store.heartbeat("w1", lease).await.unwrap(), ["held"]);
    let parked = store.request_cancel("parked", now).await.unwrap();
    assert_eq!(
        parked.due_at.map(OffsetDateTime::unix_timestamp),
        Some(now.unix_timestamp())
    );
    assert!(matches!(
        store.request_cancel("nope", now).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn finished_runs_are_listed_newest_first_and_pruned_with_their_logs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    for id in ["01-a", "02-b", "03-c"] {
        store.create_run(new_run(id, "w", now)).await.unwrap();
    }
    let finish = |phase| Release::Finish {
        phase,
        result: "{\"status\":\"x\"}".into(),
    };
    store
        .release("01-a", "w", 2, finish(RunPhase::Succeeded))
        .await
        .unwrap();
    store
        .release("02-b", "w", 2, finish(RunPhase::Failed))
        .await
        .unwrap();
    // A finished run takes no more events.
    assert!(store.append(append("01-a", "w", 2, &["x"])).await.is_err());

    let all = store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["03-c", "02-b", "01-a"]
    );
    let failed = store
        .list_runs(&RunFilter {
            phase: Some(RunPhase::Failed),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].result.as_deref(), Some("{\"status\":\"x\"}"));
    let page = store
        .list_runs(&RunFilter {
            limit: Some(1),
            before: Some("03-c".into()),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page[0].id, "02-b");

    let pruned = store.prune(now + Duration::from_hours(1)).await.unwrap();
    assert_eq!(pruned, 2);
    assert!(store.run("01-a").await.unwrap().is_none());
    assert!(store.events("01-a").await.unwrap().is_empty());
    assert_eq!(store.events("03-c").await.unwrap().len(), 2);
    // The definition is still used by the unfinished run.
    assert!(store.definition(&definition().hash).await.is_ok());
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);

    // Garbage (a corrupt file).
    let garbage = b"this is not a database at all, just some bytes".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let error = SqliteStore::open(dir.path(), Durability::Normal)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unusable(_)), "{error}");
    assert!(error.to_string().contains("left untouched"), "{error}");
    assert!(std::fs::read(&path).unwrap() == garbage, "the file changed");

    // Another program's SQLite database.
    std::fs::remove_file(&path).unwrap();
    {
        use sqlx::ConnectOptions as _;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut connection = options.connect().await.unwrap();
        sqlx::query("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let error = SqliteStore::open(dir.path(), Durability::Full)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("another program"), "{error}");
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");
}

#[tokio::test]
async fn migrations_bring_an_empty_file_and_an_existing_store_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    // An empty file (as `touch` leaves it) becomes a store.
    std::fs::write(dir.path().join(DATABASE_FILE), b"").unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    store.create_run(new_run("kept", "w", now)).await.unwrap();
    drop(store);
    // Opened again (every migration applied already), nothing is lost.
    let store = open(&dir).await;
    assert_eq!(store.events("kept").await.unwrap().len(), 2);
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(
                &sqlx::SqlitePool::connect(&format!("sqlite:{}", store.path().display()))
                    .await
                    .unwrap(),
            )
            .await
            .unwrap();
    assert_eq!(applied, [1, 2, 3]);
}
