//! The engine: flows, ingest, subscribe, poll, eviction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use flow_contract::{FlowMessage, validate_flow_id};

use crate::config::RouterConfig;
use crate::cursor::{Cursor, Polled, ResetReason, Start, Subscription, Target};
use crate::error::{ConfigError, IngestError, SubscribeError};
use crate::event_id::{Epoch, EventId};
use crate::fold::{Fold, Preview};
use crate::footprint;
use crate::frame;
use crate::ledger::{FlowSeat, Ledger, SubscriberSeat};
use crate::ring::Ring;
use crate::table::Table;

mod append;
mod restore;

pub use append::LogTail;
pub(crate) use restore::prepare as prepare_restore;
pub use restore::{FlowState, Restored};

/// The sans-I/O engine. See the [crate docs](crate) for the model.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    epoch_seed: u64,
    flows: Table<Flow>,
    /// Wait groups of flow ids without state: each holds the epoch reserved for the flow's
    /// first incarnation, and each waiting cursor a clone of it (the ticket). Entries whose
    /// ticket nobody else holds are pruned lazily.
    waiting: HashMap<Arc<str>, Arc<Epoch>>,
    /// How many wait groups `waiting` holds before the empty ones are pruned: its share of
    /// [`max_waiters`](RouterConfig::max_waiters), so that the shards of a
    /// [`SharedRouter`](crate::SharedRouter) keep as many as a lone router.
    groups_bound: usize,
    /// Bytes, flows, subscribers, waiters and epochs: this router's own, or shared by the
    /// shards of a [`SharedRouter`](crate::SharedRouter).
    ledger: Arc<Ledger>,
    counters: Counters,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    ingested: u64,
    delivered: u64,
    resyncs: u64,
    evicted_flows: u64,
    memory_evictions: u64,
}

#[derive(Debug)]
struct Flow {
    id: Arc<str>,
    epoch: Epoch,
    seq: u64,
    ring: Ring,
    fold: Fold,
    incarnation: Arc<()>,
    /// The wait group that was waiting for this flow's state when it was created: its
    /// cursors join this incarnation on their next poll.
    waiters: Option<Arc<Epoch>>,
    last_event: Option<Instant>,
    last_active: Instant,
    /// The snapshot frame at `seq`, built on first demand after a change (and kept only
    /// while memory allows).
    snapshot: Option<Bytes>,
    /// What this flow counts for in the router's `bytes`, as of its last change.
    charged: usize,
}

impl Flow {
    fn new(
        id: Arc<str>,
        epoch: Epoch,
        waiters: Option<Arc<Epoch>>,
        config: &RouterConfig,
        now: Instant,
    ) -> Self {
        Self {
            id,
            epoch,
            seq: 0,
            ring: Ring::new(config.ring_capacity),
            fold: Fold::default(),
            incarnation: Arc::new(()),
            waiters,
            last_event: None,
            last_active: now,
            snapshot: None,
            charged: 0,
        }
    }

    fn subscribers(&self) -> usize {
        Arc::strong_count(&self.incarnation) - 1
    }

    /// Whether any stream follows the flow, or waits to join it at its next poll.
    fn has_readers(&self) -> bool {
        self.subscribers() > 0
            || self
                .waiters
                .as_ref()
                .is_some_and(|group| Arc::strong_count(group) > 1)
    }

    /// What the flow costs against the memory budgets now.
    fn charge(&self) -> usize {
        flow_overhead(&self.id)
            + self.fold.bytes()
            + self.ring.charge()
            + self.snapshot.as_ref().map_or(0, Bytes::len)
    }

    /// The snapshot frame at `seq`; a new one is kept for the next reader only if the ledger
    /// has room for it within `limit` (a read never fails for memory, but keeps nothing it
    /// cannot pay for).
    fn snapshot_frame(&mut self, ledger: &Ledger, limit: usize) -> Bytes {
        if let Some(frame) = &self.snapshot {
            return frame.clone();
        }
        let at = EventId {
            epoch: self.epoch,
            seq: self.seq,
        };
        let frame = frame::encode_with("snapshot", at, 256, |out| {
            self.fold.write_snapshot_json(&self.id, out);
        });
        if ledger.reserve(frame.len(), limit) {
            self.charged += frame.len();
            self.snapshot = Some(frame.clone());
        }
        frame
    }
}

/// How often a write looks for room again when writers of other shards took it between its
/// look and its reservation.
const RESERVE_ATTEMPTS: usize = 4;

/// The room a write reserved in the ledger.
struct Reserved {
    /// Bytes the writing flow's older replay frames give up.
    trim: usize,
    /// What the flow counts for in the ledger now: its charge before the write plus the
    /// growth reserved (the write then settles it to the flow's real charge, never more).
    prepaid: usize,
}

/// What a write does at the memory bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtBound {
    /// Evict this router's idle flows, oldest activity first, then trim the writing flow's
    /// older frames: a router alone, or a shard once its caller evicted across shards.
    MakeRoom,
    /// Change nothing and answer [`Refusal::Short`], so that the caller evicts idle flows
    /// across every shard, oldest first, then writes again with [`AtBound::MakeRoom`].
    Defer,
}

