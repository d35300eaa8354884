//! Delivery against the loopback receiver: 400 is dropped (once, counted), 500 / 429 / a stall
//! are retried (Retry-After honoured), and what arrives after the outage is the latest state.

use std::time::Duration;

use flow_contract::FlowMessage;

use crate::kube_api::KubeApi;
use crate::process::Adapter;
use crate::receiver::{Fault, Receiver};
use crate::{eventually, held, release};

const WAIT: Duration = Duration::from_secs(20);
const ORDER: [&str; 3] = ["pending", "running", "succeeded"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_or_dropped_and_the_latest_state_arrives() {
    let api = KubeApi::default();
    api.apply(release("a", "pending", &[]));
    api.apply(release("b", "pending", &[]));
    let kube = api.serve().await;
    let receiver = Receiver::default();
    let url = format!("http://{}", receiver.serve().await);
    let adapter = Adapter::start(kube, &url, &[("POST_TIMEOUT", "1s")]);

    // The region is delivered before any fault, so the 400 below hits one known change (a
    // rejected whole-region heal would leave the receiver without b, by design: a rejected
    // message is never re-sent).
    eventually("the initial state", WAIT, || async {
        held(&url, "rollout").await.filter(|h| {
            h.nodes.get("fsn1/a").map(String::as_str) == Some("pending")
                && h.nodes.get("fsn1/b").map(String::as_str) == Some("pending")
                && h.nodes.contains_key("fsn1")
                && h.rels.contains("fsn1/a -contains-> fsn1")
                && h.rels.contains("fsn1/b -contains-> fsn1")
        })
    })
    .await;
    let clean = receiver.attempts().len();
    receiver.script(&[
        Fault::Status(400),
        Fault::Status(500),
        Fault::RateLimited(1),
        Fault::Stall(Duration::from_secs(3)),
    ]);
    api.apply(release("a", "running", &[]));
    eventually("the 400", WAIT, || async {
        (receiver.attempts().len() > clean).then_some(())
    })
    .await;
    api.apply(release("b", "running", &[]));
    eventually("the 500", WAIT, || async {
        (receiver.attempts().len() > clean + 1).then_some(())
    })
    .await;
    // During the outage a changes again; only its latest state needs to arrive.
    api.apply(release("a", "succeeded", &[]));

    eventually("the state after recovery", WAIT, || async {
        held(&url, "rollout").await.filter(|h| {
            h.nodes.get("fsn1/a").map(String::as_str) == Some("succeeded")
                && h.nodes.get("fsn1/b").map(String::as_str) == Some("running")
                && h.nodes.contains_key("fsn1")
        })
    })
    .await;

    let all = receiver.attempts();
    assert!(
        all[..clean].iter().all(|a| a.status == 200),
        "a fault before the script"
    );
    let attempts = &all[clean..];
    let statuses: Vec<u16> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses[..5], [400, 500, 429, 503, 200], "{statuses:?}");
    assert!(
        attempts[3].at.duration_since(attempts[2].at) >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        1,
        "a 400 was retried"
    );
    // The rejected message is never re-sent unchanged.
    let rejected = &attempts[0].message;
    assert!(
        !attempts[1..]
            .iter()
            .any(|a| a.message == *rejected && a.status == 200)
    );

    // Nothing older after something newer: a's accepted statuses only move forward.
    let mut last = 0;
    for attempt in attempts.iter().filter(|a| a.status == 200) {
        if let FlowMessage::UpsertNodes { nodes } = &attempt.message {
            for node in nodes.iter().filter(|n| n.id == "fsn1/a") {
                let rank = ORDER
                    .iter()
                    .position(|s| *s == node.status)
                    .expect("known status");
                assert!(
                    rank >= last,
                    "fsn1/a went back to {} after {}",
                    node.status,
                    ORDER[last]
                );
                last = rank;
            }
        }
    }

    let rejected = adapter
        .metric(r#"openova_flow_adapter_messages_rejected_total{status="400"}"#)
        .await;
    assert_eq!(rejected, Some(1.0));
    let retries = adapter
        .metric("openova_flow_adapter_delivery_retries_total")
        .await;
    assert!(retries.is_some_and(|n| n >= 3.0), "{retries:?}");
    assert_eq!(adapter.ready().await, Some(200));
}
