//! Streaming over real sockets: a real HTTP client and the SSE parser.

use std::collections::BTreeMap;

use flow_contract::{FlowMessage, RelPair, decode};
use openova_flow_server::Drained;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::event_stream::{Event, EventReader, WAIT};
use crate::fixture::{Backend, JsonValue, Server, upsert_nodes};

fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

async fn take(reader: &mut EventReader, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(reader.next_data().await.expect("stream still open"));
    }
    events
}

async fn ingest_then_stream(backend: Backend) {
    let server = Server::start_with(&backend, &[]).await;
    let mut reader = server.stream("f", None).await;
    let first = reader.next_data().await.expect("initial snapshot");
    assert_eq!(reader.retry(), Some(3000));
    assert_eq!(first.event, "snapshot");
    let epoch = first
        .id
        .strip_suffix("-0")
        .expect("an empty flow is at seq 0");
    assert!(
        matches!(decode(first.data.as_bytes(), "f"), Ok(FlowMessage::Snapshot { nodes, .. }) if nodes.is_empty())
    );

    let mut posted = Vec::new();
    for i in 0..3 {
        posted.push(
            server
                .post_ok("f", upsert_nodes("f", &[(&format!("n{i}"), "running")]))
                .await,
        );
    }
    let events = match &backend {
        Backend::Memory => {
            assert_eq!(
                posted[0],
                format!("{epoch}-1"),
                "the epoch reserved for the waiting subscription continues"
            );
            take(&mut reader, 3).await
        }
        Backend::Redis(_) => {
            // Redis decides the epoch at the first message: the waiting stream is told by a
            // snapshot of the state when it joins, never by a silent jump.
            let joined = take(&mut reader, 1).await.remove(0);
            assert_eq!(joined.event, "snapshot");
            let at = posted
                .iter()
                .position(|id| *id == joined.id)
                .expect("the snapshot is at a posted position");
            posted.drain(..at);
            let mut events = vec![joined];
            events.extend(take(&mut reader, posted.len() - 1).await);
            events
        }
    };
    assert_eq!(ids(&events), posted);
    for event in &events {
        assert!(decode(event.data.as_bytes(), "f").is_ok(), "{}", event.data);
    }
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn reconnect_replays_exactly_after_the_last_id(backend: Backend) {
    let server = Server::start_with(&backend, &[]).await;
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.push(
            server
                .post_ok("f", upsert_nodes("f", &[(&format!("n{i}"), "running")]))
                .await,
        );
    }
    let mut reader = server.stream("f", Some(&posted[1])).await;
    let replayed = take(&mut reader, 3).await;
    assert_eq!(ids(&replayed), &posted[2..]);
    assert!(
        replayed.iter().all(|e| e.event == "upsert-nodes"),
        "no snapshot on an exact resume"
    );
    let live = server
        .post_ok("f", upsert_nodes("f", &[("late", "failed")]))
        .await;
    assert_eq!(reader.next_data().await.expect("live frame").id, live);

    // The query parameter works too (EventSource's first connection).
    let response = server
        .client
        .get(server.url(&format!("/v1/flows/f/stream?lastEventId={}", posted[3])))
        .send()
        .await
        .expect("stream");
    let mut reader = EventReader::new(response);
    assert_eq!(
        ids(&take(&mut reader, 2).await),
        [posted[4].as_str(), live.as_str()]
    );
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn evicted_or_foreign_ids_get_a_snapshot(backend: Backend) {
    let server = Server::start_with(&backend, &["--ring-capacity", "4"]).await;
    let mut posted = Vec::new();
    for i in 0..10 {
        posted.push(
            server
                .post_ok("f", upsert_nodes("f", &[(&format!("n{i}"), "running")]))
                .await,
        );
    }
    for stale in [posted[0].as_str(), "123-4", "4", "garbage"] {
        let mut reader = server.stream("f", Some(stale)).await;
        let event = reader.next_data().await.expect("snapshot");
        assert_eq!(
            (event.event.as_str(), event.id.as_str()),
            ("snapshot", posted[9].as_str()),
            "{stale}"
        );
        let Ok(FlowMessage::Snapshot { nodes, .. }) = decode(event.data.as_bytes(), "f") else {
            panic!("not a snapshot: {}", event.data);
        };
        assert_eq!(nodes.len(), 10, "ring overflow loses no state");
    }
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("openova_flow_snapshot_resyncs_total 4"),
        "{metrics}"
    );
    assert_eq!(server.stop().await, Drained::Clean);
}

