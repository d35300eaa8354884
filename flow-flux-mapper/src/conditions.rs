//! Kubernetes conditions and the Flux vocabulary in them.
//!
//! This is the only file that compares Flux strings. Condition types and reasons become enums
//! here; a reason this crate does not know is kept verbatim in [`Reason::Other`], classified
//! as [`ReasonClass::Other`] and forwarded to `meta` unchanged.

use serde::Deserialize;

use crate::foreign::lenient;
use crate::time::rfc3339_to_unix_ms;

/// One entry of `status.conditions`, read leniently.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `type`, verbatim.
    #[serde(default, rename = "type", deserialize_with = "lenient")]
    pub type_name: Option<String>,
    /// `status`, verbatim (`True`, `False`, `Unknown`).
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<String>,
    /// `reason`, verbatim.
    #[serde(default, deserialize_with = "lenient")]
    pub reason: Option<String>,
    /// `message`, verbatim (may be long).
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
    /// `lastTransitionTime` (RFC 3339).
    #[serde(default, deserialize_with = "lenient")]
    pub last_transition_time: Option<String>,
    /// The generation the condition was computed for.
    #[serde(default, deserialize_with = "lenient")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// The condition's type.
    #[must_use]
    pub fn kind(&self) -> Option<ConditionType> {
        self.type_name.as_deref().and_then(ConditionType::parse)
    }

    /// The condition's status; anything but `True` or `False` reads as `Unknown`.
    #[must_use]
    pub fn state(&self) -> ConditionStatus {
        match self.status.as_deref() {
            Some("True") => ConditionStatus::True,
            Some("False") => ConditionStatus::False,
            _ => ConditionStatus::Unknown,
        }
    }

    /// Whether the status is `True`.
    #[must_use]
    pub fn is_true(&self) -> bool {
        self.state() == ConditionStatus::True
    }

    /// The reason, classified (`None` when absent).
    #[must_use]
    pub fn reason(&self) -> Option<Reason> {
        self.reason.as_deref().map(Reason::parse)
    }

    /// `lastTransitionTime` in unix milliseconds; `None` when absent or unreadable.
    #[must_use]
    pub fn transition_ms(&self) -> Option<u64> {
        self.last_transition_time
            .as_deref()
            .and_then(rfc3339_to_unix_ms)
    }
}

/// Finds the first condition of type `kind`.
#[must_use]
pub fn find(conditions: &[Condition], kind: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.kind() == Some(kind))
}

/// A condition's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// `True`
    True,
    /// `False`
    False,
    /// `Unknown`, or anything unreadable.
    Unknown,
}

/// Condition types the mapper reads (HelmRelease, HelmChart and Kustomization share the first
/// three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// `Ready`: the summary.
    Ready,
    /// `Reconciling`: present while an action runs.
    Reconciling,
    /// `Stalled`: terminal until the spec changes.
    Stalled,
    /// `Drifted`: the cluster state differs from the release.
    Drifted,
}

impl ConditionType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Ready" => Self::Ready,
            "Reconciling" => Self::Reconciling,
            "Stalled" => Self::Stalled,
            "Drifted" => Self::Drifted,
            _ => return None,
        })
    }
}

/// What a reason means for the node that carries it on `Ready=False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonClass {
    /// The release failed (including remediations, which only happen after a failure).
    Failure,
    /// Waiting for the objects named in `dependsOn`.
    WaitingForDependency,
    /// Waiting for the chart source.
    WaitingForSource,
    /// An action is in progress.
    Progressing,
    /// A success reason.
    Success,
    /// A reason this crate does not know.
    Other,
}

macro_rules! reasons {
    ($($variant:ident => $text:literal, $class:ident;)*) => {
        /// A condition reason of helm-controller v2, source-controller v1 or
        /// kustomize-controller v1 (plus the v2beta reasons the seed mapped); anything else is
        /// kept verbatim in [`Reason::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Reason {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )*
            /// A reason this crate does not know, verbatim.
            Other(String),
        }

        impl Reason {
            /// Classifies a reason string.
            #[must_use]
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }

            /// The reason as Flux writes it.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(text) => text,
                }
            }

            /// What the reason means on `Ready=False`.
            #[must_use]
            pub const fn class(&self) -> ReasonClass {
                match self {
                    $(Self::$variant => ReasonClass::$class,)*
                    Self::Other(_) => ReasonClass::Other,
                }
            }
        }
    };
}

