//! `idflow serve` as the idflow server, through the real binary: tokens
//! made with `idflow token`, a face enrollment started through the API
//! against the embedded provider served by the same process, live progress
//! until the end, its status gate woken by the provider's webhook to the
//! hook the server registers itself (kept across restarts, replaced when
//! the server moves, hooks left behind removed), and a graceful stop
//! (SIGTERM) with a waiting run that the next start picks up and cancels.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::process::Command;

use base64::Engine as _;
use idflow_tests::server::{NAPPING, Server, client, events, start, token};
use idflow_tests::{idflow_bin, repo_root};
use serde_json::{Value, json};

#[test]
fn a_face_enrollment_started_through_the_api_runs_on_the_embedded_provider_of_the_same_server() {
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path(), "signup-service");
    let server = Server::start(data.path(), &repo_root().join("workflows"), &[]);

    let unauthorized = client()
        .get(format!("{}/api/v1/runs", server.url))
        .send()
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let body: Value = unauthorized.json().unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let photo = std::fs::read(repo_root().join(".cache/photos/obama.jpg"))
        .expect("the sample photos are set up (scripts/setup)");
    let run_id = start(
        &server,
        &token,
        &json!({
            "workflow": "face-enrollment",
            "inputs": {"photo": {"$file": {"name": "obama.jpg", "content_base64": base64::engine::general_purpose::STANDARD.encode(photo)}}}
        }),
    );
    let events = events(&server, &token, &run_id, |_, _| false);
    let (last, result) = events.last().expect("events");
    assert_eq!(last, "end", "{events:?}");
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["outputs"]["outcome"], "enrolled", "{result}");
    // The verification link is a credential: redacted in what the API shows.
    let shown = result.to_string();
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains("token="), "{shown}");
    assert!(
        events
            .iter()
            .any(|(name, data)| name == "step" && data["step"] == "processed"),
        "{events:?}"
    );

    let run: Value = client()
        .get(format!("{}/api/v1/runs/{run_id}", server.url))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(run["status"], "succeeded");
    // The provider's own API is still served by the same process.
    let provider = client()
        .get(format!("{}/v1/enrollments/nope", server.url))
        .send()
        .unwrap();
    assert_eq!(provider.status(), 401, "the provider asks for its own key");
}

