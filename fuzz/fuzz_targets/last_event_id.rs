//! Fuzzes `Last-Event-ID` parsing and subscribing with arbitrary header values.
//!
//! Invariants: only canonical ids parse (they re-render to the same text); subscribing with
//! any value never panics and always yields the retry hint followed by either an exact replay
//! or a snapshot.

#![no_main]

use std::time::Instant;

use flow_router::{EventId, Router, RouterConfig, Start};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(id) = EventId::parse(text) {
        assert_eq!(id.to_string(), text, "only canonical ids parse");
    }

    let mut router = Router::new(RouterConfig::default(), 0xe0).expect("default config");
    let now = Instant::now();
    for status in ["pending", "running"] {
        let body = format!(
            r#"{{"type":"upsert-nodes","nodes":[{{"id":"a","flowId":"f","label":"a","status":"{status}"}}]}}"#
        );
        router
            .ingest_bytes("f", body.as_bytes(), now)
            .expect("valid body");
    }
    let sub = router
        .subscribe("f", Some(text), now)
        .expect("within bounds");
    assert!(sub.initial.starts_with(b"retry: 3000\n\n"));
    let rest = &sub.initial[b"retry: 3000\n\n".len()..];
    match sub.start {
        Start::Resumed { replayed } => {
            assert!(replayed <= 2);
            assert_eq!(rest.windows(5).filter(|w| w == b"\nid: ").count(), replayed);
        }
        _ => assert!(rest.starts_with(b"event: snapshot\nid: e0-2\n")),
    }
});
