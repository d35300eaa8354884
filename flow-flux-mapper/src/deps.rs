//! The dependency graph of a set of HelmReleases and Kustomizations: names, namespaces,
//! `dependsOn` and containment; and its audit against an expected-dependencies file.
//!
//! Shared by the mapper (cycle flags on nodes) and by audit tools that read manifests from a
//! repository instead of a cluster.
//!
//! The audit rules are on [`Audit`], the expected file's form on [`ExpectedDeps`], what
//! "waits for" means across kinds on [`DependencyGraph::cycle_paths`].

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DocumentError, ExpectedError};
use crate::foreign::{Identity, ObjectKey};
use crate::helmrelease::{DependencyRef, HelmRelease};
use crate::kind::Kind;
use crate::kustomization::{Kustomization, applied_by};

/// An object of the dependency graph: its kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectRef {
    /// [`Kind::HelmRelease`] or [`Kind::Kustomization`].
    pub kind: Kind,
    /// Namespace and name.
    pub key: ObjectKey,
}

/// One HelmRelease's or Kustomization's place in the dependency graph. `dependsOn` names
/// objects of the same kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseDeps {
    /// [`Kind::HelmRelease`] or [`Kind::Kustomization`].
    pub kind: Kind,
    /// Namespace (the default namespace when the document has none) and name.
    pub key: ObjectKey,
    /// The objects it depends on, namespaces resolved, in `spec.dependsOn` order.
    pub depends_on: Vec<ObjectKey>,
    /// The `spec.dependsOn` entries as written.
    pub entries: Vec<DependencyRef>,
    /// The Kustomization that applies it, from its `kustomize.toolkit.fluxcd.io` labels.
    pub parent: Option<ObjectKey>,
    /// A Kustomization's `spec.wait: true`: Ready only once everything it applied is.
    pub wait: bool,
    /// A Kustomization's `spec.healthChecks` naming HelmReleases or Kustomizations.
    pub health_checks: Vec<ObjectRef>,
}

impl ReleaseDeps {
    /// Reads the dependency pieces of one HelmRelease; an object without a namespace is in
    /// `default_namespace`.
    #[must_use]
    pub fn of(release: &HelmRelease, default_namespace: &str) -> Self {
        let namespace = release.namespace_or(default_namespace);
        let mut deps = Self::new(
            Kind::HelmRelease,
            namespace,
            release.name(),
            &release.spec.depends_on,
        );
        deps.parent = applied_by(&release.metadata, namespace);
        deps
    }

    /// Reads the dependency pieces of one Kustomization; an object without a namespace is in
    /// `default_namespace`.
    #[must_use]
    pub fn of_kustomization(kustomization: &Kustomization, default_namespace: &str) -> Self {
        let namespace = kustomization.namespace_or(default_namespace);
        let mut deps = Self::new(
            Kind::Kustomization,
            namespace,
            kustomization.name(),
            &kustomization.spec.depends_on,
        );
        deps.parent = applied_by(&kustomization.metadata, namespace);
        deps.wait = kustomization.spec.wait == Some(true);
        deps.health_checks = kustomization
            .spec
            .health_checks
            .iter()
            .filter_map(|check| {
                let kind = Kind::ALL
                    .into_iter()
                    .find(|k| Some(k.name()) == check.kind.as_deref())?;
                Some(ObjectRef {
                    kind,
                    key: ObjectKey {
                        namespace: check
                            .namespace
                            .clone()
                            .unwrap_or_else(|| namespace.to_owned()),
                        name: check.name.clone()?,
                    },
                })
            })
            .collect();
        deps
    }

    /// Its kind and key.
    #[must_use]
    pub fn object(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind,
            key: self.key.clone(),
        }
    }

    /// The objects its `dependsOn` names (of its own kind).
    pub fn dependencies(&self) -> impl Iterator<Item = ObjectRef> + '_ {
        self.depends_on.iter().map(|key| ObjectRef {
            kind: self.kind,
            key: key.clone(),
        })
    }

    fn new(kind: Kind, namespace: &str, name: &str, entries: &[DependencyRef]) -> Self {
        Self {
            kind,
            key: ObjectKey {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
            depends_on: entries
                .iter()
                .map(|dep| ObjectKey {
                    namespace: dep
                        .namespace
                        .clone()
                        .filter(|ns| !ns.is_empty())
                        .unwrap_or_else(|| namespace.to_owned()),
                    name: dep.name.clone(),
                })
                .collect(),
            entries: entries.to_vec(),
            parent: None,
            wait: false,
            health_checks: Vec::new(),
        }
    }
}

