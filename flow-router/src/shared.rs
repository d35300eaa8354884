//! The async layer: a [`Router`] behind a mutex, with runtime-agnostic wake-ups, and each
//! subscription as a [`futures_core::Stream`] of [`Bytes`].
//!
//! Works with any executor: wake-ups use [`event_listener`], time comes from the clock
//! closure the shell supplies, and heartbeats come from a tick stream the shell supplies.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use event_listener::{Event, EventListener};
use flow_contract::{FlowMessage, Limits};
use futures_core::Stream;

use crate::cursor::{Cursor, Polled, Start, Target};
use crate::error::{IngestError, SubscribeError};
use crate::event_id::{Epoch, EventId};
use crate::frame;
use crate::router::{
    FlowInfo, FlowSnapshot, FlowState, Ingested, Restored, Router, Stats, decode_body,
};

/// Most bytes a [`FrameStream`] gathers into one item when several frames are ready.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// A cloneable handle to a [`Router`] shared by request handlers.
///
/// The lock is held only while the engine runs, never while a consumer writes to a socket:
/// streams copy frames out (reference-count bumps) and release it before yielding.
#[derive(Clone)]
pub struct SharedRouter {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Set by [`SharedRouter::close_streams`]: every stream ends at its next poll.
    closed: AtomicBool,
    /// Frames handed out from a flow's shared batch, without the router
    /// ([`Stats::delivered`] adds them).
    delivered: AtomicU64,
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
    /// The router's [`RouterConfig::limits`](crate::RouterConfig::limits) (fixed at
    /// construction), to decode bodies without the lock.
    limits: Limits,
}

struct State {
    router: Router,
    /// One wake-up per flow that has (or had) a subscriber.
    wakers: HashMap<Arc<str>, Arc<FlowWake>>,
}

/// What the streams of one flow share: their wake-up, and the last batch one of them
/// concatenated, so that streams at the same position (a fan-out) copy a batch once per flow
/// rather than once each. The batch has its own lock: streams concatenate outside the router's.
#[derive(Default)]
struct FlowWake {
    event: Event,
    batch: Mutex<Option<Batch>>,
}

/// The frames after `from` up to and including `to` of one incarnation of the flow,
/// concatenated (one frame: the ring's own `Bytes`).
struct Batch {
    incarnation: Arc<()>,
    from: EventId,
    to: EventId,
    frames: u64,
    bytes: Bytes,
}

impl fmt::Debug for SharedRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRouter").finish_non_exhaustive()
    }
}

impl SharedRouter {
    /// Shares `router`; `clock` supplies `now` for every call (`std::time::Instant::now` in
    /// production, a simulated clock in tests).
    pub fn new(router: Router, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        let limits = router.config().limits;
        Self {
            inner: Arc::new(Inner {
                closed: AtomicBool::new(false),
                delivered: AtomicU64::new(0),
                limits,
                state: Mutex::new(State {
                    router,
                    wakers: HashMap::new(),
                }),
                clock: Box::new(clock),
            }),
        }
    }

    fn now(&self) -> Instant {
        (self.inner.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner)
    }

    /// Runs `f` on the router under the lock, then wakes `flow_id`'s subscribers.
    fn write<R>(&self, flow_id: &str, f: impl FnOnce(&mut Router, Instant) -> R) -> R {
        let now = self.now();
        let (result, waker) = {
            let mut state = self.lock();
            let result = f(&mut state.router, now);
            (result, state.wakers.get(flow_id).cloned())
        };
        if let Some(waker) = waker {
            waker.event.notify(usize::MAX);
        }
        result
    }

    /// [`Router::ingest`], then wakes the flow's subscribers.
    ///
    /// # Errors
    /// As [`Router::ingest`].
    pub fn ingest(&self, flow_id: &str, message: FlowMessage) -> Result<Ingested, IngestError> {
        self.write(flow_id, |router, now| router.ingest(flow_id, message, now))
    }

    /// [`Router::ingest_bytes`], then wakes the flow's subscribers. The body is decoded and
    /// validated, and its frame's JSON written, before the lock is taken: under it the engine
    /// only folds, frames and keeps the message, so writers of different flows contend for
    /// that alone.
    ///
    /// # Errors
    /// As [`Router::ingest_bytes`].
    pub fn ingest_bytes(&self, flow_id: &str, body: &[u8]) -> Result<Ingested, IngestError> {
        let message = decode_body(&self.inner.limits, flow_id, body)?;
        let mut json = Vec::with_capacity(body.len());
        message.write_json(&mut json);
        self.write(flow_id, |router, now| {
            router.ingest_prepared(flow_id, message, &json, now)
        })
    }

