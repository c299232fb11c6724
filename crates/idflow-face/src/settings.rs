//! Where the provider is and how to authenticate with it: deployment
//! configuration, never workflow configuration, so that one workflow file
//! runs unchanged against Truora and against the embedded provider.
//!
//! Each setting is read from its environment variable, else from the
//! `[provider]` table of the config file (`idflow.toml`), else its default:
//!
//! | setting | environment | `[provider]` key | default |
//! |---|---|---|---|
//! | API key (a secret) | `TRUORA_API_KEY` | `api_key` | none: no provider is configured |
//! | validations API | `IDFLOW_VALIDATIONS_URL` | `validations_url` | `https://api.validations.truora.com` |
//! | account API | `IDFLOW_ACCOUNT_URL` | `account_url` | `https://api.account.truora.com` |
//! | identity API (web processes) | `IDFLOW_IDENTITY_URL` | `identity_url` | `https://api.identity.truora.com` |
//! | identity web page | `IDFLOW_IDENTITY_WEB_URL` | `identity_web_url` | `https://identity.truora.com` |
//!
//! Without an API key nothing is configured ([`ProviderSettings::load`]
//! answers `None`) and the caller (the CLI) starts the embedded provider
//! instead; a URL set without a key is refused as a likely mistake.

use std::path::{Path, PathBuf};

use reqwest::Url;

/// The environment variable holding the provider's API key.
pub const ENV_API_KEY: &str = "TRUORA_API_KEY";
/// The environment variable holding the validations API's base URL.
pub const ENV_VALIDATIONS_URL: &str = "IDFLOW_VALIDATIONS_URL";
/// The environment variable holding the account API's base URL.
pub const ENV_ACCOUNT_URL: &str = "IDFLOW_ACCOUNT_URL";
/// The environment variable holding the identity API's base URL.
pub const ENV_IDENTITY_URL: &str = "IDFLOW_IDENTITY_URL";
/// The environment variable holding the identity web page's base URL.
pub const ENV_IDENTITY_WEB_URL: &str = "IDFLOW_IDENTITY_WEB_URL";

/// Truora's validations API (enrollments, validations).
pub const DEFAULT_VALIDATIONS_URL: &str = "https://api.validations.truora.com";
/// Truora's account API (web tokens).
pub const DEFAULT_ACCOUNT_URL: &str = "https://api.account.truora.com";
/// Truora's identity API (the results of web processes).
pub const DEFAULT_IDENTITY_URL: &str = "https://api.identity.truora.com";
/// Truora's identity web page (`/?token=...`).
pub const DEFAULT_IDENTITY_WEB_URL: &str = "https://identity.truora.com";

/// The config file read from the current folder when none is named.
pub const CONFIG_FILE: &str = "idflow.toml";

/// A setting that cannot be used. Messages name where the value came from
/// and never show the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A base URL that does not parse or is not a plain http(s) base.
    #[error("{origin} is not a usable base URL: {reason}")]
    InvalidUrl {
        /// Where it was set (`IDFLOW_ACCOUNT_URL`, `idflow.toml [provider] account_url`).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An API key that cannot be sent in a header.
    #[error(
        "{origin} is not a usable API key: it must be non-empty printable ASCII without spaces"
    )]
    InvalidApiKey {
        /// Where it was set.
        origin: String,
    },
    /// A provider URL without an API key: probably a forgotten key.
    #[error(
        "{origin} is set but no API key is: set {ENV_API_KEY} (or `api_key` in the `[provider]` table), or remove it to use the embedded provider"
    )]
    UrlWithoutKey {
        /// Where the URL was set.
        origin: String,
    },
    /// The config file cannot be read.
    #[error("cannot read the config file {}: {reason}", path.display())]
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The config file is not valid TOML, or its `[provider]` table is not
    /// as documented.
    #[error("{}:{line}:{column}: {message}", path.display())]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// How to reach the provider: four base URLs and the API key.
///
/// `Debug` shows the URLs and hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    validations_url: Url,
    account_url: Url,
    identity_url: Url,
    identity_web_url: Url,
    api_key: String,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("validations_url", &self.validations_url.as_str())
            .field("account_url", &self.account_url.as_str())
            .field("identity_url", &self.identity_url.as_str())
            .field("identity_web_url", &self.identity_web_url.as_str())
            .field("api_key", &idflow_core::redact::REDACTED)
            .finish()
    }
}

