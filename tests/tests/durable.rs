//! Durable runs through the real binary: runs recorded in the data
//! directory, listed, shown, cancelled and resumed, a store file that is
//! not a store, and the crash torture: 50 runs killed with `kill -9` at 10
//! random moments and resumed each time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use idflow_tests::{idflow, idflow_bin};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs `idflow ARGS` with its data directory in `data`.
fn idflow_in(data: &Path, args: &[&str]) -> std::process::Output {
    idflow()
        .args(args)
        .env("IDFLOW_DATA", data)
        .output()
        .expect("the idflow binary runs")
}

/// The output of a command that must have succeeded.
fn succeeded(output: std::process::Output) -> std::process::Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).expect("the test folder is writable");
    file.display().to_string()
}

const WAITING: &str = r"
name: waits
steps:
  hello:
    uses: core.log
    with: {message: hello}
  later:
    uses: core.sleep
    needs: [hello]
    with: {duration: 1h}
  cleanup:
    uses: core.log
    needs: [later]
    if: ${{ cancelled() }}
    with: {message: cleaning up}
";

#[test]
fn runs_are_recorded_listed_shown_cancelled_and_a_corrupt_store_is_left_alone() {
    let data = tempfile::tempdir().unwrap();
    let flow = write(data.path(), "waits.yaml", WAITING);
    let hello = write(
        data.path(),
        "hello.yaml",
        "name: hello\nsteps:\n  a:\n    uses: core.set\n    with: {x: 1}\noutputs:\n  x: ${{ steps.a.outputs.x }}\n",
    );

    // A run in the foreground is recorded; its id is logged at its start.
    let output = idflow_in(
        data.path(),
        &["run", &hello, "--json", "--log-format", "json"],
    );
    assert!(output.status.success());
    let result = stdout_json(&output);
    let run_id = result["run_id"].as_str().unwrap().to_owned();
    let logged = String::from_utf8_lossy(&output.stderr);
    assert!(
        logged.contains(&run_id) && logged.contains("run recorded"),
        "{logged}"
    );
    let shown = idflow_in(data.path(), &["runs", "show", &run_id, "--json"]);
    assert_eq!(
        stdout_json(&shown),
        result,
        "show gives the same JSON as run --json"
    );

    // A detached run waits for a worker; `--ephemeral` records nothing.
    let detached = idflow_in(data.path(), &["run", &flow, "--detach"]);
    assert!(detached.status.success());
    let waiting_id = String::from_utf8(detached.stdout)
        .unwrap()
        .trim()
        .to_owned();
    idflow()
        .args(["run", &hello, "--ephemeral"])
        .env("IDFLOW_DATA", data.path())
        .assert()
        .success();
    let listed = idflow_in(data.path(), &["runs", "list", "--json"]);
    let listed = stdout_json(&listed);
    let ids: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["run_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [waiting_id.clone(), run_id.clone()],
        "newest first, the ephemeral run absent"
    );
    assert_eq!(listed[0]["status"], "pending");
    let pending = idflow_in(
        data.path(),
        &["runs", "list", "--status", "pending", "--json"],
    );
    assert_eq!(stdout_json(&pending).as_array().unwrap().len(), 1);
    let shown = idflow_in(data.path(), &["runs", "show", &waiting_id, "--json"]);
    let shown = stdout_json(&shown);
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["finished_at"], Value::Null);

    // Cancelling a run nobody executes runs its cleanup here.
    succeeded(idflow_in(data.path(), &["runs", "cancel", &waiting_id]));
    let shown = idflow_in(data.path(), &["runs", "show", &waiting_id, "--json"]);
    let shown = stdout_json(&shown);
    assert_eq!(shown["status"], "cancelled");
    assert_eq!(shown["steps"]["cleanup"]["status"], "succeeded");
    assert_eq!(shown["steps"]["later"]["status"], "cancelled");

    // Pruning with the default retention keeps these recent runs.
    let pruned = succeeded(idflow_in(data.path(), &["runs", "prune"]));
    assert_eq!(
        String::from_utf8_lossy(&pruned.stdout).trim(),
        "pruned 0 finished runs"
    );
    idflow()
        .args(["runs", "prune", "--older-than", "0s"])
        .env("IDFLOW_DATA", data.path())
        .assert()
        .success()
        .stdout("pruned 2 finished runs\n");

    // Unknown runs and a store file that is not a store: exit 2, file kept.
    idflow()
        .args(["runs", "show", "no-such-run"])
        .env("IDFLOW_DATA", data.path())
        .assert()
        .code(2);
    let corrupt = tempfile::tempdir().unwrap();
    let file = corrupt.path().join("runs.sqlite3");
    std::fs::write(&file, b"not a database, a photo or something else entirely").unwrap();
    let output = idflow_in(corrupt.path(), &["run", &hello]);
    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("not an idflow run store") && error.contains("left untouched"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"not a database, a photo or something else entirely"
    );
}

