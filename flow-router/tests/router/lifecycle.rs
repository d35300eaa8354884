//! Subscribe, resume, lag, delete, bounds and eviction on the simulated clock.

use std::time::Duration;

use flow_contract::FlowMessage;
use flow_router::{Epoch, EventId, IngestError, Polled, ResetReason, Start, SubscribeError};

use crate::sim::{Sim, events, ids, node};

#[test]
fn fresh_subscriber_gets_snapshot_then_live_frames() {
    let mut sim = Sim::with(|_| {});
    sim.ingest("f", &node("f", "a", "running"));
    let mut sub = sim.subscribe("f", None);
    assert_eq!(sub.start, Start::Snapshot);
    let initial = std::str::from_utf8(&sub.initial).unwrap().to_owned();
    assert!(initial.starts_with("retry: 3000\n\n"));
    assert_eq!(ids(&initial), ["e0-1"]);
    sim.ingest("f", &node("f", "b", "pending"));
    sim.ingest("f", &node("f", "a", "succeeded"));
    let live = sim.drain(&mut sub.cursor);
    assert_eq!(ids(live.text()), ["e0-2", "e0-3"]);
    assert_eq!(events(live.text()), ["upsert-nodes", "upsert-nodes"]);
    assert_eq!(sub.cursor.position().to_string(), "e0-3");
}

#[test]
fn empty_last_event_id_is_absent() {
    let mut sim = Sim::with(|_| {});
    sim.ingest("f", &node("f", "a", "running"));
    assert_eq!(sim.subscribe("f", Some("")).start, Start::Snapshot);
}

#[test]
fn reading_a_flow_without_state_allocates_nothing() {
    let mut sim = Sim::with(|_| {});
    let mut sub = sim.subscribe("new", None);
    assert_eq!(sub.start, Start::Waiting);
    assert_eq!(
        std::str::from_utf8(&sub.initial).unwrap(),
        "retry: 3000\n\nevent: snapshot\nid: e0-0\ndata: {\"type\":\"snapshot\",\"flow\":{\"id\":\"new\",\"status\":\"pending\",\"startedAt\":0},\"nodes\":[],\"relationships\":[]}\n\n",
        "an empty snapshot at seq 0 of the epoch reserved for the flow"
    );
    let again = sim.subscribe("new", Some("e0-0"));
    assert_eq!(
        (again.start, &again.initial[..]),
        (Start::Resumed { replayed: 0 }, &b"retry: 3000\n\n"[..]),
        "a reconnection from the reserved id resumes"
    );
    drop(again);
    let stats = sim.router.stats();
    assert_eq!((stats.flows, stats.subscribers, stats.waiters), (0, 1, 1));
    assert!(!sim.router.contains("new"), "no flow slot, ring or fold");
    assert!(sim.router.snapshot("new").is_none());
    assert_eq!(sim.router.head("new"), None, "no head before an ingest");
    assert_eq!(sim.router.poll(&mut sub.cursor, sim.now), Polled::Pending);

    sim.ingest("new", &node("new", "a", "running"));
    sim.ingest("new", &node("new", "b", "running"));
    let joined = sim.drain(&mut sub.cursor);
    assert_eq!(
        ids(joined.text()),
        ["e0-1", "e0-2"],
        "every message from seq 1 on"
    );
    assert_eq!(joined.resyncs, 0);
    let stats = sim.router.stats();
    assert_eq!((stats.flows, stats.subscribers, stats.waiters), (1, 1, 0));
    assert_eq!(sim.router.flow("new").unwrap().subscribers, 1);
    assert_eq!(sub.cursor.position().to_string(), "e0-2");
    assert_eq!(
        sim.subscribe("new", Some("e0-0")).start,
        Start::Resumed { replayed: 2 }
    );
}

