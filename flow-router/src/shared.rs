//! The async layer: [`Router`] shards, each behind a mutex of its own, with runtime-agnostic
//! wake-ups, and each subscription as a [`futures_core::Stream`] of [`Bytes`].
//!
//! Works with any executor: wake-ups use [`event_listener`], time comes from the clock
//! closure the shell supplies, and heartbeats come from a tick stream the shell supplies.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use event_listener::{Event, EventListener};
use flow_contract::{FlowMessage, validate_flow_id};
use futures_core::Stream;

use crate::config::RouterConfig;
use crate::cursor::{Cursor, Polled, Start, Target};
use crate::error::{ConfigError, IngestError, SubscribeError};
use crate::event_id::{Epoch, EventId};
use crate::frame;
use crate::ledger::Ledger;
use crate::router::{
    AtBound, FlowInfo, FlowSnapshot, FlowState, Ingested, Refusal, Restored, Router, Short, Stats,
    decode_body, evictions, prepare_restore,
};

/// Most bytes a [`FrameStream`] gathers into one item when several frames are ready.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// How many locks a [`SharedRouter`] splits its flows over by default.
pub const DEFAULT_SHARDS: usize = 16;

/// A cloneable, thread-safe engine for request handlers: flows split over shards, each a
/// [`Router`] behind a lock of its own.
///
/// A flow id always maps to the same shard (a hash keyed per process, so clients cannot aim
/// their flow ids at one lock), and writers and streams of flows in different shards never
/// wait for each other. The bounds of [`RouterConfig`] hold for all flows together: bytes,
/// flows, subscribers and waiters are counted in one ledger the shards share, and a write at
/// the memory bound evicts idle flows across every shard, oldest activity first, before the
/// writing flow's older frames give way.
///
/// A lock is held only while the engine runs, never while a consumer writes to a socket:
/// streams copy frames out (reference-count bumps) and release it before yielding.
///
/// ```
/// use std::time::Instant;
/// use flow_router::{RouterConfig, SharedRouter};
///
/// let mut config = RouterConfig::default();
/// config.max_flows = 1;
/// let shared = SharedRouter::new(config, 0x5eed, Instant::now)?;
/// let node = |flow: &str| format!(r#"{{"type":"upsert-nodes","nodes":[
///     {{"id":"a","flowId":"{flow}","label":"a","status":"running"}}]}}"#);
/// shared.ingest_bytes("one", node("one").as_bytes())?;
///
/// // Whichever shard holds it, a second flow is over the bound of the whole router.
/// let err = shared.ingest_bytes("two", node("two").as_bytes()).unwrap_err();
/// assert_eq!(err.to_string(), "too many flows (limit 1)");
/// assert_eq!(shared.stats().flows, 1);
/// assert!(shared.shard_of("one") < flow_router::DEFAULT_SHARDS);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SharedRouter {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Shard]>,
    /// Maps a flow id to its shard.
    hasher: RandomState,
    /// Set by [`SharedRouter::close_streams`]: every stream ends at its next poll.
    closed: AtomicBool,
    /// Frames handed out from a flow's shared batch, without the router
    /// ([`Stats::delivered`] adds them).
    delivered: AtomicU64,
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
    /// The configuration every shard was built with, to check messages without a lock.
    config: RouterConfig,
}

/// One lock and what it guards, on a cache line of its own so that shards taken on
/// different cores do not share one.
#[repr(align(128))]
struct Shard(Mutex<State>);

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
    /// Weak: the strong count of an incarnation is its flow's subscriber count. Held, it
    /// keeps the allocation, so a later incarnation never has the same address.
    incarnation: Weak<()>,
    from: EventId,
    to: EventId,
    frames: u64,
    bytes: Bytes,
}

impl Batch {
    /// Whether the batch holds frames of `incarnation`.
    fn is_of(&self, incarnation: &Arc<()>) -> bool {
        std::ptr::eq(self.incarnation.as_ptr(), Arc::as_ptr(incarnation))
    }
}