/// The counter server of the torture: every `/work/*` call is answered 503
/// the first time its `Idempotency-Key` is seen (so the step retries), then
/// with a value that depends on the request only; `/status/<run>` says
/// `ready` from its third call on. Every answer takes 120 ms.
#[derive(Clone, Default)]
struct Counter {
    /// Every request: (path, idempotency key, body).
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Respond for Counter {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let key = request
            .headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let mut seen = self.seen.lock().expect("no test thread panicked");
        let before = seen
            .iter()
            .filter(|(p, k, _)| *p == path && *k == key)
            .count();
        let calls_to_path = seen.iter().filter(|(p, _, _)| *p == path).count();
        seen.push((path.clone(), key, body.clone()));
        // Slow answers, so that kills often land while calls are in flight.
        let slow = Duration::from_millis(120);
        if path.starts_with("/status/") {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"ready": calls_to_path >= 2}))
                .set_delay(slow);
        }
        if before == 0 {
            return ResponseTemplate::new(503).set_delay(slow);
        }
        let n: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let n = n["n"].as_i64().unwrap_or(-1);
        let weight = if path.ends_with("left") { 10 } else { 1000 };
        ResponseTemplate::new(200)
            .set_body_json(json!({"value": n * weight}))
            .set_delay(slow)
    }
}

const TORTURE: &str = r"
name: torture
inputs:
  base: {type: string}
  n: {type: number}
steps:
  start:
    uses: core.http
    with: {method: POST, url: '${{ inputs.base }}/work/start', json: {n: '${{ inputs.n }}'}, idempotency_key: true}
    retry: {attempts: 8, backoff: fixed, initial: 20ms}
  left:
    uses: core.http
    needs: [start]
    with: {method: POST, url: '${{ inputs.base }}/work/left', json: {n: '${{ inputs.n }}'}, idempotency_key: true}
    retry: {attempts: 8, backoff: fixed, initial: 20ms}
  right:
    uses: core.http
    needs: [start]
    with: {method: POST, url: '${{ inputs.base }}/work/right', json: {n: '${{ inputs.n }}'}, idempotency_key: true}
    retry: {attempts: 8, backoff: fixed, initial: 20ms}
  ready:
    uses: core.http
    needs: [left, right]
    with: {url: '${{ inputs.base }}/status/${{ run.id }}', idempotency_key: true}
    until: ${{ outputs.body.ready }}
    poll: {interval: 300ms, timeout: 10m}
    retry: {attempts: 8, backoff: fixed, initial: 20ms}
  total:
    uses: core.set
    needs: [ready]
    with: {sum: '${{ steps.left.outputs.body.value + steps.right.outputs.body.value }}'}
outputs:
  sum: ${{ steps.total.outputs.sum }}
";

