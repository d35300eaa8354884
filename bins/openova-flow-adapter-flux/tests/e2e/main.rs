//! End-to-end tests of the real `openova-flow-adapter-flux` binary. No cluster exists here:
//! the Kubernetes API is [`kube_api::KubeApi`] (a loopback stand-in of its HTTP protocol, found
//! through a kubeconfig whose server is `http://127.0.0.1:PORT`); the flow server is the real
//! `openova-flow-server` binary ([`sink::Sink`]) for the Flux scenarios, and
//! [`receiver::Receiver`], a loopback receiver with scripted faults, for the delivery tests;
//! the Redis backend runs on a real `redis-server` ([`redis_process::RedisProcess`]). Every
//! wait polls observable state with a deadline.

mod delivery;
mod flux;
mod kube_api;
mod kustomize;
mod leader;
mod process;
mod receiver;
mod restart;
mod sink;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use flow_contract::FlowMessage;
use serde_json::{Value, json};

/// An HTTP client (the ring TLS provider installed once, as the binary does).
pub(crate) fn http() -> reqwest::Client {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // An error means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::new()
}

/// Polls `probe` every 50 ms until it yields `Some`, or panics after `timeout`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a server holds: node id -> status, and relationship keys as strings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Held {
    pub(crate) nodes: BTreeMap<String, String>,
    pub(crate) rels: BTreeSet<String>,
}

impl Held {
    pub(crate) fn from_snapshot(message: &FlowMessage) -> Self {
        let FlowMessage::Snapshot {
            nodes,
            relationships,
            ..
        } = message
        else {
            panic!("GET snapshot returned {message:?}");
        };
        Self {
            nodes: nodes
                .iter()
                .map(|n| (n.id.clone(), n.status.clone()))
                .collect(),
            rels: relationships
                .iter()
                .map(|r| format!("{} -{}-> {}", r.from_id, r.rel_type.as_str(), r.to_id))
                .collect(),
        }
    }
}

/// `GET {base}/v1/flows/{flow}/snapshot`; `None` on 404 or no answer.
pub(crate) async fn held(base: &str, flow: &str) -> Option<Held> {
    held_with(base, flow, None).await
}

/// [`held`] with a read token.
pub(crate) async fn held_with(base: &str, flow: &str, token: Option<&str>) -> Option<Held> {
    let mut request = http().get(format!("{base}/v1/flows/{flow}/snapshot"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body = response.bytes().await.ok()?;
    let message: FlowMessage = serde_json::from_slice(&body).ok()?;
    Some(Held::from_snapshot(&message))
}

/// A HelmRelease in `flux-system` whose mapped status is `status` (pending, running,
/// succeeded), modelled on helm-controller v1 statuses.
pub(crate) fn release(name: &str, status: &str, depends_on: &[&str]) -> Value {
    let deps: Vec<Value> = depends_on.iter().map(|d| json!({"name": d})).collect();
    let mut object = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m", "dependsOn": deps,
                 "chart": {"spec": {"chart": name, "sourceRef": {"kind": "HelmRepository", "name": "repo"}}}},
    });
    let ready = |s: &str, reason: &str| {
        json!({"type": "Ready", "status": s, "reason": reason, "message": reason,
               "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
    };
    match status {
        "pending" => {}
        "running" => {
            object["status"] = json!({"observedGeneration": 1, "conditions": [
                ready("Unknown", "Progressing"),
                {"type": "Reconciling", "status": "True", "reason": "Progressing",
                 "message": "Running 'install' action", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        }
        "succeeded" => {
            object["status"] = json!({"observedGeneration": 1, "helmChart": format!("flux-system/flux-system-{name}"),
                "conditions": [ready("True", "InstallSucceeded")]});
        }
        other => panic!("no fixture for status {other}"),
    }
    object
}

/// The HelmChart generated for a release.
pub(crate) fn chart(release: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": format!("flux-system-{release}"), "namespace": "flux-system", "generation": 1},
        "spec": {"chart": release, "sourceRef": {"kind": "HelmRepository", "name": "repo"}},
        "status": {"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": "True", "reason": "ChartPullSucceeded", "message": "pulled",
             "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    })
}

/// A Kustomization in `flux-system` whose mapped status is `status` (pending, running,
/// succeeded), modelled on kustomize-controller v1 statuses, with `applied` HelmReleases of
/// `flux-system` in its inventory.
pub(crate) fn kustomization(
    name: &str,
    status: &str,
    depends_on: &[&str],
    applied: &[&str],
) -> Value {
    let deps: Vec<Value> = depends_on.iter().map(|d| json!({"name": d})).collect();
    let entries: Vec<Value> = applied
        .iter()
        .map(|r| json!({"id": format!("flux-system_{r}_helm.toolkit.fluxcd.io_HelmRelease"), "v": "v2"}))
        .collect();
    let mut object = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m", "path": format!("./{name}"), "prune": true, "dependsOn": deps,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
    });
    let condition = |type_: &str, s: &str, reason: &str| {
        json!({"type": type_, "status": s, "reason": reason, "message": reason,
               "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
    };
    match status {
        "pending" => {}
        "running" => {
            object["status"] = json!({"observedGeneration": 1,
                "inventory": {"entries": entries},
                "conditions": [condition("Reconciling", "True", "Progressing"),
                               condition("Ready", "Unknown", "Progressing")]});
        }
        "succeeded" => {
            object["status"] = json!({"observedGeneration": 1,
                "inventory": {"entries": entries},
                "lastAppliedRevision": "main@sha1:1",
                "conditions": [condition("Ready", "True", "ReconciliationSucceeded")]});
        }
        other => panic!("no fixture for status {other}"),
    }
    object
}
