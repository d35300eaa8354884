//! Issue 15: with authentication on (distinct ingest and read tokens) and the adapter's default
//! settings, a server that lost its state has every node of the region back within 5 s of
//! answering again: the real server SIGKILLed and restarted on the same port (memory backend),
//! and Redis flushed under a running server (redis backend). A read token the server refuses
//! is logged once (rate-limited), counted, and fails `/readyz`.

use std::time::Duration;

use tokio::time::Instant;

use crate::kube_api::KubeApi;
use crate::process::Adapter;
use crate::sink::Sink;
use crate::{Held, chart, eventually, held_with, release};
use redis_process::RedisProcess;

const INGEST: &str = "ingest-secret";
const READ: &str = "read-secret";
/// How long the first delivery of the region may take (start-up, Lease, list).
const START: Duration = Duration::from_secs(30);
/// Issue 15: the region is back within this long after the server answers again.
const HEALED_WITHIN: Duration = Duration::from_secs(5);
/// The adapter's releases: a chain of 13 like the issue's estate (plus the region node).
const RELEASES: usize = 13;

fn server_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("FLOW_SERVER_INGEST_TOKENS", INGEST),
        ("FLOW_SERVER_READ_TOKENS", READ),
    ]
}

/// The stand-in with `RELEASES` HelmReleases (each depending on the previous) and a chart.
async fn cluster() -> (KubeApi, std::net::SocketAddr) {
    let api = KubeApi::default();
    for i in 0..RELEASES {
        let name = format!("bp-{i}");
        let previous = i.checked_sub(1).map(|p| format!("bp-{p}"));
        let deps: Vec<&str> = previous.iter().map(String::as_str).collect();
        let status = ["succeeded", "running", "pending"][i % 3];
        api.apply(release(&name, status, &deps));
    }
    api.apply(chart("bp-0"));
    let kube = api.serve().await;
    (api, kube)
}

/// What the server holds of the flow, read with the read token.
async fn state(url: &str) -> Option<Held> {
    held_with(url, "rollout", Some(READ)).await
}

/// Waits until the whole region (every release and the region node) is on the server.
async fn region_delivered(url: &str) -> Held {
    eventually("the region on the server", START, || async {
        state(url).await.filter(|held| {
            held.nodes.contains_key("fsn1")
                && (0..RELEASES).all(|i| held.nodes.contains_key(&format!("fsn1/bp-{i}")))
                && held.rels.len() >= 2 * RELEASES - 1
        })
    })
    .await
}

/// The adapter with its defaults, authenticated with distinct ingest and read tokens.
fn adapter(kube: std::net::SocketAddr, url: &str) -> Adapter {
    Adapter::start_with_defaults(
        kube,
        url,
        &[
            ("FLOW_SERVER_TOKEN", INGEST),
            ("FLOW_SERVER_READ_TOKEN", READ),
        ],
    )
}

/// Waits (at most [`HEALED_WITHIN`] after `answering`) until the server holds `before` again.
async fn healed(url: &str, before: &Held, answering: Instant, adapter: &Adapter) {
    let deadline = answering + HEALED_WITHIN;
    loop {
        if state(url).await.as_ref() == Some(before) {
            eprintln!(
                "region back {:?} after the server answered again",
                answering.elapsed()
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the region was not back within {HEALED_WITHIN:?} of the server answering; \
             server holds {:?}\nadapter log:\n{}",
            state(url).await,
            adapter.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_server_has_every_node_back_within_5s_with_auth_on() {
    let (_api, kube) = cluster().await;
    let mut sink = Sink::start_with(&server_env()).await;
    let url = sink.url();
    let adapter = adapter(kube, &url);
    let before = region_delivered(&url).await;
    assert_eq!(adapter.ready().await, Some(200), "{}", adapter.log_text());
    let reads = adapter
        .metric("openova_flow_adapter_snapshot_reads_total")
        .await;
    assert_eq!(reads, Some(1.0), "one read after the first list");

    sink.restart().await;
    let answering = Instant::now();
    healed(&url, &before, answering, &adapter).await;

    // The restarted server was empty (404): the region went out without a snapshot read.
    assert_eq!(
        adapter
            .metric("openova_flow_adapter_snapshot_reads_total")
            .await,
        reads
    );
    let probes = adapter.metric("openova_flow_adapter_probes_total").await;
    assert!(probes.is_some_and(|n| n >= 1.0), "{probes:?}");
    assert_eq!(
        adapter
            .metric(r#"openova_flow_adapter_read_refusals_total{status="401"}"#)
            .await,
        None
    );
    assert_eq!(adapter.ready().await, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_redis_has_every_node_back_within_5s_with_auth_on() {
    let redis = RedisProcess::start();
    let redis_url = redis.url();
    let mut env = server_env();
    env.extend([
        ("FLOW_SERVER_BACKEND", "redis"),
        ("FLOW_SERVER_REDIS_URL", redis_url.as_str()),
    ]);
    let (_api, kube) = cluster().await;
    let sink = Sink::start_with(&env).await;
    let url = sink.url();
    let adapter = adapter(kube, &url);
    let before = region_delivered(&url).await;
    let reads = adapter
        .metric("openova_flow_adapter_snapshot_reads_total")
        .await;

    redis.flush_all();
    let answering = Instant::now();
    assert_eq!(state(&url).await, None, "the flush emptied the flow");
    healed(&url, &before, answering, &adapter).await;
    assert_eq!(
        adapter
            .metric("openova_flow_adapter_snapshot_reads_total")
            .await,
        reads,
        "a 404 needs no snapshot read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_token_used_for_reads_is_reported_and_fails_readiness() {
    let (_api, kube) = cluster().await;
    let sink = Sink::start_with(&server_env()).await;
    let url = sink.url();
    // As a user who sets only FLOW_SERVER_TOKEN: reads default to the ingest token.
    let adapter = Adapter::start(kube, &url, &[("FLOW_SERVER_TOKEN", INGEST)]);
    // Without reads the whole region is still sent.
    region_delivered(&url).await;
    eventually("several refused reads", START, || async {
        adapter
            .metric(r#"openova_flow_adapter_read_refusals_total{status="401"}"#)
            .await
            .filter(|n| *n >= 3.0)
    })
    .await;
    assert_eq!(adapter.ready().await, Some(503));
    let log = adapter.log_text();
    let warnings = log
        .lines()
        .filter(|l| l.contains("refused the read token"))
        .collect::<Vec<_>>();
    assert_eq!(warnings.len(), 1, "rate-limited to one a minute:\n{log}");
    assert!(
        warnings[0].contains("FLOW_SERVER_READ_TOKEN"),
        "{}",
        warnings[0]
    );
}
