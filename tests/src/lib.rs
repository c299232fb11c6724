//! End-to-end tests of the `idflow` binary live in `tests/tests/`:
//! - `definitions.rs`: snapshots of the validated plan and the graphs
//!   (Mermaid, and dot that Graphviz draws) of every workflow in
//!   `workflows/` and of the rendered diagnostic of every invalid fixture
//!   in `tests/fixtures/invalid/`; the checked-in editor schema is current;
//! - `cli.rs`: the binary's commands, output formats and exit codes (a
//!   closed stdout, log fields, the pre-commit hook, completions, manual
//!   pages, `--version`);
//! - `editor_schema.rs`: the real yaml-language-server over every shipped
//!   workflow and valid docs example (nothing flagged) and the invalid
//!   fixtures (the line `idflow validate` reports);
//! - `hostile.rs`: hostile files (the [`hostile`] cases) and special files
//!   end cleanly, in bounded memory;
//! - `secret_probe.rs`: the secret probe: 58 ways to transform a secret,
//!   refused (IDF0020) in every place that would show it, and hidden in
//!   everything the binary reports when sent to credential inputs and
//!   echoed back by a loopback server;
//! - `server.rs`: `idflow serve` through its API (helpers in [`server`]);
//! - `viewer.rs`: the run viewer in headless Chromium through the real
//!   server;
//! - `onboarding.rs`: `workflows/onboarding.yaml` through the real server
//!   and a person in headless Chromium (verified, not verified, expired,
//!   and a wait across a restart);
//! - `observability.rs`: its `/metrics`, and its traces received by an
//!   OTLP collector stand-in;
//! - `schemathesis.rs`: schemathesis (from `scripts/setup`) against its
//!   OpenAPI document.
//!
//! The binary is the one the workspace build made (`cargo nextest run
//! --workspace --all-targets`, as `scripts/test` runs, builds it first).

use std::path::{Path, PathBuf};

pub mod hostile;
pub mod server;

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

/// `(line of the marker, what follows it, yaml)` for each ```yaml block
/// after a line starting with `marker`.
pub fn marked(text: &str, marker: &str) -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim().strip_prefix(marker) else {
            continue;
        };
        let expectation = rest.trim_end_matches("-->").trim().to_owned();
        let start = lines[index + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with("```yaml"))
            .map_or_else(
                || panic!("marker at line {} has no ```yaml block", index + 1),
                |p| index + 1 + p + 1,
            );
        let end = lines[start..]
            .iter()
            .position(|l| l.trim_start().starts_with("```"))
            .map_or_else(
                || panic!("the block after line {} is not closed", index + 1),
                |p| start + p,
            );
        found.push((index + 1, expectation, lines[start..end].join("\n") + "\n"));
    }
    found
}

/// The `idflow` binary built for this test run.
pub fn idflow_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let bin = target.join(profile).join("idflow");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p idflow-cli`, or run scripts/test)",
        bin.display()
    );
    bin
}

/// A command running the `idflow` binary from the repository root.
pub fn idflow() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(idflow_bin());
    command
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env("IDFLOW_DATA", scratch_data_dir())
        .env_remove("IDFLOW_PROVIDER_DATA")
        .env_remove("IDFLOW_LOG");
    command
}

/// A data directory of this test process's own (under the target dir's
/// `tmp/`), so that runs recorded by a test never land in the user's
/// `~/.local/share/idflow`, nor in another checkout's tests.
pub fn scratch_data_dir() -> PathBuf {
    let bin = idflow_bin();
    let target = bin
        .parent()
        .and_then(Path::parent)
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    target
        .join("tmp")
        .join(format!("idflow-data-{}", std::process::id()))
}

/// The README's Rust snippet, compiled as a doctest so it cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
