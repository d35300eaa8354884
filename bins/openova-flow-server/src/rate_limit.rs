//! Ingest rate limiting (governor's keyed GCRA limiter): messages per flow, and new flows per
//! client address.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::IngestLimit;

/// A keyed limiter: one bucket per flow id. Buckets that have refilled are dropped by
/// [`IngestLimiter::retain_recent`], so memory tracks only recently active flows.
#[derive(Debug)]
pub(crate) struct IngestLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl IngestLimiter {
    pub(crate) fn new(limit: IngestLimit) -> Self {
        let period = Duration::from_secs_f64(1.0 / limit.per_second).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(limit.burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one message from `flow_id`'s bucket, or says how long to wait for one.
    pub(crate) fn check(&self, flow_id: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&flow_id.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the buckets of flows that are back to a full burst.
    pub(crate) fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Buckets held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// New flows per client address: `per_minute` at once, refilled over a minute.
#[derive(Debug)]
pub(crate) struct NewFlowLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    per_minute: NonZeroU32,
}

impl NewFlowLimiter {
    pub(crate) fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            per_minute,
        }
    }

    /// The configured bound.
    pub(crate) fn per_minute(&self) -> NonZeroU32 {
        self.per_minute
    }

    /// Takes one new flow from `client`'s bucket, or says how long to wait for one.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the buckets of clients that are back to a full minute.
    pub(crate) fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_wait_per_flow() {
        let limiter = IngestLimiter::new(
            IngestLimit::new(1.0, NonZeroU32::new(2).expect("literal")).expect("positive"),
        );
        assert_eq!(limiter.check("a"), Ok(()));
        assert_eq!(limiter.check("a"), Ok(()));
        let wait = limiter.check("a").expect_err("burst spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limiter.check("b"), Ok(()), "flows are limited separately");
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn new_flows_are_counted_per_client() {
        let limiter = NewFlowLimiter::new(NonZeroU32::new(2).expect("literal"));
        let (a, b) = (
            "192.0.2.1".parse().expect("literal"),
            "192.0.2.2".parse().expect("literal"),
        );
        assert_eq!(limiter.check(a), Ok(()));
        assert_eq!(limiter.check(a), Ok(()));
        let wait = limiter.check(a).expect_err("two per minute spent");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(limiter.check(b), Ok(()), "clients are limited separately");
    }

    #[test]
    fn refilled_buckets_are_dropped() {
        let limiter = IngestLimiter::new(
            IngestLimit::new(1e9, NonZeroU32::new(1).expect("literal")).expect("positive"),
        );
        for flow in ["a", "b", "c"] {
            assert_eq!(limiter.check(flow), Ok(()));
        }
        // At a billion per second every bucket has refilled by the time we look again.
        let mut len = limiter.len();
        for _ in 0..1000 {
            limiter.retain_recent();
            len = limiter.len();
            if len == 0 {
                break;
            }
        }
        assert_eq!(len, 0);
    }
}
