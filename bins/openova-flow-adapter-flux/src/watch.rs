//! The watch task: kube-runtime watchers on HelmRelease and HelmChart (dynamic objects), fed to
//! the mapper's reconciler, flushed into the outbox every `EMIT_INTERVAL`; and healing.
//!
//! Raw watcher events are consumed (`Init`, `InitApply`, `InitDone`, `Apply`, `Delete`): an
//! object not re-listed between `Init` and `InitDone` was deleted while the watch was down, and
//! the reconciler turns that into a `delete-nodes`. No `applied_objects()` (loses deletes), no
//! generation predicate (drops status changes).
//!
//! Healing reads the server's snapshot (`GET .../snapshot`) after every complete (re)list, when
//! the delivery task saw a new epoch, and every `RESYNC_INTERVAL` (acting only if the epoch
//! changed or the flow is gone); the reconciler then sends what the server lacks and deletes
//! this region's nodes the server holds but the cluster no longer has. Never a `snapshot`.

use std::collections::BTreeSet;
use std::pin::pin;
use std::sync::Arc;

use flow_flux_mapper::{Event, Kind, Reconciler};
use futures::{Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::emit::{Emitter, ServerState};
use crate::metrics::{EventLabel, EventLabels, KindLabel};
use crate::pipeline::Shared;

/// Both kinds, in the order they are watched.
const KINDS: [Kind; 2] = [Kind::HelmRelease, Kind::HelmChart];

/// The watched resource of a kind.
fn resource(kind: Kind) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(kind.group(), kind.version(), kind.name()),
        kind.plural(),
    )
}

const fn kind_label(kind: Kind) -> KindLabel {
    match kind {
        Kind::HelmRelease => KindLabel::HelmRelease,
        Kind::HelmChart => KindLabel::HelmChart,
        Kind::Kustomization => KindLabel::Kustomization,
    }
}

/// The object as the mapper reads it, with `apiVersion` and `kind` filled in where the API
/// server left them out (list items may omit them).
fn to_value(object: &DynamicObject, resource: &ApiResource) -> Value {
    // A DynamicObject is JSON already; serialising it back cannot fail.
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version.clone()));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.kind.clone()));
    }
    value
}

type Watched = (Kind, Result<watcher::Event<DynamicObject>, watcher::Error>);

fn watch_kind(
    client: kube::Client,
    namespace: Option<&str>,
    kind: Kind,
) -> impl Stream<Item = Watched> + Send + use<> {
    let resource = resource(kind);
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .map(move |event| (kind, event))
}

/// The watch task.
pub(crate) struct Watch {
    client: kube::Client,
    config: Arc<Config>,
    shared: Arc<Shared>,
    emitter: Emitter,
    reconciler: Reconciler,
    /// Kinds whose first list completed.
    synced: BTreeSet<Kind>,
    /// Kinds between `Init` and `InitDone`.
    listing: BTreeSet<Kind>,
    /// A heal that failed (server unreachable) and must be retried.
    heal_owed: bool,
}

impl Watch {
    /// A watch task that has seen nothing yet.
    pub(crate) fn new(
        client: kube::Client,
        config: Arc<Config>,
        shared: Arc<Shared>,
        emitter: Emitter,
    ) -> Self {
        let reconciler = Reconciler::new(config.mapper.clone());
        Self {
            client,
            config,
            shared,
            emitter,
            reconciler,
            synced: BTreeSet::new(),
            listing: BTreeSet::new(),
            heal_owed: false,
        }
    }