impl fmt::Debug for SharedRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRouter")
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl SharedRouter {
    /// An engine with `config` over [`DEFAULT_SHARDS`] locks. `epoch_seed` must differ
    /// between process starts (see [`Router::new`]); `clock` supplies `now` for every call
    /// (`std::time::Instant::now` in production, a simulated clock in tests).
    ///
    /// # Errors
    /// [`ConfigError`] when a bound is unusable.
    pub fn new(
        config: RouterConfig,
        epoch_seed: u64,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        Self::with_shards(config, epoch_seed, DEFAULT_SHARDS, clock)
    }

    /// [`new`](Self::new) over `shards` locks (1: every flow behind one lock).
    ///
    /// # Errors
    /// [`ConfigError`] when a bound is unusable or `shards` is zero.
    pub fn with_shards(
        config: RouterConfig,
        epoch_seed: u64,
        shards: usize,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if shards == 0 {
            return Err(ConfigError::Zero { field: "shards" });
        }
        let ledger = Arc::new(Ledger::default());
        let count = shards;
        let shards = (0..count)
            .map(|_| {
                Shard(Mutex::new(State {
                    router: Router::shard(config.clone(), epoch_seed, Arc::clone(&ledger), count),
                    wakers: HashMap::new(),
                }))
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                shards,
                hasher: RandomState::new(),
                closed: AtomicBool::new(false),
                delivered: AtomicU64::new(0),
                clock: Box::new(clock),
                config,
            }),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RouterConfig {
        &self.inner.config
    }

    /// Which shard (`0..shards`) holds `flow_id`: fixed for the life of the router. For
    /// benchmarks and tests that place flows on distinct locks.
    #[must_use]
    pub fn shard_of(&self, flow_id: &str) -> usize {
        self.inner.shard_of(flow_id)
    }

    fn now(&self) -> Instant {
        (self.inner.clock)()
    }

    /// Runs `f` on `flow_id`'s shard under its lock, then wakes the flow's subscribers.
    fn write<R>(&self, flow_id: &str, f: impl FnOnce(&mut Router, Instant) -> R) -> R {
        let now = self.now();
        let (result, waker) = {
            let mut state = self.inner.lock_flow(flow_id);
            let result = f(&mut state.router, now);
            (result, state.wakers.get(flow_id).cloned())
        };
        if let Some(waker) = waker {
            waker.event.notify(usize::MAX);
        }
        result
    }

    /// [`write`](Self::write) of a write that may grow the flow: at the memory bound the
    /// shard defers, idle flows are evicted across every shard, and the write runs again,
    /// then making room in its own shard (the writing flow's older frames) or refusing.
    fn write_growing<P, R>(
        &self,
        flow_id: &str,
        payload: P,
        mut f: impl FnMut(&mut Router, P, Instant, AtBound) -> Result<R, Refusal<P>>,
    ) -> Result<R, IngestError> {
        let mut payload = payload;
        let mut at_bound = AtBound::Defer;
        loop {
            match self.write(flow_id, |router, now| f(router, payload, now, at_bound)) {
                Ok(done) => return Ok(done),
                Err(Refusal::Short(deferred)) if at_bound == AtBound::Defer => {
                    let (back, short) = *deferred;
                    self.evict_idle(flow_id, &short);
                    payload = back;
                    at_bound = AtBound::MakeRoom;
                }
                Err(refusal) => return Err(refusal.into_error()),
            }
        }
    }

    /// Evicts idle flows other than `flow_id` across every shard, oldest activity first,
    /// until `short.excess` bytes are freed; nothing when the idle flows and the writing
    /// flow's own older frames together cannot make that room.
    fn evict_idle(&self, flow_id: &str, short: &Short) {
        let mut idle = Vec::new();
        for (index, shard) in self.inner.shards.iter().enumerate() {
            let state = shard.lock();
            idle.extend(
                state
                    .router
                    .idle_flows(flow_id)
                    .into_iter()
                    .map(|(at, id, bytes)| (at, id, bytes, index)),
            );
        }
        idle.sort_unstable();
        if evictions(idle.iter().map(|flow| flow.2), short.excess, short.own).is_none() {
            return;
        }
        // In order until the excess is covered: a flow read or gone since it was listed is
        // skipped, and the next one stands in for it.
        let mut freed = 0;
        for (at, id, _, index) in idle {
            if freed >= short.excess {
                break;
            }
            let waker = {
                let mut state = self.inner.shards[index].lock();
                // Gone or read since it was listed: not evicted.
                let Some(bytes) = state.router.evict_idle(&id, at) else {
                    continue;
                };
                freed += bytes;
                state.wakers.remove(&id)
            };
            if let Some(waker) = waker {
                waker.event.notify(usize::MAX);
            }
        }
    }

    /// [`Router::ingest`], then wakes the flow's subscribers. The message is validated
    /// before a lock is taken.
    ///
    /// # Errors
    /// As [`Router::ingest`].
    pub fn ingest(&self, flow_id: &str, message: FlowMessage) -> Result<Ingested, IngestError> {
        validate_flow_id(flow_id).map_err(IngestError::FlowId)?;
        message
            .validate(flow_id, &self.inner.config.limits)
            .map_err(IngestError::Contract)?;
        self.write_growing(flow_id, message, |router, message, now, at_bound| {
            router.ingest_prepared(flow_id, message, None, now, at_bound)
        })
    }

    /// [`Router::ingest_bytes`], then wakes the flow's subscribers. The body is decoded and
    /// validated, and its frame's JSON written, before a lock is taken: under it the engine
    /// only folds, frames and keeps the message.
    ///
    /// # Errors
    /// As [`Router::ingest_bytes`].
    pub fn ingest_bytes(&self, flow_id: &str, body: &[u8]) -> Result<Ingested, IngestError> {
        let message = decode_body(&self.inner.config.limits, flow_id, body)?;
        let mut json = Vec::with_capacity(body.len());
        message.write_json(&mut json);
        self.write_growing(flow_id, message, |router, message, now, at_bound| {
            router.ingest_prepared(flow_id, message, Some(&json), now, at_bound)
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
        self.write_growing(flow_id, message, |router, message, now, at_bound| {
            router.apply_ordered_at(flow_id, epoch, seq, message, now, at_bound)
        })
    }

    /// [`Router::restore`], then wakes the flow's subscribers (closed cursors end, lagging
    /// ones resync). The state and history are checked and framed before a lock is taken.
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
        let prepared = prepare_restore(&self.inner.config, flow_id, at, state, history)?;
        self.write_growing(flow_id, prepared, |router, prepared, now, at_bound| {
            router.restore_prepared(flow_id, prepared, now, at_bound)
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
        self.inner.lock_flow(flow_id).router.admit(flow_id, message)
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
        self.write_growing(flow_id, message, |router, message, now, at_bound| {
            router.apply_after_at(flow_id, after, message, now, at_bound)
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
        let prepared = prepare_restore(&self.inner.config, flow_id, at, state, history)?;
        self.write_growing(flow_id, prepared, |router, prepared, now, at_bound| {
            if router.position(flow_id) == from {
                router
                    .restore_prepared(flow_id, prepared, now, at_bound)
                    .map(Some)
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
        let shard = self.inner.shard_of(flow_id);
        let mut state = self.inner.shards[shard].lock();
        let subscription = state.router.subscribe(flow_id, last_event_id, now)?;
        let waker = Arc::clone(
            state
                .wakers
                .entry(Arc::clone(&subscription.cursor.flow_id))
                .or_default(),
        );
        Ok(FrameStream {
            inner: Arc::clone(&self.inner),
            shard,
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
            let mut state = self.inner.lock_flow(flow_id);
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
            let mut state = self.inner.lock_flow(flow_id);
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
        for shard in &self.inner.shards {
            let wakers: Vec<Arc<FlowWake>> = shard.lock().wakers.values().cloned().collect();
            for waker in wakers {
                waker.event.notify(usize::MAX);
            }
        }
    }

    /// [`Router::handle_timeout`] at the clock's `now` in every shard; evicted flows' streams
    /// end. Returns when to call again ([`Router::poll_timeout`]).
    pub fn handle_timeout(&self) -> Option<Instant> {
        let now = self.now();
        let mut next: Option<Instant> = None;
        for shard in &self.inner.shards {
            let wakers: Vec<Arc<FlowWake>> = {
                let mut state = shard.lock();
                let evicted = state.router.handle_timeout(now);
                let wakers = evicted
                    .iter()
                    .filter_map(|id| state.wakers.remove(id))
                    .collect();
                next = match (next, state.router.poll_timeout()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                wakers
            };
            for waker in wakers {
                waker.event.notify(usize::MAX);
            }
        }
        next
    }

    /// [`Router::snapshot`].
    #[must_use]
    pub fn snapshot(&self, flow_id: &str) -> Option<FlowSnapshot> {
        self.inner.lock_flow(flow_id).router.snapshot(flow_id)
    }

    /// [`Router::head`].
    #[must_use]
    pub fn head(&self, flow_id: &str) -> Option<EventId> {
        self.inner.lock_flow(flow_id).router.head(flow_id)
    }

    /// [`Router::flows`]: every flow of every shard, sorted by id.
    #[must_use]
    pub fn flows(&self) -> Vec<FlowInfo> {
        let mut flows: Vec<FlowInfo> = self
            .inner
            .shards
            .iter()
            .flat_map(|shard| shard.lock().router.flows())
            .collect();
        flows.sort_by(|a, b| a.id.cmp(&b.id));
        flows
    }

    /// [`Router::stats`] of all shards together, with the frames streams took from a flow's
    /// shared batch.
    #[must_use]
    pub fn stats(&self) -> Stats {
        // There is at least one shard (checked at construction). The ledger's figures
        // (flows, subscribers, waiters, bytes) in the first are already every shard's.
        let mut stats = self.inner.shards[0].lock().router.stats();
        for shard in &self.inner.shards[1..] {
            let shard = shard.lock().router.stats();
            stats.ingested += shard.ingested;
            stats.delivered += shard.delivered;
            stats.resyncs += shard.resyncs;
            stats.evicted_flows += shard.evicted_flows;
            stats.memory_evictions += shard.memory_evictions;
        }
        stats.delivered += self.inner.delivered.load(Ordering::Relaxed);
        stats
    }

    /// Runs `f` with read access, under its shard's lock, to the router that holds
    /// `flow_id` (keep it short). Ask it about `flow_id` only: it holds some flows of many.
    pub fn with_flow<R>(&self, flow_id: &str, f: impl FnOnce(&Router) -> R) -> R {
        f(&self.inner.lock_flow(flow_id).router)
    }
}

impl Inner {
    fn shard_of(&self, flow_id: &str) -> usize {
        // The remainder is below the shard count, a usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (self.hasher.hash_one(flow_id) % self.shards.len() as u64) as usize;
        index
    }

    fn lock_flow(&self, flow_id: &str) -> MutexGuard<'_, State> {
        self.shards[self.shard_of(flow_id)].lock()
    }
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The engine keeps its invariants across a panicking caller (it does not panic on
        // input), so a poisoned lock still guards consistent state.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
    /// The shard that holds the flow.
    shard: usize,
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
    /// without its shard's lock (the frame of a seq never changes within an incarnation, and
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
            .filter(|b| b.from == from && b.is_of(incarnation))?;
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
            let mut state = self.inner.shards[self.shard].lock();
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
                if let Some(batch) = shared
                    .as_ref()
                    .filter(|b| b.from == from && b.to == to && b.is_of(incarnation))
                {
                    return Drained::Ready(batch.bytes.clone());
                }
                let bytes = if count == 1 {
                    frames.swap_remove(0)
                } else {
                    concat(&frames, bytes)
                };
                *shared = Some(Batch {
                    incarnation: Arc::downgrade(incarnation),
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
        let mut state = self.inner.shards[self.shard].lock();
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
