//! HelmRelease (+ the HelmChart it uses) and Kustomization -> [`FlowNode`] and
//! [`Relationship`]s; the region.
//!
//! # Node ids
//!
//! A HelmRelease in the configured default namespace (the adapter's `flux-system`) is
//! `{region}/{name}`, as in the seed; one in any other namespace is
//! `{region}/{namespace}/{name}`. A Kustomization is always `{region}/ks/{namespace}/{name}`
//! (namespace included even when it is the default one). Kubernetes names and namespaces
//! cannot contain `/` (the mapper rejects objects whose do), so a HelmRelease id has two or
//! three `/`-separated parts and a Kustomization id exactly four: a Kustomization and a
//! HelmRelease never share an id, whatever their names and namespaces, and two objects of one
//! kind share one only if they share name and namespace. Every id of a region starts with
//! `{region}/`. A `dependsOn` entry resolves by its kind's rule (its namespace defaults to the
//! dependent's). The region node's id is the region key itself.
//!
//! Every node's `meta.kind` is `HelmRelease` or `Kustomization`, and `meta.name` and
//! `meta.namespace` are the object's.
//!
//! # Relationships
//!
//! - `contains` (child `fromId`, parent `toId`) from every object to the Kustomization that
//!   applied it, else to its region node. The parent is the Kustomization whose
//!   `status.inventory` lists the object (the smallest id when several do), else the one its
//!   labels `kustomize.toolkit.fluxcd.io/name` and `/namespace` name; either counts only when
//!   that Kustomization is in the mapped set (the watched namespaces). A Kustomization is never
//!   its own parent (Flux's root `flux-system` applies itself), and Kustomizations whose parents
//!   form a loop are all contained by the region, so containment is always a tree.
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

