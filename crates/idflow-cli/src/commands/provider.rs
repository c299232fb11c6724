//! `idflow provider ...`: administration of the embedded identity provider's
//! data (today: `create-client`), in the provider folder of the data
//! directory that `idflow run` and `idflow serve` use (`--data DIR`: its
//! `provider/` folder, or DIR itself when it holds a provider database of
//! the earlier layout), and the `--models` option.

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
    }
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
