//! The embedded provider's webhook to this process: registered for the
//! provider's local client (the one whose key the face steps use), so that
//! the provider's events reach `POST /api/v1/hooks/truora` here and wake the
//! face gates at once.
//!
//! - `idflow serve` registers it at its own address, and keeps its id, URL
//!   and secret in `<provider data>/local-client.hook` (mode 0600): a
//!   restart on the same address re-uses it; one on another address
//!   replaces it.
//! - `idflow run` registers one at a loopback listener of its own for the
//!   time of the run, and removes it at the end.
//!
//! Both first remove the local client's hooks left behind: those at a
//! loopback hook address where nothing listens any more (a run that was
//! killed, a server that moved). A hook where something listens is left
//! alone: another run or server of the same data directory may be using it.
//!
//! The provider is reached through its own API (`/v1/webhooks`, with the
//! local client's key), where hook URLs are checked as for any client: the
//! caller allows its hook address in the provider's webhook targets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use idflow_face::webhooks::WebhookSecret;
use idflow_server::api::API_PREFIX;
use idflow_server::api::hooks::TRUORA_HOOK_PATH;
use serde::{Deserialize, Serialize};
use url::Url;

/// The file in the provider's data directory that keeps `idflow serve`'s
/// hook.
const HOOK_FILE: &str = "local-client.hook";

/// How long a request to the provider (in this process) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to try reaching a hook's address to tell whether anything
/// listens there.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A hook registered with the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LocalHook {
    pub(crate) webhook_id: String,
    pub(crate) url: String,
    /// As the provider gave it; see [`LocalHook::secret`].
    secret: String,
}

impl LocalHook {
    /// The secret its webhooks are signed with.
    pub(crate) fn secret(&self) -> anyhow::Result<WebhookSecret> {
        WebhookSecret::new(&self.secret).context("the provider gave the hook an empty secret")
    }
}

/// A hook as the provider lists it.
#[derive(Debug, Deserialize)]
struct Listed {
    webhook_id: String,
    url: String,
}

#[derive(Debug, Deserialize)]
struct Listing {
    webhooks: Vec<Listed>,
}

/// The URL of the hook route of a server listening at `addr`, as this host
/// reaches it (an unspecified address is reached on loopback).
pub(crate) fn hook_url(addr: SocketAddr) -> anyhow::Result<Url> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!(
        "http://{}{API_PREFIX}{TRUORA_HOOK_PATH}",
        SocketAddr::new(ip, addr.port())
    );
    Url::parse(&url).with_context(|| format!("{url} is not a URL"))
}

/// The provider's webhook API, as its local client.
pub(crate) struct ProviderHooks {
    http: reqwest::Client,
    base: Url,
    key: String,
}

impl std::fmt::Debug for ProviderHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderHooks")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ProviderHooks {
    /// The API of the provider at `base` (reachable from here), as the
    /// client with `key`.
    pub(crate) fn new(base: &Url, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .context("cannot build an HTTP client")?;
        Ok(Self {
            http,
            base: base.clone(),
            key: key.to_owned(),
        })
    }

    /// `/v1/webhooks` and below.
    fn url(&self, below: &str) -> anyhow::Result<Url> {
        let path = format!("/v1/webhooks{below}");
        self.base
            .join(&path)
            .with_context(|| format!("{} and {path} make no URL", self.base))
    }

    /// A new hook at `url`, after removing those left behind.
    pub(crate) async fn register(&self, url: &Url) -> anyhow::Result<LocalHook> {
        let listed = self.list().await?;
        self.remove_stale(&listed, None).await;
        self.create(url).await
    }

    /// The hook at `url` kept in `provider_dir` when the provider still
    /// has it, else a new one (kept there instead, the one it replaces
    /// removed); after removing those left behind.
    pub(crate) async fn register_kept(
        &self,
        url: &Url,
        provider_dir: &Path,
    ) -> anyhow::Result<LocalHook> {
        let path = provider_dir.join(HOOK_FILE);
        let kept: Option<LocalHook> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        let listed = self.list().await?;
        let still_there =
            kept.filter(|kept| listed.iter().any(|hook| hook.webhook_id == kept.webhook_id));
        if let Some(kept) = &still_there
            && kept.url == url.as_str()
        {
            self.remove_stale(&listed, Some(&kept.webhook_id)).await;
            return Ok(kept.clone());
        }
        if let Some(moved) = &still_there {
            // This server's hook at its previous address.
            self.delete(&moved.webhook_id).await?;
        }
        self.remove_stale(&listed, None).await;
        let hook = self.create(url).await?;
        let text = serde_json::to_string(&hook).context("cannot write the hook as JSON")?;
        super::run::provider::write_private(&path, &text)
            .with_context(|| format!("cannot keep the provider hook in {}", path.display()))?;
        Ok(hook)
    }

    /// Removes the hook `id`.
    pub(crate) async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let url = self.url(&format!("/{id}"))?;
        let response = self
            .http
            .delete(url)
            .header(idflow_provider::API_KEY_HEADER, &self.key)
            .send()
            .await
            .context("cannot reach the embedded provider")?;
        let status = response.status();
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            Ok(())
        } else {
            anyhow::bail!("the embedded provider refused to remove hook {id}: HTTP {status}")
        }
    }

    async fn list(&self) -> anyhow::Result<Vec<Listed>> {
        let response = self
            .http
            .get(self.url("")?)
            .header(idflow_provider::API_KEY_HEADER, &self.key)
            .send()
            .await
            .context("cannot reach the embedded provider")?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "the embedded provider refused to list the hooks: HTTP {status}"
        );
        let listing: Listing = response
            .json()
            .await
            .context("the embedded provider's list of hooks is not JSON")?;
        Ok(listing.webhooks)
    }

    async fn create(&self, url: &Url) -> anyhow::Result<LocalHook> {
        let response = self
            .http
            .post(self.url("")?)
            .header(idflow_provider::API_KEY_HEADER, &self.key)
            .form(&[("url", url.as_str())])
            .send()
            .await
            .context("cannot reach the embedded provider")?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("the embedded provider refused the hook {url}: HTTP {status}: {body}");
        }
        let hook: LocalHook = response
            .json()
            .await
            .context("the embedded provider's answer for a new hook is not JSON")?;
        hook.secret()?;
        Ok(hook)
    }

    /// Removes the hooks of `listed` (but `keep`) that were left behind: at
    /// a loopback hook address where nothing listens. Failures are logged:
    /// a hook left behind only costs the provider failed deliveries.
    async fn remove_stale(&self, listed: &[Listed], keep: Option<&str>) {
        for hook in listed {
            if Some(hook.webhook_id.as_str()) == keep || !is_left_behind(&hook.url).await {
                continue;
            }
            match self.delete(&hook.webhook_id).await {
                Ok(()) => tracing::debug!(
                    webhook = %hook.webhook_id,
                    url = %hook.url,
                    "removed a provider hook left behind"
                ),
                Err(error) => tracing::warn!(
                    webhook = %hook.webhook_id,
                    "a provider hook left behind could not be removed: {error:#}"
                ),
            }
        }
    }
}