/// A subscriber's view of the state, folded from what it received.
#[derive(Debug, Default, PartialEq)]
struct View {
    nodes: BTreeMap<String, String>,
    rels: Vec<RelPair>,
}

impl View {
    fn apply(&mut self, message: FlowMessage) {
        match message {
            FlowMessage::Snapshot {
                nodes,
                relationships,
                ..
            } => {
                self.nodes = nodes.into_iter().map(|n| (n.id, n.status)).collect();
                self.rels = relationships.iter().map(|r| r.key()).collect();
            }
            FlowMessage::UpsertNodes { nodes } => {
                self.nodes
                    .extend(nodes.into_iter().map(|n| (n.id, n.status)));
            }
            FlowMessage::DeleteNodes { ids } => {
                for id in &ids {
                    self.nodes.remove(id);
                }
                self.rels
                    .retain(|r| !ids.contains(&r.from_id) && !ids.contains(&r.to_id));
            }
            FlowMessage::UpsertRels { relationships } => {
                for rel in relationships {
                    let key = rel.key();
                    if !self.rels.contains(&key) {
                        self.rels.push(key);
                    }
                }
            }
            other => panic!("not sent by this test: {other:?}"),
        }
        self.rels.sort_by(|a, b| {
            (&a.from_id, &a.to_id, a.rel_type.as_str()).cmp(&(
                &b.from_id,
                &b.to_id,
                b.rel_type.as_str(),
            ))
        });
    }
}

async fn follow(mut reader: EventReader, until: String) -> View {
    let mut view = View::default();
    loop {
        let event = reader
            .next_data()
            .await
            .expect("stream open until the last event");
        view.apply(decode(event.data.as_bytes(), "f").expect("valid frames"));
        if event.id == until {
            return view;
        }
    }
}

