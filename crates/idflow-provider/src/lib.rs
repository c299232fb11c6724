//! # idflow-provider: the embedded, Truora-compatible identity service
//!
//! A library with [`router`] and [`serve`] (and [`start_embedded`] to run it
//! in-process) that speaks the provider contract (`shared/docs/provider-api.md`)
//! with real face recognition ([`idflow_vision`], dlib): enrollments with
//! signed single-use upload links, a per-client blocklist, face validations,
//! web tokens with a browser verification page, webhooks, and SQLite storage.
//!
//! ## Layout
//! - [`config`]: [`ProviderConfig`], defaults, environment names, the [`Clock`].
//! - [`error`]: [`ProviderError`], for starting, serving and administration.
//! - `http`: the routes ([`router`]), extractors, the one JSON error
//!   ([`ApiError`]), idempotency, and the verification page.
//! - `processing`: background analysis and decisions (blocklist, similarity).
//! - `store`: SQLite through sqlx, embedded migrations (`migrations/`).
//! - `clients`: [`create_client`], [`list_clients`], [`rotate_client_key`],
//!   [`revoke_client`] (the CLI's `idflow provider create-client` and
//!   `clients list|rotate|revoke`) and API key checks (a running provider
//!   re-reads a key after [`KEY_CACHE_TTL`]).
//! - `data_dir`: the data directory's permissions (0700, files 0600).
//! - `links`: signed, expiring, single-use upload links.
//! - `web_tokens` and `jwt`: the web tokens (HS256 JWT) of the page.
//! - `webhooks`: signed event delivery with retries; `webhook_targets`:
//!   where webhooks may go ([`WebhookTargets`]: no credentials in URLs, no
//!   private addresses unless allowed, checked again at each delivery).
//! - `views`: the JSON shape of each record.
//! - `model`: statuses, reasons, id prefixes; `secrets`: the installation
//!   secret, hashing and constant-time comparison.
//! - `state` and `server`: [`AppState`], [`serve`], [`start_embedded`];
//!   `connections`: serving connections with timeouts and a connection
//!   limit, and the JSON error shape for hyper's own 400, 414 and 431.
//!
//! ## Data directory
//! Default: `$IDFLOW_PROVIDER_DATA`, else `$XDG_DATA_HOME/idflow/provider`,
//! else `~/.local/share/idflow/provider` ([`default_data_dir`]); the CLI's
//! `--data` overrides it. Only its owner may read it: the directory is mode
//! 0700 and its files 0600, tightened at start (with a warning) when they
//! were looser. It holds:
//! - `provider.sqlite3` (+ `-wal`, `-shm`): clients (key hashes), enrollments,
//!   validations, upload links, web tokens, processes, idempotency records,
//!   webhooks;
//! - `secret.key` (mode 0600): the installation secret; upload links and web
//!   tokens are signed with keys derived from it. Deleting it invalidates
//!   every outstanding link and token.
//!
//! ## Retention of identity data
//! Photos are not kept: an uploaded photo is held in the database only until
//! it is processed (usually well under a second; across a restart if the
//! provider stops first) and is deleted in the same transaction that records
//! the outcome. What is kept is the face embedding (128 numbers) of each
//! successful enrollment, until the enrollment is deleted
//! (`DELETE /v1/enrollments/{id}` removes the embedding with the record).
//! Failed enrollments and validations keep no embedding. Validations keep
//! only their decision and confidence score.
//!
//! ## Decisions
//! - Blocklist: a face within dlib distance 0.6 ([`idflow_vision::SAME_PERSON_DISTANCE`])
//!   of a successful `face-search` enrollment of the same client fails with
//!   `face_in_blocklist` (enrollments and validations).
//! - Validation: `confidence_score = idflow_vision::confidence_score(distance)`
//!   (0.6 maps to 0.65); success when the score is at least `threshold`,
//!   which defaults to 0.65 ([`DEFAULT_THRESHOLD`]).
//!
//! ## Limits
//! Uploads: at most [`ProviderConfig::max_upload_bytes`] (10 MiB by default;
//! larger answers 413); JPEG, PNG or WebP by content; images beyond the face
//! engine's decoding limits (decompression bombs) fail with
//! `file_format_not_supported`. Forms: at most 64 KiB.
//!
//! Connections (HTTP/1.1): a connection must send a whole request head
//! within 10 s of opening or of its previous answer, else it is closed
//! ([`ProviderConfig::header_read_timeout`]); a request must be answered
//! within a minute, else 408 ([`ProviderConfig::request_timeout`]); at most
//! 4,096 connections at once, and never more than three quarters of the
//! open-files limit ([`ProviderConfig::max_connections`]): at the limit a
//! new connection takes the place of the one idle for longest, so clients
//! that never finish their headers cannot lock others out. A request head
//! is at most 96 KiB and 100 headers (else 431), its target under 64 KiB
//! (else 414); these and unparsable heads (400) get the JSON error shape.
//!
//! ## Benchmarks
//! `cargo bench -p idflow-provider --bench enrollment_reads` measures
//! `GET /v1/enrollments/{id}` with `wrk -t2 -c64 -d10s` beside a bare axum
//! handler answering the same 223 bytes. On the 2-core development machine
//! (wrk on the same cores): 17,000 to 18,500 requests/s, p50 3.3 to 3.5 ms,
//! p99 9 to 29 ms; the baseline 56,000 to 62,000 requests/s (ratio about
//! 0.3; target above 10,000). Profiled, most of the time goes to handing
//! each query to sqlx's SQLite worker thread and back (futex wake-ups), not
//! to SQLite: an in-memory cache of records is the next step if needed.
//! The browser test (`tests/browser.rs`) prints the page flow's timings.
//!
//! `cargo bench -p idflow-provider --bench slow_clients` opens 1,000
//! connections that never finish their headers, then times a normal
//! request and the server's closing of them. Measured against `idflow
//! serve` (debug builds, same machine, same run): before this limit, with
//! 1,000 of them the normal request took 0.65 ms (median; baseline 0.57 ms)
//! but none was closed after 60 s; with `ulimit -n 256` and 350 of them,
//! the normal request was not served within 30 s and the log repeated "Too
//! many open files". Now: 0.34 ms with 1,000 (baseline 0.35 ms), all closed
//! 11.1 s after the first was opened (opening took 1.1 s); with `ulimit -n
//! 256` and 350, 0.48 ms (baseline 0.56 ms), all closed after 10.1 s.