use crate::conditions::{Condition as FluxCondition, ConditionType, Reason, find};
use crate::deps::{ReleaseDeps, cyclic_components};
use crate::error::{ConfigError, MapError};
use crate::foreign::{ObjectKey, ObjectMeta};
use crate::helmchart::HelmChart;
use crate::helmrelease::HelmRelease;
use crate::kind::Kind;
use crate::kustomization::{Kustomization, applied_by};
use crate::status::{Decision, NodeStatus, Reconciled, Rule, decide};

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

    /// The node id of the Kustomization `name` in `namespace` (see the [module docs](self));
    /// an empty namespace is the default one.
    #[must_use]
    pub fn kustomization_id(&self, namespace: &str, name: &str) -> String {
        let namespace = if namespace.is_empty() {
            self.default_namespace.as_str()
        } else {
            namespace
        };
        format!("{}/ks/{namespace}/{name}", self.region)
    }

    /// The node id of an object of `kind` (HelmRelease ids for any kind but Kustomization).
    #[must_use]
    pub fn id_of(&self, kind: Kind, namespace: &str, name: &str) -> String {
        match kind {
            Kind::Kustomization => self.kustomization_id(namespace, name),
            Kind::HelmRelease | Kind::HelmChart => self.node_id(namespace, name),
        }
    }

    /// Whether `id` names a node of this region (the region node or one of its releases).
    #[must_use]
    pub fn owns_id(&self, id: &str) -> bool {
        id.strip_prefix(self.region.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// One HelmRelease or Kustomization mapped on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// [`Kind::HelmRelease`] or [`Kind::Kustomization`].
    pub kind: Kind,
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
/// `dependsOn` edges. Knows nothing of other objects: `meta.waitingFor` lists every
/// dependency; [`Graph::build`] refines it.
///
/// # Errors
/// [`MapError::IdTooLong`] when region, namespace and name make an id over 256 bytes.
pub fn map_release(
    config: &Config,
    release: &HelmRelease,
    chart: Option<&HelmChart>,
) -> Result<Mapped, MapError> {
    let deps = ReleaseDeps::of(release, config.default_namespace());
    let common = Common::new(config, release, deps)?;
    let mut meta = common.meta_head();
    put_release_facts(&mut meta, release);
    let explains_source = common.decision.rule == Rule::SourceNotReady
        || (common.decision.rule == Rule::Failed
            && common.decision.reason == Some(Reason::ArtifactFailed));
    if explains_source && let Some(chart_key) = release.helm_chart(config.default_namespace()) {
        meta.insert("source".into(), source_meta(&chart_key, chart));
    }
    let deployed = release
        .status
        .as_ref()
        .and_then(|s| s.history.first())
        .and_then(|h| h.last_deployed.as_deref())
        .and_then(crate::time::rfc3339_to_unix_ms);
    Ok(common.finish(
        meta,
        Some(family(&release.metadata, release.name())),
        deployed,
    ))
}

/// Maps one Kustomization to a node and its `dependsOn` edges (to other Kustomizations).
/// Knows nothing of other objects: `meta.waitingFor` lists every dependency;
/// [`Graph::build`] refines it and adds the `contains` edges.
///
/// # Errors
/// [`MapError::IdTooLong`] when region, namespace and name make an id over 256 bytes.
pub fn map_kustomization(
    config: &Config,
    kustomization: &Kustomization,
) -> Result<Mapped, MapError> {
    let deps = ReleaseDeps::of_kustomization(kustomization, config.default_namespace());
    let namespace = deps.key.namespace.clone();
    let common = Common::new(config, kustomization, deps)?;
    let mut meta = common.meta_head();
    if let Some(status) = &kustomization.status {
        put_text(
            &mut meta,
            "lastAppliedRevision",
            status.last_applied_revision.as_deref(),
        );
        put_text(
            &mut meta,
            "lastAttemptedRevision",
            status.last_attempted_revision.as_deref(),
        );
        put_history(&mut meta, &status.history);
        if let Some(inventory) = &status.inventory {
            meta.insert("inventoryEntries".into(), inventory.entries.len().into());
        }
    }
    if let Some(source) = &kustomization.spec.source_ref {
        let mut out = Meta::new();
        put_text(&mut out, "kind", source.kind.as_deref());
        put_text(
            &mut out,
            "namespace",
            Some(source.namespace.as_deref().unwrap_or(&namespace)),
        );
        put_text(&mut out, "name", source.name.as_deref());
        meta.insert("source".into(), Value::Object(out));
    }
    put_generations(
        &mut meta,
        &kustomization.metadata,
        kustomization
            .status
            .as_ref()
            .and_then(|s| s.observed_generation),
    );
    let labelled = kustomization
        .metadata
        .labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(FAMILY_LABEL));
    let family = labelled.then(|| family(&kustomization.metadata, kustomization.name()));
    // The newest history entry is written when a reconcile of its revision ends: its
    // `firstReconciled` less the reconcile's duration is when that revision's first reconcile
    // started (Flux keeps only the latest reconcile's duration, so this is approximate).
    let first_started = kustomization
        .status
        .as_ref()
        .and_then(|s| s.history.first())
        .and_then(|h| {
            let ended = h
                .first_reconciled
                .as_deref()
                .and_then(crate::time::rfc3339_to_unix_ms)?;
            let took = h
                .last_reconciled_duration
                .as_deref()
                .and_then(crate::time::go_duration_ms)?;
            ended.checked_sub(took)
        });
    Ok(common.finish(meta, family, first_started))
}

/// What every mapped object shares: id, decision, `dependsOn` edges, the conditions that
/// explain it.
struct Common<'a> {
    config: &'a Config,
    kind: Kind,
    deps: ReleaseDeps,
    id: String,
    decision: Decision,
    conditions: &'a [FluxCondition],
    dependencies: Vec<Relationship>,
    ready_exprs: Meta,
}

impl<'a> Common<'a> {
    fn new(
        config: &'a Config,
        object: &'a impl Reconciled,
        deps: ReleaseDeps,
    ) -> Result<Self, MapError> {
        let kind = deps.kind;
        let id = checked_id(config.id_of(kind, &deps.key.namespace, &deps.key.name))?;
        let (dependencies, ready_exprs) = dependency_edges(config, &deps, &id);
        Ok(Self {
            config,
            kind,
            id,
            decision: decide(object),
            conditions: object.conditions(),
            deps,
            dependencies,
            ready_exprs,
        })
    }

