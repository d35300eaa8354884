//! Per-subscriber delivery accounting from the seqs of the frames it saw.
//!
//! A subscription starts at the seq of its first frame (a snapshot, or the seq before the first
//! replayed event when resuming). Every later event should be the next seq. A gap announced by a
//! snapshot (a resync) is covered, not lost; a silent gap is lost; a seq not above the last is a
//! duplicate. At the end, events between the last seen seq and the flow's final seq are lost.

use crate::scanner::{Frame, FrameKind};

/// Delivery counters of one subscriber (over all its sessions).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    start: Option<u64>,
    last: Option<u64>,
    closed_expected: u64,
    /// Event frames received in order (or after a silent gap).
    pub(crate) delivered: u64,
    /// Seqs skipped without a snapshot.
    pub(crate) lost: u64,
    /// Snapshots received after the first one of a session.
    pub(crate) resyncs: u64,
    /// Seqs covered by those resync snapshots.
    pub(crate) resync_covered: u64,
    /// Frames whose seq was not above the last one.
    pub(crate) duplicates: u64,
    /// Heartbeat frames.
    pub(crate) heartbeats: u64,
}

/// The settled figures of a finished subscriber.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Events the subscriber should have received.
    pub(crate) expected: u64,
    /// Events received.
    pub(crate) delivered: u64,
    /// Events neither received nor covered by a resync.
    pub(crate) lost: u64,
    /// Resync snapshots.
    pub(crate) resyncs: u64,
    /// Events covered by resyncs.
    pub(crate) resync_covered: u64,
    /// Duplicate or out-of-order frames.
    pub(crate) duplicates: u64,
    /// Heartbeats.
    pub(crate) heartbeats: u64,
}

impl Tally {
    /// The last seq seen, if any.
    pub(crate) fn last(&self) -> Option<u64> {
        self.last
    }

    /// True once the first frame of the current session arrived.
    pub(crate) fn started(&self) -> bool {
        self.start.is_some()
    }

    /// Accounts one frame; returns true if it was an event delivered in order.
    pub(crate) fn frame(&mut self, frame: Frame) -> bool {
        match (frame.kind, frame.seq) {
            (FrameKind::Heartbeat, _) => {
                self.heartbeats += 1;
                false
            }
            (FrameKind::Snapshot, Some(seq)) => {
                match self.last {
                    None => self.start = Some(seq),
                    Some(last) => {
                        self.resyncs += 1;
                        self.resync_covered += seq.saturating_sub(last);
                    }
                }
                self.last = Some(self.last.map_or(seq, |l| l.max(seq)));
                false
            }
            (FrameKind::Event, Some(seq)) => match self.last {
                None => {
                    self.start = Some(seq.saturating_sub(1));
                    self.last = Some(seq);
                    self.delivered += 1;
                    true
                }
                Some(last) if seq > last => {
                    self.lost += seq - last - 1;
                    self.last = Some(seq);
                    self.delivered += 1;
                    seq == last + 1
                }
                Some(_) => {
                    self.duplicates += 1;
                    false
                }
            },
            _ => false,
        }
    }

    /// Ends a session the subscriber closed on purpose before the end (churn): what it had not
    /// received yet is not expected of it. The next session starts afresh from its snapshot.
    pub(crate) fn close_session(&mut self) {
        if let (Some(start), Some(last)) = (self.start, self.last) {
            self.closed_expected += last - start;
        }
        self.start = None;
        self.last = None;
    }

    /// Settles against the flow's final seq.
    pub(crate) fn settle(&self, final_seq: u64) -> Settled {
        let (expected_open, tail) = match (self.start, self.last) {
            (Some(start), Some(last)) => (
                final_seq.saturating_sub(start),
                final_seq.saturating_sub(last),
            ),
            _ => (0, 0),
        };
        Settled {
            expected: self.closed_expected + expected_open,
            delivered: self.delivered,
            lost: self.lost + tail,
            resyncs: self.resyncs,
            resync_covered: self.resync_covered,
            duplicates: self.duplicates,
            heartbeats: self.heartbeats,
        }
    }
}

impl std::ops::AddAssign for Settled {
    fn add_assign(&mut self, other: Self) {
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.resyncs += other.resyncs;
        self.resync_covered += other.resync_covered;
        self.duplicates += other.duplicates;
        self.heartbeats += other.heartbeats;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: FrameKind, seq: u64) -> Frame {
        Frame {
            kind,
            seq: Some(seq),
            published_at: None,
        }
    }

    #[test]
    fn contiguous_stream_settles_without_loss() {
        let mut t = Tally::default();
        t.frame(f(FrameKind::Snapshot, 10));
        for seq in 11..=20 {
            assert!(t.frame(f(FrameKind::Event, seq)));
        }
        let s = t.settle(20);
        assert_eq!((s.expected, s.delivered, s.lost), (10, 10, 0));
    }

    #[test]
    fn silent_gap_and_missing_tail_are_lost() {
        let mut t = Tally::default();
        t.frame(f(FrameKind::Snapshot, 0));
        t.frame(f(FrameKind::Event, 1));
        assert!(!t.frame(f(FrameKind::Event, 4)));
        let s = t.settle(6);
        assert_eq!((s.expected, s.delivered, s.lost), (6, 2, 4));
    }

    #[test]
    fn resync_snapshot_covers_the_gap() {
        let mut t = Tally::default();
        t.frame(f(FrameKind::Snapshot, 0));
        t.frame(f(FrameKind::Event, 1));
        t.frame(f(FrameKind::Snapshot, 50));
        t.frame(f(FrameKind::Event, 51));
        let s = t.settle(51);
        assert_eq!(
            (s.expected, s.delivered, s.lost, s.resyncs, s.resync_covered),
            (51, 2, 0, 1, 49)
        );
        assert_eq!(s.delivered + s.resync_covered, s.expected);
    }

    #[test]
    fn duplicates_and_heartbeats_are_counted_apart() {
        let mut t = Tally::default();
        t.frame(f(FrameKind::Snapshot, 3));
        t.frame(f(FrameKind::Event, 4));
        t.frame(f(FrameKind::Event, 4));
        t.frame(Frame {
            kind: FrameKind::Heartbeat,
            seq: None,
            published_at: None,
        });
        let s = t.settle(4);
        assert_eq!((s.duplicates, s.heartbeats, s.lost), (1, 1, 0));
    }

    #[test]
    fn resumed_session_continues_and_closed_session_counts_what_it_saw() {
        let mut t = Tally::default();
        t.frame(f(FrameKind::Snapshot, 0));
        t.frame(f(FrameKind::Event, 1));
        // Resume with Last-Event-ID: replay starts at 2, nothing lost.
        t.frame(f(FrameKind::Event, 2));
        t.close_session();
        // Fresh session: new snapshot at 9.
        t.frame(f(FrameKind::Snapshot, 9));
        t.frame(f(FrameKind::Event, 10));
        let s = t.settle(10);
        assert_eq!((s.expected, s.delivered, s.lost, s.resyncs), (3, 3, 0, 0));
    }

    #[test]
    fn resume_without_snapshot_starts_before_first_event() {
        let mut t = Tally::default();
        t.frame(f(FrameKind::Event, 7));
        assert!(t.started());
        let s = t.settle(8);
        assert_eq!((s.expected, s.delivered, s.lost), (2, 1, 1));
    }
}