#[test]
fn waiting_readers_never_deny_writers() {
    let mut sim = Sim::with(|c| {
        c.max_flows = 2;
        c.max_waiters = 3;
    });
    let junk: Vec<_> = (0..3)
        .map(|i| sim.subscribe(&format!("junk{i}"), None))
        .collect();
    assert_eq!(
        sim.router.subscribe("junk3", None, sim.now).unwrap_err(),
        SubscribeError::TooManyWaiters { limit: 3 }
    );
    assert_eq!(sim.router.stats().flows, 0);
    sim.ingest("legit", &node("legit", "a", "running"));
    sim.ingest("other", &node("other", "a", "running"));
    assert_eq!(
        sim.router.stats().flows,
        2,
        "every flow slot went to writers"
    );
    let mut reader = sim.subscribe("legit", None);
    assert_eq!(
        reader.start,
        Start::Snapshot,
        "flows with state take no waiter"
    );
    assert!(sim.drain(&mut reader.cursor).bytes.is_empty());
    drop(junk);
    assert_eq!(sim.router.stats().waiters, 0);
    // Thousands of junk ids, each waited on and dropped, leave no state behind.
    for i in 0..5000 {
        drop(sim.subscribe(&format!("spray{i}"), None));
    }
    let stats = sim.router.stats();
    assert_eq!((stats.flows, stats.subscribers, stats.waiters), (2, 1, 0));
}

#[test]
fn a_waiter_that_falls_behind_before_joining_resyncs() {
    let mut sim = Sim::with(|c| c.ring_capacity = 2);
    let mut sub = sim.subscribe("f", None);
    for id in ["a", "b", "c"] {
        sim.ingest("f", &node("f", id, "running"));
    }
    let joined = sim.drain(&mut sub.cursor);
    assert_eq!(joined.resyncs, 1, "the loss is announced by a snapshot");
    assert_eq!(ids(joined.text()), ["e0-3"]);
    assert_eq!(events(joined.text()), ["snapshot"]);
}

#[test]
fn a_waiter_joining_a_flow_at_another_epoch_resyncs() {
    let mut sim = Sim::with(|_| {});
    let mut sub = sim.subscribe("f", None);
    assert_eq!(sub.cursor.position().to_string(), "e0-0");
    let msg = flow_contract::decode(node("f", "a", "running").as_bytes(), "f").unwrap();
    sim.router
        .apply_ordered("f", Epoch(7), 1, msg, sim.now)
        .unwrap();
    let joined = sim.drain(&mut sub.cursor);
    assert_eq!(
        (ids(joined.text()), joined.resyncs),
        (vec!["7-1".to_owned()], 1),
        "the log decided the epoch: a snapshot announces it"
    );
    assert_eq!(events(joined.text()), ["snapshot"]);
}

#[test]
fn waiters_end_when_their_flow_is_deleted_before_they_join() {
    let mut sim = Sim::with(|_| {});
    let mut early = sim.subscribe("f", None);
    assert!(!sim.router.delete("f"), "no state to delete");
    assert_eq!(sim.router.poll(&mut early.cursor, sim.now), Polled::Closed);

    let mut late = sim.subscribe("f", None);
    sim.ingest("f", &node("f", "a", "running"));
    assert!(sim.router.delete("f"));
    sim.ingest("f", &node("f", "a", "running"));
    assert_eq!(
        sim.router.poll(&mut late.cursor, sim.now),
        Polled::Closed,
        "the incarnation it waited for is gone; the next one starts with a snapshot"
    );
}

#[test]
fn resume_replays_exactly_what_followed() {
    let mut sim = Sim::with(|_| {});
    for i in 0..5 {
        sim.ingest("f", &node("f", &format!("n{i}"), "running"));
    }
    let mut sub = sim.subscribe("f", Some("e0-2"));
    assert_eq!(sub.start, Start::Resumed { replayed: 3 });
    let initial = std::str::from_utf8(&sub.initial).unwrap().to_owned();
    assert!(initial.starts_with("retry: 3000\n\nevent: upsert-nodes\n"));
    assert_eq!(ids(&initial), ["e0-3", "e0-4", "e0-5"]);
    assert_eq!(sim.drain(&mut sub.cursor), Default::default());

    let caught_up = sim.subscribe("f", Some("e0-5"));
    assert_eq!(caught_up.start, Start::Resumed { replayed: 0 });
    assert_eq!(&caught_up.initial[..], b"retry: 3000\n\n");
}

