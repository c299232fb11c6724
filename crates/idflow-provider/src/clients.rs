//! Clients (tenants) and their API keys: creating, listing, rotating and
//! revoking them for the CLI, and key checking for requests. A key reads
//! `idfk_<key id>_<secret>`; the store keeps the key id and SHA-256 of the
//! secret, compared in constant time. Rotating gives a client a new key id
//! and secret (the old key stops working, and a revoked client works again);
//! revoking stops its key; the client's data stays either way.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::error::ProviderError;
use crate::model::{new_id, prefix};
use crate::secrets::{constant_time_eq, random_hex, sha256};
use crate::store::Store;

const KEY_PREFIX: &str = "idfk";

/// Creates a client named `name` in the data directory and returns its new
/// API key (shown once: only its hash is kept).
pub async fn create_client(data_dir: &Path, name: &str) -> Result<String, ProviderError> {
    if !is_valid_client_name(name) {
        return Err(ProviderError::InvalidClientName(name.to_owned()));
    }
    crate::data_dir::prepare(data_dir)?;
    let store = Store::open(data_dir).await?;
    let result = insert_client(&store, name).await;
    store.close().await;
    result
}

/// A client as `idflow provider clients list` shows it: never its key,
/// only the key's public id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClientSummary {
    /// The client's id (`CLI...`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The start of its key, `idfk_<key id>_`: enough to tell keys apart,
    /// useless to call the API.
    pub key_prefix: String,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When its key was last rotated (Unix seconds).
    pub rotated_at: Option<i64>,
    /// When its key was revoked (Unix seconds); `None`: the key works.
    pub revoked_at: Option<i64>,
}

/// Every client of the data directory, by name.
pub async fn list_clients(data_dir: &Path) -> Result<Vec<ClientSummary>, ProviderError> {
    let store = open_existing(data_dir).await?;
    let rows = store.clients().await;
    store.close().await;
    Ok(rows?
        .into_iter()
        .map(|row| ClientSummary {
            key_prefix: format!("{KEY_PREFIX}_{}_", row.key_id),
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            rotated_at: row.rotated_at,
            revoked_at: row.revoked_at,
        })
        .collect())
}

/// Gives the client named `name` a new API key and returns it (shown once);
/// the old key stops working, and a revoked client works again.
pub async fn rotate_client_key(data_dir: &Path, name: &str) -> Result<String, ProviderError> {
    let store = open_existing(data_dir).await?;
    let key_id = random_hex::<6>();
    let secret = random_hex::<32>();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let rotated = store
        .rotate_client_key(name, &key_id, &sha256(secret.as_bytes()), now)
        .await;
    store.close().await;
    if rotated? {
        Ok(format!("{KEY_PREFIX}_{key_id}_{secret}"))
    } else {
        Err(ProviderError::NoSuchClient(name.to_owned()))
    }
}

/// Revokes the key of the client named `name`: no request with it is
/// accepted any more (`rotate_client_key` gives it a new one). `Ok(false)`:
/// it was already revoked.
pub async fn revoke_client(data_dir: &Path, name: &str) -> Result<bool, ProviderError> {
    let store = open_existing(data_dir).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let revoked = store.revoke_client(name, now).await;
    store.close().await;
    match revoked? {
        Some(newly) => Ok(newly),
        None => Err(ProviderError::NoSuchClient(name.to_owned())),
    }
}

/// Opens the store of a data directory that already holds one: listing,
/// rotating or revoking never makes a provider where there was none.
async fn open_existing(data_dir: &Path) -> Result<Store, ProviderError> {
    if !data_dir.join(crate::store::DATABASE_FILE).is_file() {
        return Err(ProviderError::NoData(data_dir.to_path_buf()));
    }
    crate::data_dir::prepare(data_dir)?;
    Store::open(data_dir).await
}

pub(crate) async fn insert_client(store: &Store, name: &str) -> Result<String, ProviderError> {
    let key_id = random_hex::<6>();
    let secret = random_hex::<32>();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let inserted = store
        .insert_client(
            &new_id(prefix::CLIENT),
            name,
            &key_id,
            &sha256(secret.as_bytes()),
            now,
        )
        .await?;
    if !inserted {
        return Err(ProviderError::ClientExists(name.to_owned()));
    }
    Ok(format!("{KEY_PREFIX}_{key_id}_{secret}"))
}

fn is_valid_client_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Why a presented key was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    Valid { client_id: String },
    Invalid,
}

/// How long a running provider trusts a key it has read: a key rotated or
/// revoked by `idflow provider clients` (another process) stops working
/// within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Checks API keys, remembering the hash of each key id it has read for
/// [`KEY_CACHE_TTL`] (it holds one entry per key in use at most).
#[derive(Debug)]
pub(crate) struct ClientKeys {
    known: RwLock<HashMap<String, Remembered>>,
    ttl: Duration,
}

/// What a key id led to: the client id, the key's hash, and when it was read.
type Remembered = (String, Vec<u8>, Instant);

impl Default for ClientKeys {
    fn default() -> Self {
        Self::with_ttl(KEY_CACHE_TTL)
    }
}

impl ClientKeys {
    /// Keys are read again once they were read `ttl` ago.
    pub(crate) fn with_ttl(ttl: Duration) -> Self {
        Self {
            known: RwLock::default(),
            ttl,
        }
    }