    /// The condition whose reason and message explain the status.
    fn explaining(&self) -> Option<&'a FluxCondition> {
        let kind = if self.decision.rule == Rule::Stalled {
            ConditionType::Stalled
        } else {
            ConditionType::Ready
        };
        find(self.conditions, kind)
    }

    fn reconciling(&self) -> Option<&'a FluxCondition> {
        find(self.conditions, ConditionType::Reconciling).filter(|c| c.is_true())
    }

    /// Kind, name, namespace, the table's row and flags, and what blocks it.
    fn meta_head(&self) -> Meta {
        let decision = &self.decision;
        let mut meta = Meta::new();
        meta.insert("kind".into(), self.kind.name().into());
        put_text(&mut meta, "name", Some(&self.deps.key.name));
        put_text(&mut meta, "namespace", Some(&self.deps.key.namespace));
        meta.insert("rule".into(), decision.rule.as_str().into());
        meta.insert("detail".into(), decision.rule.detail().into());
        put_text(
            &mut meta,
            "reason",
            decision.reason.as_ref().map(Reason::as_str),
        );
        put_text(
            &mut meta,
            "message",
            self.explaining().and_then(|c| c.message.as_deref()),
        );
        if let Some(since) =
            find(self.conditions, ConditionType::Ready).and_then(FluxCondition::transition_ms)
        {
            meta.insert("since".into(), since.into());
        }
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
        if decision.rule == Rule::Progressing || decision.rule == Rule::StaleGeneration {
            put_text(
                &mut meta,
                "progress",
                self.reconciling().and_then(|c| c.message.as_deref()),
            );
        }
        if decision.rule == Rule::DependencyNotReady {
            put_list(
                &mut meta,
                "waitingFor",
                self.dependencies.iter().map(|r| r.from_id.clone()),
            );
        }
        if !self.ready_exprs.is_empty() {
            meta.insert("readyExpr".into(), Value::Object(self.ready_exprs.clone()));
        }
        meta
    }

    /// `deployed`: when the work that produced the object's current state started, as its
    /// status history tells (a HelmRelease's newest `lastDeployed`, a Kustomization's newest
    /// `firstReconciled` less its `lastReconciledDuration`), if it does.
    fn finish(self, mut meta: Meta, family: Option<String>, deployed: Option<u64>) -> Mapped {
        fit(&mut meta);
        let status = self.decision.status;
        // The node times (docs/DECISIONS.md, "Node times"). A running node started when
        // Reconciling turned True: Flux does not reconcile before the dependencies are
        // ready, so that is the first reconcile after they were. A finished node ended when
        // its explaining condition (Ready at the current generation) last changed, and
        // started when the history says its current release was deployed, never after it
        // ended. A routine re-check of a succeeded object changes neither, so the node does
        // not flicker.
        let (started_at, ended_at) = match status {
            NodeStatus::Running => (
                self.reconciling().and_then(FluxCondition::transition_ms),
                None,
            ),
            NodeStatus::Succeeded | NodeStatus::Failed => {
                let ended = self.explaining().and_then(FluxCondition::transition_ms);
                let started = deployed.filter(|start| ended.is_none_or(|end| *start <= end));
                (started, ended)
            }
            NodeStatus::Pending => (None, None),
        };
        let node = FlowNode {
            id: self.id,
            flow_id: self.config.flow_id().to_owned(),
            label: clip(&self.deps.key.name),
            status: status.as_str().to_owned(),
            family,
            region: Some(self.config.region().to_owned()),
            started_at,
            ended_at,
            meta: Some(meta),
        };
        Mapped {
            kind: self.kind,
            key: self.deps.key,
            decision: self.decision,
            node,
            dependencies: self.dependencies,
        }
    }
}