    /// [`Router::apply_ordered`], then wakes the flow's subscribers.
    ///
    /// # Errors
    /// As [`Router::apply_ordered`].
    pub fn apply_ordered(
        &self,
        flow_id: &str,
        epoch: Epoch,
        seq: u64,
        message: FlowMessage,
    ) -> Result<Ingested, IngestError> {
        self.write(flow_id, |router, now| {
            router.apply_ordered(flow_id, epoch, seq, message, now)
        })
    }

    /// [`Router::restore`], then wakes the flow's subscribers (closed cursors end, lagging
    /// ones resync).
    ///
    /// # Errors
    /// As [`Router::restore`].
    pub fn restore(
        &self,
        flow_id: &str,
        at: EventId,
        state: FlowState,
        history: Vec<(u64, FlowMessage)>,
    ) -> Result<Restored, IngestError> {
        self.write(flow_id, |router, now| {
            router.restore(flow_id, at, state, history, now)
        })
    }

    /// [`Router::admit`].
    ///
    /// # Errors
    /// As [`Router::admit`].
    pub fn admit(
        &self,
        flow_id: &str,
        message: &FlowMessage,
    ) -> Result<Option<EventId>, IngestError> {
        self.lock().router.admit(flow_id, message)
    }

    /// [`Router::apply_after`], then wakes the flow's subscribers.
    ///
    /// # Errors
    /// As [`Router::apply_after`].
    pub fn apply_after(
        &self,
        flow_id: &str,
        after: EventId,
        message: FlowMessage,
    ) -> Result<Ingested, IngestError> {
        self.write(flow_id, |router, now| {
            router.apply_after(flow_id, after, message, now)
        })
    }

    /// [`Router::restore`] only while the flow is still at `from` (its
    /// [`position`](Router::position) when the shell began to read the log; `None`: not
    /// held): a restore read before another caller moved the flow on is not applied over it.
    /// `Ok(None)` when the flow moved.
    ///
    /// # Errors
    /// As [`Router::restore`].
    pub fn restore_from(
        &self,
        flow_id: &str,
        from: Option<EventId>,
        at: EventId,
        state: FlowState,
        history: Vec<(u64, FlowMessage)>,
    ) -> Result<Option<Restored>, IngestError> {
        self.write(flow_id, |router, now| {
            if router.position(flow_id) == from {
                router.restore(flow_id, at, state, history, now).map(Some)
            } else {
                Ok(None)
            }
        })
    }

    /// [`Router::subscribe`], as a stream that yields the initial bytes, then batches of live
    /// frames, and ends when the flow is deleted or evicted.
    ///
    /// # Errors
    /// As [`Router::subscribe`].
    pub fn subscribe(
        &self,
        flow_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<FrameStream, SubscribeError> {
        let now = self.now();
        let mut state = self.lock();
        let subscription = state.router.subscribe(flow_id, last_event_id, now)?;
        let waker = Arc::clone(
            state
                .wakers
                .entry(Arc::clone(&subscription.cursor.flow_id))
                .or_default(),
        );
        Ok(FrameStream {
            inner: Arc::clone(&self.inner),
            cursor: subscription.cursor,
            start: subscription.start,
            initial: Some(subscription.initial),
            waker,
            listener: None,
            heartbeat: None,
            closed: false,
        })
    }

    /// [`Router::delete`]; open streams of the flow end.
    pub fn delete(&self, flow_id: &str) -> bool {
        let (existed, waker) = {
            let mut state = self.lock();
            (state.router.delete(flow_id), state.wakers.remove(flow_id))
        };
        if let Some(waker) = waker {
            waker.event.notify(usize::MAX);
        }
        existed
    }

    /// [`Router::delete`] of a held flow, only while it is still at `from` (see
    /// [`restore_from`](Self::restore_from)); whether it was deleted. Streams waiting for a
    /// flow that is not held keep waiting.
    pub fn delete_from(&self, flow_id: &str, from: EventId) -> bool {
        let (deleted, waker) = {
            let mut state = self.lock();
            if state.router.position(flow_id) == Some(from) {
                (state.router.delete(flow_id), state.wakers.remove(flow_id))
            } else {
                (false, None)
            }
        };
        if let Some(waker) = waker {
            waker.event.notify(usize::MAX);
        }
        deleted
    }

    /// Ends every stream, open or opened later, at its next poll (a stream opened later still
    /// yields its initial bytes first): the shell's drain on shutdown, without a shutdown
    /// future polled beside every stream. The engine itself goes on (ingest, snapshots).
    pub fn close_streams(&self) {
        // Set before the notifications: a stream that registers its listener after them
        // re-checks the flag before it waits.
        self.inner.closed.store(true, Ordering::SeqCst);
        let wakers: Vec<Arc<FlowWake>> = self.lock().wakers.values().cloned().collect();
        for waker in wakers {
            waker.event.notify(usize::MAX);
        }
    }

    /// [`Router::handle_timeout`] at the clock's `now`; evicted flows' streams end. Returns
    /// when to call again ([`Router::poll_timeout`]).
    pub fn handle_timeout(&self) -> Option<Instant> {
        let now = self.now();
        let (next, wakers) = {
            let mut state = self.lock();
            let evicted = state.router.handle_timeout(now);
            let wakers: Vec<Arc<FlowWake>> = evicted
                .iter()
                .filter_map(|id| state.wakers.remove(id))
                .collect();
            (state.router.poll_timeout(), wakers)
        };
        for waker in wakers {
            waker.event.notify(usize::MAX);
        }
        next
    }

    /// [`Router::snapshot`].
    #[must_use]
    pub fn snapshot(&self, flow_id: &str) -> Option<FlowSnapshot> {
        self.lock().router.snapshot(flow_id)
    }

    /// [`Router::head`].
    #[must_use]
    pub fn head(&self, flow_id: &str) -> Option<EventId> {
        self.lock().router.head(flow_id)
    }

    /// [`Router::flows`].
    #[must_use]
    pub fn flows(&self) -> Vec<FlowInfo> {
        self.lock().router.flows()
    }

    /// [`Router::stats`], with the frames streams took from a flow's shared batch.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let mut stats = self.lock().router.stats();
        stats.delivered += self.inner.delivered.load(Ordering::Relaxed);
        stats
    }

