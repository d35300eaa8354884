//! Two adapters on one Lease (Kubernetes API stand-in) posting to the loopback receiver (each
//! with its own token, so the receiver can tell who posted): only the leader posts; when it is
//! killed the other takes over. SIGTERM drains, releases the Lease and exits 0.

use std::time::Duration;

use crate::kube_api::KubeApi;
use crate::process::Adapter;
use crate::receiver::Receiver;
use crate::{eventually, held, release};

const WAIT: Duration = Duration::from_secs(20);

fn elect(identity: &'static str) -> [(&'static str, &'static str); 6] {
    [
        ("LEADER_ELECTION", "true"),
        ("LEASE_NAME", "emitter"),
        ("LEASE_NAMESPACE", "flux-system"),
        ("LEASE_DURATION", "2s"),
        ("POD_NAME", identity),
        ("FLOW_SERVER_TOKEN", identity),
    ]
}

async fn node_status(url: &str, id: &str, status: &str) -> Option<()> {
    held(url, "rollout")
        .await
        .filter(|h| h.nodes.get(id).map(String::as_str) == Some(status))
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_posts_and_the_follower_takes_over() {
    let api = KubeApi::default();
    api.apply(release("a", "pending", &[]));
    let kube = api.serve().await;
    let receiver = Receiver::default();
    let url = format!("http://{}", receiver.serve().await);

    let mut one = Adapter::start(kube, &url, &elect("one"));
    eventually("one to lead", WAIT, || async {
        (api.lease_holder("flux-system", "emitter").as_deref() == Some("one")).then_some(())
    })
    .await;
    let two = Adapter::start(kube, &url, &elect("two"));
    eventually("two to be up as a ready follower", WAIT, || async {
        (two.ready().await == Some(200)).then_some(())
    })
    .await;
    assert_eq!(two.metric("openova_flow_adapter_leader").await, Some(0.0));

    api.apply(release("a", "running", &[]));
    eventually("a running", WAIT, || node_status(&url, "fsn1/a", "running")).await;
    let before = receiver.attempts();
    assert!(
        before.iter().all(|a| a.token.as_deref() == Some("one")),
        "a follower posted"
    );

    one.kill();
    api.apply(release("a", "succeeded", &[]));
    eventually("two to take over and post", WAIT, || {
        node_status(&url, "fsn1/a", "succeeded")
    })
    .await;
    let after = receiver.attempts();
    assert!(
        after[before.len()..]
            .iter()
            .all(|a| a.token.as_deref() == Some("two"))
    );
    assert_eq!(
        api.lease_holder("flux-system", "emitter").as_deref(),
        Some("two")
    );
    assert_eq!(two.metric("openova_flow_adapter_leader").await, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_releases_the_lease_and_exits_zero() {
    let api = KubeApi::default();
    api.apply(release("a", "succeeded", &[]));
    let kube = api.serve().await;
    let receiver = Receiver::default();
    let url = format!("http://{}", receiver.serve().await);
    let mut solo = Adapter::start(kube, &url, &elect("solo"));
    eventually("delivery", WAIT, || {
        node_status(&url, "fsn1/a", "succeeded")
    })
    .await;
    assert_eq!(
        api.lease_holder("flux-system", "emitter").as_deref(),
        Some("solo")
    );

    let status = solo.terminate(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "log:\n{}", solo.log_text());
    assert_eq!(
        api.lease_holder("flux-system", "emitter"),
        None,
        "lease not released"
    );
}
