//! `idflow events send` through the binary: to a server (`--server`, the
//! token from IDFLOW_TOKEN), and straight into the data directory's store
//! while a server drives the runs (another process delivers; the server's
//! worker goes on with the woken run). An event sent before any run waits
//! is kept for the first one.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::Path;

use idflow_tests::idflow_bin;
use idflow_tests::server::{Server, events, start, token};
use serde_json::{Value, json};

const AWAITING: &str = r"
name: awaiting
inputs:
  order: {type: string}
steps:
  paid:
    uses: core.await_event
    with: {key: 'order:${{ inputs.order }}:paid', timeout: 1h}
outputs:
  amount: ${{ steps.paid.outputs.payload.amount }}
";

/// `idflow events send ARGS...`: its stdout, after it succeeded.
fn send(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(idflow_bin())
        .args(["events", "send"])
        .args(args)
        .env_remove("IDFLOW_SERVER")
        .env_remove("IDFLOW_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Waits (on the run's event stream) until the run has parked, then
/// until it ends; its result.
fn parked_then_ended(server: &Server, token: &str, run_id: &str, deliver: impl FnOnce()) -> Value {
    events(server, token, run_id, |name, data| {
        name == "run" && data["status"] == "waiting"
    });
    deliver();
    let all = events(server, token, run_id, |name, _| name == "end");
    all.last().unwrap().1.clone()
}

fn workflows(dir: &Path) -> std::path::PathBuf {
    let workflows = dir.join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("awaiting.yaml"), AWAITING).unwrap();
    workflows
}

#[test]
fn an_event_sent_with_the_cli_wakes_the_waiting_run_through_the_server_or_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &workflows(dir.path()), &["--no-provider"]);
    let token = token(&data, "events");

    // Through the server's API.
    let run_id = start(
        &server,
        &token,
        &json!({"workflow": "awaiting", "inputs": {"order": "1"}}),
    );
    let end = parked_then_ended(&server, &token, &run_id, || {
        let said = send(
            &[
                "order:1:paid",
                "--payload",
                r#"{"amount": 12}"#,
                "--server",
                &server.url,
            ],
            &[("IDFLOW_TOKEN", &token)],
        );
        assert_eq!(
            said.trim(),
            format!("delivered to step `paid` of run {run_id}")
        );
    });
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(end["outputs"]["amount"], 12);

    // Into the store the server works on, from another process.
    let data_arg = data.to_str().unwrap();
    let run_id = start(
        &server,
        &token,
        &json!({"workflow": "awaiting", "inputs": {"order": "2"}}),
    );
    let end = parked_then_ended(&server, &token, &run_id, || {
        let said = send(
            &[
                "order:2:paid",
                "--payload",
                r#"{"amount": 7}"#,
                "--data",
                data_arg,
            ],
            &[],
        );
        assert!(said.starts_with("delivered to step `paid`"), "{said}");
    });
    assert_eq!(end["outputs"]["amount"], 7, "{end}");

    // Sent before any run waits: kept, received by the first that does;
    // sent again with its idempotency key: ignored.
    let early = [
        "order:3:paid",
        "--payload",
        r#"{"amount": 3}"#,
        "--idempotency-key",
        "pay-3",
    ];
    let said = send(&[&early[..], &["--data", data_arg]].concat(), &[]);
    assert!(
        said.starts_with("kept: no run waits for `order:3:paid` yet"),
        "{said}"
    );
    let said = send(&[&early[..], &["--data", data_arg]].concat(), &[]);
    assert!(said.starts_with("ignored:"), "{said}");
    let run_id = start(
        &server,
        &token,
        &json!({"workflow": "awaiting", "inputs": {"order": "3"}}),
    );
    let all = events(&server, &token, &run_id, |name, _| name == "end");
    assert_eq!(all.last().unwrap().1["outputs"]["amount"], 3);
}
