//! Sealing sensitive values at rest: XChaCha20-Poly1305 (the RustCrypto
//! `chacha20poly1305` crate) with a random 192-bit nonce per value, so one
//! key seals any number of values safely.
//!
//! The key is 32 bytes, written as 64 hex digits: from `IDFLOW_STORE_KEY`
//! when set, otherwise from the file `store.key` in the data directory,
//! created (mode 0600) on first use. Losing the key makes sealed outputs of
//! unfinished runs unreadable (those runs then fail with the reason); it
//! does not affect finished runs, whose results are redacted.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use idflow_engine::run::Seal;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "store.key";

/// The environment variable that gives the key instead of the file.
pub const KEY_ENV: &str = "IDFLOW_STORE_KEY";

const NONCE_LEN: usize = 24;

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key is not 64 hex digits.
    #[error("{origin} must hold 64 hex digits (a 32-byte key)")]
    BadKey {
        /// Where it came from.
        origin: String,
    },
    /// The key file could not be read or made.
    #[error("cannot use the key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// Seals with one key.
pub struct KeySeal {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for KeySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySeal").finish_non_exhaustive()
    }
}

impl KeySeal {
    /// A seal with this key.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The key from `IDFLOW_STORE_KEY`, or else from (or into) the key
    /// file in `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, SealError> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return Ok(Self::new(parse_key(&text, KEY_ENV)?));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Self::new(parse_key(&text, &path.display().to_string())?)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_private(&path, hex::encode(key).as_bytes())
                    .map_err(|source| SealError::Io { path, source })?;
                Ok(Self::new(key))
            }
            Err(source) => Err(SealError::Io { path, source }),
        }
    }
}

impl Seal for KeySeal {
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption of a slice in memory cannot fail (only oversized
        // inputs, far beyond any output).
        out.extend(self.cipher.encrypt(&nonce, plain).unwrap_or_default());
        out
    }

    fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher.decrypt(XNonce::from_slice(nonce), body).ok()
    }
}

fn parse_key(text: &str, origin: &str) -> Result<[u8; 32], SealError> {
    let bad = || SealError::BadKey {
        origin: origin.to_owned(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// Writes a new file readable by its owner only (fails if it exists).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_open_with_the_same_key_only() {
        let seal = KeySeal::new([7; 32]);
        let sealed = seal.seal(b"tok-secret");
        assert!(!sealed.windows(10).any(|w| w == b"tok-secret"));
        assert_eq!(seal.open(&sealed).as_deref(), Some(&b"tok-secret"[..]));
        assert_ne!(seal.seal(b"tok-secret"), sealed, "a fresh nonce each time");
        assert_eq!(KeySeal::new([8; 32]).open(&sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(seal.open(&altered), None);
        assert_eq!(seal.open(&sealed[..5]), None);
    }

    #[test]
    fn the_key_file_is_made_private_once_and_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeySeal::for_data_dir(dir.path()).unwrap();
        let sealed = first.seal(b"x");
        let again = KeySeal::for_data_dir(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).as_deref(), Some(&b"x"[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), "not hex").unwrap();
        let error = KeySeal::for_data_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("64 hex digits"), "{error}");
    }
}
