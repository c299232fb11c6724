//! schemathesis (installed by `scripts/setup` from PyPI) against the
//! OpenAPI document `idflow serve` serves: every operation with generated
//! valid and invalid requests (coverage, fuzzing and stateful phases),
//! every check: no 5xx, every response as its schema says, valid requests
//! accepted, invalid ones refused. Any failure schemathesis reports fails
//! the test, with its report.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::PathBuf;
use std::process::Command;

use idflow_tests::repo_root;
use idflow_tests::server::{Server, token};

/// Test cases per operation and phase: about 400 requests in all, a few
/// seconds on loopback.
const MAX_EXAMPLES: &str = "20";

/// The schemathesis of `scripts/setup`'s virtualenv.
fn schemathesis() -> PathBuf {
    let assets = std::env::var_os("IDFLOW_ASSETS_DIR")
        .map_or_else(|| repo_root().join(".cache"), PathBuf::from);
    let bin = assets.join("schemathesis/bin/schemathesis");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/setup (it installs schemathesis from PyPI)",
        bin.display()
    );
    bin
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let bin = schemathesis();
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    for file in ["hello-world.yaml", "blocklist-report.yaml"] {
        std::fs::copy(
            repo_root().join("workflows").join(file),
            workflows.path().join(file),
        )
        .unwrap();
    }
    // An invalid workflow is listed too, and cannot start.
    std::fs::write(
        workflows.path().join("broken.yaml"),
        "name: broken\nsteps: 3\n",
    )
    .unwrap();
    let token = token(data.path(), "schemathesis");
    let server = Server::start(data.path(), workflows.path(), &["--no-provider"]);
    // Its own scratch folder (hypothesis writes beside it otherwise).
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(bin)
        .args(["run", &format!("{}/api/v1/openapi.json", server.url)])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all"])
        .args(["--max-examples", MAX_EXAMPLES])
        // Reproducible: the same requests every time.
        .args(["--seed", "1", "--generation-database", "none"])
        .args(["--request-timeout", "30", "--workers", "1", "--no-color"])
        .current_dir(scratch.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // Every operation of the document was tested.
    let count = |label: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .map(|rest| {
                rest.split('/')
                    .next_back()
                    .unwrap_or_default()
                    .trim()
                    .to_owned()
            })
    };
    let selected = count("Selected: ");
    assert!(selected.is_some(), "{report}");
    assert_eq!(count("Tested: "), selected, "{report}");
}
