//! The seam between deployment configuration and the steps: a
//! [`FaceConnection`] is either a client of a configured provider (Truora,
//! or the embedded provider the CLI starts) or nothing at all, for the
//! commands that only read workflows (`idflow validate`, `steps`, `schema`).

use std::sync::Arc;

use idflow_core::{StepContext, StepError};

use crate::client::{ClientBuildError, ClientOptions, ProviderClient};
use crate::settings::ProviderSettings;

/// The provider the `face.*` steps talk to, shared by all of them.
#[derive(Debug, Clone)]
pub struct FaceConnection {
    client: Option<Arc<ProviderClient>>,
}

impl FaceConnection {
    /// No provider: the steps can be listed and validated, and running one
    /// fails with the terminal error `provider_not_configured`.
    pub fn unconfigured() -> Self {
        Self { client: None }
    }

    /// A provider, with the default [`ClientOptions`].
    pub fn configured(settings: ProviderSettings) -> Result<Self, ClientBuildError> {
        Self::with_options(settings, ClientOptions::default())
    }

    /// A provider, with these client options.
    pub fn with_options(
        settings: ProviderSettings,
        options: ClientOptions,
    ) -> Result<Self, ClientBuildError> {
        Ok(Self::from_client(ProviderClient::new(settings, options)?))
    }

    /// A provider, through a client already built.
    pub fn from_client(client: ProviderClient) -> Self {
        Self {
            client: Some(Arc::new(client)),
        }
    }

    /// The client, when a provider is configured.
    pub fn client(&self) -> Option<&ProviderClient> {
        self.client.as_deref()
    }

    /// The client for a step attempt; its API key joins the run's
    /// redactor first, so that nothing the attempt reports can show it.
    pub(crate) fn for_attempt(&self, ctx: &StepContext) -> Result<&ProviderClient, StepError> {
        let client = self.client.as_deref().ok_or_else(|| {
            StepError::terminal(
                "provider_not_configured",
                format!(
                    "`{}` needs a face provider, and none is configured here: set {} \
                     (and the IDFLOW_*_URL variables for another provider than Truora), \
                     or a [provider] table in idflow.toml",
                    ctx.step_id(),
                    crate::settings::ENV_API_KEY
                ),
            )
        })?;
        ctx.redactor().add(client.settings().api_key());
        Ok(client)
    }
}
