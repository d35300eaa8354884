//! A lenient view of a Flux `HelmChart` (`source.toolkit.fluxcd.io/v1`).
//!
//! The mapper draws no node for a HelmChart: its state explains the HelmRelease that uses it.

use serde::Deserialize;
use serde_json::Value;

use crate::conditions::{Condition, ConditionType, find};
use crate::error::MapError;
use crate::foreign::{Identity, ObjectMeta, lenient, lenient_vec};

/// The API group of HelmChart.
pub const HELM_CHART_GROUP: &str = "source.toolkit.fluxcd.io";

/// A HelmChart as the mapper sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmChart {
    /// The metadata the mapper reads.
    pub metadata: ObjectMeta,
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// `status.conditions`.
    pub conditions: Vec<Condition>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default, deserialize_with = "lenient")]
    metadata: Option<ObjectMeta>,
    #[serde(default, deserialize_with = "lenient")]
    status: Option<RawStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    #[serde(default, deserialize_with = "lenient")]
    observed_generation: Option<i64>,
    #[serde(default, deserialize_with = "lenient_vec")]
    conditions: Vec<Condition>,
}

impl HelmChart {
    /// Reads a HelmChart from the JSON the Kubernetes API returns.
    ///
    /// # Errors
    /// [`MapError`] when an identity field is missing, the object is not a HelmChart of
    /// `source.toolkit.fluxcd.io`, or its name or namespace contains `/`.
    pub fn from_value(value: &Value) -> Result<Self, MapError> {
        let identity = Identity::read(value)?;
        if identity.kind != "HelmChart" || identity.group() != HELM_CHART_GROUP {
            return Err(identity.unsupported());
        }
        Ok(Self::read(&identity, value))
    }

    pub(crate) fn read(identity: &Identity<'_>, value: &Value) -> Self {
        // Every field of `Raw` is lenient and `Identity::read` checked that `value` is an object.
        let raw = Raw::deserialize(value).unwrap_or(Raw {
            metadata: None,
            status: None,
        });
        let mut metadata = raw.metadata.unwrap_or_default();
        metadata.name = Some(identity.name.to_owned());
        metadata.namespace = identity.namespace.map(str::to_owned);
        let (observed_generation, conditions) = raw.status.map_or((None, Vec::new()), |s| {
            (s.observed_generation, s.conditions)
        });
        Self {
            metadata,
            observed_generation,
            conditions,
        }
    }

    /// The first condition of type `kind`.
    #[must_use]
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        find(&self.conditions, kind)
    }
}