/// `idflow run`'s hook address: a loopback listener, bound before the
/// embedded provider starts (which must allow [`RunHookListener::url`]).
#[derive(Debug)]
pub(crate) struct RunHookListener {
    listener: tokio::net::TcpListener,
    url: Url,
}

impl RunHookListener {
    /// A listener on a free loopback port.
    pub(crate) async fn bind() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("cannot listen on loopback for the provider's webhooks")?;
        let url = hook_url(listener.local_addr()?)?;
        Ok(Self { listener, url })
    }

    /// Where the provider's webhooks are to go.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// Serves the hook route (its events going to `target`) and registers
    /// it with the provider at `provider_base` for the client with `key`.
    pub(crate) async fn start(
        self,
        target: std::sync::Arc<dyn idflow_server::EventTarget>,
        provider_base: &Url,
        key: &str,
    ) -> anyhow::Result<RunHook> {
        let hooks = idflow_server::Hooks::new(Vec::new(), target);
        let stop = tokio_util::sync::CancellationToken::new();
        let serving = tokio::spawn({
            let router = idflow_server::api::hooks::router(hooks.clone());
            let stop = stop.clone();
            idflow_provider::serve_router(
                self.listener,
                router,
                idflow_provider::ConnectionLimits::default(),
                stop.cancelled_owned(),
            )
        });
        let api = ProviderHooks::new(provider_base, key)?;
        let registered = async {
            let hook = api.register(&self.url).await?;
            hooks.add_secret(hook.secret()?);
            anyhow::Ok(hook)
        }
        .await;
        match registered {
            Ok(hook) => Ok(RunHook {
                api,
                webhook_id: hook.webhook_id,
                stop,
                serving,
            }),
            Err(error) => {
                stop.cancel();
                let _ = serving.await;
                Err(error)
            }
        }
    }
}

/// `idflow run`'s hook while the run lasts: [`RunHook::finish`] removes it.
#[derive(Debug)]
pub(crate) struct RunHook {
    api: ProviderHooks,
    webhook_id: String,
    stop: tokio_util::sync::CancellationToken,
    serving: tokio::task::JoinHandle<()>,
}

impl RunHook {
    /// Removes the hook from the provider and stops listening. A hook
    /// that cannot be removed is removed by the next run or server.
    pub(crate) async fn finish(self) {
        if let Err(error) = self.api.delete(&self.webhook_id).await {
            tracing::debug!("the run's provider hook is left behind: {error:#}");
        }
        self.stop.cancel();
        let _ = self.serving.await;
    }
}

/// Whether a hook URL is an idflow hook address on loopback where nothing
/// listens any more.
async fn is_left_behind(url: &str) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    let ip: IpAddr = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        _ => return false,
    };
    let (Some(port), true) = (
        url.port_or_known_default(),
        url.path() == format!("{API_PREFIX}{TRUORA_HOOK_PATH}"),
    ) else {
        return false;
    };
    if !ip.is_loopback() {
        return false;
    }
    let probe = tokio::net::TcpStream::connect(SocketAddr::new(ip, port));
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_urls_reach_unspecified_addresses_on_loopback() {
        for (addr, url) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080/api/v1/hooks/truora"),
            ("[::]:9", "http://[::1]:9/api/v1/hooks/truora"),
            ("10.1.2.3:80", "http://10.1.2.3/api/v1/hooks/truora"),
        ] {
            assert_eq!(hook_url(addr.parse().unwrap()).unwrap().as_str(), url);
        }
    }

    #[tokio::test]
    async fn only_loopback_hook_addresses_where_nothing_listens_are_left_behind() {
        let listening = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live = hook_url(listening.local_addr().unwrap()).unwrap();
        let closed = {
            let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            hook_url(gone.local_addr().unwrap()).unwrap()
        };
        assert!(is_left_behind(closed.as_str()).await);
        assert!(!is_left_behind(live.as_str()).await);
        let mut elsewhere = closed.clone();
        elsewhere.set_path("/other/hook");
        assert!(!is_left_behind(elsewhere.as_str()).await);
        assert!(!is_left_behind("https://hooks.example.com/api/v1/hooks/truora").await);
        assert!(!is_left_behind("not a url").await);
    }
}