    /// Runs `f` with read access to the router under the lock (keep it short).
    pub fn with<R>(&self, f: impl FnOnce(&Router) -> R) -> R {
        f(&self.lock().router)
    }
}

fn lock(inner: &Inner) -> MutexGuard<'_, State> {
    // The engine keeps its invariants across a panicking caller (it does not panic on
    // input), so a poisoned lock still guards consistent state.
    inner.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One subscription as a stream of SSE bytes, ready to be a response body.
///
/// Yields the initial bytes (`retry:` plus a snapshot or a replay) first, then, on each
/// wake-up, every ready frame concatenated into one [`Bytes`] (up to [`MAX_BATCH_BYTES`]):
/// one socket write per wake-up. A single frame is the ring's own `Bytes`; a batch is
/// concatenated once per flow for all the streams that drain the same frames (a fan-out),
/// not once per stream. Ends when the flow is deleted or evicted, or once
/// [`SharedRouter::close_streams`] was called. Dropping it unsubscribes.
pub struct FrameStream {
    inner: Arc<Inner>,
    cursor: Cursor,
    start: Start,
    initial: Option<Bytes>,
    waker: Arc<FlowWake>,
    listener: Option<EventListener>,
    heartbeat: Option<Pin<Box<dyn Stream<Item = ()> + Send>>>,
    closed: bool,
}

impl fmt::Debug for FrameStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameStream")
            .field("cursor", &self.cursor)
            .field("start", &self.start)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

enum Drained {
    Ready(Bytes),
    Pending,
    Closed,
}

impl FrameStream {
    /// How the subscription started (snapshot, resume, or reset and why).
    #[must_use]
    pub fn start(&self) -> Start {
        self.start
    }