#[test]
fn unresumable_ids_reset_to_a_snapshot() {
    let mut sim = Sim::with(|c| c.ring_capacity = 2);
    for i in 0..4 {
        sim.ingest("f", &node("f", &format!("n{i}"), "running"));
    }
    let cases = [
        ("3", ResetReason::Malformed),
        ("e0-x", ResetReason::Malformed),
        ("E0-3", ResetReason::Malformed),
        ("e1-3", ResetReason::OtherEpoch),
        ("e0-9", ResetReason::Ahead),
        ("e0-1", ResetReason::Evicted),
    ];
    for (id, reason) in cases {
        let sub = sim.subscribe("f", Some(id));
        assert_eq!(sub.start, Start::Reset(reason), "{id}");
        let initial = std::str::from_utf8(&sub.initial).unwrap().to_owned();
        assert_eq!(events(&initial), ["snapshot"], "{id}");
        assert_eq!(ids(&initial), ["e0-4"], "{id}");
    }
    // The oldest id still in the ring resumes.
    assert_eq!(
        sim.subscribe("f", Some("e0-2")).start,
        Start::Resumed { replayed: 2 }
    );
}

#[test]
fn a_lagging_cursor_is_resynchronised_with_a_snapshot() {
    let mut sim = Sim::with(|c| c.ring_capacity = 3);
    let mut sub = sim.subscribe("f", None);
    for i in 0..10 {
        sim.ingest("f", &node("f", &format!("n{}", i % 4), &format!("s{i}")));
    }
    let out = sim.drain(&mut sub.cursor);
    assert_eq!(out.resyncs, 1);
    assert_eq!(events(out.text()), ["snapshot"]);
    assert_eq!(ids(out.text()), ["e0-10"]);
    for status in ["s6", "s7", "s8", "s9"] {
        assert!(out.text().contains(status), "{status}");
    }
    sim.ingest("f", &node("f", "n0", "done"));
    assert_eq!(ids(sim.drain(&mut sub.cursor).text()), ["e0-11"]);
    assert_eq!(sim.router.stats().resyncs, 1);
}

#[test]
fn delete_closes_cursors_and_the_next_ingest_starts_a_new_epoch() {
    let mut sim = Sim::with(|_| {});
    sim.ingest("f", &node("f", "a", "running"));
    let mut sub = sim.subscribe("f", None);
    assert!(sim.router.delete("f"));
    assert!(!sim.router.delete("f"), "idempotent");
    assert!(sim.drain(&mut sub.cursor).closed);
    assert!(sim.router.snapshot("f").is_none());
    assert_eq!(sim.router.head("f"), None);

    let again = sim.ingest("f", &node("f", "b", "running"));
    assert_eq!(
        (again.epoch, again.seq, again.created),
        (Epoch(0xe1), 1, true)
    );
    assert_eq!(sim.router.poll(&mut sub.cursor, sim.now), Polled::Closed);
    let old = sim.subscribe("f", Some("e0-1"));
    assert_eq!(old.start, Start::Reset(ResetReason::OtherEpoch));
    let snapshot = sim.router.snapshot("f").unwrap();
    assert_eq!(
        sim.router.head("f"),
        Some(EventId {
            epoch: Epoch(0xe1),
            seq: 1
        })
    );
    let FlowMessage::Snapshot { nodes, .. } = snapshot.message else {
        unreachable!()
    };
    assert_eq!(nodes.len(), 1, "state before the delete is gone");
}

#[test]
fn synthetic_flow_instance_rolls_up_node_statuses() {
    let mut sim = Sim::with(|_| {});
    sim.ingest(
        "f",
        r#"{"type":"upsert-nodes","nodes":[
            {"id":"a","flowId":"f","label":"a","status":"succeeded","startedAt":20},
            {"id":"b","flowId":"f","label":"b","status":"running","startedAt":10}]}"#,
    );
    let flow = |sim: &Sim| {
        let FlowMessage::Snapshot { flow, .. } = sim.router.snapshot("f").unwrap().message else {
            unreachable!()
        };
        flow
    };
    assert_eq!(
        (flow(&sim).status.as_str(), flow(&sim).started_at),
        ("running", 10)
    );
    sim.ingest("f", &node("f", "c", "failed"));
    assert_eq!(flow(&sim).status, "failed");
    sim.ingest(
        "f",
        r#"{"type":"upsert-flow","flow":{"id":"f","status":"succeeded","startedAt":1}}"#,
    );
    assert_eq!(flow(&sim).status, "succeeded", "a posted instance wins");
}

