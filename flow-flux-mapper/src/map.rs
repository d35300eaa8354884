//! HelmRelease (+ the HelmChart it uses) -> [`FlowNode`] and [`Relationship`]s; the region.
//!
//! # Node ids
//!
//! A HelmRelease in the configured default namespace (the adapter's `flux-system`) is
//! `{region}/{name}`, as in the seed; one in any other namespace is
//! `{region}/{namespace}/{name}`. Kubernetes names and namespaces cannot contain `/`, so two
//! releases with the same name in different namespaces never share an id, and every id of a
//! region starts with `{region}/`. A `dependsOn` entry resolves by the same rule (its namespace
//! defaults to the dependent's). The region node's id is the region key itself.
//!
//! # Relationships
//!
//! - `contains` from every release (child, `fromId`) to its region node (parent, `toId`).
//! - `finish-to-start` from each dependency to its dependent, with condition `on-success`; a
//!   dependency with a `readyExpr` gets condition `always` instead, because its readiness is a
//!   CEL expression, not the upstream's success, so the canvas must not infer blocking from the
//!   upstream's colour. The expression itself is in the dependent's `meta.readyExpr`.
//! - In a [`Graph`], an edge whose dependency is not a known release is left out (dangling) and
//!   listed in the dependent's `meta.missingDependencies`; it appears once the dependency does.
//!
//! # Bounds
//!
//! Everything produced validates with [`Limits::DEFAULT`]: strings from the cluster are cut to
//! 1024 bytes (at a character boundary, ending in `…`), lists in `meta` to 32 items, and a
//! `meta` still over 16 KiB loses its largest keys, with `metaTruncated: true`.

use std::collections::{BTreeMap, BTreeSet};

use flow_contract::{
    Condition, FlowMessage, FlowNode, Limits, Meta, RelPair, RelType, Relationship,
};
use serde_json::{Value, json};

use crate::conditions::{Condition as FluxCondition, ConditionType, Reason};
use crate::deps::{ReleaseDeps, cyclic_components};
use crate::error::{ConfigError, MapError};
use crate::foreign::ObjectKey;
use crate::helmchart::HelmChart;
use crate::helmrelease::HelmRelease;
use crate::status::{Decision, NodeStatus, Rule, decide};

/// The label that names a release's family.
pub const FAMILY_LABEL: &str = "catalyst.openova.io/family";

/// Most items of one list in `meta`.
const MAX_META_LIST: usize = 32;

/// What the mapper needs to know about where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    flow_id: String,
    region: String,
    default_namespace: String,
}

impl Config {
    /// Longest region key, in bytes (a Kubernetes label value's limit).
    pub const MAX_REGION_BYTES: usize = 63;

    /// A configuration for one region of one flow. `default_namespace` is the namespace whose
    /// releases get the short id `{region}/{name}` (the adapter uses `flux-system`).
    ///
    /// # Errors
    /// [`ConfigError`] for a flow id the contract rejects, an empty or over-long region, a
    /// region with `/`, or an empty default namespace or one with `/`.
    pub fn new(
        flow_id: impl Into<String>,
        region: impl Into<String>,
        default_namespace: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let (flow_id, region, default_namespace) =
            (flow_id.into(), region.into(), default_namespace.into());
        flow_contract::validate_flow_id(&flow_id)?;
        if region.is_empty() {
            return Err(ConfigError::EmptyRegion);
        }
        if region.contains('/') {
            return Err(ConfigError::RegionSlash(region));
        }
        if region.len() > Self::MAX_REGION_BYTES {
            return Err(ConfigError::RegionTooLong {
                len: region.len(),
                limit: Self::MAX_REGION_BYTES,
            });
        }
        if default_namespace.is_empty() || default_namespace.contains('/') {
            return Err(ConfigError::DefaultNamespace(default_namespace));
        }
        Ok(Self {
            flow_id,
            region,
            default_namespace,
        })
    }

    /// The flow every node belongs to.
    #[must_use]
    pub fn flow_id(&self) -> &str {
        &self.flow_id
    }

