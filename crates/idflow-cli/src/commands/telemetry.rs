//! What `idflow serve` reports about itself besides its logs: the
//! Prometheus recorder behind `/metrics` (installed here, in the binary:
//! the libraries only call the `metrics` macros).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use idflow_engine::run::metrics::{ATTEMPT_DURATION, ATTEMPT_DURATION_BUCKETS, describe};
use idflow_server::RenderMetrics;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

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
