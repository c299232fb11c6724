//! Errors of the library surface (starting, serving, creating clients). Errors
//! that reach HTTP callers are [`crate::http::ApiError`] instead.

use std::path::PathBuf;

/// Why the provider could not start, serve, or run an administrative command.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or create the installation secret {path}: {message}")]
    Secret { path: PathBuf, message: String },
    #[error("cannot open the database {path}: {source}")]
    OpenDatabase { path: PathBuf, source: sqlx::Error },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot start the face engine: {0}")]
    Engine(#[source] idflow_vision::LoadError),
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(String),
    #[error(
        "invalid client name {0:?}: use 1 to 64 characters among letters, digits, '_', '.' and '-'"
    )]
    InvalidClientName(String),
    #[error("a client named {0:?} already exists")]
    ClientExists(String),
    #[error("there is no client named {0:?} (`idflow provider clients list` shows them)")]
    NoSuchClient(String),
    #[error("no provider data in {0}: nothing to list, rotate or revoke (is --data right?)")]
    NoData(PathBuf),
    #[error("the public base URL is not set (serve() derives it from the bound address)")]
    MissingPublicUrl,
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server task ended abnormally: {0}")]
    ServerTask(String),
}
