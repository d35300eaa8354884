//! A lenient view of a Flux `HelmRelease` (`helm.toolkit.fluxcd.io/v2`): a [`FluxObject`]
//! with the spec and status fields of a release.

use serde::Deserialize;

use crate::conditions::Condition;
use crate::flux_object::{FluxObject, FluxSpec, FluxStatus};
use crate::foreign::{ObjectKey, lenient, lenient_vec};
use crate::kind::Kind;

/// The API group of HelmRelease. Every version of it is read (v2beta reasons are still mapped).
pub const HELM_RELEASE_GROUP: &str = "helm.toolkit.fluxcd.io";

/// A HelmRelease as the mapper sees it.
pub type HelmRelease = FluxObject<ReleaseSpec, ReleaseStatus>;

/// The spec fields the mapper reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSpec {
    /// `spec.suspend`.
    #[serde(default, deserialize_with = "lenient")]
    pub suspend: Option<bool>,
    /// `spec.dependsOn`.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub depends_on: Vec<DependencyRef>,
    /// `spec.chart` (a template for a generated HelmChart).
    #[serde(default, deserialize_with = "lenient")]
    pub chart: Option<ChartTemplate>,
    /// `spec.chartRef` (an existing HelmChart or OCIRepository).
    #[serde(default, deserialize_with = "lenient")]
    pub chart_ref: Option<CrossNamespaceRef>,
}

/// One `spec.dependsOn` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyRef {
    /// The HelmRelease depended on.
    pub name: String,
    /// Its namespace; defaults to the dependent's own.
    #[serde(default, deserialize_with = "lenient")]
    pub namespace: Option<String>,
    /// A CEL expression that replaces the built-in readiness check.
    #[serde(default, deserialize_with = "lenient")]
    pub ready_expr: Option<String>,
}

/// `spec.chart`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartTemplate {
    /// `spec.chart.spec`.
    #[serde(default, deserialize_with = "lenient")]
    pub spec: Option<ChartTemplateSpec>,
}

/// `spec.chart.spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartTemplateSpec {
    /// The chart name.
    #[serde(default, deserialize_with = "lenient")]
    pub chart: Option<String>,
    /// The version constraint.
    #[serde(default, deserialize_with = "lenient")]
    pub version: Option<String>,
    /// The chart's source.
    #[serde(default, deserialize_with = "lenient")]
    pub source_ref: Option<CrossNamespaceRef>,
}

/// A reference to an object, possibly in another namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceRef {
    /// The referent's kind.
    #[serde(default, deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// The referent's name.
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    /// The referent's namespace.
    #[serde(default, deserialize_with = "lenient")]
    pub namespace: Option<String>,
}

/// The status fields the mapper reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    /// `status.observedGeneration` (-1 until the first reconciliation).
    #[serde(default, deserialize_with = "lenient")]
    pub observed_generation: Option<i64>,
    /// `status.conditions`.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub conditions: Vec<Condition>,
    /// `status.failures`.
    #[serde(default, deserialize_with = "lenient")]
    pub failures: Option<i64>,
    /// `status.installFailures`.
    #[serde(default, deserialize_with = "lenient")]
    pub install_failures: Option<i64>,
    /// `status.upgradeFailures`.
    #[serde(default, deserialize_with = "lenient")]
    pub upgrade_failures: Option<i64>,
    /// `status.lastAttemptedRevision` (the chart version last attempted).
    #[serde(default, deserialize_with = "lenient")]
    pub last_attempted_revision: Option<String>,
    /// `status.lastAttemptedReleaseAction` (`install` or `upgrade`).
    #[serde(default, deserialize_with = "lenient")]
    pub last_attempted_release_action: Option<String>,
    /// `status.lastAttemptedReleaseActionDuration` (a Go duration string).
    #[serde(default, deserialize_with = "lenient")]
    pub last_attempted_release_action_duration: Option<String>,
    /// `status.history`, newest first.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub history: Vec<ReleaseSnapshot>,
    /// `status.helmChart`: `namespace/name` of the generated HelmChart.
    #[serde(default, deserialize_with = "lenient")]
    pub helm_chart: Option<String>,
}

/// One `status.history` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSnapshot {
    /// The chart name.
    #[serde(default, deserialize_with = "lenient")]
    pub chart_name: Option<String>,
    /// The chart version.
    #[serde(default, deserialize_with = "lenient")]
    pub chart_version: Option<String>,
    /// The app version.
    #[serde(default, deserialize_with = "lenient")]
    pub app_version: Option<String>,
    /// `lastDeployed` (RFC 3339): when Helm started the install or upgrade that made this
    /// release.
    #[serde(default, deserialize_with = "lenient")]
    pub last_deployed: Option<String>,
}

impl FluxSpec for ReleaseSpec {
    const KIND: Kind = Kind::HelmRelease;
}

impl FluxStatus for ReleaseStatus {
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}

impl HelmRelease {
    /// The HelmChart this release uses, as (namespace, name): `status.helmChart`, else a
    /// `spec.chartRef` of kind HelmChart, else the generated name `<namespace>-<name>` in the
    /// source's namespace.
    #[must_use]
    pub fn helm_chart(&self, default_namespace: &str) -> Option<ObjectKey> {
        let own_namespace = self.namespace_or(default_namespace);
        if let Some((namespace, name)) = self
            .status
            .as_ref()
            .and_then(|s| s.helm_chart.as_deref())
            .and_then(|text| text.split_once('/'))
        {
            return Some(ObjectKey {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            });
        }
        if let Some(chart_ref) = &self.spec.chart_ref {
            return match (chart_ref.kind.as_deref(), chart_ref.name.as_deref()) {
                (Some("HelmChart"), Some(name)) => Some(ObjectKey {
                    namespace: chart_ref
                        .namespace
                        .clone()
                        .unwrap_or_else(|| own_namespace.to_owned()),
                    name: name.to_owned(),
                }),
                _ => None,
            };
        }
        let template = self.spec.chart.as_ref()?.spec.as_ref()?;
        let source_namespace = template
            .source_ref
            .as_ref()
            .and_then(|s| s.namespace.as_deref())
            .unwrap_or(own_namespace);
        Some(ObjectKey {
            namespace: source_namespace.to_owned(),
            name: format!("{own_namespace}-{}", self.name()),
        })
    }
}
