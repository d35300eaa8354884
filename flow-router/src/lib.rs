//! The embeddable OpenovaFlow engine: it accepts [`FlowMessage`](flow_contract::FlowMessage)s
//! per flow and serves them as Server-Sent Events bytes.
//!
//! ```text
//!   POST body ──► Router::ingest_bytes ──► fold (state) ─┐
//!                      │                                  ├──► Router::subscribe ──► first bytes
//!                      └──► frame, encoded once ──► ring ─┴──► Router::poll(cursor) ──► frames
//! ```
//!
//! Per flow the [`Router`] keeps a ring of the last accepted messages, each encoded **once**
//! as its SSE frame and shared by every subscriber; a materialized fold of the current state
//! (never derived from the ring, so overflow loses no state); a monotonic seq; and an
//! [`Epoch`] that is new whenever the flow's state is created anew. SSE ids are
//! `<epoch>-<seq>` ([`EventId`]).
//!
//! ```
//! use std::time::Instant;
//! use flow_router::{Polled, Router, RouterConfig, Start};
//!
//! let mut router = Router::new(RouterConfig::default(), 0x5eed)?;
//! let now = Instant::now(); // the shell's clock: the engine never reads one
//! router.ingest_bytes("demo", br#"{"type":"upsert-nodes","nodes":[
//!     {"id":"a","flowId":"demo","label":"a","status":"running"}]}"#, now)?;
//!
//! // A new subscriber gets a retry hint and a snapshot of the state at seq 1...
//! let mut sub = router.subscribe("demo", None, now)?;
//! assert_eq!(sub.start, Start::Snapshot);
//! let first = String::from_utf8(sub.initial.to_vec())?;
//! assert!(first.starts_with("retry: 3000\n\nevent: snapshot\nid: 5eed-1\ndata: {\"type\":\"snapshot\""));
//!
//! // ...then every later message, as the shared pre-encoded frame.
//! router.ingest_bytes("demo", br#"{"type":"delete-nodes","ids":["a"]}"#, now)?;
//! let Polled::Frame(frame) = router.poll(&mut sub.cursor, now) else { unreachable!() };
//! assert_eq!(&frame[..], b"event: delete-nodes\nid: 5eed-2\ndata: {\"type\":\"delete-nodes\",\"ids\":[\"a\"]}\n\n");
//! assert_eq!(router.poll(&mut sub.cursor, now), Polled::Pending);
//!
//! // A reconnecting client resumes exactly after its Last-Event-ID.
//! let resumed = router.subscribe("demo", Some("5eed-1"), now)?;
//! assert_eq!(resumed.start, Start::Resumed { replayed: 1 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What this crate does not do
//!
//! It does no network I/O, reads no clock, draws no random numbers, spawns no threads and
//! depends on no async runtime or HTTP framework. Time (`now`) and the epoch seed are inputs;
//! the shell owns sockets, the heartbeat timer and the idle-eviction timer
//! ([`Router::poll_timeout`] / [`Router::handle_timeout`]). It does not rate-limit or
//! authenticate. The [`SharedRouter`] layer adds only locks (flows split over shards that share
//! one ledger of the bounds) and runtime-agnostic wake-ups.
//!
//! # Rules
//!
//! - **Subscribing** ([`Router::subscribe`]) takes the raw `Last-Event-ID` (empty = absent).
//!   From this epoch and still in the ring: exact replay. Otherwise (other epoch, evicted,
//!   ahead, malformed, bare number): a snapshot frame ([`Start`]). The first bytes and the
//!   cursor are taken together, so ids are strictly increasing with no gap or duplicate.
//!   **Reads never allocate**: subscribing to a flow without state takes no flow slot, ring
//!   or fold; the subscription waits ([`Start::Waiting`], bounded by
//!   [`RouterConfig::max_waiters`]): the client sees an empty snapshot at seq 0 of the epoch
//!   reserved for the flow, then every message from the first one on. Ingest never waits
//!   for or is refused by waiters.
//! - **Lag**: a cursor that falls behind the ring gets [`Polled::Resync`] with a snapshot
//!   frame, never a silent loss. Ingest never waits on a subscriber.
//! - **Fold**: `snapshot` resets; upserts merge by natural key (nodes by id, relationships
//!   by `(fromId, toId, type)`); `delete-nodes` also removes every relationship with an
//!   endpoint among the deleted ids in this flow (no `fromFlowId`/`toFlowId`, or this flow's); `delete-rels` by key; output sorted by key. With no posted
//!   flow instance, snapshots carry a synthetic one: id = flow id, status rolled up from the
//!   nodes (failed > running > pending > succeeded; no nodes = pending), `startedAt` = the
//!   earliest node `startedAt`, or 0.
//! - **Timeline** ([`Timeline::analyse`]): per-node duration and wait, the critical path and
//!   the total duration of a flow's nodes at a given `now`; a pure function of the state.
//! - **Frames**: `event: <type>`, `id: <epoch>-<seq>`, one `data:` line of compact JSON; a
//!   `retry:` block opens every subscription; [`HEARTBEAT`] when the shell's timer says so.
//! - **Bounds** ([`RouterConfig`]): ring capacity; a byte budget per flow, half for the ring
//!   (a larger single message is [`IngestError::TooLarge`]) and half for the state
//!   ([`IngestError::FlowMemoryFull`]); a byte bound for all flows together, where idle flows
//!   are evicted first, oldest activity first, then the writing flow's older frames give way,
//!   then [`IngestError::MemoryFull`]; flows, subscribers, waiters, state items, idle
//!   eviction. Bytes are the engine's own estimate ([`Fold::bytes`], [`Stats::memory_bytes`]),
//!   kept up to date as state changes; no allocator is asked.
//! - **Scale-out seam**: [`Router::apply_ordered`] applies messages whose epoch and seq a
//!   shared log decided; [`Router::restore`] sets a flow to the log's stored state and tail
//!   (on first use, after a gap the log can no longer fill, or at a new epoch). A writer
//!   through the log [`admit`](Router::admit)s a message at the flow's position, appends it
//!   only if the log is still there, then [`apply_after`](Router::apply_after)s it; a
//!   checkpoint is [`Router::state`], and [`FlowState::folded`] folds the log after it.

#![warn(clippy::pedantic)]
// Product names in prose (OpenovaFlow) are not code.
#![allow(clippy::doc_markdown)]
// Mutators such as `delete` return a bool callers often ignore on purpose.
#![allow(clippy::must_use_candidate)]

mod config;
mod cursor;
mod error;
mod event_id;
mod fold;
mod footprint;
mod frame;
mod ledger;
mod ring;
mod router;
mod shared;
mod table;
mod timeline;

pub use config::RouterConfig;
pub use cursor::{Cursor, Polled, ResetReason, Start, Subscription};
pub use error::{ConfigError, IngestError, SubscribeError};
pub use event_id::{Epoch, EventId};
pub use fold::Fold;
pub use frame::{HEARTBEAT, MAX_FRAME_OVERHEAD, heartbeat};
pub use router::{FlowInfo, FlowSnapshot, FlowState, Ingested, LogTail, Restored, Router, Stats};
pub use shared::{DEFAULT_SHARDS, FrameStream, MAX_BATCH_BYTES, SharedRouter};
pub use timeline::{NodeTiming, Timeline, TimelineError};

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
