//! Where the face steps of a run find their provider.
//!
//! Deployment config, never the workflow: with a provider configured
//! (`TRUORA_API_KEY` and the `IDFLOW_*_URL` variables, or an `idflow.toml`
//! `[provider]` table), the face steps talk to it. Without one, `idflow run`
//! starts the embedded provider in-process on a free loopback port, says so
//! in one log line, and connects the face steps to it with the key of a local
//! client kept in the provider's data directory. Its webhooks come back to a
//! loopback listener of the run's own ([`RunHookListener`], started once the
//! run's inbox exists), which wakes the face gates.

use std::path::Path;

use anyhow::Context as _;
use idflow_engine::model::Workflow;
use idflow_face::{FaceConnection, ProviderSettings};
use idflow_provider::{EmbeddedProvider, ProviderConfig};

use crate::commands::local_hook::RunHookListener;
use crate::commands::provider::ModelsDir;

/// The file in the provider's data directory that holds the key of the
/// local client `idflow run` uses (the provider itself keeps only hashes).
const LOCAL_CLIENT_KEY_FILE: &str = "local-client.key";
/// The name of that client.
const LOCAL_CLIENT_NAME: &str = "idflow-local";

/// The face steps' connection, and the embedded provider when one was
/// started (keep it alive for as long as the run, or longer to serve the
/// verification page).
pub(crate) struct FaceProvider {
    pub(crate) connection: FaceConnection,
    pub(crate) embedded: Option<Embedded>,
}

/// The embedded provider started for a run, and where its webhooks go.
pub(crate) struct Embedded {
    pub(crate) provider: EmbeddedProvider,
    /// The local client's key.
    pub(crate) key: String,
    /// Allowed as the provider's webhook target; not served yet.
    pub(crate) hook: RunHookListener,
}

/// Whether any step of the workflow is a face step.
pub(crate) fn uses_face_steps(workflow: &Workflow) -> bool {
    workflow
        .steps
        .iter()
        .any(|step| step.uses.starts_with("face."))
}

/// Connects the face steps: to the configured provider, or to a newly
/// started embedded one.
pub(crate) async fn connect(
    config_file: Option<&Path>,
    models: &ModelsDir,
    provider_dir: &Path,
) -> anyhow::Result<FaceProvider> {
    if let Some(settings) =
        ProviderSettings::load(config_file).context("reading the provider settings")?
    {
        let connection = FaceConnection::configured(settings)
            .context("connecting to the configured provider")?;
        return Ok(FaceProvider {
            connection,
            embedded: None,
        });
    }
    let data_dir = provider_dir.to_path_buf();
    let models_dir = models.resolve();
    let key = local_client_key(&data_dir).await?;
    let hook = RunHookListener::bind().await?;
    let mut config = ProviderConfig::new(&data_dir, models_dir);
    config.webhook_targets.allowed.push(hook.url().clone());
    let provider = idflow_provider::start_embedded(config)
        .await
        .map_err(|error| anyhow::anyhow!("the embedded face provider could not start: {error}"))?;
    let base_url = provider
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    // A log line, so that `--log-format json` keeps every line JSON.
    tracing::info!(
        "no face provider configured: using the embedded provider at {base_url} (data in {}; set TRUORA_API_KEY to use Truora)",
        data_dir.display()
    );
    let settings = ProviderSettings::single_origin(&base_url, &key)
        .context("connecting to the embedded provider")?;
    let connection =
        FaceConnection::configured(settings).context("connecting to the embedded provider")?;
    Ok(FaceProvider {
        connection,
        embedded: Some(Embedded {
            provider,
            key,
            hook,
        }),
    })
}

/// The local client's key: read from the data directory, or created once.
pub(crate) async fn local_client_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(LOCAL_CLIENT_KEY_FILE);
    if let Ok(key) = std::fs::read_to_string(&path) {
        let key = key.trim().to_owned();
        if !key.is_empty() {
            return Ok(key);
        }
    }
    // No key kept (or it was revoked): a new client, or a new key for the
    // one a previous run made.
    let key = match idflow_provider::create_client(data_dir, LOCAL_CLIENT_NAME).await {
        Err(idflow_provider::ProviderError::ClientExists(_)) => {
            idflow_provider::rotate_client_key(data_dir, LOCAL_CLIENT_NAME).await
        }
        created => created,
    }
    .map_err(|error| {
        anyhow::anyhow!("cannot create the local client of the embedded provider: {error}")
    })?;
    write_private(&path, &key)
        .with_context(|| format!("cannot keep the local client key in {}", path.display()))?;
    Ok(key)
}

/// After `idflow provider clients rotate|revoke` of the local client that
/// `idflow run` uses: keeps its new key (`Some`), or forgets the revoked one
/// (`None`; the next run gives the client a new key). Other clients' keys
/// are never kept.
pub(crate) fn keep_local_client_key(
    data_dir: &Path,
    name: &str,
    key: Option<&str>,
) -> anyhow::Result<()> {
    if name != LOCAL_CLIENT_NAME {
        return Ok(());
    }
    let path = data_dir.join(LOCAL_CLIENT_KEY_FILE);
    match key {
        Some(key) => write_private(&path, key),
        None => match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        },
    }
    .with_context(|| format!("cannot update the local client key in {}", path.display()))
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents.as_bytes())
}
