//! The adapter's healing and relist decisions, as a sans-I/O state machine.
//!
//! A [`Healer`] wraps the [`Reconciler`] and decides, from events, what the adapter must do to
//! keep the server's copy of its region right: what to send (coalesced changes, a heal diff,
//! the whole region), when to probe the server's head (`HEAD .../snapshot`), when to read its
//! snapshot (`GET .../snapshot`), and when pending deliveries should stop waiting out their
//! backoff. The shell feeds it events and performs the [`Action`]s it drains with
//! [`Healer::poll_action`]; it sleeps until [`Healer::poll_timeout`] and then calls
//! [`Healer::handle_timeout`]. Time is an input: the healer reads no clock.
//!
//! ```text
//!  events in                                   actions out
//!  handle_watch    (listed, changed, relisted)  Send(messages)      queue for delivery
//!  handle_head     (HEAD answered)          ─▶  Probe               HEAD .../snapshot
//!  handle_snapshot (GET answered)               ReadSnapshot        GET  .../snapshot
//!  handle_delivery (POST answered)              RetryNow            cut a delivery backoff short
//!  handle_timeout  (the one timer)              Notice(..)          log / count
//! ```
//!
//! # Decisions
//!
//! - The region node goes out at once; changes are coalesced for the emit interval; a relist
//!   holds its changes until every watched kind is listed, then flushes them (deletes of what
//!   vanished while the watch was blind included). A relist alone reads nothing.
//! - After the first complete list the server's snapshot is read once (the server may hold
//!   stale nodes of this region from before this process). From then on the server's head is
//!   probed every probe interval, and the snapshot is read only when the epoch differs from
//!   the one the region was last reconciled against (seen by a probe or in a POST answer).
//! - A flow the server does not hold (404) gets the whole region as upserts, without a read;
//!   the next epoch seen is then adopted (it is the flow those upserts create or join).
//! - Heals wait while a (re)list is under way, so nothing half-listed is sent or deleted.
//! - Reads after epoch changes in quick succession (several in-memory servers behind one URL)
//!   are spaced out, doubling up to [`MAX_READ_GAP`], and announced.
//! - A read refused (401/403) is announced at most once per [`REFUSAL_LOG_EVERY`] and reported
//!   by [`Healer::read_refused`] until a read succeeds; a heal that needs a read then sends the
//!   whole region instead (it cannot delete what it cannot see).
//! - Any answer after a failed probe or delivery asks the shell to retry deliveries now.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use flow_contract::FlowMessage;

use crate::error::MapError;
use crate::kind::Kind;
use crate::reconcile::{Event, Reconciler};

/// Longest wait between two snapshot reads while the epoch keeps changing.
pub const MAX_READ_GAP: Duration = Duration::from_secs(60);
/// Reads closer together than this (or than twice the current gap) count as the epoch
/// flapping.
pub const FLAP_WINDOW: Duration = Duration::from_secs(30);
/// A refused read is announced at most this often.
pub const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// The healer's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Coalescing window of watched changes.
    pub emit_interval: Duration,
    /// Time between two probes of the server's head (also the retry delay of a failed read).
    pub probe_interval: Duration,
}

/// What `HEAD .../snapshot` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// 200 with the flow's epoch (`Flow-Epoch`; `None` when the server did not say).
    Held {
        /// `Flow-Epoch`.
        epoch: Option<String>,
    },
    /// 404: the server holds no state for the flow.
    Missing,
    /// 401 or 403: the read token was refused.
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// No usable answer (connection refused, timeout, 5xx).
    Failed,
}

/// What `GET .../snapshot` answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Snapshot {
    /// 200: the server's state and its epoch.
    Held {
        /// The `snapshot` message.
        snapshot: Box<FlowMessage>,
        /// `Flow-Epoch`.
        epoch: Option<String>,
    },
    /// 404: the server holds no state for the flow.
    Missing,
    /// 401 or 403: the read token was refused.
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// No usable answer.
    Failed,
}

