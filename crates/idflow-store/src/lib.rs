//! # idflow-store: durable runs (and the server's tokens) on SQLite
//!
//! The engine's [`RunStore`](idflow_engine::run::RunStore) on an embedded
//! SQLite database (WAL) in the data directory, and the key that seals
//! sensitive step outputs at rest.
//!
//! ## Layout
//! - [`sqlite`]: [`SqliteStore`]: opening (refusing a corrupt or foreign
//!   file without touching it), versioned migrations, reads.
//! - [`writer`]: every write goes through one connection in one task, which
//!   commits the writes of many runs together (group commit: one fsync for
//!   a batch, not one per event).
//! - [`api`]: [`ApiStore`], what the idflow server keeps beside the runs:
//!   API tokens (hashed) and the idempotency keys of run starts.
//! - `inbox`: outside events for runs: delivery to the oldest wait or
//!   kept for the first, waits registered by the steps, wake flags.
//! - [`seal`]: [`KeySeal`], XChaCha20-Poly1305 (RustCrypto) with a key from
//!   `IDFLOW_STORE_KEY` or a 0600 key file in the data directory.

pub mod api;
mod inbox;
pub mod seal;
pub mod sqlite;
mod writer;

pub use api::{ApiStore, StartClaim, TokenRecord};
pub use seal::{KeySeal, SealError};
pub use sqlite::{DATABASE_FILE, Durability, SqliteStore};
