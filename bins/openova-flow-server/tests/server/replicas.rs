//! The `redis` backend with real processes: two server replicas on one Redis, a replica
//! killed mid-stream, both restarted, and Redis itself stopped and started.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use flow_contract::{FlowMessage, decode};

use crate::event_stream::{Event, EventReader, WAIT};
use crate::fixture::{Backend, JsonValue, Server, upsert_nodes};
use redis_process::RedisProcess;

const BINARY: &str = env!("CARGO_BIN_EXE_openova-flow-server");

/// The real binary on the `redis` backend, SIGKILLed when dropped.
struct Replica {
    child: Child,
    addr: String,
    client: reqwest::Client,
}

impl Replica {
    /// Starts it and waits (on its log, not a timer) until it listens and Redis answered.
    async fn start(redis: &RedisProcess) -> Self {
        Self::start_with(redis, &[]).await
    }

    /// [`start`](Self::start) with more environment variables.
    async fn start_with(redis: &RedisProcess, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BINARY);
        for (name, _) in std::env::vars() {
            if name.starts_with("FLOW_SERVER_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        let mut child = command
            .envs([
                ("FLOW_SERVER_LISTEN_ADDR", "127.0.0.1:0"),
                ("FLOW_SERVER_BACKEND", "redis"),
                ("FLOW_SERVER_REDIS_URL", redis.url().as_str()),
                ("FLOW_SERVER_INGEST_RATE", "0"),
            ])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, log) = mpsc::channel::<serde_json::Value>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let entry = serde_json::from_str(&line).expect("JSON log lines");
                // After the start, nobody listens: keep draining the pipe.
                let _ = lines.send(entry);
            }
        });
        let addr = tokio::task::spawn_blocking(move || {
            let (mut addr, mut healthy) = (None, false);
            while addr.is_none() || !healthy {
                let entry = log.recv_timeout(WAIT).expect("the server logs its start");
                match entry["fields"]["message"].as_str() {
                    Some("listening") => addr = entry["fields"]["addr"].as_str().map(str::to_owned),
                    Some("redis availability changed") => {
                        healthy = entry["fields"]["healthy"] == true;
                    }
                    _ => {}
                }
            }
            addr.expect("an address")
        })
        .await
        .expect("log reader");
        Self {
            child,
            addr,
            client: crate::fixture::client(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, flow: &str, body: String) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(self.url(&format!("/v1/flows/{flow}/events")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    }

    async fn post_ok(&self, flow: &str, body: String) -> String {
        let response = self
            .post(flow, body)
            .await
            .expect("POST reaches the server");
        assert_eq!(response.status(), 200);
        response.json_value().await["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    async fn stream(&self, flow: &str, last_event_id: Option<&str>) -> EventReader {
        let mut request = self
            .client
            .get(self.url(&format!("/v1/flows/{flow}/stream")));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status(), 200);
        EventReader::new(response)
    }

    async fn snapshot(&self, flow: &str) -> (String, bytes::Bytes) {
        read_snapshot(
            &self.client,
            self.url(&format!("/v1/flows/{flow}/snapshot")),
        )
        .await
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn take(reader: &mut EventReader, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let event = tokio::time::timeout(WAIT, reader.next_data())
            .await
            .expect("an event within the wait");
        events.push(event.expect("stream still open"));
    }
    events
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

fn node(i: usize) -> String {
    upsert_nodes(
        "f",
        &[(&format!("n{}", i % 7), ["running", "failed"][i % 2])],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_serve_the_same_ids_and_bytes_and_a_subscriber_moves_between_them() {
    let redis = RedisProcess::start();
    let a = Replica::start(&redis).await;
    let b = Replica::start(&redis).await;
    let mut posted = vec![a.post_ok("f", node(0)).await];
    let mut on_a = a.stream("f", None).await;
    let mut on_b = b.stream("f", None).await;
    let (first_a, first_b) = (take(&mut on_a, 1).await, take(&mut on_b, 1).await);
    assert_eq!(first_a, first_b, "one epoch, one snapshot");
    assert_eq!(ids(&first_a), posted);

    posted.clear();
    for i in 0..20 {
        posted.push(a.post_ok("f", node(i)).await);
    }
    let (from_a, from_b) = (take(&mut on_a, 20).await, take(&mut on_b, 20).await);
    assert_eq!(ids(&from_a), posted);
    assert_eq!(from_a, from_b, "same ids, events and data on both replicas");

    // The subscriber on A leaves after the tenth event and comes back on B.
    drop(on_a);
    let mut moved = b.stream("f", Some(&posted[9])).await;
    assert_eq!(take(&mut moved, 10).await, from_a[10..]);
    let late = b.post_ok("f", node(99)).await;
    assert_eq!(take(&mut moved, 1).await[0].id, late);
    assert_eq!(take(&mut on_b, 1).await[0].id, late);
    assert_eq!(a.snapshot("f").await, b.snapshot("f").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_loses_nothing_accepted_and_restarts_keep_state() {
    let redis = RedisProcess::start();
    let mut a = Replica::start(&redis).await;
    let b = Replica::start(&redis).await;
    // The flow exists before B's stream opens: the stream starts at its snapshot.
    a.post_ok("f", node(0)).await;
    let mut on_b = b.stream("f", None).await;
    take(&mut on_b, 1).await;

    // A publisher on A, concurrently; A dies under it once 30 events were accepted.
    let (client, url) = (a.client.clone(), a.url("/v1/flows/f/events"));
    let (accepted_tx, mut accepted_rx) = tokio::sync::mpsc::unbounded_channel();
    let publisher = tokio::spawn(async move {
        for i in 0.. {
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .body(node(i))
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == 200 => {
                    let body = response.json_value().await;
                    let id = body["id"].as_str().expect("id").to_owned();
                    if accepted_tx.send(id).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    let mut accepted = Vec::new();
    while accepted.len() < 30 {
        let id = tokio::time::timeout(WAIT, accepted_rx.recv())
            .await
            .expect("the publisher makes progress")
            .expect("the publisher runs until A dies");
        accepted.push(id);
    }
    a.kill();
    tokio::time::timeout(WAIT, publisher)
        .await
        .expect("the publisher stops")
        .expect("no panic");
    while let Ok(id) = accepted_rx.try_recv() {
        accepted.push(id);
    }
    let mut received = Vec::new();
    let last_accepted = accepted.last().expect("accepted events").clone();
    while !received.contains(&last_accepted) {
        received.push(take(&mut on_b, 1).await.remove(0).id);
    }
    // Every accepted event reached B, in order, without gaps (an event stored while its
    // response was lost may follow: the publisher retries such events elsewhere).
    assert_eq!(received[..accepted.len()], accepted[..]);

    let before = b.snapshot("f").await;
    // The id of the last stored event (the snapshot's position).
    let epoch = last_accepted.split_once('-').expect("epoch-seq").0;
    let last = format!("{epoch}-{}", before.0);
    drop(on_b);
    drop(b);
    let a = Replica::start(&redis).await;
    let b = Replica::start(&redis).await;
    assert_eq!(
        a.snapshot("f").await,
        before,
        "state survives a restart of every replica"
    );
    assert_eq!(b.snapshot("f").await, before);
    // The old id still resumes exactly: the epoch lives in Redis, not in the process.
    let mut resumed = b.stream("f", Some(&last)).await;
    let next = a.post_ok("f", node(1000)).await;
    assert_eq!(take(&mut resumed, 1).await[0].id, next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_503_and_nothing_half_written_then_everything_resumes() {
    let mut backend = Backend::Redis(RedisProcess::durable());
    let server = Server::start_with(&backend, &[]).await;
    // The flow exists before the stream opens: the stream starts at its snapshot.
    let mut posted = vec![server.post_ok("f", node(0)).await];
    let mut reader = server.stream("f", None).await;
    assert_eq!(ids(&take(&mut reader, 1).await), posted);
    posted.clear();
    for i in 1..3 {
        posted.push(server.post_ok("f", node(i)).await);
    }
    assert_eq!(ids(&take(&mut reader, 2).await), posted);

    let Backend::Redis(redis) = &mut backend else {
        unreachable!("a redis backend");
    };
    redis.stop();
    let refused = server
        .post("f", upsert_nodes("f", &[("lost", "failed")]))
        .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body = refused.json_value().await;
    assert_eq!(body["error"], "backend_unavailable", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not stored"))
    );
    assert_eq!(
        wait_for_readyz(&server, 503).await["status"],
        "backend_unavailable"
    );

    redis.restart();
    wait_for_readyz(&server, 200).await;
    let next = server.post_ok("f", node(3)).await;
    let epoch = posted[0].split_once('-').expect("epoch-seq").0;
    assert_eq!(next, format!("{epoch}-4"), "the refused event took no seq");
    assert_eq!(
        take(&mut reader, 1).await[0].id,
        next,
        "the open stream resumed"
    );
    let snapshot = server
        .client
        .get(server.url("/v1/flows/f/snapshot"))
        .send()
        .await
        .expect("snapshot");
    let Ok(FlowMessage::Snapshot { nodes, .. }) =
        decode(&snapshot.bytes().await.expect("body"), "f")
    else {
        panic!("a snapshot");
    };
    assert!(nodes.iter().all(|n| n.id != "lost"), "nothing half-written");
    assert_eq!(nodes.len(), 4);
}

/// Polls `/readyz` until it answers `status` (bounded by [`WAIT`]); returns the body.
async fn wait_for_readyz(server: &Server, status: u16) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        if response.status() == status {
            return response.json_value().await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never became {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The listing of one server, without the per-process `subscribers` field.
async fn listing(server: &Server) -> Vec<serde_json::Value> {
    let response = server
        .client
        .get(server.url("/v1/flows"))
        .send()
        .await
        .expect("listing");
    assert_eq!(response.status(), 200);
    let body = response.json_value().await;
    body["flows"].as_array().expect("flows").clone()
}

/// Issue 17: `/v1/flows` on any replica lists every flow stored in Redis, with nobody
/// following it anywhere; DELETE and expiry take it off every replica's listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_lists_every_stored_flow_until_deleted_or_expired() {
    let backend = Backend::redis();
    let a = Server::start_with(&backend, &["--redis-flow-ttl", "2s"]).await;
    let b = Server::start_with(&backend, &["--redis-flow-ttl", "2s"]).await;
    let f = a
        .post_ok(
            "f",
            upsert_nodes("f", &[("x", "running"), ("y", "failed"), ("z", "running")]),
        )
        .await;
    let g = a.post_ok("g", upsert_nodes("g", &[("x", "ok")])).await;

    let from_b = listing(&b).await;
    let ids: Vec<_> = from_b.iter().map(|flow| flow["id"].clone()).collect();
    assert_eq!(ids, ["f", "g"]);
    let (epoch, seq) = f.split_once('-').expect("an id is epoch-seq");
    assert_eq!(from_b[0]["epoch"], epoch);
    assert_eq!(from_b[0]["seq"].to_string(), seq);
    assert_eq!(
        from_b[0]["nodesByStatus"],
        serde_json::json!({"failed": 1, "running": 2})
    );
    assert_eq!(from_b[0]["nodes"], 3);
    assert_eq!(from_b[0]["relationships"], 0);
    assert_eq!(from_b[0]["subscribers"], 0);
    assert!(
        from_b[0]["lastEventAt"]
            .as_u64()
            .is_some_and(|ms| ms > 1_600_000_000_000),
        "{from_b:?}"
    );
    assert_eq!(listing(&a).await, from_b, "every replica lists the same");

    let deleted = b
        .client
        .delete(b.url("/v1/flows/f"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    let ids: Vec<_> = listing(&a)
        .await
        .iter()
        .map(|flow| flow["id"].clone())
        .collect();
    assert_eq!(ids, ["g"], "DELETE through b takes f off a's listing");

    // Expiry: nobody writes or follows g, so its keys expire after the TTL.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !listing(&b).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{g} expires and leaves the listing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}

/// The body of `GET snapshot` through `server`, with its `Flow-Seq`.
async fn snapshot_of(server: &Server, flow: &str) -> (String, bytes::Bytes) {
    read_snapshot(
        &server.client,
        server.url(&format!("/v1/flows/{flow}/snapshot")),
    )
    .await
}

/// The body of a `GET snapshot` at `url`, with its `Flow-Seq`.
async fn read_snapshot(client: &reqwest::Client, url: String) -> (String, bytes::Bytes) {
    let response = client.get(url).send().await.expect("snapshot");
    assert_eq!(response.status(), 200);
    let seq = response.headers()["flow-seq"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (seq, response.bytes().await.expect("body"))
}

/// Issue 17: a replica restoring a flow whose stream was trimmed past its first message
/// (bounded by the byte budget) gets the exact state: the same snapshot bytes as the memory
/// backend fed the same messages, upserts, deletes and the delete cascade included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_after_trimming_is_exact() {
    // Half for replay frames (a dozen of these), half for the state of four nodes.
    let flags = ["--flow-byte-budget", "8192"];
    let redis = Backend::redis();
    let writer = Server::start_with(&redis, &flags).await;
    let memory = Server::start_with(&Backend::Memory, &flags).await;
    let label = "l".repeat(200);
    let mut bodies = Vec::new();
    for i in 0..30 {
        let status = ["ok", "failed"][i % 2];
        bodies.push(
            serde_json::json!({"type": "upsert-nodes", "nodes": [
                {"id": format!("n{}", i % 4), "flowId": "f", "label": label, "status": status}
            ]})
            .to_string(),
        );
        if i % 10 == 9 {
            bodies.push(
                serde_json::json!({"type": "upsert-rels", "relationships": [
                    {"fromId": format!("n{}", i % 4), "toId": "n0", "type": "finish-to-start"}
                ]})
                .to_string(),
            );
        }
    }
    bodies.push(r#"{"type":"delete-nodes","ids":["n0","n5"]}"#.to_owned());
    for body in &bodies {
        writer.post_ok("f", body.clone()).await;
        memory.post_ok("f", body.clone()).await;
    }
    let last = format!("{}", bodies.len());

    // A replica that never held the flow restores it (stream first, then a snapshot GET).
    let reader = Server::start_with(&redis, &flags).await;
    let mut stream = reader.stream("f", None).await;
    let first = stream.next_data().await.expect("a snapshot");
    assert_eq!(first.event, "snapshot");
    assert!(first.id.ends_with(&format!("-{last}")), "{}", first.id);
    let (seq, expected) = snapshot_of(&memory, "f").await;
    assert_eq!(seq, last);
    assert_eq!(first.data.as_bytes(), &expected[..], "exact state");
    assert_eq!(snapshot_of(&reader, "f").await, (last, expected));
    // What the restore read: a checkpoint, and a stream trimmed past its first message.
    let Backend::Redis(process) = &redis else {
        unreachable!("the redis backend")
    };
    let stored = Stored::read(process, "f").await;
    assert!(stored.checkpoint > 0, "a checkpoint was written");
    assert!(stored.first > 1, "the stream was trimmed: {stored:?}");
    assert!(
        stored.first <= stored.checkpoint + 1,
        "never past the checkpoint: {stored:?}"
    );
    for server in [writer, memory, reader] {
        server.stop().await;
    }
}

/// A flow's log as Redis holds it.
#[derive(Debug)]
struct Stored {
    /// The seq of the checkpoint (0: none).
    checkpoint: u64,
    /// The seqs of the stream's first and last entries.
    first: u64,
    last: u64,
}

impl Stored {
    async fn read(redis: &RedisProcess, flow: &str) -> Self {
        let client = ::redis::Client::open(redis.url()).expect("redis url");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection");
        let checkpoint: Option<u64> = ::redis::cmd("HGET")
            .arg(format!("openova-flow:2:{{{flow}}}:meta"))
            .arg("ckpt")
            .query_async(&mut connection)
            .await
            .expect("HGET");
        let entries: Vec<(String, Vec<(String, String)>)> = ::redis::cmd("XRANGE")
            .arg(format!("openova-flow:2:{{{flow}}}:log"))
            .arg("-")
            .arg("+")
            .query_async(&mut connection)
            .await
            .expect("XRANGE");
        let seq = |entry: Option<&(String, Vec<(String, String)>)>| {
            entry.map_or(0, |(id, _)| {
                id.strip_suffix("-0")
                    .and_then(|seq| seq.parse().ok())
                    .expect("ids <seq>-0")
            })
        };
        Self {
            checkpoint: checkpoint.unwrap_or(0),
            first: seq(entries.first()),
            last: seq(entries.last()),
        }
    }
}

/// Issue 17: a writer killed after it wrote a checkpoint and before the append that trims
/// what the checkpoint covers loses nothing: another replica restores the checkpoint plus the
/// entries after it, exactly, ids in the untrimmed stream still replay exactly, and the next
/// append trims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_checkpoint_and_trim_loses_no_state() {
    // Eight entries: a checkpoint is due every four, and the stream is trimmed only past
    // eight, so after the eighth POST the checkpoint at 8 is written and nothing is trimmed.
    let env = [("FLOW_SERVER_RING_CAPACITY", "8")];
    let redis = RedisProcess::start();
    let mut a = Replica::start_with(&redis, &env).await;
    let mut posted = Vec::new();
    for i in 0..8 {
        posted.push(a.post_ok("f", node(i)).await);
    }
    let stored = Stored::read(&redis, "f").await;
    assert_eq!(
        (stored.checkpoint, stored.first, stored.last),
        (8, 1, 8),
        "checkpointed, not trimmed"
    );
    let before = a.snapshot("f").await;
    a.kill();

    let b = Replica::start_with(&redis, &env).await;
    assert_eq!(b.snapshot("f").await, before, "the exact state");
    let mut resumed = b.stream("f", Some(&posted[4])).await;
    assert_eq!(ids(&take(&mut resumed, 3).await), posted[5..]);
    let next = b.post_ok("f", node(8)).await;
    assert_eq!(take(&mut resumed, 1).await[0].id, next);
    let stored = Stored::read(&redis, "f").await;
    assert_eq!(
        (stored.first, stored.last),
        (2, 9),
        "the next append trims what the checkpoint covers"
    );
    let c = Replica::start_with(&redis, &env).await;
    assert_eq!(c.snapshot("f").await, b.snapshot("f").await);
}

/// Issue 17: two replicas ingesting into one flow at once: one order (every seq once), and
/// the same frames and state on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ingesting_at_once_agree() {
    let backend = Backend::redis();
    let a = Server::start_with(&backend, &[]).await;
    let b = Server::start_with(&backend, &[]).await;
    let first = a.post_ok("f", upsert_nodes("f", &[("start", "ok")])).await;
    let (epoch, _) = first.split_once('-').expect("epoch-seq");
    let mut on_a = a.stream("f", Some(&first)).await;
    let mut on_b = b.stream("f", Some(&first)).await;

    let write = |server: &Server, prefix: &'static str| {
        let server = (server.client.clone(), server.url("/v1/flows/f/events"));
        async move {
            let mut ids = Vec::new();
            for i in 0..50 {
                let response = server
                    .0
                    .post(&server.1)
                    .header("content-type", "application/json")
                    .body(upsert_nodes("f", &[(&format!("{prefix}{i}"), "running")]))
                    .send()
                    .await
                    .expect("POST");
                assert_eq!(response.status(), 200);
                ids.push(response.json_value().await["seq"].as_u64().expect("seq"));
            }
            ids
        }
    };
    let (from_a, from_b) = tokio::join!(write(&a, "a"), write(&b, "b"));
    let mut seqs: Vec<u64> = from_a.iter().chain(&from_b).copied().collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (2..=101).collect::<Vec<_>>(), "every seq once");

    let (events_a, events_b) = (take(&mut on_a, 100).await, take(&mut on_b, 100).await);
    let expected: Vec<String> = (2..=101).map(|seq| format!("{epoch}-{seq}")).collect();
    assert_eq!(ids(&events_a), expected);
    assert_eq!(events_a, events_b, "the same frames on both replicas");
    let (seq, body) = snapshot_of(&a, "f").await;
    assert_eq!(seq, "101");
    assert_eq!(snapshot_of(&b, "f").await, (seq, body.clone()));
    let Ok(FlowMessage::Snapshot { nodes, .. }) = decode(&body, "f") else {
        panic!("not a snapshot");
    };
    assert_eq!(nodes.len(), 101);
    a.stop().await;
    b.stop().await;
}

/// Issue 17: `FLUSHALL` mid-run: the next POST starts a new epoch, every replica ends its
/// streams of the old one, and a reconnection with an old id gets a snapshot of the new
/// epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_mid_run_means_a_new_epoch_and_a_resync_on_every_replica() {
    let backend = Backend::redis();
    let a = Server::start_with(&backend, &[]).await;
    let b = Server::start_with(&backend, &[]).await;
    let mut old = String::new();
    for node in ["x", "y"] {
        old = a.post_ok("f", upsert_nodes("f", &[(node, "ok")])).await;
    }
    let mut on_a = a.stream("f", None).await;
    let mut on_b = b.stream("f", None).await;
    for stream in [&mut on_a, &mut on_b] {
        assert_eq!(stream.next_data().await.expect("snapshot").id, old);
    }

    let client = ::redis::Client::open(backend.url()).expect("redis url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    ::redis::cmd("FLUSHALL")
        .query_async::<()>(&mut connection)
        .await
        .expect("FLUSHALL");

    let new = b.post_ok("f", upsert_nodes("f", &[("z", "failed")])).await;
    let (old_epoch, _) = old.split_once('-').expect("epoch-seq");
    let (new_epoch, _) = new.split_once('-').expect("epoch-seq");
    assert_ne!(old_epoch, new_epoch, "a new epoch");
    for (server, stream) in [(&a, on_a), (&b, on_b)] {
        let mut stream = stream;
        // The old epoch's stream ends (frames of the old epoch may precede the end).
        while let Some(event) = stream.next_data().await {
            assert!(event.id.starts_with(old_epoch), "{}", event.id);
        }
        let mut again = server.stream("f", Some(&old)).await;
        let resync = again.next_data().await.expect("a snapshot");
        assert_eq!(resync.event, "snapshot");
        assert!(resync.id.starts_with(new_epoch), "{}", resync.id);
        let mut seen = resync;
        while seen.id != new {
            seen = again.next_data().await.expect("the new epoch's events");
        }
        let (_, body) = snapshot_of(server, "f").await;
        let Ok(FlowMessage::Snapshot { nodes, .. }) = decode(&body, "f") else {
            panic!("not a snapshot");
        };
        let ids: Vec<_> = nodes.iter().map(|node| node.id.as_str()).collect();
        assert_eq!(ids, ["z"], "only what was posted after the flush");
    }
    assert_eq!(
        a.post("f", upsert_nodes("f", &[("w", "ok")]))
            .await
            .status(),
        200,
        "POSTs work again"
    );
    a.stop().await;
    b.stop().await;
}

/// Issue 17: a Redis command that does not answer within `FLOW_SERVER_REDIS_TIMEOUT` fails
/// with 503 `backend_timeout`, naming the setting; POSTs work again once Redis answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_times_out_with_a_clear_error() {
    let backend = Backend::redis();
    let server = Server::start_with(&backend, &["--redis-timeout", "200ms"]).await;
    server.post_ok("f", upsert_nodes("f", &[("a", "ok")])).await;
    let client = ::redis::Client::open(backend.url()).expect("redis url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    // Redis holds every write (the append script included) for up to 20 s, until the UNPAUSE
    // below (not a write, so answered at once).
    ::redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(20_000)
        .arg("WRITE")
        .query_async::<()>(&mut connection)
        .await
        .expect("CLIENT PAUSE");
    let slow = server.post("f", upsert_nodes("f", &[("b", "ok")])).await;
    assert_eq!(slow.status(), 503);
    assert_eq!(slow.headers()["retry-after"], "1");
    let body = slow.json_value().await;
    assert_eq!(body["error"], "backend_timeout", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("200 ms") && message.contains("FLOW_SERVER_REDIS_TIMEOUT"),
        "{message}"
    );
    ::redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async::<()>(&mut connection)
        .await
        .expect("CLIENT UNPAUSE");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = server.post("f", upsert_nodes("f", &[("c", "ok")])).await;
        if response.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "POSTs work again: {}",
            response.status()
        );
    }
    server.stop().await;
}

/// The text of `/metrics` of `server`.
async fn metrics_of(server: &Server) -> String {
    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    String::from_utf8_lossy(&response.bytes().await.expect("body")).into_owned()
}

/// Issue 17: each replica's metrics are its own: `events_accepted` counts the POSTs it
/// stored, not the messages it applied from other replicas; `frames_sent` what it served,
/// `flows` what its engine holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_counts_its_own_posts() {
    let backend = Backend::redis();
    let a = Server::start_with(&backend, &[]).await;
    let b = Server::start_with(&backend, &[]).await;
    let first = a.post_ok("f", upsert_nodes("f", &[("x", "ok")])).await;
    let mut on_b = b.stream("f", Some(&first)).await;
    let mut posted = Vec::new();
    for node in ["y", "z", "w"] {
        posted.push(a.post_ok("f", upsert_nodes("f", &[(node, "ok")])).await);
    }
    assert_eq!(ids(&take(&mut on_b, 3).await), posted);
    let (on_a, on_b) = (metrics_of(&a).await, metrics_of(&b).await);
    assert!(
        on_a.contains("openova_flow_events_accepted_total 4\n"),
        "{on_a}"
    );
    assert!(
        on_b.contains("openova_flow_events_accepted_total 0\n"),
        "{on_b}"
    );
    assert!(
        on_b.contains("openova_flow_frames_sent_total 3\n"),
        "{on_b}"
    );
    // Both hold the flow: B follows it for its stream, A's engine admitted the POSTs.
    assert!(on_b.contains("openova_flow_flows 1\n"), "{on_b}");
    assert!(on_a.contains("openova_flow_flows 1\n"), "{on_a}");
    a.stop().await;
    b.stop().await;
}