/// The dependency graph of a list of Kubernetes documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyGraph {
    /// Every HelmRelease and Kustomization, in document order.
    pub objects: Vec<ReleaseDeps>,
}

/// A stage of an object in the wait graph: a Kustomization is first applied (its manifests
/// reach the cluster), then ready; a HelmRelease has only the ready stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Applied,
    Ready,
}

impl DependencyGraph {
    /// Reads the HelmReleases and Kustomizations among `documents` (other kinds are skipped),
    /// wherever they came from (a folder of manifests, a `kubectl get -o json` list).
    ///
    /// # Errors
    /// [`DocumentError`] with the index of the first document without identity fields, or a
    /// HelmRelease or Kustomization whose name or namespace contains `/`.
    pub fn from_documents(
        documents: &[Value],
        default_namespace: &str,
    ) -> Result<Self, DocumentError> {
        let mut objects = Vec::new();
        for (index, document) in documents.iter().enumerate() {
            let identity =
                Identity::read(document).map_err(|error| DocumentError { index, error })?;
            match Kind::of_identity(&identity) {
                Ok(Kind::HelmRelease) => {
                    let release = HelmRelease::read(&identity, document);
                    objects.push(ReleaseDeps::of(&release, default_namespace));
                }
                Ok(Kind::Kustomization) => {
                    let kustomization = Kustomization::read(&identity, document);
                    objects.push(ReleaseDeps::of_kustomization(
                        &kustomization,
                        default_namespace,
                    ));
                }
                Ok(Kind::HelmChart) | Err(_) => {}
            }
        }
        Ok(Self { objects })
    }

    /// How many objects of `kind` the graph holds (duplicates counted).
    #[must_use]
    pub fn count(&self, kind: Kind) -> usize {
        self.objects.iter().filter(|o| o.kind == kind).count()
    }

    /// Every `dependsOn` edge whose target is not among the objects: (dependent, missing).
    #[must_use]
    pub fn dangling(&self) -> Vec<(ObjectRef, ObjectRef)> {
        let known: BTreeSet<ObjectRef> = self.objects.iter().map(ReleaseDeps::object).collect();
        self.objects
            .iter()
            .flat_map(|r| {
                r.dependencies()
                    .filter(|dep| !known.contains(dep))
                    .map(|dep| (r.object(), dep))
            })
            .collect()
    }

    /// The objects on a cycle of the wait graph ([`cycle_paths`](Self::cycle_paths)): each
    /// cyclic set sorted, the list sorted.
    #[must_use]
    pub fn cycles(&self) -> Vec<Vec<ObjectRef>> {
        let (nodes, edges) = self.wait_graph();
        let mut cycles: Vec<Vec<ObjectRef>> = cyclic_components(&edges)
            .into_iter()
            .map(|component| {
                let set: BTreeSet<ObjectRef> =
                    component.into_iter().map(|i| nodes[i].0.clone()).collect();
                set.into_iter().collect()
            })
            .collect();
        cycles.sort();
        cycles.dedup();
        cycles
    }

