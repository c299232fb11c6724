//! The data directory's permissions. It holds face embeddings, photos
//! waiting to be processed and the installation secret, so only its owner
//! may read it: the directory is made mode 0700 and its files
//! (`provider.sqlite3` with its `-wal` and `-shm`, `secret.key`) mode 0600,
//! also when they already exist with looser modes (each one tightened is
//! logged as a warning). SQLite gives the `-wal` and `-shm` files it
//! creates the mode of the database file, which is created here first.

use std::path::{Path, PathBuf};

use crate::error::ProviderError;
use crate::secrets::SECRET_FILE;
use crate::store::DATABASE_FILE;

/// Mode of the data directory.
const DIR_MODE: u32 = 0o700;
/// Mode of the files in it.
const FILE_MODE: u32 = 0o600;

/// The files the provider keeps in its data directory.
fn data_files(dir: &Path) -> [PathBuf; 4] {
    [
        dir.join(DATABASE_FILE),
        dir.join(format!("{DATABASE_FILE}-wal")),
        dir.join(format!("{DATABASE_FILE}-shm")),
        dir.join(SECRET_FILE),
    ]
}

/// A path whose mode was tightened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tightened {
    pub(crate) path: PathBuf,
    pub(crate) from: u32,
    pub(crate) to: u32,
}

/// Creates the data directory (mode 0700) and an empty database file (mode
/// 0600) if missing, and tightens the modes of what exists; returns what
/// was tightened (each also logged).
pub(crate) fn prepare(dir: &Path) -> Result<Vec<Tightened>, ProviderError> {
    let error = |source| ProviderError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    create_dir(dir).map_err(error)?;
    let mut tightened = Vec::new();
    tightened.extend(restrict(dir, DIR_MODE).map_err(error)?);
    create_private_file(&dir.join(DATABASE_FILE)).map_err(error)?;
    for file in data_files(dir) {
        tightened.extend(restrict(&file, FILE_MODE).map_err(error)?);
    }
    for change in &tightened {
        tracing::warn!(
            path = %change.path.display(),
            from = format!("{:o}", change.from),
            to = format!("{:o}", change.to),
            "tightened the permissions of the provider's data: only its owner may read face data and keys"
        );
    }
    Ok(tightened)
}

#[cfg(unix)]
fn create_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

#[cfg(not(unix))]
fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Creates `path` empty with mode 0600 unless it exists.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Removes the group and other permissions of `path` if it exists and has
/// any beyond `mode`.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<Option<Tightened>> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let from = metadata.permissions().mode() & 0o7777;
    if from & !mode == 0 || metadata.file_type().is_symlink() {
        return Ok(None);
    }
    let to = from & mode;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(to))?;
    Ok(Some(Tightened {
        path: path.to_path_buf(),
        from,
        to,
    }))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<Option<Tightened>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("the path exists")
            .permissions()
            .mode()
            & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .expect("the mode can be set");
    }

    #[test]
    fn a_new_directory_is_private_with_a_private_database_file() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/provider");
        assert_eq!(prepare(&dir).unwrap(), vec![]);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(DATABASE_FILE)), 0o600);
    }

    /// Issue 17: `provider.sqlite3` was created 0644. Data directories made
    /// before are tightened, and each change is reported.
    #[test]
    fn loose_modes_are_tightened_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        for file in data_files(dir) {
            std::fs::write(&file, b"").unwrap();
            set_mode(&file, 0o644);
        }
        set_mode(dir, 0o755);
        let tightened = prepare(dir).unwrap();
        assert_eq!(tightened.len(), 5, "{tightened:?}");
        assert_eq!(
            tightened[0],
            Tightened {
                path: dir.to_path_buf(),
                from: 0o755,
                to: 0o700
            }
        );
        assert_eq!(mode(dir), 0o700);
        for file in data_files(dir) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        // Already private: nothing to say.
        assert_eq!(prepare(dir).unwrap(), vec![]);
    }
}
