//! Kustomizations beside HelmReleases: the real binary watches all three kinds by default,
//! nests each release under the Kustomization whose inventory lists it, and skips a kind whose
//! CRD the cluster lacks (one log line, no exit, still ready).

use std::time::Duration;

use crate::kube_api::KubeApi;
use crate::process::Adapter;
use crate::sink::Sink;
use crate::{eventually, held, kustomization, release};

const WAIT: Duration = Duration::from_secs(15);

const INFRA: &str = "fsn1/ks/flux-system/infra";
const APPS: &str = "fsn1/ks/flux-system/apps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomizations_nest_their_releases_and_follow_changes_and_relists() {
    let api = KubeApi::default();
    api.apply(kustomization("infra", "succeeded", &[], &["a"]));
    api.apply(kustomization("apps", "running", &["infra"], &["b"]));
    api.apply(release("a", "succeeded", &[]));
    api.apply(release("b", "running", &["a"]));
    let kube = api.serve().await;
    let sink = Sink::start().await;
    let url = sink.url();
    let _adapter = Adapter::start(kube, &url, &[]);

    let state = eventually("both kinds on the server", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| h.nodes.len() == 5 && h.rels.len() == 6)
    })
    .await;
    let nodes: Vec<(&str, &str)> = state
        .nodes
        .iter()
        .map(|(id, status)| (id.as_str(), status.as_str()))
        .collect();
    assert_eq!(
        nodes,
        [
            ("fsn1", "running"),
            ("fsn1/a", "succeeded"),
            ("fsn1/b", "running"),
            (APPS, "running"),
            (INFRA, "succeeded"),
        ]
    );
    for rel in [
        format!("fsn1/a -contains-> {INFRA}"),
        format!("fsn1/b -contains-> {APPS}"),
        format!("{INFRA} -contains-> fsn1"),
        format!("{APPS} -contains-> fsn1"),
        format!("{INFRA} -finish-to-start-> {APPS}"),
        "fsn1/a -finish-to-start-> fsn1/b".to_owned(),
    ] {
        assert!(state.rels.contains(&rel), "{rel} missing: {state:?}");
    }

    // A watched change of a Kustomization rolls up into the region.
    api.apply(kustomization("apps", "succeeded", &["infra"], &["b"]));
    api.apply(release("b", "succeeded", &["a"]));
    eventually("apps and the region to succeed", WAIT, || async {
        held(&url, "rollout").await.filter(|h| {
            h.nodes.get(APPS).map(String::as_str) == Some("succeeded")
                && h.nodes.get("fsn1").map(String::as_str) == Some("succeeded")
        })
    })
    .await;

    // infra vanishes while the watch is blind: the relist deletes it and a falls back to the
    // region.
    api.delete_while_blind(&kustomization("infra", "succeeded", &[], &["a"]));
    let state = eventually("infra to be deleted after the relist", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| !h.nodes.contains_key(INFRA))
    })
    .await;
    assert!(state.rels.contains("fsn1/a -contains-> fsn1"), "{state:?}");
    assert!(!state.rels.iter().any(|r| r.contains(INFRA)), "{state:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_without_its_crd_is_skipped_once_and_the_adapter_stays_ready() {
    let api = KubeApi::default();
    api.without_crd("kustomizations");
    api.apply(release("a", "succeeded", &[]));
    let kube = api.serve().await;
    let sink = Sink::start().await;
    let url = sink.url();
    let adapter = Adapter::start(kube, &url, &[]);

    eventually("the release on the server", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| h.nodes.get("fsn1/a").map(String::as_str) == Some("succeeded"))
    })
    .await;
    eventually(
        "the adapter to be ready without Kustomizations",
        WAIT,
        || async { (adapter.ready().await == Some(200)).then_some(()) },
    )
    .await;
    // A relist of the other kinds does not bring the Kustomization watch back.
    api.delete_while_blind(&release("a", "succeeded", &[]));
    eventually("a to be deleted after the relist", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| !h.nodes.contains_key("fsn1/a"))
    })
    .await;
    // A watcher that kept retrying would list again within kube-runtime's first backoff
    // (0.8 to 1.6 s); ten probes at RESYNC_INTERVAL=300ms outlast it.
    eventually("ten probes of the server", WAIT, || async {
        adapter
            .metric("openova_flow_adapter_probes_total")
            .await
            .filter(|n| *n >= 10.0)
    })
    .await;
    assert_eq!(api.requests("kustomizations"), 1, "{}", adapter.log_text());
    let log = adapter.log_text();
    let skipped = log
        .lines()
        .filter(|l| l.contains("not served by this cluster"))
        .collect::<Vec<_>>();
    assert_eq!(skipped.len(), 1, "{log}");
    assert!(skipped[0].contains("Kustomization"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_kinds_leaves_out_what_it_does_not_name() {
    let api = KubeApi::default();
    api.apply(kustomization("infra", "succeeded", &[], &["a"]));
    api.apply(release("a", "succeeded", &[]));
    let kube = api.serve().await;
    let sink = Sink::start().await;
    let url = sink.url();
    let adapter = Adapter::start(kube, &url, &[("WATCH_KINDS", "HelmRelease")]);

    let state = eventually("the release on the server", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| h.nodes.contains_key("fsn1/a"))
    })
    .await;
    eventually("the adapter to be ready", WAIT, || async {
        (adapter.ready().await == Some(200)).then_some(())
    })
    .await;
    assert!(!state.nodes.contains_key(INFRA), "{state:?}");
    assert!(state.rels.contains("fsn1/a -contains-> fsn1"), "{state:?}");
    let watched = adapter
        .metric(r#"openova_flow_adapter_watch_events_total{kind="Kustomization""#)
        .await;
    assert_eq!(watched, None);
}
