//! Prometheus metrics (`/metrics`), registered once per process.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Which watcher an event came from.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum KindLabel {
    /// `helmreleases`
    HelmRelease,
    /// `helmcharts`
    HelmChart,
    /// `kustomizations`
    Kustomization,
}

/// The kind of watcher event.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
pub(crate) enum EventLabel {
    /// A (re)list started.
    Init,
    /// An object of a (re)list.
    InitApply,
    /// A (re)list finished.
    InitDone,
    /// An object changed.
    Apply,
    /// An object was deleted.
    Delete,
    /// The watcher reported an error (it retries with backoff).
    Error,
    /// The mapper refused the object.
    Unmappable,
    /// The cluster does not serve the kind (404 on list); its watcher ended.
    Unserved,
}

/// Labels of `watch_events`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EventLabels {
    /// Which watcher.
    pub(crate) kind: KindLabel,
    /// Which event.
    pub(crate) event: EventLabel,
}

/// Labels of `messages_sent`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TypeLabels {
    /// The message type (`upsert-nodes`, ...).
    pub(crate) r#type: String,
}

/// Labels of `messages_rejected` and `read_refusals`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabels {
    /// HTTP status code.
    pub(crate) status: u16,
}

/// Every metric of the adapter.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Watcher events seen.
    pub(crate) watch_events: Family<EventLabels, Counter>,
    /// Messages the server accepted.
    pub(crate) messages_sent: Family<TypeLabels, Counter>,
    /// Delivery attempts that will be retried.
    pub(crate) retries: Counter,
    /// Messages the server refused and that are not retried.
    pub(crate) messages_rejected: Family<StatusLabels, Counter>,
    /// Undelivered keys (nodes and relationships) in the outbox.
    pub(crate) queue_depth: Gauge,
    /// 1 while this process holds the Lease (or election is off), else 0.
    pub(crate) leader: Gauge,
    /// Times the server's state was found lost or stale and the region re-sent.
    pub(crate) heals: Counter,
    /// Probes of the server's head (`HEAD .../snapshot`).
    pub(crate) probes: Counter,
    /// Reads of the server's snapshot (`GET .../snapshot`).
    pub(crate) snapshot_reads: Counter,
    /// Reads the server refused (401/403): the read token is wrong.
    pub(crate) read_refusals: Family<StatusLabels, Counter>,
}

impl Metrics {
    /// Registers every metric under the `openova_flow_adapter` prefix.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("openova_flow_adapter");
        r.register(
            "watch_events",
            "Kubernetes watcher events seen",
            self.watch_events.clone(),
        );
        r.register(
            "messages_sent",
            "FlowMessages accepted by the server",
            self.messages_sent.clone(),
        );
        r.register(
            "delivery_retries",
            "Delivery attempts that failed and will be retried",
            self.retries.clone(),
        );
        r.register(
            "messages_rejected",
            "FlowMessages refused by the server and not retried",
            self.messages_rejected.clone(),
        );
        r.register(
            "queue_depth",
            "Undelivered nodes and relationships",
            self.queue_depth.clone(),
        );
        r.register(
            "leader",
            "1 while this process is the emitter of its cluster",
            self.leader.clone(),
        );
        r.register(
            "heals",
            "Times the region was re-sent to a server that lost or diverged from it",
            self.heals.clone(),
        );
        r.register(
            "probes",
            "Probes of the server's head (HEAD snapshot) to detect a restart",
            self.probes.clone(),
        );
        r.register(
            "snapshot_reads",
            "Reads of the server's whole snapshot (after a new epoch, and once at start)",
            self.snapshot_reads.clone(),
        );
        r.register(
            "read_refusals",
            "Reads the server refused (401/403); fix FLOW_SERVER_READ_TOKEN",
            self.read_refusals.clone(),
        );
    }
}
