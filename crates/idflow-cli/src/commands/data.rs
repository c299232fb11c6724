//! The data directory (everything idflow keeps: the run store, its sealing
//! key, and by default the embedded provider's data in `provider/`), and
//! the durable-run executor every command that keeps runs builds from it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use idflow_engine::run::{Executor, ExecutorOptions, RunStore};
use idflow_store::{Durability, KeySeal, SqliteStore};

/// The environment variable naming the data directory.
pub(crate) const ENV_DATA: &str = "IDFLOW_DATA";

/// The `--data` option of the commands that keep or read runs.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct DataArgs {
    /// Where idflow keeps runs (runs.sqlite3, store.key) and, unless
    /// IDFLOW_PROVIDER_DATA says otherwise, the embedded provider's data
    /// (provider/) [default: $XDG_DATA_HOME/idflow, else
    /// ~/.local/share/idflow].
    #[arg(id = "data", long = "data", value_name = "DIR", env = ENV_DATA)]
    dir: Option<PathBuf>,
}

impl DataArgs {
    /// The directory given, else the documented default.
    pub(crate) fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|value| !value.is_empty())
                    .map(|home| PathBuf::from(home).join(".local/share"))
            })
            .context("no data directory: pass --data DIR or set IDFLOW_DATA")?;
        Ok(base.join("idflow"))
    }
}

/// The embedded provider's data directory for runs keeping their data in
/// `data_dir`: `IDFLOW_PROVIDER_DATA` when set, else `<data_dir>/provider`
/// (or `data_dir` itself when it is a provider data directory of the
/// layout before `idflow serve` kept runs: its database is there and no
/// `provider/` folder is).
pub(crate) fn provider_dir(data_dir: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os(idflow_provider::ENV_DATA_DIR).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let nested = data_dir.join("provider");
    if !nested.exists() && data_dir.join(idflow_provider::DATABASE_FILE).is_file() {
        return data_dir.to_path_buf();
    }
    nested
}

/// The environment variable that sets how long an outside event no run
/// waits for yet is kept (default 7 days).
pub(crate) const ENV_EVENT_RETENTION: &str = "IDFLOW_EVENT_RETENTION";

/// The environment variable that sets how long finished runs are kept.
pub(crate) const ENV_RETENTION: &str = "IDFLOW_RUN_RETENTION";

/// Finished runs are kept this long unless `IDFLOW_RUN_RETENTION` says
/// otherwise.
const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_hours(30 * 24);

/// Opens the run store in `data_dir` (made, 0700, if missing), and prunes
/// the runs finished longer ago than the retention.
pub(crate) async fn open_store(data_dir: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    create_private_dir(data_dir)?;
    let durability = match std::env::var("IDFLOW_STORE_SYNC").as_deref() {
        Ok("full") => Durability::Full,
        _ => Durability::Normal,
    };
    let retention = match std::env::var(ENV_RETENTION) {
        Ok(text) => idflow_core::parse_duration(&text)
            .map_err(|error| anyhow::anyhow!("{ENV_RETENTION}={text}: {error}"))?,
        Err(_) => DEFAULT_RETENTION,
    };
    let store = SqliteStore::open(data_dir, durability).await?;
    let pruned = store
        .prune(time::OffsetDateTime::now_utc() - retention)
        .await?;
    if pruned > 0 {
        tracing::debug!(pruned, "finished runs past their retention were deleted");
    }
    Ok(Arc::new(store))
}

/// An executor of durable runs on the store in `data_dir`, reading
/// secrets from the environment.
pub(crate) async fn executor(
    data_dir: &Path,
    registry: idflow_core::StepRegistry,
) -> anyhow::Result<Executor> {
    let store = open_store(data_dir).await?;
    executor_on(
        store,
        data_dir,
        Arc::new(registry),
        ExecutorOptions::default(),
    )
}

/// An executor of durable runs on `store`, sealing with the key of
/// `data_dir`, reading secrets from the environment.
pub(crate) fn executor_on(
    store: Arc<dyn RunStore>,
    data_dir: &Path,
    registry: Arc<idflow_core::StepRegistry>,
    options: ExecutorOptions,
) -> anyhow::Result<Executor> {
    let seal = KeySeal::for_data_dir(data_dir)?;
    let mut options = options;
    if let Ok(text) = std::env::var(ENV_EVENT_RETENTION) {
        options.keep_events = idflow_core::parse_duration(&text)
            .map_err(|error| anyhow::anyhow!("{ENV_EVENT_RETENTION}={text}: {error}"))?;
    }
    Ok(Executor::new(
        store,
        registry,
        Arc::new(seal),
        Arc::new(environment_secret),
        owner_id(),
        options,
    ))
}

/// A secret's value from this process's environment (empty is unset).
pub(crate) fn environment_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Runs held by a process of this machine that no longer exists (killed)
/// can be taken at once instead of when their lease expires.
pub(crate) async fn reclaim_dead_owners(executor: &Executor) -> anyhow::Result<()> {
    let host = host_name();
    executor
        .reclaim(|owner| {
            let mut parts = owner.split(':');
            let (Some(owner_host), Some(pid)) = (parts.next(), parts.next()) else {
                return false;
            };
            owner_host == host && !process_is_idflow(pid)
        })
        .await?;
    Ok(())
}

/// Whether a process with this pid runs and is an idflow.
fn process_is_idflow(pid: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.windows(6).any(|window| window == b"idflow"))
}

/// This process, as a lease owner: `host:pid:random`.
fn owner_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}:{}:{}", host_name(), std::process::id(), &random[..8])
}

/// This machine's name (lease owners on it are recognised by it).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().replace(':', "_"))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}
