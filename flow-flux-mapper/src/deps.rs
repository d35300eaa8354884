//! The dependency graph of a set of HelmReleases: names, namespaces and `dependsOn`; and its
//! audit against an expected-dependencies file.
//!
//! Shared by the mapper (cycle flags on nodes) and by audit tools that read HelmRelease
//! manifests from a repository instead of a cluster.
//!
//! The audit rules are on [`Audit`], the expected file's form on [`ExpectedDeps`].

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DocumentError, ExpectedError};
use crate::foreign::{Identity, ObjectKey};
use crate::helmrelease::{DependencyRef, HELM_RELEASE_GROUP, HelmRelease};
use crate::kind::Kind;
use crate::kustomization::Kustomization;

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
}

impl ReleaseDeps {
    /// Reads the dependency pieces of one HelmRelease; an object without a namespace is in
    /// `default_namespace`.
    #[must_use]
    pub fn of(release: &HelmRelease, default_namespace: &str) -> Self {
        let namespace = release.namespace_or(default_namespace);
        Self::new(
            Kind::HelmRelease,
            namespace,
            release.name(),
            &release.spec.depends_on,
        )
    }

    /// Reads the dependency pieces of one Kustomization; an object without a namespace is in
    /// `default_namespace`.
    #[must_use]
    pub fn of_kustomization(kustomization: &Kustomization, default_namespace: &str) -> Self {
        let namespace = kustomization.namespace_or(default_namespace);
        Self::new(
            Kind::Kustomization,
            namespace,
            kustomization.name(),
            &kustomization.spec.depends_on,
        )
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
        }
    }
}

/// The dependency graph of a list of Kubernetes documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyGraph {
    /// Every HelmRelease, in document order.
    pub releases: Vec<ReleaseDeps>,
}

impl DependencyGraph {
    /// Reads the HelmReleases among `documents` (other kinds are skipped), wherever they came
    /// from (a folder of manifests, a `kubectl get -o json` list).
    ///
    /// # Errors
    /// [`DocumentError`] with the index of the first document without identity fields, or a
    /// HelmRelease whose name or namespace contains `/`.
    pub fn from_documents(
        documents: &[Value],
        default_namespace: &str,
    ) -> Result<Self, DocumentError> {
        let mut releases = Vec::new();
        for (index, document) in documents.iter().enumerate() {
            let identity =
                Identity::read(document).map_err(|error| DocumentError { index, error })?;
            if identity.kind == "HelmRelease" && identity.group() == HELM_RELEASE_GROUP {
                let release = HelmRelease::read(&identity, document);
                releases.push(ReleaseDeps::of(&release, default_namespace));
            }
        }
        Ok(Self { releases })
    }

    /// Every `dependsOn` edge whose target is not among the releases: (dependent, missing).
    #[must_use]
    pub fn dangling(&self) -> Vec<(ObjectKey, ObjectKey)> {
        let known: BTreeSet<&ObjectKey> = self.releases.iter().map(|r| &r.key).collect();
        self.releases
            .iter()
            .flat_map(|r| {
                r.depends_on
                    .iter()
                    .filter(|dep| !known.contains(dep))
                    .map(|dep| (r.key.clone(), dep.clone()))
            })
            .collect()
    }

    /// The dependency cycles: every strongly connected set of two or more releases, and every
    /// release that depends on itself; each sorted, the list sorted.
    #[must_use]
    pub fn cycles(&self) -> Vec<Vec<ObjectKey>> {
        let index: BTreeMap<&ObjectKey, usize> = self
            .releases
            .iter()
            .enumerate()
            .map(|(i, r)| (&r.key, i))
            .collect();
        let edges: Vec<Vec<usize>> = self
            .releases
            .iter()
            .map(|r| {
                r.depends_on
                    .iter()
                    .filter_map(|dep| index.get(dep).copied())
                    .collect()
            })
            .collect();
        let mut cycles: Vec<Vec<ObjectKey>> = cyclic_components(&edges)
            .into_iter()
            .map(|component| {
                let mut keys: Vec<ObjectKey> = component
                    .into_iter()
                    .map(|i| self.releases[i].key.clone())
                    .collect();
                keys.sort();
                keys.dedup();
                keys
            })
            .collect();
        cycles.sort();
        cycles.dedup();
        cycles
    }