/// A write that found no room at the memory bound and, deferring, changed nothing.
#[derive(Debug)]
pub(crate) struct Short {
    /// Bytes over the bound.
    pub(crate) excess: usize,
    /// Bytes the writing flow's older replay frames could give up.
    pub(crate) own: usize,
    /// The answer if no room is made.
    pub(crate) error: IngestError,
}

/// Why a write was not applied: an error, or a deferral at the memory bound that hands its
/// input `P` back for the second attempt.
#[derive(Debug)]
pub(crate) enum Refusal<P> {
    Error(IngestError),
    /// The input and what was short, boxed: this is the rare path.
    Short(Box<(P, Short)>),
}

impl<P> Refusal<P> {
    /// The error a caller that will not make room answers.
    pub(crate) fn into_error(self) -> IngestError {
        match self {
            Self::Error(error) => error,
            Self::Short(deferred) => deferred.1.error,
        }
    }
}

impl<P> From<IngestError> for Refusal<P> {
    fn from(error: IngestError) -> Self {
        Self::Error(error)
    }
}

/// Why [`Router::reserve`] found no room.
enum NoRoom {
    Error(IngestError),
    Short(Short),
}

impl From<IngestError> for NoRoom {
    fn from(error: IngestError) -> Self {
        Self::Error(error)
    }
}

impl NoRoom {
    fn with<P>(self, payload: P) -> Refusal<P> {
        match self {
            Self::Error(error) => Refusal::Error(error),
            Self::Short(short) => Refusal::Short(Box::new((payload, short))),
        }
    }
}

/// A message accepted by [`Router::ingest`] and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ingested {
    /// The flow's epoch.
    pub epoch: Epoch,
    /// The seq assigned to the message.
    pub seq: u64,
    /// The flow's state was created by this message (a new epoch).
    pub created: bool,
    /// Frames evicted from the ring to make room.
    pub evicted: usize,
}

impl Ingested {
    /// The SSE id of the message's frame.
    #[must_use]
    pub fn id(&self) -> EventId {
        EventId {
            epoch: self.epoch,
            seq: self.seq,
        }
    }
}

/// The folded state of a flow, as a `snapshot` message, and the position it reflects.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FlowSnapshot {
    /// Always [`FlowMessage::Snapshot`].
    pub message: FlowMessage,
    /// The flow's epoch.
    pub epoch: Epoch,
    /// The seq of the last message folded in.
    pub seq: u64,
}

/// One flow, as listed by [`Router::flows`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowInfo {
    /// The flow id.
    pub id: Arc<str>,
    /// The flow's epoch.
    pub epoch: Epoch,
    /// The seq of the last message folded in (0: nothing yet).
    pub seq: u64,
    /// Node count by status (an open vocabulary).
    pub nodes_by_status: BTreeMap<String, usize>,
    /// Relationships held.
    pub relationships: usize,
    /// Live subscriptions.
    pub subscribers: usize,
    /// When the last message was accepted.
    pub last_event: Option<Instant>,
    /// Frames held in the ring.
    pub ring_frames: usize,
    /// Bytes held in the ring.
    pub ring_bytes: usize,
    /// The folded state's estimated bytes ([`Fold::bytes`]).
    pub state_bytes: usize,
    /// What the flow counts for against
    /// [`max_memory_bytes`](RouterConfig::max_memory_bytes): ring, state, a cached snapshot
    /// frame and fixed costs.
    pub bytes: usize,
}

/// Totals for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Flows held.
    pub flows: usize,
    /// Live subscriptions (waiting ones included).
    pub subscribers: usize,
    /// Subscriptions waiting for a flow that has no state yet.
    pub waiters: usize,
    /// Messages accepted since start.
    pub ingested: u64,
    /// Frames handed to subscribers since start (initial frames and polled ones).
    pub delivered: u64,
    /// Snapshot frames sent to cursors that fell behind, and to resets on subscribe.
    pub resyncs: u64,
    /// Flows evicted for idleness.
    pub evicted_flows: u64,
    /// Idle flows evicted to make room at [`max_memory_bytes`](RouterConfig::max_memory_bytes).
    pub memory_evictions: u64,
    /// What every flow costs together (never above the limit).
    pub memory_bytes: usize,
    /// [`max_memory_bytes`](RouterConfig::max_memory_bytes).
    pub memory_limit: usize,
}

