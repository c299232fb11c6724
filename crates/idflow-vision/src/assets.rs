//! Where `scripts/setup` puts the face models and the test photos, for
//! tests, benchmarks and development runs.
//!
//! The assets live in the repository's `.cache/` folder (git-ignored):
//! `.cache/models/` and `.cache/photos/`. The environment variable
//! `IDFLOW_ASSETS_DIR` points elsewhere (the setup script honours it too).
//! Without it, the folder is found from this crate's source location, so it
//! is only meaningful for a build made from the repository.

use std::path::{Path, PathBuf};

/// Environment variable naming the assets folder (default: `<repo>/.cache`).
pub const ASSETS_DIR_ENV: &str = "IDFLOW_ASSETS_DIR";

/// A test photo or the assets folder is missing.
#[derive(Debug, thiserror::Error)]
#[error("{} is missing ({source}); run `scripts/setup` to download the models and test photos", path.display())]
pub struct MissingAsset {
    /// The file that could not be read.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The assets folder: `$IDFLOW_ASSETS_DIR`, or the repository's `.cache/`.
pub fn assets_dir() -> PathBuf {
    match std::env::var_os(ASSETS_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"),
    }
}

/// The folder with the dlib model files.
pub fn models_dir() -> PathBuf {
    assets_dir().join("models")
}

/// The folder with the test photos.
pub fn photos_dir() -> PathBuf {
    assets_dir().join("photos")
}

/// The bytes of a test photo (for example `obama.jpg`).
pub fn photo(name: &str) -> Result<Vec<u8>, MissingAsset> {
    let path = photos_dir().join(name);
    std::fs::read(&path).map_err(|source| MissingAsset { path, source })
}
