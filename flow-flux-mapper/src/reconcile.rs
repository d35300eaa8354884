//! The sans-I/O reconciler: watcher events in, the FlowMessages to send out.
//!
//! The kube shell feeds every watcher event to [`Reconciler::handle`] and, whenever it wants to
//! post (after a burst, on its emit interval), drains [`Reconciler::flush`]. The reconciler
//! remembers what it has sent, so a flush carries only what a user would see change, and
//! nothing at all when nothing did. It never emits `snapshot`: several regions share a flow.

use std::collections::{BTreeMap, BTreeSet};

use flow_contract::{FlowMessage, FlowNode, RelPair, Relationship};
use serde_json::Value;

use crate::error::MapError;
use crate::foreign::{Identity, ObjectKey};
use crate::helmchart::HelmChart;
use crate::helmrelease::HelmRelease;
use crate::kind::Kind;
use crate::kustomization::Kustomization;
use crate::map::{
    Config, Graph, chunked, map_kustomization, map_release, upsert_nodes, upsert_rels,
};

/// A watcher event (kube-runtime's `watcher::Event`, one watcher per [`Kind`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A (re)list of `Kind` starts.
    InitStarted(Kind),
    /// An object seen during the (re)list.
    InitObject(Value),
    /// The (re)list of `Kind` is complete: every object of that kind not seen since
    /// [`Event::InitStarted`] is gone.
    InitDone(Kind),
    /// An object was created or changed.
    Applied(Value),
    /// An object was deleted.
    Deleted(Value),
}

/// Turns watcher events into coalesced FlowMessages for one region.
///
/// ```
/// use flow_flux_mapper::{Config, Event, Kind, Reconciler};
/// use serde_json::json;
///
/// let mut reconciler = Reconciler::new(Config::new("rollout", "fsn1", "flux-system")?);
/// reconciler.handle(Event::InitStarted(Kind::HelmRelease))?;
/// reconciler.handle(Event::InitObject(json!({
///     "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
///     "metadata": {"name": "bp-cilium", "namespace": "flux-system", "generation": 1},
/// })))?;
/// reconciler.handle(Event::InitDone(Kind::HelmRelease))?;
/// let first = reconciler.flush();
/// assert_eq!(first.len(), 2); // upsert-nodes (region + release), upsert-rels (contains)
/// assert!(reconciler.flush().is_empty()); // nothing changed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reconciler {
    config: Config,
    releases: BTreeMap<ObjectKey, HelmRelease>,
    charts: BTreeMap<ObjectKey, HelmChart>,
    kustomizations: BTreeMap<ObjectKey, Kustomization>,
    relisting: BTreeMap<Kind, BTreeSet<ObjectKey>>,
    sent: Graph,
    /// Whether any object changed since the last flush (true until the first one).
    changed: bool,
}

