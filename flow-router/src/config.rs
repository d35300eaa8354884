//! The bounds of a [`Router`](crate::Router), with documented defaults.

use std::time::Duration;

use flow_contract::Limits;

use crate::error::ConfigError;

/// Every bound the engine enforces. [`RouterConfig::default`] holds the documented defaults;
/// set fields on it (the struct is `#[non_exhaustive]`, so new bounds can be added).
///
/// ```
/// use std::time::Duration;
/// use flow_router::RouterConfig;
///
/// let mut config = RouterConfig::default();
/// config.ring_capacity = 1024;
/// config.idle_timeout = Duration::from_secs(600);
/// assert!(config.validate().is_ok());
/// config.max_flows = 0;
/// assert_eq!(config.validate().unwrap_err().to_string(), "max_flows must be greater than zero");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterConfig {
    /// Most messages kept per flow for replay. Default 4096.
    pub ring_capacity: usize,
    /// Most bytes one flow may take, split evenly ([`flow_share`](Self::flow_share)): half for
    /// the replay ring (encoded frames; a single message whose frame is larger than that half
    /// is [`TooLarge`](crate::IngestError::TooLarge)), half for the folded state (a message
    /// growing it beyond is [`FlowMemoryFull`](crate::IngestError::FlowMemoryFull)).
    /// Default 32 MiB.
    pub flow_byte_budget: usize,
    /// Most bytes all flows together may take (the sum of every flow's ring, state and
    /// fixed costs, as the engine counts them). At the bound, idle flows (no subscriber) are
    /// evicted, oldest activity first; then the writing flow's older replay frames give way;
    /// then the message is [`MemoryFull`](crate::IngestError::MemoryFull). Default 256 MiB.
    pub max_memory_bytes: usize,
    /// Most flows held at once (flows something was ingested into; subscribing never creates
    /// one). Default 1024.
    pub max_flows: usize,
    /// Most live subscriptions across all flows, waiting ones included. Default 10,000.
    pub max_subscribers: usize,
    /// Most subscriptions waiting for a flow that has no state yet, across all flow ids.
    /// Default 1024.
    pub max_waiters: usize,
    /// Most nodes plus relationships in one flow's folded state. Default 50,000.
    pub max_state_items: usize,
    /// A flow with no subscriber and no activity for this long is evicted. Default 1 hour.
    pub idle_timeout: Duration,
    /// The reconnection delay sent to clients in the `retry:` field. Default 3 s.
    pub retry: Duration,
    /// Size bounds for every message (see [`flow_contract::Limits`]).
    pub limits: Limits,
}

impl RouterConfig {
    /// The documented defaults.
    pub const DEFAULT: Self = Self {
        ring_capacity: 4096,
        flow_byte_budget: 32 * 1024 * 1024,
        max_memory_bytes: 256 * 1024 * 1024,
        max_flows: 1024,
        max_subscribers: 10_000,
        max_waiters: 1024,
        max_state_items: 50_000,
        idle_timeout: Duration::from_secs(3600),
        retry: Duration::from_secs(3),
        limits: Limits::DEFAULT,
    };

    /// Each half of [`flow_byte_budget`](Self::flow_byte_budget): the most bytes of one flow's
    /// replay ring, and the most bytes of its folded state.
    #[must_use]
    pub fn flow_share(&self) -> usize {
        self.flow_byte_budget / 2
    }

    /// Checks that every bound is usable.
    ///
    /// # Errors
    /// [`ConfigError::Zero`] naming the first bound that is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = [
            ("ring_capacity", self.ring_capacity == 0),
            ("flow_byte_budget", self.flow_byte_budget == 0),
            ("max_memory_bytes", self.max_memory_bytes == 0),
            ("max_flows", self.max_flows == 0),
            ("max_state_items", self.max_state_items == 0),
            ("idle_timeout", self.idle_timeout.is_zero()),
        ];
        match zero.into_iter().find(|(_, is_zero)| *is_zero) {
            Some((field, _)) => Err(ConfigError::Zero { field }),
            None => Ok(()),
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}