    /// The region key (also the region node's id).
    #[must_use]
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The namespace whose releases get short ids.
    #[must_use]
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// The node id of the release `name` in `namespace` (see the [module docs](self)).
    #[must_use]
    pub fn node_id(&self, namespace: &str, name: &str) -> String {
        if namespace == self.default_namespace || namespace.is_empty() {
            format!("{}/{name}", self.region)
        } else {
            format!("{}/{namespace}/{name}", self.region)
        }
    }

    /// Whether `id` names a node of this region (the region node or one of its releases).
    #[must_use]
    pub fn owns_id(&self, id: &str) -> bool {
        id.strip_prefix(self.region.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// One HelmRelease mapped on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRelease {
    /// Namespace (resolved) and name.
    pub key: ObjectKey,
    /// The row of the mapping table and its flags.
    pub decision: Decision,
    /// The node.
    pub node: FlowNode,
    /// One `finish-to-start` edge per `dependsOn` entry (the `contains` edge is the
    /// [`Graph`]'s).
    pub dependencies: Vec<Relationship>,
}

/// Maps one HelmRelease, with the HelmChart it uses when known, to a node and its
/// `dependsOn` edges. Knows nothing of other releases: `meta.waitingFor` lists every
/// dependency; [`Graph::build`] refines it.
///
/// # Errors
/// [`MapError::IdTooLong`] when region, namespace and name make an id over 256 bytes.
pub fn map_release(
    config: &Config,
    release: &HelmRelease,
    chart: Option<&HelmChart>,
) -> Result<MappedRelease, MapError> {
    let deps = ReleaseDeps::of(release, config.default_namespace());
    let id = checked_id(config.node_id(&deps.key.namespace, &deps.key.name))?;
    let decision = decide(release);
    let (dependencies, ready_exprs) = dependency_edges(config, &deps, &id);

    let mut meta = Meta::new();
    put_text(&mut meta, "namespace", Some(&deps.key.namespace));
    meta.insert("rule".into(), decision.rule.as_str().into());
    meta.insert("detail".into(), decision.rule.detail().into());
    put_text(
        &mut meta,
        "reason",
        decision.reason.as_ref().map(Reason::as_str),
    );
    let explaining = if decision.rule == Rule::Stalled {
        release.condition(ConditionType::Stalled)
    } else {
        release.condition(ConditionType::Ready)
    };
    put_text(
        &mut meta,
        "message",
        explaining.and_then(|c| c.message.as_deref()),
    );
    let ready = release.condition(ConditionType::Ready);
    if let Some(since) = ready.and_then(FluxCondition::transition_ms) {
        meta.insert("since".into(), since.into());
    }
    put_release_facts(&mut meta, release);
    for (key, on) in [
        ("suspended", decision.suspended),
        ("stalled", decision.stalled),
        ("retrying", decision.retrying),
        ("deleting", decision.rule == Rule::Deleting),
        ("drifted", decision.drifted),
    ] {
        if on {
            meta.insert(key.into(), true.into());
        }
    }
    let reconciling = release
        .condition(ConditionType::Reconciling)
        .filter(|c| c.is_true());
    if decision.rule == Rule::Progressing || decision.rule == Rule::StaleGeneration {
        put_text(
            &mut meta,
            "progress",
            reconciling.and_then(|c| c.message.as_deref()),
        );
    }
    if decision.rule == Rule::DependencyNotReady {
        put_list(
            &mut meta,
            "waitingFor",
            dependencies.iter().map(|r| r.from_id.clone()),
        );
    }
    if !ready_exprs.is_empty() {
        meta.insert("readyExpr".into(), Value::Object(ready_exprs));
    }
    let explains_source = decision.rule == Rule::SourceNotReady
        || (decision.rule == Rule::Failed && decision.reason == Some(Reason::ArtifactFailed));
    if explains_source && let Some(chart_key) = release.helm_chart(config.default_namespace()) {
        meta.insert("source".into(), source_meta(&chart_key, chart));
    }
    fit(&mut meta);

    // Only a running node has started something; a routine re-check of a succeeded release
    // must not make its node flicker.
    let started_at = reconciling
        .filter(|_| decision.status == NodeStatus::Running)
        .and_then(FluxCondition::transition_ms);
    let ended_at = match decision.status {
        NodeStatus::Succeeded | NodeStatus::Failed => {
            explaining.and_then(FluxCondition::transition_ms)
        }
        NodeStatus::Pending | NodeStatus::Running => None,
    };
    let node = FlowNode {
        id,
        flow_id: config.flow_id().to_owned(),
        label: clip(&deps.key.name),
        status: decision.status.as_str().to_owned(),
        family: Some(family(release)),
        region: Some(config.region().to_owned()),
        started_at,
        ended_at,
        meta: Some(meta),
    };
    Ok(MappedRelease {
        key: deps.key,
        decision,
        node,
        dependencies,
    })
}

/// One `finish-to-start` edge per usable `dependsOn` entry of `deps` into `id`, and the
/// `readyExpr` of each entry that has one, keyed by the dependency's node id.
fn dependency_edges(config: &Config, deps: &ReleaseDeps, id: &str) -> (Vec<Relationship>, Meta) {
    let mut dependencies = Vec::new();
    let mut ready_exprs = Meta::new();
    for (dep, entry) in deps.depends_on.iter().zip(&deps.entries) {
        if dep.name.is_empty() || dep.name.contains('/') || dep.namespace.contains('/') {
            continue;
        }
        let from_id = config.node_id(&dep.namespace, &dep.name);
        if let Some(expr) = entry.ready_expr.as_deref()
            && ready_exprs.len() < MAX_META_LIST
        {
            ready_exprs.insert(from_id.clone(), Value::String(clip(expr)));
        }
        dependencies.push(Relationship {
            from_id,
            to_id: id.to_owned(),
            from_flow_id: None,
            to_flow_id: None,
            rel_type: RelType::FinishToStart,
            condition: Some(if entry.ready_expr.is_some() {
                Condition::Always
            } else {
                Condition::OnSuccess
            }),
            lag: None,
        });
    }
    (dependencies, ready_exprs)
}

fn checked_id(id: String) -> Result<String, MapError> {
    let limit = Limits::DEFAULT.max_id_bytes;
    if id.len() > limit {
        return Err(MapError::IdTooLong {
            len: id.len(),
            id,
            limit,
        });
    }
    Ok(id)
}

/// The family label (trimmed, non-empty), else the name without a `bp-` prefix.
fn family(release: &HelmRelease) -> String {
    let labelled = release
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(FAMILY_LABEL))
        .map(|f| f.trim())
        .filter(|f| !f.is_empty());
    let name = release.name();
    let family = labelled.unwrap_or_else(|| {
        name.strip_prefix("bp-")
            .filter(|rest| !rest.is_empty())
            .unwrap_or(name)
    });
    clip(family)
}

fn put_release_facts(meta: &mut Meta, release: &HelmRelease) {
    let Some(status) = &release.status else {
        put_template_chart(meta, release);
        return;
    };
    match status.history.first() {
        Some(latest) => {
            put_text(meta, "chart", latest.chart_name.as_deref());
            put_text(meta, "chartVersion", latest.chart_version.as_deref());
            put_text(meta, "appVersion", latest.app_version.as_deref());
        }
        None => put_template_chart(meta, release),
    }
    put_text(meta, "revision", status.last_attempted_revision.as_deref());
    put_text(
        meta,
        "lastAction",
        status.last_attempted_release_action.as_deref(),
    );
    put_text(
        meta,
        "lastActionDuration",
        status.last_attempted_release_action_duration.as_deref(),
    );
    for (key, count) in [
        ("failures", status.failures),
        ("installFailures", status.install_failures),
        ("upgradeFailures", status.upgrade_failures),
    ] {
        if let Some(count) = count.filter(|c| *c > 0) {
            meta.insert(key.into(), count.into());
        }
    }
    if let Some(generation) = release.metadata.generation {
        meta.insert("generation".into(), generation.into());
    }
    if let Some(observed) = status.observed_generation {
        meta.insert("observedGeneration".into(), observed.into());
    }
}

fn put_template_chart(meta: &mut Meta, release: &HelmRelease) {
    let template = release.spec.chart.as_ref().and_then(|c| c.spec.as_ref());
    put_text(meta, "chart", template.and_then(|t| t.chart.as_deref()));
    put_text(
        meta,
        "chartVersion",
        template.and_then(|t| t.version.as_deref()),
    );
}

/// What the HelmChart says, for a release waiting on or failing for its source.
fn source_meta(key: &ObjectKey, chart: Option<&HelmChart>) -> Value {
    let name = clip(&key.to_string());
    let Some(chart) = chart else {
        return json!({ "helmChart": name, "found": false });
    };
    let mut source = Meta::new();
    source.insert("helmChart".into(), name.into());
    source.insert("found".into(), true.into());
    if let Some(ready) = chart.condition(ConditionType::Ready) {
        put_text(&mut source, "ready", ready.status.as_deref());
        put_text(&mut source, "reason", ready.reason.as_deref());
        put_text(&mut source, "message", ready.message.as_deref());
        if let Some(since) = ready.transition_ms() {
            source.insert("since".into(), since.into());
        }
    }
    if chart
        .condition(ConditionType::Stalled)
        .is_some_and(FluxCondition::is_true)
    {
        source.insert("stalled".into(), true.into());
    }
    Value::Object(source)
}

fn put_text(meta: &mut Meta, key: &str, text: Option<&str>) {
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        meta.insert(key.to_owned(), Value::String(clip(text)));
    }
}

