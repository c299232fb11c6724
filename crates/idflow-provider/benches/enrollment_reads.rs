//! Requests per second of `GET /v1/enrollments/{id}` on loopback, measured
//! with `wrk -t2 -c64 -d10s` (installed by `scripts/setup`), beside a
//! baseline measured in the same run: a bare axum handler on the same
//! runtime that answers the same JSON bytes with no key check and no
//! database. Prints one JSON object: both figures (requests/s, latency p50,
//! p90, p99) and their ratio. Target (issue 5): above 10,000 requests/s on
//! the 2-core machine.
//!
//! `cargo bench -p idflow-provider --bench enrollment_reads`. Needs the face
//! models (`scripts/setup`): the provider loads them at start.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use idflow_provider::{API_KEY_HEADER, ProviderConfig, create_client, start_embedded};
use serde_json::{Value, json};

const WRK: &str = "wrk";
const THREADS: u32 = 2;
const CONNECTIONS: u32 = 64;
const DURATION: Duration = Duration::from_secs(10);
const TARGET_REQUESTS_PER_SECOND: f64 = 10_000.0;

/// Makes wrk print its summary as one JSON line after a marker.
const REPORT_SCRIPT: &str = r#"
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK_JSON {\"requests\":%d,\"duration_us\":%d,\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d},\"latency_us\":{\"p50\":%d,\"p90\":%d,\"p99\":%d,\"max\":%d,\"mean\":%.1f}}\n",
    summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"#;

fn main() {
    // `cargo bench` passes `--bench`; a test run passes nothing: stay quick then.
    if !std::env::args().any(|argument| argument == "--bench") {
        return;
    }
    let wrk_found = Command::new(WRK)
        .arg("--version")
        .output()
        .is_ok_and(|output| !output.stdout.is_empty() || !output.stderr.is_empty());
    assert!(wrk_found, "`wrk` is not installed; run `scripts/setup`");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime.block_on(measure());
    println!("{report}");
}

async fn measure() -> Value {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let key = create_client(dir.path(), "bench")
        .await
        .expect("client created");
    let mut config = ProviderConfig::new(dir.path(), idflow_vision::assets::models_dir());
    config.workers = 1;
    let provider = start_embedded(config)
        .await
        .unwrap_or_else(|error| panic!("the provider cannot start: {error}"));
    let base = provider
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let http = reqwest::Client::new();
    let enrollment_url = enroll(&http, &provider, &base, &key).await;
    let body = http
        .get(&enrollment_url)
        .header(API_KEY_HEADER, &key)
        .send()
        .await
        .expect("enrollment read")
        .bytes()
        .await
        .expect("enrollment body");
    let (baseline_url, baseline_server) = baseline(body.to_vec()).await;

    let script = dir.path().join("report.lua");
    std::fs::write(&script, REPORT_SCRIPT).expect("wrk script written");
    let baseline_figures = wrk(&script, &baseline_url, None).await;
    let provider_figures = wrk(&script, &enrollment_url, Some(&key)).await;
    baseline_server.abort();
    provider.shutdown().await.expect("provider stops");

    let provider_rps = provider_figures["requests_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let baseline_rps = baseline_figures["requests_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    json!({
        "benchmark": "GET /v1/enrollments/{id} on loopback",
        "wrk": format!("-t{THREADS} -c{CONNECTIONS} -d{}s", DURATION.as_secs()),
        "body_bytes": body.len(),
        "cores": std::thread::available_parallelism().map_or(1, usize::from),
        "provider": provider_figures,
        "baseline": {"what": "bare axum handler, same runtime, same JSON bytes", "figures": baseline_figures},
        "ratio_to_baseline": (provider_rps / baseline_rps * 1000.0).round() / 1000.0,
        "target_requests_per_second": TARGET_REQUESTS_PER_SECOND,
        "meets_target": provider_rps > TARGET_REQUESTS_PER_SECOND,
    })
}

/// Creates a face-recognition enrollment, uploads a real photo, waits for
/// its processing, and returns the record's URL.
async fn enroll(
    http: &reqwest::Client,
    provider: &idflow_provider::EmbeddedProvider,
    base: &str,
    key: &str,
) -> String {
    let created: Value = http
        .post(format!("{base}/v1/enrollments"))
        .header(API_KEY_HEADER, key)
        .form(&[
            ("type", "face-recognition"),
            ("user_authorized", "true"),
            ("account_id", "bench"),
        ])
        .send()
        .await
        .expect("enrollment created")
        .json()
        .await
        .expect("enrollment JSON");
    let id = created["enrollment_id"].as_str().expect("an enrollment id");
    let link = created["file_upload_link"]
        .as_str()
        .expect("an upload link");
    let photo = idflow_vision::assets::photo("obama.jpg").unwrap_or_else(|error| panic!("{error}"));
    let mut processed = provider.subscribe_processed();
    let uploaded = http
        .put(link)
        .header(CONTENT_TYPE.as_str(), "image/jpeg")
        .body(photo)
        .send()
        .await
        .expect("photo uploaded");
    assert!(
        uploaded.status().is_success(),
        "upload refused: {}",
        uploaded.status()
    );
    loop {
        let event = processed.recv().await.expect("processing notifications");
        if event.id == id {
            assert_eq!(event.status.as_str(), "success", "{event:?}");
            break;
        }
    }
    format!("{base}/v1/enrollments/{id}")
}

/// The baseline: a bare axum handler answering `body` as JSON.
async fn baseline(body: Vec<u8>) -> (String, tokio::task::JoinHandle<()>) {
    let body = axum::body::Bytes::from(body);
    let app = axum::Router::new().route(
        "/v1/enrollments/{id}",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("baseline bound");
    let url = format!(
        "http://{}/v1/enrollments/ENRbaseline",
        listener.local_addr().expect("baseline address")
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("baseline serves");
    });
    (url, server)
}

/// Runs wrk against `url` and returns its figures.
async fn wrk(script: &Path, url: &str, key: Option<&str>) -> Value {
    let mut command = Command::new(WRK);
    command
        .arg(format!("-t{THREADS}"))
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{}s", DURATION.as_secs()))
        .arg("-s")
        .arg(script);
    if let Some(key) = key {
        command.arg("-H").arg(format!("{API_KEY_HEADER}: {key}"));
    }
    command.arg(url);
    // wrk takes the whole run; the async runtime keeps serving meanwhile.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("wrk task")
        .expect("wrk runs");
    assert!(
        output.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("WRK_JSON "))
        .unwrap_or_else(|| panic!("no summary in wrk's output: {stdout}"));
    let summary: Value = serde_json::from_str(line).expect("wrk summary JSON");
    let errors: u64 = summary["errors"]
        .as_object()
        .map_or(0, |errors| errors.values().filter_map(Value::as_u64).sum());
    assert_eq!(
        errors, 0,
        "wrk saw errors (non-2xx answers or socket errors): {summary}"
    );
    let requests = summary["requests"].as_f64().unwrap_or(0.0);
    let seconds = summary["duration_us"].as_f64().unwrap_or(1.0) / 1e6;
    let millis = |name: &str| summary["latency_us"][name].as_f64().unwrap_or(0.0) / 1000.0;
    json!({
        "requests": summary["requests"],
        "requests_per_second": (requests / seconds).round(),
        "latency_ms": {
            "p50": millis("p50"),
            "p90": millis("p90"),
            "p99": millis("p99"),
            "max": millis("max"),
        },
    })
}
