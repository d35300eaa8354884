//! The totals every flow counts against: bytes, flows, subscribers, waiters and epochs.
//!
//! A [`Router`](crate::Router) alone owns its ledger; the shards of a
//! [`SharedRouter`](crate::SharedRouter) share one, so each bound holds for all flows together
//! while every shard has a lock of its own. Growth is reserved with a compare-and-swap against
//! the bound, so concurrent shards never take the total past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// The sum of every flow's `charged` bytes (with room reserved by a write in progress).
    bytes: AtomicUsize,
    flows: AtomicUsize,
    subscribers: AtomicUsize,
    waiters: AtomicUsize,
    /// Epochs issued so far: the n-th creation gets the seed plus n.
    epochs: AtomicU64,
}

/// Adds one to `count` unless it is at `limit`; whether it did.
fn take(count: &AtomicUsize, limit: usize) -> bool {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

impl Ledger {
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// Adds `bytes` unless the total would pass `limit`; whether it did.
    pub(crate) fn reserve(&self, bytes: usize, limit: usize) -> bool {
        bytes == 0
            || self
                .bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |total| {
                    total.checked_add(bytes).filter(|after| *after <= limit)
                })
                .is_ok()
    }

    /// Moves the total by `after - before` (a flow's charge changed from `before` to
    /// `after`, within room already reserved when it grew).
    pub(crate) fn recharge(&self, before: usize, after: usize) {
        if after >= before {
            self.bytes.fetch_add(after - before, Ordering::AcqRel);
        } else {
            self.release(before - after);
        }
    }

    pub(crate) fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    pub(crate) fn flows(&self) -> usize {
        self.flows.load(Ordering::Acquire)
    }

    /// One more flow unless `limit` flows are held; the seat gives it back unless kept.
    pub(crate) fn take_flow(self: &Arc<Self>, limit: usize) -> Option<FlowSeat> {
        take(&self.flows, limit).then(|| FlowSeat(Some(Arc::clone(self))))
    }

    /// `count` flows were removed.
    pub(crate) fn flows_removed(&self, count: usize) {
        self.flows.fetch_sub(count, Ordering::AcqRel);
    }

    pub(crate) fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }

    /// A subscriber's seat unless `limit` are taken.
    pub(crate) fn take_subscriber(self: &Arc<Self>, limit: usize) -> Option<SubscriberSeat> {
        take(&self.subscribers, limit).then(|| SubscriberSeat(Arc::clone(self)))
    }

    pub(crate) fn waiters(&self) -> usize {
        self.waiters.load(Ordering::Acquire)
    }

    /// A waiter's seat unless `limit` are taken.
    pub(crate) fn take_waiter(self: &Arc<Self>, limit: usize) -> Option<WaiterSeat> {
        take(&self.waiters, limit).then(|| WaiterSeat(Arc::clone(self)))
    }

    /// Epochs issued so far.
    pub(crate) fn epochs(&self) -> u64 {
        self.epochs.load(Ordering::Acquire)
    }

    /// One more epoch issued.
    pub(crate) fn issue_epoch(&self) {
        self.epochs.fetch_add(1, Ordering::AcqRel);
    }
}

/// One live subscription in the ledger's count, given back on drop.
#[derive(Debug)]
pub(crate) struct SubscriberSeat(Arc<Ledger>);

impl Drop for SubscriberSeat {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One waiting subscription in the ledger's count, given back on drop.
#[derive(Debug)]
pub(crate) struct WaiterSeat(Arc<Ledger>);

impl Drop for WaiterSeat {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A flow reserved in the ledger's count: given back on drop unless [`kept`](Self::keep)
/// (the flow was created, and its removal gives it back).
#[derive(Debug)]
pub(crate) struct FlowSeat(Option<Arc<Ledger>>);

impl FlowSeat {
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for FlowSeat {
    fn drop(&mut self) {
        if let Some(ledger) = &self.0 {
            ledger.flows_removed(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stop_at_their_limit_and_seats_give_back() {
        let ledger = Arc::new(Ledger::default());
        let a = ledger.take_subscriber(2).expect("room for two");
        let b = ledger.take_subscriber(2).expect("room for two");
        assert!(ledger.take_subscriber(2).is_none());
        drop(a);
        assert_eq!(ledger.subscribers(), 1);
        let waiter = ledger.take_waiter(1).expect("room for one");
        assert!(ledger.take_waiter(1).is_none());
        drop((b, waiter));
        assert_eq!((ledger.subscribers(), ledger.waiters()), (0, 0));

        let kept = ledger.take_flow(2).expect("room");
        kept.keep();
        let dropped = ledger.take_flow(2).expect("room");
        assert!(ledger.take_flow(2).is_none());
        drop(dropped);
        assert_eq!(ledger.flows(), 1);
    }

    #[test]
    fn bytes_are_reserved_within_the_limit() {
        let ledger = Ledger::default();
        assert!(ledger.reserve(60, 100));
        assert!(!ledger.reserve(41, 100));
        assert!(ledger.reserve(40, 100));
        assert!(ledger.reserve(0, 100));
        ledger.recharge(40, 10);
        assert_eq!(ledger.bytes(), 70);
        ledger.recharge(10, 25);
        ledger.release(5);
        assert_eq!(ledger.bytes(), 80);
    }

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        let ledger = Ledger::default();
        let granted = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        if ledger.reserve(7, 1000) {
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(granted.load(Ordering::Relaxed), 1000 / 7);
        assert_eq!(ledger.bytes(), 1000 / 7 * 7);
    }
}
