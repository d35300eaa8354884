//! Restoring a flow from a shared log: the folded state at a position plus the log's tail.

use std::time::Instant;

use flow_contract::{FlowInstance, FlowMessage, FlowNode, Relationship, validate_flow_id};

use super::{AtBound, FlowSnapshot, Refusal, Router};
use crate::config::RouterConfig;
use crate::error::IngestError;
use crate::event_id::EventId;
use crate::fold::Fold;
use crate::frame;
use crate::ring::Ring;

/// A flow's folded state as a shared log stores it (a checkpoint), for [`Router::restore`];
/// [`Router::state`] reads it back. Serialises as
/// `{"instance": <flow instance or null>, "nodes": [...], "relationships": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowState {
    /// The posted flow instance; `None` keeps the synthetic one (see the crate docs).
    pub instance: Option<FlowInstance>,
    /// Every node (any order).
    pub nodes: Vec<FlowNode>,
    /// Every relationship (any order).
    pub relationships: Vec<Relationship>,
}

impl FlowState {
    /// This state with `messages` folded in, in order, by the engine's fold: a checkpoint
    /// plus the log after it is the state at the log's head.
    #[must_use]
    pub fn folded(self, flow_id: &str, messages: impl IntoIterator<Item = FlowMessage>) -> Self {
        let mut fold = Fold::from_state(self.instance, self.nodes, self.relationships);
        for message in messages {
            fold.apply(flow_id, message);
        }
        Self::of(&fold)
    }

    /// The `snapshot` message a stream of the flow held at `at` with this state would start
    /// with: the engine's fold orders the items and fills in the synthetic flow instance, so
    /// a reader of the shared log answers what a replica holding the flow answers, without
    /// holding it.
    #[must_use]
    pub fn into_snapshot(self, flow_id: &str, at: EventId) -> FlowSnapshot {
        let fold = Fold::from_state(self.instance, self.nodes, self.relationships);
        FlowSnapshot {
            message: fold.into_message(flow_id),
            epoch: at.epoch,
            seq: at.seq,
        }
    }

    /// The state a fold holds (`instance: None` while no flow instance was posted).
    fn of(fold: &Fold) -> Self {
        Self {
            instance: fold.flow().cloned(),
            nodes: fold.node_map().values().cloned().collect(),
            relationships: fold.relationship_map().values().cloned().collect(),
        }
    }
}

/// What [`Router::restore`] did to the flow's subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restored {
    /// Same epoch, not behind: cursors continue; one that missed a frame no longer held gets
    /// a resync snapshot, never a silent gap.
    Continued,
    /// The flow was absent, from another epoch, or ahead of the log (the log lost messages):
    /// it is created anew and its old cursors close.
    Replaced,
}

impl Router {
    /// A flow's position and folded state, as [`restore`](Self::restore) takes them (what a
    /// shared log checkpoints); `None` when the flow is not held.
    #[must_use]
    pub fn state(&self, flow_id: &str) -> Option<(EventId, FlowState)> {
        let flow = self.flows.get(flow_id)?;
        let at = EventId {
            epoch: flow.epoch,
            seq: flow.seq,
        };
        Some((at, FlowState::of(&flow.fold)))
    }

    /// Sets a flow to `state` at position `at`, as decided by a shared log, with `history`:
    /// the log's tail, `(seq, message)` pairs in increasing seq order ending at `at.seq`
    /// (every message after `history[0].seq - 1`). Its frames become the ring, so
    /// `Last-Event-ID`s inside the tail resume exactly, with the same ids and bytes every
    /// replica produces. The messages are not folded again: `state` already holds them.
    ///
    /// A history that does not end at `at.seq` is ignored (every older id gets a snapshot).
    ///
    /// # Errors
    /// [`IngestError`] for a bad flow id, a history message that breaks the contract, a state
    /// beyond [`max_state_items`](crate::RouterConfig::max_state_items) or the flow's byte
    /// share, a new flow beyond [`max_flows`](crate::RouterConfig::max_flows), or no room
    /// within [`max_memory_bytes`](crate::RouterConfig::max_memory_bytes) (idle flows are
    /// evicted to make room, as for ingest); the router is otherwise unchanged.
    pub fn restore(
        &mut self,
        flow_id: &str,
        at: EventId,
        state: FlowState,
        history: Vec<(u64, FlowMessage)>,
        now: Instant,
    ) -> Result<Restored, IngestError> {
        let prepared = prepare(&self.config, flow_id, at, state, history)?;
        self.restore_prepared(flow_id, prepared, now, AtBound::MakeRoom)
            .map_err(Refusal::into_error)
    }

