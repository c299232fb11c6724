//! Outside events in the SQLite store: delivery to the oldest wait of an
//! unfinished run, events kept for a wait that comes later (until they
//! expire), one event per wait and one wait per event, idempotency keys,
//! wake flags that make a parked run due, and pruning.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::time::Duration;

use idflow_engine::run::{Definition, Delivery, NewEvent, NewRun, Release, RunPhase, RunStore};
use idflow_store::{Durability, SqliteStore};
use time::OffsetDateTime;

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path(), Durability::Normal)
        .await
        .unwrap()
}

/// A run held by `owner`.
async fn run(store: &SqliteStore, id: &str, owner: &str) {
    let now = OffsetDateTime::now_utc();
    store
        .create_run(NewRun {
            id: id.into(),
            workflow: "demo".into(),
            definition: Definition::new("demo", "demo.yaml", "name: demo\nsteps: {}\n"),
            base_dir: "/flows".into(),
            created_at: now,
            events: vec![b"e0".to_vec()],
            owner: Some(owner.into()),
            lease_until: now + Duration::from_secs(30),
        })
        .await
        .unwrap();
}

fn event(key: &str, payload: &str, idempotency_key: Option<&str>) -> NewEvent {
    let now = OffsetDateTime::now_utc();
    NewEvent {
        key: key.into(),
        payload: payload.into(),
        idempotency_key: idempotency_key.map(str::to_owned),
        received_at: now,
        keep_until: now + Duration::from_hours(1),
    }
}

#[tokio::test]
async fn an_event_goes_to_the_oldest_open_wait_and_each_wait_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    run(&store, "r1", "w").await;
    run(&store, "r2", "w").await;
    assert_eq!(
        store.receive_event("r1", "pay", "k", now).await.unwrap(),
        None
    );
    assert_eq!(
        store.receive_event("r2", "pay", "k", now).await.unwrap(),
        None
    );
    assert_eq!(
        store.deliver_event(event("k", "1", None)).await.unwrap(),
        Delivery::Delivered {
            run_id: "r1".into(),
            step_id: "pay".into()
        }
    );
    assert_eq!(
        store.deliver_event(event("k", "2", None)).await.unwrap(),
        Delivery::Delivered {
            run_id: "r2".into(),
            step_id: "pay".into()
        }
    );
    // Asked again (a retry, a resumed run), each wait answers its own.
    for _ in 0..2 {
        let first = store.receive_event("r1", "pay", "k", now).await.unwrap();
        assert_eq!(first.unwrap().payload, "1");
        let second = store.receive_event("r2", "pay", "k", now).await.unwrap();
        assert_eq!(second.unwrap().payload, "2");
    }
    // No wait is left: the next one is kept.
    assert_eq!(
        store.deliver_event(event("k", "3", None)).await.unwrap(),
        Delivery::Kept
    );
}

#[tokio::test]
async fn an_event_before_the_wait_is_kept_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    run(&store, "r1", "w").await;
    run(&store, "r2", "w").await;
    assert_eq!(
        store
            .deliver_event(event("early", "\"hello\"", None))
            .await
            .unwrap(),
        Delivery::Kept
    );
    let received = store.receive_event("r1", "s", "early", now).await.unwrap();
    assert_eq!(received.unwrap().payload, "\"hello\"");
    // Taken: not kept for another wait.
    assert_eq!(
        store.receive_event("r2", "s", "early", now).await.unwrap(),
        None
    );
    // One kept past its time is never received.
    let mut stale = event("late", "1", None);
    stale.keep_until = now - Duration::from_secs(1);
    store.deliver_event(stale).await.unwrap();
    assert_eq!(
        store.receive_event("r1", "t", "late", now).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    run(&store, "r1", "w").await;
    run(&store, "r2", "w").await;
    store.receive_event("r1", "s", "k", now).await.unwrap();
    store.receive_event("r2", "s", "k", now).await.unwrap();
    let first = store.deliver_event(event("k", "1", Some("once"))).await;
    assert!(matches!(first.unwrap(), Delivery::Delivered { .. }));
    assert_eq!(
        store
            .deliver_event(event("k", "1", Some("once")))
            .await
            .unwrap(),
        Delivery::Duplicate
    );
    assert_eq!(
        store.receive_event("r2", "s", "k", now).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_delivery_wakes_a_parked_run_and_flags_a_held_one_until_its_driver_hears() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    let far = now + Duration::from_hours(1);
    // A parked run: due now once the event comes.
    run(&store, "parked", "w").await;
    store.receive_event("parked", "s", "a", now).await.unwrap();
    store
        .release("parked", "w", 1, Release::Park { due_at: Some(far) })
        .await
        .unwrap();
    store.deliver_event(event("a", "1", None)).await.unwrap();
    let record = store.run("parked").await.unwrap().unwrap();
    assert!(record.due_at.unwrap() <= OffsetDateTime::now_utc());
    assert_eq!(store.woken_runs("w").await.unwrap(), Vec::<String>::new());
    assert_eq!(store.take_wakes("parked").await.unwrap(), vec!["s"]);
    assert_eq!(
        store.take_wakes("parked").await.unwrap(),
        Vec::<String>::new()
    );

    // A held run: its owner sees the flag; parking it makes it due.
    run(&store, "held", "w").await;
    store.receive_event("held", "s", "b", now).await.unwrap();
    store.deliver_event(event("b", "1", None)).await.unwrap();
    assert_eq!(store.run("held").await.unwrap().unwrap().due_at, None);
    assert_eq!(store.woken_runs("w").await.unwrap(), vec!["held"]);
    store
        .release("held", "w", 1, Release::Park { due_at: Some(far) })
        .await
        .unwrap();
    let record = store.run("held").await.unwrap().unwrap();
    assert_eq!(record.phase, RunPhase::Waiting);
    assert!(record.due_at.unwrap() < far, "due now, not at its timer");
}

#[tokio::test]
async fn finished_runs_take_no_events_and_pruning_forgets_their_waits_and_expired_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let now = OffsetDateTime::now_utc();
    run(&store, "done", "w").await;
    store.receive_event("done", "s", "k", now).await.unwrap();
    store
        .release(
            "done",
            "w",
            1,
            Release::Finish {
                phase: RunPhase::Succeeded,
                result: "{}".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.deliver_event(event("k", "1", None)).await.unwrap(),
        Delivery::Kept
    );
    let mut expired = event("gone", "1", Some("expired-key"));
    expired.keep_until = now - Duration::from_secs(1);
    store.deliver_event(expired).await.unwrap();
    let pruned = store
        .prune(OffsetDateTime::now_utc() + Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    // The expired event went, and with it its idempotency key.
    assert_eq!(
        store
            .deliver_event(event("gone", "1", Some("expired-key")))
            .await
            .unwrap(),
        Delivery::Kept
    );
    // The kept one stays for a new wait.
    run(&store, "new", "w").await;
    let received = store.receive_event("new", "s", "k", now).await.unwrap();
    assert_eq!(received.unwrap().payload, "1");
}