impl Router {
    /// A router with `config`. `epoch_seed` must differ between process starts (the shell
    /// takes it from the wall clock or an RNG); each flow state created anew gets the epoch
    /// `epoch_seed + n` for the n-th creation.
    ///
    /// # Errors
    /// [`ConfigError`] when a bound is unusable.
    pub fn new(config: RouterConfig, epoch_seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::shard(config, epoch_seed, Arc::default(), 1))
    }

    /// One of `shards` routers whose bounds count against `ledger` (the shards of a
    /// [`SharedRouter`](crate::SharedRouter)); `config` is valid and `shards` not zero.
    pub(crate) fn shard(
        config: RouterConfig,
        epoch_seed: u64,
        ledger: Arc<Ledger>,
        shards: usize,
    ) -> Self {
        Self {
            groups_bound: config.max_waiters.div_ceil(shards),
            config,
            epoch_seed,
            flows: Table::new(),
            waiting: HashMap::new(),
            ledger,
            counters: Counters::default(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Validates `message` against `flow_id`, assigns the next seq, folds it and keeps its
    /// frame for subscribers. Creates the flow (new epoch) when absent.
    ///
    /// # Errors
    /// [`IngestError`]; the router is unchanged.
    pub fn ingest(
        &mut self,
        flow_id: &str,
        message: FlowMessage,
        now: Instant,
    ) -> Result<Ingested, IngestError> {
        validate_flow_id(flow_id).map_err(IngestError::FlowId)?;
        message
            .validate(flow_id, &self.config.limits)
            .map_err(IngestError::Contract)?;
        self.accept(flow_id, None, message, None, now, AtBound::MakeRoom)
            .map_err(Refusal::into_error)
    }

    /// [`ingest`](Self::ingest) of a JSON body, decoded strictly with
    /// [`RouterConfig::limits`].
    ///
    /// # Errors
    /// As [`ingest`](Self::ingest); a body that breaks the contract gives
    /// [`IngestError::Contract`].
    pub fn ingest_bytes(
        &mut self,
        flow_id: &str,
        body: &[u8],
        now: Instant,
    ) -> Result<Ingested, IngestError> {
        let message = decode_body(&self.config.limits, flow_id, body)?;
        self.accept(flow_id, None, message, None, now, AtBound::MakeRoom)
            .map_err(Refusal::into_error)
    }

    /// [`ingest`](Self::ingest) of a message the caller validated for `flow_id` with
    /// [`RouterConfig::limits`] (and whose compact JSON it may have written with
    /// [`FlowMessage::write_json`]): the work that needs no router, done before the caller
    /// takes its lock. Does `at_bound` at the memory bound.
    pub(crate) fn ingest_prepared(
        &mut self,
        flow_id: &str,
        message: FlowMessage,
        json: Option<&[u8]>,
        now: Instant,
        at_bound: AtBound,
    ) -> Result<Ingested, Refusal<FlowMessage>> {
        self.accept(flow_id, None, message, json, now, at_bound)
    }

    /// Applies a message whose `epoch` and `seq` were decided by a shared, ordered log (the
    /// scale-out seam): replicas applying the same log produce the same ids and frames.
    ///
    /// A different `epoch` than the flow's replaces the flow's state (its cursors close, as
    /// after [`delete`](Self::delete)). Seqs must increase but may skip.
    ///
    /// # Errors
    /// [`IngestError::Stale`] for a seq at or below the flow's current seq (a redelivery the
    /// shell may ignore), otherwise as [`ingest`](Self::ingest).
    pub fn apply_ordered(
        &mut self,
        flow_id: &str,
        epoch: Epoch,
        seq: u64,
        message: FlowMessage,
        now: Instant,
    ) -> Result<Ingested, IngestError> {
        self.apply_ordered_at(flow_id, epoch, seq, message, now, AtBound::MakeRoom)
            .map_err(Refusal::into_error)
    }

    /// [`apply_ordered`](Self::apply_ordered), doing `at_bound` at the memory bound.
    pub(crate) fn apply_ordered_at(
        &mut self,
        flow_id: &str,
        epoch: Epoch,
        seq: u64,
        message: FlowMessage,
        now: Instant,
        at_bound: AtBound,
    ) -> Result<Ingested, Refusal<FlowMessage>> {
        validate_flow_id(flow_id).map_err(IngestError::FlowId)?;
        message
            .validate(flow_id, &self.config.limits)
            .map_err(IngestError::Contract)?;
        // Same epoch: the seq must move forward. Another epoch: the state is created anew
        // (replacing the old one only if the message is accepted; the old cursors close).
        let current = self
            .flows
            .get(flow_id)
            .filter(|flow| flow.epoch == epoch)
            .map_or(0, |flow| flow.seq);
        if seq <= current {
            return Err(IngestError::Stale { seq, current }.into());
        }
        self.accept(flow_id, Some((epoch, seq)), message, None, now, at_bound)
    }

    /// Accepts a valid message; `json` is its compact JSON when the caller wrote it already.
    fn accept(
        &mut self,
        flow_id: &str,
        ordered: Option<(Epoch, u64)>,
        message: FlowMessage,
        json: Option<&[u8]>,
        now: Instant,
        at_bound: AtBound,
    ) -> Result<Ingested, Refusal<FlowMessage>> {
        let held = self.flows.get(flow_id);
        // A position from another epoch starts a new incarnation of the flow.
        let replaces =
            matches!((held, ordered), (Some(flow), Some((epoch, _))) if flow.epoch != epoch);
        let slot = self.flows.slot(flow_id).filter(|_| !replaces);
        let existing = slot.and_then(|slot| self.flows.at(slot));
        let seat = match held {
            Some(_) => None,
            None => Some(self.take_flow()?),
        };
        let (epoch, seq) = match (existing, ordered) {
            (_, Some(position)) => position,
            (Some(flow), None) => (
                flow.epoch,
                flow.seq.checked_add(1).ok_or(IngestError::Stale {
                    seq: flow.seq,
                    current: flow.seq,
                })?,
            ),
            // Readers waiting for the flow reserved its epoch: their `<epoch>-0` continues.
            (None, None) => (
                self.waiting
                    .get(flow_id)
                    .map_or_else(|| self.next_epoch(), |reserved| **reserved),
                1,
            ),
        };
        let empty = Fold::default();
        let fold = existing.map_or(&empty, |flow| &flow.fold);
        let share = self.config.flow_share();
        // The exact count needs lookups; only pay for them near the bound.
        let items = match fold.items_after(&message, Preview::AtMost) {
            at_most if at_most <= self.config.max_state_items => at_most,
            _ => fold.items_after(&message, Preview::Exact),
        };
        if items > self.config.max_state_items {
            return Err(IngestError::StateFull {
                items,
                limit: self.config.max_state_items,
            }
            .into());
        }
        let id = EventId { epoch, seq };
        let encoded = match json {
            Some(json) => frame::encode_data(message.message_type().as_str(), id, json),
            None => frame::encode(&message, id),
        };
        if encoded.len() > share {
            return Err(IngestError::TooLarge {
                len: encoded.len(),
                budget: share,
            }
            .into());
        }

        let held = held.map_or(0, |flow| flow.charged);
        let created = existing.is_none();
        let (charge, ring_bytes) =
            self.charge_after(flow_id, existing, held, &message, encoded.len())?;
        let own = ring_bytes - encoded.len();
        let reserved = match self.reserve(flow_id, held, charge, own, at_bound) {
            Ok(reserved) => reserved,
            Err(no_room) => return Err(no_room.with(message)),
        };
        let slot = match slot {
            Some(slot) => slot,
            None => self.create(flow_id, epoch, now, seat),
        };
        let flow = self
            .flows
            .at_mut(slot)
            .expect("the slot was just looked up or created");
        flow.charged = reserved.prepaid;
        flow.fold.apply(flow_id, message);
        // What the push leaves at the flow's share, less what its older frames give up.
        let evicted = flow.ring.push(seq, encoded, ring_bytes - reserved.trim);
        flow.seq = seq;
        flow.snapshot = None;
        flow.last_event = Some(now);
        flow.last_active = now;
        self.recharge(slot);
        debug_assert!(self.ledger.bytes() <= self.config.max_memory_bytes);
        self.counters.ingested += 1;
        Ok(Ingested {
            epoch,
            seq,
            created,
            evicted,
        })
    }

    /// A flow in the ledger's count, unless [`max_flows`](RouterConfig::max_flows) are held.
    fn take_flow(&self) -> Result<FlowSeat, IngestError> {
        let limit = self.config.max_flows;
        self.ledger
            .take_flow(limit)
            .ok_or(IngestError::TooManyFlows { limit })
    }

    /// What `flow_id` will be charged (an upper bound) once `message`, a frame of
    /// `frame_len` bytes, is written to it (`existing` to continue, `held` the bytes of the
    /// flow now held under that id), and the bytes its ring would hold at its share; checks
    /// its state within the flow's share.
    fn charge_after(
        &self,
        flow_id: &str,
        existing: Option<&Flow>,
        held: usize,
        message: &FlowMessage,
        frame_len: usize,
    ) -> Result<(usize, usize), IngestError> {
        let share = self.config.flow_share();
        let (frames, ring_bytes) = existing.map_or((1, frame_len), |flow| {
            flow.ring.after_push(frame_len, share)
        });
        let empty = Fold::default();
        let fold = existing.map_or(&empty, |flow| &flow.fold);
        let charge =
            |state: usize| flow_overhead(flow_id) + state + Ring::charge_of(frames, ring_bytes);
        let others = self.ledger.bytes().saturating_sub(held);
        // The exact figure needs lookups; only pay for them near a bound.
        let mut state = fold.bytes_after(message, Preview::AtMost);
        if state > share || others + charge(state) > self.config.max_memory_bytes {
            state = fold.bytes_after(message, Preview::Exact);
        }
        if state > share {
            return Err(IngestError::FlowMemoryFull {
                bytes: state,
                limit: share,
            });
        }
        Ok((charge(state), ring_bytes))
    }

    /// Reserves in the ledger what `flow_id` grows by when its charge goes from `held` to at
    /// most `charge` bytes, within [`max_memory_bytes`](RouterConfig::max_memory_bytes).
    /// At the bound, by `at_bound`: idle flows are evicted, oldest activity first, then up to
    /// `own` bytes of the flow's older replay frames give way (nothing changes when that is
    /// not enough), or the write defers to its caller.
    fn reserve(
        &mut self,
        flow_id: &str,
        held: usize,
        charge: usize,
        own: usize,
        at_bound: AtBound,
    ) -> Result<Reserved, NoRoom> {
        let limit = self.config.max_memory_bytes;
        for _ in 0..RESERVE_ATTEMPTS {
            let in_use = self.ledger.bytes();
            let excess = (in_use.saturating_sub(held) + charge).saturating_sub(limit);
            let needed = charge.saturating_sub(held);
            let trim = match (excess, at_bound) {
                (0, _) => 0,
                (_, AtBound::Defer) => {
                    return Err(NoRoom::Short(Short {
                        excess,
                        own,
                        error: IngestError::MemoryFull {
                            in_use,
                            needed,
                            limit,
                        },
                    }));
                }
                (_, AtBound::MakeRoom) => {
                    let (evict, trim) = self.room(flow_id, excess, own, in_use, needed)?;
                    self.counters.memory_evictions += evict.len() as u64;
                    for id in &evict {
                        self.remove_flow(id);
                    }
                    trim
                }
            };
            let growth = (charge - trim).saturating_sub(held);
            if self.ledger.reserve(growth, limit) {
                return Ok(Reserved {
                    trim,
                    prepaid: held + growth,
                });
            }
            // Writers of other shards took the room since it was looked at.
        }
        Err(NoRoom::Error(IngestError::MemoryFull {
            in_use: self.ledger.bytes(),
            needed: charge.saturating_sub(held),
            limit,
        }))
    }

    /// What makes `excess` bytes of room for a message of `flow_id` that needs `needed` more
    /// bytes (with `in_use` bytes taken): idle flows (no reader), oldest activity first, then
    /// up to `own` bytes of the flow's older replay frames. Returns the flows to evict and
    /// the bytes the older frames give up; nothing is evicted when that is not enough.
    fn room(
        &self,
        flow_id: &str,
        excess: usize,
        own: usize,
        in_use: usize,
        needed: usize,
    ) -> Result<(Vec<Arc<str>>, usize), IngestError> {
        let idle = self.idle_flows(flow_id);
        let (count, trim) = evictions(idle.iter().map(|flow| flow.2), excess, own).ok_or(
            IngestError::MemoryFull {
                in_use,
                needed,
                limit: self.config.max_memory_bytes,
            },
        )?;
        let evict = idle.into_iter().take(count).map(|flow| flow.1).collect();
        Ok((evict, trim))
    }

    /// The flows other than `except` that nobody reads, oldest activity first, with when
    /// they were last active and what they are charged.
    pub(crate) fn idle_flows(&self, except: &str) -> Vec<(Instant, Arc<str>, usize)> {
        let mut idle: Vec<(Instant, Arc<str>, usize)> = self
            .flows
            .values()
            .filter(|flow| &*flow.id != except && !flow.has_readers())
            .map(|flow| (flow.last_active, Arc::clone(&flow.id), flow.charged))
            .collect();
        idle.sort_unstable();
        idle
    }

    /// Evicts `flow_id` to make room when it is still idle and last active at `last_active`
    /// (as [`idle_flows`](Self::idle_flows) listed it); the bytes freed.
    pub(crate) fn evict_idle(&mut self, flow_id: &str, last_active: Instant) -> Option<usize> {
        self.flows
            .get(flow_id)
            .filter(|flow| flow.last_active == last_active && !flow.has_readers())?;
        let flow = self.remove_flow(flow_id)?;
        self.counters.memory_evictions += 1;
        Some(flow.charged)
    }

    /// Brings the router's total up to date with the flow in `slot`.
    fn recharge(&mut self, slot: usize) {
        if let Some(flow) = self.flows.at_mut(slot) {
            let charge = flow.charge();
            self.ledger.recharge(flow.charged, charge);
            flow.charged = charge;
        }
    }

    /// Removes a flow's state and its bytes from the total.
    fn remove_flow(&mut self, flow_id: &str) -> Option<Flow> {
        let flow = self.flows.remove(flow_id)?;
        self.ledger.release(flow.charged);
        self.ledger.flows_removed(1);
        Some(flow)
    }

    fn next_epoch(&self) -> Epoch {
        Epoch(self.epoch_seed.wrapping_add(self.ledger.epochs()))
    }

    /// Creates a flow's state in place of any held under `flow_id` (`seat`: the flow's place
    /// in the count when none was held); every creation consumes one epoch of the seed's
    /// sequence. The cursors waiting for the flow id join it. Returns the flow's slot.
    /// An epoch reserved by the flow id's wait group was consumed when it was reserved.
    ///
    /// The new flow is charged nothing yet: a replaced flow's bytes stay in the ledger for
    /// the caller, which sets the new flow's charge to what it reserved on top of them.
    fn create(
        &mut self,
        flow_id: &str,
        epoch: Epoch,
        now: Instant,
        seat: Option<FlowSeat>,
    ) -> usize {
        let id: Arc<str> = Arc::from(flow_id);
        let waiters = self.waiting.remove(flow_id);
        if waiters.as_deref() != Some(&epoch) {
            self.ledger.issue_epoch();
        }
        let flow = Flow::new(Arc::clone(&id), epoch, waiters, &self.config, now);
        let (slot, replaced) = self.flows.insert(id, flow);
        // A replacement keeps the count; a seat taken meanwhile is given back on drop.
        if let (None, Some(seat)) = (replaced, seat) {
            seat.keep();
        }
        slot
    }

    /// Subscribes to a flow with the client's raw `Last-Event-ID` (an empty header counts as
    /// absent). The returned [`Subscription`] holds the first bytes to send and a cursor that
    /// continues exactly after them.
    ///
    /// Reads never allocate flow state: subscribing to a flow that has no state takes no
    /// flow slot, ring or fold. The subscription waits ([`Start::Waiting`]) in the flow id's
    /// wait group, which reserves the epoch of the flow's first incarnation: the client gets
    /// an empty snapshot at `<epoch>-0` (or nothing more if it resumes from exactly that id),
    /// and the cursor joins the flow when its first message is ingested, then sees every
    /// message from seq 1 on. A flow created at another epoch (a shared log decided it)
    /// greets joining cursors with a resync snapshot. Waiting subscriptions are bounded by
    /// [`max_waiters`](RouterConfig::max_waiters); ingest never waits for them.
    ///
    /// # Errors
    /// [`SubscribeError`] for a bad flow id or a reached bound.
    pub fn subscribe(
        &mut self,
        flow_id: &str,
        last_event_id: Option<&str>,
        now: Instant,
    ) -> Result<Subscription, SubscribeError> {
        validate_flow_id(flow_id).map_err(SubscribeError::FlowId)?;
        let limit = self.config.max_subscribers;
        let seat = self
            .ledger
            .take_subscriber(limit)
            .ok_or(SubscribeError::TooManySubscribers { limit })?;
        match self.flows.slot(flow_id) {
            Some(slot) => Ok(self.subscribe_at(slot, last_event_id, now, seat)),
            None => self.wait(flow_id, last_event_id, seat),
        }
    }

    /// A subscription to a flow without state: a cursor in the flow id's wait group.
    fn wait(
        &mut self,
        flow_id: &str,
        last_event_id: Option<&str>,
        seat: SubscriberSeat,
    ) -> Result<Subscription, SubscribeError> {
        let limit = self.config.max_waiters;
        let waiter = self
            .ledger
            .take_waiter(limit)
            .ok_or(SubscribeError::TooManyWaiters { limit })?;
        if self.waiting.len() >= self.groups_bound {
            // Groups whose every cursor was dropped: only the map holds their ticket.
            self.waiting
                .retain(|_, ticket| Arc::strong_count(ticket) > 1);
        }
        let (id, ticket) = if let Some((id, ticket)) = self.waiting.get_key_value(flow_id) {
            (Arc::clone(id), Arc::clone(ticket))
        } else {
            let id: Arc<str> = Arc::from(flow_id);
            let ticket = Arc::new(self.next_epoch());
            self.ledger.issue_epoch();
            self.waiting.insert(Arc::clone(&id), Arc::clone(&ticket));
            (id, ticket)
        };
        let at = EventId {
            epoch: *ticket,
            seq: 0,
        };
        let mut initial = frame::retry(self.config.retry.as_millis());
        let resumed = last_event_id.and_then(EventId::parse) == Some(at);
        let start = if resumed {
            Start::Resumed { replayed: 0 }
        } else {
            initial.extend_from_slice(&frame::encode_with("snapshot", at, 64, |out| {
                Fold::default().write_snapshot_json(&id, out);
            }));
            self.counters.delivered += 1;
            Start::Waiting
        };
        let cursor = Cursor {
            flow_id: id,
            target: Target::Waiting {
                ticket,
                _waiter: waiter,
            },
            _seat: seat,
            epoch: at.epoch,
            seen: 0,
        };
        Ok(Subscription {
            cursor,
            initial: Bytes::from(initial),
            start,
        })
    }

    fn subscribe_at(
        &mut self,
        slot: usize,
        last_event_id: Option<&str>,
        now: Instant,
        seat: SubscriberSeat,
    ) -> Subscription {
        let retry = self.config.retry.as_millis();
        let (ledger, limit) = (&self.ledger, self.config.max_memory_bytes);
        let flow = self
            .flows
            .at_mut(slot)
            .expect("the slot was just looked up or created");
        flow.last_active = now;

        let (start, resume_after) = match last_event_id.filter(|text| !text.is_empty()) {
            None => (Start::Snapshot, None),
            Some(text) => match EventId::parse(text) {
                None => (Start::Reset(ResetReason::Malformed), None),
                Some(id) if id.epoch != flow.epoch => (Start::Reset(ResetReason::OtherEpoch), None),
                Some(id) if id.seq > flow.seq => (Start::Reset(ResetReason::Ahead), None),
                Some(id) if flow.ring.lost_after(id.seq) => {
                    (Start::Reset(ResetReason::Evicted), None)
                }
                Some(id) => {
                    let replayed = flow.ring.iter_after(id.seq).count();
                    (Start::Resumed { replayed }, Some(id.seq))
                }
            },
        };
        let mut initial = frame::retry(retry);
        let mut delivered = 1;
        if let Some(after) = resume_after {
            delivered = 0;
            for frame in flow.ring.iter_after(after) {
                initial.extend_from_slice(frame);
                delivered += 1;
            }
        } else {
            initial.extend_from_slice(&flow.snapshot_frame(ledger, limit));
        }
        self.counters.delivered += delivered;
        if matches!(start, Start::Reset(_)) {
            self.counters.resyncs += 1;
        }
        let cursor = Cursor {
            flow_id: Arc::clone(&flow.id),
            target: Target::Flow {
                slot,
                incarnation: Arc::clone(&flow.incarnation),
            },
            _seat: seat,
            epoch: flow.epoch,
            seen: flow.seq,
        };
        self.recharge(slot);
        Subscription {
            cursor,
            initial: Bytes::from(initial),
            start,
        }
    }

    /// The next output for `cursor`: one frame, a resync snapshot, nothing yet, or the end.
    /// Call until [`Polled::Pending`], then wait for the flow to advance.
    ///
    /// A cursor waiting for a flow without state polls [`Polled::Pending`] until the flow's
    /// first message, then joins it; it polls [`Polled::Closed`] if the flow id was deleted
    /// meanwhile, or created and deleted again before it joined.
    pub fn poll(&mut self, cursor: &mut Cursor, now: Instant) -> Polled {
        let (slot, incarnation) = match &cursor.target {
            Target::Flow { slot, incarnation } => (*slot, incarnation),
            Target::Waiting { ticket, .. } => match self.join(&cursor.flow_id, ticket) {
                Join::Pending => return Polled::Pending,
                Join::Closed => return Polled::Closed,
                Join::Joined(target) => {
                    cursor.target = target;
                    return self.poll(cursor, now);
                }
            },
        };
        let (ledger, limit) = (&self.ledger, self.config.max_memory_bytes);
        let Some(flow) = self.flows.at_mut(slot) else {
            return Polled::Closed;
        };
        if !Arc::ptr_eq(&flow.incarnation, incarnation) {
            return Polled::Closed;
        }
        // Joined a flow created at another epoch than its group reserved, or fell behind.
        let resync = cursor.epoch != flow.epoch || flow.ring.lost_after(cursor.seen);
        if cursor.epoch == flow.epoch {
            flow.last_active = now;
        }
        if resync {
            cursor.epoch = flow.epoch;
            cursor.seen = flow.seq;
            self.counters.resyncs += 1;
            self.counters.delivered += 1;
            let frame = flow.snapshot_frame(ledger, limit);
            self.recharge(slot);
            return Polled::Resync(frame);
        }
        match flow.ring.next_after(cursor.seen) {
            Some((seq, frame)) => {
                cursor.seen = *seq;
                self.counters.delivered += 1;
                Polled::Frame(frame.clone())
            }
            None => Polled::Pending,
        }
    }

    /// Where a waiting cursor of `ticket`'s group stands.
    fn join(&self, flow_id: &str, ticket: &Arc<Epoch>) -> Join {
        let ours =
            |group: Option<&Arc<Epoch>>| group.is_some_and(|group| Arc::ptr_eq(group, ticket));
        match self.flows.slot(flow_id) {
            Some(slot) => match self.flows.at(slot) {
                Some(flow) if ours(flow.waiters.as_ref()) => Join::Joined(Target::Flow {
                    slot,
                    incarnation: Arc::clone(&flow.incarnation),
                }),
                _ => Join::Closed,
            },
            None if ours(self.waiting.get(flow_id)) => Join::Pending,
            None => Join::Closed,
        }
    }

    /// The folded state of a flow; `None` when the flow is unknown or nothing was ingested
    /// into it yet.
    #[must_use]
    pub fn snapshot(&self, flow_id: &str) -> Option<FlowSnapshot> {
        let flow = self.flows.get(flow_id).filter(|flow| flow.seq > 0)?;
        Some(FlowSnapshot {
            message: flow.fold.to_message(flow_id),
            epoch: flow.epoch,
            seq: flow.seq,
        })
    }

    /// The position of a flow's state (its epoch and the seq of the last message folded in),
    /// without building the state: the same `None` as [`snapshot`](Self::snapshot) when the
    /// flow is unknown or nothing was ingested into it yet.
    #[must_use]
    pub fn head(&self, flow_id: &str) -> Option<EventId> {
        let flow = self.flows.get(flow_id).filter(|flow| flow.seq > 0)?;
        Some(EventId {
            epoch: flow.epoch,
            seq: flow.seq,
        })
    }

    /// Deletes a flow: its state is gone, its cursors (and those waiting for its first
    /// message) poll [`Polled::Closed`], and a later ingest starts a new epoch. Returns
    /// whether the flow had state.
    pub fn delete(&mut self, flow_id: &str) -> bool {
        self.waiting.remove(flow_id);
        self.remove_flow(flow_id).is_some()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next run, if any flow is held.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.flows
            .values()
            .filter_map(|flow| flow.last_active.checked_add(self.config.idle_timeout))
            .min()
    }

    /// Evicts every flow with no subscriber and no activity for
    /// [`idle_timeout`](RouterConfig::idle_timeout); returns the evicted ids.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Arc<str>> {
        let idle = self.config.idle_timeout;
        let mut freed = 0;
        let evicted = self.flows.retain(|flow| {
            let due = flow
                .last_active
                .checked_add(idle)
                .is_some_and(|deadline| deadline <= now);
            if due && flow.subscribers() > 0 {
                // Subscribed flows are active by definition.
                flow.last_active = now;
                return true;
            }
            if due {
                freed += flow.charged;
            }
            !due
        });
        self.ledger.release(freed);
        self.ledger.flows_removed(evicted.len());
        self.counters.evicted_flows += evicted.len() as u64;
        evicted
    }

    /// Whether a flow is held (ingested into, and not deleted or evicted).
    #[must_use]
    pub fn contains(&self, flow_id: &str) -> bool {
        self.flows.slot(flow_id).is_some()
    }

    /// Subscriptions waiting for `flow_id`'s first message (the flow has no state).
    #[must_use]
    pub fn waiting(&self, flow_id: &str) -> usize {
        self.waiting
            .get(flow_id)
            .map_or(0, |ticket| Arc::strong_count(ticket) - 1)
    }

    /// One flow's listing entry.
    #[must_use]
    pub fn flow(&self, flow_id: &str) -> Option<FlowInfo> {
        self.flows.get(flow_id).map(info)
    }

    /// Every flow held, sorted by id.
    #[must_use]
    pub fn flows(&self) -> Vec<FlowInfo> {
        let mut flows: Vec<FlowInfo> = self.flows.values().map(info).collect();
        flows.sort_by(|a, b| a.id.cmp(&b.id));
        flows
    }

    /// Totals for metrics.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            flows: self.ledger.flows(),
            subscribers: self.ledger.subscribers(),
            waiters: self.ledger.waiters(),
            ingested: self.counters.ingested,
            delivered: self.counters.delivered,
            resyncs: self.counters.resyncs,
            evicted_flows: self.counters.evicted_flows,
            memory_evictions: self.counters.memory_evictions,
            memory_bytes: self.ledger.bytes(),
            memory_limit: self.config.max_memory_bytes,
        }
    }
}

