//! Issue 14: hostile clients against the real binary, over sockets, each case beside a
//! legitimate producer and subscriber that run the whole time. The attackers connect from
//! 127.0.0.1, the legitimate clients from 127.0.0.2 (another client address on loopback).
//! Outcomes are asserted (statuses, disconnects, every event received with no resync, RSS),
//! never timings.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::event_stream::{EventReader, WAIT};
use crate::fixture::{config, upsert_nodes};
use crate::process::spawn;

const LEGIT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const HEAD_TIMEOUT: &str = "1s";
/// The engine's memory bound during the suite (`FLOW_SERVER_MAX_MEMORY_BYTES`).
const MAX_MEMORY_BYTES: u64 = 32 << 20;
/// What the process holds besides the flows the engine counts: the binary, thread stacks,
/// connections and their buffers, allocator slack (docs/OPERATIONS.md, "Limits").
const FIXED_OVERHEAD_BYTES: u64 = 96 << 20;

/// What an attacker's connection ended with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    /// An HTTP status line arrived.
    Status(u16),
    /// The server closed the connection without an answer (or reset it).
    Closed,
}

/// Sends `request` from 127.0.0.1 and reads the status line, or sees the connection end.
async fn attack(addr: &str, request: Vec<u8>) -> (Outcome, Option<TcpStream>) {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (431) and close before reading everything: a failed write is
    // an outcome too, seen on the read side.
    let _ = socket.write_all(&request).await;
    let outcome = read_status(&mut socket).await;
    (outcome, Some(socket))
}