fn put_list(meta: &mut Meta, key: &str, items: impl Iterator<Item = String>) {
    let items: Vec<Value> = items.take(MAX_META_LIST).map(Value::String).collect();
    if !items.is_empty() {
        meta.insert(key.to_owned(), Value::Array(items));
    }
}

/// Cuts `text` to the contract's text limit at a character boundary, ending in `…`.
fn clip(text: &str) -> String {
    const ELLIPSIS: &str = "…";
    let limit = Limits::DEFAULT.max_text_bytes;
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit - ELLIPSIS.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

/// Drops the largest keys until `meta` fits the contract's limit.
fn fit(meta: &mut Meta) {
    let size = |value: &Value| serde_json::to_vec(value).map_or(usize::MAX, |b| b.len());
    let limit = Limits::DEFAULT.max_meta_bytes;
    while serde_json::to_vec(&*meta).map_or(usize::MAX, |b| b.len()) > limit {
        let largest = meta
            .iter()
            .filter(|(key, _)| key.as_str() != "metaTruncated")
            .max_by_key(|(_, value)| size(value))
            .map(|(key, _)| key.clone());
        let Some(largest) = largest else { break };
        meta.remove(&largest);
        meta.insert("metaTruncated".into(), true.into());
    }
}

/// Everything one region shows: its node, every release node and every relationship.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// Nodes by id (the region node included).
    pub nodes: BTreeMap<String, FlowNode>,
    /// Relationships by natural key.
    pub relationships: BTreeMap<RelPair, Relationship>,
}

