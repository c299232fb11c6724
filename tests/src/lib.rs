//! End-to-end tests of the `idflow` binary live in `tests/tests/`:
//! - `definitions.rs`: snapshots of the validated plan of every workflow in
//!   `workflows/` and of the rendered diagnostic of every invalid fixture
//!   in `tests/fixtures/invalid/`; the checked-in editor schema is current;
//! - `cli.rs`: the binary's commands, output formats and exit codes.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The files with one of `extensions` in `dir` (relative to the root),
/// sorted.
pub fn files_in(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(dir))
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| {
                    path.extension()
                        .and_then(|ext| ext.to_str())
                        .is_some_and(|ext| extensions.contains(&ext))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