/// What [`Router::join`] found for a waiting cursor.
enum Join {
    /// The flow still has no state and the group still waits.
    Pending,
    /// The flow was created for the group: follow it from seq 0.
    Joined(Target),
    /// The group is gone (deleted, or the flow was created and replaced or removed since).
    Closed,
}

/// A body for `flow_id` decoded strictly with `limits`: what [`Router::ingest_bytes`] checks
/// before the engine, in the order it checks it (the flow id, then the contract).
pub(crate) fn decode_body(
    limits: &flow_contract::Limits,
    flow_id: &str,
    body: &[u8],
) -> Result<FlowMessage, IngestError> {
    validate_flow_id(flow_id).map_err(IngestError::FlowId)?;
    limits.decode(body, flow_id).map_err(IngestError::Contract)
}

/// The eviction policy at the memory bound, for `excess` bytes of room: of the idle flows'
/// `charges`, oldest first, the fewest that cover it, or all of them with the rest taken from
/// the writing flow's older frames (up to `own` bytes). Returns how many to evict and the
/// bytes to trim; `None` when even that is not enough (then nothing is evicted).
pub(crate) fn evictions(
    charges: impl IntoIterator<Item = usize>,
    excess: usize,
    own: usize,
) -> Option<(usize, usize)> {
    let mut freed = 0;
    let mut count = 0;
    for charge in charges {
        if freed >= excess {
            break;
        }
        freed += charge;
        count += 1;
    }
    let trim = excess.saturating_sub(freed);
    (trim <= own).then_some((count, trim))
}