impl ProviderSettings {
    /// Settings from explicit values (each URL an absolute http(s) base
    /// URL without credentials, query or fragment).
    pub fn new(urls: ProviderUrls<'_>, api_key: &str) -> Result<Self, SettingsError> {
        Ok(Self {
            validations_url: base_url(urls.validations, "validations_url")?,
            account_url: base_url(urls.account, "account_url")?,
            identity_url: base_url(urls.identity, "identity_url")?,
            identity_web_url: base_url(urls.identity_web, "identity_web_url")?,
            api_key: api_key_value(api_key, "api_key")?,
        })
    }

    /// Settings for a provider that serves everything on one origin (the
    /// embedded provider: API, upload links and verification page).
    pub fn single_origin(base_url: &str, api_key: &str) -> Result<Self, SettingsError> {
        Self::new(
            ProviderUrls {
                validations: base_url,
                account: base_url,
                identity: base_url,
                identity_web: base_url,
            },
            api_key,
        )
    }

    /// Settings from the environment only; `None` without `TRUORA_API_KEY`.
    pub fn from_env() -> Result<Option<Self>, SettingsError> {
        Self::resolve(None, process_env)
    }

    /// Settings from the environment over the config file over the
    /// defaults; `None` when no API key is configured.
    ///
    /// `config_file`: the file to read (it must exist); without one,
    /// [`CONFIG_FILE`] in the current folder is read if it exists.
    pub fn load(config_file: Option<&Path>) -> Result<Option<Self>, SettingsError> {
        let (path, required) = match config_file {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(CONFIG_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(SettingsError::ConfigUnreadable {
                    path,
                    reason: error.to_string(),
                });
            }
        };
        let file = match &text {
            Some(text) => Some(ConfigFile::parse(&path, text)?),
            None => None,
        };
        Self::resolve(file.as_ref(), process_env)
    }

    /// The settings from a parsed config file and an environment lookup:
    /// what [`ProviderSettings::load`] does, without touching the process.
    pub fn resolve(
        file: Option<&ConfigFile>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, SettingsError> {
        let table = file.and_then(|file| file.provider.as_ref());
        let file_name = file.map_or_else(
            || CONFIG_FILE.to_owned(),
            |file| file.path.display().to_string(),
        );
        let lookup = |variable: &str, key: &str, file_value: Option<&String>| {
            if let Some(value) = env(variable).filter(|value| !value.is_empty()) {
                return Some((value, variable.to_owned()));
            }
            file_value.map(|value| (value.clone(), format!("{file_name} [provider] {key}")))
        };
        let urls = [
            (
                lookup(
                    ENV_VALIDATIONS_URL,
                    "validations_url",
                    table.and_then(|t| t.validations_url.as_ref()),
                ),
                DEFAULT_VALIDATIONS_URL,
            ),
            (
                lookup(
                    ENV_ACCOUNT_URL,
                    "account_url",
                    table.and_then(|t| t.account_url.as_ref()),
                ),
                DEFAULT_ACCOUNT_URL,
            ),
            (
                lookup(
                    ENV_IDENTITY_URL,
                    "identity_url",
                    table.and_then(|t| t.identity_url.as_ref()),
                ),
                DEFAULT_IDENTITY_URL,
            ),
            (
                lookup(
                    ENV_IDENTITY_WEB_URL,
                    "identity_web_url",
                    table.and_then(|t| t.identity_web_url.as_ref()),
                ),
                DEFAULT_IDENTITY_WEB_URL,
            ),
        ];
        let key = lookup(
            ENV_API_KEY,
            "api_key",
            table.and_then(|t| t.api_key.as_ref()),
        );
        let Some((api_key, key_origin)) = key else {
            if let Some((_, origin)) = urls.iter().find_map(|(given, _)| given.as_ref()) {
                return Err(SettingsError::UrlWithoutKey {
                    origin: origin.clone(),
                });
            }
            return Ok(None);
        };
        let [validations, account, identity, identity_web] =
            urls.map(|(given, default)| match given {
                Some((value, origin)) => base_url(&value, &origin),
                None => base_url(default, "the default"),
            });
        Ok(Some(Self {
            validations_url: validations?,
            account_url: account?,
            identity_url: identity?,
            identity_web_url: identity_web?,
            api_key: api_key_value(&api_key, &key_origin)?,
        }))
    }

    /// The validations API (`POST /v1/enrollments`, `/v1/validations`).
    pub fn validations_url(&self) -> &Url {
        &self.validations_url
    }

    /// The account API (`POST /v1/api-keys`).
    pub fn account_url(&self) -> &Url {
        &self.account_url
    }

    /// The identity API (`GET /v1/processes/{id}/result`).
    pub fn identity_url(&self) -> &Url {
        &self.identity_url
    }

    /// The identity web page (`/?token=...`).
    pub fn identity_web_url(&self) -> &Url {
        &self.identity_web_url
    }

    /// The API key, sent as `Truora-API-Key`. A secret: never log it.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }
}

/// The base URLs of [`ProviderSettings::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderUrls<'a> {
    /// The validations API (enrollments, validations).
    pub validations: &'a str,
    /// The account API (web tokens).
    pub account: &'a str,
    /// The identity API (web processes).
    pub identity: &'a str,
    /// The identity web page (`/?token=...`).
    pub identity_web: &'a str,
}