/// What one POST of a message answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx, with the epoch of the server's state when it said.
    Accepted {
        /// `epoch` of the answer.
        epoch: Option<String>,
    },
    /// Failed in a way a retry can fix (the server may be down).
    Failed,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Action {
    /// Queue these messages for delivery, in order (never a `snapshot`).
    Send(Vec<FlowMessage>),
    /// `HEAD .../snapshot`; answer with [`Healer::handle_head`].
    Probe,
    /// `GET .../snapshot`; answer with [`Healer::handle_snapshot`].
    ReadSnapshot,
    /// The server answers again: retry pending deliveries now instead of after the backoff.
    RetryNow,
    /// Worth a log line or a metric.
    Notice(Notice),
}

/// What happened, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// The server's epoch differs from the one the region was reconciled against.
    EpochChanged {
        /// The epoch reconciled against.
        from: String,
        /// The epoch seen.
        to: String,
    },
    /// The server holds no state for the flow.
    FlowMissing,
    /// The server's copy of the region was repaired.
    Healed {
        /// Messages queued (0: the server was right).
        messages: usize,
        /// `true` when the whole region was sent without a read.
        whole_region: bool,
    },
    /// The epoch keeps changing: reads are now at least this far apart.
    EpochFlapping {
        /// The gap between reads.
        read_gap: Duration,
    },
    /// A read was refused (counted every time; `log` at most once per [`REFUSAL_LOG_EVERY`]).
    ReadRefused {
        /// 401 or 403.
        status: u16,
        /// Whether to log it now.
        log: bool,
        /// Refusals not logged since the last logged one.
        suppressed: u64,
    },
}

/// The epoch the region was last reconciled against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Known {
    /// Nothing yet: the first complete list reads the snapshot.
    Unknown,
    /// The whole region was sent to a server without the flow: the next epoch seen is ours.
    Adopt,
    /// Reconciled against this epoch.
    Epoch(String),
}

/// A heal waiting for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Heal {
    /// Read the snapshot and send the difference.
    Read,
    /// Send the whole region (the server holds nothing).
    Whole,
}

/// The request in flight (one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Probe,
    Read,
}

/// The healing state machine of one region; see the [module docs](self).
#[derive(Debug)]
pub struct Healer {
    reconciler: Reconciler,
    timing: Timing,
    kinds: BTreeSet<Kind>,
    synced: BTreeSet<Kind>,
    listing: BTreeSet<Kind>,
    known: Known,
    heal: Option<Heal>,
    in_flight: Option<Check>,
    next_probe: Option<Instant>,
    read_not_before: Option<Instant>,
    read_gap: Duration,
    last_read: Option<Instant>,
    flush_at: Option<Instant>,
    unreachable: bool,
    refused: Option<u16>,
    refusal_logged: Option<Instant>,
    refusals_suppressed: u64,
    actions: VecDeque<Action>,
}

impl Healer {
    /// A healer for `kinds` (the watched kinds; the region counts as listed when every one
    /// of them completed a list). The region node is queued at once.
    pub fn new(
        reconciler: Reconciler,
        kinds: impl IntoIterator<Item = Kind>,
        timing: Timing,
    ) -> Self {
        let mut healer = Self {
            reconciler,
            timing,
            kinds: kinds.into_iter().collect(),
            synced: BTreeSet::new(),
            listing: BTreeSet::new(),
            known: Known::Unknown,
            heal: None,
            in_flight: None,
            next_probe: None,
            read_not_before: None,
            read_gap: Duration::ZERO,
            last_read: None,
            flush_at: None,
            unreachable: false,
            refused: None,
            refusal_logged: None,
            refusals_suppressed: 0,
            actions: VecDeque::new(),
        };
        healer.flush();
        healer
    }

    /// The reconciler (what is known and sent).
    #[must_use]
    pub const fn reconciler(&self) -> &Reconciler {
        &self.reconciler
    }

