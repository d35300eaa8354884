//! A lenient view of a Flux `Kustomization` (`kustomize.toolkit.fluxcd.io/v1`): a
//! [`FluxObject`] with the spec and status fields of a Kustomization. What a Kustomization applied
//! is read from `status.inventory` ([`Kustomization::inventory`]); an applied object also names
//! its Kustomization in the labels [`NAME_LABEL`] and [`NAMESPACE_LABEL`]
//! ([`applied_by`]).

use serde::Deserialize;

use crate::conditions::Condition;
use crate::flux_object::{FluxObject, FluxSpec, FluxStatus};
use crate::foreign::{ObjectKey, ObjectMeta, lenient, lenient_vec};
use crate::helmrelease::{CrossNamespaceRef, DependencyRef};
use crate::kind::Kind;

/// The API group of Kustomization.
pub const KUSTOMIZATION_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The label kustomize-controller puts on every object it applies: the Kustomization's name.
pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";

/// The label kustomize-controller puts on every object it applies: the Kustomization's
/// namespace.
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// A Kustomization as the mapper sees it.
pub type Kustomization = FluxObject<KustomizationSpec, KustomizationStatus>;

/// The spec fields the mapper reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// `spec.suspend`.
    #[serde(default, deserialize_with = "lenient")]
    pub suspend: Option<bool>,
    /// `spec.dependsOn` (other Kustomizations).
    #[serde(default, deserialize_with = "lenient_vec")]
    pub depends_on: Vec<DependencyRef>,
    /// `spec.sourceRef` (a GitRepository, OCIRepository, Bucket or ExternalArtifact).
    #[serde(default, deserialize_with = "lenient")]
    pub source_ref: Option<CrossNamespaceRef>,
    /// `spec.wait`: Ready only once every applied object is ready.
    #[serde(default, deserialize_with = "lenient")]
    pub wait: Option<bool>,
    /// `spec.healthChecks`: the applied objects whose readiness Ready waits for.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub health_checks: Vec<CrossNamespaceRef>,
}

/// The status fields the mapper reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// `status.observedGeneration` (-1 until the first reconciliation).
    #[serde(default, deserialize_with = "lenient")]
    pub observed_generation: Option<i64>,
    /// `status.conditions`.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub conditions: Vec<Condition>,
    /// `status.lastAppliedRevision`.
    #[serde(default, deserialize_with = "lenient")]
    pub last_applied_revision: Option<String>,
    /// `status.lastAttemptedRevision`.
    #[serde(default, deserialize_with = "lenient")]
    pub last_attempted_revision: Option<String>,
    /// `status.history`, newest first.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub history: Vec<ReconcileSnapshot>,
    /// `status.inventory`.
    #[serde(default, deserialize_with = "lenient")]
    pub inventory: Option<Inventory>,
}

/// One `status.history` entry: one revision's reconciliations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileSnapshot {
    /// `digest` of the applied resources.
    #[serde(default, deserialize_with = "lenient")]
    pub digest: Option<String>,
    /// `firstReconciled` (RFC 3339).
    #[serde(default, deserialize_with = "lenient")]
    pub first_reconciled: Option<String>,
    /// `lastReconciled` (RFC 3339).
    #[serde(default, deserialize_with = "lenient")]
    pub last_reconciled: Option<String>,
    /// `lastReconciledDuration` (a Go duration string).
    #[serde(default, deserialize_with = "lenient")]
    pub last_reconciled_duration: Option<String>,
    /// `lastReconciledStatus`, verbatim.
    #[serde(default, deserialize_with = "lenient")]
    pub last_reconciled_status: Option<String>,
    /// `totalReconciliations`.
    #[serde(default, deserialize_with = "lenient")]
    pub total_reconciliations: Option<i64>,
}

/// `status.inventory`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Inventory {
    /// `status.inventory.entries`.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub entries: Vec<InventoryEntry>,
}

/// One `status.inventory.entries` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct InventoryEntry {
    /// `<namespace>_<name>_<group>_<kind>`.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
}

/// An object named by an inventory entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppliedObject {
    /// The API group (empty for the core group).
    pub group: String,
    /// The kind.
    pub kind: String,
    /// Namespace (empty for a cluster-scoped object) and name.
    pub key: ObjectKey,
}

impl InventoryEntry {
    /// The object the entry names; `None` for an id that is not four `_`-separated parts
    /// with a non-empty name and kind (Kubernetes names, groups and kinds cannot hold `_`).
    #[must_use]
    pub fn object(&self) -> Option<AppliedObject> {
        let mut parts = self.id.as_deref()?.split('_');
        let (namespace, name, group, kind) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || name.is_empty() || kind.is_empty() {
            return None;
        }
        Some(AppliedObject {
            group: group.to_owned(),
            kind: kind.to_owned(),
            key: ObjectKey {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
        })
    }
}

impl FluxSpec for KustomizationSpec {
    const KIND: Kind = Kind::Kustomization;
}

impl FluxStatus for KustomizationStatus {
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl Kustomization {
    /// Every object `status.inventory` lists, skipping unreadable entries.
    pub fn inventory(&self) -> impl Iterator<Item = AppliedObject> + '_ {
        self.status
            .iter()
            .flat_map(|s| s.inventory.iter())
            .flat_map(|inventory| inventory.entries.iter())
            .filter_map(InventoryEntry::object)
    }
}

/// The Kustomization that applied an object, from its [`NAME_LABEL`] and [`NAMESPACE_LABEL`]
/// labels; without the namespace label, the object's own namespace. `None` without the name
/// label, or with a name or namespace that is empty or holds `/`.
#[must_use]
pub fn applied_by(metadata: &ObjectMeta, own_namespace: &str) -> Option<ObjectKey> {
    let labels = metadata.labels.as_ref()?;
    let name = labels.get(NAME_LABEL)?;
    let namespace = labels
        .get(NAMESPACE_LABEL)
        .map_or(own_namespace, String::as_str);
    let valid = |text: &str| !text.is_empty() && !text.contains('/');
    (valid(name) && valid(namespace)).then(|| ObjectKey {
        namespace: namespace.to_owned(),
        name: name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::InventoryEntry;

    fn entry(id: &str) -> InventoryEntry {
        InventoryEntry {
            id: Some(id.to_owned()),
        }
    }

    #[test]
    fn inventory_ids_split_into_four_parts() {
        let object = entry("flux-system_bp-cilium_helm.toolkit.fluxcd.io_HelmRelease")
            .object()
            .unwrap();
        assert_eq!(object.group, "helm.toolkit.fluxcd.io");
        assert_eq!(object.kind, "HelmRelease");
        assert_eq!(object.key.namespace, "flux-system");
        assert_eq!(object.key.name, "bp-cilium");
        // A cluster-scoped object has an empty namespace; the core group is empty.
        let namespace = entry("_apps__Namespace").object().unwrap();
        assert_eq!(
            (namespace.key.namespace.as_str(), namespace.group.as_str()),
            ("", "")
        );
        for bad in ["a_b_c", "a_b_c_d_e", "ns__g_Kind", "ns_n_g_", ""] {
            assert_eq!(entry(bad).object(), None, "{bad:?}");
        }
        assert_eq!(InventoryEntry { id: None }.object(), None);
    }
}