impl Graph {
    /// Maps a whole region: every release that maps (see [`map_release`]), the region node,
    /// `contains` edges, `dependsOn` edges between known releases, and the cross-release
    /// facts: `meta.waitingFor` (dependencies not succeeded), `meta.missingDependencies`
    /// (dangling `dependsOn`), `meta.inCycle`.
    ///
    /// Releases with the same id keep the first; the order of `releases` does not matter
    /// otherwise.
    #[must_use]
    pub fn build<'a>(
        config: &Config,
        releases: impl IntoIterator<Item = &'a HelmRelease>,
        charts: &BTreeMap<ObjectKey, HelmChart>,
    ) -> Self {
        let mut mapped: BTreeMap<String, MappedRelease> = BTreeMap::new();
        for release in releases {
            let chart = release
                .helm_chart(config.default_namespace())
                .and_then(|key| charts.get(&key));
            if let Ok(m) = map_release(config, release, chart) {
                mapped.entry(m.node.id.clone()).or_insert(m);
            }
        }
        let status: BTreeMap<String, NodeStatus> = mapped
            .iter()
            .map(|(id, m)| (id.clone(), m.decision.status))
            .collect();
        let index: BTreeMap<&str, usize> = mapped
            .keys()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let edges: Vec<Vec<usize>> = mapped
            .values()
            .map(|m| {
                m.dependencies
                    .iter()
                    .filter_map(|rel| index.get(rel.from_id.as_str()).copied())
                    .collect()
            })
            .collect();
        let in_cycle: BTreeSet<usize> = cyclic_components(&edges).into_iter().flatten().collect();

        let mut graph = Self::default();
        for (i, (id, m)) in mapped.into_iter().enumerate() {
            let MappedRelease {
                decision,
                mut node,
                dependencies,
                ..
            } = m;
            let meta = node.meta.get_or_insert_with(Meta::new);
            let (known, missing): (Vec<Relationship>, Vec<Relationship>) = dependencies
                .into_iter()
                .partition(|rel| status.contains_key(&rel.from_id));
            put_list(
                meta,
                "missingDependencies",
                missing.iter().map(|r| r.from_id.clone()),
            );
            if decision.rule == Rule::DependencyNotReady {
                meta.remove("waitingFor");
                let blocking = known
                    .iter()
                    .filter(|r| status.get(&r.from_id) != Some(&NodeStatus::Succeeded))
                    .map(|r| r.from_id.clone());
                put_list(meta, "waitingFor", blocking);
            }
            if in_cycle.contains(&i) {
                meta.insert("inCycle".into(), true.into());
            }
            fit(meta);
            for rel in known {
                graph.relationships.insert(rel.key(), rel);
            }
            let contains = Relationship {
                from_id: id.clone(),
                to_id: config.region().to_owned(),
                from_flow_id: None,
                to_flow_id: None,
                rel_type: RelType::Contains,
                condition: None,
                lag: None,
            };
            graph.relationships.insert(contains.key(), contains);
            graph.nodes.insert(id, node);
        }
        let region = region_node(config, status.values().copied());
        graph.nodes.insert(region.id.clone(), region);
        graph
    }

    /// The whole graph as `upsert-nodes` then `upsert-rels` (each split to respect the
    /// contract's item limit; no `upsert-rels` without relationships).
    #[must_use]
    pub fn messages(&self) -> Vec<FlowMessage> {
        let mut out = upsert_nodes(self.nodes.values().cloned().collect());
        out.extend(upsert_rels(self.relationships.values().cloned().collect()));
        out
    }
}