    /// One closed path per dependency cycle (see [`cycles`](Self::cycles)): it starts and ends
    /// at the cycle's smallest release and follows `dependsOn` edges (`a` depends on `b`, which
    /// depends on `a`: `[a, b, a]`), as short as possible; the list sorted.
    #[must_use]
    pub fn cycle_paths(&self) -> Vec<Vec<ObjectKey>> {
        let keys: Vec<&ObjectKey> = self.unique_keys();
        let index: BTreeMap<&ObjectKey, usize> =
            keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
        for release in &self.releases {
            if let Some(&from) = index.get(&release.key) {
                for dep in &release.depends_on {
                    if let Some(&to) = index.get(dep)
                        && !edges[from].contains(&to)
                    {
                        edges[from].push(to);
                    }
                }
            }
        }
        let mut paths: Vec<Vec<ObjectKey>> = cyclic_components(&edges)
            .into_iter()
            .filter_map(|component| {
                let members: BTreeSet<usize> = component.into_iter().collect();
                // `keys` is sorted, so the smallest index is the smallest key.
                let start = *members.first()?;
                let path = shortest_cycle(&edges, &members, start)?;
                Some(path.into_iter().map(|i| keys[i].clone()).collect())
            })
            .collect();
        paths.sort();
        paths
    }

    /// Every distinct release key, sorted.
    fn unique_keys(&self) -> Vec<&ObjectKey> {
        let set: BTreeSet<&ObjectKey> = self.releases.iter().map(|r| &r.key).collect();
        set.into_iter().collect()
    }