reasons! {
    // helm-controller v2: progress and success.
    Progressing => "Progressing", Progressing;
    ProgressingWithRetry => "ProgressingWithRetry", Progressing;
    InstallSucceeded => "InstallSucceeded", Success;
    UpgradeSucceeded => "UpgradeSucceeded", Success;
    TestSucceeded => "TestSucceeded", Success;
    // helm-controller v2: Stalled reasons.
    RetriesExceeded => "RetriesExceeded", Failure;
    MissingRollbackTarget => "MissingRollbackTarget", Failure;
    InvalidCelExpression => "InvalidCELExpression", Failure;
    AccessDenied => "AccessDenied", Failure;
    // helm-controller v2: Ready=False failures.
    InstallFailed => "InstallFailed", Failure;
    UpgradeFailed => "UpgradeFailed", Failure;
    TestFailed => "TestFailed", Failure;
    RollbackFailed => "RollbackFailed", Failure;
    UninstallFailed => "UninstallFailed", Failure;
    RollbackSucceeded => "RollbackSucceeded", Failure;
    UninstallSucceeded => "UninstallSucceeded", Failure;
    ArtifactFailed => "ArtifactFailed", Failure;
    ValuesError => "ValuesError", Failure;
    ChartMutateError => "ChartMutateError", Failure;
    RestClientError => "RESTClientError", Failure;
    ResourceManagerError => "ResourceManagerError", Failure;
    FactoryError => "FactoryError", Failure;
    ConfigFactoryErr => "ConfigFactoryErr", Failure;
    StateError => "StateError", Failure;
    ReconcileError => "ReconcileError", Failure;
    HealthCheckCanceled => "HealthCheckCanceled", Failure;
    // v2beta only; kept because the seed mapped it and old objects may carry it.
    RetriesExhausted => "RetriesExhausted", Failure;
    // helm-controller v2: waiting.
    DependencyNotReady => "DependencyNotReady", WaitingForDependency;
    SourceNotReady => "SourceNotReady", WaitingForSource;
    // source-controller v1 (HelmChart).
    NoSourceArtifact => "NoSourceArtifact", WaitingForSource;
    SourceUnavailable => "SourceUnavailable", Failure;
    AuthenticationFailed => "AuthenticationFailed", Failure;
    UrlInvalid => "URLInvalid", Failure;
    InvalidChartReference => "InvalidChartReference", Failure;
    ChartPullError => "ChartPullError", Failure;
    ChartPackageError => "ChartPackageError", Failure;
    DependencyBuildError => "DependencyBuildError", Failure;
    ChartVerificationError => "ChartVerificationError", Failure;
    ChartPullSucceeded => "ChartPullSucceeded", Success;
    ChartPackageSucceeded => "ChartPackageSucceeded", Success;
    Succeeded => "Succeeded", Success;
    // kustomize-controller v1 (Kustomization); `DependencyNotReady`, `ArtifactFailed`,
    // `Progressing`, `ProgressingWithRetry` and the Stalled reasons are shared with
    // helm-controller above. `ReconciliationSucceeded`/`ReconciliationFailed` are also the
    // v2beta HelmRelease reasons, with the same meaning there.
    ReconciliationSucceeded => "ReconciliationSucceeded", Success;
    ReconciliationFailed => "ReconciliationFailed", Failure;
    BuildFailed => "BuildFailed", Failure;
    HealthCheckFailed => "HealthCheckFailed", Failure;
    PruneFailed => "PruneFailed", Failure;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_and_unknown_is_verbatim() {
        for text in [
            "InstallFailed",
            "RESTClientError",
            "InvalidCELExpression",
            "SourceNotReady",
            "HealthCheckFailed",
        ] {
            assert_eq!(Reason::parse(text).as_str(), text);
        }
        let other = Reason::parse("SomethingNew");
        assert_eq!(other, Reason::Other("SomethingNew".to_owned()));
        assert_eq!(other.as_str(), "SomethingNew");
        assert_eq!(other.class(), ReasonClass::Other);
        assert_eq!(
            Reason::parse("RollbackSucceeded").class(),
            ReasonClass::Failure
        );
        for failure in [
            "BuildFailed",
            "HealthCheckFailed",
            "PruneFailed",
            "ReconciliationFailed",
        ] {
            assert_eq!(Reason::parse(failure).class(), ReasonClass::Failure);
        }
        assert_eq!(
            Reason::parse("ReconciliationSucceeded").class(),
            ReasonClass::Success
        );
        assert_eq!(
            Reason::parse("DependencyNotReady").class(),
            ReasonClass::WaitingForDependency
        );
    }

    #[test]
    fn status_reads_unknown_for_garbage() {
        let c = |s: &str| Condition {
            status: Some(s.to_owned()),
            ..Condition::default()
        };
        assert_eq!(c("True").state(), ConditionStatus::True);
        assert_eq!(c("False").state(), ConditionStatus::False);
        assert_eq!(c("true").state(), ConditionStatus::Unknown);
        assert_eq!(Condition::default().state(), ConditionStatus::Unknown);
    }
}
