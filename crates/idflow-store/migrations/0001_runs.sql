-- The run store of durable idflow runs (see crates/idflow-store/src/lib.rs).
-- Times are milliseconds since the Unix epoch, UTC.

-- Marks the file as an idflow run store ('idfw'), so that a foreign
-- database is refused instead of migrated.
PRAGMA application_id = 1768187511;

-- Workflow texts, pinned by the SHA-256 of their text.
CREATE TABLE definitions (
    hash       TEXT PRIMARY KEY NOT NULL,
    workflow   TEXT NOT NULL,
    path       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE runs (
    -- A compact key for the event log.
    rid              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    workflow         TEXT NOT NULL,
    definition       TEXT NOT NULL REFERENCES definitions (hash),
    phase            TEXT NOT NULL,
    base_dir         TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    -- Events in the log; an append must name it (fencing).
    next_seq         INTEGER NOT NULL DEFAULT 0,
    -- Due work: when a run nobody holds must go on.
    due_at           INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    -- The lease of the process executing the run.
    lease_owner      TEXT,
    lease_until      INTEGER,
    -- The run result JSON (redacted), once finished.
    result           TEXT
);

-- Partial indexes keep the due-work lookups small whatever the history.
CREATE INDEX runs_due ON runs (due_at) WHERE due_at IS NOT NULL AND lease_owner IS NULL;
CREATE INDEX runs_leased ON runs (lease_until) WHERE lease_owner IS NOT NULL;
CREATE INDEX runs_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX runs_unfinished ON runs (rid) WHERE finished_at IS NULL;
CREATE INDEX runs_finished ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX runs_by_workflow ON runs (workflow, id);
CREATE INDEX runs_by_phase ON runs (phase, id);

-- The append-only event log of each run.
CREATE TABLE events (
    rid  INTEGER NOT NULL,
    seq  INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (rid, seq)
) WITHOUT ROWID;
