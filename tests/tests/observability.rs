//! What `idflow serve` tells operators, through the real binary: the
//! Prometheus metrics at `/metrics` after runs of known shape, with exact
//! counts; and the OpenTelemetry spans of a run (one `run`, one `attempt`
//! per attempt, in the trace its result names), received by an OTLP/HTTP
//! collector stand-in on loopback, both on the batch interval and when the
//! server stops.

#![allow(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

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

/// A span as the collector received it, with its service's name.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

/// An OTLP/HTTP collector stand-in on a free loopback port: accepts
/// `POST /v1/traces` with protobuf bodies and hands every span to the test.
struct Collector {
    url: String,
    spans: mpsc::Receiver<Received>,
    _runtime: tokio::runtime::Runtime,
}

impl Collector {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (sender, spans) = mpsc::channel();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(sender);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            spans,
            _runtime: runtime,
        }
    }

    /// The spans received so far.
    fn received(&self) -> Vec<Received> {
        self.spans.try_iter().collect()
    }

    /// Spans as they arrive, until `enough` says so (a minute at most).
    fn until(&self, enough: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let mut spans = Vec::new();
        while !enough(&spans) {
            match self.spans.recv_timeout(Duration::from_mins(1)) {
                Ok(span) => spans.push(span),
                Err(error) => panic!("no more spans ({error}); received: {spans:#?}"),
            }
        }
        spans
    }
}

async fn receive(
    State(spans): State<mpsc::Sender<Received>>,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .as_ref()
            .and_then(|resource| text_attribute(&resource.attributes, "service.name"))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                let _ = spans.send(Received {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        answer,
    )
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn text_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key)? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        _ => None,
    }
}

/// Whether `spans` hold the run span and both attempt spans of a greeting.
fn whole_run(spans: &[Received]) -> bool {
    let named = |name: &str| spans.iter().filter(|s| s.span.name == name).count();
    named("run") >= 1 && named("attempt") >= 2
}

/// Checks the spans of one greeting run against its result.
fn check_run_spans(spans: &[Received], result: &serde_json::Value) {
    let run_id = result["run_id"].as_str().unwrap();
    let trace_id = result["trace_id"]
        .as_str()
        .expect("the result names its trace");
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    assert_eq!(
        trace_id,
        run_id.replace('-', ""),
        "a run's trace id is its UUID"
    );
    let ours: Vec<&Received> = spans
        .iter()
        .filter(|s| hex(&s.span.trace_id) == trace_id)
        .collect();
    assert!(ours.iter().all(|s| s.service == "idflow"), "{ours:#?}");
    let runs: Vec<&Span> = ours
        .iter()
        .map(|s| &s.span)
        .filter(|s| s.name == "run")
        .collect();
    assert_eq!(runs.len(), 1, "one drive, one run span: {ours:#?}");
    let run = runs[0];
    assert_eq!(
        text_attribute(&run.attributes, "run_id").as_deref(),
        Some(run_id)
    );
    assert_eq!(
        text_attribute(&run.attributes, "workflow").as_deref(),
        Some("greeting")
    );
    let mut attempts: Vec<(String, &Span)> = ours
        .iter()
        .map(|s| &s.span)
        .filter(|s| s.name == "attempt")
        .map(|s| (text_attribute(&s.attributes, "step").unwrap(), s))
        .collect();
    attempts.sort_by(|a, b| a.0.cmp(&b.0));
    let steps: Vec<&str> = attempts.iter().map(|(step, _)| step.as_str()).collect();
    assert_eq!(steps, ["hello", "tally"], "{ours:#?}");
    for (_, attempt) in &attempts {
        assert_eq!(
            attempt.parent_span_id, run.span_id,
            "an attempt is a child of its run"
        );
        assert!(attempt.start_time_unix_nano >= run.start_time_unix_nano);
        assert!(attempt.end_time_unix_nano <= run.end_time_unix_nano);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn traced_server(data: &Path, workflows: &Path, collector: &Collector, delay_ms: &str) -> Server {
    Server::start_with_env(
        data,
        workflows,
        &["--no-provider"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", delay_ms),
        ],
    )
}

#[test]
fn run_and_attempt_spans_reach_an_otlp_collector_on_the_batch_interval() {
    let collector = Collector::start();
    let data = tempfile::tempdir().unwrap();
    let workflows = workflows();
    let token = token(data.path(), "ops");
    let server = traced_server(data.path(), workflows.path(), &collector, "100");
    let result = run_to_end(&server, &token, "greeting");
    // The server is still up: the batch interval sent them.
    let spans = collector.until(whole_run);
    check_run_spans(&spans, &result);
    // The API shows the trace id too.
    let run: serde_json::Value = client()
        .get(format!(
            "{}/api/v1/runs/{}",
            server.url,
            result["run_id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(run["trace_id"], result["trace_id"]);
    assert!(server.terminate().success());
}

#[test]
fn spans_not_sent_yet_are_flushed_when_the_server_stops() {
    let collector = Collector::start();
    let data = tempfile::tempdir().unwrap();
    let workflows = workflows();
    let token = token(data.path(), "ops");
    // An hour between batches: only the stop can send them.
    let server = traced_server(data.path(), workflows.path(), &collector, "3600000");
    let result = run_to_end(&server, &token, "greeting");
    assert!(server.terminate().success());
    let spans = collector.received();
    assert!(whole_run(&spans), "{spans:#?}");
    check_run_spans(&spans, &result);
}

#[test]
fn without_an_otlp_endpoint_a_run_result_has_no_trace_id() {
    let data = tempfile::tempdir().unwrap();
    let workflows = workflows();
    let token = token(data.path(), "ops");
    let server = Server::start_with_env(
        data.path(),
        workflows.path(),
        &["--no-provider"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")],
    );
    let result = run_to_end(&server, &token, "greeting");
    assert_eq!(result["status"], "succeeded");
    assert!(result.get("trace_id").is_none(), "{result}");
}
