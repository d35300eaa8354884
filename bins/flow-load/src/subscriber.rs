//! One SSE subscriber: opens the stream, counts frames, checks seqs, optionally samples latency,
//! and (in churn runs) disconnects and reconnects until publishing is over.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, sleep_until};

use crate::board::Board;
use crate::http_body::{BodyFraming, ChunkedDecoder};
use crate::payload::unix_micros;
use crate::scanner::{FrameKind, FrameScanner};
use crate::tally::{Settled, Tally};
use crate::target::{Target, open_stream};

/// Read buffer per subscriber.
const READ_BUF: usize = 16 * 1024;

/// Who a subscriber is.
#[derive(Debug, Clone)]
pub(crate) struct SubscriberSpec {
    /// Index over all subscribers (seeds the churn timing).
    pub(crate) index: usize,
    /// Flow index on the board.
    pub(crate) flow: usize,
    /// Flow id in the URL.
    pub(crate) flow_id: Arc<str>,
    /// Parse `publishedAt` for latency.
    pub(crate) sample: bool,
    /// Disconnect and reconnect while publishing.
    pub(crate) churn: bool,
}

/// What a subscriber reports when it ends.
#[derive(Debug, Default)]
pub(crate) struct SubscriberOutcome {
    /// Delivery accounting against the flow's final seq.
    pub(crate) settled: Settled,
    /// Publish-to-receipt latencies in microseconds (sampling subscribers).
    pub(crate) latencies: Vec<u64>,
    /// When it received the final seq, if it did.
    pub(crate) finished_at: Option<Instant>,
    /// Whether its first stream opened.
    pub(crate) connected: bool,
}

/// Tiny deterministic generator for churn timings (no global RNG).
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// How a read loop of one session ended.
enum SessionEnd {
    /// The final seq arrived.
    Done,
    /// Churn: time to disconnect.
    Churn,
    /// The drain deadline passed.
    Deadline,
    /// The stream failed or ended early.
    Failed,
}

/// Runs one subscriber. `ready` gets `true` after its first frame (or `false` if its first
/// stream could not open); `permit` is released at that moment too.
pub(crate) async fn run_subscriber(
    target: Arc<Target>,
    spec: SubscriberSpec,
    board: Arc<Board>,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<bool>,
) -> SubscriberOutcome {
    let mut state = Session {
        tally: Tally::default(),
        scanner: FrameScanner::new(spec.sample),
        latencies: Vec::new(),
        ready: Some(ready),
        permit: gate.acquire_owned().await.ok(),
        session_start: 0,
    };
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (spec.index as u64 + 1));
    let mut outcome = SubscriberOutcome::default();
    let mut resume = false;
    let mut sessions = 0_u64;
    loop {
        let last_id = resume.then(|| state.scanner.last_id().to_vec());
        if !resume {
            state.tally.close_session();
            state.scanner = FrameScanner::new(spec.sample);
        }
        let opened = open_stream(&target, &spec.flow_id, last_id.as_deref()).await;
        let stream = match opened {
            Ok(stream) => stream,
            Err(error) => {
                board.error(format!("stream {}", error.kind()));
                if state.announce(false) || !spec.churn || past_drain(&board) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                resume = true;
                continue;
            }
        };
        outcome.connected = true;
        let churn_at = (spec.churn && board.final_seq(spec.flow).is_none())
            .then(|| Instant::now() + Duration::from_millis(100 + rng.next() % 500));
        board
            .open_streams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        board
            .streams_opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let end = state.read(stream, &spec, &board, churn_at).await;
        board
            .open_streams
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        match end {
            SessionEnd::Done => {
                outcome.finished_at = Some(Instant::now());
                break;
            }
            SessionEnd::Deadline => break,
            SessionEnd::Failed if !spec.churn => break,
            SessionEnd::Failed | SessionEnd::Churn => {
                sessions += 1;
                // Alternate: resume with Last-Event-ID, then a fresh subscription.
                resume = sessions % 2 == 1 || board.final_seq(spec.flow).is_some();
            }
        }
    }
    state.announce(false);
    let final_seq = board
        .final_seq(spec.flow)
        .unwrap_or_else(|| board.max_seq(spec.flow));
    outcome.settled = state.tally.settle(final_seq);
    outcome.latencies = state.latencies;
    outcome
}