async fn read_status(socket: &mut TcpStream) -> Outcome {
    let mut head = Vec::new();
    let mut chunk = [0_u8; 1024];
    loop {
        let read = tokio::time::timeout(WAIT, socket.read(&mut chunk))
            .await
            .expect("an answer or a close within the wait");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
        if head.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .map_or(Outcome::Closed, Outcome::Status)
}

/// Waits until the server closes `socket` (EOF or reset), reading and dropping what comes.
async fn closed_by_server(socket: &mut TcpStream) {
    let mut chunk = [0_u8; 4096];
    loop {
        let read = tokio::time::timeout(WAIT, socket.read(&mut chunk))
            .await
            .expect("the server closes the connection within the wait");
        if matches!(read, Ok(0) | Err(_)) {
            return;
        }
    }
}

fn tally(outcomes: impl IntoIterator<Item = Outcome>) -> Vec<(Outcome, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for outcome in outcomes {
        *counts.entry(outcome).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("VmRSS line")
}

/// The legitimate pair: a producer posting to `legit` at a steady pace until `stop`, and a
/// subscriber following it. Returns every status the producer got and every event id seen.
struct Legit {
    stop: Arc<AtomicBool>,
    producer: tokio::task::JoinHandle<Vec<(u16, String)>>,
    /// Forwards what the subscriber reads to `events`; ended by [`Legit::finish`].
    subscriber: tokio::task::JoinHandle<()>,
    events: mpsc::UnboundedReceiver<(String, String)>,
}

impl Legit {
    async fn start(addr: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .local_address(LEGIT)
            .build()
            .expect("client");
        let post = {
            let (client, url) = (
                client.clone(),
                format!("http://{addr}/v1/flows/legit/events"),
            );
            move |i: u64| {
                let request = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(upsert_nodes(
                        "legit",
                        &[(&format!("n{}", i % 50), "running")],
                    ));
                async move {
                    let response = request.send().await.expect("legit post");
                    let status = response.status().as_u16();
                    (status, response.text().await.expect("body"))
                }
            }
        };
        let first = post(0).await;
        assert_eq!(first.0, 200, "{first:?}");
        let response = client
            .get(format!("http://{addr}/v1/flows/legit/stream"))
            .send()
            .await
            .expect("legit stream");
        assert_eq!(response.status(), 200);
        let mut reader = EventReader::new(response);
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut answers = vec![first];
                // A steady producer: 200 events a second, far below the default limit.
                let mut pace = tokio::time::interval(Duration::from_millis(5));
                let mut i = 1;
                while !stop.load(Ordering::Acquire) {
                    pace.tick().await;
                    answers.push(post(i).await);
                    i += 1;
                }
                answers
            })
        };
        let (sender, events) = mpsc::unbounded_channel();
        let subscriber = tokio::spawn(async move {
            while let Some(event) = reader.next_data().await {
                if sender.send((event.event, event.id)).is_err() {
                    break;
                }
            }
        });
        Self {
            stop,
            producer,
            subscriber,
            events,
        }
    }

    /// Stops the producer; asserts every POST succeeded and the subscriber saw every event,
    /// in order, with no resync, then ends the subscriber (so it is not reading when the
    /// server stops). Returns how many events were posted.
    async fn finish(self) -> usize {
        self.stop.store(true, Ordering::Release);
        let answers = self.producer.await.expect("producer");
        let refused: Vec<_> = answers
            .iter()
            .filter(|(status, _)| *status != 200)
            .collect();
        assert!(refused.is_empty(), "legitimate POSTs refused: {refused:?}");
        let ids: Vec<String> = answers
            .iter()
            .map(|(_, body)| {
                let body: serde_json::Value = serde_json::from_str(body).expect("json");
                body["id"].as_str().expect("id").to_owned()
            })
            .collect();
        let last = ids.last().expect("at least the first post").clone();
        let mut events = self.events;
        let mut seen = Vec::new();
        while seen.last().is_none_or(|(_, id)| *id != last) {
            let event = tokio::time::timeout(WAIT, events.recv())
                .await
                .expect("the subscriber sees the last event within the wait")
                .expect("the stream stays open");
            seen.push(event);
        }
        self.subscriber.abort();
        assert_eq!(seen[0].0, "snapshot", "a stream opens with a snapshot");
        assert!(
            seen[1..].iter().all(|(event, _)| event == "upsert-nodes"),
            "no resync snapshot after the first: {:?}",
            seen.iter().filter(|(event, _)| event == "snapshot").count()
        );
        let got: Vec<&String> = std::iter::once(&seen[0].1)
            .chain(seen[1..].iter().map(|(_, id)| id))
            .collect();
        let want: Vec<&String> = ids.iter().collect();
        assert_eq!(got, want, "every event, in order");
        ids.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_never_deny_the_legitimate_ones() {
    let max_memory = MAX_MEMORY_BYTES.to_string();
    let (server, addr) = spawn(&[
        ("FLOW_SERVER_REQUEST_HEAD_TIMEOUT", HEAD_TIMEOUT),
        ("FLOW_SERVER_NEW_FLOWS_PER_MINUTE", "20"),
        ("FLOW_SERVER_MAX_MEMORY_BYTES", &max_memory),
    ])
    .await;
    let pid = server.0.id();
    let legit = Legit::start(&addr).await;
    let mut report = Vec::new();

    // 1,100 readers of flow ids nobody posted to, all open at once.
    let mut held = Vec::new();
    let mut outcomes = Vec::new();
    for i in 0..1100 {
        let request = format!("GET /v1/flows/junk{i}/stream HTTP/1.1\r\nhost: x\r\n\r\n");
        let (outcome, socket) = attack(&addr, request.into_bytes()).await;
        outcomes.push(outcome.clone());
        if outcome == Outcome::Status(200) {
            held.extend(socket);
        }
    }
    let junk = tally(outcomes);
    assert_eq!(
        junk,
        [(Outcome::Status(200), 32), (Outcome::Status(503), 1068)],
        "32 waiters per address, then too_many_waiters or too_many_connections"
    );
    report.push(format!("1,100 junk readers: {junk:?}"));
    drop(held);

    // 10,000 junk readers, 1,000 at a time: each gets a status; none takes a flow.
    let mut outcomes = Vec::new();
    for wave in 0..10 {
        let attempts = (0..1000).map(|i| {
            let request =
                format!("GET /v1/flows/spray{wave}-{i}/stream HTTP/1.1\r\nhost: x\r\n\r\n");
            attack(&addr, request.into_bytes())
        });
        let wave: Vec<_> = futures::future::join_all(attempts).await;
        outcomes.extend(wave.into_iter().map(|(outcome, _)| outcome));
    }
    let spray = tally(outcomes);
    assert!(
        spray
            .iter()
            .all(|(outcome, _)| matches!(outcome, Outcome::Status(200 | 503) | Outcome::Closed)),
        "a status, or refused and closed: {spray:?}"
    );
    report.push(format!(
        "10,000 junk readers (1,000 open at a time): {spray:?}"
    ));

    // The spray's last wave was dropped just now; the server closes those connections at
    // its own pace. Wait until the attacker's address has room for the 200 slow clients, so
    // that each is judged on its slowness, not refused by FLOW_SERVER_MAX_CONNECTIONS_PER_IP.
    let scraper = reqwest::Client::builder()
        .local_address(LEGIT)
        .build()
        .expect("client");
    // FLOW_SERVER_MAX_CONNECTIONS_PER_IP is left at its default.
    let per_ip = u64::try_from(config(&[]).connections.max_per_ip).expect("a usize fits u64");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    while metric(&scraper, &addr, "openova_flow_connections").await + 200 > per_ip {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the spray's connections are closed within the wait"
        );
        poll.tick().await;
    }

    // Slow-header clients: 200 connections sending one byte of a request head at a time.
    let slow = (0..200).map(|_| {
        let addr = addr.clone();
        async move {
            let mut socket = TcpStream::connect(&addr).await.expect("connect");
            let head = b"GET /v1/flows HTTP/1.1\r\nhost: x\r\nx-slow: ";
            let mut pace = tokio::time::interval(Duration::from_millis(250));
            for byte in head.iter().cycle() {
                pace.tick().await;
                if socket.write_all(&[*byte]).await.is_err() {
                    break;
                }
                let mut probe = [0_u8; 64];
                let probed = tokio::time::timeout(Duration::ZERO, socket.read(&mut probe)).await;
                if let Ok(Ok(0) | Err(_)) = probed {
                    break;
                }
            }
            read_status(&mut socket).await
        }
    });
    let slow = tally(futures::future::join_all(slow).await);
    assert!(
        slow.iter()
            .all(|(outcome, _)| matches!(outcome, Outcome::Closed | Outcome::Status(408))),
        "slow-header clients are closed: {slow:?}"
    );
    report.push(format!("200 slow-header clients: {slow:?}"));

    // Oversized heads: 1 MiB of headers, a 64 KiB Last-Event-ID, a 64 KiB access_token.
    let big = "x".repeat(1 << 20);
    let id = "1-".to_owned() + &"9".repeat(64 * 1024);
    let token = "t".repeat(64 * 1024);
    for (name, request) in [
        (
            "1 MiB head",
            format!("GET /v1/flows HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n"),
        ),
        (
            "64 KiB Last-Event-ID",
            format!(
                "GET /v1/flows/legit/stream HTTP/1.1\r\nhost: x\r\nlast-event-id: {id}\r\n\r\n"
            ),
        ),
        (
            "64 KiB access_token",
            format!(
                "GET /v1/flows/legit/snapshot?access_token={token} HTTP/1.1\r\nhost: x\r\n\r\n"
            ),
        ),
    ] {
        let (outcome, _) = attack(&addr, request.into_bytes()).await;
        assert!(
            matches!(outcome, Outcome::Status(431) | Outcome::Closed),
            "{name}: {outcome:?}"
        );
        report.push(format!("{name}: {outcome:?}"));
    }

    // Malformed chunked bodies.
    let (outcome, _) = attack(
        &addr,
        b"POST /v1/flows/legit/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(),
    )
    .await;
    assert!(
        matches!(outcome, Outcome::Status(400) | Outcome::Closed),
        "{outcome:?}"
    );
    report.push(format!("malformed chunked body: {outcome:?}"));

    // A 10,000-flow spray from one client: 20 new flows a minute, then 429.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let attacker = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..10_000 {
        let response = attacker
            .post(format!("http://{addr}/v1/flows/sprayed{i}/events"))
            .header("content-type", "application/json")
            .body(upsert_nodes(&format!("sprayed{i}"), &[("a", "running")]))
            .send()
            .await
            .expect("post");
        statuses.push(Outcome::Status(response.status().as_u16()));
    }
    assert!(statuses[..20].iter().all(|s| *s == Outcome::Status(200)));
    let sprayed = tally(statuses);
    let refused = sprayed
        .iter()
        .find(|(outcome, _)| *outcome == Outcome::Status(429))
        .map_or(0, |(_, count)| *count);
    assert!(
        sprayed.len() == 2 && refused > 9_000,
        "20 new flows a minute (refilling one every 3 s), the rest 429: {sprayed:?}"
    );
    report.push(format!("10,000-flow spray: {sprayed:?}"));

    // Connections that half-close mid-request are closed by the server.
    for _ in 0..50 {
        let mut socket = TcpStream::connect(&addr).await.expect("connect");
        socket
            .write_all(b"GET /v1/flows HTTP/1.1\r\nhost:")
            .await
            .expect("write");
        socket.shutdown().await.expect("half-close");
        closed_by_server(&mut socket).await;
    }
    report.push("50 half-closed connections: closed by the server".to_owned());

    let rss = rss_kib(pid);
    assert!(
        rss * 1024 < MAX_MEMORY_BYTES + FIXED_OVERHEAD_BYTES,
        "RSS {rss} KiB"
    );
    let posted = legit.finish().await;
    report.push(format!(
        "legitimate producer: {posted} POSTs, all 200; subscriber: every event, no resync; server RSS {rss} KiB"
    ));
    println!("{}", report.join("\n"));
    drop(server);
}

