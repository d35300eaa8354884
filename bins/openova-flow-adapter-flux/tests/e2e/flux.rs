//! The real binary against the Kubernetes API stand-in and the real server (or the receiver):
//! initial list, a watched change, a delete while the watch was blind (410 Gone, relist), stale
//! nodes of this region cleaned up, another region left alone, and a server restart healed.

use std::time::Duration;

use crate::kube_api::KubeApi;
use crate::process::Adapter;
use crate::sink::Sink;
use crate::{chart, eventually, held, release};

const WAIT: Duration = Duration::from_secs(15);

async fn seed(url: &str) {
    let body = serde_json::json!({"type": "upsert-nodes", "nodes": [
        {"id": "hel1/x", "flowId": "rollout", "label": "x", "status": "pending", "region": "hel1"},
        {"id": "fsn1/stale", "flowId": "rollout", "label": "stale", "status": "failed", "region": "fsn1"},
    ]});
    let response = crate::http()
        .post(format!("{url}/v1/flows/rollout/events"))
        .json(&body)
        .send()
        .await
        .expect("seed the server");
    assert!(
        response.status().is_success(),
        "seeding answered {}",
        response.status()
    );
}

fn statuses(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relist_after_gone_deletes_what_vanished_and_a_restarted_server_is_healed() {
    let api = KubeApi::default();
    api.apply(release("a", "succeeded", &[]));
    api.apply(chart("a"));
    api.apply(release("b", "running", &["a"]));
    api.apply(release("c", "pending", &["b"]));
    let kube = api.serve().await;
    let mut sink = Sink::start().await;
    let url = sink.url();
    seed(&url).await;
    let adapter = Adapter::start(kube, &url, &[]);

    let releases = |held: &crate::Held| {
        held.nodes
            .iter()
            .filter(|(id, _)| id.contains('/'))
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect::<Vec<_>>()
    };
    let expected = statuses(&[
        ("fsn1/a", "succeeded"),
        ("fsn1/b", "running"),
        ("fsn1/c", "pending"),
        ("hel1/x", "pending"),
    ]);
    let state = eventually("the initial list on the server", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| releases(h) == expected)
    })
    .await;
    assert!(
        state.nodes.contains_key("fsn1"),
        "region node missing: {state:?}"
    );
    for rel in [
        "fsn1/a -finish-to-start-> fsn1/b",
        "fsn1/b -finish-to-start-> fsn1/c",
        "fsn1/a -contains-> fsn1",
    ] {
        assert!(state.rels.contains(rel), "{rel} missing: {state:?}");
    }

    // A watched change.
    api.apply(release("b", "succeeded", &["a"]));
    eventually("b to succeed on the server", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| h.nodes.get("fsn1/b").map(String::as_str) == Some("succeeded"))
    })
    .await;

    // Deleted while the watch was down: only the relist after 410 Gone can reveal it.
    api.delete_while_blind(&release("c", "pending", &["b"]));
    let after = statuses(&[
        ("fsn1/a", "succeeded"),
        ("fsn1/b", "succeeded"),
        ("hel1/x", "pending"),
    ]);
    let state = eventually("c to be deleted after the relist", WAIT, || async {
        held(&url, "rollout").await.filter(|h| releases(h) == after)
    })
    .await;
    assert!(
        !state.rels.iter().any(|r| r.contains("fsn1/c")),
        "{state:?}"
    );
    let inits = adapter
        .metric(r#"openova_flow_adapter_watch_events_total{kind="HelmRelease",event="Init"}"#)
        .await;
    assert!(inits.is_some_and(|n| n >= 2.0), "no relist seen: {inits:?}");

    // The server loses everything; the adapter heals it without restarting.
    sink.restart().await;
    let healed = eventually("the restarted server to be healed", WAIT, || async {
        held(&url, "rollout")
            .await
            .filter(|h| h.rels.contains("fsn1/a -finish-to-start-> fsn1/b"))
    })
    .await;
    assert_eq!(
        healed.nodes.get("fsn1/b").map(String::as_str),
        Some("succeeded")
    );
    assert!(
        healed.nodes.contains_key("fsn1"),
        "region node not re-sent: {healed:?}"
    );
    assert!(
        healed.rels.contains("fsn1/a -finish-to-start-> fsn1/b"),
        "{healed:?}"
    );
}
