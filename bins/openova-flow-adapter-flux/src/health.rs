//! `/healthz`, `/readyz` and `/metrics`, and the state they report.
//!
//! Readiness: a follower (waiting for the Lease) is ready; the leader is ready once its watchers
//! have listed everything, while deliveries have not been failing for longer than
//! `UNREADY_AFTER`, and while the server accepts its read token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// Shared by the pipeline (writes) and the health endpoints (read).
#[derive(Debug)]
pub(crate) struct Telemetry {
    /// The metrics.
    pub(crate) metrics: Metrics,
    registry: Registry,
    leader: AtomicBool,
    synced: AtomicBool,
    read_refused: AtomicBool,
    failing_since: Mutex<Option<Instant>>,
    unready_after: Duration,
}

/// Why `/readyz` answers 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unready {
    /// The leader's watchers have not listed everything yet.
    NotSynced,
    /// Deliveries have been failing for longer than the threshold.
    DeliveryFailing,
    /// The server refuses the read token: a restart of the server cannot be healed.
    ReadRefused,
}

impl Telemetry {
    /// Fresh state: not leader, not synced, no failure.
    pub(crate) fn new(unready_after: Duration) -> Self {
        let metrics = Metrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        Self {
            metrics,
            registry,
            leader: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            read_refused: AtomicBool::new(false),
            failing_since: Mutex::new(None),
            unready_after,
        }
    }

    /// This process became (or stopped being) the emitter.
    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::SeqCst);
        self.metrics.leader.set(i64::from(leader));
        if !leader {
            self.synced.store(false, Ordering::SeqCst);
            self.delivery_succeeded();
        }
    }

    /// Whether this process is the emitter.
    pub(crate) fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// Every watcher finished its first list.
    pub(crate) fn set_synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
    }

    /// Whether the server refuses the read token.
    pub(crate) fn set_read_refused(&self, refused: bool) {
        self.read_refused.store(refused, Ordering::SeqCst);
    }

    /// A delivery failed (and will be retried).
    pub(crate) fn delivery_failed(&self, now: Instant) {
        self.failing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(now);
    }

    /// A delivery succeeded.
    pub(crate) fn delivery_succeeded(&self) {
        *self
            .failing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// `Ok` when ready at `now`.
    pub(crate) fn readiness(&self, now: Instant) -> Result<(), Unready> {
        if !self.is_leader() {
            return Ok(());
        }
        if !self.synced.load(Ordering::SeqCst) {
            return Err(Unready::NotSynced);
        }
        if self.read_refused.load(Ordering::SeqCst) {
            return Err(Unready::ReadRefused);
        }
        let since = *self
            .failing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match since {
            Some(since) if now.saturating_duration_since(since) > self.unready_after => {
                Err(Unready::DeliveryFailing)
            }
            _ => Ok(()),
        }
    }

    fn encode_metrics(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding metrics into a String is infallible");
        out
    }
}

/// The health and metrics routes.
pub(crate) fn routes(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(telemetry)
}

async fn readyz(State(telemetry): State<Arc<Telemetry>>) -> impl IntoResponse {
    match telemetry.readiness(Instant::now()) {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(Unready::NotSynced) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: watch not synced\n",
        ),
        Err(Unready::DeliveryFailing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: deliveries failing\n",
        ),
        Err(Unready::ReadRefused) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the server refuses FLOW_SERVER_READ_TOKEN\n",
        ),
    }
}

async fn metrics(State(telemetry): State<Arc<Telemetry>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        telemetry.encode_metrics(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follower_is_ready_leader_needs_sync_and_working_delivery() {
        let telemetry = Telemetry::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(telemetry.readiness(t0), Ok(()));
        telemetry.set_leader(true);
        assert_eq!(telemetry.readiness(t0), Err(Unready::NotSynced));
        telemetry.set_synced();
        assert_eq!(telemetry.readiness(t0), Ok(()));
        telemetry.delivery_failed(t0);
        assert_eq!(telemetry.readiness(t0 + Duration::from_secs(30)), Ok(()));
        // A second failure does not move the start of the failing period.
        telemetry.delivery_failed(t0 + Duration::from_secs(30));
        assert_eq!(
            telemetry.readiness(t0 + Duration::from_secs(61)),
            Err(Unready::DeliveryFailing)
        );
        telemetry.delivery_succeeded();
        assert_eq!(telemetry.readiness(t0 + Duration::from_secs(61)), Ok(()));
        telemetry.set_read_refused(true);
        assert_eq!(telemetry.readiness(t0), Err(Unready::ReadRefused));
        telemetry.set_read_refused(false);
        assert_eq!(telemetry.readiness(t0), Ok(()));
    }

    #[test]
    fn metrics_are_exposed_with_prefix() {
        let telemetry = Telemetry::new(Duration::from_secs(60));
        telemetry.set_leader(true);
        let text = telemetry.encode_metrics();
        assert!(text.contains("openova_flow_adapter_leader 1"), "{text}");
        assert!(
            text.contains("openova_flow_adapter_queue_depth 0"),
            "{text}"
        );
    }
}
