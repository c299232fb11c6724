//! Snapshots of a case's trace, in insta's `.snap` format, so that
//! `cargo insta review` and `cargo insta accept` work on them as on any
//! Rust snapshot.
//!
//! - Where: `snapshots/<test file>__<case>.snap` in the test file's folder
//!   (insta keeps Rust snapshots in `snapshots/` beside the source too),
//!   e.g. `workflows/snapshots/face-enrollment__enrolled.snap` for case
//!   `enrolled` of `workflows/face-enrollment.test.yaml`.
//! - Format: a YAML header between `---` lines (`source`, `description`,
//!   `expression`, `input_file`), then the contents (the trace as YAML).
//!   Existing files are read with insta's own reader and compared with
//!   insta's own rule (trailing whitespace and line endings ignored).
//! - A new or changed snapshot fails the case. Outside CI the new contents
//!   go to `<name>.snap.new` beside it (insta's pending file, which
//!   `cargo insta review` offers to accept); in CI (insta's rule: `CI` set
//!   and not `false`/`0`, or `TF_BUILD` set) nothing is written. With
//!   `accept`, the `.snap` is written and the case passes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::case::{Case, TestFile};

/// What to do with new and changed snapshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotSettings {
    /// Running in CI: write nothing.
    pub ci: bool,
    /// Write new and changed snapshots as accepted.
    pub accept: bool,
}

impl SnapshotSettings {
    /// Settings from the environment, as insta reads it: CI when `CI` is
    /// set to anything but `false`, `0` or nothing, or `TF_BUILD` is set.
    pub fn from_env(accept: bool) -> Self {
        let ci = match std::env::var("CI").ok().as_deref() {
            Some("false" | "0" | "") => false,
            None => std::env::var_os("TF_BUILD").is_some(),
            Some(_) => true,
        };
        Self { ci, accept }
    }
}

/// What happened to a case's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SnapshotOutcome {
    /// The snapshot exists and matches.
    Matched {
        /// The `.snap` file.
        path: PathBuf,
    },
    /// Written as accepted (it was new or changed).
    Accepted {
        /// The `.snap` file.
        path: PathBuf,
    },
    /// There is no snapshot yet.
    New {
        /// The `.snap` file that is missing.
        path: PathBuf,
        /// The pending `.snap.new` written for review (none in CI).
        pending: Option<PathBuf>,
    },
    /// The snapshot differs.
    Changed {
        /// The `.snap` file.
        path: PathBuf,
        /// The pending `.snap.new` written for review (none in CI).
        pending: Option<PathBuf>,
        /// A unified diff, old to new.
        diff: String,
    },
    /// The snapshot could not be read or written.
    Unusable {
        /// The `.snap` file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl SnapshotOutcome {
    /// Whether the case passes as far as its snapshot goes.
    pub fn passed(&self) -> bool {
        matches!(
            self,
            SnapshotOutcome::Matched { .. } | SnapshotOutcome::Accepted { .. }
        )
    }
}

/// Which snapshot, and its header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The `.snap` file.
    #[serde(skip)]
    pub path: PathBuf,
    /// The test file (relative to the repository root when it can be found).
    pub source: String,
    /// The case's description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What was snapshotted.
    pub expression: String,
    /// The workflow under test.
    pub input_file: String,
}

impl Target {
    /// The snapshot of a case.
    pub fn new(file: &TestFile, case: &Case) -> Self {
        let test_path = Path::new(&file.source.name);
        let stem = test_path
            .file_name()
            .and_then(|name| name.to_str())
            .map_or("test", |name| {
                [".test.yaml", ".test.yml", ".yaml", ".yml"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .unwrap_or(name)
            });
        Self {
            path: file
                .dir
                .join("snapshots")
                .join(format!("{stem}__{}.snap", case.name.value)),
            source: from_root(test_path),
            description: case.description.clone(),
            expression: format!("the trace of case `{}`", case.name.value),
            input_file: from_root(&file.workflow_path),
        }
    }

    /// The whole file: header and contents.
    pub fn render(&self, contents: &str) -> String {
        let header = serde_saphyr::to_string(self).unwrap_or_default();
        let header = header.strip_prefix("---\n").unwrap_or(&header);
        let mut text = format!("---\n{header}");
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("---\n");
        text.push_str(contents.trim_end());
        text.push('\n');
        text
    }
}

/// Checks `contents` against the case's snapshot, writing what `settings`
/// allow.
pub fn check(target: &Target, contents: &str, settings: SnapshotSettings) -> SnapshotOutcome {
    let path = target.path.clone();
    let pending = path.with_extension("snap.new");
    let new = insta::internals::TextSnapshotContents::new(
        contents.to_owned(),
        insta::TextSnapshotKind::File,
    );
    let old = if path.exists() {
        match insta::Snapshot::from_file(&path) {
            Ok(snapshot) => snapshot.as_text().cloned(),
            Err(error) => {
                return SnapshotOutcome::Unusable {
                    path,
                    reason: format!("not a snapshot insta can read: {error}"),
                };
            }
        }
    } else {
        None
    };
    if let Some(old) = &old
        && old.matches_latest(&new)
    {
        if !settings.ci && pending.exists() {
            let _ = std::fs::remove_file(&pending);
        }
        return SnapshotOutcome::Matched { path };
    }
    let text = target.render(contents);
    if settings.accept {
        return match write(&path, &text) {
            Ok(()) => {
                let _ = std::fs::remove_file(&pending);
                SnapshotOutcome::Accepted { path }
            }
            Err(reason) => SnapshotOutcome::Unusable { path, reason },
        };
    }
    let pending = if settings.ci {
        None
    } else {
        match write(&pending, &text) {
            Ok(()) => Some(pending),
            Err(reason) => return SnapshotOutcome::Unusable { path, reason },
        }
    };
    match old {
        None => SnapshotOutcome::New { path, pending },
        Some(old) => {
            let (old, new) = (old.to_string(), new.to_string());
            let diff = similar::TextDiff::from_lines(&old, &new)
                .unified_diff()
                .context_radius(3)
                .header("snapshot", "this run")
                .to_string();
            SnapshotOutcome::Changed {
                path,
                pending,
                diff,
            }
        }
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// A path relative to the repository root (the nearest folder above it
/// with `.git`), with `/` separators; the path as given when there is none.
fn from_root(path: &Path) -> String {
    let as_given = path.display().to_string().replace('\\', "/");
    let Ok(absolute) = path.canonicalize() else {
        return as_given;
    };
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").exists())
        .and_then(|root| absolute.strip_prefix(root).ok())
        .map_or(as_given, |relative| {
            relative.display().to_string().replace('\\', "/")
        })
}
