//! What every Flux object the mapper reads has in common: identity, metadata, a spec and an
//! optional status with `observedGeneration` and conditions. [`HelmRelease`], [`Kustomization`]
//! and [`HelmChart`] are this view over their own spec and status.
//!
//! [`HelmRelease`]: crate::HelmRelease
//! [`Kustomization`]: crate::Kustomization
//! [`HelmChart`]: crate::HelmChart

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::conditions::{Condition, ConditionType, find};
use crate::error::MapError;
use crate::foreign::{Identity, ObjectMeta, lenient};
use crate::kind::Kind;

/// The spec of one Flux kind: names the kind whose objects carry it.
pub trait FluxSpec: DeserializeOwned + Default {
    /// The kind (and so the API group) an object must have to be read with this spec.
    const KIND: Kind;
}

/// The status of a Flux kind: what every Flux status holds.
pub trait FluxStatus: DeserializeOwned {
    /// `status.observedGeneration` (-1 until the first reconciliation).
    fn observed_generation(&self) -> Option<i64>;
    /// `status.conditions`.
    fn conditions(&self) -> &[Condition];
}

/// A Flux object as the mapper sees it, read leniently: unknown fields are ignored and fields
/// of the wrong type read as absent; only the identity fields (`kind`, `apiVersion`,
/// `metadata.name`) are required.
#[derive(Debug, Clone, PartialEq)]
pub struct FluxObject<Spec, Status> {
    /// `apiVersion`, verbatim.
    pub api_version: String,
    /// The metadata the mapper reads.
    pub metadata: ObjectMeta,
    /// The spec fields the mapper reads.
    pub spec: Spec,
    /// `status`; `None` when the object has none (never reconciled).
    pub status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(bound = "Spec: DeserializeOwned, Status: DeserializeOwned")]
struct Raw<Spec, Status> {
    #[serde(default, deserialize_with = "lenient")]
    metadata: Option<ObjectMeta>,
    #[serde(default, deserialize_with = "lenient")]
    spec: Option<Spec>,
    #[serde(default, deserialize_with = "lenient")]
    status: Option<Status>,
}

impl<Spec: FluxSpec, Status: FluxStatus> FluxObject<Spec, Status> {
    /// Reads the object from the JSON the Kubernetes API returns.
    ///
    /// # Errors
    /// [`MapError`] when an identity field is missing, the object is not of the kind and API
    /// group of `Spec` ([`FluxSpec::KIND`]), or its name or namespace contains `/`.
    pub fn from_value(value: &Value) -> Result<Self, MapError> {
        let identity = Identity::read(value)?;
        if identity.kind != Spec::KIND.name() || identity.group() != Spec::KIND.group() {
            return Err(identity.unsupported());
        }
        Ok(Self::read(&identity, value))
    }

    pub(crate) fn read(identity: &Identity<'_>, value: &Value) -> Self {
        // Every field of `Raw` is lenient, so only a non-object could fail, and
        // `Identity::read` has checked that it is an object.
        let raw = Raw::deserialize(value).unwrap_or(Raw {
            metadata: None,
            spec: None,
            status: None,
        });
        let mut metadata = raw.metadata.unwrap_or_default();
        metadata.name = Some(identity.name.to_owned());
        metadata.namespace = identity.namespace.map(str::to_owned);
        Self {
            api_version: identity.api_version.to_owned(),
            metadata,
            spec: raw.spec.unwrap_or_default(),
            status: raw.status,
        }
    }

    /// `metadata.name`.
    #[must_use]
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, or `default_namespace` when the object carries none.
    #[must_use]
    pub fn namespace_or<'a>(&'a self, default_namespace: &'a str) -> &'a str {
        self.metadata
            .namespace
            .as_deref()
            .unwrap_or(default_namespace)
    }

    /// `status.observedGeneration` (`None` without a status).
    #[must_use]
    pub fn observed_generation(&self) -> Option<i64> {
        self.status.as_ref().and_then(Status::observed_generation)
    }

    /// The conditions (empty without a status).
    #[must_use]
    pub fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], Status::conditions)
    }

    /// The first condition of type `kind`.
    #[must_use]
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        find(self.conditions(), kind)
    }
}