/// The synthetic region node: id and label are the region key; status is the roll-up of
/// `children` ([`NodeStatus::roll_up`]); `meta` counts the children by status.
#[must_use]
pub fn region_node(config: &Config, children: impl IntoIterator<Item = NodeStatus>) -> FlowNode {
    let children: Vec<NodeStatus> = children.into_iter().collect();
    let mut meta = Meta::new();
    meta.insert("releases".into(), children.len().into());
    for status in [
        NodeStatus::Pending,
        NodeStatus::Running,
        NodeStatus::Succeeded,
        NodeStatus::Failed,
    ] {
        let count = children.iter().filter(|s| **s == status).count();
        meta.insert(status.as_str().into(), count.into());
    }
    FlowNode {
        id: config.region().to_owned(),
        flow_id: config.flow_id().to_owned(),
        label: config.region().to_owned(),
        status: NodeStatus::roll_up(children).as_str().to_owned(),
        family: None,
        region: Some(config.region().to_owned()),
        started_at: None,
        ended_at: None,
        meta: Some(meta),
    }
}

pub(crate) fn upsert_nodes(nodes: Vec<FlowNode>) -> Vec<FlowMessage> {
    chunked(nodes, |nodes| FlowMessage::UpsertNodes { nodes })
}

pub(crate) fn upsert_rels(relationships: Vec<Relationship>) -> Vec<FlowMessage> {
    chunked(relationships, |relationships| FlowMessage::UpsertRels {
        relationships,
    })
}

/// Splits `items` into messages of at most the contract's item limit; none for no items.
pub(crate) fn chunked<T>(items: Vec<T>, make: impl Fn(Vec<T>) -> FlowMessage) -> Vec<FlowMessage> {
    let limit = Limits::DEFAULT.max_items;
    let mut out = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(make(items.by_ref().take(limit).collect()));
    }
    out
}
