//! The dependency graph of a set of HelmReleases: names, namespaces and `dependsOn`.
//!
//! Shared by the mapper (cycle flags on nodes) and by audit tools that read HelmRelease
//! manifests from a repository instead of a cluster.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::DocumentError;
use crate::foreign::{Identity, ObjectKey};
use crate::helmrelease::{DependencyRef, HELM_RELEASE_GROUP, HelmRelease};

/// One HelmRelease's place in the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseDeps {
    /// Namespace (the default namespace when the document has none) and name.
    pub key: ObjectKey,
    /// The releases it depends on, namespaces resolved, in `spec.dependsOn` order.
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
        Self {
            key: ObjectKey {
                namespace: namespace.to_owned(),
                name: release.name().to_owned(),
            },
            depends_on: release
                .spec
                .depends_on
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
            entries: release.spec.depends_on.clone(),
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
        let known: std::collections::BTreeSet<&ObjectKey> =
            self.releases.iter().map(|r| &r.key).collect();
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
    use super::cyclic_components;

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