    /// One closed path per cycle: it starts and ends at the cycle's smallest object and
    /// follows "waits for" (`a` depends on `b`, which depends on `a`: `[a, b, a]`), as short as
    /// possible; the list sorted.
    ///
    /// "Waits for", across kinds: an object waits for each `dependsOn` entry to be ready; an
    /// object applied by a Kustomization (its `parent`) waits for that Kustomization to be
    /// applied, which waits for the Kustomization's own dependencies (and its parent); a
    /// Kustomization with `spec.wait: true`, or a `spec.healthChecks` entry naming an object
    /// it applies, waits for that object to be ready. So a HelmRelease that depends on a
    /// release applied by a Kustomization that depends on its own waiting Kustomization is a
    /// cycle: Flux would never finish it.
    #[must_use]
    pub fn cycle_paths(&self) -> Vec<Vec<ObjectRef>> {
        let (nodes, edges) = self.wait_graph();
        let mut paths: Vec<Vec<ObjectRef>> = cyclic_components(&edges)
            .into_iter()
            .filter_map(|component| {
                let members: BTreeSet<usize> = component.into_iter().collect();
                // `nodes` is sorted, so the smallest index is the smallest object.
                let start = *members.first()?;
                let path = shortest_cycle(&edges, &members, start)?;
                // A Kustomization's two stages next to each other read as one step.
                let mut steps: Vec<&(ObjectRef, Stage)> = path.iter().map(|&i| &nodes[i]).collect();
                steps.dedup_by(|b, a| a.0 == b.0 && a.1 != b.1);
                Some(
                    steps
                        .into_iter()
                        .map(|(object, _)| object.clone())
                        .collect(),
                )
            })
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// The wait graph: (object, stage) nodes sorted, and for each the nodes it waits for.
    fn wait_graph(&self) -> (Vec<(ObjectRef, Stage)>, Vec<Vec<usize>>) {
        let first = self.first_objects();
        let mut nodes: Vec<(ObjectRef, Stage)> = Vec::new();
        for object in first.keys() {
            if object.kind == Kind::Kustomization {
                nodes.push(((*object).clone(), Stage::Applied));
            }
            nodes.push(((*object).clone(), Stage::Ready));
        }
        let index: BTreeMap<(&ObjectRef, Stage), usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, (object, stage))| ((object, *stage), i))
            .collect();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        let mut wait = |from: (&ObjectRef, Stage), to: (&ObjectRef, Stage)| {
            if let (Some(&from), Some(&to)) = (index.get(&from), index.get(&to))
                && !edges[from].contains(&to)
            {
                edges[from].push(to);
            }
        };
        for (object, deps) in &first {
            let is_kustomization = object.kind == Kind::Kustomization;
            let starts = if is_kustomization {
                Stage::Applied
            } else {
                Stage::Ready
            };
            for dependency in deps.dependencies() {
                wait((object, starts), (&dependency, Stage::Ready));
            }
            let parent = deps
                .parent
                .as_ref()
                .map(|key| ObjectRef {
                    kind: Kind::Kustomization,
                    key: key.clone(),
                })
                .filter(|parent| parent != object);
            if let Some(parent) = &parent {
                wait((object, starts), (parent, Stage::Applied));
                let parent_waits = first
                    .get(parent)
                    .is_some_and(|p| p.wait || p.health_checks.iter().any(|check| check == object));
                if parent_waits {
                    wait((parent, Stage::Ready), (object, Stage::Ready));
                }
            }
            if is_kustomization {
                wait((object, Stage::Ready), (object, Stage::Applied));
            }
        }
        (nodes, edges)
    }

    /// The first declaration of each object.
    fn first_objects(&self) -> BTreeMap<ObjectRef, &ReleaseDeps> {
        let mut first = BTreeMap::new();
        for object in &self.objects {
            first.entry(object.object()).or_insert(object);
        }
        first
    }
}

/// The shortest closed path from `start` back to itself through `members`, by breadth-first
/// search; `None` when there is none (never for a cyclic component containing `start`).
fn shortest_cycle(
    edges: &[Vec<usize>],
    members: &BTreeSet<usize>,
    start: usize,
) -> Option<Vec<usize>> {
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in &edges[node] {
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                let mut path = vec![start, node];
                let mut at = node;
                while let Some(&up) = parent.get(&at) {
                    path.push(up);
                    at = up;
                }
                path.reverse();
                return Some(path);
            }
            if let Entry::Vacant(slot) = parent.entry(next) {
                slot.insert(node);
                queue.push_back(next);
            }
        }
    }
    None
}

/// One entry of an expected-dependencies file, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSlot {
    /// The bootstrap slot number.
    pub slot: u32,
    /// `HelmRelease` (when absent) or `Kustomization`: the kind of the object and of its
    /// dependencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object: `name` (default namespace) or `namespace/name`.
    pub name: String,
    /// The objects it must depend on, in the same notation.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The installation wave, when the kit orders slots in waves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFile {
    slots: Vec<ExpectedSlot>,
}

