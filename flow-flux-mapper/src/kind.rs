//! The Flux kinds this crate reads, and where the Kubernetes API serves them.

use serde::Serialize;
use serde_json::Value;

use crate::error::MapError;
use crate::foreign::Identity;
use crate::helmchart::HELM_CHART_GROUP;
use crate::helmrelease::HELM_RELEASE_GROUP;
use crate::kustomization::KUSTOMIZATION_GROUP;

/// A Flux kind the reconciler watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Kind {
    /// `helm.toolkit.fluxcd.io` HelmRelease.
    HelmRelease,
    /// `source.toolkit.fluxcd.io` HelmChart.
    HelmChart,
    /// `kustomize.toolkit.fluxcd.io` Kustomization.
    Kustomization,
}

impl Kind {
    /// Every kind, in the order a shell should watch them.
    pub const ALL: [Self; 3] = [Self::HelmRelease, Self::HelmChart, Self::Kustomization];

    /// The kind of a Kubernetes object, from its identity fields.
    ///
    /// # Errors
    /// [`MapError`] when the identity fields are missing or name another kind.
    pub fn of(object: &Value) -> Result<Self, MapError> {
        let identity = Identity::read(object)?;
        Self::of_identity(&identity)
    }

    pub(crate) fn of_identity(identity: &Identity<'_>) -> Result<Self, MapError> {
        Self::from_group_kind(identity.group(), identity.kind).ok_or_else(|| identity.unsupported())
    }

    /// The kind named by an API group and a kind name (`helm.toolkit.fluxcd.io`,
    /// `HelmRelease`); `None` for any other.
    #[must_use]
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.group() == group && k.name() == kind)
    }

    /// The kind's name, as in `kind:` (also the name `WATCH_KINDS` uses).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HelmRelease => "HelmRelease",
            Self::HelmChart => "HelmChart",
            Self::Kustomization => "Kustomization",
        }
    }

    /// The API group.
    #[must_use]
    pub const fn group(self) -> &'static str {
        match self {
            Self::HelmRelease => HELM_RELEASE_GROUP,
            Self::HelmChart => HELM_CHART_GROUP,
            Self::Kustomization => KUSTOMIZATION_GROUP,
        }
    }

    /// The API version a shell watches (the mapper reads every version of the group).
    #[must_use]
    pub const fn version(self) -> &'static str {
        match self {
            Self::HelmRelease => "v2",
            Self::HelmChart | Self::Kustomization => "v1",
        }
    }

    /// The resource's plural name, as in its API path.
    #[must_use]
    pub const fn plural(self) -> &'static str {
        match self {
            Self::HelmRelease => "helmreleases",
            Self::HelmChart => "helmcharts",
            Self::Kustomization => "kustomizations",
        }
    }

    /// Parses a kind name ([`name`](Self::name)), ignoring ASCII case; `None` for any other.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(text))
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn names_groups_and_parsing_agree() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
            assert_eq!(Kind::from_group_kind(kind.group(), kind.name()), Some(kind));
        }
        assert_eq!(Kind::parse("kustomization"), Some(Kind::Kustomization));
        assert_eq!(Kind::parse("GitRepository"), None);
        assert_eq!(
            Kind::from_group_kind("helm.toolkit.fluxcd.io", "Kustomization"),
            None
        );
    }
}
