//! Subscriptions: a cursor into a flow's ring, and what subscribing and polling return.

use std::sync::Arc;

use bytes::Bytes;

use crate::event_id::{Epoch, EventId};
use crate::ledger::{SubscriberSeat, WaiterSeat};

/// A subscriber's position in one flow. Holding it counts as one subscriber; drop it to
/// unsubscribe. A cursor is small (no queue): frames stay in the flow's ring.
#[derive(Debug)]
pub struct Cursor {
    pub(crate) flow_id: Arc<str>,
    pub(crate) target: Target,
    /// This cursor's place in the router's subscriber count.
    pub(crate) _seat: SubscriberSeat,
    pub(crate) epoch: Epoch,
    pub(crate) seen: u64,
}

/// What a cursor follows.
#[derive(Debug)]
pub(crate) enum Target {
    /// A flow with state.
    Flow {
        /// Where the flow lives in the router's table (checked against `incarnation`).
        slot: usize,
        /// The incarnation of the flow this cursor follows; its strong count is the flow's
        /// subscriber count.
        incarnation: Arc<()>,
    },
    /// A flow without state yet: the cursor joins the flow created for `ticket`'s wait group
    /// at its first message.
    Waiting {
        /// The wait group of the flow id, holding the epoch it reserved (its strong count:
        /// the group's waiters).
        ticket: Arc<Epoch>,
        /// This cursor's place in the router's waiter count.
        _waiter: WaiterSeat,
    },
}

impl Cursor {
    /// The flow followed.
    #[must_use]
    pub fn flow_id(&self) -> &str {
        &self.flow_id
    }

    /// Whether the cursor still waits for its flow's first message (it joins the flow at the
    /// first poll after that message).
    #[must_use]
    pub fn is_waiting(&self) -> bool {
        matches!(self.target, Target::Waiting { .. })
    }

    /// The id of the last frame handed out (what a client would send as `Last-Event-ID`);
    /// seq 0 of the reserved epoch while the cursor waits for its flow's first message.
    #[must_use]
    pub fn position(&self) -> EventId {
        EventId {
            epoch: self.epoch,
            seq: self.seen,
        }
    }
}

/// What [`Router::subscribe`](crate::Router::subscribe) returns: the bytes the client must see
/// first and the cursor that continues exactly after them (taken atomically: no gap, no
/// duplicate).
#[derive(Debug)]
#[non_exhaustive]
pub struct Subscription {
    /// Continue with [`Router::poll`](crate::Router::poll).
    pub cursor: Cursor,
    /// A `retry:` block, then a snapshot frame or the replayed frames.
    pub initial: Bytes,
    /// How the subscription started.
    pub start: Start,
}

/// How a subscription started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// No (or an empty) `Last-Event-ID`: a snapshot frame of the current state.
    Snapshot,
    /// The `Last-Event-ID` is from this epoch and still in the ring: exactly the frames that
    /// followed it were replayed (possibly none).
    Resumed {
        /// Frames replayed.
        replayed: usize,
    },
    /// The `Last-Event-ID` could not be resumed: a snapshot frame instead.
    Reset(ResetReason),
    /// The flow has no state yet: an empty snapshot frame at seq 0 of the epoch reserved for
    /// the flow's first incarnation. The cursor takes no flow slot; it joins the flow at its
    /// first message and then sees every message from seq 1 on.
    Waiting,
}

/// Why a `Last-Event-ID` could not be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetReason {
    /// Not an id this engine writes (including a bare number).
    Malformed,
    /// From another epoch: the flow was deleted, evicted or the process restarted since.
    OtherEpoch,
    /// From this epoch, but frames after it were evicted from the ring.
    Evicted,
    /// From this epoch, but beyond the flow's current seq.
    Ahead,
}

/// What [`Router::poll`](crate::Router::poll) returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Polled {
    /// The next frame (a shared, reference-counted buffer).
    Frame(Bytes),
    /// The cursor fell behind the ring: a snapshot frame of the current state; the cursor
    /// continues after it. Nothing is lost silently.
    Resync(Bytes),
    /// Nothing new; poll again after the flow advances.
    Pending,
    /// The flow was deleted or evicted: the subscription is over.
    Closed,
}