/// An expected-dependencies file, names resolved.
///
/// The seed's form: a `slots` list whose entries have `slot` (number), `name`, `depends_on`
/// (list of names, may be absent) and an optional `wave`; unknown fields are rejected, so a
/// typo such as `depends-on` cannot pass as "no dependencies". A name is `name` (an object in
/// the default namespace) or `namespace/name`. An entry may say `kind: Kustomization`
/// (default `HelmRelease`): its name and dependencies are then Kustomizations, since
/// `dependsOn` names objects of the dependent's own kind.
///
/// ```yaml
/// slots:
///   - slot: 56
///     name: bp-openova-flow-server
///     depends_on: [bp-cilium, bp-cert-manager]
///   - slot: 57
///     name: bp-openova-flow-emitter
///     depends_on: [bp-flux]
///     wave: 3
///   - slot: 90
///     kind: Kustomization
///     name: apps
///     depends_on: [infra]
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedDeps {
    slots: Vec<ExpectedSlot>,
    objects: BTreeMap<ObjectRef, BTreeSet<ObjectRef>>,
    external: BTreeSet<ObjectRef>,
}

impl ExpectedDeps {
    /// Reads the file's content (already parsed from YAML or JSON); a name without a namespace
    /// is in `default_namespace`.
    ///
    /// # Errors
    /// [`ExpectedError`] for a shape other than the seed's form, a malformed name, an unknown
    /// kind, or a name or slot number listed twice.
    pub fn from_value(value: &Value, default_namespace: &str) -> Result<Self, ExpectedError> {
        let file: ExpectedFile = serde_json::from_value(value.clone())
            .map_err(|e| ExpectedError::Shape(e.to_string()))?;
        let mut objects = BTreeMap::new();
        let mut slot_numbers = BTreeSet::new();
        for entry in &file.slots {
            if !slot_numbers.insert(entry.slot) {
                return Err(ExpectedError::DuplicateSlot(entry.slot));
            }
            let kind = match entry.kind.as_deref() {
                None => Kind::HelmRelease,
                Some(text) => Some(Kind::HelmRelease)
                    .filter(|k| k.name() == text)
                    .or(Some(Kind::Kustomization).filter(|k| k.name() == text))
                    .ok_or_else(|| ExpectedError::Kind {
                        slot: entry.slot,
                        value: text.to_owned(),
                    })?,
            };
            let object = |name: &str| {
                resolve(entry.slot, name, default_namespace).map(|key| ObjectRef { kind, key })
            };
            let deps = entry
                .depends_on
                .iter()
                .map(|dep| object(dep))
                .collect::<Result<BTreeSet<_>, _>>()?;
            if objects.insert(object(&entry.name)?, deps).is_some() {
                return Err(ExpectedError::DuplicateName(entry.name.clone()));
            }
        }
        let external = objects
            .values()
            .flatten()
            .filter(|dep| !objects.contains_key(*dep))
            .cloned()
            .collect();
        Ok(Self {
            slots: file.slots,
            objects,
            external,
        })
    }

    /// The entries as written.
    #[must_use]
    pub fn slots(&self) -> &[ExpectedSlot] {
        &self.slots
    }

    /// The expected dependencies of `object`; `None` when it has no slot.
    #[must_use]
    pub fn depends_on(&self, object: &ObjectRef) -> Option<&BTreeSet<ObjectRef>> {
        self.objects.get(object)
    }

    /// The names listed only as dependencies: objects outside the audited graph.
    #[must_use]
    pub fn external(&self) -> &BTreeSet<ObjectRef> {
        &self.external
    }
}

fn resolve(slot: u32, name: &str, default_namespace: &str) -> Result<ObjectKey, ExpectedError> {
    let (namespace, name) = name.split_once('/').unwrap_or((default_namespace, name));
    if namespace.is_empty() || name.is_empty() || name.contains('/') {
        return Err(ExpectedError::Name {
            slot,
            value: format!("{namespace}/{name}"),
        });
    }
    Ok(ObjectKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// One difference between the graph and the expected file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Drift {
    /// The release lacks an expected `dependsOn` entry.
    MissingDependency {
        /// The dependent release.
        release: ObjectRef,
        /// The expected dependency it does not declare.
        dependency: ObjectRef,
    },
    /// The release declares a `dependsOn` entry the file does not expect.
    ExtraDependency {
        /// The dependent release.
        release: ObjectRef,
        /// The unexpected dependency.
        dependency: ObjectRef,
    },
    /// A slot of the expected file has no release in the graph.
    MissingRelease {
        /// The expected release.
        release: ObjectRef,
    },
    /// A release of the graph has no slot in the expected file.
    UnexpectedRelease {
        /// The release.
        release: ObjectRef,
    },
}

/// A `dependsOn` entry naming a release neither in the graph nor in the expected file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Dangling {
    /// The dependent release.
    pub release: ObjectRef,
    /// The unknown dependency.
    pub dependency: ObjectRef,
}

