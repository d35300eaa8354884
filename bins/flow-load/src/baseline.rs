//! The raw baselines: minimal in-process TCP writers that show what this machine can deliver to
//! the same readers, so a server figure can be stated as a fraction of it.
//!
//! - [`Shape::Batched`] (one flow): answers any GET with an SSE head and a snapshot frame, then
//!   pushes the same kind of frames (same body bytes, encoded once, written in batches) to every
//!   connection, paced only by the slowest reader.
//! - [`Shape::Sparse`] (several flows): driven by the run's own publishers. Each POST to
//!   `/v1/flows/{id}/events` becomes one frame of that flow (its body, encoded once, the flow's
//!   next seq), and every stream of the flow writes it as it arrives: one write per frame per
//!   subscriber, at the rate the publishers reach.
//!
//! In both, a `POST` gets the cheapest possible ingest answer (`{"seq":N}` over keep-alive,
//! pipelined POSTs answered in one write), the request/response limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::{Instant, sleep, sleep_until};

use crate::board::Board;
use crate::payload::{Payload, unix_micros};

/// Frames per batch at full speed.
const BATCH: usize = 32;
/// Batches queued in the channel.
const CAPACITY: usize = 4096;
/// The producer pauses while this many batches are not yet taken by every connection.
const HIGH_WATER: usize = 16;

/// Frames of one flow queued for its slowest stream in the sparse shape.
const SPARSE_CAPACITY: usize = 4096;

const HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n";

/// How the baseline produces frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Shape {
    /// One flow, frames produced flat out and written 32 at a time.
    Batched,
    /// Every flow, one frame per POST, written by each stream as it arrives.
    Sparse,
}

/// A running baseline writer.
#[derive(Debug)]
pub(crate) struct Baseline {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    tx: broadcast::Sender<Bytes>,
}

/// What every connection of one baseline shares.
#[derive(Debug)]
struct Shared {
    /// The batched stream (every GET in the batched shape).
    tx: broadcast::Sender<Bytes>,
    /// The seq of the last answered POST (batched shape and plain POSTs).
    seq: AtomicU64,
    /// The flows by id (sparse shape).
    flows: Option<Mutex<HashMap<Box<str>, Arc<SparseFlow>>>>,
}

/// One flow of the sparse shape: its last seq and its streams, under one lock so a stream
/// opened at seq N receives exactly the frames after N.
#[derive(Debug)]
struct SparseFlow(Mutex<(u64, broadcast::Sender<Bytes>)>);

impl Shared {
    /// The flow `id` of the sparse shape, created on first use.
    fn flow(&self, flows: &Mutex<HashMap<Box<str>, Arc<SparseFlow>>>, id: &str) -> Arc<SparseFlow> {
        let mut flows = flows.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flow) = flows.get(id) {
            return Arc::clone(flow);
        }
        let flow = Arc::new(SparseFlow(Mutex::new((
            0,
            broadcast::channel(SPARSE_CAPACITY).0,
        ))));
        flows.insert(id.into(), Arc::clone(&flow));
        flow
    }

    /// Answers one POST: in the sparse shape the body becomes the flow's next frame.
    fn publish(&self, path: &[u8], body: &[u8]) -> u64 {
        let id = self.flows.as_ref().zip(flow_id(path, b"/events"));
        let Some((flows, id)) = id else {
            return self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        };
        let flow = self.flow(flows, id);
        let mut state = flow.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        let mut frame = Vec::with_capacity(body.len() + 48);
        frame.extend_from_slice(b"event: upsert-nodes\nid: 0-");
        frame.extend_from_slice(state.0.to_string().as_bytes());
        frame.extend_from_slice(b"\ndata: ");
        frame.extend_from_slice(body);
        frame.extend_from_slice(b"\n\n");
        // No stream yet is not an error: nobody asked for this frame.
        let _ = state.1.send(Bytes::from(frame));
        state.0
    }
}

