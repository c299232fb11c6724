//! Build script of the `idflow` binary: records the git commit it is built
//! from (`git rev-parse --short HEAD`) for `idflow --version`, as the
//! environment variable `IDFLOW_COMMIT` of the compilation. Outside a git
//! checkout (a source archive) or without git, `IDFLOW_COMMIT` given to the
//! build is used, else `unknown`. Nothing goes to the network.

use std::path::PathBuf;
use std::process::Command;

/// `git ARGS` in this crate's folder, trimmed; `None` when git or the
/// checkout is missing.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=IDFLOW_COMMIT");
    let commit = git(&["rev-parse", "--short", "HEAD"])
        .or_else(|| {
            std::env::var("IDFLOW_COMMIT")
                .ok()
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=IDFLOW_COMMIT={commit}");
    // Build again when HEAD moves: a commit, a checkout, a new branch tip.
    // (Only files that exist: cargo reruns a script whose file is missing.)
    let mut watched = Vec::new();
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
        watched.push(git_dir.join("HEAD"));
    }
    if let (Some(common), Some(head)) = (
        git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ) {
        watched.push(common.join(head));
        watched.push(common.join("packed-refs"));
    }
    for path in watched.iter().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
