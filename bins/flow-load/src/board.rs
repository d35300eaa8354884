//! The scoreboard shared by every task of a run: live counters for progress, per-flow seqs, the
//! moment the final seqs are known, and errors by kind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;
use tokio::time::Instant;

/// Shared run state.
#[derive(Debug)]
pub(crate) struct Board {
    /// POSTs answered 200.
    pub(crate) accepted: AtomicU64,
    /// POSTs that failed.
    pub(crate) failed: AtomicU64,
    /// Event frames received by all subscribers.
    pub(crate) frames: AtomicU64,
    /// Subscribers with an open stream right now.
    pub(crate) open_streams: AtomicUsize,
    /// Streams opened so far (first connections plus churn reconnects).
    pub(crate) streams_opened: AtomicU64,
    max_seq: Vec<AtomicU64>,
    final_seq: Vec<AtomicU64>,
    finals: watch::Sender<bool>,
    drain_deadline: OnceLock<Instant>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// `final_seq` value while the final seq is not known yet.
const UNKNOWN: u64 = u64::MAX;

impl Board {
    /// A board for `flows` flows.
    pub(crate) fn new(flows: usize) -> Self {
        Self {
            accepted: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            open_streams: AtomicUsize::new(0),
            streams_opened: AtomicU64::new(0),
            max_seq: (0..flows).map(|_| AtomicU64::new(0)).collect(),
            final_seq: (0..flows).map(|_| AtomicU64::new(UNKNOWN)).collect(),
            finals: watch::channel(false).0,
            drain_deadline: OnceLock::new(),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records a seq the server assigned (or the baseline produced) for `flow`.
    pub(crate) fn saw_seq(&self, flow: usize, seq: u64) {
        self.max_seq[flow].fetch_max(seq, Ordering::Relaxed);
    }

    /// Publishing is over: the highest seq of each flow becomes its final seq, and subscribers
    /// have until `drain_deadline` to receive it.
    pub(crate) fn publish_finals(&self, drain_deadline: Instant) {
        for (max, fin) in self.max_seq.iter().zip(&self.final_seq) {
            fin.store(max.load(Ordering::SeqCst), Ordering::SeqCst);
        }
        // Set once per run; a second call keeps the first deadline.
        let _ = self.drain_deadline.set(drain_deadline);
        self.finals.send_replace(true);
    }

    /// The final seq of `flow`, once publishing is over.
    pub(crate) fn final_seq(&self, flow: usize) -> Option<u64> {
        Some(self.final_seq[flow].load(Ordering::SeqCst)).filter(|s| *s != UNKNOWN)
    }

    /// The highest seq seen so far for `flow`.
    pub(crate) fn max_seq(&self, flow: usize) -> u64 {
        self.max_seq[flow].load(Ordering::SeqCst)
    }

    /// When subscribers must give up waiting for the final seq.
    pub(crate) fn drain_deadline(&self) -> Option<Instant> {
        self.drain_deadline.get().copied()
    }

    /// A receiver that changes when the final seqs are published.
    pub(crate) fn finals(&self) -> watch::Receiver<bool> {
        self.finals.subscribe()
    }

    /// Counts one error of `kind`.
    pub(crate) fn error(&self, kind: impl Into<String>) {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *errors.entry(kind.into()).or_default() += 1;
    }

    /// Total errors so far.
    pub(crate) fn error_count(&self) -> u64 {
        self.errors().values().sum()
    }

    /// Errors by kind.
    pub(crate) fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finals_follow_the_highest_seq() {
        let board = Board::new(2);
        let rx = board.finals();
        board.saw_seq(0, 5);
        board.saw_seq(0, 3);
        assert_eq!(board.final_seq(0), None);
        board.publish_finals(Instant::now());
        assert!(*rx.borrow());
        assert_eq!(board.final_seq(0), Some(5));
        assert_eq!(board.final_seq(1), Some(0));
        board.error("x");
        board.error("x");
        assert_eq!(board.error_count(), 2);
    }
}
