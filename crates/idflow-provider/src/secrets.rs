//! The per-installation secret (`<data_dir>/secret.key`, created on first
//! start with mode 0600), the keys derived from it, random tokens, hashing and
//! constant-time comparison.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ProviderError;

type HmacSha256 = Hmac<Sha256>;

/// File name of the installation secret inside the data directory.
pub const SECRET_FILE: &str = "secret.key";

/// Keys derived from the installation secret, one per purpose.
#[derive(Clone)]
pub(crate) struct Keys {
    upload_links: [u8; 32],
    web_tokens: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// Reads `<data_dir>/secret.key`, creating it (32 random bytes, hex) when absent.
    pub(crate) fn load_or_create(data_dir: &Path) -> Result<Self, ProviderError> {
        let path = data_dir.join(SECRET_FILE);
        let secret = match std::fs::read_to_string(&path) {
            Ok(text) => hex::decode(text.trim())
                .ok()
                .filter(|bytes| bytes.len() == 32)
                .ok_or_else(|| secret_error(&path, "not 64 hexadecimal characters"))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let secret = random_bytes::<32>().to_vec();
                write_new_secret(&path, &secret)?;
                secret
            }
            Err(error) => return Err(secret_error(&path, &error.to_string())),
        };
        Ok(Self {
            upload_links: derive(&secret, b"idflow-provider upload links v1"),
            web_tokens: derive(&secret, b"idflow-provider web tokens v1"),
        })
    }

    /// The HMAC key that signs upload links.
    pub(crate) fn upload_links(&self) -> &[u8] {
        &self.upload_links
    }

    /// The HS256 key that signs web tokens.
    pub(crate) fn web_tokens(&self) -> &[u8] {
        &self.web_tokens
    }
}

fn secret_error(path: &Path, message: &str) -> ProviderError {
    ProviderError::Secret {
        path: PathBuf::from(path),
        message: message.to_owned(),
    }
}

fn write_new_secret(path: &Path, secret: &[u8]) -> Result<(), ProviderError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| secret_error(path, &e.to_string()))?;
    file.write_all(hex::encode(secret).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| secret_error(path, &e.to_string()))
}

fn derive(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    hmac_sha256(secret, purpose)
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0_u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A random hexadecimal string of `2 * N` characters.
pub(crate) fn random_hex<const N: usize>() -> String {
    hex::encode(random_bytes::<N>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Keys::load_or_create(dir.path()).unwrap();
        let second = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(first.web_tokens(), second.web_tokens());
        assert_ne!(first.web_tokens(), first.upload_links());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_secret_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SECRET_FILE), "not hex").unwrap();
        let error = Keys::load_or_create(dir.path()).unwrap_err();
        assert!(error.to_string().contains("secret.key"), "{error}");
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
