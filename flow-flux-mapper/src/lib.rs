//! Flux `HelmRelease` / `HelmChart` / `Kustomization` objects, as the Kubernetes API returns
//! them, to OpenovaFlow [`FlowMessage`](flow_contract::FlowMessage)s.
//!
//! ```text
//!  watcher events (JSON)          Reconciler            FlowMessages to POST
//!  InitStarted/InitObject/  ──▶  handle(event)  ──▶  flush(): upsert-nodes, upsert-rels,
//!  InitDone/Applied/Deleted       (pure state)         delete-rels, delete-nodes
//! ```
//!
//! Around the reconciler, the [`Healer`] decides when the adapter flushes, probes the server's
//! head, reads its snapshot and re-sends the region ([`heal`]).
//!
//! Each HelmRelease and each Kustomization becomes one node (status from the
//! [mapping table](status), id rule in [`map`](map#node-ids)); each region gets a synthetic
//! node; every object is `contains`-ed by the Kustomization that applied it, else by the
//! region; each `spec.dependsOn` entry becomes a `finish-to-start` edge. A HelmChart draws no
//! node: it explains the release that waits for it.
//!
//! ```
//! use flow_flux_mapper::{Config, HelmRelease, NodeStatus, Rule, decide, map_release};
//! use serde_json::json;
//!
//! let object = json!({
//!     "apiVersion": "helm.toolkit.fluxcd.io/v2",
//!     "kind": "HelmRelease",
//!     "metadata": {"name": "bp-cert-manager", "namespace": "flux-system", "generation": 3},
//!     "spec": {"interval": "10m", "dependsOn": [{"name": "bp-cilium"}]},
//!     "status": {
//!         "observedGeneration": 2,
//!         "conditions": [{"type": "Ready", "status": "True", "reason": "UpgradeSucceeded",
//!             "message": "ok", "lastTransitionTime": "2026-07-01T10:00:00Z"}]
//!     }
//! });
//! let release = HelmRelease::from_value(&object)?;
//! // Ready=True for generation 2 says nothing about generation 3.
//! assert_eq!(decide(&release).rule, Rule::StaleGeneration);
//!
//! let config = Config::new("rollout", "fsn1", "flux-system")?;
//! let mapped = map_release(&config, &release, None)?;
//! assert_eq!(mapped.node.id, "fsn1/bp-cert-manager");
//! assert_eq!(mapped.node.status, NodeStatus::Pending.as_str());
//! assert_eq!(mapped.node.family.as_deref(), Some("cert-manager"));
//! assert_eq!(mapped.dependencies[0].from_id, "fsn1/bp-cilium");
//! assert_eq!(mapped.node.meta.as_ref().unwrap()["kind"], "HelmRelease");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What this crate does not do
//!
//! No I/O, no clock, no threads: it never talks to Kubernetes or to the flow server (the
//! adapter binary does), and every time it emits comes from the objects themselves. It never
//! builds a `snapshot` message, because several regions share one flow.
//!
//! # Leniency
//!
//! Foreign objects are read leniently: unknown fields are ignored, a field of the wrong type
//! reads as absent. Only `kind`, `apiVersion` and `metadata.name` are required ([`MapError`]).
//! Unknown condition reasons map to row 10 of the table (running) and are forwarded verbatim
//! in `meta.reason`.

#![warn(clippy::pedantic)]
// Kubernetes kinds (HelmRelease, HelmChart, Kustomization) and product names in prose are not
// code.
#![allow(clippy::doc_markdown)]

pub mod conditions;
mod deps;
mod error;
mod flux_object;
mod foreign;
pub mod heal;
mod helmchart;
mod helmrelease;
mod kind;
mod kustomization;
pub mod map;
mod reconcile;
pub mod status;
mod time;

pub use conditions::{Condition, ConditionStatus, ConditionType, Reason, ReasonClass};
pub use deps::{
    Audit, Dangling, DependencyGraph, Drift, ExpectedDeps, ExpectedSlot, ObjectRef, Outcome,
    ReleaseDeps,
};
pub use error::{ConfigError, DocumentError, ExpectedError, MapError};
pub use flux_object::{FluxObject, FluxSpec, FluxStatus};
pub use foreign::{ObjectKey, ObjectMeta};
pub use heal::Healer;
pub use helmchart::{ChartSpec, ChartStatus, HELM_CHART_GROUP, HelmChart};
pub use helmrelease::{
    ChartTemplate, ChartTemplateSpec, CrossNamespaceRef, DependencyRef, HELM_RELEASE_GROUP,
    HelmRelease, ReleaseSnapshot, ReleaseSpec, ReleaseStatus,
};
pub use kind::Kind;
pub use kustomization::{
    AppliedObject, Inventory, InventoryEntry, KUSTOMIZATION_GROUP, Kustomization,
    KustomizationSpec, KustomizationStatus, NAME_LABEL, NAMESPACE_LABEL, ReconcileSnapshot,
    applied_by,
};
pub use map::{Config, FAMILY_LABEL, Graph, Mapped, map_kustomization, map_release, region_node};
pub use reconcile::{Event, Reconciler};
pub use status::{Decision, NodeStatus, Reconciled, ReconciledSpec, Rule, decide};
pub use time::rfc3339_to_unix_ms;
