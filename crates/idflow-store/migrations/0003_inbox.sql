-- Outside events for runs (core.await_event, provider webhooks): events
-- kept until a wait takes them, and the waits of runs' steps.
-- Times are milliseconds since the Unix epoch, UTC.

CREATE TABLE inbox_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT NOT NULL,
    -- JSON text.
    payload         TEXT NOT NULL,
    -- The sender's key: a repeat is ignored while the event is kept.
    idempotency_key TEXT UNIQUE,
    received_at     INTEGER NOT NULL,
    -- Until when it waits for a wait, if none takes it.
    keep_until      INTEGER NOT NULL,
    -- Taken by a wait.
    bound           INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX inbox_events_kept ON inbox_events (key, id) WHERE bound = 0;

-- One row per (run, step, key): registered by the step's first call, bound
-- to one event, flagged `woken` when the event came after the wait (the
-- step must poll again at once) until the run's driver has heard of it.
CREATE TABLE inbox_waits (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    rid           INTEGER NOT NULL,
    step_id       TEXT NOT NULL,
    key           TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    event_id      INTEGER,
    woken         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (rid, step_id, key)
);

CREATE INDEX inbox_waits_open ON inbox_waits (key, id) WHERE event_id IS NULL;
CREATE INDEX inbox_waits_woken ON inbox_waits (rid) WHERE woken = 1;