#[test]
fn a_graceful_stop_leaves_a_waiting_run_to_the_next_start_which_can_cancel_it() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("napping.yaml"), NAPPING).unwrap();
    let token = token(data.path(), "ops");
    let server = Server::start(data.path(), workflows.path(), &["--no-provider"]);
    let run_id = start(&server, &token, &json!({"workflow": "napping"}));
    events(&server, &token, &run_id, |name, data| {
        name == "step" && data["step"] == "nap" && data["status"] == "running"
    });
    let status = server.terminate();
    assert!(status.success(), "a clean stop exits 0: {status:?}");

    let server = Server::start(data.path(), workflows.path(), &["--no-provider"]);
    let run: Value = client()
        .get(format!("{}/api/v1/runs/{run_id}", server.url))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        ["pending", "running", "waiting"].contains(&run["status"].as_str().unwrap()),
        "{run}"
    );
    let cancel = client()
        .post(format!("{}/api/v1/runs/{run_id}/cancel", server.url))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(cancel.status(), 202);
    let events = events(&server, &token, &run_id, |_, _| false);
    let (last, result) = events.last().unwrap();
    assert_eq!(last, "end");
    assert_eq!(result["status"], "cancelled", "{result}");
    assert_eq!(result["steps"]["tidy"]["status"], "succeeded", "{result}");

    // A revoked token is refused from then on.
    let revoked = Command::new(idflow_bin())
        .args(["token", "revoke", "ops", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(revoked.status.success(), "{revoked:?}");
    let listed = Command::new(idflow_bin())
        .args(["token", "list", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("ops"));
}

const HELLO: &str = r"
name: hello
inputs:
  who: {type: string}
  times: {type: number, default: 1}
steps:
  greet:
    uses: core.log
    with: {message: 'hello ${{ inputs.who }}'}
outputs:
  greeted: ${{ inputs.who }}
  times: ${{ inputs.times }}
";

/// `idflow ARGS` against `server` with `token` (none: IDFLOW_TOKEN unset).
fn remote(server: &Server, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(idflow_bin());
    command
        .args(args)
        .env("IDFLOW_SERVER", &server.url)
        .env("NO_COLOR", "1")
        .env_remove("IDFLOW_TOKEN");
    if let Some(token) = token {
        command.env("IDFLOW_TOKEN", token);
    }
    command.output().unwrap()
}

#[test]
fn the_cli_starts_follows_lists_shows_and_cancels_runs_on_a_server() {
    let data = tempfile::tempdir().unwrap();
    let workflows = tempfile::tempdir().unwrap();
    std::fs::write(workflows.path().join("hello.yaml"), HELLO).unwrap();
    std::fs::write(workflows.path().join("napping.yaml"), NAPPING).unwrap();
    let token = token(data.path(), "cli");
    let server = Server::start(data.path(), workflows.path(), &["--no-provider"]);

    // By name, with typed inputs; the result as `idflow run --json` prints it.
    let output = remote(
        &server,
        Some(&token),
        &[
            "run", "hello", "--input", "who=ada", "--input", "times=3", "--json",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(
        progress.contains("greet") && progress.contains("succeeded"),
        "progress on stderr: {progress}"
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["outputs"], json!({"greeted": "ada", "times": 3}));
    let run_id = result["run_id"].as_str().unwrap().to_owned();

    // By file: the file names the workflow; the summary for people.
    let file = workflows.path().join("hello.yaml");
    let output = remote(
        &server,
        Some(&token),
        &["run", file.to_str().unwrap(), "--input", "who=bob"],
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(": succeeded") && stdout.contains("greeted: bob"),
        "{stdout}"
    );

    // Refused inputs: the server's message, exit 2, nothing started.
    let output = remote(
        &server,
        Some(&token),
        &["run", "hello", "--input", "whom=x"],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did you mean `who`"), "{stderr}");

    // Without a token: says which variable to set.
    let output = remote(&server, None, &["runs", "list"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("IDFLOW_TOKEN"));

    let output = remote(
        &server,
        Some(&token),
        &["runs", "list", "--workflow", "hello"],
    );
    assert!(output.status.success(), "{output:?}");
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(listed.contains(&run_id), "{listed}");
    assert_eq!(listed.lines().count(), 3, "a header and two runs: {listed}");

    let output = remote(&server, Some(&token), &["runs", "show", &run_id, "--json"]);
    assert!(output.status.success(), "{output:?}");
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["outputs"]["greeted"], "ada");

    // A detached start, cancelled from the CLI.
    let output = remote(&server, Some(&token), &["run", "napping", "--detach"]);
    assert!(output.status.success(), "{output:?}");
    let napping = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    events(&server, &token, &napping, |name, data| {
        name == "step" && data["step"] == "nap" && data["status"] == "running"
    });
    let output = remote(&server, Some(&token), &["runs", "cancel", &napping]);
    assert!(output.status.success(), "{output:?}");
    let events = events(&server, &token, &napping, |_, _| false);
    assert_eq!(events.last().unwrap().1["status"], "cancelled");

    let output = remote(&server, Some(&token), &["runs", "prune"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("data directory"));
}

/// The embedded provider's hooks of the server's local client: (id, url).
fn local_hooks(server: &Server, data: &std::path::Path) -> Vec<(String, String)> {
    let key = std::fs::read_to_string(data.join("provider/local-client.key")).unwrap();
    let listed: Value = client()
        .get(format!("{}/v1/webhooks", server.url))
        .header("Truora-API-Key", key.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    listed["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hook| {
            (
                hook["webhook_id"].as_str().unwrap().to_owned(),
                hook["url"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The hook `idflow serve` keeps: (id, url), and the file's mode.
fn kept_hook(data: &std::path::Path) -> (String, String, u32) {
    let path = data.join("provider/local-client.hook");
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mode = {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777
    };
    (
        kept["webhook_id"].as_str().unwrap().to_owned(),
        kept["url"].as_str().unwrap().to_owned(),
        mode,
    )
}

fn rfc3339(value: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        value.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

#[test]
fn idflow_serve_registers_its_provider_hook_whose_webhooks_wake_the_face_gate() {
    let data = tempfile::tempdir().unwrap();
    let token = token(data.path(), "signup-service");
    let workflows = repo_root().join("workflows");
    // Private targets allowed: this test adds a hook left behind below.
    let server = Server::start(data.path(), &workflows, &["--allow-private-webhooks"]);
    let hook_url = format!("{}/api/v1/hooks/truora", server.url);
    let (first_id, url, mode) = kept_hook(data.path());
    assert_eq!(url, hook_url);
    assert_eq!(mode, 0o600, "the hook's secret is the owner's only");
    assert_eq!(
        local_hooks(&server, data.path()),
        [(first_id.clone(), hook_url.clone())]
    );

    // An enrollment: the provider processes the photo in well under a
    // second, and its webhook ends the gate at once instead of its next
    // poll 5 s later.
    let photo = std::fs::read(repo_root().join(".cache/photos/obama.jpg"))
        .expect("the sample photos are set up (scripts/setup)");
    let run_id = start(
        &server,
        &token,
        &json!({
            "workflow": "face-enrollment",
            "inputs": {"photo": {"$file": {"name": "obama.jpg", "content_base64": base64::engine::general_purpose::STANDARD.encode(photo)}}}
        }),
    );
    let events = events(&server, &token, &run_id, |_, _| false);
    let (_, result) = events.last().expect("events");
    assert_eq!(result["status"], "succeeded", "{result}");
    let processed = &result["steps"]["processed"];
    assert!(processed["attempts"].as_u64().unwrap() <= 2, "{processed}");
    let waited = rfc3339(&processed["finished_at"]) - rfc3339(&processed["started_at"]);
    assert!(
        waited < time::Duration::seconds(4),
        "the gate took {waited}: it was not woken by the webhook before its fallback poll"
    );

    // A hook left behind (by a run that was killed): a loopback hook
    // address where nothing listens any more.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_url = format!("http://{}/api/v1/hooks/truora", gone.local_addr().unwrap());
    drop(gone);
    let key = std::fs::read_to_string(data.path().join("provider/local-client.key")).unwrap();
    let added = client()
        .post(format!("{}/v1/webhooks", server.url))
        .header("Truora-API-Key", key.trim())
        .form(&[("url", gone_url.as_str())])
        .send()
        .unwrap();
    assert_eq!(added.status(), 201);
    assert_eq!(local_hooks(&server, data.path()).len(), 2);

    // Restarted on the same address: the same hook, the one left behind gone.
    let addr = server.url.trim_start_matches("http://").to_owned();
    assert!(server.terminate().success());
    let server = Server::start_on(&addr, data.path(), &workflows, &[], &[]);
    assert_eq!(kept_hook(data.path()).0, first_id);
    assert_eq!(
        local_hooks(&server, data.path()),
        [(first_id.clone(), hook_url)]
    );

    // On another address: a new hook replaces it.
    assert!(server.terminate().success());
    let server = Server::start(data.path(), &workflows, &[]);
    let (moved_id, moved_url, _) = kept_hook(data.path());
    assert_ne!(moved_id, first_id);
    assert_eq!(moved_url, format!("{}/api/v1/hooks/truora", server.url));
    assert_eq!(local_hooks(&server, data.path()), [(moved_id, moved_url)]);
}
