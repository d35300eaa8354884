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
    /// The encoded frame is larger than the per-flow byte budget.
    #[error("message frame is {len} bytes; the per-flow budget is {budget} bytes")]
    TooLarge {
        /// Size of the encoded frame, in bytes.
        len: usize,
        /// The configured budget.
        budget: usize,
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
    /// [`TooManyFlows`](Self::TooManyFlows) and [`StateFull`](Self::StateFull).
    #[must_use]
    pub fn is_overload(&self) -> bool {
        matches!(self, Self::TooManyFlows { .. } | Self::StateFull { .. })
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