#[test]
fn bounds_are_typed_errors_and_leave_state_unchanged() {
    let mut sim = Sim::with(|c| {
        c.max_flows = 1;
        c.max_subscribers = 2;
        c.max_state_items = 2;
        c.flow_byte_budget = 1000;
    });
    sim.ingest("f", &node("f", "a", "running"));
    let err = sim
        .router
        .ingest_bytes("g", node("g", "a", "running").as_bytes(), sim.now)
        .unwrap_err();
    assert_eq!(err, IngestError::TooManyFlows { limit: 1 });
    assert!(err.is_overload());
    assert!(!sim.router.contains("g"));

    let three = r#"{"type":"upsert-nodes","nodes":[{"id":"b","flowId":"f","label":"b","status":"x"},{"id":"c","flowId":"f","label":"c","status":"x"}]}"#;
    let err = sim
        .router
        .ingest_bytes("f", three.as_bytes(), sim.now)
        .unwrap_err();
    assert_eq!(err, IngestError::StateFull { items: 3, limit: 2 });

    let big = node("f", &"x".repeat(250), "running");
    let err = sim
        .router
        .ingest_bytes("f", big.as_bytes(), sim.now)
        .unwrap_err();
    assert!(
        matches!(err, IngestError::TooLarge { budget: 500, .. }),
        "{err:?}"
    );
    assert!(!err.is_overload());

    let err = sim.router.ingest_bytes("f", b"{}", sim.now).unwrap_err();
    assert!(matches!(err, IngestError::Contract(_)));
    let err = sim.router.ingest_bytes("a/b", b"{}", sim.now).unwrap_err();
    assert!(matches!(err, IngestError::FlowId(_)));
    assert_eq!(
        sim.router.flow("f").unwrap().seq,
        1,
        "no rejected message was applied"
    );

    let first = sim.subscribe("f", None);
    let second = sim.subscribe("f", None);
    assert_eq!(
        sim.router.subscribe("f", None, sim.now).unwrap_err(),
        SubscribeError::TooManySubscribers { limit: 2 }
    );
    drop(first);
    assert_eq!(sim.router.stats().subscribers, 1);
    let _third = sim.subscribe("f", None);
    drop(second);
}

#[test]
fn byte_budget_bounds_the_ring() {
    // Half of the budget for the ring, half for the state.
    let mut sim = Sim::with(|c| c.flow_byte_budget = 6000);
    for i in 0..50 {
        sim.ingest("f", &node("f", &format!("n{}", i % 5), "running"));
        let info = sim.router.flow("f").unwrap();
        assert!(info.ring_bytes <= 3000, "{}", info.ring_bytes);
        assert!(info.state_bytes <= 3000, "{}", info.state_bytes);
    }
    let info = sim.router.flow("f").unwrap();
    assert!(info.ring_frames < 50 && info.ring_frames > 1);
    assert_eq!(
        info.nodes_by_status["running"], 5,
        "the fold keeps every node"
    );
}

#[test]
fn idle_flows_are_evicted_only_without_subscribers() {
    let mut sim = Sim::with(|c| c.idle_timeout = Duration::from_secs(60));
    assert_eq!(sim.router.poll_timeout(), None);
    sim.ingest("quiet", &node("quiet", "a", "running"));
    sim.ingest("watched", &node("watched", "a", "running"));
    let mut sub = sim.subscribe("watched", None);
    let deadline = sim.router.poll_timeout().unwrap();
    assert_eq!(deadline, sim.now + Duration::from_secs(60));

    sim.advance(Duration::from_secs(59));
    assert!(sim.router.handle_timeout(sim.now).is_empty());
    sim.advance(Duration::from_secs(1));
    let evicted: Vec<String> = sim
        .router
        .handle_timeout(sim.now)
        .iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(evicted, ["quiet"]);
    assert!(sim.router.contains("watched"));
    assert_eq!(
        sim.router.poll_timeout(),
        Some(sim.now + Duration::from_secs(60))
    );

    drop(sub.cursor);
    sim.advance(Duration::from_secs(60));
    assert_eq!(sim.router.handle_timeout(sim.now).len(), 1);
    assert_eq!(sim.router.stats().flows, 0);
    assert_eq!(sim.router.stats().evicted_flows, 2);
    sub = sim.subscribe("watched", None);
    assert_eq!(
        sub.start,
        Start::Waiting,
        "evicted: no state until the next message"
    );
    assert_eq!(
        sub.cursor.position().epoch,
        Epoch(0xe2),
        "an epoch reserved anew"
    );
    let created = sim.ingest("watched", &node("watched", "a", "running"));
    assert_eq!(
        created.epoch,
        Epoch(0xe2),
        "state created at the reserved epoch"
    );
    assert_eq!(ids(sim.drain(&mut sub.cursor).text()), ["e2-1"]);
}

