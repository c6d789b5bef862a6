//! Prometheus metrics at `/metrics`, on a listener of their own (`METRICS_ADDR`, default
//! `127.0.0.1:9464`): the scrape endpoint is meant for the monitoring network, never the
//! public one. Every long-running role serves it (`up`, `serve`, `relay`, `project`, `notify`)
//! and `rebuild` while it runs. What is recorded is listed in the README (Metrics).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Buckets of every `*_seconds` histogram: 1 ms to 10 s.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets of the appends-per-group histogram.
const GROUP: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the recorder and serves `/metrics` on `addr` until `shutdown`; prints the URL on
/// stdout (`commerce: metrics on ...`). `None` (an empty `METRICS_ADDR`) records nothing. A
/// port already taken (another role on the same host) is logged, and the process runs on
/// without an endpoint.
pub async fn start(addr: Option<SocketAddr>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Some(addr) = addr else {
        return Ok(());
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "metrics endpoint not started (METRICS_ADDR)");
            return Ok(());
        }
    };
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)
        .context("metric buckets")?
        .set_buckets_for_metric(Matcher::Full("commerce_append_group_size".into()), &GROUP)
        .context("metric buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    metrics::gauge!("commerce_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let upkeep = handle.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => upkeep.run_upkeep(),
                () = stop.cancelled() => return,
            }
        }
    });
    let router = axum::Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }
        }),
    );
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "metrics endpoint listening");
    crate::announce(&format!("metrics on http://{bound}/metrics"));
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok(())
}
