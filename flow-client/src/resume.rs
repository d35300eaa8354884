//! The follow's decisions, without I/O: which `Last-Event-ID` to resume with, what each frame
//! means (the first state, a change, a resync), when a stream broke its promise, and how long
//! to wait before the next attempt.
//!
//! [`Resume`] is driven with inputs (`handle_connected`, `handle_bytes`, `handle_disconnect`)
//! and drained with [`Resume::poll_event`]. It never reads a clock and never touches a
//! socket; [`Follow`](crate::Follow) is the shell that does both.
//!
//! ```
//! use flow_client::{FlowEvent, FollowOptions, Next, Resume};
//!
//! let mut resume = Resume::new("demo", None, &FollowOptions::default());
//! resume.handle_connected();
//! let next = resume.handle_bytes(b"retry: 3000\n\nevent: snapshot\nid: 1f-0\ndata: \
//!     {\"type\":\"snapshot\",\"flow\":{\"id\":\"demo\",\"status\":\"pending\",\"startedAt\":0},\
//!     \"nodes\":[],\"relationships\":[]}\n\n")?;
//! assert_eq!(next, Next::Read);
//! assert!(matches!(resume.poll_event(), Some(FlowEvent::Connected { resuming_after: None })));
//! assert!(matches!(resume.poll_event(), Some(FlowEvent::Snapshot { .. })));
//! // The server closes the stream: reconnect after its `retry:`, resuming after 1f-0.
//! let wait = resume.handle_disconnect(flow_client::Disconnect::Ended)?;
//! assert_eq!(wait, std::time::Duration::from_secs(3));
//! assert_eq!(resume.last_event_id().map(|id| id.to_string()).as_deref(), Some("1f-0"));
//! # Ok::<(), flow_client::Error>(())
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use flow_contract::{FlowMessage, Limits, MessageType};
use flow_router::{Epoch, EventId};

use crate::error::{Error, parse_event_id};
use crate::sse::{SseEvent, SseItem, SseParser};

/// Limits for what the server sends: it validated every message on ingest, and a snapshot may
/// legitimately hold more items than one posted message may. The client checks the shape only.
pub(crate) const RECEIVED: Limits = Limits {
    max_id_bytes: usize::MAX,
    max_text_bytes: usize::MAX,
    max_items: usize::MAX,
    max_meta_bytes: usize::MAX,
};

/// What a follow yields.
#[derive(Debug)]
#[non_exhaustive]
pub enum FlowEvent {
    /// The first connection is open.
    Connected {
        /// The id it resumes after (the `from` given), or `None` for a fresh snapshot.
        resuming_after: Option<EventId>,
    },
    /// A later connection is open, resuming after the last event delivered.
    Reconnected {
        /// The `Last-Event-ID` sent.
        resuming_after: Option<EventId>,
    },
    /// The flow's whole state: the first event of a follow that started without a position.
    Snapshot {
        /// The snapshot's position.
        id: EventId,
        /// A `snapshot` message.
        message: FlowMessage,
    },
    /// The server could not replay what followed the last position: this snapshot replaces
    /// everything held before. Never a silent jump.
    Resync {
        /// The snapshot's position.
        id: EventId,
        /// A `snapshot` message.
        message: FlowMessage,
        /// Why the position could not be resumed.
        reason: ResyncReason,
    },
    /// One change, exactly after the previous event.
    Message {
        /// Its position.
        id: EventId,
        /// The change (never a `snapshot`).
        message: FlowMessage,
    },
    /// The connection ended; the follow reconnects after `retry_in`.
    Disconnected {
        /// Why it ended.
        reason: Disconnect,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
}

/// Why the server answered a resume with a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResyncReason {
    /// The flow's state was created anew (a server restart without shared storage, a DELETE,
    /// an idle eviction): the epoch changed.
    NewEpoch {
        /// The epoch of the last position held.
        previous: Epoch,
    },
    /// Same epoch, but the position had left the server's ring: the id resumed from was
    /// evicted, or this follower fell behind the live stream.
    FellBehind {
        /// The seq of the last position held.
        previous: u64,
    },
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The server closed the stream (a DELETE of the flow, a shutdown).
    #[error("stream ended by the server")]
    Ended,
    /// Nothing arrived, not even a heartbeat, for this long.
    #[error("nothing received for {} ms", .after.as_millis())]
    Idle {
        /// The idle timeout.
        after: Duration,
    },
    /// The request failed or the connection broke.
    #[error(transparent)]
    Failed(Error),
    /// The stream skipped a position (the server broke its promise); the follow reconnects
    /// from the last position it delivered.
    #[error("the stream went from {} to {got} without the events between", after.map_or_else(|| "its start".to_owned(), |id| id.to_string()))]
    Discontinuity {
        /// The last position delivered (`None` before the first snapshot).
        after: Option<EventId>,
        /// The id that arrived instead of the next one.
        got: EventId,
    },
}