    /// Runs until `draining` turns true; then flushes what it knows one last time.
    pub(crate) async fn run(
        mut self,
        mut heal_requests: mpsc::Receiver<()>,
        mut draining: watch::Receiver<bool>,
    ) {
        // The region node goes out first, before anything is listed.
        self.flush();
        let namespace = self.config.namespace.clone();
        let mut events = pin!(futures::stream::select(
            watch_kind(self.client.clone(), namespace.as_deref(), Kind::HelmRelease),
            watch_kind(self.client.clone(), namespace.as_deref(), Kind::HelmChart),
        ));
        let period = self.config.resync_interval;
        let mut resync = interval_at(Instant::now() + period, period);
        resync.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut flush_at: Option<Instant> = None;
        loop {
            let mut heal = false;
            tokio::select! {
                biased;
                drained = async { draining.wait_for(|d| *d).await.is_ok() } => {
                    if drained {
                        self.flush();
                    }
                    return;
                }
                Some((kind, event)) = events.next() => {
                    heal = self.handle(kind, event);
                    if heal {
                        flush_at = None;
                        self.flush();
                    } else if flush_at.is_none() {
                        flush_at = Some(Instant::now() + self.config.emit_interval);
                    }
                }
                () = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    flush_at = None;
                    // During a (re)list the batch waits for InitDone, which flushes.
                    if self.listing.is_empty() {
                        self.flush();
                    }
                }
                Some(()) = heal_requests.recv() => heal = true,
                _ = resync.tick() => {
                    self.resync(self.heal_owed).await;
                }
            }
            if heal {
                self.resync(true).await;
            }
        }
    }

    /// Feeds one watcher event to the reconciler; `true` when a (re)list just completed with
    /// every kind synced (time to heal).
    fn handle(
        &mut self,
        kind: Kind,
        event: Result<watcher::Event<DynamicObject>, watcher::Error>,
    ) -> bool {
        let resource = resource(kind);
        let (label, mapped) = match event {
            Ok(watcher::Event::Init) => {
                self.listing.insert(kind);
                (EventLabel::Init, Some(Event::InitStarted(kind)))
            }
            Ok(watcher::Event::InitApply(o)) => (
                EventLabel::InitApply,
                Some(Event::InitObject(to_value(&o, &resource))),
            ),
            Ok(watcher::Event::InitDone) => {
                self.listing.remove(&kind);
                self.synced.insert(kind);
                (EventLabel::InitDone, Some(Event::InitDone(kind)))
            }
            Ok(watcher::Event::Apply(o)) => (
                EventLabel::Apply,
                Some(Event::Applied(to_value(&o, &resource))),
            ),
            Ok(watcher::Event::Delete(o)) => (
                EventLabel::Delete,
                Some(Event::Deleted(to_value(&o, &resource))),
            ),
            Err(e) => {
                warn!(kind = ?kind, error = %e, "watcher error; it retries with backoff");
                (EventLabel::Error, None)
            }
        };
        self.count(kind, label);
        let Some(mapped) = mapped else {
            return false;
        };
        let relist_done = matches!(mapped, Event::InitDone(_));
        if let Err(e) = self.reconciler.handle(mapped) {
            warn!(kind = ?kind, error = %e, "object ignored: the mapper cannot read it");
            self.count(kind, EventLabel::Unmappable);
        }
        if relist_done && self.synced.len() == KINDS.len() {
            if self.listing.is_empty() {
                self.shared.telemetry.set_synced();
            }
            return true;
        }
        false
    }

    fn count(&self, kind: Kind, event: EventLabel) {
        self.shared
            .telemetry
            .metrics
            .watch_events
            .get_or_create(&EventLabels {
                kind: kind_label(kind),
                event,
            })
            .inc();
    }

    fn flush(&mut self) {
        let messages = self.reconciler.flush();
        if !messages.is_empty() {
            debug!(messages = messages.len(), "flushing changes");
        }
        self.shared.push(messages);
    }

    /// Reads the server's snapshot; heals when `force`, when the flow is gone, or when the
    /// epoch changed. A failure leaves the heal owed to the next resync tick.
    async fn resync(&mut self, force: bool) {
        if self.synced.len() < KINDS.len() {
            // Healing before everything is listed would delete what is not listed yet; the
            // completed list triggers it.
            return;
        }
        let state = match self.emitter.snapshot().await {
            Ok(state) => state,
            Err(e) => {
                warn!(error = %e, "cannot read the server's snapshot; will retry");
                self.heal_owed = true;
                return;
            }
        };
        self.heal_owed = false;
        let messages = match state {
            ServerState::Missing => {
                info!("the server holds nothing for this flow; sending the whole region");
                self.shared.set_epoch(None);
                self.reconciler.full_state()
            }
            ServerState::Held { snapshot, epoch } => {
                let changed = epoch.is_some() && epoch != self.shared.epoch();
                if !force && !changed {
                    return;
                }
                if changed && !force {
                    info!("server epoch changed: it lost its state; healing the region");
                }
                self.shared.set_epoch(epoch);
                self.reconciler.heal(&snapshot)
            }
        };
        if !messages.is_empty() {
            self.shared.telemetry.metrics.heals.inc();
            info!(
                messages = messages.len(),
                "healing the server's copy of this region"
            );
        }
        self.shared.push(messages);
    }
}
