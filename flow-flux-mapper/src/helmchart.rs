//! A lenient view of a Flux `HelmChart` (`source.toolkit.fluxcd.io/v1`): a [`FluxObject`] of
//! which the mapper reads only the common status.
//!
//! The mapper draws no node for a HelmChart: its state explains the HelmRelease that uses it.

use serde::Deserialize;

use crate::conditions::Condition;
use crate::flux_object::{FluxObject, FluxSpec, FluxStatus};
use crate::foreign::{lenient, lenient_vec};
use crate::kind::Kind;

/// The API group of HelmChart.
pub const HELM_CHART_GROUP: &str = "source.toolkit.fluxcd.io";

/// A HelmChart as the mapper sees it.
pub type HelmChart = FluxObject<ChartSpec, ChartStatus>;

/// The spec of a HelmChart: the mapper reads none of its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ChartSpec {}

/// The status fields the mapper reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartStatus {
    /// `status.observedGeneration`.
    #[serde(default, deserialize_with = "lenient")]
    pub observed_generation: Option<i64>,
    /// `status.conditions`.
    #[serde(default, deserialize_with = "lenient_vec")]
    pub conditions: Vec<Condition>,
}

impl FluxSpec for ChartSpec {
    const KIND: Kind = Kind::HelmChart;
}

impl FluxStatus for ChartStatus {
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
}
