//! The mapping from a HelmRelease's or a Kustomization's state to a node status: first match
//! wins.
//!
//! | # | [`Rule`] | Object | Node status | `meta` |
//! |---|---|---|---|---|
//! | 1 | `deleting` | `metadata.deletionTimestamp` set | running | `deleting: true` |
//! | 2 | `not-reconciled` | no status, no `Ready`, or `observedGeneration` -1 | pending | |
//! | 3 | `stalled` | `Stalled=True` for the current generation | failed | `stalled: true`, Stalled reason and message, failure counts |
//! | 4 | `ready` | `Ready=True` and `observedGeneration` == `generation` | succeeded | `drifted: true` if `Drifted=True` |
//! | 5 | `stale-generation` | `Ready=True` but `observedGeneration` < `generation` | running if `Reconciling=True`, else pending | |
//! | 6 | `dependency-not-ready` | `Ready=False` / `DependencyNotReady` | pending | `waitingFor`: the upstream node ids not succeeded |
//! | 7 | `source-not-ready` | `Ready=False` / `SourceNotReady` | pending | `source`: the HelmChart's state |
//! | 8 | `failed` | `Ready=False` with a [failure reason](crate::ReasonClass::Failure) | failed | `retrying: true` if `Reconciling=True`; `source` on `ArtifactFailed` |
//! | 9 | `progressing` | `Ready=Unknown` (or unreadable), or `Reconciling=True` | running | `progress`: the Reconciling message (the current Helm action) |
//! | 10 | `unknown-reason` | `Ready=False` with any other reason | running | `reason` forwarded verbatim |
//! | S | (flag) | `spec.suspend: true` | any status but succeeded becomes pending | `suspended: true` |
//!
//! "Current generation": the condition's own `observedGeneration` when it has one, else
//! `status.observedGeneration`; a missing `metadata.generation` or `observedGeneration`
//! (hand-written objects) counts as current.
//!
//! # Differences from the seed's table
//!
//! The seed mapped only `Ready`: True -> succeeded; False with `InstallFailed`, `UpgradeFailed`
//! or `RetriesExhausted` -> failed; `Progressing`, any other False, or Unknown -> running; no
//! `Ready` -> pending. Every one of those still holds, except:
//!
//! - **Deletion** (row 1): running whatever `Ready` says; the uninstall is in progress.
//! - **`observedGeneration` -1** (row 2): pending even when a `Ready` condition is present.
//! - **Stalled** (row 3): failed even when `Ready` is Unknown or carries another reason.
//! - **Stale generation** (row 5): `Ready=True` for an older spec is not succeeded.
//! - **Waiting reasons** (rows 6, 7): pending, not running, since nothing is being done yet.
//! - **More failure reasons** (row 8): every v2 failure reason (and the remediation reasons
//!   `RollbackSucceeded`, `UninstallSucceeded`) is failed, not only the seed's three.
//! - **Suspended** (row S): pending unless succeeded, since Flux will not act on it.
//!
//! # Kustomizations
//!
//! A Kustomization goes through the same table ([`Reconciled`] is what it reads), with the
//! reasons of kustomize-controller v1 (see [`Reason`]). Rows that differ:
//!
//! - **Row 4**: Ready=True carries `ReconciliationSucceeded`; a Kustomization has no `Drifted`
//!   condition, so `drifted` is never set.
//! - **Row 7**: kustomize-controller has no `SourceNotReady`; a source that is missing or has
//!   no artifact yet is `ArtifactFailed`, which is row 8 (failed, `retrying` while
//!   Reconciling), as for a HelmRelease. Its `meta.source` is `spec.sourceRef`, the object to
//!   blame. Row 7 still applies to a hand-written `SourceNotReady`.
//! - **Row 8**: the failure reasons are `ArtifactFailed`, `BuildFailed`, `HealthCheckFailed`,
//!   `PruneFailed` and `ReconciliationFailed` (the controller retries all of them with
//!   backoff; the node stays failed until Ready changes).
//! - **Row 9**: while `Reconciling=True` kustomize-controller sets Ready to Unknown, so a
//!   running Kustomization is row 9 with `meta.progress` from the Reconciling message.

use crate::conditions::{Condition, ConditionStatus, ConditionType, Reason, ReasonClass, find};
use crate::flux_object::{FluxObject, FluxSpec, FluxStatus};
use crate::foreign::ObjectMeta;
use crate::helmrelease::ReleaseSpec;
use crate::kustomization::KustomizationSpec;

