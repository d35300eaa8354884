//! One error enum per operation. Lag and resets are outcomes, not errors.

use flow_contract::{ContractError, FlowIdError};

/// Why a [`RouterConfig`](crate::RouterConfig) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A bound that must be positive is zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The field name.
        field: &'static str,
    },
}

/// Why a message was not accepted. The flow's state is unchanged.
///
/// Shells map [`IngestError::is_overload`] errors to 429/503 and the rest to 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The flow id breaks the flow-id rule.
    #[error("invalid flow id")]
    FlowId(#[source] FlowIdError),
    /// The message breaks the contract.
    #[error("invalid message")]
    Contract(#[source] ContractError),
    /// The flow does not exist yet and [`max_flows`](crate::RouterConfig::max_flows) are held.
    #[error("too many flows (limit {limit})")]
    TooManyFlows {
        /// The configured limit.
        limit: usize,
    },
    /// The encoded frame is larger than the flow's replay share
    /// ([`RouterConfig::flow_share`](crate::RouterConfig::flow_share)).
    #[error(
        "message frame is {len} bytes; a flow's replay ring holds at most {budget} bytes (half its byte budget)"
    )]
    TooLarge {
        /// Size of the encoded frame, in bytes.
        len: usize,
        /// The replay share: half the configured per-flow budget.
        budget: usize,
    },
    /// Applying the message would grow the flow's folded state beyond its share of the
    /// per-flow budget ([`RouterConfig::flow_share`](crate::RouterConfig::flow_share)).
    #[error(
        "flow state would take {bytes} bytes; a flow's state may take at most {limit} bytes (half its byte budget)"
    )]
    FlowMemoryFull {
        /// What the state would take, in bytes (as the engine estimates it).
        bytes: usize,
        /// The state share: half the configured per-flow budget.
        limit: usize,
    },
    /// Every flow together would pass
    /// [`max_memory_bytes`](crate::RouterConfig::max_memory_bytes) and evicting every idle
    /// flow (and the flow's own older replay frames) would not make room.
    #[error(
        "flows hold {in_use} bytes; {needed} more would pass the limit of {limit} bytes, and no idle flow is left to evict"
    )]
    MemoryFull {
        /// Bytes held by every flow now.
        in_use: usize,
        /// Bytes the message needs.
        needed: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Applying the message would grow the flow beyond
    /// [`max_state_items`](crate::RouterConfig::max_state_items).
    #[error("flow state would hold {items} nodes and relationships (limit {limit})")]
    StateFull {
        /// Items the state would hold.
        items: usize,
        /// The configured limit.
        limit: usize,
    },
    /// [`Router::apply_ordered`](crate::Router::apply_ordered) got a seq at or below the
    /// flow's current seq (a duplicate or reordered delivery from the log).
    #[error("seq {seq} is not after the flow's current seq {current}")]
    Stale {
        /// The seq offered.
        seq: u64,
        /// The flow's current seq.
        current: u64,
    },
}

impl IngestError {
    /// True for errors caused by a capacity bound (retrying later or elsewhere may succeed):
    /// [`TooManyFlows`](Self::TooManyFlows), [`StateFull`](Self::StateFull),
    /// [`FlowMemoryFull`](Self::FlowMemoryFull) and [`MemoryFull`](Self::MemoryFull).
    #[must_use]
    pub fn is_overload(&self) -> bool {
        matches!(
            self,
            Self::TooManyFlows { .. }
                | Self::StateFull { .. }
                | Self::FlowMemoryFull { .. }
                | Self::MemoryFull { .. }
        )
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The flow id breaks the flow-id rule.
    #[error("invalid flow id")]
    FlowId(#[source] FlowIdError),
    /// [`max_subscribers`](crate::RouterConfig::max_subscribers) are live.
    #[error("too many subscribers (limit {limit})")]
    TooManySubscribers {
        /// The configured limit.
        limit: usize,
    },
    /// The flow has no state yet and [`max_waiters`](crate::RouterConfig::max_waiters)
    /// subscriptions already wait for flows without state.
    #[error("too many subscriptions waiting for flows without state (limit {limit})")]
    TooManyWaiters {
        /// The configured limit.
        limit: usize,
    },
}