/// What a flow costs besides its ring, fold and cached snapshot.
fn flow_overhead(flow_id: &str) -> usize {
    footprint::flow_overhead(size_of::<Flow>(), flow_id)
}

fn info(flow: &Flow) -> FlowInfo {
    FlowInfo {
        id: Arc::clone(&flow.id),
        epoch: flow.epoch,
        seq: flow.seq,
        nodes_by_status: flow.fold.nodes_by_status().clone(),
        relationships: flow.fold.relationship_map().len(),
        subscribers: flow.subscribers(),
        last_event: flow.last_event,
        ring_frames: flow.ring.len(),
        ring_bytes: flow.ring.bytes(),
        state_bytes: flow.fold.bytes(),
        bytes: flow.charged,
    }
}

#[cfg(test)]
mod tests {
    use super::evictions;

    #[test]
    fn the_fewest_oldest_idle_flows_then_the_writers_own_frames() {
        // Oldest first: 30 covers 25.
        assert_eq!(evictions([30, 10], 25, 0), Some((1, 0)));
        // Both, and still 5 short: the writer's older frames give them.
        assert_eq!(evictions([10, 10], 25, 5), Some((2, 5)));
        // Not enough anywhere: nothing is evicted.
        assert_eq!(evictions([10, 10], 25, 4), None);
        // No excess, no eviction.
        assert_eq!(evictions([10], 0, 0), Some((0, 0)));
    }
}
