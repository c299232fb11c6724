-- What the idflow server keeps beside the runs (see crates/idflow-store/src/api.rs).
-- Times are milliseconds since the Unix epoch, UTC.

-- API tokens: only the SHA-256 of each token is kept.
CREATE TABLE api_tokens (
    name       TEXT PRIMARY KEY NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    -- When it was last accepted (to the minute; written at most once a minute).
    used_at    INTEGER
);

-- Run starts made with an Idempotency-Key: a repeat with the same key and
-- body is the same run; the same key with another body is refused.
CREATE TABLE start_requests (
    key        TEXT PRIMARY KEY NOT NULL,
    body_hash  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX start_requests_created ON start_requests (created_at);
