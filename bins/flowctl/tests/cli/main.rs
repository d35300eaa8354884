//! `flowctl` against a real `openova-flow-server` process.
//!
//! The server binary is `$OPENOVA_FLOW_SERVER_BIN`, else `openova-flow-server` beside the
//! `flowctl` binary under test (build it first: `cargo build -p openova-flow-server`, or run
//! `cargo test --workspace`, which builds every binary before running any test).

mod critical_path;
mod harness;
mod post;
mod snapshot;
mod tail;
