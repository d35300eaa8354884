//! The mapper on arbitrary bytes: whatever JSON arrives, mapping and reconciling never panic,
//! and every message produced is valid under the contract.

#![no_main]

use flow_flux_mapper::{Config, Event, Kind, Reconciler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let config = Config::new("fuzz", "fsn1", "flux-system").expect("valid fuzz config");
    let mut reconciler = Reconciler::new(config);
    let items = match value.get("items").and_then(|items| items.as_array()) {
        Some(items) => items.clone(),
        None => vec![value],
    };
    for kind in Kind::ALL {
        reconciler
            .handle(Event::InitStarted(kind))
            .expect("init events never fail");
    }
    for item in &items {
        let _ = reconciler.handle(Event::InitObject(item.clone()));
    }
    for kind in Kind::ALL {
        reconciler
            .handle(Event::InitDone(kind))
            .expect("init events never fail");
    }
    for message in reconciler.flush() {
        flow_contract::decode(&message.to_json(), "fuzz").expect("mapper output is valid");
    }
    for item in items {
        let _ = reconciler.handle(Event::Deleted(item));
    }
    for message in reconciler.flush() {
        flow_contract::decode(&message.to_json(), "fuzz").expect("mapper output is valid");
    }
});