/// The newest `status.history` entry's duration, and each entry's (newest first).
fn put_history(meta: &mut Meta, history: &[crate::kustomization::ReconcileSnapshot]) {
    put_text(
        meta,
        "lastReconciledDuration",
        history
            .first()
            .and_then(|h| h.last_reconciled_duration.as_deref()),
    );
    let entries: Vec<Value> = history
        .iter()
        .take(MAX_META_LIST)
        .map(|h| {
            let mut entry = Meta::new();
            put_text(
                &mut entry,
                "duration",
                h.last_reconciled_duration.as_deref(),
            );
            put_text(&mut entry, "status", h.last_reconciled_status.as_deref());
            if let Some(total) = h.total_reconciliations {
                entry.insert("reconciliations".into(), total.into());
            }
            for (key, time) in [
                ("firstReconciled", &h.first_reconciled),
                ("lastReconciled", &h.last_reconciled),
            ] {
                if let Some(ms) = time.as_deref().and_then(crate::time::rfc3339_to_unix_ms) {
                    entry.insert(key.into(), ms.into());
                }
            }
            Value::Object(entry)
        })
        .collect();
    if !entries.is_empty() {
        meta.insert("history".into(), Value::Array(entries));
    }
}

fn put_generations(meta: &mut Meta, metadata: &ObjectMeta, observed: Option<i64>) {
    if let Some(generation) = metadata.generation {
        meta.insert("generation".into(), generation.into());
    }
    if let Some(observed) = observed {
        meta.insert("observedGeneration".into(), observed.into());
    }
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
        let from_id = config.id_of(deps.kind, &dep.namespace, &dep.name);
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
fn family(metadata: &ObjectMeta, name: &str) -> String {
    let labelled = metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(FAMILY_LABEL))
        .map(|f| f.trim())
        .filter(|f| !f.is_empty());
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
    put_generations(meta, &release.metadata, status.observed_generation);
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
    /// Maps a whole region: every HelmRelease and Kustomization that maps (see
    /// [`map_release`], [`map_kustomization`]), the region node, `contains` edges (to the
    /// applying Kustomization or the region, see the [module docs](self)), `dependsOn` edges
    /// between known objects, and the cross-object facts: `meta.waitingFor` (dependencies not
    /// succeeded), `meta.missingDependencies` (dangling `dependsOn`), `meta.inCycle`.
    ///
    /// Objects with the same id keep the first; the order of the inputs does not matter
    /// otherwise.
    #[must_use]
    pub fn build<'a>(
        config: &Config,
        releases: impl IntoIterator<Item = &'a HelmRelease>,
        kustomizations: impl IntoIterator<Item = &'a Kustomization>,
        charts: &BTreeMap<ObjectKey, HelmChart>,
    ) -> Self {
        let (mapped, parents) = map_all(config, releases, kustomizations, charts);

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
        let mut children = Vec::with_capacity(mapped.len());
        for (i, (id, m)) in mapped.into_iter().enumerate() {
            let Mapped {
                kind,
                decision,
                mut node,
                dependencies,
                ..
            } = m;
            children.push((kind, decision.status));
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
                to_id: parents
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| config.region().to_owned()),
                from_flow_id: None,
                to_flow_id: None,
                rel_type: RelType::Contains,
                condition: None,
                lag: None,
            };
            graph.relationships.insert(contains.key(), contains);
            graph.nodes.insert(id, node);
        }
        let region = region_node(config, children);
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

