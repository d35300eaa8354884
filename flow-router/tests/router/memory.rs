//! Issue 14: memory bounded in bytes by the engine. A flow's byte budget covers its state as
//! well as its ring; every flow together stays within `max_memory_bytes`: idle flows are
//! evicted first (oldest activity first), then the writing flow's older replay frames give
//! way, then new state is refused. Nothing is dropped silently.

use std::time::Duration;

use flow_router::{IngestError, RouterConfig};

use crate::sim::{Sim, ids, node};

/// What one flow holding one node costs (`a` in a flow with a one-letter id).
fn one_flow() -> usize {
    let mut sim = Sim::with(|_| {});
    sim.ingest("x", &node("x", "a", "running"));
    sim.router.flow("x").unwrap().bytes
}

#[test]
fn a_flows_state_is_bounded_by_half_its_byte_budget() {
    let mut sim = Sim::with(|c| c.flow_byte_budget = 8192);
    let mut accepted = 0;
    let err = loop {
        assert!(accepted < 100, "the state share is reached");
        let body = node("f", &format!("n{accepted}"), "running");
        match sim.router.ingest_bytes("f", body.as_bytes(), sim.now) {
            Ok(_) => accepted += 1,
            Err(err) => break err,
        }
    };
    let IngestError::FlowMemoryFull { bytes, limit } = err else {
        panic!("{err:?}")
    };
    assert_eq!(limit, 4096);
    assert!(bytes > limit);
    assert!(err.is_overload());
    assert!(err.to_string().contains("at most 4096 bytes"), "{err}");
    let info = sim.router.flow("f").unwrap();
    assert_eq!(info.seq, accepted, "the refused message was not applied");
    assert!(
        info.state_bytes <= 4096 && info.ring_bytes <= 4096,
        "{info:?}"
    );

    // A status change does not grow the state: accepted at the bound.
    sim.ingest("f", &node("f", "n0", "failed"));
    // A delete gives its bytes back: the refused node now fits.
    sim.ingest("f", r#"{"type":"delete-nodes","ids":["n1"]}"#);
    sim.ingest("f", &node("f", &format!("n{accepted}"), "running"));
}

#[test]
fn at_the_memory_bound_idle_flows_are_evicted_oldest_activity_first() {
    let one = one_flow();
    let limit = 3 * one + one / 2;
    let mut sim = Sim::with(|c| c.max_memory_bytes = limit);
    for flow in ["a", "b", "c"] {
        sim.ingest(flow, &node(flow, "a", "running"));
        sim.advance(Duration::from_secs(1));
    }
    // `a` is the oldest but followed: never evicted.
    let mut follower = sim.subscribe("a", None);
    sim.ingest("d", &node("d", "a", "running"));
    assert!(sim.router.contains("a") && sim.router.contains("c") && sim.router.contains("d"));
    assert!(!sim.router.contains("b"), "the oldest idle flow made room");
    assert_eq!(sim.router.snapshot("b"), None);
    let stats = sim.router.stats();
    assert_eq!(stats.memory_evictions, 1);
    assert_eq!(stats.evicted_flows, 0, "no idle-timeout eviction");
    assert!(
        stats.memory_bytes <= limit,
        "{} > {limit}",
        stats.memory_bytes
    );
    assert_eq!(stats.memory_limit, limit);

    // Activity counts: `c` is touched by a reader that left, so `d` is now the oldest idle.
    sim.advance(Duration::from_secs(1));
    drop(sim.subscribe("c", None));
    sim.ingest("e", &node("e", "a", "running"));
    assert!(!sim.router.contains("d") && sim.router.contains("c"));
    assert_eq!(sim.router.stats().memory_evictions, 2);

    // The followed flow goes on as before.
    sim.ingest("a", &node("a", "b", "running"));
    let live = sim.drain(&mut follower.cursor);
    assert_eq!(ids(live.text()), ["e0-2"]);
}

#[test]
fn with_nothing_idle_left_new_state_is_refused_and_nothing_is_evicted() {
    let one = one_flow();
    let limit = 2 * one + one / 2;
    let mut sim = Sim::with(|c| c.max_memory_bytes = limit);
    sim.ingest("a", &node("a", "a", "running"));
    sim.ingest("b", &node("b", "a", "running"));
    let mut followers = [sim.subscribe("a", None), sim.subscribe("b", None)];
    let err = sim
        .router
        .ingest_bytes("c", node("c", "a", "running").as_bytes(), sim.now)
        .unwrap_err();
    let IngestError::MemoryFull {
        in_use,
        needed,
        limit: reported,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(reported, limit);
    assert!(in_use + needed > limit && in_use <= limit, "{err}");
    assert!(err.is_overload());
    assert!(!sim.router.contains("c"));
    assert!(sim.router.contains("a") && sim.router.contains("b"));
    assert_eq!(sim.router.stats().memory_evictions, 0);

    // Updates of a followed flow still go through: its own older frames give way, and its
    // follower gets every frame still held, or a resync snapshot; never a silent gap.
    let [a, _] = &mut followers;
    let mut resyncs = 0;
    for i in 0..50 {
        let status = if i % 2 == 0 { "failed" } else { "running" };
        let id = sim.ingest("a", &node("a", "a", status)).id().to_string();
        assert!(sim.router.stats().memory_bytes <= limit);
        if i % 10 == 9 {
            let drained = sim.drain(&mut a.cursor);
            resyncs += drained.resyncs;
            assert_eq!(ids(drained.text()).last(), Some(&id), "up to date");
        }
    }
    assert!(
        resyncs > 0,
        "frames the follower missed came back as a snapshot"
    );
    let info = sim.router.flow("a").unwrap();
    assert!(info.ring_frames < 10, "{info:?}");
    assert_eq!(sim.router.stats().memory_evictions, 0);
}

#[test]
fn bytes_are_given_back_on_delete_and_idle_eviction() {
    let mut sim = Sim::with(|c| c.idle_timeout = Duration::from_secs(60));
    sim.ingest("a", &node("a", "a", "running"));
    sim.ingest("b", &node("b", "a", "running"));
    let both = sim.router.stats().memory_bytes;
    let a = sim.router.flow("a").unwrap().bytes;
    assert!(a > 0 && both > a);
    assert!(sim.router.delete("a"));
    assert_eq!(sim.router.stats().memory_bytes, both - a);
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.router.handle_timeout(sim.now).len(), 1);
    assert_eq!(sim.router.stats().memory_bytes, 0);
}

#[test]
fn the_bound_must_be_positive() {
    let mut config = RouterConfig::default();
    config.max_memory_bytes = 0;
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "max_memory_bytes must be greater than zero"
    );
    assert_eq!(RouterConfig::DEFAULT.max_memory_bytes, 256 << 20);
    assert_eq!(RouterConfig::DEFAULT.flow_share(), 16 << 20);
}