/// What the shell does after feeding bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Next {
    /// Keep reading this connection.
    Read,
    /// Drop this connection and reconnect after the wait.
    Reconnect {
        /// How long to wait first.
        after: Duration,
    },
}

/// How a follow reconnects.
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    idle_timeout: Duration,
    reconnect_delay: Option<Duration>,
    max_delay: Duration,
    retry_first_connection: bool,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            reconnect_delay: None,
            max_delay: Self::DEFAULT_MAX_DELAY,
            retry_first_connection: false,
        }
    }
}

impl FollowOptions {
    /// Three of the server's default heartbeat intervals.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(45);
    /// Longest wait between two attempts by default.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
    /// The wait before the first reconnection until the server sends `retry:`.
    pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);

    /// A connection that delivers nothing, not even a heartbeat, for this long is dropped and
    /// reconnected. Default [`Self::DEFAULT_IDLE_TIMEOUT`].
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The idle timeout.
    #[must_use]
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// Waits this long before reconnecting instead of the server's `retry:` hint (doubled
    /// after each consecutive failure either way).
    #[must_use]
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = Some(delay);
        self
    }

    /// Longest wait between two attempts. Default [`Self::DEFAULT_MAX_DELAY`].
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Whether a failed first connection is retried like later ones. By default it ends the
    /// follow with its error, so a wrong URL fails fast.
    #[must_use]
    pub fn retry_first_connection(mut self, retry: bool) -> Self {
        self.retry_first_connection = retry;
        self
    }
}

/// The sans-I/O state of one follow across connections.
#[derive(Debug)]
pub struct Resume {
    flow: String,
    options: FollowOptions,
    parser: SseParser,
    items: Vec<SseItem>,
    position: Option<EventId>,
    retry: Duration,
    failures: u32,
    connections: u64,
    streaming: bool,
    events: VecDeque<FlowEvent>,
}

impl Resume {
    /// A follow of `flow` that resumes after `from` (or starts from a snapshot).
    #[must_use]
    pub fn new(flow: &str, from: Option<EventId>, options: &FollowOptions) -> Self {
        Self {
            flow: flow.to_owned(),
            options: *options,
            parser: SseParser::default(),
            items: Vec::new(),
            position: from,
            retry: FollowOptions::DEFAULT_RETRY,
            failures: 0,
            connections: 0,
            streaming: false,
            events: VecDeque::new(),
        }
    }

    /// The flow followed.
    #[must_use]
    pub fn flow(&self) -> &str {
        &self.flow
    }

    /// The `Last-Event-ID` for the next connection: the last position delivered.
    #[must_use]
    pub fn last_event_id(&self) -> Option<EventId> {
        self.position
    }

    /// A connection was established (the server answered 200 with an event stream).
    pub fn handle_connected(&mut self) {
        let resuming_after = self.position;
        self.events.push_back(if self.connections == 0 {
            FlowEvent::Connected { resuming_after }
        } else {
            FlowEvent::Reconnected { resuming_after }
        });
        self.connections += 1;
        self.failures = 0;
        self.streaming = true;
        self.parser = SseParser::resuming(resuming_after.map(|id| id.to_string()));
    }

