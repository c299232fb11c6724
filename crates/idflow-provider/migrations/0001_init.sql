-- The provider's records. Times are whole seconds since the Unix epoch (UTC).

-- Tenants. The API key is `idfk_<key_id>_<secret>`; only SHA-256(secret) is kept.
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    key_id      TEXT NOT NULL UNIQUE,
    key_hash    BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Reference faces (face-recognition) and blocklisted faces (face-search).
-- The embedding (128 little-endian f32) is kept; the photo is not.
CREATE TABLE enrollments (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients(id),
    account_id       TEXT NOT NULL,
    enrollment_type  TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    country          TEXT,
    fraud_reason     TEXT,
    embedding        BLOB,
    faces_seen       INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER
);
CREATE INDEX enrollments_by_account ON enrollments (client_id, account_id, created_at);
CREATE INDEX enrollments_by_type ON enrollments (client_id, enrollment_type, status);

-- Face validations: a new photo compared with the account's enrolled face.
CREATE TABLE validations (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL REFERENCES clients(id),
    account_id         TEXT NOT NULL,
    threshold          REAL NOT NULL,
    subvalidations     TEXT NOT NULL,
    status             TEXT NOT NULL,
    reason             TEXT,
    similarity_status  TEXT,
    confidence_score   REAL,
    faces_seen         INTEGER,
    expires_at         INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER
);

-- Single-use upload links; the URL carries the nonce and an HMAC signature.
CREATE TABLE upload_links (
    nonce        TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(id),
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);

-- Photos received and not processed yet; deleted as soon as they are processed.
CREATE TABLE pending_images (
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    client_id    TEXT NOT NULL REFERENCES clients(id),
    bytes        BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (target_kind, target_id)
);

-- Web tokens (JWT ids) and the one process each may start.
CREATE TABLE web_tokens (
    jti           TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients(id),
    account_id    TEXT NOT NULL,
    country       TEXT NOT NULL,
    flow_id       TEXT,
    redirect_url  TEXT,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    process_id    TEXT
);

-- Web verification processes; the outcome is the validation's.
CREATE TABLE processes (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(id),
    account_id     TEXT NOT NULL,
    flow_id        TEXT,
    token_jti      TEXT NOT NULL,
    validation_id  TEXT NOT NULL REFERENCES validations(id),
    created_at     INTEGER NOT NULL
);

-- Responses to creating requests, replayed for the same Idempotency-Key.
CREATE TABLE idempotency_keys (
    client_id    TEXT NOT NULL REFERENCES clients(id),
    key          TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    status_code  INTEGER,
    body         TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (client_id, key)
);

-- Webhook registrations; events are POSTed as a JWT signed with `secret`.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients(id),
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX webhooks_by_client ON webhooks (client_id);
