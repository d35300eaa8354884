//! The bounded replay buffer of one flow: encoded frames in seq order.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::footprint::RING_ENTRY;

/// The last accepted frames of a flow, bounded by a count and a byte budget (given with
/// each push: the router may shrink it when memory is short).
///
/// Seqs are strictly increasing but need not be contiguous (a shared log may skip some).
/// `evicted_through` is the highest seq ever evicted: a reader that has seen less than that
/// has lost frames and must be resynchronised.
#[derive(Debug)]
pub(crate) struct Ring {
    frames: VecDeque<(u64, Bytes)>,
    bytes: usize,
    capacity: usize,
    evicted_through: u64,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            capacity,
            evicted_through: 0,
        }
    }

    /// An empty ring that counts every seq up to `evicted_through` as evicted: a reader that
    /// has seen less is resynchronised (used when a flow is restored from a shared log).
    pub(crate) fn after_gap(capacity: usize, evicted_through: u64) -> Self {
        Self {
            evicted_through,
            ..Self::new(capacity)
        }
    }

    /// Appends a frame, evicting the oldest until the capacity and `budget` (frame bytes)
    /// hold. Returns how many frames were evicted. The caller guarantees `seq` is above every
    /// held seq and the frame fits `budget` on its own.
    pub(crate) fn push(&mut self, seq: u64, frame: Bytes, budget: usize) -> usize {
        debug_assert!(self.frames.back().is_none_or(|(last, _)| *last < seq));
        debug_assert!(frame.len() <= budget);
        self.bytes += frame.len();
        self.frames.push_back((seq, frame));
        let mut evicted = 0;
        while self.frames.len() > self.capacity || self.bytes > budget {
            let Some((old, frame)) = self.frames.pop_front() else {
                break;
            };
            self.bytes -= frame.len();
            self.evicted_through = old;
            evicted += 1;
        }
        evicted
    }

    /// The first frame with a seq above `after`.
    pub(crate) fn next_after(&self, after: u64) -> Option<&(u64, Bytes)> {
        let first = self.frames.front()?.0;
        let wanted = after.checked_add(1)?;
        // Fast path for contiguous seqs: the index is the distance from the first seq.
        let guess = usize::try_from(wanted.saturating_sub(first)).unwrap_or(usize::MAX);
        match self.frames.get(guess) {
            Some(entry) if entry.0 == wanted => Some(entry),
            _ => {
                let at = self.frames.partition_point(|(seq, _)| *seq <= after);
                self.frames.get(at)
            }
        }
    }

    /// Every frame with a seq above `after`, oldest first.
    pub(crate) fn iter_after(&self, after: u64) -> impl Iterator<Item = &Bytes> {
        let at = self.frames.partition_point(|(seq, _)| *seq <= after);
        self.frames.range(at..).map(|(_, frame)| frame)
    }

    /// True when a reader that has seen everything up to `seen` missed an evicted frame.
    pub(crate) fn lost_after(&self, seen: u64) -> bool {
        self.evicted_through > seen
    }

    /// The frames and frame bytes held after [`push`](Self::push) of a frame of `len` bytes
    /// with `budget`, without pushing.
    pub(crate) fn after_push(&self, len: usize, budget: usize) -> (usize, usize) {
        let (mut frames, mut bytes) = (self.frames.len() + 1, self.bytes + len);
        for (_, old) in &self.frames {
            if frames <= self.capacity && bytes <= budget {
                break;
            }
            frames -= 1;
            bytes -= old.len();
        }
        (frames, bytes)
    }

    /// What the ring costs against the memory budgets: its frame bytes plus a fixed cost per
    /// frame ([`RING_ENTRY`]).
    pub(crate) fn charge(&self) -> usize {
        Self::charge_of(self.frames.len(), self.bytes)
    }

    /// The charge of `frames` frames of `bytes` bytes in all.
    pub(crate) fn charge_of(frames: usize, bytes: usize) -> usize {
        bytes + frames * RING_ENTRY
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    fn seqs(ring: &Ring) -> Vec<u64> {
        ring.frames.iter().map(|(seq, _)| *seq).collect()
    }

    #[test]
    fn wraps_at_capacity() {
        let mut ring = Ring::new(3);
        let evicted: Vec<usize> = (1..=5).map(|seq| ring.push(seq, frame(10), 1000)).collect();
        assert_eq!(evicted, [0, 0, 0, 1, 1]);
        assert_eq!(seqs(&ring), [3, 4, 5]);
        assert_eq!(ring.bytes(), 30);
        assert!(ring.lost_after(1));
        assert!(ring.lost_after(0));
        assert!(!ring.lost_after(2));
        assert_eq!(ring.next_after(2).map(|e| e.0), Some(3));
        assert_eq!(ring.next_after(4).map(|e| e.0), Some(5));
        assert_eq!(ring.next_after(5).map(|e| e.0), None);
        assert_eq!(ring.iter_after(3).count(), 2);
    }

    #[test]
    fn evicts_to_the_byte_budget() {
        let mut ring = Ring::new(100);
        ring.push(1, frame(10), 25);
        ring.push(2, frame(10), 25);
        assert_eq!(ring.after_push(20, 25), (1, 20));
        assert_eq!(ring.push(3, frame(20), 25), 2);
        assert_eq!(seqs(&ring), [3]);
        assert_eq!(ring.bytes(), 20);
        assert_eq!(ring.after_push(5, 25), (2, 25));
        assert_eq!(ring.push(4, frame(5), 25), 0);
        assert_eq!(ring.len(), 2);
        // A smaller budget on a later push (memory is short) trims older frames.
        assert_eq!(ring.after_push(5, 12), (2, 10));
        assert_eq!(ring.push(5, frame(5), 12), 1);
        assert_eq!(seqs(&ring), [4, 5]);
        assert_eq!(ring.charge(), 10 + 2 * RING_ENTRY);
    }

    #[test]
    fn finds_frames_across_seq_gaps() {
        let mut ring = Ring::new(10);
        for seq in [2, 5, 6, 9] {
            ring.push(seq, frame(1), 1000);
        }
        assert_eq!(ring.next_after(0).map(|e| e.0), Some(2));
        assert_eq!(ring.next_after(2).map(|e| e.0), Some(5));
        assert_eq!(ring.next_after(3).map(|e| e.0), Some(5));
        assert_eq!(ring.next_after(6).map(|e| e.0), Some(9));
        assert_eq!(ring.next_after(7).map(|e| e.0), Some(9));
        assert_eq!(ring.next_after(9).map(|e| e.0), None);
        assert_eq!(ring.next_after(u64::MAX).map(|e| e.0), None);
        assert!(!ring.lost_after(0));
    }
}
