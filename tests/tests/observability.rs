//! What `idflow serve` tells operators, through the real binary: the
//! Prometheus metrics at `/metrics` after runs of known shape, with exact
//! counts.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::BTreeMap;
use std::path::Path;

use idflow_tests::server::{Server, client, events, start, token};
use serde_json::json;

const GREETING: &str = "
name: greeting
steps:
  hello: {uses: core.log, with: {message: hello}}
  tally: {uses: core.set, needs: [hello], with: {n: 1}}
";

const REFUSAL: &str = "
name: refusal
steps:
  refuse: {uses: core.fail, with: {message: refused}}
";

fn workflows() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting.yaml"), GREETING).unwrap();
    std::fs::write(dir.path().join("refusal.yaml"), REFUSAL).unwrap();
    dir
}

/// Starts a run through the API and follows it to its end; its result.
fn run_to_end(server: &Server, token: &str, workflow: &str) -> serde_json::Value {
    let run_id = start(server, token, &json!({"workflow": workflow}));
    let events = events(server, token, &run_id, |_, _| false);
    let (last, result) = events.last().unwrap();
    assert_eq!(last, "end", "{events:?}");
    result.clone()
}

/// The samples of a Prometheus text exposition: `name{labels sorted}` to
/// value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let key = match series.split_once('{') {
            Some((name, labels)) => {
                let mut labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
                labels.sort_unstable();
                format!("{name}{{{}}}", labels.join(","))
            }
            None => series.to_owned(),
        };
        samples.insert(key, value.parse().unwrap());
    }
    samples
}

fn scrape(server: &Server) -> String {
    let response = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200, "no token needed");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().unwrap()
}

fn serve(data: &Path, workflows: &Path) -> Server {
    Server::start(data, workflows, &["--no-provider"])
}

#[test]
fn metrics_count_the_runs_and_attempts_a_server_executed() {
    let data = tempfile::tempdir().unwrap();
    let workflows = workflows();
    let token = token(data.path(), "ops");
    let server = serve(data.path(), workflows.path());

    let mut run_ids = Vec::new();
    for workflow in ["greeting", "greeting", "refusal"] {
        let result = run_to_end(&server, &token, workflow);
        run_ids.push(result["run_id"].as_str().unwrap().to_owned());
    }
    let text = scrape(&server);
    let samples = samples(&text);
    let expected = [
        (
            r#"idflow_runs_started_total{via="api",workflow="greeting"}"#,
            2.0,
        ),
        (
            r#"idflow_runs_started_total{via="api",workflow="refusal"}"#,
            1.0,
        ),
        (
            r#"idflow_runs_finished_total{status="succeeded",workflow="greeting"}"#,
            2.0,
        ),
        (
            r#"idflow_runs_finished_total{status="failed",workflow="refusal"}"#,
            1.0,
        ),
        (
            r#"idflow_attempt_duration_seconds_count{outcome="succeeded",step_type="core.log"}"#,
            2.0,
        ),
        (
            r#"idflow_attempt_duration_seconds_count{outcome="succeeded",step_type="core.set"}"#,
            2.0,
        ),
        (
            r#"idflow_attempt_duration_seconds_count{outcome="failed",step_type="core.fail"}"#,
            1.0,
        ),
        // Every attempt of core.log took less than 5 minutes.
        (
            r#"idflow_attempt_duration_seconds_bucket{le="300",outcome="succeeded",step_type="core.log"}"#,
            2.0,
        ),
        (
            r#"idflow_attempt_duration_seconds_bucket{le="+Inf",outcome="succeeded",step_type="core.log"}"#,
            2.0,
        ),
        ("idflow_due_runs", 0.0),
        ("idflow_due_oldest_age_seconds", 0.0),
    ];
    for (series, value) in expected {
        assert_eq!(samples.get(series), Some(&value), "{series} in:\n{text}");
    }
    // Nothing else (3 counts, 3 sums, 2 of each counter, 2 gauges): no
    // other workflow, status or step type.
    let ours: Vec<&String> = samples
        .keys()
        .filter(|key| key.starts_with("idflow_") && !key.contains("_bucket{"))
        .collect();
    assert_eq!(ours.len(), 12, "{ours:#?}");
    assert!(
        text.contains("# TYPE idflow_attempt_duration_seconds histogram"),
        "{text}"
    );
    // Bounded labels: no run id is ever a label.
    for run_id in &run_ids {
        assert!(!text.contains(run_id.as_str()), "{text}");
    }
}