    /// The first release of each key.
    fn first_releases(&self) -> BTreeMap<&ObjectKey, &ReleaseDeps> {
        let mut first = BTreeMap::new();
        for release in &self.releases {
            first.entry(&release.key).or_insert(release);
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
    /// The release: `name` (default namespace) or `namespace/name`.
    pub name: String,
    /// The releases it must depend on, in the same notation.
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
/// typo such as `depends-on` cannot pass as "no dependencies". A name is `name` (a release in
/// the default namespace) or `namespace/name`.
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
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedDeps {
    slots: Vec<ExpectedSlot>,
    releases: BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
    external: BTreeSet<ObjectKey>,
}

impl ExpectedDeps {
    /// Reads the file's content (already parsed from YAML or JSON); a name without a namespace
    /// is in `default_namespace`.
    ///
    /// # Errors
    /// [`ExpectedError`] for a shape other than the seed's form, a malformed name, or a name
    /// or slot number listed twice.
    pub fn from_value(value: &Value, default_namespace: &str) -> Result<Self, ExpectedError> {
        let file: ExpectedFile = serde_json::from_value(value.clone())
            .map_err(|e| ExpectedError::Shape(e.to_string()))?;
        let mut releases = BTreeMap::new();
        let mut slot_numbers = BTreeSet::new();
        for entry in &file.slots {
            if !slot_numbers.insert(entry.slot) {
                return Err(ExpectedError::DuplicateSlot(entry.slot));
            }
            let key = resolve(entry.slot, &entry.name, default_namespace)?;
            let deps = entry
                .depends_on
                .iter()
                .map(|dep| resolve(entry.slot, dep, default_namespace))
                .collect::<Result<BTreeSet<_>, _>>()?;
            if releases.insert(key, deps).is_some() {
                return Err(ExpectedError::DuplicateName(entry.name.clone()));
            }
        }
        let external = releases
            .values()
            .flatten()
            .filter(|dep| !releases.contains_key(*dep))
            .cloned()
            .collect();
        Ok(Self {
            slots: file.slots,
            releases,
            external,
        })
    }

    /// The entries as written.
    #[must_use]
    pub fn slots(&self) -> &[ExpectedSlot] {
        &self.slots
    }

    /// The expected dependencies of `release`; `None` when it has no slot.
    #[must_use]
    pub fn depends_on(&self, release: &ObjectKey) -> Option<&BTreeSet<ObjectKey>> {
        self.releases.get(release)
    }

    /// The names listed only as dependencies: releases outside the audited graph.
    #[must_use]
    pub fn external(&self) -> &BTreeSet<ObjectKey> {
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
        release: ObjectKey,
        /// The expected dependency it does not declare.
        dependency: ObjectKey,
    },
    /// The release declares a `dependsOn` entry the file does not expect.
    ExtraDependency {
        /// The dependent release.
        release: ObjectKey,
        /// The unexpected dependency.
        dependency: ObjectKey,
    },
    /// A slot of the expected file has no release in the graph.
    MissingRelease {
        /// The expected release.
        release: ObjectKey,
    },
    /// A release of the graph has no slot in the expected file.
    UnexpectedRelease {
        /// The release.
        release: ObjectKey,
    },
}

/// A `dependsOn` entry naming a release neither in the graph nor in the expected file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Dangling {
    /// The dependent release.
    pub release: ObjectKey,
    /// The unknown dependency.
    pub dependency: ObjectKey,
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
///   does not expect; a slot with no release in the graph; a release with no slot.
/// - **Cycles**: every cyclic set of releases, as one closed path `a -> b -> a`.
/// - **Dangling**: a `dependsOn` naming a release that is neither in the graph nor anywhere in
///   the expected file. A name the file lists only as a dependency (never as a slot) is
///   *external*: a release of the surrounding kit that this graph relies on but does not
///   contain (`bp-cilium` for `deploy/flux/`), so it is not dangling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// Differences from the expected file.
    pub drift: Vec<Drift>,
    /// Closed cycle paths ([`DependencyGraph::cycle_paths`]).
    pub cycles: Vec<Vec<ObjectKey>>,
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
    ///     if dependency.name == "bp-redis"));
    /// assert_eq!(audit.dangling.len(), 1);
    /// assert_eq!(audit.outcome(), Outcome::Drift);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn run(graph: &DependencyGraph, expected: &ExpectedDeps) -> Self {
        let mut drift = Vec::new();
        let present = graph.first_releases();
        for (key, release) in &present {
            let Some(wanted) = expected.depends_on(key) else {
                drift.push(Drift::UnexpectedRelease {
                    release: (*key).clone(),
                });
                continue;
            };
            let declared: BTreeSet<&ObjectKey> = release.depends_on.iter().collect();
            for dependency in wanted.iter().filter(|d| !declared.contains(d)) {
                drift.push(Drift::MissingDependency {
                    release: (*key).clone(),
                    dependency: dependency.clone(),
                });
            }
            for dependency in declared.iter().filter(|d| !wanted.contains(**d)) {
                drift.push(Drift::ExtraDependency {
                    release: (*key).clone(),
                    dependency: (*dependency).clone(),
                });
            }
        }
        for key in expected
            .releases
            .keys()
            .filter(|k| !present.contains_key(k))
        {
            drift.push(Drift::MissingRelease {
                release: key.clone(),
            });
        }
        drift.sort();
        let mut dangling: Vec<Dangling> = graph
            .dangling()
            .into_iter()
            .filter(|(_, dep)| {
                !expected.releases.contains_key(dep) && !expected.external.contains(dep)
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
        Audit, Dangling, DependencyGraph, Drift, ExpectedDeps, ObjectKey, Outcome,
        cyclic_components,
    };
    use crate::error::ExpectedError;

    fn release(name: &str, deps: &[&str]) -> Value {
        let deps: Vec<Value> = deps.iter().map(|d| json!({ "name": d })).collect();
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": { "name": name, "namespace": "flux-system" },
            "spec": { "dependsOn": deps }
        })
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            namespace: "flux-system".into(),
            name: name.into(),
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
        let b = ObjectKey {
            namespace: "apps".into(),
            name: "b".into(),
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
}