/// What the mapping table reads from a Flux object: a [`HelmRelease`](crate::HelmRelease) or a
/// [`Kustomization`](crate::Kustomization).
pub trait Reconciled {
    /// `metadata`.
    fn metadata(&self) -> &ObjectMeta;
    /// `spec.suspend: true`.
    fn suspended(&self) -> bool;
    /// Whether the object has a `status` at all.
    fn has_status(&self) -> bool;
    /// `status.observedGeneration`.
    fn observed_generation(&self) -> Option<i64>;
    /// `status.conditions` (empty without a status).
    fn conditions(&self) -> &[Condition];
}

/// What the mapping table reads from a spec: the part of [`Reconciled`] that differs by kind.
pub trait ReconciledSpec: FluxSpec {
    /// `spec.suspend: true`.
    fn suspended(&self) -> bool;
}

impl ReconciledSpec for ReleaseSpec {
    fn suspended(&self) -> bool {
        self.suspend == Some(true)
    }
}

impl ReconciledSpec for KustomizationSpec {
    fn suspended(&self) -> bool {
        self.suspend == Some(true)
    }
}

/// Every Flux object with a [`ReconciledSpec`] ([`HelmRelease`](crate::HelmRelease),
/// [`Kustomization`](crate::Kustomization)): the rest is what every Flux object holds.
impl<Spec: ReconciledSpec, Status: FluxStatus> Reconciled for FluxObject<Spec, Status> {
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn suspended(&self) -> bool {
        self.spec.suspended()
    }
    fn has_status(&self) -> bool {
        self.status.is_some()
    }
    fn observed_generation(&self) -> Option<i64> {
        Self::observed_generation(self)
    }
    fn conditions(&self) -> &[Condition] {
        Self::conditions(self)
    }
}

/// The status vocabulary the canvas knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeStatus {
    /// Not started, waiting, or suspended.
    Pending,
    /// Something is in progress.
    Running,
    /// Done, at the current spec.
    Succeeded,
    /// Failed.
    Failed,
}

impl NodeStatus {
    /// The status as written on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses a wire status; `None` for a status outside the vocabulary.
    #[must_use]
    pub fn from_wire(text: &str) -> Option<Self> {
        [Self::Pending, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// The region roll-up: failed if any child failed, else running if any runs, else
    /// succeeded if there is at least one child and all succeeded, else pending.
    #[must_use]
    pub fn roll_up(children: impl IntoIterator<Item = Self>) -> Self {
        let (mut any, mut failed, mut running, mut all_succeeded) = (false, false, false, true);
        for status in children {
            any = true;
            failed |= status == Self::Failed;
            running |= status == Self::Running;
            all_succeeded &= status == Self::Succeeded;
        }
        if failed {
            Self::Failed
        } else if running {
            Self::Running
        } else if any && all_succeeded {
            Self::Succeeded
        } else {
            Self::Pending
        }
    }
}

/// The row of the mapping table that decided a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Row 1.
    Deleting,
    /// Row 2.
    NotReconciled,
    /// Row 3.
    Stalled,
    /// Row 4.
    Ready,
    /// Row 5.
    StaleGeneration,
    /// Row 6.
    DependencyNotReady,
    /// Row 7.
    SourceNotReady,
    /// Row 8.
    Failed,
    /// Row 9.
    Progressing,
    /// Row 10.
    UnknownReason,
}

impl Rule {
    /// The rule's name in `meta.rule`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deleting => "deleting",
            Self::NotReconciled => "not-reconciled",
            Self::Stalled => "stalled",
            Self::Ready => "ready",
            Self::StaleGeneration => "stale-generation",
            Self::DependencyNotReady => "dependency-not-ready",
            Self::SourceNotReady => "source-not-ready",
            Self::Failed => "failed",
            Self::Progressing => "progressing",
            Self::UnknownReason => "unknown-reason",
        }
    }

    /// A sentence for people, in `meta.detail`.
    #[must_use]
    pub const fn detail(self) -> &'static str {
        match self {
            Self::Deleting => "being deleted",
            Self::NotReconciled => "not yet reconciled",
            Self::Stalled => "stalled: Flux will not retry until the spec changes",
            Self::Ready => "ready at the current generation",
            Self::StaleGeneration => "new generation not applied yet",
            Self::DependencyNotReady => "waiting for dependencies",
            Self::SourceNotReady => "waiting for the source",
            Self::Failed => "reconciliation failed",
            Self::Progressing => "in progress",
            Self::UnknownReason => "not ready for a reason this adapter does not know",
        }
    }
}

