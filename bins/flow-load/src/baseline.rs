//! The raw baseline: a minimal in-process TCP writer that answers any request with an SSE head
//! and a snapshot frame, then pushes the same kind of frames (same body bytes, encoded once,
//! written in batches) to every connection. It shows what this machine can deliver to the same
//! number of readers, so a server figure can be stated as a fraction of it. A `POST` gets the
//! cheapest possible ingest answer (`{"seq":N}` over keep-alive, pipelined POSTs answered in one
//! write), the request/response limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\nevent: snapshot\nid: 0-0\ndata: {}\n\n";

/// A running baseline writer.
#[derive(Debug)]
pub(crate) struct Baseline {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    tx: broadcast::Sender<Bytes>,
}

impl Baseline {
    /// Binds a loopback port and starts accepting.
    pub(crate) async fn start(board: Arc<Board>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, _) = broadcast::channel(CAPACITY);
        let accept_tx = tx.clone();
        let seq = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((socket, _)) => {
                        let rx = accept_tx.subscribe();
                        let seq = Arc::clone(&seq);
                        let board = Arc::clone(&board);
                        tokio::spawn(async move {
                            if let Err(error) = serve(socket, rx, seq).await {
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
/// else gets the SSE head and then every batch.
async fn serve(
    mut socket: TcpStream,
    mut rx: broadcast::Receiver<Bytes>,
    seq: Arc<AtomicU64>,
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
            consumed += total;
            let body = format!(
                "{{\"seq\":{},\"epoch\":\"0\"}}",
                seq.fetch_add(1, Ordering::Relaxed) + 1
            );
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
    socket.write_all(HEAD).await?;
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
