//! The async layer: batching, wake-ups, heartbeats and the end of a stream, polled by hand.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use flow_router::{
    Epoch, EventId, FlowState, FrameStream, Restored, Router, RouterConfig, SharedRouter, Start,
};
use futures::Stream;
use futures::task::ArcWake;

use crate::sim::{SEED, events, ids, node, origin};

#[derive(Default)]
struct Wakes(AtomicUsize);

impl ArcWake for Wakes {
    fn wake_by_ref(this: &Arc<Self>) {
        this.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Harness {
    shared: SharedRouter,
    wakes: Arc<Wakes>,
    waker: Waker,
}

impl Harness {
    fn new() -> Self {
        let now = origin();
        let wakes = Arc::new(Wakes::default());
        Self {
            shared: SharedRouter::new(RouterConfig::default(), SEED, move || now).unwrap(),
            waker: futures::task::waker(Arc::clone(&wakes)),
            wakes,
        }
    }

    fn next(&self, stream: &mut FrameStream) -> Poll<Option<Bytes>> {
        Pin::new(stream).poll_next(&mut Context::from_waker(&self.waker))
    }

    /// What each stream yields now (each must yield).
    fn ready(&self, streams: &mut [FrameStream]) -> Vec<Bytes> {
        streams
            .iter_mut()
            .map(|stream| match self.next(stream) {
                Poll::Ready(Some(bytes)) => bytes,
                other => panic!("expected bytes, got {other:?}"),
            })
            .collect()
    }

    fn text(&self, stream: &mut FrameStream) -> String {
        match self.next(stream) {
            Poll::Ready(Some(bytes)) => String::from_utf8(bytes.to_vec()).unwrap(),
            other => panic!("expected bytes, got {other:?}"),
        }
    }

    fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }
}

#[test]
fn batches_ready_frames_wakes_on_ingest_and_ends_on_delete() {
    let h = Harness::new();
    h.shared
        .ingest_bytes("f", node("f", "a", "running").as_bytes())
        .unwrap();
    let mut stream = h.shared.subscribe("f", None).unwrap();
    assert_eq!(stream.start(), Start::Snapshot);
    let initial = h.text(&mut stream);
    assert!(initial.starts_with("retry: 3000\n\nevent: snapshot\nid: e0-1\n"));
    assert_eq!(h.next(&mut stream), Poll::Pending);

    for id in ["b", "c", "d"] {
        h.shared
            .ingest_bytes("f", node("f", id, "running").as_bytes())
            .unwrap();
    }
    assert!(h.wakes() >= 1, "ingest wakes the pending stream");
    let batch = h.text(&mut stream);
    assert_eq!(
        ids(&batch),
        ["e0-2", "e0-3", "e0-4"],
        "one item per wake-up"
    );
    assert_eq!(stream.position().to_string(), "e0-4");
    assert_eq!(h.next(&mut stream), Poll::Pending);

    let before = h.wakes();
    assert!(h.shared.delete("f"));
    assert!(h.wakes() > before, "delete wakes the stream");
    assert_eq!(h.next(&mut stream), Poll::Ready(None));
    assert_eq!(h.next(&mut stream), Poll::Ready(None), "stays ended");
    assert_eq!(h.shared.stats().subscribers, 1);
    drop(stream);
    assert_eq!(h.shared.stats().subscribers, 0);
}

/// Streams at the same position share one concatenated batch (a fan-out copies it once per
/// flow); a stream at another position gets its own, with its own frames.
#[test]
fn streams_at_the_same_position_share_one_batch() {
    let h = Harness::new();
    h.shared
        .ingest_bytes("f", node("f", "a", "running").as_bytes())
        .unwrap();
    let mut streams: Vec<FrameStream> = (0..3)
        .map(|_| h.shared.subscribe("f", None).unwrap())
        .collect();
    for stream in &mut streams {
        h.text(stream);
        assert_eq!(h.next(stream), Poll::Pending);
    }
    h.shared
        .ingest_bytes("f", node("f", "b", "running").as_bytes())
        .unwrap();
    let mut behind = h.shared.subscribe("f", None).unwrap();
    h.text(&mut behind);
    for id in ["c", "d"] {
        h.shared
            .ingest_bytes("f", node("f", id, "running").as_bytes())
            .unwrap();
    }
    let batches = h.ready(&mut streams);
    let text = String::from_utf8(batches[0].to_vec()).unwrap();
    assert_eq!(ids(&text), ["e0-2", "e0-3", "e0-4"]);
    for batch in &batches[1..] {
        assert_eq!(batch, &batches[0]);
        assert_eq!(batch.as_ptr(), batches[0].as_ptr(), "the same buffer");
    }
    assert_eq!(ids(&h.text(&mut behind)), ["e0-3", "e0-4"]);
    let mut resumed = h.shared.subscribe("f", Some("e0-1")).unwrap();
    let replay = h.text(&mut resumed);
    assert_eq!(ids(&replay), ["e0-2", "e0-3", "e0-4"], "{replay}");
    // The shared batch is not a subscriber: the listing counts the five streams.
    let listed = h.shared.flows();
    assert_eq!(listed[0].subscribers, 5);
}

#[test]
fn heartbeats_fill_idle_time_only() {
    let h = Harness::new();
    let mut stream = h
        .shared
        .subscribe("f", Some("e0-0"))
        .unwrap()
        .with_heartbeat(futures::stream::iter([(), ()]));
    assert_eq!(h.text(&mut stream), "retry: 3000\n\n");
    h.shared
        .ingest_bytes("f", node("f", "a", "running").as_bytes())
        .unwrap();
    assert_eq!(
        events(&h.text(&mut stream)),
        ["upsert-nodes"],
        "frames before ticks"
    );
    assert_eq!(h.text(&mut stream), "event: heartbeat\ndata: {}\n\n");
    assert_eq!(h.text(&mut stream), "event: heartbeat\ndata: {}\n\n");
    assert_eq!(
        h.next(&mut stream),
        Poll::Pending,
        "ticks ended; still subscribed"
    );
}

#[test]
fn handle_timeout_evicts_idle_flows_on_the_shell_clock() {
    let origin = origin();
    let elapsed = Arc::new(AtomicU64::new(0));
    let clock = Arc::clone(&elapsed);
    let shared = SharedRouter::new(RouterConfig::default(), SEED, move || {
        origin + Duration::from_secs(clock.load(Ordering::SeqCst))
    })
    .unwrap();
    shared
        .ingest_bytes("f", node("f", "a", "running").as_bytes())
        .unwrap();
    let idle = RouterConfig::default().idle_timeout;
    assert_eq!(shared.handle_timeout(), Some(origin + idle));
    elapsed.store(idle.as_secs(), Ordering::SeqCst);
    assert_eq!(
        shared.handle_timeout(),
        None,
        "evicted; nothing left to time"
    );
    assert!(shared.snapshot("f").is_none());
    assert_eq!(shared.stats().evicted_flows, 1);
}

/// `SharedRouter::ingest_bytes` decodes the body and writes its frame's JSON before taking the
/// lock: the frames and refusals are byte for byte those of `Router::ingest_bytes`.
#[test]
fn shared_ingest_prepares_outside_the_lock_with_the_engines_bytes() {
    let h = Harness::new();
    let mut engine = Router::new(RouterConfig::default(), SEED).unwrap();
    let bodies = [
        node("f", "a", "running"),
        r#"{"type":"upsert-nodes","nodes":[{"id":"b\n\u0000","flowId":"f","label":"é \"q\"","status":"ok","meta":{"k":[1,2.5,null]}}]}"#.to_owned(),
        r#"{"type":"delete-nodes","ids":["a"]}"#.to_owned(),
    ];
    for body in &bodies {
        let shared = h.shared.ingest_bytes("f", body.as_bytes()).unwrap();
        let direct = engine.ingest_bytes("f", body.as_bytes(), origin()).unwrap();
        assert_eq!(shared.id(), direct.id());
    }
    for bad in [
        &b"{"[..],
        br#"{"type":"upsert-nodes","nodes":[{"id":"x","flowId":"g","label":"x","status":"ok"}]}"#,
    ] {
        assert_eq!(
            h.shared.ingest_bytes("f", bad).unwrap_err(),
            engine.ingest_bytes("f", bad, origin()).unwrap_err()
        );
    }
    assert_eq!(
        h.shared.ingest_bytes("bad id", b"{}").unwrap_err(),
        engine.ingest_bytes("bad id", b"{}", origin()).unwrap_err()
    );
    let mut stream = h.shared.subscribe("f", Some("e0-0")).unwrap();
    let replayed = h.text(&mut stream);
    let expected = engine
        .subscribe("f", Some("e0-0"), origin())
        .unwrap()
        .initial;
    assert_eq!(replayed.as_bytes(), &expected[..]);
    assert_eq!(ids(&replayed), ["e0-1", "e0-2", "e0-3"]);
}

/// The streams of a fan-out take the batch the first of them drained, a single frame too,
/// and count it as delivered; a stream of an earlier incarnation of the flow at the same
/// position never takes the new incarnation's batch: it ends.
#[test]
fn a_fan_out_takes_the_first_streams_batch_within_one_incarnation() {
    let h = Harness::new();
    h.shared
        .ingest_bytes("f", node("f", "a", "running").as_bytes())
        .unwrap();
    let mut old = h.shared.subscribe("f", None).unwrap();
    h.text(&mut old);
    let mut streams: Vec<FrameStream> = (0..3)
        .map(|_| h.shared.subscribe("f", None).unwrap())
        .collect();
    for stream in &mut streams {
        h.text(stream);
    }
    let delivered = h.shared.stats().delivered;
    h.shared
        .ingest_bytes("f", node("f", "b", "running").as_bytes())
        .unwrap();
    let frames = h.ready(&mut streams);
    assert_eq!(ids(std::str::from_utf8(&frames[0]).unwrap()), ["e0-2"]);
    for frame in &frames[1..] {
        assert_eq!(frame.as_ptr(), frames[0].as_ptr(), "one frame, shared");
    }
    assert_eq!(h.shared.stats().delivered, delivered + 3);

    // The flow is replaced at the same epoch (a log that lost messages): `old`, still at
    // e0-1, must not take the new incarnation's frames after e0-1.
    let state = FlowState::default();
    let at = EventId {
        epoch: Epoch(0xe0),
        seq: 1,
    };
    assert_eq!(
        h.shared.restore("f", at, state, Vec::new()),
        Ok(Restored::Replaced)
    );
    let mut new = h.shared.subscribe("f", Some("e0-1")).unwrap();
    h.text(&mut new);
    h.shared
        .ingest_bytes("f", node("f", "c", "running").as_bytes())
        .unwrap();
    assert_eq!(ids(&h.text(&mut new)), ["e0-2"]);
    assert_eq!(
        h.next(&mut old),
        Poll::Ready(None),
        "the old incarnation ends"
    );
}

/// `close_streams` (the shell's drain) ends every stream at its next poll: one following a
/// flow, one waiting for a flow without state, and one opened afterwards (after its initial
/// bytes); the engine goes on accepting messages.
#[test]
fn close_streams_ends_open_and_later_streams() {
    let h = Harness::new();
    h.shared
        .ingest_bytes("f", node("f", "a", "running").as_bytes())
        .unwrap();
    let mut following = h.shared.subscribe("f", None).unwrap();
    let mut waiting = h.shared.subscribe("w", None).unwrap();
    assert_eq!(waiting.start(), Start::Waiting);
    for stream in [&mut following, &mut waiting] {
        h.text(stream);
        assert_eq!(h.next(stream), Poll::Pending);
    }

    let before = h.wakes();
    h.shared.close_streams();
    assert!(h.wakes() >= before + 2, "both pending streams are woken");
    assert_eq!(h.next(&mut following), Poll::Ready(None));
    assert_eq!(h.next(&mut waiting), Poll::Ready(None));

    let mut later = h.shared.subscribe("f", None).unwrap();
    assert!(h.text(&mut later).contains("event: snapshot\nid: e0-1\n"));
    assert_eq!(h.next(&mut later), Poll::Ready(None));

    let accepted = h
        .shared
        .ingest_bytes("f", node("f", "b", "running").as_bytes())
        .unwrap();
    assert_eq!(accepted.seq, 2);
}