pub mod config;
pub mod error;

mod clients;
mod connections;
mod data_dir;
mod http;
mod jwt;
mod links;
mod model;
mod processing;
mod secrets;
mod server;
mod state;
mod store;
mod views;
mod web_tokens;
mod webhook_targets;
mod webhooks;

pub use clients::{
    ClientSummary, KEY_CACHE_TTL, create_client, list_clients, revoke_client, rotate_client_key,
};
pub use config::{
    Clock, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_TOKEN_TTL, DEFAULT_UPLOAD_LINK_TTL, ENV_DATA_DIR,
    ENV_MODELS_DIR, ENV_PUBLIC_URL, ManualClock, ProviderConfig, RetryPolicy, default_data_dir,
};
pub use connections::{ConnectionLimits, serve as serve_router};
pub use error::ProviderError;
pub use http::DEFAULT_THRESHOLD;
pub use http::{API_KEY_HEADER, ApiError, FORM_LIMIT, IDEMPOTENCY_HEADER, REPLAYED_HEADER, router};
pub use model::{EnrollmentType, Status, TargetKind, reason};
pub use secrets::SECRET_FILE;
pub use server::{
    EmbeddedProvider, connection_limits, serve, serve_state, serve_state_with, start_embedded,
    start_embedded_with_engine,
};
pub use state::{AppState, ProcessedEvent, load_engine};
pub use store::DATABASE_FILE;
pub use webhook_targets::WebhookTargets;
