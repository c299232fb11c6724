//! Provider configuration: where data and models live, lifetimes of links and
//! tokens, upload and connection limits, webhook retries, and the clock
//! (injectable for tests).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use crate::webhook_targets::WebhookTargets;

/// Environment variable the CLI reads for the data directory (`--data` overrides it).
pub const ENV_DATA_DIR: &str = "IDFLOW_PROVIDER_DATA";
/// Environment variable the CLI reads for the face models directory.
pub const ENV_MODELS_DIR: &str = "IDFLOW_MODELS_DIR";
/// Environment variable the CLI reads for the public base URL used in links.
pub const ENV_PUBLIC_URL: &str = "IDFLOW_PROVIDER_PUBLIC_URL";

/// Web tokens (`POST /v1/api-keys`) live two hours unless configured otherwise.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_hours(2);
/// Upload links live fifteen minutes unless configured otherwise.
pub const DEFAULT_UPLOAD_LINK_TTL: Duration = Duration::from_mins(15);
/// Largest accepted upload body: 10 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// A connection that has not sent a whole request head within this time
/// (from its opening, or since its previous answer) is closed.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request not answered within this time (a body sent too slowly, say)
/// is answered 408.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_mins(1);
/// Connections served at once, unless the limit of open files is lower.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Everything the provider needs to start.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Directory holding the SQLite database and the installation secret.
    pub data_dir: PathBuf,
    /// Directory holding the dlib models (placed by `scripts/setup`).
    pub models_dir: PathBuf,
    /// Base URL written into upload links; `serve` defaults it to `http://<bound address>`.
    pub public_base_url: Option<Url>,
    /// Lifetime of web tokens.
    pub token_ttl: Duration,
    /// Lifetime of upload links (validations also expire after their own `timeout`).
    pub upload_link_ttl: Duration,
    /// Largest accepted image upload, in bytes (larger bodies answer 413).
    pub max_upload_bytes: usize,
    /// Time a connection has to send a request head (see [`DEFAULT_HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// Time a request has to be answered (see [`DEFAULT_REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
    /// Most connections served at once; the server uses at most three
    /// quarters of its open-files limit. At the limit, a new connection
    /// takes the place of the one idle for longest (one that has not sent a
    /// request yet first), so slow clients cannot lock others out.
    pub max_connections: usize,
    /// Number of face-engine workers (each holds its own copy of the models).
    pub workers: usize,
    /// Delivery policy for webhooks.
    pub webhook_retry: RetryPolicy,
    /// Where webhooks may be sent: by default public addresses only.
    pub webhook_targets: WebhookTargets,
    /// Source of "now" for expiries; tests inject a [`ManualClock`].
    pub clock: Clock,
}

impl ProviderConfig {
    /// A configuration with the documented defaults.
    pub fn new(data_dir: impl Into<PathBuf>, models_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            models_dir: models_dir.into(),
            public_base_url: None,
            token_ttl: DEFAULT_TOKEN_TTL,
            upload_link_ttl: DEFAULT_UPLOAD_LINK_TTL,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            workers: 2,
            webhook_retry: RetryPolicy::default(),
            webhook_targets: WebhookTargets::default(),
            clock: Clock::system(),
        }
    }
}

/// The documented default data directory: `$IDFLOW_PROVIDER_DATA`, else
/// `$XDG_DATA_HOME/idflow/provider`, else `~/.local/share/idflow/provider`.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_DATA_DIR).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("idflow").join("provider"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".local/share/idflow/provider"))
}

/// How webhook deliveries are retried: `attempts` tries in all, waiting
/// `base_delay`, then twice that, and so on between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    /// Time allowed for one delivery request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1 for the first retry).
    pub fn delay_before(&self, retry: u32) -> Duration {
        self.base_delay
            .saturating_mul(2_u32.saturating_pow(retry.saturating_sub(1)))
    }
}

/// Where the provider reads the time: the system clock, or a manual clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<ManualClock>,
}

impl Clock {
    pub fn system() -> Self {
        Self { manual: None }
    }

    pub fn now(&self) -> OffsetDateTime {
        match &self.manual {
            Some(manual) => manual.now(),
            None => OffsetDateTime::now_utc(),
        }
    }

    /// Now, in whole seconds since the Unix epoch (how the store keeps times).
    pub fn unix_now(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Self {
            manual: Some(manual),
        }
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    /// A manual clock starting at the current system time (whole seconds).
    pub fn starting_now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self::new(now.replace_nanosecond(0).unwrap_or(now))
    }

    pub fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.saturating_add(time::Duration::try_from(by).unwrap_or(time::Duration::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_is_shared() {
        let manual = ManualClock::starting_now();
        let clock = Clock::from(manual.clone());
        let start = clock.unix_now();
        assert_eq!(clock.unix_now(), start);
        manual.advance(Duration::from_secs(90));
        assert_eq!(clock.unix_now(), start + 90);
    }

    #[test]
    fn retry_delays_double() {
        let policy = RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(100),
            request_timeout: Duration::from_secs(1),
        };
        assert_eq!(policy.delay_before(1), Duration::from_millis(100));
        assert_eq!(policy.delay_before(2), Duration::from_millis(200));
        assert_eq!(policy.delay_before(3), Duration::from_millis(400));
    }
}