/// Maps every object (the first of each id wins) and finds each one's parent Kustomization.
fn map_all<'a>(
    config: &Config,
    releases: impl IntoIterator<Item = &'a HelmRelease>,
    kustomizations: impl IntoIterator<Item = &'a Kustomization>,
    charts: &BTreeMap<ObjectKey, HelmChart>,
) -> (BTreeMap<String, Mapped>, BTreeMap<String, String>) {
    let mut mapped: BTreeMap<String, Mapped> = BTreeMap::new();
    // Node id -> the Kustomization its labels name.
    let mut labelled: BTreeMap<String, ObjectKey> = BTreeMap::new();
    // Applied object -> the smallest id of a Kustomization whose inventory lists it.
    let mut inventoried: BTreeMap<(Kind, ObjectKey), String> = BTreeMap::new();
    let mut kustomization_ids: BTreeMap<ObjectKey, String> = BTreeMap::new();
    for kustomization in kustomizations {
        let Ok(m) = map_kustomization(config, kustomization) else {
            continue;
        };
        if mapped.contains_key(&m.node.id) {
            continue;
        }
        for object in kustomization.inventory() {
            if let Some(kind) = Kind::from_group_kind(&object.group, &object.kind) {
                inventoried
                    .entry((kind, object.key))
                    .and_modify(|parent| {
                        if m.node.id < *parent {
                            parent.clone_from(&m.node.id);
                        }
                    })
                    .or_insert_with(|| m.node.id.clone());
            }
        }
        if let Some(parent) = applied_by(&kustomization.metadata, &m.key.namespace) {
            labelled.insert(m.node.id.clone(), parent);
        }
        kustomization_ids.insert(m.key.clone(), m.node.id.clone());
        mapped.insert(m.node.id.clone(), m);
    }
    for release in releases {
        let chart = release
            .helm_chart(config.default_namespace())
            .and_then(|key| charts.get(&key));
        let Ok(m) = map_release(config, release, chart) else {
            continue;
        };
        if mapped.contains_key(&m.node.id) {
            continue;
        }
        if let Some(parent) = applied_by(&release.metadata, &m.key.namespace) {
            labelled.insert(m.node.id.clone(), parent);
        }
        mapped.insert(m.node.id.clone(), m);
    }
    let parents = parents(&mapped, &inventoried, &labelled, &kustomization_ids);
    (mapped, parents)
}

/// Each object's parent Kustomization id (objects contained by the region are absent): the
/// inventory's, else the labels', when that Kustomization is mapped and is not the object
/// itself; Kustomizations on a loop of parents lose theirs.
fn parents(
    mapped: &BTreeMap<String, Mapped>,
    inventoried: &BTreeMap<(Kind, ObjectKey), String>,
    labelled: &BTreeMap<String, ObjectKey>,
    kustomization_ids: &BTreeMap<ObjectKey, String>,
) -> BTreeMap<String, String> {
    let mut parents: BTreeMap<String, String> = mapped
        .iter()
        .filter_map(|(id, m)| {
            let parent = inventoried
                .get(&(m.kind, m.key.clone()))
                .or_else(|| labelled.get(id).and_then(|key| kustomization_ids.get(key)))?;
            (parent != id).then(|| (id.clone(), parent.clone()))
        })
        .collect();
    // Walk each chain of parents once: a chain that comes back to a node of the walk in
    // progress has found a loop (the nodes from that one on).
    let mut done: BTreeSet<&String> = BTreeSet::new();
    let mut looped: Vec<String> = Vec::new();
    for start in parents.keys() {
        let mut walk: Vec<&String> = Vec::new();
        let mut position: BTreeMap<&String, usize> = BTreeMap::new();
        let mut at = Some(start);
        while let Some(id) = at.filter(|id| !done.contains(id)) {
            if let Some(&first) = position.get(id) {
                looped.extend(walk[first..].iter().map(|id| (*id).clone()));
                break;
            }
            position.insert(id, walk.len());
            walk.push(id);
            at = parents.get(id);
        }
        done.extend(walk);
    }
    for id in looped {
        parents.remove(&id);
    }
    parents
}

/// The synthetic region node: id and label are the region key; status is the roll-up of
/// every object's status ([`NodeStatus::roll_up`]), nested or not; `meta` counts the
/// HelmReleases (`releases`), the Kustomizations (`kustomizations`) and all of them by status.
#[must_use]
pub fn region_node(
    config: &Config,
    children: impl IntoIterator<Item = (Kind, NodeStatus)>,
) -> FlowNode {
    let (kinds, children): (Vec<Kind>, Vec<NodeStatus>) = children.into_iter().unzip();
    let mut meta = Meta::new();
    for (key, kind) in [
        ("releases", Kind::HelmRelease),
        ("kustomizations", Kind::Kustomization),
    ] {
        let count = kinds.iter().filter(|k| **k == kind).count();
        meta.insert(key.into(), count.into());
    }
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