impl Baseline {
    /// Binds a loopback port and starts accepting in `shape`.
    pub(crate) async fn start(board: Arc<Board>, shape: Shape) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, _) = broadcast::channel(CAPACITY);
        let shared = Arc::new(Shared {
            tx: tx.clone(),
            seq: AtomicU64::new(0),
            flows: (shape == Shape::Sparse).then(|| Mutex::new(HashMap::new())),
        });
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((socket, _)) => {
                        // Subscribed now, so a batched stream misses no batch produced after
                        // its connection was accepted.
                        let rx = shared.tx.subscribe();
                        let shared = Arc::clone(&shared);
                        let board = Arc::clone(&board);
                        tokio::spawn(async move {
                            if let Err(error) = serve(socket, rx, &shared).await {
                                board.error(format!("baseline io {:?}", error.kind()));
                            }
                        });
                    }
                    Err(error) => board.error(format!("baseline accept {:?}", error.kind())),
                }
            }
        });
        Ok(Self { addr, tx })
    }

    /// Produces frames for flow 0 of `board` until `deadline`, at `rate` frames/s (0 = as fast as
    /// the slowest connection takes them). Connections close after the last batch.
    pub(crate) async fn produce(self, board: &Board, size: usize, rate: u64, deadline: Instant) {
        let payload = Payload::new(size);
        let start = Instant::now();
        let mut seq = 0_u64;
        while Instant::now() < deadline {
            let batch = if rate == 0 {
                while self.tx.len() >= HIGH_WATER && Instant::now() < deadline {
                    sleep(Duration::from_millis(1)).await;
                }
                BATCH as u64
            } else {
                let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
                if due <= seq {
                    sleep_until(Instant::now() + Duration::from_millis(1)).await;
                    continue;
                }
                (due - seq).min(BATCH as u64)
            };
            let mut frames = Vec::with_capacity(batch as usize * (size + 64));
            for _ in 0..batch {
                seq += 1;
                frames.extend_from_slice(b"event: upsert-nodes\nid: 0-");
                frames.extend_from_slice(seq.to_string().as_bytes());
                frames.extend_from_slice(b"\ndata: ");
                frames.extend_from_slice(&payload.body("baseline", 0, unix_micros()));
                frames.extend_from_slice(b"\n\n");
            }
            // No receiver yet is not an error: nobody asked for these frames.
            let _ = self.tx.send(Bytes::from(frames));
            board.saw_seq(0, seq);
            tokio::task::yield_now().await;
        }
    }
}

