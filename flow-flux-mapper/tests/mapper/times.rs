//! Node times: when a HelmRelease or Kustomization started and ended, from its conditions and
//! history.

use flow_flux_mapper::{HelmRelease, Kustomization, map_kustomization, map_release};
use serde_json::{Value, json};

use super::config;

/// A HelmRelease at generation 1 with these conditions and a history whose newest release
/// was deployed at `deployed`.
fn release(conditions: &Value, deployed: &str) -> HelmRelease {
    HelmRelease::from_value(&json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "bp-x", "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m"},
        "status": {"observedGeneration": 1, "conditions": conditions,
            "history": [{"chartName": "x", "chartVersion": "1.0.0", "lastDeployed": deployed}]}
    }))
    .expect("a HelmRelease")
}

fn times(release: &HelmRelease) -> (String, Option<u64>, Option<u64>) {
    let node = map_release(&config(), release, None).expect("maps").node;
    (node.status, node.started_at, node.ended_at)
}

const T_0959: u64 = 1_782_899_940_000;
const T_1000: u64 = 1_782_900_000_000;

#[test]
fn a_succeeded_release_started_when_its_release_was_deployed() {
    let ready = json!([{"type": "Ready", "status": "True", "reason": "UpgradeSucceeded",
        "lastTransitionTime": "2026-07-01T10:00:00Z"}]);
    assert_eq!(
        times(&release(&ready, "2026-07-01T09:59:00Z")),
        ("succeeded".to_owned(), Some(T_0959), Some(T_1000))
    );
    assert_eq!(
        times(&release(&ready, "2026-07-01T10:01:00Z")),
        ("succeeded".to_owned(), None, Some(T_1000)),
        "a deploy after the end is not this node's start"
    );
}

#[test]
fn a_running_release_started_when_reconciling_turned_true() {
    let running = json!([
        {"type": "Ready", "status": "Unknown", "reason": "Progressing",
         "lastTransitionTime": "2026-07-01T09:58:00Z"},
        {"type": "Reconciling", "status": "True", "reason": "Progressing",
         "lastTransitionTime": "2026-07-01T09:59:00Z"}]);
    assert_eq!(
        times(&release(&running, "2026-07-01T09:00:00Z")),
        ("running".to_owned(), Some(T_0959), None),
        "the history is an older release, not this run"
    );
}

#[test]
fn a_ready_kustomization_started_when_its_revision_first_reconciled_less_its_duration() {
    let kustomization = |duration: &str| {
        Kustomization::from_value(&json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "infra", "namespace": "flux-system", "generation": 1},
            "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
            "status": {"observedGeneration": 1,
                "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                    "lastTransitionTime": "2026-07-01T10:00:00Z"}],
                "history": [{"digest": "sha256:1", "firstReconciled": "2026-07-01T09:59:00Z",
                    "lastReconciled": "2026-07-01T10:30:00Z", "lastReconciledDuration": duration,
                    "lastReconciledStatus": "ReconciliationSucceeded", "totalReconciliations": 4}]}
        }))
        .expect("a Kustomization")
    };
    let times = |k: &Kustomization| {
        let node = map_kustomization(&config(), k).expect("maps").node;
        (node.status, node.started_at, node.ended_at)
    };
    assert_eq!(
        times(&kustomization("1m30.5s")),
        ("succeeded".to_owned(), Some(T_0959 - 90_500), Some(T_1000)),
        "the later periodic reconcile (lastReconciled) moves neither time"
    );
    assert_eq!(
        times(&kustomization("soon")),
        ("succeeded".to_owned(), None, Some(T_1000)),
        "an unreadable duration leaves the start out"
    );
}
