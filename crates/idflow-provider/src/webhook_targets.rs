//! Where webhooks may go. A webhook URL may not carry credentials
//! (`user:password@`), and may not reach a loopback, private, link-local or
//! otherwise non-public address (the provider's own network, cloud metadata
//! services) unless the operator allows it:
//! - [`WebhookTargets::allow_private`] allows every address (a provider and
//!   its hooks on one private network; `idflow serve --allow-private-webhooks`);
//! - [`WebhookTargets::allowed`] lists URL prefixes allowed whatever their
//!   address: the idflow server that embeds the provider lists its own hook
//!   address there (say `http://127.0.0.1:8080/api/v1/hooks/`), and so can
//!   an operator (`--allow-webhook-url`).
//!
//! Host names are resolved when the hook is registered and again at each
//! delivery, where the connection is made only to the addresses checked
//! ([`PublicOnlyResolver`]), so a name that later resolves to a private
//! address (DNS rebinding) gets nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Where webhooks may be sent (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookTargets {
    /// Allow non-public addresses for every hook.
    pub allow_private: bool,
    /// URL prefixes (scheme, host, port and a path prefix) allowed whatever
    /// their address.
    pub allowed: Vec<Url>,
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TargetRefusal {
    #[error("url must not contain credentials (user:password@): the events are signed instead")]
    Credentials,
    #[error(
        "url reaches {0}, which is not a public address (loopback, private, link-local or reserved); \
         the provider's operator can allow it"
    )]
    NotPublic(IpAddr),
    #[error("url's host {0} cannot be resolved")]
    Unresolvable(String),
}

impl WebhookTargets {
    /// Whether `url` starts with one of the allowed prefixes.
    fn is_allow_listed(&self, url: &Url) -> bool {
        self.allowed.iter().any(|prefix| {
            let path = prefix.path().trim_end_matches('/');
            prefix.scheme() == url.scheme()
                && prefix.host() == url.host()
                && prefix.port_or_known_default() == url.port_or_known_default()
                && (url.path() == path
                    || url
                        .path()
                        .strip_prefix(path)
                        .is_some_and(|rest| rest.starts_with('/')))
        })
    }

    /// Whether deliveries to `url` may go to any address.
    pub(crate) fn allows_any_address(&self, url: &Url) -> bool {
        self.allow_private || self.is_allow_listed(url)
    }

    /// Checks a URL being registered: no credentials, and unless allowed,
    /// a host that is (or resolves only to) public addresses.
    pub(crate) async fn check(&self, url: &Url) -> Result<(), TargetRefusal> {
        if has_credentials(url) {
            return Err(TargetRefusal::Credentials);
        }
        if self.allows_any_address(url) {
            return Ok(());
        }
        match url.host() {
            Some(Host::Ipv4(ip)) => require_public(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => require_public(IpAddr::V6(ip)),
            Some(Host::Domain(domain)) => {
                let port = url.port_or_known_default().unwrap_or(0);
                let addrs = resolve(domain, port)
                    .await
                    .map_err(|_| TargetRefusal::Unresolvable(domain.to_owned()))?;
                addrs.iter().try_for_each(|addr| require_public(addr.ip()))
            }
            None => Err(TargetRefusal::Unresolvable(String::new())),
        }
    }
}

/// Whether `url` carries a user name or a password.
pub(crate) fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `url` without its credentials, for showing it.
pub(crate) fn without_credentials(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if has_credentials(&parsed) => {
            // Only URLs with a host reach here: these cannot fail.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn require_public(ip: IpAddr) -> Result<(), TargetRefusal> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(TargetRefusal::NotPublic(ip))
    }
}

async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if addrs.is_empty() {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    Ok(addrs)
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, shared (CGNAT), unspecified, broadcast, multicast,
/// documentation, benchmarking or reserved; IPv4-mapped and NAT64 IPv6
/// addresses are judged by their IPv4 address.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., high, low] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || segments[0] == 0x2001 && segments[1] == 0x0db8 // documentation
        || segments[0] == 0 // reserved, including IPv4-compatible
        || (segments[0] & 0xffc0) == 0xfec0) // site-local (deprecated)
}

/// A resolver for webhook deliveries that answers only public addresses,
/// so a host name cannot be rebound to a private one after registration.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> = resolve(&host, 0)
                .await?
                .into_iter()
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("a valid URL")
    }

    #[test]
    fn public_and_non_public_addresses() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[tokio::test]
    async fn credentials_are_refused_even_where_any_address_is_allowed() {
        let targets = WebhookTargets {
            allow_private: true,
            allowed: vec![],
        };
        for with_credentials in [
            "https://user:pass@example.com/hook",
            "https://user@example.com/",
        ] {
            assert_eq!(
                targets.check(&url(with_credentials)).await,
                Err(TargetRefusal::Credentials)
            );
        }
        assert_eq!(
            without_credentials("https://user:pass@example.com/hook"),
            "https://example.com/hook"
        );
    }

    #[tokio::test]
    async fn private_hosts_are_refused_unless_allowed() {
        let strict = WebhookTargets::default();
        for private in [
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:8080/hook",
        ] {
            assert!(
                matches!(
                    strict.check(&url(private)).await,
                    Err(TargetRefusal::NotPublic(_))
                ),
                "{private}"
            );
        }
        let open = WebhookTargets {
            allow_private: true,
            allowed: vec![],
        };
        assert_eq!(open.check(&url("http://127.0.0.1:9/hook")).await, Ok(()));
    }

    /// At delivery, a name that resolves only to non-public addresses
    /// (here through /etc/hosts) gets no connection.
    #[tokio::test]
    async fn deliveries_resolve_names_to_public_addresses_only() {
        use reqwest::dns::Resolve as _;
        let resolved = PublicOnlyResolver
            .resolve("localhost".parse().expect("a host name"))
            .await;
        assert!(resolved.is_err());
    }

    /// The idflow server's own hook address stays allowed: a prefix, on
    /// path-segment boundaries, with the same scheme, host and port.
    #[tokio::test]
    async fn allow_listed_prefixes_reach_any_address() {
        let targets = WebhookTargets {
            allow_private: false,
            allowed: vec![url("http://127.0.0.1:8080/api/v1/hooks/")],
        };
        for allowed in [
            "http://127.0.0.1:8080/api/v1/hooks/truora",
            "http://127.0.0.1:8080/api/v1/hooks",
        ] {
            assert_eq!(targets.check(&url(allowed)).await, Ok(()), "{allowed}");
        }
        for refused in [
            "http://127.0.0.1:8081/api/v1/hooks/truora",
            "https://127.0.0.1:8080/api/v1/hooks/truora",
            "http://127.0.0.1:8080/api/v1/hooksmith",
            "http://127.0.0.1:8080/admin",
        ] {
            assert!(targets.check(&url(refused)).await.is_err(), "{refused}");
        }
    }
}