    /// The next chunk of the open connection's body.
    ///
    /// # Errors
    /// A stream this client cannot read (a line longer than [`SseParser::MAX_LINE`], an event
    /// that is not a FlowMessage or has no valid id): the follow ends with it.
    pub fn handle_bytes(&mut self, chunk: &[u8]) -> Result<Next, Error> {
        let mut items = std::mem::take(&mut self.items);
        let fed = self.parser.feed(chunk, &mut items);
        let mut next = Next::Read;
        let mut outcome = fed.map_err(|e| self.protocol(e.to_string()));
        if outcome.is_ok() {
            for item in items.drain(..) {
                let handled = match item {
                    SseItem::Retry(millis) => {
                        self.retry = Duration::from_millis(millis);
                        Ok(None)
                    }
                    SseItem::Event(event) => self.handle_event(&event),
                };
                match handled {
                    Ok(None) => {}
                    Ok(Some(broken)) => {
                        next = Next::Reconnect {
                            after: self.disconnected(broken),
                        };
                        break;
                    }
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                }
            }
        }
        items.clear();
        self.items = items;
        outcome.map(|()| next)
    }

    /// The connection attempt or the open connection ended.
    ///
    /// # Errors
    /// When retrying cannot help (a refused token, a request the server calls malformed, a
    /// response that is not an event stream) or, unless
    /// [`FollowOptions::retry_first_connection`], the first connection failed: the follow ends
    /// with this error.
    pub fn handle_disconnect(&mut self, reason: Disconnect) -> Result<Duration, Error> {
        match reason {
            Disconnect::Failed(error)
                if !error.is_transient()
                    || (self.connections == 0 && !self.options.retry_first_connection) =>
            {
                self.streaming = false;
                Err(error)
            }
            reason => Ok(self.disconnected(reason)),
        }
    }

    /// The next event to hand to the consumer.
    pub fn poll_event(&mut self) -> Option<FlowEvent> {
        self.events.pop_front()
    }

    /// Records a disconnection that will be retried; returns the wait.
    fn disconnected(&mut self, reason: Disconnect) -> Duration {
        if std::mem::take(&mut self.streaming) {
            // A stream that ran and ended is retried after the plain delay; one that broke
            // counts as the first failure.
            self.failures = u32::from(!matches!(reason, Disconnect::Ended));
        } else {
            self.failures = self.failures.saturating_add(1);
        }
        let base = self.options.reconnect_delay.unwrap_or(self.retry);
        let doublings = self.failures.saturating_sub(1).min(16);
        let retry_in = base
            .saturating_mul(1 << doublings)
            .min(self.options.max_delay);
        self.events
            .push_back(FlowEvent::Disconnected { reason, retry_in });
        retry_in
    }

    /// One dispatched SSE event: `Some` when it breaks the stream's continuity.
    fn handle_event(&mut self, event: &SseEvent) -> Result<Option<Disconnect>, Error> {
        let Some(kind) = MessageType::from_wire(&event.event) else {
            // Heartbeats and event types this version does not know carry no state.
            return Ok(None);
        };
        let id = parse_event_id(event.id.as_deref()).map_err(|detail| self.protocol(detail))?;
        let message = RECEIVED
            .decode(event.data.as_bytes(), &self.flow)
            .map_err(|e| self.protocol(format!("event {id} is not a valid FlowMessage: {e}")))?;
        if message.message_type() != kind {
            return Err(self.protocol(format!(
                "event {id} is named {} but holds a {}",
                kind.as_str(),
                message.message_type().as_str()
            )));
        }
        let event = match (kind, self.position) {
            (MessageType::Snapshot, None) => FlowEvent::Snapshot { id, message },
            (MessageType::Snapshot, Some(previous)) => FlowEvent::Resync {
                id,
                message,
                reason: if previous.epoch == id.epoch {
                    ResyncReason::FellBehind {
                        previous: previous.seq,
                    }
                } else {
                    ResyncReason::NewEpoch {
                        previous: previous.epoch,
                    }
                },
            },
            (_, Some(previous))
                if previous.epoch == id.epoch && previous.seq.checked_add(1) == Some(id.seq) =>
            {
                FlowEvent::Message { id, message }
            }
            (_, after) => return Ok(Some(Disconnect::Discontinuity { after, got: id })),
        };
        self.position = Some(id);
        self.events.push_back(event);
        Ok(None)
    }