/// What a run did, as the torture compares it with an uncrashed run.
fn results_of(run: &Value) -> Value {
    let steps: BTreeMap<_, _> = run["steps"]
        .as_object()
        .expect("a run result has steps")
        .iter()
        .map(|(id, step)| {
            let outputs = match id.as_str() {
                "ready" => step["outputs"]["body"].clone(),
                "total" => step["outputs"].clone(),
                _ => json!({"status": step["outputs"]["status"], "body": step["outputs"]["body"]}),
            };
            (
                id.clone(),
                json!({"status": step["status"], "outputs": outputs}),
            )
        })
        .collect();
    json!({"status": run["status"], "outputs": run["outputs"], "steps": steps})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_runs_killed_ten_times_end_as_if_never_killed() {
    let server = MockServer::start().await;
    let counter = Counter::default();
    Mock::given(method("POST"))
        .and(path_regex("^/work/"))
        .respond_with(counter.clone())
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/status/"))
        .respond_with(counter.clone())
        .mount(&server)
        .await;
    let base = server.uri();
    let data = tempfile::tempdir().unwrap();
    let flow = write(data.path(), "torture.yaml", TORTURE);

    // The baseline: one run, never killed.
    let clean = tempfile::tempdir().unwrap();
    let output = succeeded(idflow_in(
        clean.path(),
        &[
            "run",
            &flow,
            "--json",
            "-i",
            &format!("base={base}"),
            "-i",
            "n=7",
        ],
    ));
    let baseline = results_of(&stdout_json(&output));
    assert_eq!(baseline["outputs"]["sum"], json!(7 * 10 + 7 * 1000));

    // 50 runs recorded for a worker.
    let mut run_ids = Vec::new();
    for _ in 0..50 {
        let output = succeeded(idflow_in(
            data.path(),
            &[
                "run",
                &flow,
                "--detach",
                "-i",
                &format!("base={base}"),
                "-i",
                "n=7",
            ],
        ));
        run_ids.push(String::from_utf8(output.stdout).unwrap().trim().to_owned());
    }

    // A worker killed with SIGKILL at 10 random moments, started again
    // each time; then left to finish.
    let mut moments = Vec::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..10 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(150 + seed % 900);
        moments.push(after);
        let mut worker = Command::new(idflow_bin())
            .args(["runs", "resume"])
            .env("IDFLOW_DATA", data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The point of the test: the kill lands at an arbitrary moment.
        tokio::time::sleep(after).await;
        let _ = worker.kill();
        worker.wait().unwrap();
    }
    let finished = tokio::task::spawn_blocking({
        let data = data.path().to_path_buf();
        move || {
            Command::new(idflow_bin())
                .args(["runs", "resume"])
                .env("IDFLOW_DATA", &data)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        finished.status.success(),
        "{}",
        String::from_utf8_lossy(&finished.stderr)
    );

    for run_id in &run_ids {
        let output = idflow_in(data.path(), &["runs", "show", run_id, "--json"]);
        let run = stdout_json(&output);
        assert_eq!(results_of(&run), baseline, "run {run_id}: {run:#}");
    }

    // Every call reached the server; the repeats of one call all carried
    // its one key: per run and POST step, one key (the first request of it
    // answered 503 on purpose, then the retry, then repeats after kills).
    let seen = counter.seen.lock().unwrap().clone();
    let mut keys: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut requests_per_key: HashMap<String, usize> = HashMap::new();
    for (path, key, _) in &seen {
        assert!(key.starts_with("idf-"), "a request without its key: {path}");
        *requests_per_key.entry(key.clone()).or_default() += 1;
        if path.starts_with("/work/") {
            keys.entry((path.clone(), key.clone()))
                .or_default()
                .push(key.clone());
        }
    }
    let post_keys: std::collections::HashSet<_> = keys.keys().map(|(_, key)| key.clone()).collect();
    assert_eq!(
        post_keys.len(),
        3 * 51,
        "one key per run and POST step (50 runs and the baseline)"
    );
    let post_requests: usize = post_keys.iter().map(|key| requests_per_key[key]).sum();
    let repeated_by_kills = post_requests - 2 * post_keys.len();
    let polls: usize = seen
        .iter()
        .filter(|(path, _, _)| path.starts_with("/status/"))
        .count();
    eprintln!(
        "torture: kills after {moments:?}; {} requests in all; POST calls: {} keys, {post_requests} requests \
         ({} planned 503 retries, {repeated_by_kills} repeated because of kills); {polls} status polls",
        seen.len(),
        post_keys.len(),
        post_keys.len()
    );
    for key in &post_keys {
        assert!(
            requests_per_key[key] >= 2,
            "every POST call was retried after its 503"
        );
    }
}

#[test]
fn a_recorded_run_becomes_a_test_that_fails_once_the_workflow_changes() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write(
        dir.path(),
        "flow.yaml",
        "name: flow\ninputs:\n  n: {type: number, default: 2}\nsteps:\n  a:\n    uses: core.set\n    with: {x: '${{ inputs.n }}'}\n  big:\n    uses: core.log\n    needs: [a]\n    if: ${{ steps.a.outputs.x > 1 }}\n    with: {message: big}\noutputs:\n  x: ${{ steps.a.outputs.x }}\n",
    );
    let data = dir.path().join("data");
    let run = succeeded(idflow_in(&data, &["run", &flow, "--json"]));
    let run_id = stdout_json(&run)["run_id"].as_str().unwrap().to_owned();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let test = dir
        .path()
        .join("tests/flow.test.yaml")
        .display()
        .to_string();
    succeeded(idflow_in(
        &data,
        &["runs", "export", &run_id, "--test", &test],
    ));
    let written = std::fs::read_to_string(&test).unwrap();
    assert!(written.starts_with("workflow: ../flow.yaml\n"), "{written}");
    succeeded(idflow_in(&data, &["test", &test]));
    // The outcome logic changes: the recorded run no longer matches.
    let changed = std::fs::read_to_string(&flow)
        .unwrap()
        .replace("x > 1", "x > 5");
    std::fs::write(&flow, changed).unwrap();
    let output = idflow_in(&data, &["test", &test]);
    assert_eq!(output.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("big") && shown.contains("0 passed, 1 failed"),
        "{shown}"
    );
    // Only a finished run can become a test.
    let unknown = idflow_in(&data, &["runs", "export", "no-such-run", "--test", &test]);
    assert_eq!(unknown.status.code(), Some(2));
}