async fn two_subscribers_and_a_publisher_agree_with_the_snapshot(backend: Backend) {
    const EVENTS: usize = 10_000;
    // Every limit at its default (issue 14): an ordinary producer never meets them.
    let server = Server::start_with(&backend, &[]).await;
    let first = server.stream("f", None).await;
    let second = server.stream("f", None).await;
    let epoch = server
        .post_ok("f", upsert_nodes("f", &[("n0", "pending")]))
        .await;
    let epoch = epoch.split_once('-').expect("epoch-seq").0.to_owned();
    let last = format!("{epoch}-{EVENTS}");
    let subscribers = [
        tokio::spawn(follow(first, last.clone())),
        tokio::spawn(follow(second, last)),
    ];

    let statuses = ["pending", "running", "succeeded", "failed"];
    for i in 1..EVENTS {
        let node = format!("n{}", i % 97);
        let body = match i % 10 {
            3 => format!(r#"{{"type":"delete-nodes","ids":["{node}"]}}"#),
            7 => format!(
                r#"{{"type":"upsert-rels","relationships":[{{"fromId":"{node}","toId":"n{}","type":"finish-to-start"}}]}}"#,
                (i + 1) % 97
            ),
            _ => upsert_nodes("f", &[(&node, statuses[i % 4])]),
        };
        let response = server.post("f", body).await;
        assert_eq!(response.status(), 200, "event {i}");
    }
    let snapshot = server
        .client
        .get(server.url("/v1/flows/f/snapshot"))
        .send()
        .await
        .expect("snapshot");
    assert_eq!(snapshot.headers()["flow-seq"], EVENTS.to_string().as_str());
    let mut expected = View::default();
    expected.apply(decode(&snapshot.bytes().await.expect("body"), "f").expect("a snapshot"));
    assert!(!expected.nodes.is_empty() && !expected.rels.is_empty());
    for subscriber in subscribers {
        let view = tokio::time::timeout(WAIT, subscriber)
            .await
            .expect("caught up")
            .expect("no panic");
        assert_eq!(view, expected);
    }
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn delete_ends_streams(backend: Backend) {
    let server = Server::start_with(&backend, &[]).await;
    server
        .post_ok("f", upsert_nodes("f", &[("a", "running")]))
        .await;
    let mut readers = [
        server.stream("f", None).await,
        server.stream("f", None).await,
    ];
    for reader in &mut readers {
        assert_eq!(
            reader.next_data().await.expect("snapshot").event,
            "snapshot"
        );
    }
    let response = server
        .client
        .delete(server.url("/v1/flows/f"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    for reader in &mut readers {
        assert_eq!(reader.next_data().await, None, "stream ended");
    }
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn heartbeats_on_an_idle_stream(backend: Backend) {
    let server = Server::start_with(&backend, &["--heartbeat-interval", "100ms"]).await;
    let mut reader = server.stream("f", None).await;
    let snapshot = reader.next().await.expect("snapshot");
    assert_eq!(snapshot.event, "snapshot");
    let heartbeat = reader.next().await.expect("heartbeat");
    assert_eq!(
        (heartbeat.event.as_str(), heartbeat.data.as_str()),
        ("heartbeat", "{}")
    );
    assert_eq!(
        heartbeat.id, snapshot.id,
        "heartbeats carry no id: the last id stays"
    );
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn auth_over_http(backend: Backend) {
    let server = Server::start_with(
        &backend,
        &["--ingest-tokens", "writer", "--read-tokens", "reader"],
    )
    .await;
    let unauthorized = server.post("f", upsert_nodes("f", &[("a", "ok")])).await;
    assert_eq!(unauthorized.status(), 401);
    assert!(
        unauthorized.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    let ok = server
        .client
        .post(server.url("/v1/flows/f/events"))
        .bearer_auth("writer")
        .header("content-type", "application/json")
        .body(upsert_nodes("f", &[("a", "ok")]))
        .send()
        .await
        .expect("post");
    let accepted = ok.json_value().await;
    assert_eq!(accepted["seq"], 1);
    let refused = server
        .client
        .get(server.url("/v1/flows/f/stream"))
        .send()
        .await
        .expect("stream");
    assert_eq!(refused.status(), 401);
    let response = server
        .client
        .get(server.url("/v1/flows/f/stream?access_token=reader"))
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200);
    let mut reader = EventReader::new(response);
    assert_eq!(
        reader.next_data().await.expect("snapshot").id,
        accepted["id"]
    );
    assert_eq!(server.stop().await, Drained::Clean);
}

/// `HEAD .../snapshot` answers what `GET` answers, without a body: 404 while the flow has no
/// state (a subscription alone creates none), then GET's status, `Flow-Seq` and `Flow-Epoch`;
/// read tokens apply; after a DELETE it is 404 again and the next ingest shows a new epoch.
async fn head_answers_like_get_without_a_body(backend: Backend) {
    let server = Server::start_with(
        &backend,
        &["--ingest-tokens", "writer", "--read-tokens", "reader"],
    )
    .await;
    let head = || {
        server
            .client
            .head(server.url("/v1/flows/f/snapshot"))
            .bearer_auth("reader")
            .send()
    };
    let get = || {
        server
            .client
            .get(server.url("/v1/flows/f/snapshot"))
            .bearer_auth("reader")
            .send()
    };
    let post = |node: &'static str| {
        server
            .client
            .post(server.url("/v1/flows/f/events"))
            .bearer_auth("writer")
            .header("content-type", "application/json")
            .body(upsert_nodes("f", &[(node, "running")]))
            .send()
    };
    let position = |response: &reqwest::Response| {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ascii").to_owned())
        };
        (
            response.status().as_u16(),
            header("flow-epoch"),
            header("flow-seq"),
        )
    };

    let missing = head().await.expect("head");
    assert_eq!(position(&missing), (404, None, None));
    assert!(missing.bytes().await.expect("no body").is_empty());
    let subscribed = server
        .client
        .get(server.url("/v1/flows/f/stream?access_token=reader"))
        .send()
        .await
        .expect("stream");
    assert_eq!(subscribed.status(), 200);
    let mut subscribed = EventReader::new(subscribed);
    assert_eq!(
        subscribed.next_data().await.expect("snapshot").event,
        "snapshot"
    );
    assert_eq!(
        position(&head().await.expect("head")).0,
        404,
        "a subscription is no state"
    );

    for node in ["a", "b", "c"] {
        assert_eq!(post(node).await.expect("post").status(), 200);
    }
    let got = get().await.expect("get");
    let headed = head().await.expect("head");
    assert_eq!(position(&headed), position(&got));
    assert_eq!(position(&headed).2.as_deref(), Some("3"));
    assert_eq!(
        headed.headers()["content-type"],
        got.headers()["content-type"]
    );
    assert!(headed.bytes().await.expect("no body").is_empty());
    let epoch = position(&got).1;

    let anonymous = server
        .client
        .head(server.url("/v1/flows/f/snapshot"))
        .send()
        .await
        .expect("head");
    assert_eq!(anonymous.status(), 401);
    let ingest_token = server
        .client
        .head(server.url("/v1/flows/f/snapshot"))
        .bearer_auth("writer")
        .send()
        .await
        .expect("head");
    assert_eq!(ingest_token.status(), 401, "an ingest token does not read");

    let deleted = server
        .client
        .delete(server.url("/v1/flows/f"))
        .bearer_auth("writer")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(position(&head().await.expect("head")).0, 404);
    assert_eq!(post("d").await.expect("post").status(), 200);
    let again = position(&head().await.expect("head"));
    assert_eq!((again.0, again.2.as_deref()), (200, Some("1")));
    assert_ne!(again.1, epoch, "a new state has a new epoch");
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn rate_limit_over_http(backend: Backend) {
    let server = Server::start_with(&backend, &["--ingest-rate", "1", "--ingest-burst", "3"]).await;
    for _ in 0..3 {
        server.post_ok("f", upsert_nodes("f", &[("a", "ok")])).await;
    }
    let limited = server.post("f", upsert_nodes("f", &[("a", "ok")])).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.json_value().await["error"], "rate_limited");
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn oversized_bodies_are_refused_with_or_without_length(backend: Backend) {
    let server = Server::start_with(&backend, &["--max-body-bytes", "1024"]).await;
    let big = format!(
        r#"{{"type":"delete-nodes","ids":["{}"]}}"#,
        "a".repeat(2000)
    );
    let response = server.post("f", big.clone()).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.json_value().await["error"], "payload_too_large");

    // Chunked: no content-length, so the limit applies while reading.
    let mut socket = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut request = format!(
        "POST /v1/flows/f/events HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        server.addr
    )
    .into_bytes();
    for chunk in big.as_bytes().chunks(500) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    socket.write_all(&request).await.expect("send");
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, socket.read_to_end(&mut reply))
        .await
        .expect("reply in time")
        .expect("read");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413 "), "{reply}");
    assert!(reply.contains(r#""error":"payload_too_large""#), "{reply}");
    assert_eq!(server.stop().await, Drained::Clean);
}

async fn shutdown_ends_open_streams(backend: Backend) {
    let server = Server::start_with(&backend, &[]).await;
    let mut reader = server.stream("f", None).await;
    assert_eq!(
        reader.next_data().await.expect("snapshot").event,
        "snapshot"
    );
    let app = server.app.clone();
    let drained = server.stop().await;
    assert_eq!(drained, Drained::Clean);
    assert_eq!(reader.next_data().await, None, "the stream ended");
    assert_eq!(app.phase(), openova_flow_server::Phase::Draining);
}

/// Issue 14: a stream that waited for its flow gives its per-client waiter slot back when it
/// joins the flow at the first message; waiter slots count only streams that wait.
async fn a_joined_stream_gives_its_waiter_slot_back(backend: Backend) {
    let server = Server::start_with(&backend, &["--max-waiters-per-ip", "1"]).await;
    let open = |flow: &str| {
        server
            .client
            .get(server.url(&format!("/v1/flows/{flow}/stream")))
    };
    let mut first = server.stream("late", None).await;
    assert_eq!(first.next_data().await.expect("snapshot").event, "snapshot");
    let refused = open("other").send().await.expect("request");
    assert_eq!(refused.status(), 503, "the one waiter slot is taken");
    assert_eq!(refused.json_value().await["error"], "too_many_waiters");

    server
        .post_ok("late", upsert_nodes("late", &[("a", "running")]))
        .await;
    // It joined: the message itself, or (Redis decides the flow's epoch) a resync holding it.
    let joined = first.next_data().await.expect("the first message");
    assert!(
        matches!(joined.event.as_str(), "upsert-nodes" | "snapshot")
            && joined.data.contains(r#""id":"a""#),
        "{joined:?}"
    );
    let mut second = server.stream("other", None).await;
    assert_eq!(
        second.next_data().await.expect("snapshot").event,
        "snapshot"
    );
    let refused = open("third").send().await.expect("request");
    assert_eq!(
        refused.status(),
        503,
        "the second waiter holds the slot now"
    );

    // The joined stream still follows its flow.
    server
        .post_ok("late", upsert_nodes("late", &[("b", "running")]))
        .await;
    assert_eq!(first.next_data().await.expect("live").event, "upsert-nodes");
}

/// Issue 17: a burst of first subscribers (more than any queue a replica once had) all get
/// their stream: a replica follows a flow once, in its first subscriber's request, and the
/// others join it; nobody is refused for the burst.
async fn a_burst_of_first_subscribers_all_get_their_stream(backend: Backend) {
    const STREAMS: usize = 300;
    let server = Server::start_with(&backend, &["--max-connections-per-ip", "1000"]).await;
    let first = server
        .post_ok("f", upsert_nodes("f", &[("a", "running")]))
        .await;
    let opened = futures::future::join_all((0..STREAMS).map(|_| server.stream("f", None))).await;
    let mut readers = Vec::with_capacity(STREAMS);
    for mut reader in opened {
        let snapshot = reader.next_data().await.expect("a snapshot");
        assert_eq!(
            (snapshot.event.as_str(), snapshot.id.as_str()),
            ("snapshot", first.as_str())
        );
        readers.push(reader);
    }
    let next = server
        .post_ok("f", upsert_nodes("f", &[("a", "succeeded")]))
        .await;
    for reader in &mut readers {
        assert_eq!(reader.next_data().await.expect("live").id, next);
    }
}

crate::fixture::on_both_backends!(
    ingest_then_stream,
    a_burst_of_first_subscribers_all_get_their_stream,
    reconnect_replays_exactly_after_the_last_id,
    evicted_or_foreign_ids_get_a_snapshot,
    two_subscribers_and_a_publisher_agree_with_the_snapshot,
    delete_ends_streams,
    heartbeats_on_an_idle_stream,
    auth_over_http,
    head_answers_like_get_without_a_body,
    rate_limit_over_http,
    oversized_bodies_are_refused_with_or_without_length,
    shutdown_ends_open_streams,
    a_joined_stream_gives_its_waiter_slot_back,
);

/// A connection that answered with an event stream is served on the stream runtime from then
/// on, so a wide fan-out's writes never queue ahead of requests; requests stay where they
/// arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_moves_to_the_stream_runtime_and_requests_stay() {
    let server = Server::start_with(&Backend::Memory, &[]).await;
    server
        .post_ok("f", upsert_nodes("f", &[("a", "running")]))
        .await;
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz reaches the server");
    assert_eq!(health.status(), 200);
    assert_eq!(server.streams.tasks(), 0, "requests stay on their runtime");

    let mut reader = server.stream("f", None).await;
    assert_eq!(
        reader.next_data().await.expect("snapshot").event,
        "snapshot"
    );
    let next = server
        .post_ok("f", upsert_nodes("f", &[("b", "running")]))
        .await;
    assert_eq!(reader.next_data().await.expect("live frame").id, next);
    assert_eq!(
        server.streams.tasks(),
        1,
        "the stream's connection wrote its live frame from the stream runtime"
    );
    assert_eq!(server.stop().await, Drained::Clean);
}
