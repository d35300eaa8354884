//! The engine's integration tests, one binary with modules, on a simulated clock.

// Helpers outside `#[test]` functions panic to report a failure, like the tests themselves.
#![allow(clippy::unwrap_used)]

#[path = "router/sim.rs"]
mod sim;

#[path = "router/example.rs"]
mod example;
#[path = "router/golden.rs"]
mod golden;
#[path = "router/lifecycle.rs"]
mod lifecycle;
#[path = "router/memory.rs"]
mod memory;
#[path = "router/overflow.rs"]
mod overflow;
#[path = "router/props.rs"]
mod props;
#[path = "router/restore.rs"]
mod restore;
#[path = "router/shards.rs"]
mod shards;
#[path = "router/stream.rs"]
mod stream;
#[path = "router/timeline.rs"]
mod timeline;