/// One connection: a `POST` is answered like an ingest (keep-alive, a growing seq); anything
/// else gets the SSE head and a snapshot, then every batch (batched shape) or every frame of
/// the flow in its path (sparse shape).
async fn serve(
    mut socket: TcpStream,
    mut rx: broadcast::Receiver<Bytes>,
    shared: &Shared,
) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(4096);
    let mut answers = Vec::with_capacity(4096);
    loop {
        // Every complete POST in the buffer is answered, in one write (pipelined requests get
        // their answers together, as a server that aggregates flushes sends them).
        answers.clear();
        let mut consumed = 0;
        while let Some(end) = memchr::memmem::find(&buf[consumed..], b"\r\n\r\n") {
            let head = &buf[consumed..consumed + end];
            if !head.starts_with(b"POST ") {
                break;
            }
            let total = end + 4 + content_length(head);
            if buf.len() - consumed < total {
                break;
            }
            let path = head.split(|b| *b == b' ').nth(1).unwrap_or_default();
            let seq = shared.publish(path, &buf[consumed + end + 4..consumed + total]);
            consumed += total;
            let body = format!("{{\"seq\":{seq},\"epoch\":\"0\"}}");
            answers.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
        buf.drain(..consumed);
        if !answers.is_empty() {
            socket.write_all(&answers).await?;
            continue;
        }
        match memchr::memmem::find(&buf, b"\r\n\r\n") {
            Some(_) if !buf.starts_with(b"POST ") => break,
            _ => {
                if socket.read_buf(&mut buf).await? == 0 || buf.len() > 1024 * 1024 {
                    return Ok(());
                }
            }
        }
    }
    let path = buf.split(|b| *b == b' ').nth(1).unwrap_or_default();
    let sparse = shared.flows.as_ref().zip(flow_id(path, b"/stream"));
    let at = match sparse {
        Some((flows, id)) => {
            let flow = shared.flow(flows, id);
            let state = flow.0.lock().unwrap_or_else(PoisonError::into_inner);
            rx = state.1.subscribe();
            state.0
        }
        None => 0,
    };
    let mut head = HEAD.to_vec();
    head.extend_from_slice(format!("event: snapshot\nid: 0-{at}\ndata: {{}}\n\n").as_bytes());
    socket.write_all(&head).await?;
    // Both shapes write each item as it comes: a batch of 32 frames, or a single frame.
    loop {
        match rx.recv().await {
            Ok(batch) => socket.write_all(&batch).await?,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                return Err(std::io::Error::other("baseline connection lagged"));
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

/// The flow id in `/v1/flows/{id}{suffix}` (the target of a request line).
fn flow_id<'p>(path: &'p [u8], suffix: &[u8]) -> Option<&'p str> {
    let id = path.strip_prefix(b"/v1/flows/")?.strip_suffix(suffix)?;
    std::str::from_utf8(id)
        .ok()
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The `Content-Length` of a request head (0 when absent or malformed).
fn content_length(head: &[u8]) -> usize {
    head.split(|b| *b == b'\n')
        .filter_map(|line| {
            let colon = memchr::memchr(b':', line)?;
            line[..colon]
                .eq_ignore_ascii_case(b"content-length")
                .then(|| std::str::from_utf8(&line[colon + 1..]).ok())
                .flatten()
                .and_then(|v| v.trim().parse().ok())
        })
        .next()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Poster, Target, open_stream};

    /// Reads the stream until `needle` arrived (bounded: the test fails after 10 s).
    async fn read_until(socket: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while memchr::memmem::find(seen, needle).is_none() {
            tokio::time::timeout_at(deadline, socket.read_buf(seen))
                .await
                .expect("the frame arrives in time")
                .expect("the stream stays open");
        }
    }

    /// A stream of the sparse shape starts with a snapshot at the flow's seq and then gets
    /// each POST of its flow as one frame with the next seq; other flows' POSTs are not its own.
    #[tokio::test]
    async fn sparse_streams_get_each_post_of_their_flow() {
        let board = Arc::new(Board::new(2));
        let baseline = Baseline::start(board, Shape::Sparse).await.unwrap();
        let target = Target::local(baseline.addr);
        let mut poster = Poster::connect(&target).await.unwrap();
        assert_eq!(poster.post("a", b"{\"n\":1}".to_vec()).await.unwrap(), 1);
        let mut stream = open_stream(&target, "a", None).await.unwrap();
        let mut seen = stream.leftover;
        read_until(&mut stream.socket, &mut seen, b"event: snapshot\nid: 0-1\n").await;
        assert_eq!(poster.post("b", b"{\"n\":9}".to_vec()).await.unwrap(), 1);
        assert_eq!(poster.post("a", b"{\"n\":2}".to_vec()).await.unwrap(), 2);
        assert_eq!(poster.post("a", b"{\"n\":3}".to_vec()).await.unwrap(), 3);
        read_until(&mut stream.socket, &mut seen, b"id: 0-3\n").await;
        let text = String::from_utf8(seen).unwrap();
        let events = "event: upsert-nodes\nid: 0-2\ndata: {\"n\":2}\n\nevent: upsert-nodes\nid: 0-3\ndata: {\"n\":3}\n\n";
        assert!(text.ends_with(events), "{text:?}");
        assert!(!text.contains("\"n\":9"), "{text:?}");
    }

    #[test]
    fn flow_ids_come_from_canonical_paths() {
        assert_eq!(flow_id(b"/v1/flows/f-1/events", b"/events"), Some("f-1"));
        assert_eq!(flow_id(b"/v1/flows/f-1/stream", b"/stream"), Some("f-1"));
        assert_eq!(flow_id(b"/v1/flows//events", b"/events"), None);
        assert_eq!(flow_id(b"/v1/flows/a/b/events", b"/events"), None);
        assert_eq!(flow_id(b"/v1/flows/f/stream", b"/events"), None);
    }

    #[test]
    fn content_length_is_read_case_insensitively() {
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\nContent-Length: 12\r"),
            12
        );
        assert_eq!(content_length(b"POST / HTTP/1.1\r\ncontent-length:7"), 7);
        assert_eq!(content_length(b"POST / HTTP/1.1\r\nhost: x"), 0);
        assert_eq!(content_length(b"POST / HTTP/1.1\r\ncontent-length: x"), 0);
    }
}
