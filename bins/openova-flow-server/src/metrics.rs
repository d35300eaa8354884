//! Prometheus metrics: engine totals read from the router at scrape time, plus the shell's own
//! counters (messages accepted by this process's POSTs, rejections by reason, rate-limited
//! requests).

use std::fmt;

use flow_router::SharedRouter;

use crate::client::{Connections, Refused};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Limit {
    limit: &'static str,
}

/// Every metric the server exports, under the `openova_flow_` prefix.
pub(crate) struct Metrics {
    registry: Registry,
    rejected: Family<Reason, Counter>,
    rate_limited: Counter,
    accepted: Counter,
    connections_refused: Family<Limit, Counter>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new(router: SharedRouter, connections: Connections) -> Self {
        let mut registry = Registry::with_prefix("openova_flow");
        let rejected = Family::<Reason, Counter>::default();
        registry.register(
            "events_rejected",
            "Ingest requests refused, by reason (the JSON error code)",
            rejected.clone(),
        );
        let accepted = Counter::default();
        registry.register(
            "events_accepted",
            "Messages this process's POSTs stored (with redis: this replica's, not every replica's)",
            accepted.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited",
            "Ingest requests refused by the per-flow rate limit",
            rate_limited.clone(),
        );
        let connections_refused = Family::<Limit, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections answered 503 and closed, by the limit reached",
            connections_refused.clone(),
        );
        registry.register_collector(Box::new(EngineCollector {
            router,
            connections,
        }));
        Self {
            registry,
            rejected,
            rate_limited,
            accepted,
            connections_refused,
        }
    }

    /// Counts one refused connection.
    pub(crate) fn connection_refused(&self, refused: Refused) {
        let limit = match refused {
            Refused::Total(_) => "total",
            Refused::PerIp(_) => "per_ip",
        };
        self.connections_refused
            .get_or_create(&Limit { limit })
            .inc();
    }

    /// Counts one refused ingest request.
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&Reason { reason }).inc();
    }

    /// Counts one stored message.
    pub(crate) fn accepted(&self) {
        self.accepted.inc();
    }

    /// Counts one rate-limited request.
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding into a String is infallible");
        out
    }
}

/// Reads the engine's totals on each scrape.
struct EngineCollector {
    router: SharedRouter,
    connections: Connections,
}

impl fmt::Debug for EngineCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineCollector").finish_non_exhaustive()
    }
}

impl Collector for EngineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let stats = self.router.stats();
        let gauges = [
            (
                "flows",
                "Flows this process's engine holds (redis: the flows it serves streams of or wrote to, until idle)",
                stats.flows,
            ),
            ("subscribers", "Open SSE streams", stats.subscribers),
            (
                "waiters",
                "Open SSE streams waiting for a flow that has no state yet",
                stats.waiters,
            ),
            ("connections", "Open connections", self.connections.open()),
            (
                "memory_bytes",
                "Bytes every flow takes together, as the engine counts them (state, replay frames, fixed costs)",
                stats.memory_bytes,
            ),
            (
                "memory_limit_bytes",
                "The bound on memory_bytes (FLOW_SERVER_MAX_MEMORY_BYTES)",
                stats.memory_limit,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters = [
            (
                "frames_sent",
                "SSE frames handed to subscribers (initial, replayed and live)",
                stats.delivered,
            ),
            (
                "snapshot_resyncs",
                "Snapshot frames sent to streams that fell behind or could not resume",
                stats.resyncs,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let mut evicted = encoder.encode_descriptor(
            "flows_evicted",
            "Flows evicted: idle for FLOW_SERVER_IDLE_FLOW_TIMEOUT, or idle at FLOW_SERVER_MAX_MEMORY_BYTES to make room",
            None,
            MetricType::Counter,
        )?;
        for (reason, value) in [
            ("idle", stats.evicted_flows),
            ("memory", stats.memory_evictions),
        ] {
            ConstCounter::new(value).encode(evicted.encode_family(&Reason { reason })?)?;
        }
        Ok(())
    }
}