    pub(crate) async fn check(
        &self,
        store: &Store,
        presented: &str,
    ) -> Result<KeyCheck, sqlx::Error> {
        let mut parts = presented.split('_');
        let (Some(KEY_PREFIX), Some(key_id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(KeyCheck::Invalid);
        };
        let now = Instant::now();
        let remembered = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key_id)
            .filter(|(_, _, read_at)| now.duration_since(*read_at) < self.ttl)
            .map(|(client_id, hash, _)| (client_id.clone(), hash.clone()));
        let (client_id, stored_hash) = if let Some(entry) = remembered {
            entry
        } else {
            let found = store.client_key(key_id).await?;
            let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
            let Some((client_id, hash)) = found else {
                known.remove(key_id);
                return Ok(KeyCheck::Invalid);
            };
            known.insert(key_id.to_owned(), (client_id.clone(), hash.clone(), now));
            (client_id, hash)
        };
        if constant_time_eq(&sha256(secret.as_bytes()), &stored_hash) {
            Ok(KeyCheck::Valid { client_id })
        } else {
            Ok(KeyCheck::Invalid)
        }
    }
}

/// Checks an API key against the store, without remembering anything.
#[cfg(test)]
pub(crate) async fn check_api_key(store: &Store, presented: &str) -> Result<KeyCheck, sqlx::Error> {
    ClientKeys::default().check(store, presented).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn created_keys_authenticate_their_client_only() {
        let dir = tempfile::tempdir().unwrap();
        let key_a = create_client(dir.path(), "alpha").await.unwrap();
        let key_b = create_client(dir.path(), "beta").await.unwrap();
        assert!(key_a.starts_with("idfk_"));
        assert_ne!(key_a, key_b);

        let store = Store::open(dir.path()).await.unwrap();
        let KeyCheck::Valid { client_id: a } = check_api_key(&store, &key_a).await.unwrap() else {
            panic!("key a refused")
        };
        let KeyCheck::Valid { client_id: b } = check_api_key(&store, &key_b).await.unwrap() else {
            panic!("key b refused")
        };
        assert_ne!(a, b);

        // A right key id with a wrong secret, and garbage, are refused.
        let (head, _) = key_a.rsplit_once('_').unwrap();
        let forged = format!("{head}_{}", "0".repeat(64));
        assert_eq!(
            check_api_key(&store, &forged).await.unwrap(),
            KeyCheck::Invalid
        );
        assert_eq!(
            check_api_key(&store, "nonsense").await.unwrap(),
            KeyCheck::Invalid
        );
        store.close().await;
    }

    #[tokio::test]
    async fn rotating_and_revoking_stop_the_old_key_in_a_running_provider_too() {
        let dir = tempfile::tempdir().unwrap();
        let first = create_client(dir.path(), "alpha").await.unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        // A provider that remembers keys keeps trusting one until its memory
        // of it ends; one whose memory has ended reads the store again.
        let remembering = ClientKeys::default();
        let expired = ClientKeys::with_ttl(Duration::ZERO);
        for keys in [&remembering, &expired] {
            assert!(matches!(
                keys.check(&store, &first).await.unwrap(),
                KeyCheck::Valid { .. }
            ));
        }

        let second = rotate_client_key(dir.path(), "alpha").await.unwrap();
        assert_ne!(first, second);
        assert!(matches!(
            remembering.check(&store, &first).await.unwrap(),
            KeyCheck::Valid { .. }
        ));
        assert_eq!(
            expired.check(&store, &first).await.unwrap(),
            KeyCheck::Invalid
        );
        assert!(matches!(
            expired.check(&store, &second).await.unwrap(),
            KeyCheck::Valid { .. }
        ));

        assert!(revoke_client(dir.path(), "alpha").await.unwrap());
        assert!(
            !revoke_client(dir.path(), "alpha").await.unwrap(),
            "already revoked"
        );
        assert_eq!(
            expired.check(&store, &second).await.unwrap(),
            KeyCheck::Invalid
        );

        let listed = list_clients(dir.path()).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, "alpha");
        assert!(listed[0].rotated_at.is_some() && listed[0].revoked_at.is_some());
        assert!(second.starts_with(&listed[0].key_prefix), "{listed:?}");

        // Rotating a revoked client gives it a working key again.
        let third = rotate_client_key(dir.path(), "alpha").await.unwrap();
        assert!(matches!(
            expired.check(&store, &third).await.unwrap(),
            KeyCheck::Valid { .. }
        ));
        assert_eq!(list_clients(dir.path()).await.unwrap()[0].revoked_at, None);
        store.close().await;

        assert!(matches!(
            rotate_client_key(dir.path(), "nobody").await,
            Err(ProviderError::NoSuchClient(_))
        ));
        assert!(matches!(
            revoke_client(dir.path(), "nobody").await,
            Err(ProviderError::NoSuchClient(_))
        ));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            list_clients(&empty.path().join("none")).await,
            Err(ProviderError::NoData(_))
        ));
    }

    #[tokio::test]
    async fn duplicate_and_invalid_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        create_client(dir.path(), "alpha").await.unwrap();
        assert!(matches!(
            create_client(dir.path(), "alpha").await,
            Err(ProviderError::ClientExists(_))
        ));
        assert!(matches!(
            create_client(dir.path(), "no spaces").await,
            Err(ProviderError::InvalidClientName(_))
        ));
    }
}
