//! The mapper's integration tests: golden cases, CRD-schema checks of the fixtures, the
//! reconciler, the healing state machine, and properties.

// Test helpers unwrap: a panic in a test is the failure report.
#![allow(clippy::unwrap_used)]

mod golden;
mod heal;
mod props;
mod reconcile;
mod schema;
mod times;

use std::path::PathBuf;

use flow_contract::FlowMessage;
use flow_flux_mapper::Config;

/// The flow every test maps into.
const FLOW: &str = "golden";

/// The region every test maps into.
const REGION: &str = "fsn1";

fn config() -> Config {
    Config::new(FLOW, REGION, "flux-system").expect("valid test config")
}

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Asserts that `message` is valid under the contract with default limits, by encoding it and
/// decoding it back strictly.
fn assert_valid(message: &FlowMessage) {
    let bytes = message.to_json();
    match flow_contract::decode(&bytes, FLOW) {
        Ok(decoded) => assert_eq!(&decoded, message, "round trip changed the message"),
        Err(err) => panic!(
            "invalid message: {err}\n{}",
            String::from_utf8_lossy(&bytes)
        ),
    }
    assert!(
        !matches!(message, FlowMessage::Snapshot { .. }),
        "the mapper must never emit a snapshot"
    );
}
