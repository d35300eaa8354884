//! Appending through a shared log: the engine admits a message at the flow's position before
//! the log appends it (compare-and-set on that position), then applies it at the position the
//! log gave. The log stores; the engine alone decides what a message does to a flow.

use std::time::Instant;

use flow_contract::{FlowMessage, validate_flow_id};

use super::{AtBound, Refusal, Router};
use crate::error::IngestError;
use crate::event_id::{Epoch, EventId};
use crate::fold::{Fold, Preview};
use crate::frame;

/// The longest id a frame can carry: frame sizes are checked with it, so a message admitted
/// here fits at whatever position the log gives it.
const LONGEST_ID: EventId = EventId {
    epoch: Epoch(u64::MAX),
    seq: u64::MAX,
};

/// The least tail, in bytes, that makes a checkpoint due by size: a small state is not
/// rewritten every few messages.
const CHECKPOINT_FLOOR: usize = 16 * 1024;

/// What a shared log holds after a flow's last checkpoint: the entries a restore folds on top
/// of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTail {
    /// How many entries.
    pub entries: usize,
    /// Their bytes, each counted as its frame would be with the longest id.
    pub bytes: usize,
}

impl Router {
    /// Whether a shared log whose entries after the flow's last checkpoint are `tail` should
    /// write a new checkpoint of the flow as held: once the tail holds half the ring's bounds
    /// (its capacity, or the flow's share of bytes), or half as many bytes as the flow's state
    /// (at least 8 KiB). A restore then reads at most the state and half as much again, a log
    /// that trims only below its checkpoint stays within the ring's bounds, and checkpoints
    /// cost at most two state writes per state's worth of messages. `false` for a flow not
    /// held.
    #[must_use]
    pub fn checkpoint_due(&self, flow_id: &str, tail: LogTail) -> bool {
        let Some(flow) = self.flows.get(flow_id) else {
            return false;
        };
        2 * tail.entries >= self.config.ring_capacity
            || 2 * tail.bytes >= self.config.flow_share()
            || 2 * tail.bytes >= flow.fold.bytes().max(CHECKPOINT_FLOOR)
    }

    /// The position of a flow's state, `Some` as soon as the flow is held (seq 0 included:
    /// a flow a log created before anything was appended).
    #[must_use]
    pub fn position(&self, flow_id: &str) -> Option<EventId> {
        self.flows.get(flow_id).map(|flow| EventId {
            epoch: flow.epoch,
            seq: flow.seq,
        })
    }

    /// Checks that `message` would be accepted by the flow as held now, without changing
    /// anything: the contract, the flow's state bounds (items and bytes) and its frame within
    /// the flow's replay share. Returns the position it was checked at (`None`: the flow is
    /// not held, so it was checked against an empty state).
    ///
    /// The writer of a shared log admits a message, appends it only if the log is still at
    /// that position, then applies it with [`apply_after`](Self::apply_after): every replica
    /// folds the same message into the same state with this engine.
    ///
    /// # Errors
    /// [`IngestError`] as [`ingest`](Self::ingest) would answer it for the flow's bounds.
    pub fn admit(
        &self,
        flow_id: &str,
        message: &FlowMessage,
    ) -> Result<Option<EventId>, IngestError> {
        validate_flow_id(flow_id).map_err(IngestError::FlowId)?;
        message
            .validate(flow_id, &self.config.limits)
            .map_err(IngestError::Contract)?;
        let flow = self.flows.get(flow_id);
        let empty = Fold::default();
        let fold = flow.map_or(&empty, |flow| &flow.fold);
        // The exact figures need lookups; only pay for them near a bound.
        let items = match fold.items_after(message, Preview::AtMost) {
            at_most if at_most <= self.config.max_state_items => at_most,
            _ => fold.items_after(message, Preview::Exact),
        };
        if items > self.config.max_state_items {
            return Err(IngestError::StateFull {
                items,
                limit: self.config.max_state_items,
            });
        }
        let share = self.config.flow_share();
        let len = frame::encode(message, LONGEST_ID).len();
        if len > share {
            return Err(IngestError::TooLarge { len, budget: share });
        }
        let bytes = match fold.bytes_after(message, Preview::AtMost) {
            at_most if at_most <= share => at_most,
            _ => fold.bytes_after(message, Preview::Exact),
        };
        if bytes > share {
            return Err(IngestError::FlowMemoryFull {
                bytes,
                limit: share,
            });
        }
        Ok(self.position(flow_id))
    }

    /// Applies the message a shared log appended right after `after` (at `after.seq + 1`,
    /// same epoch), when the flow is held exactly at `after`: the second half of
    /// [`admit`](Self::admit). Anywhere else the flow has moved on (another writer's message
    /// was applied first, or a restore replaced it) and nothing changes.
    ///
    /// # Errors
    /// [`IngestError::Stale`] when the flow is not held at `after`; otherwise as
    /// [`apply_ordered`](Self::apply_ordered).
    pub fn apply_after(
        &mut self,
        flow_id: &str,
        after: EventId,
        message: FlowMessage,
        now: Instant,
    ) -> Result<super::Ingested, IngestError> {
        self.apply_after_at(flow_id, after, message, now, AtBound::MakeRoom)
            .map_err(Refusal::into_error)
    }

    /// [`apply_after`](Self::apply_after), doing `at_bound` at the memory bound.
    pub(crate) fn apply_after_at(
        &mut self,
        flow_id: &str,
        after: EventId,
        message: FlowMessage,
        now: Instant,
        at_bound: AtBound,
    ) -> Result<super::Ingested, Refusal<FlowMessage>> {
        let seq = after.seq.saturating_add(1);
        match self.position(flow_id) {
            Some(at) if at == after => {
                self.apply_ordered_at(flow_id, after.epoch, seq, message, now, at_bound)
            }
            held => Err(IngestError::Stale {
                seq,
                current: held.map_or(0, |at| at.seq),
            }
            .into()),
        }
    }
}
