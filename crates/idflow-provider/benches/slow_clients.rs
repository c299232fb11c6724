//! Slow clients against the provider (issue 17): opens N connections that
//! send part of a request head and never the rest (default 1,000), then
//! measures the time to serve a normal request (`GET /assets/verify.js`,
//! 20 times) beside the same request with no such connection (the
//! baseline, measured in the same run), and the time until the server has
//! closed every half-open connection. Prints one JSON object. Targets: the
//! normal request within 1 s, every half-open connection closed within 15 s.
//!
//! `cargo bench -p idflow-provider --bench slow_clients` runs the provider
//! in-process (it loads the face models: `scripts/setup`). With
//! `IDFLOW_BENCH_URL=http://HOST:PORT` it measures a provider already
//! running there instead (`idflow serve`, of any version: how the "before"
//! figures were taken); `IDFLOW_BENCH_HALF_OPEN` sets N.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use idflow_provider::{ProviderConfig, start_embedded};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const SAMPLES: usize = 20;
/// How long to wait for a normal answer (sampling stops at the first one
/// not served), or for the server to close the half-open connections.
const PATIENCE: Duration = Duration::from_secs(30);

fn main() {
    // `cargo bench` passes `--bench`; a test run passes nothing: stay quick then.
    if !std::env::args().any(|argument| argument == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime.block_on(measure());
    println!("{report}");
}

async fn measure() -> Value {
    let half_open: usize = std::env::var("IDFLOW_BENCH_HALF_OPEN")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("temporary data directory");
    let (addr, provider) = if let Ok(url) = std::env::var("IDFLOW_BENCH_URL") {
        let url = url::Url::parse(&url).expect("IDFLOW_BENCH_URL is a URL");
        let addr = url
            .socket_addrs(|| None)
            .expect("IDFLOW_BENCH_URL names an address")[0];
        (addr, None)
    } else {
        let config = ProviderConfig::new(dir.path(), idflow_vision::assets::models_dir());
        let provider = start_embedded(config).await.expect("provider starts");
        (provider.addr(), Some(provider))
    };

    let baseline = normal_requests(addr).await;
    let started = Instant::now();
    let mut streams = Vec::with_capacity(half_open);
    for _ in 0..half_open {
        // Out of file descriptors here: measure with what is open.
        let Ok(stream) = half_open_connection(addr).await else {
            break;
        };
        streams.push(stream);
    }
    let opened = streams.len();
    let opened_in = started.elapsed();
    let with_half_open = normal_requests(addr).await;
    let closes = futures::future::join_all(streams.into_iter().map(|stream| async move {
        tokio::time::timeout(PATIENCE, closed_by_server(stream))
            .await
            .ok()
            .map(|()| started.elapsed())
    }))
    .await;
    let closed: Vec<Duration> = closes.iter().flatten().copied().collect();
    let last_closed = closed.iter().max().copied();
    if let Some(provider) = provider {
        provider.shutdown().await.expect("provider stops");
    }
    json!({
        "half_open_connections": opened,
        "opened_in_ms": millis(opened_in),
        "normal_request_ms": {
            "baseline": summary(&baseline),
            "with_half_open_connections": summary(&with_half_open),
        },
        "half_open_closed_by_server": closed.len(),
        "all_closed_after_s": last_closed
            .filter(|_| closed.len() == opened)
            .map(|time| time.as_secs_f64()),
        "still_open_after_s": (closed.len() < opened).then_some(PATIENCE.as_secs()),
    })
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1_000.0
}

/// Median and maximum in ms; failures (no answer within the patience) counted.
fn summary(samples: &[Option<Duration>]) -> Value {
    let mut served: Vec<Duration> = samples.iter().flatten().copied().collect();
    served.sort();
    json!({
        "served": served.len(),
        "not_served_within_s": (served.len() < samples.len()).then_some(PATIENCE.as_secs()),
        "median": served.get(served.len() / 2).copied().map(millis),
        "max": served.last().copied().map(millis),
    })
}

async fn normal_requests(addr: SocketAddr) -> Vec<Option<Duration>> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let served = tokio::time::timeout(PATIENCE, normal_request(addr)).await;
        let served = matches!(served, Ok(Ok(true))).then(|| started.elapsed());
        samples.push(served);
        if served.is_none() {
            break;
        }
    }
    samples
}

/// One `GET /assets/verify.js` on a new connection; whether it got a 200.
async fn normal_request(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /assets/verify.js HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer.starts_with(b"HTTP/1.1 200 "))
}

async fn half_open_connection(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /v1/enrollments/ENR1 HTTP/1.1\r\nHost: bench\r\nTruora-API")
        .await?;
    Ok(stream)
}

async fn closed_by_server(mut stream: TcpStream) {
    let mut sink = Vec::new();
    // A reset is a close too.
    let _ = stream.read_to_end(&mut sink).await;
}