    /// The second half of [`restore`](Self::restore): sets the flow to the prepared state,
    /// doing `at_bound` at the memory bound.
    pub(crate) fn restore_prepared(
        &mut self,
        flow_id: &str,
        prepared: PreparedRestore,
        now: Instant,
        at_bound: AtBound,
    ) -> Result<Restored, Refusal<PreparedRestore>> {
        let at = prepared.at;
        let held = self.flows.get(flow_id);
        let continues = held.is_some_and(|flow| flow.epoch == at.epoch && flow.seq <= at.seq);
        let held = held.map_or(0, |flow| flow.charged);
        let seat = match self.flows.slot(flow_id) {
            Some(_) => None,
            None => Some(self.take_flow()?),
        };
        let charge = super::flow_overhead(flow_id) + prepared.fold.bytes() + prepared.ring.charge();
        let reserved = match self.reserve(flow_id, held, charge, 0, at_bound) {
            Ok(reserved) => reserved,
            Err(no_room) => return Err(no_room.with(prepared)),
        };
        let slot = match self.flows.slot(flow_id) {
            Some(slot) if continues => slot,
            _ => self.create(flow_id, at.epoch, now, seat),
        };
        // The slot was just looked up or created, so the flow is there.
        if let Some(flow) = self.flows.at_mut(slot) {
            flow.charged = reserved.prepaid;
            flow.epoch = at.epoch;
            flow.seq = at.seq;
            flow.fold = prepared.fold;
            flow.ring = prepared.ring;
            flow.snapshot = None;
            flow.last_active = now;
            if at.seq > 0 {
                flow.last_event.get_or_insert(now);
            }
        }
        self.recharge(slot);
        Ok(if continues {
            Restored::Continued
        } else {
            Restored::Replaced
        })
    }
}

/// The first half of [`Router::restore`], which reads no flow: checks the flow
/// id, the state's bounds and the history's messages, and builds the flow's fold and
/// ring.
pub(crate) fn prepare(
    config: &RouterConfig,
    flow_id: &str,
    at: EventId,
    state: FlowState,
    history: Vec<(u64, FlowMessage)>,
) -> Result<PreparedRestore, IngestError> {
    validate_flow_id(flow_id).map_err(IngestError::FlowId)?;
    let items = state.nodes.len() + state.relationships.len();
    if items > config.max_state_items {
        return Err(IngestError::StateFull {
            items,
            limit: config.max_state_items,
        });
    }
    let ordered = history.windows(2).all(|pair| pair[0].0 < pair[1].0);
    let complete = ordered && history.last().is_some_and(|(seq, _)| *seq == at.seq);
    let history = if complete { history } else { Vec::new() };
    let share = config.flow_share();
    let mut frames = Vec::with_capacity(history.len());
    for (seq, message) in &history {
        message
            .validate(flow_id, &config.limits)
            .map_err(IngestError::Contract)?;
        let encoded = frame::encode(
            message,
            EventId {
                epoch: at.epoch,
                seq: *seq,
            },
        );
        if encoded.len() <= share {
            frames.push((*seq, encoded));
        }
    }
    // Everything up to the first held frame counts as evicted.
    let evicted_through = frames
        .first()
        .map_or(at.seq, |(first, _)| first.saturating_sub(1));
    let mut ring = Ring::after_gap(config.ring_capacity, evicted_through);
    for (seq, encoded) in frames {
        ring.push(seq, encoded, share);
    }
    let fold = Fold::from_state(state.instance, state.nodes, state.relationships);
    if fold.bytes() > share {
        return Err(IngestError::FlowMemoryFull {
            bytes: fold.bytes(),
            limit: share,
        });
    }
    Ok(PreparedRestore { at, fold, ring })
}

/// A restore checked and built, waiting to be applied to its flow.
#[derive(Debug)]
pub(crate) struct PreparedRestore {
    at: EventId,
    fold: Fold,
    ring: Ring,
}