/// The worst finding of an [`Audit`], in precedence order: a cycle outranks drift (a cyclic
/// graph never installs, whatever else is wrong), and dangling references count as drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// No drift, no cycle, no dangling reference.
    Clean,
    /// Drift or a dangling reference, no cycle.
    Drift,
    /// At least one cycle.
    Cycle,
}

/// What an audit of a [`DependencyGraph`] against [`ExpectedDeps`] found, each list sorted.
///
/// - **Drift**: a release whose `dependsOn` misses an expected dependency or has one the file
///   does not expect; a slot with no object in the graph; an object with no slot. A
///   "release" below is a HelmRelease or a Kustomization; the kinds never match each other.
/// - **Cycles**: every cyclic set of objects, across kinds ([`DependencyGraph::cycle_paths`]),
///   as one closed path `a -> b -> a`.
/// - **Dangling**: a `dependsOn` naming a release that is neither in the graph nor anywhere in
///   the expected file. A name the file lists only as a dependency (never as a slot) is
///   *external*: a release of the surrounding kit that this graph relies on but does not
///   contain (`bp-cilium` for `deploy/flux/`), so it is not dangling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Differences from the expected file.
    pub drift: Vec<Drift>,
    /// Closed cycle paths ([`DependencyGraph::cycle_paths`]).
    pub cycles: Vec<Vec<ObjectRef>>,
    /// `dependsOn` entries naming unknown releases.
    pub dangling: Vec<Dangling>,
}

impl Audit {
    /// Compares `graph` with `expected` (see [`Audit`] for the rules). A release
    /// listed twice in the graph is compared by its first occurrence.
    ///
    /// ```
    /// use flow_flux_mapper::{Audit, DependencyGraph, Drift, ExpectedDeps, Outcome};
    /// use serde_json::json;
    ///
    /// let release = json!({
    ///     "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
    ///     "metadata": {"name": "bp-server"},
    ///     "spec": {"dependsOn": [{"name": "bp-cilium"}, {"name": "bp-redis"}]}
    /// });
    /// let graph = DependencyGraph::from_documents(&[release], "flux-system")?;
    /// let expected = json!({"slots": [
    ///     {"slot": 56, "name": "bp-server", "depends_on": ["bp-cilium"]}
    /// ]});
    /// let expected = ExpectedDeps::from_value(&expected, "flux-system")?;
    /// let audit = Audit::run(&graph, &expected);
    /// // bp-cilium is external (only a dependency in the file); bp-redis is extra and unknown.
    /// assert!(matches!(&audit.drift[..], [Drift::ExtraDependency { dependency, .. }]
    ///     if dependency.key.name == "bp-redis"));
    /// assert_eq!(audit.dangling.len(), 1);
    /// assert_eq!(audit.outcome(), Outcome::Drift);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn run(graph: &DependencyGraph, expected: &ExpectedDeps) -> Self {
        let mut drift = Vec::new();
        let present = graph.first_objects();
        for (key, release) in &present {
            let Some(wanted) = expected.depends_on(key) else {
                drift.push(Drift::UnexpectedRelease {
                    release: key.clone(),
                });
                continue;
            };
            let declared: BTreeSet<ObjectRef> = release.dependencies().collect();
            for dependency in wanted.iter().filter(|d| !declared.contains(*d)) {
                drift.push(Drift::MissingDependency {
                    release: key.clone(),
                    dependency: dependency.clone(),
                });
            }
            for dependency in declared.iter().filter(|d| !wanted.contains(*d)) {
                drift.push(Drift::ExtraDependency {
                    release: key.clone(),
                    dependency: dependency.clone(),
                });
            }
        }
        for key in expected.objects.keys().filter(|k| !present.contains_key(k)) {
            drift.push(Drift::MissingRelease {
                release: key.clone(),
            });
        }
        drift.sort();
        let mut dangling: Vec<Dangling> = graph
            .dangling()
            .into_iter()
            .filter(|(_, dep)| {
                !expected.objects.contains_key(dep) && !expected.external.contains(dep)
            })
            .map(|(release, dependency)| Dangling {
                release,
                dependency,
            })
            .collect();
        dangling.sort();
        dangling.dedup();
        Self {
            drift,
            cycles: graph.cycle_paths(),
            dangling,
        }
    }

    /// The worst finding.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        if !self.cycles.is_empty() {
            Outcome::Cycle
        } else if !self.drift.is_empty() || !self.dangling.is_empty() {
            Outcome::Drift
        } else {
            Outcome::Clean
        }
    }
}