#[test]
fn apply_ordered_takes_epoch_and_seq_from_the_log() {
    let mut sim = Sim::with(|_| {});
    let msg = |id: &str| flow_contract::decode(node("f", id, "running").as_bytes(), "f").unwrap();
    let applied = sim
        .router
        .apply_ordered("f", Epoch(7), 10, msg("a"), sim.now)
        .unwrap();
    assert_eq!(
        (applied.id().to_string(), applied.created),
        ("7-10".to_owned(), true)
    );
    let mut sub = sim.subscribe("f", None);
    assert_eq!(
        sim.router
            .apply_ordered("f", Epoch(7), 10, msg("a"), sim.now),
        Err(IngestError::Stale {
            seq: 10,
            current: 10
        })
    );
    sim.router
        .apply_ordered("f", Epoch(7), 15, msg("b"), sim.now)
        .unwrap();
    assert_eq!(ids(sim.drain(&mut sub.cursor).text()), ["7-15"]);
    assert_eq!(
        sim.subscribe("f", Some("7-12")).start,
        Start::Resumed { replayed: 1 }
    );

    sim.router
        .apply_ordered("f", Epoch(8), 1, msg("c"), sim.now)
        .unwrap();
    assert!(
        sim.drain(&mut sub.cursor).closed,
        "a new epoch replaces the state"
    );
    assert_eq!(sim.router.flow("f").unwrap().nodes_by_status["running"], 1);
}

#[test]
fn flows_listing_and_stats() {
    let mut sim = Sim::with(|_| {});
    sim.ingest("b", &node("b", "x", "failed"));
    sim.ingest("a", &node("a", "x", "running"));
    sim.ingest("a", &node("a", "y", "running"));
    sim.ingest(
        "a",
        r#"{"type":"upsert-rels","relationships":[{"fromId":"x","toId":"y","type":"contains"}]}"#,
    );
    let _sub = sim.subscribe("a", None);
    let flows = sim.router.flows();
    let listed: Vec<(&str, u64, usize, usize)> = flows
        .iter()
        .map(|f| (&*f.id, f.seq, f.subscribers, f.relationships))
        .collect();
    assert_eq!(listed, [("a", 3, 1, 1), ("b", 1, 0, 0)]);
    assert_eq!(flows[0].nodes_by_status["running"], 2);
    assert_eq!(flows[0].last_event, Some(sim.now));
    let stats = sim.router.stats();
    assert_eq!(
        (
            stats.flows,
            stats.subscribers,
            stats.ingested,
            stats.delivered
        ),
        (2, 1, 4, 1)
    );
}

#[test]
fn an_idle_subscriber_costs_a_few_words() {
    // A cursor owns no queue: two shared counters, the flow id and a position.
    assert!(size_of::<flow_router::Cursor>() <= 64);
    assert!(size_of::<flow_router::FrameStream>() <= 256);
}

#[test]
fn a_rejected_message_from_a_new_log_epoch_keeps_the_old_state() {
    let mut sim = Sim::with(|c| c.flow_byte_budget = 1000);
    let msg = |id: &str| flow_contract::decode(node("f", id, "running").as_bytes(), "f").unwrap();
    sim.router
        .apply_ordered("f", Epoch(7), 1, msg("a"), sim.now)
        .unwrap();
    let mut sub = sim.subscribe("f", None);
    let big = msg(&"x".repeat(250));
    let err = sim.router.apply_ordered("f", Epoch(8), 1, big, sim.now);
    assert!(matches!(err, Err(IngestError::TooLarge { .. })), "{err:?}");
    assert_eq!(sim.router.flow("f").unwrap().epoch, Epoch(7));
    assert_eq!(sim.router.poll(&mut sub.cursor, sim.now), Polled::Pending);
    assert_eq!(
        sim.router
            .apply_ordered("f", Epoch(8), 0, msg("b"), sim.now),
        Err(IngestError::Stale { seq: 0, current: 0 })
    );
}
