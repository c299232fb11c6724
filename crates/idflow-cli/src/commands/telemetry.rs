//! What `idflow serve` reports about itself besides its logs, installed
//! here, in the binary (the libraries only call the `metrics` macros and
//! make `tracing` spans):
//! - the Prometheus recorder behind `/metrics`;
//! - OpenTelemetry traces over OTLP/HTTP (protobuf) when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set: the
//!   engine's `run` and `attempt` spans, exported by the SDK's batch
//!   thread (the standard `OTEL_*` variables tune it: `OTEL_BSP_SCHEDULE_DELAY`,
//!   `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, ...), flushed
//!   when the server stops.
//!
//! A run's trace is derived from its id ([`RunTraces`]): the trace id is
//! the run's UUID (a SHA-256 prefix for another id), so every drive of a
//! run (its start, and each resume after a park, a crash or a restart, in
//! whichever process) lands in one trace, and the id in the run's result
//! finds it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use idflow_engine::run::RunTracer;
use idflow_engine::run::metrics::{ATTEMPT_DURATION, ATTEMPT_DURATION_BUCKETS, describe};
use idflow_server::RenderMetrics;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use sha2::{Digest as _, Sha256};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Where traces go (OTLP/HTTP; `/v1/traces` is appended).
const ENV_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Where traces go, exactly.
const ENV_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The service name, when not `idflow`.
const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// The service name of the spans.
const SERVICE_NAME: &str = "idflow";

/// How often idle histograms are trimmed between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// Installs the process's Prometheus recorder (attempt durations as
/// histograms) and returns what renders it. Keeps it trimmed on the
/// current runtime.
pub(crate) fn install_metrics() -> anyhow::Result<RenderMetrics> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(ATTEMPT_DURATION.to_owned()),
            ATTEMPT_DURATION_BUCKETS,
        )
        .context("the attempt duration buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(Arc::new(move || handle.render()))
}

/// The trace exporter, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. Call outside the async
/// runtime (its HTTP client is a blocking one, used by the SDK's own
/// thread).
pub(crate) fn traces_from_env() -> anyhow::Result<Option<SdkTracerProvider>> {
    let set = |name| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    if !set(ENV_ENDPOINT) && !set(ENV_TRACES_ENDPOINT) {
        return Ok(None);
    }
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .with_context(|| format!("cannot export traces to {ENV_ENDPOINT}"))?;
    let mut resource = Resource::builder();
    if !set(ENV_SERVICE_NAME) {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build(),
    ))
}

/// Sends the spans not sent yet and stops the exporter.
pub(crate) fn flush_traces(provider: &SdkTracerProvider) {
    if let Err(error) = provider.shutdown() {
        tracing::warn!(%error, "the last spans could not be exported");
    }
}

/// Logs on stderr, filtered by `IDFLOW_LOG` (default `info`); with
/// `traces`, the engine's spans (runs and attempts) are exported too,
/// whatever `IDFLOW_LOG` says.
pub(crate) fn init_logging(traces: Option<&SdkTracerProvider>) {
    let filter = EnvFilter::try_from_env("IDFLOW_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let spans = traces.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(SERVICE_NAME))
            .with_filter(Targets::new().with_target("idflow_engine", LevelFilter::INFO))
    });
    // Another subscriber already set (never, in the binary) keeps its place.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init();
}

/// Places each run's spans in the trace its id names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunTraces;

impl RunTracer for RunTraces {
    fn trace_id(&self, run_id: &str) -> Option<String> {
        Some(trace_of(run_id).0.to_string())
    }

    fn attach(&self, run_id: &str, span: &tracing::Span) {
        let (trace_id, span_id) = trace_of(run_id);
        let run = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        // A span that is disabled (filtered out) has no trace to join.
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(run));
    }
}

/// A run's trace id (its UUID, else the first 16 bytes of the SHA-256 of
/// its id) and the span id of the run as the remote parent of each of its
/// drives (the next 8 bytes).
fn trace_of(run_id: &str) -> (TraceId, SpanId) {
    let digest: [u8; 32] = Sha256::digest(run_id.as_bytes()).into();
    let mut trace = [0; 16];
    match uuid::Uuid::parse_str(run_id) {
        Ok(uuid) => trace = uuid.into_bytes(),
        Err(_) => trace.copy_from_slice(&digest[..16]),
    }
    let mut span = [0; 8];
    span.copy_from_slice(&digest[16..24]);
    (TraceId::from_bytes(trace), SpanId::from_bytes(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_names_one_trace_and_a_uuid_is_its_own_trace_id() {
        let run_id = "0190f3c2-7a1b-7c3d-8e4f-0123456789ab";
        assert_eq!(
            RunTraces.trace_id(run_id).as_deref(),
            Some("0190f3c27a1b7c3d8e4f0123456789ab")
        );
        assert_eq!(trace_of(run_id), trace_of(run_id));
        let (other, span) = trace_of("nightly-7");
        assert_ne!(other, TraceId::INVALID);
        assert_ne!(span, SpanId::INVALID);
        assert_ne!(trace_of("nightly-7").0, trace_of("nightly-8").0);
    }
}