/// A message of the nodes `n{i}` for `i` in `ids`, each carrying `pad` bytes of `meta`.
fn padded_nodes(flow: &str, ids: std::ops::Range<usize>, pad: usize) -> String {
    let pad = "x".repeat(pad);
    let nodes: Vec<String> = ids
        .map(|i| {
            format!(
                r#"{{"id":"n{i}","flowId":"{flow}","label":"n{i}","status":"running","meta":{{"pad":"{pad}"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"type":"upsert-nodes","nodes":[{}]}}"#, nodes.join(","))
}

/// The value of the metric line that starts with `name` followed by a space.
async fn metric(client: &reqwest::Client, addr: &str, name: &str) -> u64 {
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

/// Issue 14: memory is bounded in bytes by the engine. A flow's state stops at its share of
/// `FLOW_SERVER_FLOW_BYTE_BUDGET`; at `FLOW_SERVER_MAX_MEMORY_BYTES` idle flows are evicted
/// (counted), a followed flow never is, and with nothing idle left new state gets 507 naming
/// the limit. Every answer is a clear status; nothing is dropped silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_bounded_by_evicting_idle_flows_then_refusing() {
    const LIMIT: u64 = 96 * 1024;
    let (server, addr) = spawn(&[
        ("FLOW_SERVER_MAX_MEMORY_BYTES", &LIMIT.to_string()),
        ("FLOW_SERVER_FLOW_BYTE_BUDGET", "65536"),
        ("FLOW_SERVER_NEW_FLOWS_PER_MINUTE", "0"),
    ])
    .await;
    let client = crate::fixture::client();
    let post = |flow: &str, body: String| {
        client
            .post(format!("http://{addr}/v1/flows/{flow}/events"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let json = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON body");
        (status, body)
    };

    // One flow's state stops at half its byte budget: 507 naming the variable.
    let mut refused = None;
    for i in 0..64 {
        let (status, body) = json(
            post("grow", padded_nodes("grow", i..i + 1, 2000))
                .await
                .expect("post"),
        )
        .await;
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the flow's state share is reached");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"], "flow_memory_full");
    assert_eq!(body["variable"], "FLOW_SERVER_FLOW_BYTE_BUDGET");
    assert_eq!(body["limit"], 32768);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("FLOW_SERVER_FLOW_BYTE_BUDGET")),
        "{body}"
    );
    let deleted = client
        .delete(format!("http://{addr}/v1/flows/grow"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(metric(&client, &addr, "openova_flow_memory_bytes").await, 0);
    assert_eq!(
        metric(&client, &addr, "openova_flow_memory_limit_bytes").await,
        LIMIT
    );

    // A followed flow, then idle flows until the bound evicts the oldest of them.
    let (status, _) = json(
        post("kept", padded_nodes("kept", 0..4, 1000))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200);
    let response = client
        .get(format!("http://{addr}/v1/flows/kept/stream"))
        .send()
        .await
        .expect("stream");
    let mut kept = EventReader::new(response);
    assert_eq!(kept.next_data().await.expect("snapshot").event, "snapshot");
    let evicted = r#"openova_flow_flows_evicted_total{reason="memory"}"#;
    let mut created = 0;
    while metric(&client, &addr, evicted).await == 0 {
        assert!(created < 100, "the bound is reached within 100 flows");
        let flow = format!("idle{created}");
        let (status, body) = json(
            post(&flow, padded_nodes(&flow, 0..4, 1000))
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(status, 200, "evicting an idle flow made room: {body}");
        created += 1;
    }
    assert!(created > 2, "several flows fit first ({created})");
    let snapshot = |flow: &str| {
        client
            .get(format!("http://{addr}/v1/flows/{flow}/snapshot"))
            .send()
    };
    assert_eq!(
        snapshot("idle0").await.expect("get").status(),
        404,
        "the oldest idle flow went"
    );
    assert_eq!(
        snapshot("kept").await.expect("get").status(),
        200,
        "the followed flow stays"
    );
    assert!(metric(&client, &addr, "openova_flow_memory_bytes").await <= LIMIT);
    let (status, _) = json(
        post("kept", padded_nodes("kept", 0..1, 10))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(kept.next_data().await.expect("live").event, "upsert-nodes");

    // Follow every flow left: nothing is idle, so a new flow's state is refused.
    let listing = client
        .get(format!("http://{addr}/v1/flows"))
        .send()
        .await
        .expect("list");
    let (_, listing) = json(listing).await;
    let mut followers = Vec::new();
    for flow in listing["flows"].as_array().expect("flows") {
        let id = flow["id"].as_str().expect("id");
        let response = client
            .get(format!("http://{addr}/v1/flows/{id}/stream"))
            .send()
            .await
            .expect("stream");
        assert_eq!(response.status(), 200);
        followers.push(response);
    }
    let before = metric(&client, &addr, evicted).await;
    let (status, body) = json(
        post("refused", padded_nodes("refused", 0..8, 1000))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"], "memory_full");
    assert_eq!(body["variable"], "FLOW_SERVER_MAX_MEMORY_BYTES");
    assert_eq!(body["limit"], LIMIT);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("FLOW_SERVER_MAX_MEMORY_BYTES")),
        "{body}"
    );
    assert_eq!(snapshot("refused").await.expect("get").status(), 404);
    assert_eq!(
        metric(&client, &addr, evicted).await,
        before,
        "no followed flow was evicted"
    );
    println!(
        "memory bound {LIMIT} B: {created} idle flows posted, {before} evicted for memory, then 507 memory_full"
    );
    drop(followers);
    drop(server);
}
