//! `idflow provider ...`: administration of the embedded identity provider's
//! data (`create-client`, `clients list|rotate|revoke`), in the provider
//! folder of the data directory that `idflow run` and `idflow serve` use
//! (`--data DIR`: its `provider/` folder, or DIR itself when it holds a
//! provider database of the earlier layout), and the `--models` option.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::Outcome;

/// Arguments of `idflow provider`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ProviderCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProviderCommand {
    /// Create a client (tenant) and print its new API key alone on stdout.
    ///
    /// The key is shown once: the provider keeps only its hash.
    CreateClient(CreateClientArgs),
    /// List the clients, rotate or revoke their API keys.
    Clients(ClientsArgs),
}

#[derive(Debug, clap::Args)]
struct ClientsArgs {
    #[command(subcommand)]
    command: ClientsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ClientsCommand {
    /// List the clients: name, id, the public start of the key, when it was
    /// created, rotated or revoked (never a key).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = super::OutputFormat::Human)]
        format: super::OutputFormat,
        #[command(flatten)]
        data: super::data::DataArgs,
    },
    /// Give a client a new API key and print it alone on stdout (shown once).
    ///
    /// The old key stops working (a running `idflow serve` notices within
    /// 5 s); a revoked client works again with the new key.
    Rotate {
        /// The client's name.
        name: String,
        #[command(flatten)]
        data: super::data::DataArgs,
    },
    /// Revoke a client's API key: no request with it is accepted any more.
    ///
    /// The client and its data stay; `rotate` gives it a new key.
    Revoke {
        /// The client's name.
        name: String,
        #[command(flatten)]
        data: super::data::DataArgs,
    },
}

#[derive(Debug, clap::Args)]
struct CreateClientArgs {
    /// The client's name: 1 to 64 letters, digits, '_', '.' or '-'.
    name: String,
    #[command(flatten)]
    data: super::data::DataArgs,
}

/// The `--models` option: where the embedded provider finds the face models.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ModelsDir {
    /// The face models directory [default: $IDFLOW_MODELS_DIR, else the
    /// repository's .cache/models, where `scripts/setup` puts them].
    #[arg(
        id = "models",
        long = "models",
        value_name = "DIR",
        env = idflow_provider::ENV_MODELS_DIR
    )]
    dir: Option<PathBuf>,
}

impl ModelsDir {
    /// The directory given, else the documented default.
    pub(crate) fn resolve(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(idflow_vision::assets::models_dir)
    }
}

/// The provider's errors already name their causes; keep them as one message.
pub(crate) fn provider_error(error: &idflow_provider::ProviderError) -> anyhow::Error {
    anyhow::Error::msg(error.to_string())
}

pub(crate) fn run(args: &Args) -> anyhow::Result<Outcome> {
    match &args.command {
        ProviderCommand::CreateClient(args) => create_client(args),
        ProviderCommand::Clients(args) => clients(&args.command),
    }
}

/// Runs one administrative call of the provider library on a small runtime.
fn block_on<T>(
    call: impl std::future::Future<Output = Result<T, idflow_provider::ProviderError>>,
) -> anyhow::Result<T> {
    // The provider warns on stderr when it tightens the data's permissions.
    super::serve::init_logging();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(call)
        .map_err(|error| provider_error(&error))
}

fn clients(command: &ClientsCommand) -> anyhow::Result<Outcome> {
    match command {
        ClientsCommand::List { format, data } => {
            let data_dir = super::data::provider_dir(&data.resolve()?);
            let clients = block_on(idflow_provider::list_clients(&data_dir))?;
            let mut out = super::stdout();
            if matches!(format, super::OutputFormat::Json) {
                writeln!(out, "{}", serde_json::to_string_pretty(&clients)?)?;
                return Ok(Outcome::Success);
            }
            if clients.is_empty() {
                writeln!(out, "no clients in {}", data_dir.display())?;
            }
            for client in &clients {
                let state = match (client.revoked_at, client.rotated_at) {
                    (Some(at), _) => format!("revoked {}", when(at)),
                    (None, Some(at)) => format!("active, rotated {}", when(at)),
                    (None, None) => "active".to_owned(),
                };
                writeln!(
                    out,
                    "{}  {}  key {}…  created {}  {state}",
                    client.name,
                    client.id,
                    client.key_prefix,
                    when(client.created_at)
                )?;
            }
            Ok(Outcome::Success)
        }
        ClientsCommand::Rotate { name, data } => {
            let data_dir = super::data::provider_dir(&data.resolve()?);
            let key = block_on(idflow_provider::rotate_client_key(&data_dir, name))?;
            super::run::provider::keep_local_client_key(&data_dir, name, Some(&key))?;
            let mut out = super::stdout();
            writeln!(out, "{key}")?;
            out.flush()?;
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "rotated the key of client {name:?} in {}; keep the key above: it is not shown again, and the old key no longer works",
                    data_dir.display()
                );
            }
            Ok(Outcome::Success)
        }
        ClientsCommand::Revoke { name, data } => {
            let data_dir = super::data::provider_dir(&data.resolve()?);
            let newly = block_on(idflow_provider::revoke_client(&data_dir, name))?;
            super::run::provider::keep_local_client_key(&data_dir, name, None)?;
            let mut out = super::stdout();
            if newly {
                writeln!(
                    out,
                    "revoked the key of client {name:?}; `idflow provider clients rotate {name}` gives it a new one"
                )?;
            } else {
                writeln!(out, "the key of client {name:?} was already revoked")?;
            }
            Ok(Outcome::Success)
        }
    }
}

/// A Unix time as UTC text (`2026-12-01 16:52:07Z`).
fn when(unix: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| at.format(format).ok())
        .unwrap_or_else(|| unix.to_string())
}

fn create_client(args: &CreateClientArgs) -> anyhow::Result<Outcome> {
    let data_dir = super::data::provider_dir(&args.data.resolve()?);
    // The provider warns on stderr when it tightens the data's permissions.
    super::serve::init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let key = runtime
        .block_on(idflow_provider::create_client(&data_dir, &args.name))
        .map_err(|error| provider_error(&error))?;
    let mut out = crate::commands::stdout();
    writeln!(out, "{key}")?;
    out.flush()?;
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "created client {:?} in {}; keep the key above: it is not shown again",
            args.name,
            data_dir.display()
        );
    }
    Ok(Outcome::Success)
}
