//! Clients (tenants) and their API keys: `create_client` for the CLI, and key
//! checking for requests. A key reads `idfk_<key id>_<secret>`; the store keeps
//! the key id and SHA-256 of the secret, compared in constant time.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{PoisonError, RwLock};

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

/// Checks API keys, remembering the hash of each key id it has read (keys
/// are never changed or removed, so the memory never goes stale; it holds one
/// entry per client at most).
#[derive(Debug, Default)]
pub(crate) struct ClientKeys {
    known: RwLock<HashMap<String, (String, Vec<u8>)>>,
}

impl ClientKeys {
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
        let remembered = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key_id)
            .cloned();
        let (client_id, stored_hash) = if let Some(entry) = remembered {
            entry
        } else {
            let Some(entry) = store.client_key(key_id).await? else {
                return Ok(KeyCheck::Invalid);
            };
            self.known
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key_id.to_owned(), entry.clone());
            entry
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