/// The strongly connected components that contain a cycle (size two or more, or a self-loop),
/// by an iterative Tarjan's algorithm (no recursion, so deep chains cannot overflow the stack).
pub(crate) fn cyclic_components(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let n = edges.len();
    let mut order = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut components = Vec::new();
    for root in 0..n {
        if order[root] != UNVISITED {
            continue;
        }
        // (node, index of the next edge to look at)
        let mut frames = vec![(root, 0)];
        order[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut edge)) = frames.last_mut() {
            if let Some(&target) = edges[node].get(*edge) {
                *edge += 1;
                if order[target] == UNVISITED {
                    order[target] = next;
                    low[target] = next;
                    next += 1;
                    stack.push(target);
                    on_stack[target] = true;
                    frames.push((target, 0));
                } else if on_stack[target] {
                    low[node] = low[node].min(order[target]);
                }
                continue;
            }
            frames.pop();
            if let Some(&(parent, _)) = frames.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == order[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 || edges[node].contains(&node) {
                    components.push(component);
                }
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use std::collections::BTreeSet;

    use super::{
        Audit, Dangling, DependencyGraph, Drift, ExpectedDeps, ObjectKey, ObjectRef, Outcome,
        cyclic_components,
    };
    use crate::error::ExpectedError;
    use crate::kind::Kind;

    fn release(name: &str, deps: &[&str]) -> Value {
        let deps: Vec<Value> = deps.iter().map(|d| json!({ "name": d })).collect();
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": { "name": name, "namespace": "flux-system" },
            "spec": { "dependsOn": deps }
        })
    }

    fn key(name: &str) -> ObjectRef {
        ObjectRef {
            kind: Kind::HelmRelease,
            key: ObjectKey {
                namespace: "flux-system".into(),
                name: name.into(),
            },
        }
    }

    fn graph(releases: &[(&str, &[&str])]) -> DependencyGraph {
        let docs: Vec<Value> = releases.iter().map(|(n, d)| release(n, d)).collect();
        DependencyGraph::from_documents(&docs, "flux-system").expect("valid test documents")
    }

    fn expected(value: &Value) -> ExpectedDeps {
        ExpectedDeps::from_value(value, "flux-system").expect("valid expected file")
    }

    #[test]
    fn cycle_paths_are_closed_and_start_at_the_smallest() {
        let g = graph(&[
            ("c", &["a"]),
            ("a", &["b"]),
            ("b", &["c"]),
            ("s", &["s"]),
            ("x", &["a"]),
        ]);
        let paths = g.cycle_paths();
        assert_eq!(
            paths,
            vec![
                vec![key("a"), key("b"), key("c"), key("a")],
                vec![key("s"), key("s")],
            ]
        );
    }

    #[test]
    fn cycle_path_is_the_shortest_through_its_start() {
        // a depends on b and c, b on c, c on a: of a -> b -> c -> a and a -> c -> a, the
        // shorter wins.
        let g = graph(&[("a", &["b", "c"]), ("b", &["c"]), ("c", &["a"])]);
        assert_eq!(g.cycle_paths(), vec![vec![key("a"), key("c"), key("a")]]);
    }

    #[test]
    fn expected_file_resolves_names_and_externals() {
        let e = expected(&json!({"slots": [
            {"slot": 1, "name": "a", "depends_on": ["ext", "apps/b"]},
            {"slot": 2, "name": "apps/b", "wave": 3},
        ]}));
        let b = ObjectRef {
            kind: Kind::HelmRelease,
            key: ObjectKey {
                namespace: "apps".into(),
                name: "b".into(),
            },
        };
        assert_eq!(
            e.depends_on(&key("a"))
                .map(|d| d.iter().cloned().collect::<Vec<_>>()),
            Some(vec![b.clone(), key("ext")])
        );
        assert_eq!(e.depends_on(&b).map(BTreeSet::len), Some(0));
        assert_eq!(e.external().iter().collect::<Vec<_>>(), vec![&key("ext")]);
        assert_eq!(e.slots()[1].wave, Some(3));
    }

    #[test]
    fn expected_file_rejects_typos_duplicates_and_bad_names() {
        let err = |v: Value| ExpectedDeps::from_value(&v, "flux-system").unwrap_err();
        assert!(matches!(
            err(json!({"slots": [{"slot": 1, "name": "a", "depends-on": []}]})),
            ExpectedError::Shape(m) if m.contains("depends-on")
        ));
        assert_eq!(
            err(json!({"slots": [{"slot": 1, "name": "a"}, {"slot": 2, "name": "a"}]})),
            ExpectedError::DuplicateName("a".into())
        );
        assert_eq!(
            err(json!({"slots": [{"slot": 1, "name": "a"}, {"slot": 1, "name": "b"}]})),
            ExpectedError::DuplicateSlot(1)
        );
        assert!(matches!(
            err(json!({"slots": [{"slot": 4, "name": "a/b/c"}]})),
            ExpectedError::Name { slot: 4, .. }
        ));
        assert!(matches!(err(json!({"slot": []})), ExpectedError::Shape(_)));
    }

    #[test]
    fn audit_reports_every_kind_of_drift() {
        let g = graph(&[("a", &["b", "extra"]), ("b", &[]), ("stray", &[])]);
        let e = expected(&json!({"slots": [
            {"slot": 1, "name": "a", "depends_on": ["b", "ext"]},
            {"slot": 2, "name": "b"},
            {"slot": 3, "name": "gone", "depends_on": ["b"]},
        ]}));
        let audit = Audit::run(&g, &e);
        assert_eq!(
            audit.drift,
            vec![
                Drift::MissingDependency {
                    release: key("a"),
                    dependency: key("ext")
                },
                Drift::ExtraDependency {
                    release: key("a"),
                    dependency: key("extra")
                },
                Drift::MissingRelease {
                    release: key("gone")
                },
                Drift::UnexpectedRelease {
                    release: key("stray")
                },
            ]
        );
        assert_eq!(
            audit.dangling,
            vec![Dangling {
                release: key("a"),
                dependency: key("extra")
            }]
        );
        assert!(audit.cycles.is_empty());
        assert_eq!(audit.outcome(), Outcome::Drift);
    }

    #[test]
    fn externals_and_missing_slots_are_not_dangling() {
        let g = graph(&[("a", &["ext", "gone"])]);
        let e = expected(&json!({"slots": [
            {"slot": 1, "name": "a", "depends_on": ["ext", "gone"]},
            {"slot": 2, "name": "gone"},
        ]}));
        let audit = Audit::run(&g, &e);
        assert!(audit.dangling.is_empty());
        assert_eq!(
            audit.drift,
            vec![Drift::MissingRelease {
                release: key("gone")
            }]
        );
    }

    #[test]
    fn a_cycle_outranks_drift_and_a_match_is_clean() {
        let e = expected(&json!({"slots": [
            {"slot": 1, "name": "a", "depends_on": ["b"]},
            {"slot": 2, "name": "b", "depends_on": ["a"]},
        ]}));
        let cyclic = Audit::run(&graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]), &e);
        assert_eq!(cyclic.outcome(), Outcome::Cycle);
        assert_eq!(cyclic.cycles, vec![vec![key("a"), key("b"), key("a")]]);
        assert_eq!(cyclic.drift.len(), 1);
        let e = expected(&json!({"slots": [{"slot": 1, "name": "a", "depends_on": ["ext"]}]}));
        assert_eq!(
            Audit::run(&graph(&[("a", &["ext"])]), &e).outcome(),
            Outcome::Clean
        );
    }

    #[test]
    fn finds_cycles_and_self_loops_only() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3, 4 -> 0
        let edges = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        let mut found: Vec<Vec<usize>> = cyclic_components(&edges)
            .into_iter()
            .map(|mut c| {
                c.sort_unstable();
                c
            })
            .collect();
        found.sort();
        assert_eq!(found, vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn deep_chain_does_not_overflow() {
        let n = 200_000;
        let edges: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        assert_eq!(cyclic_components(&edges)[0].len(), n);
    }

    fn kustomization(name: &str, deps: &[&str], parent: Option<&str>, wait: bool) -> Value {
        let deps: Vec<Value> = deps.iter().map(|d| json!({ "name": d })).collect();
        let mut doc = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": { "name": name, "namespace": "flux-system" },
            "spec": { "dependsOn": deps, "wait": wait }
        });
        if let Some(parent) = parent {
            doc["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": parent});
        }
        doc
    }

    fn labelled(name: &str, deps: &[&str], parent: &str) -> Value {
        let mut doc = release(name, deps);
        doc["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": parent});
        doc
    }

    fn ks(name: &str) -> ObjectRef {
        ObjectRef {
            kind: Kind::Kustomization,
            ..key(name)
        }
    }

    #[test]
    fn a_cycle_through_a_waiting_kustomization_crosses_kinds() {
        // x (applied by a, which waits for it) depends on y, applied by b; b depends on a.
        let docs = |wait: bool| {
            vec![
                kustomization("a", &[], None, wait),
                kustomization("b", &["a"], None, false),
                labelled("x", &["y"], "a"),
                labelled("y", &[], "b"),
            ]
        };
        let graph = DependencyGraph::from_documents(&docs(true), "flux-system").unwrap();
        assert_eq!(
            graph.cycle_paths(),
            vec![vec![key("x"), key("y"), ks("b"), ks("a"), key("x")]]
        );
        assert_eq!(
            graph.cycles(),
            vec![vec![key("x"), key("y"), ks("a"), ks("b")]]
        );
        // Without `wait`, a is ready without x: Flux gets there.
        let graph = DependencyGraph::from_documents(&docs(false), "flux-system").unwrap();
        assert!(graph.cycle_paths().is_empty());
    }

    #[test]
    fn nesting_a_kustomization_under_its_own_dependency_is_a_cycle_only_when_waiting() {
        let graph = |wait| {
            DependencyGraph::from_documents(
                &[
                    kustomization("root", &[], Some("root"), wait),
                    kustomization("apps", &["root"], Some("root"), false),
                ],
                "flux-system",
            )
            .unwrap()
        };
        // root applies itself (Flux's bootstrap) and apps; apps waits for root to be ready.
        assert_eq!(
            graph(true).cycle_paths(),
            vec![vec![ks("apps"), ks("root"), ks("apps")]]
        );
        assert!(graph(false).cycle_paths().is_empty());
    }

    #[test]
    fn kinds_never_satisfy_each_other() {
        // A Kustomization `a` depending on `b` is not satisfied by the HelmRelease `b`.
        let graph = DependencyGraph::from_documents(
            &[kustomization("a", &["b"], None, false), release("b", &[])],
            "flux-system",
        )
        .unwrap();
        assert_eq!(graph.dangling(), vec![(ks("a"), ks("b"))]);
        let e = expected(&json!({"slots": [
            {"slot": 1, "kind": "Kustomization", "name": "a", "depends_on": ["b"]},
            {"slot": 2, "kind": "Kustomization", "name": "b"},
            {"slot": 3, "name": "b"},
        ]}));
        let audit = Audit::run(&graph, &e);
        assert_eq!(
            audit.drift,
            vec![Drift::MissingRelease { release: ks("b") }]
        );
        assert!(audit.dangling.is_empty());
        assert!(matches!(
            ExpectedDeps::from_value(
                &json!({"slots": [{"slot": 1, "kind": "GitRepository", "name": "a"}]}),
                "flux-system"
            ),
            Err(ExpectedError::Kind { slot: 1, .. })
        ));
    }
}