    fn protocol(&self, detail: String) -> Error {
        Error::Protocol {
            what: format!("stream of flow {}", self.flow),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: Epoch = Epoch(0x1f);

    fn id(epoch: Epoch, seq: u64) -> EventId {
        EventId { epoch, seq }
    }

    fn snapshot_frame(id: EventId, nodes: &[&str]) -> String {
        let nodes: Vec<String> = nodes
            .iter()
            .map(|n| format!(r#"{{"id":"{n}","flowId":"f","label":"{n}","status":"running"}}"#))
            .collect();
        format!(
            "event: snapshot\nid: {id}\ndata: {{\"type\":\"snapshot\",\"flow\":{{\"id\":\"f\",\"status\":\"running\",\"startedAt\":0}},\"nodes\":[{}],\"relationships\":[]}}\n\n",
            nodes.join(",")
        )
    }

    fn delete_frame(id: EventId, node: &str) -> String {
        format!(
            "event: delete-nodes\nid: {id}\ndata: {{\"type\":\"delete-nodes\",\"ids\":[\"{node}\"]}}\n\n"
        )
    }

    fn drain(resume: &mut Resume) -> Vec<FlowEvent> {
        std::iter::from_fn(|| resume.poll_event()).collect()
    }

    fn ids(events: &[FlowEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                FlowEvent::Snapshot { id, .. } => Some(format!("snapshot {id}")),
                FlowEvent::Resync { id, reason, .. } => Some(format!("resync {id} {reason:?}")),
                FlowEvent::Message { id, .. } => Some(format!("message {id}")),
                _ => None,
            })
            .collect()
    }

    fn connected(from: Option<EventId>) -> Resume {
        let mut resume = Resume::new("f", from, &FollowOptions::default());
        resume.handle_connected();
        resume
    }

    #[test]
    fn a_fresh_follow_starts_with_a_snapshot_then_changes_in_order() {
        let mut resume = connected(None);
        let stream = format!(
            "retry: 3000\n\n{}event: heartbeat\ndata: {{}}\n\n{}{}",
            snapshot_frame(id(EPOCH, 4), &["a"]),
            delete_frame(id(EPOCH, 5), "a"),
            delete_frame(id(EPOCH, 6), "b"),
        );
        // Any chunking gives the same events.
        for chunk in stream.as_bytes().chunks(7) {
            assert_eq!(resume.handle_bytes(chunk).unwrap(), Next::Read);
        }
        let events = drain(&mut resume);
        assert!(matches!(
            events[0],
            FlowEvent::Connected {
                resuming_after: None
            }
        ));
        assert_eq!(
            ids(&events),
            ["snapshot 1f-4", "message 1f-5", "message 1f-6"]
        );
        assert_eq!(resume.last_event_id(), Some(id(EPOCH, 6)));
    }

    #[test]
    fn an_exact_resume_is_a_reconnection_without_resync() {
        let mut resume = connected(Some(id(EPOCH, 6)));
        assert_eq!(
            resume.handle_disconnect(Disconnect::Ended).unwrap(),
            FollowOptions::DEFAULT_RETRY
        );
        resume.handle_connected();
        let next = resume
            .handle_bytes(delete_frame(id(EPOCH, 7), "x").as_bytes())
            .unwrap();
        assert_eq!(next, Next::Read);
        let events = drain(&mut resume);
        assert!(matches!(
            events[2],
            FlowEvent::Reconnected { resuming_after: Some(after) } if after == id(EPOCH, 6)
        ));
        assert_eq!(ids(&events), ["message 1f-7"]);
    }

    #[test]
    fn a_snapshot_after_a_position_is_a_resync_with_its_reason() {
        let mut resume = connected(Some(id(EPOCH, 2)));
        for frame in [
            snapshot_frame(id(EPOCH, 40), &["a"]),
            snapshot_frame(id(Epoch(0x20), 0), &[]),
        ] {
            assert_eq!(resume.handle_bytes(frame.as_bytes()).unwrap(), Next::Read);
        }
        assert_eq!(
            ids(&drain(&mut resume)),
            [
                "resync 1f-40 FellBehind { previous: 2 }",
                "resync 20-0 NewEpoch { previous: Epoch(31) }"
            ]
        );
    }

    #[test]
    fn a_skipped_seq_or_foreign_epoch_reconnects_from_the_last_good_position() {
        for bad in [id(EPOCH, 9), id(Epoch(0x20), 8)] {
            let mut resume = connected(Some(id(EPOCH, 7)));
            let chunk = format!(
                "{}{}",
                delete_frame(bad, "a"),
                delete_frame(id(EPOCH, 8), "b")
            );
            let next = resume.handle_bytes(chunk.as_bytes()).unwrap();
            assert_eq!(
                next,
                Next::Reconnect {
                    after: FollowOptions::DEFAULT_RETRY
                }
            );
            let events = drain(&mut resume);
            assert!(matches!(
                &events[1],
                FlowEvent::Disconnected { reason: Disconnect::Discontinuity { after: Some(after), got }, .. }
                    if *after == id(EPOCH, 7) && *got == bad
            ));
            // Nothing after the break was delivered; the resume point is unchanged.
            assert_eq!(events.len(), 2);
            assert_eq!(resume.last_event_id(), Some(id(EPOCH, 7)));
        }
        // Without a position, only a snapshot can come first.
        let mut resume = connected(None);
        let next = resume
            .handle_bytes(delete_frame(id(EPOCH, 1), "a").as_bytes())
            .unwrap();
        assert!(matches!(next, Next::Reconnect { .. }));
    }

    #[test]
    fn waits_follow_the_server_hint_doubling_per_failure_up_to_the_cap() {
        let options = FollowOptions::default()
            .max_delay(Duration::from_secs(5))
            .retry_first_connection(true);
        let mut resume = Resume::new("f", None, &options);
        let refused =
            || Disconnect::Failed(Error::from_refusal("GET s".to_owned(), 503, None, b""));
        let waits: Vec<_> = (0..5)
            .map(|_| resume.handle_disconnect(refused()).unwrap().as_millis())
            .collect();
        assert_eq!(waits, [1000, 2000, 4000, 5000, 5000]);
        resume.handle_connected();
        assert_eq!(resume.handle_bytes(b"retry: 250\n\n").unwrap(), Next::Read);
        assert_eq!(
            resume.handle_disconnect(Disconnect::Ended).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            resume.handle_disconnect(refused()).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            resume.handle_disconnect(refused()).unwrap(),
            Duration::from_millis(500)
        );
        let fixed = FollowOptions::default().reconnect_delay(Duration::from_millis(10));
        let mut resume = Resume::new("f", None, &fixed);
        resume.handle_connected();
        assert_eq!(resume.handle_bytes(b"retry: 3000\n\n").unwrap(), Next::Read);
        let idle = Disconnect::Idle {
            after: Duration::from_secs(1),
        };
        assert_eq!(
            resume.handle_disconnect(idle).unwrap(),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn refusals_that_retrying_cannot_fix_end_the_follow() {
        let refusal =
            |status| Disconnect::Failed(Error::from_refusal("GET s".to_owned(), status, None, b""));
        let mut resume = connected(None);
        resume.handle_disconnect(Disconnect::Ended).unwrap();
        // A slow answer is retried like a refused connection.
        let slow = Error::Timeout {
            what: "GET s".to_owned(),
            after: Duration::from_secs(30),
        };
        assert!(resume.handle_disconnect(Disconnect::Failed(slow)).is_ok());
        assert!(matches!(
            resume.handle_disconnect(refusal(401)),
            Err(Error::Unauthorized { .. })
        ));
        // The first connection fails fast unless told otherwise.
        let mut fresh = Resume::new("f", None, &FollowOptions::default());
        assert!(matches!(
            fresh.handle_disconnect(refusal(503)),
            Err(Error::Unavailable { .. })
        ));
    }

    #[test]
    fn frames_that_are_not_flow_messages_end_the_follow() {
        for stream in [
            "event: upsert-nodes\nid: 1f-1\ndata: {\"type\":\"upsert-nodes\"}\n\n",
            "event: upsert-nodes\ndata: {}\n\n",
            "event: delete-nodes\nid: 7\ndata: {\"type\":\"delete-nodes\",\"ids\":[\"a\"]}\n\n",
            "event: upsert-nodes\nid: 1f-1\ndata: {\"type\":\"delete-nodes\",\"ids\":[\"a\"]}\n\n",
        ] {
            let mut resume = connected(None);
            assert!(
                matches!(
                    resume.handle_bytes(stream.as_bytes()),
                    Err(Error::Protocol { .. })
                ),
                "{stream}"
            );
        }
        // Unknown event names are skipped, so a newer server's extra events do no harm.
        let mut resume = connected(None);
        assert_eq!(
            resume
                .handle_bytes(b"event: progress\ndata: {\"x\":1}\n\n")
                .unwrap(),
            Next::Read
        );
    }
}
