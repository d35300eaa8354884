//! A subscriber that stops reading must fall behind in the engine's ring and get a resync
//! snapshot when it reads again, not have the backlog queued in the server's HTTP buffers
//! (which would grow without bound). This guards the shell's HTTP settings: hyper's
//! `pipeline_flush`, for one, lifts the write-buffer limit this depends on.

use openova_flow_server::Drained;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::event_stream::{Event, Parser, WAIT};
use crate::fixture::{Backend, Server};

/// Events published while the reader stalls, each with about `PAD` bytes of `meta`: ~12 MB,
/// about four times what the kernel buffers on loopback (the server's send buffer grows to
/// `tcp_wmem`'s 4 MiB; ~230 frames arrive before the resync here) plus hyper's 8 KiB write
/// buffer hold, and 30 times the ring. With `pipeline_flush(true)` all 1,000 arrive.
const EVENTS: u64 = 1000;
const PAD: usize = 12 * 1024;
const RING: &str = "32";

fn big_upsert(i: u64) -> String {
    serde_json::json!({
        "type": "upsert-nodes",
        "nodes": [{"id": "n", "flowId": "f", "label": "n", "status": "running",
                   "meta": {"i": i, "pad": "x".repeat(PAD)}}],
    })
    .to_string()
}

/// A raw HTTP/1.0 stream (close-delimited body, so bytes go straight to the SSE parser) on a
/// socket with a small receive buffer.
struct RawStream {
    socket: TcpStream,
    parser: Parser,
    ready: std::collections::VecDeque<Event>,
}

impl RawStream {
    async fn open(server: &Server, flow: &str) -> Self {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let mut socket = socket.connect(server.addr).await.expect("connect");
        let request = format!("GET /v1/flows/{flow}/stream HTTP/1.0\r\nhost: test\r\n\r\n");
        socket.write_all(request.as_bytes()).await.expect("send");
        let mut head = Vec::new();
        let body_start = loop {
            if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut byte = [0_u8; 1024];
            let n = tokio::time::timeout(WAIT, socket.read(&mut byte))
                .await
                .expect("head in time")
                .expect("read");
            assert!(n > 0, "closed before the head");
            head.extend_from_slice(&byte[..n]);
        };
        assert!(
            head.starts_with(b"HTTP/1.0 200") || head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let mut stream = Self {
            socket,
            parser: Parser::default(),
            ready: std::collections::VecDeque::new(),
        };
        let rest = head[body_start..].to_vec();
        stream.ready.extend(stream.parser.feed(&rest));
        stream
    }

    async fn next(&mut self) -> Event {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return event;
            }
            let mut chunk = [0_u8; 16 * 1024];
            let n = tokio::time::timeout(WAIT, self.socket.read(&mut chunk))
                .await
                .expect("an event within the wait")
                .expect("read");
            assert!(n > 0, "stream ended");
            self.ready.extend(self.parser.feed(&chunk[..n]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_falls_behind_in_the_ring_and_resyncs() {
    let server = Server::start_with(
        &Backend::Memory,
        &["--ring-capacity", RING, "--ingest-rate", "0"],
    )
    .await;
    let mut stream = RawStream::open(&server, "f").await;
    assert_eq!(stream.next().await.event, "snapshot");

    // The reader stalls while everything is published (each POST is answered before the next).
    let mut last = String::new();
    for i in 1..=EVENTS {
        last = server.post_ok("f", big_upsert(i)).await;
    }

    // Reading again: what was already in the buffers, then a snapshot at the newest seq.
    let mut frames = Vec::new();
    let resync = loop {
        let event = stream.next().await;
        match event.event.as_str() {
            "snapshot" => break Some(event),
            "upsert-nodes" if event.id == last => break None,
            "upsert-nodes" => frames.push(event),
            "heartbeat" => {}
            other => panic!("unexpected event {other}"),
        }
    };
    let seqs: Vec<u64> = frames
        .iter()
        .map(|e| {
            e.id.rsplit_once('-')
                .and_then(|(_, seq)| seq.parse().ok())
                .expect("<epoch>-<seq>")
        })
        .collect();
    let resync = resync.unwrap_or_else(|| {
        panic!(
            "every one of the {EVENTS} events was queued outside the ring (no resync); \
             {} frames arrived",
            seqs.len() + 1
        )
    });
    assert_eq!(resync.id, last, "the resync snapshot is at the newest seq");
    assert!(
        resync.data.contains(&format!(r#""i":{EVENTS}"#)),
        "the snapshot holds the newest state"
    );
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "frames before the resync have no gap"
    );
    drop(stream);
    assert_eq!(server.stop().await, Drained::Clean);
}