    /// Whether every watched kind completed a list and no relist is under way.
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.synced.len() == self.kinds.len() && self.listing.is_empty()
    }

    /// The status of the last refused read, until a read succeeds.
    #[must_use]
    pub const fn read_refused(&self) -> Option<u16> {
        self.refused
    }

    /// The next action to perform, if any. Drain until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let check = if self.in_flight.is_some() || !self.is_synced() {
            None
        } else if self.heal == Some(Heal::Read) {
            // Due now when nothing holds it back.
            self.read_not_before.or(self.next_probe)
        } else {
            self.next_probe
        };
        [self.flush_at, check].into_iter().flatten().min()
    }

    /// Takes one watcher event.
    ///
    /// # Errors
    /// [`MapError`] when the mapper cannot read the object (the state is then unchanged).
    pub fn handle_watch(&mut self, event: Event, now: Instant) -> Result<(), MapError> {
        let (relisted, changed) = match &event {
            Event::InitStarted(kind) => {
                self.listing.insert(*kind);
                (None, false)
            }
            // A relist's changes are flushed when it completes.
            Event::InitObject(_) => (None, false),
            Event::InitDone(kind) => (Some(*kind), false),
            Event::Applied(_) | Event::Deleted(_) => (None, true),
        };
        let result = self.reconciler.handle(event);
        if let Some(kind) = relisted {
            self.listing.remove(&kind);
            self.synced.insert(kind);
            if self.is_synced() {
                self.relisted(now);
            }
        } else if changed && self.flush_at.is_none() {
            self.flush_at = Some(now + self.timing.emit_interval);
        }
        result
    }

    /// `kind` is not served by the cluster (its CRD is not installed): stop waiting for its
    /// list. When it was the last kind to wait for, the region counts as listed now. Objects of
    /// the kind already known stay (a removed CRD deletes its objects first, and the watcher
    /// reports those deletes).
    pub fn handle_unserved(&mut self, kind: Kind, now: Instant) {
        let was_synced = self.is_synced();
        self.kinds.remove(&kind);
        self.listing.remove(&kind);
        self.synced.remove(&kind);
        if !was_synced && self.is_synced() {
            self.relisted(now);
        }
    }

    /// Every kind is listed: flush what the relist changed, then heal if one is owed.
    fn relisted(&mut self, now: Instant) {
        self.flush_at = None;
        if self.heal != Some(Heal::Whole) {
            // A whole-region heal sends everything anyway.
            self.flush();
        }
        if self.known == Known::Unknown && self.heal.is_none() {
            // The first complete list: what does the server hold of this region?
            self.heal = Some(Heal::Read);
        }
        self.next_probe
            .get_or_insert(now + self.timing.probe_interval);
        self.schedule(now);
    }

    /// Takes the answer to a [`Action::Probe`].
    pub fn handle_head(&mut self, head: Head, now: Instant) {
        if self.in_flight == Some(Check::Probe) {
            self.in_flight = None;
        }
        self.next_probe = Some(now + self.timing.probe_interval);
        match head {
            Head::Held { epoch } => {
                self.answered();
                self.refused = None;
                if let Some(epoch) = epoch {
                    self.observe_epoch(epoch);
                }
            }
            Head::Missing => {
                self.answered();
                self.refused = None;
                if self.known != Known::Adopt {
                    // The whole region is on its way already while adopting.
                    self.push_notice(Notice::FlowMissing);
                    self.heal = Some(Heal::Whole);
                }
            }
            Head::Refused { status } => {
                self.answered();
                self.refusal(status, now);
            }
            Head::Failed => self.unreachable = true,
        }
        self.schedule(now);
    }

    /// Takes the answer to a [`Action::ReadSnapshot`].
    pub fn handle_snapshot(&mut self, snapshot: Snapshot, now: Instant) {
        if self.in_flight == Some(Check::Read) {
            self.in_flight = None;
        }
        self.next_probe = Some(now + self.timing.probe_interval);
        match snapshot {
            Snapshot::Held { snapshot, epoch } => {
                self.answered();
                self.refused = None;
                self.spaced_read(now);
                let messages = self.reconciler.heal(&snapshot);
                self.known = epoch.map_or(Known::Adopt, Known::Epoch);
                self.healed(messages, false);
            }
            Snapshot::Missing => {
                self.answered();
                self.refused = None;
                self.push_notice(Notice::FlowMissing);
                self.heal = Some(Heal::Whole);
            }
            Snapshot::Refused { status } => {
                self.answered();
                self.refusal(status, now);
                // Without a read, the whole region is the best repair there is.
                self.heal = Some(Heal::Whole);
            }
            Snapshot::Failed => {
                self.unreachable = true;
                self.read_not_before = Some(now + self.timing.probe_interval);
            }
        }
        self.schedule(now);
    }

    /// Takes the answer to one POST.
    pub fn handle_delivery(&mut self, delivery: Delivery, now: Instant) {
        match delivery {
            Delivery::Accepted { epoch } => {
                self.unreachable = false;
                if let Some(epoch) = epoch {
                    self.observe_epoch(epoch);
                }
            }
            Delivery::Failed => self.unreachable = true,
        }
        self.schedule(now);
    }

    /// Runs what is due at `now`: the coalesced flush, a probe or a read.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.flush_at.is_some_and(|at| at <= now) {
            self.flush_at = None;
            // During a relist the changes wait for the relist to complete.
            if self.listing.is_empty() {
                self.flush();
            }
        }
        self.schedule(now);
    }

    /// The shell stops: flushes the changes still inside the coalescing window (unless a
    /// relist is under way, whose changes are incomplete).
    pub fn drain(&mut self) {
        self.flush_at = None;
        if self.listing.is_empty() {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let messages = self.reconciler.flush();
        if !messages.is_empty() {
            self.actions.push_back(Action::Send(messages));
        }
    }

    /// Starts what is owed and allowed at `now`: a whole-region heal, a read or a probe.
    fn schedule(&mut self, now: Instant) {
        if !self.is_synced() {
            return;
        }
        if self.heal == Some(Heal::Whole) {
            self.heal = None;
            let messages = self.reconciler.full_state();
            self.known = Known::Adopt;
            self.healed(messages, true);
        }
        if self.in_flight.is_some() {
            return;
        }
        if self.heal == Some(Heal::Read) {
            if self.read_not_before.is_none_or(|at| at <= now) {
                self.read_not_before = None;
                self.in_flight = Some(Check::Read);
                self.actions.push_back(Action::ReadSnapshot);
            }
            return;
        }
        if self.next_probe.is_some_and(|at| at <= now) {
            self.in_flight = Some(Check::Probe);
            self.actions.push_back(Action::Probe);
        }
    }

    fn observe_epoch(&mut self, epoch: String) {
        match &self.known {
            // The first complete list reads the snapshot anyway.
            Known::Unknown => {}
            Known::Adopt => self.known = Known::Epoch(epoch),
            Known::Epoch(known) if *known == epoch => {}
            Known::Epoch(known) => {
                if self.heal.is_none() {
                    self.push_notice(Notice::EpochChanged {
                        from: known.clone(),
                        to: epoch,
                    });
                    self.heal = Some(Heal::Read);
                }
            }
        }
    }

    /// A read after an epoch change was answered at `now`: space the next one out when they
    /// come in quick succession.
    fn spaced_read(&mut self, now: Instant) {
        if self.known == Known::Unknown {
            // The first read follows the first list, not an epoch change.
            return;
        }
        let window = FLAP_WINDOW.max(self.read_gap * 2);
        let flapping = self
            .last_read
            .is_some_and(|last| now.saturating_duration_since(last) < window);
        self.last_read = Some(now);
        if flapping {
            self.read_gap = (self.read_gap * 2)
                .max(self.timing.probe_interval)
                .min(MAX_READ_GAP);
            self.push_notice(Notice::EpochFlapping {
                read_gap: self.read_gap,
            });
        } else {
            self.read_gap = Duration::ZERO;
        }
        self.read_not_before = Some(now + self.read_gap);
    }

    fn healed(&mut self, messages: Vec<FlowMessage>, whole_region: bool) {
        self.heal = None;
        self.push_notice(Notice::Healed {
            messages: messages.len(),
            whole_region,
        });
        if !messages.is_empty() {
            self.actions.push_back(Action::Send(messages));
        }
    }

    /// The server answered (whatever it said): deliveries waiting out a backoff may go.
    fn answered(&mut self) {
        if self.unreachable {
            self.unreachable = false;
            self.actions.push_back(Action::RetryNow);
        }
    }

    fn refusal(&mut self, status: u16, now: Instant) {
        self.refused = Some(status);
        let log = self
            .refusal_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= REFUSAL_LOG_EVERY);
        let suppressed = self.refusals_suppressed;
        if log {
            self.refusal_logged = Some(now);
            self.refusals_suppressed = 0;
        } else {
            self.refusals_suppressed += 1;
        }
        self.push_notice(Notice::ReadRefused {
            status,
            log,
            suppressed,
        });
    }

    fn push_notice(&mut self, notice: Notice) {
        self.actions.push_back(Action::Notice(notice));
    }
}
