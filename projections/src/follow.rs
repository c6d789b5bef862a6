//! Feeding projections straight from the event store's global log (no broker).

use std::sync::Arc;
use std::time::Duration;

use events::EventStore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::projector::Projector;

/// Checkpoint name of the embedded feed.
pub const LOG_CHECKPOINT: &str = "projections";

/// Follows the log from the projector's checkpoint until `shutdown` fires, woken by each
/// commit where the store can say so (PostgreSQL), polling every `poll_interval` where it
/// cannot. Each batch and its
/// checkpoint commit together, so a crash anywhere re-reads at most one uncommitted batch,
/// and the de-duplication state makes re-reading harmless.
pub async fn follow_log(
    store: Arc<dyn EventStore>,
    projector: Projector,
    batch_size: usize,
    poll_interval: Duration,
    shutdown: CancellationToken,
) {
    let mut position = loop {
        match projector.checkpoint(LOG_CHECKPOINT).await {
            Ok(p) => break p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read projection checkpoint; retrying");
                if sleep_or_stop(Duration::from_secs(1), &shutdown).await {
                    return;
                }
            }
        }
    };
    // Woken by the commit where the store can push it; `poll_interval` otherwise.
    let mut appended = store.appended();
    tracing::info!(
        position,
        push = appended.is_some(),
        "projections following the event store log"
    );
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        let batch = match store.read_all(position, batch_size).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the event log; retrying");
                if sleep_or_stop(backoff, &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if batch.is_empty() {
            projector.record_caught_up();
            tokio::select! {
                () = events::wait_for_appends(appended.as_mut(), poll_interval) => {}
                () = shutdown.cancelled() => return,
            }
            continue;
        }
        let last = batch.last().map_or(position, |e| e.global_position);
        let span = tracing::info_span!(
            "projection_batch",
            from = position,
            to = last,
            events = batch.len()
        );
        events::trace::link_events(&span, &batch);
        match projector
            .apply_batch(&batch, Some(LOG_CHECKPOINT))
            .instrument(span)
            .await
        {
            Ok(_) => {
                position = last;
                backoff = Duration::from_millis(100);
                if let Ok(head) = store.head_position().await {
                    projector.record_lag_events(head - position);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, position, "projection batch failed; retrying");
                if sleep_or_stop(backoff, &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Sleeps; true when shutdown fired meanwhile.
async fn sleep_or_stop(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => shutdown.is_cancelled(),
        _ = shutdown.cancelled() => true,
    }
}