    /// Whether the stream still waits for its flow's first message ([`Start::Waiting`] and
    /// not joined yet); false from the first poll after that message on.
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        self.cursor.is_waiting()
    }

    /// The id of the last frame yielded.
    #[must_use]
    pub fn position(&self) -> EventId {
        self.cursor.position()
    }

    /// Yields a heartbeat frame whenever `ticks` yields and no frame is ready. The shell
    /// passes its timer, for example an interval stream of 15 s mapped to `()`.
    #[must_use]
    pub fn with_heartbeat(mut self, ticks: impl Stream<Item = ()> + Send + 'static) -> Self {
        self.heartbeat = Some(Box::pin(ticks));
        self
    }

    /// The flow's shared batch when it starts at this stream's position, in this stream's
    /// incarnation of the flow: the frames the first stream of a fan-out drained, taken
    /// without the router's lock (the frame of a seq never changes within an incarnation, and
    /// a batch holds every frame after its start, so nothing was lost in between).
    fn take_shared(&mut self) -> Option<Bytes> {
        let Target::Flow { incarnation, .. } = &self.cursor.target else {
            return None;
        };
        let from = self.cursor.position();
        let shared = self
            .waker
            .batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let batch = shared
            .as_ref()
            .filter(|b| b.from == from && Arc::ptr_eq(&b.incarnation, incarnation))?;
        self.cursor.seen = batch.to.seq;
        self.inner
            .delivered
            .fetch_add(batch.frames, Ordering::Relaxed);
        Some(batch.bytes.clone())
    }

    /// Every ready frame: the flow's shared batch when it starts here, otherwise polled from
    /// the router (the lock is released before concatenating) and shared for the streams at
    /// the same position.
    fn drain(&mut self) -> Drained {
        if let Some(bytes) = self.take_shared() {
            return Drained::Ready(bytes);
        }
        let now = (self.inner.clock)();
        let from = self.cursor.position();
        let mut frames = Vec::new();
        let mut bytes = 0;
        let mut resynced = false;
        {
            let mut state = lock(&self.inner);
            while bytes < MAX_BATCH_BYTES {
                match state.router.poll(&mut self.cursor, now) {
                    Polled::Frame(frame) => {
                        bytes += frame.len();
                        frames.push(frame);
                    }
                    Polled::Resync(frame) => {
                        resynced = true;
                        bytes += frame.len();
                        frames.push(frame);
                    }
                    Polled::Pending => break,
                    Polled::Closed => {
                        self.closed = true;
                        break;
                    }
                }
            }
        }
        match frames.len() {
            0 if self.closed => Drained::Closed,
            0 => Drained::Pending,
            // A resync's frames depend on when the cursor lagged, not only on its positions.
            _ if resynced => Drained::Ready(concat(&frames, bytes)),
            count => {
                let Target::Flow { incarnation, .. } = &self.cursor.target else {
                    return Drained::Ready(concat(&frames, bytes));
                };
                let to = self.cursor.position();
                let mut shared = self
                    .waker
                    .batch
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                // Within one incarnation the frame of each seq never changes, so the same
                // two positions mean the same bytes.
                if let Some(batch) = shared.as_ref().filter(|b| {
                    b.from == from && b.to == to && Arc::ptr_eq(&b.incarnation, incarnation)
                }) {
                    return Drained::Ready(batch.bytes.clone());
                }
                let bytes = if count == 1 {
                    frames.swap_remove(0)
                } else {
                    concat(&frames, bytes)
                };
                *shared = Some(Batch {
                    incarnation: Arc::clone(incarnation),
                    from,
                    to,
                    frames: count as u64,
                    bytes: bytes.clone(),
                });
                Drained::Ready(bytes)
            }
        }
    }
}

/// `frames` (of `len` bytes in all) in one buffer.
fn concat(frames: &[Bytes], len: usize) -> Bytes {
    let mut batch = BytesMut::with_capacity(len);
    for frame in frames {
        batch.extend_from_slice(frame);
    }
    batch.freeze()
}

impl Drop for FrameStream {
    /// Forgets the flow's wake-up when this was its last stream, so wake-ups of flow ids
    /// nobody follows any more (junk ids a reader waited on) do not accumulate.
    fn drop(&mut self) {
        let mut state = lock(&self.inner);
        let last = Arc::strong_count(&self.waker) == 2;
        let ours = state
            .wakers
            .get(self.cursor.flow_id())
            .is_some_and(|waker| Arc::ptr_eq(waker, &self.waker));
        if last && ours {
            state.wakers.remove(self.cursor.flow_id());
        }
    }
}

impl Stream for FrameStream {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if let Some(initial) = this.initial.take() {
            return Poll::Ready(Some(initial));
        }
        loop {
            // Checked again after the listener is registered: a close that notified before
            // then is seen here.
            if this.closed || this.inner.closed.load(Ordering::SeqCst) {
                this.closed = true;
                return Poll::Ready(None);
            }
            match this.drain() {
                Drained::Ready(batch) => return Poll::Ready(Some(batch)),
                Drained::Closed => return Poll::Ready(None),
                Drained::Pending => {}
            }
            match &mut this.listener {
                // Register first, then re-check: a notification between the two is not lost.
                None => this.listener = Some(this.waker.event.listen()),
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => this.listener = None,
                    Poll::Pending => break,
                },
            }
        }
        if let Some(ticks) = &mut this.heartbeat {
            match ticks.as_mut().poll_next(cx) {
                Poll::Ready(Some(())) => return Poll::Ready(Some(frame::heartbeat())),
                Poll::Ready(None) => this.heartbeat = None,
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}