impl Reconciler {
    /// A reconciler that has sent nothing yet (its first flush carries the region node).
    #[must_use]
    pub fn new(config: Config) -> Self {
        Self {
            config,
            releases: BTreeMap::new(),
            charts: BTreeMap::new(),
            kustomizations: BTreeMap::new(),
            relisting: BTreeMap::new(),
            sent: Graph::default(),
            changed: true,
        }
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// How many objects of `kind` are known.
    #[must_use]
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::HelmRelease => self.releases.len(),
            Kind::HelmChart => self.charts.len(),
            Kind::Kustomization => self.kustomizations.len(),
        }
    }

    /// Takes one watcher event. Nothing is sent until [`flush`](Self::flush).
    ///
    /// # Errors
    /// [`MapError`] for an object without identity fields, of another kind, or whose node id
    /// would be too long; the state is then unchanged.
    pub fn handle(&mut self, event: Event) -> Result<(), MapError> {
        match event {
            Event::InitStarted(kind) => {
                self.relisting.insert(kind, BTreeSet::new());
            }
            Event::InitObject(object) | Event::Applied(object) => self.apply(&object)?,
            Event::InitDone(kind) => {
                let seen = self.relisting.remove(&kind).unwrap_or_default();
                let before = self.count(kind);
                match kind {
                    Kind::HelmRelease => self.releases.retain(|key, _| seen.contains(key)),
                    Kind::HelmChart => self.charts.retain(|key, _| seen.contains(key)),
                    Kind::Kustomization => {
                        self.kustomizations.retain(|key, _| seen.contains(key));
                    }
                }
                self.changed |= self.count(kind) != before;
            }
            Event::Deleted(object) => {
                let identity = Identity::read(&object)?;
                let kind = Kind::of_identity(&identity)?;
                let key = self.key(&identity);
                let removed = match kind {
                    Kind::HelmRelease => self.releases.remove(&key).is_some(),
                    Kind::HelmChart => self.charts.remove(&key).is_some(),
                    Kind::Kustomization => self.kustomizations.remove(&key).is_some(),
                };
                self.changed |= removed;
            }
        }
        Ok(())
    }

    fn key(&self, identity: &Identity<'_>) -> ObjectKey {
        let mut key = identity.key();
        if key.namespace.is_empty() {
            self.config
                .default_namespace()
                .clone_into(&mut key.namespace);
        }
        key
    }

    fn apply(&mut self, object: &Value) -> Result<(), MapError> {
        let identity = Identity::read(object)?;
        let kind = Kind::of_identity(&identity)?;
        let key = self.key(&identity);
        match kind {
            Kind::HelmRelease => {
                let release = HelmRelease::read(&identity, object);
                map_release(&self.config, &release, None)?;
                self.releases.insert(key.clone(), release);
            }
            Kind::HelmChart => {
                self.charts
                    .insert(key.clone(), HelmChart::read(&identity, object));
            }
            Kind::Kustomization => {
                let kustomization = Kustomization::read(&identity, object);
                map_kustomization(&self.config, &kustomization)?;
                self.kustomizations.insert(key.clone(), kustomization);
            }
        }
        if let Some(seen) = self.relisting.get_mut(&kind) {
            seen.insert(key);
        }
        self.changed = true;
        Ok(())
    }

    /// The graph of everything known now.
    #[must_use]
    pub fn graph(&self) -> Graph {
        Graph::build(
            &self.config,
            self.releases.values(),
            self.kustomizations.values(),
            &self.charts,
        )
    }

    /// The messages that bring the server from what was last sent to what is known now, in
    /// this order: `upsert-nodes` (changed nodes, region node included), `upsert-rels` (new or
    /// changed), `delete-rels` (gone, between nodes that remain), `delete-nodes` (gone objects;
    /// the server prunes their edges). Empty when nothing a user would see changed.
    #[must_use]
    pub fn flush(&mut self) -> Vec<FlowMessage> {
        if !self.changed {
            return Vec::new();
        }
        let desired = self.graph();
        let out = diff(&self.sent.nodes, &self.sent.relationships, &desired);
        self.mark_sent(desired);
        out
    }

    fn mark_sent(&mut self, graph: Graph) {
        self.sent = graph;
        self.changed = false;
    }

    /// Everything known now as `upsert-nodes` and `upsert-rels` (region node included), for a
    /// server that lost its state; marks it all as sent. Never a `snapshot`.
    #[must_use]
    pub fn full_state(&mut self) -> Vec<FlowMessage> {
        let desired = self.graph();
        let out = desired.messages();
        self.mark_sent(desired);
        out
    }

    /// Brings a server whose state is `snapshot` (its `GET .../snapshot` of this flow) in line
    /// with what is known now, touching only this region: upserts for nodes and relationships
    /// it lacks or holds differently, `delete-rels` for this region's relationships it should
    /// not hold, and `delete-nodes` for nodes of this region (id `{region}` or `{region}/...`,
    /// or a `contains` child of the region node) that no longer exist. Marks the result as
    /// sent. A message other than `snapshot` counts as an empty server.
    #[must_use]
    pub fn heal(&mut self, snapshot: &FlowMessage) -> Vec<FlowMessage> {
        let (nodes, relationships) = match snapshot {
            FlowMessage::Snapshot {
                nodes,
                relationships,
                ..
            } => (nodes.as_slice(), relationships.as_slice()),
            _ => (&[][..], &[][..]),
        };
        let region = self.config.region();
        let children: BTreeSet<&str> = relationships
            .iter()
            .filter(|r| r.rel_type == flow_contract::RelType::Contains && r.to_id == region)
            .map(|r| r.from_id.as_str())
            .collect();
        let held_nodes: BTreeMap<String, FlowNode> = nodes
            .iter()
            .filter(|n| self.config.owns_id(&n.id) || children.contains(n.id.as_str()))
            .map(|n| (n.id.clone(), n.clone()))
            .collect();
        let held_rels: BTreeMap<RelPair, Relationship> = relationships
            .iter()
            .filter(|r| self.config.owns_id(&r.from_id) && self.config.owns_id(&r.to_id))
            .map(|r| (r.key(), r.clone()))
            .collect();
        let desired = self.graph();
        let out = diff(&held_nodes, &held_rels, &desired);
        self.mark_sent(desired);
        out
    }
}

fn diff(
    nodes: &BTreeMap<String, FlowNode>,
    relationships: &BTreeMap<RelPair, Relationship>,
    desired: &Graph,
) -> Vec<FlowMessage> {
    let changed_nodes: Vec<FlowNode> = desired
        .nodes
        .iter()
        .filter(|(id, node)| nodes.get(*id) != Some(node))
        .map(|(_, node)| node.clone())
        .collect();
    let changed_rels: Vec<Relationship> = desired
        .relationships
        .iter()
        .filter(|(key, rel)| relationships.get(*key) != Some(rel))
        .map(|(_, rel)| rel.clone())
        .collect();
    let gone_rels: Vec<RelPair> = relationships
        .keys()
        .filter(|key| {
            !desired.relationships.contains_key(*key)
                && desired.nodes.contains_key(&key.from_id)
                && desired.nodes.contains_key(&key.to_id)
        })
        .cloned()
        .collect();
    let gone_nodes: Vec<String> = nodes
        .keys()
        .filter(|id| !desired.nodes.contains_key(*id))
        .cloned()
        .collect();
    let mut out = upsert_nodes(changed_nodes);
    out.extend(upsert_rels(changed_rels));
    out.extend(chunked(gone_rels, |pairs| FlowMessage::DeleteRels {
        pairs,
    }));
    out.extend(chunked(gone_nodes, |ids| FlowMessage::DeleteNodes { ids }));
    out
}