fn past_drain(board: &Board) -> bool {
    board.drain_deadline().is_some_and(|d| Instant::now() >= d)
}

/// The state a subscriber keeps across its sessions.
struct Session {
    tally: Tally,
    scanner: FrameScanner,
    latencies: Vec<u64>,
    ready: Option<mpsc::UnboundedSender<bool>>,
    permit: Option<OwnedSemaphorePermit>,
    session_start: u64,
}

impl Session {
    /// Signals readiness once; returns true if this was the first signal and it was a failure.
    fn announce(&mut self, ok: bool) -> bool {
        self.permit = None;
        match self.ready.take() {
            Some(ready) => {
                // The receiver may be gone after the connect deadline; nothing to tell then.
                let _ = ready.send(ok);
                !ok
            }
            None => false,
        }
    }

    async fn read(
        &mut self,
        stream: crate::target::OpenStream,
        spec: &SubscriberSpec,
        board: &Board,
        churn_at: Option<Instant>,
    ) -> SessionEnd {
        // Replayed frames after a reconnect were published while this subscriber was away:
        // their age is not delivery latency.
        self.session_start = unix_micros();
        let mut socket = stream.socket;
        let mut decoder = (stream.framing == BodyFraming::Chunked).then(ChunkedDecoder::default);
        let mut finals = board.finals();
        let mut buf = vec![0_u8; READ_BUF];
        let mut pending = stream.leftover;
        loop {
            if !pending.is_empty() {
                if let Err(error) = self.consume(&pending, decoder.as_mut(), spec, board) {
                    board.error(error);
                    return SessionEnd::Failed;
                }
                pending.clear();
            }
            if self.tally.started() {
                self.announce(true);
            }
            if let Some(fin) = board.final_seq(spec.flow)
                && self.tally.last().is_some_and(|last| last >= fin)
            {
                return SessionEnd::Done;
            }
            if decoder.as_ref().is_some_and(ChunkedDecoder::is_done) {
                board.error("stream ended early");
                return SessionEnd::Failed;
            }
            let wake = match (churn_at, board.drain_deadline()) {
                (Some(c), Some(d)) => Some(c.min(d)),
                (c, d) => c.or(d),
            };
            tokio::select! {
                biased;
                read = socket.read(&mut buf) => match read {
                    Ok(0) => {
                        board.error("stream ended early");
                        return SessionEnd::Failed;
                    }
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(error) => {
                        board.error(format!("stream io {:?}", error.kind()));
                        return SessionEnd::Failed;
                    }
                },
                _ = finals.changed() => {}
                () = sleep_until(wake.unwrap_or_else(far_future)), if wake.is_some() => {
                    if past_drain(board) {
                        return SessionEnd::Deadline;
                    }
                    if board.final_seq(spec.flow).is_none() {
                        return SessionEnd::Churn;
                    }
                }
            }
        }
    }

    /// Feeds body bytes through the decoder and scanner into the tally.
    fn consume(
        &mut self,
        bytes: &[u8],
        decoder: Option<&mut ChunkedDecoder>,
        spec: &SubscriberSpec,
        board: &Board,
    ) -> Result<(), String> {
        let now = if spec.sample { unix_micros() } else { 0 };
        let mut delivered = 0_u64;
        let tally = &mut self.tally;
        let latencies = &mut self.latencies;
        let session_start = self.session_start;
        let mut sink = |frame: crate::scanner::Frame| {
            tally.frame(frame);
            if frame.kind == FrameKind::Event {
                delivered += 1;
                if let Some(at) = frame.published_at.filter(|at| *at >= session_start) {
                    latencies.push(now.saturating_sub(at));
                }
            }
        };
        let scanner = &mut self.scanner;
        match decoder {
            Some(decoder) => decoder
                .feed(bytes, &mut |body| scanner.feed(body, &mut sink))
                .map_err(|e| format!("stream {e}"))?,
            None => scanner.feed(bytes, &mut sink),
        }
        board
            .frames
            .fetch_add(delivered, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