/// The outcome of the mapping table for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
// Independent flags shown side by side on the node, not states of one machine.
#[allow(clippy::struct_excessive_bools)]
pub struct Decision {
    /// The node status (after the suspend rule).
    pub status: NodeStatus,
    /// The row that matched.
    pub rule: Rule,
    /// The reason that explains the row (Stalled's for row 3, else Ready's), verbatim.
    pub reason: Option<Reason>,
    /// `spec.suspend: true`.
    pub suspended: bool,
    /// Failed but Flux is still trying (`Reconciling=True`).
    pub retrying: bool,
    /// `Stalled=True` (any generation).
    pub stalled: bool,
    /// `Drifted=True`.
    pub drifted: bool,
}

/// Applies the mapping table to `object`.
#[must_use]
pub fn decide(object: &impl Reconciled) -> Decision {
    let conditions = object.conditions();
    let ready = find(conditions, ConditionType::Ready);
    let stalled = find(conditions, ConditionType::Stalled).filter(|c| c.is_true());
    let reconciling = find(conditions, ConditionType::Reconciling).is_some_and(Condition::is_true);
    let drifted = find(conditions, ConditionType::Drifted).is_some_and(Condition::is_true);
    let generation = object.metadata().generation;
    let observed = object.observed_generation();
    let current =
        |condition_generation: Option<i64>| match (generation, condition_generation.or(observed)) {
            (Some(generation), Some(observed)) => observed >= generation,
            _ => true,
        };
    let ready_reason = ready.and_then(Condition::reason);

    let (rule, status, reason) = if object.metadata().deletion_timestamp.is_some() {
        (Rule::Deleting, NodeStatus::Running, ready_reason)
    } else if !object.has_status() || ready.is_none() || observed == Some(-1) {
        (Rule::NotReconciled, NodeStatus::Pending, ready_reason)
    } else if let Some(stalled) = stalled.filter(|c| current(c.observed_generation)) {
        (Rule::Stalled, NodeStatus::Failed, stalled.reason())
    } else {
        let ready_state = ready.map_or(ConditionStatus::Unknown, Condition::state);
        let class = ready_reason.as_ref().map(Reason::class);
        let (rule, status) = match (ready_state, class) {
            (ConditionStatus::True, _) if current(None) => (Rule::Ready, NodeStatus::Succeeded),
            (ConditionStatus::True, _) if reconciling => {
                (Rule::StaleGeneration, NodeStatus::Running)
            }
            (ConditionStatus::True, _) => (Rule::StaleGeneration, NodeStatus::Pending),
            (ConditionStatus::False, Some(ReasonClass::WaitingForDependency)) => {
                (Rule::DependencyNotReady, NodeStatus::Pending)
            }
            (ConditionStatus::False, Some(ReasonClass::WaitingForSource)) => {
                (Rule::SourceNotReady, NodeStatus::Pending)
            }
            (ConditionStatus::False, Some(ReasonClass::Failure)) => {
                (Rule::Failed, NodeStatus::Failed)
            }
            (ConditionStatus::Unknown | ConditionStatus::False, _) if reconciling => {
                (Rule::Progressing, NodeStatus::Running)
            }
            (ConditionStatus::Unknown, _) => (Rule::Progressing, NodeStatus::Running),
            (ConditionStatus::False, _) => (Rule::UnknownReason, NodeStatus::Running),
        };
        (rule, status, ready_reason)
    };

    let suspended = object.suspended();
    let status = if suspended && status != NodeStatus::Succeeded {
        NodeStatus::Pending
    } else {
        status
    };
    Decision {
        status,
        rule,
        reason,
        suspended,
        retrying: rule == Rule::Failed && reconciling,
        stalled: stalled.is_some(),
        drifted,
    }
}

#[cfg(test)]
mod tests {
    use super::NodeStatus::{self, Failed, Pending, Running, Succeeded};

    #[test]
    fn roll_up_follows_flux_md() {
        assert_eq!(NodeStatus::roll_up([]), Pending);
        assert_eq!(NodeStatus::roll_up([Succeeded, Succeeded]), Succeeded);
        assert_eq!(NodeStatus::roll_up([Succeeded, Pending]), Pending);
        assert_eq!(NodeStatus::roll_up([Pending, Running, Succeeded]), Running);
        assert_eq!(NodeStatus::roll_up([Running, Failed]), Failed);
    }

    #[test]
    fn wire_names_round_trip() {
        for s in [Pending, Running, Succeeded, Failed] {
            assert_eq!(NodeStatus::from_wire(s.as_str()), Some(s));
        }
        assert_eq!(NodeStatus::from_wire("done"), None);
    }
}