/// A parsed config file (`idflow.toml`). Only its `[provider]` table is
/// read here; other tables belong to other parts of idflow.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    path: PathBuf,
    provider: Option<ProviderTable>,
}

/// The `[provider]` table: the same settings as the environment variables.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderTable {
    validations_url: Option<String>,
    account_url: Option<String>,
    identity_url: Option<String>,
    identity_web_url: Option<String>,
    #[serde(default, deserialize_with = "secret_text")]
    api_key: Option<String>,
}

impl std::fmt::Debug for ProviderTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTable")
            .field("validations_url", &self.validations_url)
            .field("account_url", &self.account_url)
            .field("identity_url", &self.identity_url)
            .field("identity_web_url", &self.identity_web_url)
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| idflow_core::redact::REDACTED),
            )
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct RawConfig {
    provider: Option<ProviderTable>,
}

impl ConfigFile {
    /// Parses the text of a config file; errors name the file, line and
    /// column, and never quote the file's text (it may hold the API key).
    pub fn parse(path: &Path, text: &str) -> Result<Self, SettingsError> {
        let raw: RawConfig = toml::from_str(text).map_err(|error| {
            let (line, column) = error
                .span()
                .map_or((1, 1), |span| line_and_column(text, span.start));
            SettingsError::ConfigInvalid {
                path: path.to_path_buf(),
                line,
                column,
                message: error.message().trim().to_owned(),
            }
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            provider: raw.provider,
        })
    }
}

/// Reads `api_key` as text; any other type is refused without echoing the
/// value (serde's default message would quote it).
fn secret_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match <toml::Value as serde::Deserialize>::deserialize(deserializer) {
        Ok(toml::Value::String(text)) => Ok(Some(text)),
        _ => Err(serde::de::Error::custom("`api_key` must be text in quotes")),
    }
}

/// The 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |last| last.chars().count() + 1);
    (line, column)
}

fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// An absolute http(s) URL with a host and no credentials, query or
/// fragment (the value is not quoted in errors: it may hold a password).
fn base_url(text: &str, origin: &str) -> Result<Url, SettingsError> {
    let invalid = |reason: &str| SettingsError::InvalidUrl {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(text.trim()).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("it must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it must not hold credentials: the API key is a setting of its own",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no `?query` or `#fragment`"));
    }
    Ok(url)
}

fn api_key_value(text: &str, origin: &str) -> Result<String, SettingsError> {
    let key = text.trim();
    if key.is_empty() || !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(SettingsError::InvalidApiKey {
            origin: origin.to_owned(),
        });
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn file(text: &str) -> ConfigFile {
        ConfigFile::parse(Path::new("idflow.toml"), text).unwrap()
    }

    #[test]
    fn nothing_configured_is_none() {
        assert_eq!(ProviderSettings::resolve(None, env(&[])).unwrap(), None);
        assert_eq!(
            ProviderSettings::resolve(None, env(&[(ENV_API_KEY, "")])).unwrap(),
            None,
            "an empty variable counts as unset"
        );
        let empty = file("[other]\nx = 1\n");
        assert_eq!(
            ProviderSettings::resolve(Some(&empty), env(&[])).unwrap(),
            None
        );
    }

    #[test]
    fn a_key_alone_uses_truoras_hosts() {
        let settings = ProviderSettings::resolve(None, env(&[(ENV_API_KEY, "key-123")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            settings.validations_url().as_str(),
            "https://api.validations.truora.com/"
        );
        assert_eq!(
            settings.account_url().as_str(),
            "https://api.account.truora.com/"
        );
        assert_eq!(
            settings.identity_url().as_str(),
            "https://api.identity.truora.com/"
        );
        assert_eq!(
            settings.identity_web_url().as_str(),
            "https://identity.truora.com/"
        );
        assert_eq!(settings.api_key(), "key-123");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let config = file(
            "[provider]\napi_key = \"file-key\"\nvalidations_url = \"http://file.example/v\"\naccount_url = \"http://file.example/a\"\n",
        );
        let settings = ProviderSettings::resolve(
            Some(&config),
            env(&[(ENV_ACCOUNT_URL, "http://env.example:8080")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(settings.api_key(), "file-key");
        assert_eq!(settings.validations_url().as_str(), "http://file.example/v");
        assert_eq!(settings.account_url().as_str(), "http://env.example:8080/");
        assert_eq!(
            settings.identity_web_url().as_str(),
            DEFAULT_IDENTITY_WEB_URL.to_owned() + "/"
        );
        let settings = ProviderSettings::resolve(Some(&config), env(&[(ENV_API_KEY, "env-key")]))
            .unwrap()
            .unwrap();
        assert_eq!(settings.api_key(), "env-key");
    }

    #[test]
    fn a_url_without_a_key_is_refused() {
        let error =
            ProviderSettings::resolve(None, env(&[(ENV_VALIDATIONS_URL, "http://127.0.0.1:9000")]))
                .unwrap_err();
        assert_eq!(
            error,
            SettingsError::UrlWithoutKey {
                origin: ENV_VALIDATIONS_URL.into()
            }
        );
        assert!(error.to_string().contains(ENV_API_KEY), "{error}");
    }

    #[test]
    fn bad_urls_and_keys_name_their_origin_without_quoting_secrets() {
        for bad in [
            "not a url",
            "ftp://host/x",
            "https://user:hunter2@host",
            "https://host/?a=1",
            "https://host/#frag",
        ] {
            let error = ProviderSettings::resolve(
                None,
                env(&[(ENV_API_KEY, "k-1"), (ENV_IDENTITY_WEB_URL, bad)]),
            )
            .unwrap_err();
            assert!(
                matches!(&error, SettingsError::InvalidUrl { origin, .. } if origin == ENV_IDENTITY_WEB_URL),
                "{bad}: {error:?}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        let error =
            ProviderSettings::resolve(None, env(&[(ENV_API_KEY, "two words")])).unwrap_err();
        assert_eq!(
            error,
            SettingsError::InvalidApiKey {
                origin: ENV_API_KEY.into()
            }
        );
        assert!(!error.to_string().contains("two words"), "{error}");
    }

    #[test]
    fn config_errors_have_a_place_and_never_quote_the_key() {
        let error = ConfigFile::parse(
            Path::new("idflow.toml"),
            "[provider]\napi_key = 4242424242\n",
        )
        .unwrap_err();
        let SettingsError::ConfigInvalid { line, message, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(*line, 2);
        assert!(message.contains("must be text"), "{message}");
        assert!(!error.to_string().contains("4242424242"), "{error}");

        let error = ConfigFile::parse(
            Path::new("conf/idflow.toml"),
            "[provider]\napi_kee = \"secret-value\"\n",
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("conf/idflow.toml:2:1: "), "{text}");
        assert!(text.contains("api_kee"), "{text}");
        assert!(!text.contains("secret-value"), "{text}");

        let error = ConfigFile::parse(Path::new("idflow.toml"), "[provider\n").unwrap_err();
        assert!(
            matches!(error, SettingsError::ConfigInvalid { line: 1, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn load_reads_the_named_file_and_refuses_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custom.toml");
        std::fs::write(
            &path,
            "[provider]\napi_key = \"from-file\"\nvalidations_url = \"http://127.0.0.1:1/\"\naccount_url = \"http://127.0.0.1:1/\"\nidentity_web_url = \"http://127.0.0.1:1/\"\n",
        )
        .unwrap();
        // The process environment may hold TRUORA_API_KEY; only check what
        // the file decides when it does not.
        if std::env::var_os(ENV_API_KEY).is_none() {
            let settings = ProviderSettings::load(Some(&path)).unwrap().unwrap();
            assert_eq!(settings.api_key(), "from-file");
        }
        let missing = dir.path().join("missing.toml");
        let error = ProviderSettings::load(Some(&missing)).unwrap_err();
        assert!(
            matches!(error, SettingsError::ConfigUnreadable { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let settings =
            ProviderSettings::single_origin("http://127.0.0.1:4000", "sk-live-987654").unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("sk-live-987654"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("127.0.0.1:4000"),
            "{shown}"
        );
        let config = file("[provider]\napi_key = \"sk-live-987654\"\n");
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-live-987654"), "{shown}");
    }
}
