//! `Router::restore`: a replica set to a shared log's state and tail produces the same ids and
//! bytes as the replica that saw every message.

use flow_contract::{FlowMessage, decode};
use flow_router::{Epoch, EventId, FlowState, IngestError, Restored, Start};

use crate::sim::{Sim, ids, node};

fn msg(id: &str, status: &str) -> FlowMessage {
    decode(node("f", id, status).as_bytes(), "f").unwrap()
}

fn state_of(sim: &Sim) -> FlowState {
    let Some(snapshot) = sim.router.snapshot("f") else {
        return FlowState::default();
    };
    let FlowMessage::Snapshot {
        nodes,
        relationships,
        ..
    } = snapshot.message
    else {
        panic!("snapshot() returns a snapshot message");
    };
    // No flow instance was posted: the restored flow keeps the synthetic one.
    FlowState {
        instance: None,
        nodes,
        relationships,
    }
}

#[test]
fn restored_replica_resumes_and_continues_with_identical_bytes() {
    let epoch = Epoch(7);
    let log: Vec<FlowMessage> = (1..=5)
        .map(|i| msg(&format!("n{}", i % 3), ["running", "failed"][i % 2]))
        .collect();
    let mut origin = Sim::with(|_| {});
    for (seq, message) in (1..=3).zip(&log) {
        origin
            .router
            .apply_ordered("f", epoch, seq, message.clone(), origin.now)
            .unwrap();
    }
    let mut replica = Sim::with(|_| {});
    let history: Vec<(u64, FlowMessage)> = (1..=3).zip(log.iter().cloned()).collect();
    let restored = replica
        .router
        .restore(
            "f",
            EventId { epoch, seq: 3 },
            state_of(&origin),
            history,
            replica.now,
        )
        .unwrap();
    assert_eq!(restored, Restored::Replaced, "a flow new to the replica");
    assert_eq!(replica.router.snapshot("f"), origin.router.snapshot("f"));

    let from_origin = origin.subscribe("f", Some("7-1"));
    let mut from_replica = replica.subscribe("f", Some("7-1"));
    assert_eq!(from_replica.start, Start::Resumed { replayed: 2 });
    assert_eq!(from_replica.initial, from_origin.initial);

    for (seq, message) in (4..=5).zip(&log[3..]) {
        for sim in [&mut origin, &mut replica] {
            sim.router
                .apply_ordered("f", epoch, seq, message.clone(), sim.now)
                .unwrap();
        }
    }
    let live = replica.drain(&mut from_replica.cursor);
    assert_eq!(ids(live.text()), ["7-4", "7-5"]);
    assert_eq!(
        replica.subscribe("f", Some("7-3")).initial,
        origin.subscribe("f", Some("7-3")).initial
    );
    assert_eq!(replica.router.snapshot("f"), origin.router.snapshot("f"));
}

#[test]
fn a_gap_resyncs_cursors_and_a_new_epoch_closes_them() {
    let epoch = Epoch(7);
    let mut replica = Sim::with(|_| {});
    replica
        .router
        .apply_ordered("f", epoch, 1, msg("a", "running"), replica.now)
        .unwrap();
    let mut sub = replica.subscribe("f", None);
    let state = FlowState {
        nodes: match msg("b", "failed") {
            FlowMessage::UpsertNodes { nodes } => nodes,
            _ => unreachable!("an upsert-nodes message"),
        },
        ..FlowState::default()
    };
    // Seqs 2 and 3 are no longer in the tail: the cursor at 1 must resync, not skip.
    let restored = replica
        .router
        .restore(
            "f",
            EventId { epoch, seq: 4 },
            state.clone(),
            vec![(4, msg("b", "failed"))],
            replica.now,
        )
        .unwrap();
    assert_eq!(restored, Restored::Continued);
    let drained = replica.drain(&mut sub.cursor);
    assert_eq!(
        (drained.resyncs, ids(drained.text())),
        (1, vec!["7-4".to_owned()])
    );
    assert!(drained.text().starts_with("event: snapshot\n"));
    assert_eq!(
        replica.subscribe("f", Some("7-3")).start,
        Start::Resumed { replayed: 1 }
    );
    assert!(matches!(
        replica.subscribe("f", Some("7-2")).start,
        Start::Reset(_)
    ));

    // A history that does not end at the position is ignored: every older id resyncs.
    replica
        .router
        .restore(
            "f",
            EventId { epoch, seq: 6 },
            state.clone(),
            vec![(5, msg("b", "failed"))],
            replica.now,
        )
        .unwrap();
    assert!(matches!(
        replica.subscribe("f", Some("7-5")).start,
        Start::Reset(_)
    ));

    let restored = replica
        .router
        .restore(
            "f",
            EventId {
                epoch: Epoch(8),
                seq: 2,
            },
            state,
            Vec::new(),
            replica.now,
        )
        .unwrap();
    assert_eq!(restored, Restored::Replaced);
    assert!(replica.drain(&mut sub.cursor).closed);
}

#[test]
fn restore_respects_bounds_and_leaves_the_router_unchanged() {
    let mut replica = Sim::with(|config| config.max_state_items = 1);
    let nodes = match decode(
        br#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"f","label":"a","status":"x"},{"id":"b","flowId":"f","label":"b","status":"x"}]}"#,
        "f",
    )
    .unwrap()
    {
        FlowMessage::UpsertNodes { nodes } => nodes,
        _ => unreachable!("an upsert-nodes message"),
    };
    let state = FlowState {
        nodes,
        ..FlowState::default()
    };
    assert_eq!(
        replica.router.restore(
            "f",
            EventId {
                epoch: Epoch(1),
                seq: 1
            },
            state,
            Vec::new(),
            replica.now
        ),
        Err(IngestError::StateFull { items: 2, limit: 1 })
    );
    assert!(!replica.router.contains("f"));
}

/// A checkpoint (the state at a seq, as JSON) plus the log after it folds to the state at the
/// head: what a shared log restores from.
#[test]
fn a_checkpoint_plus_its_tail_is_the_state_at_the_head() {
    let epoch = Epoch(3);
    let mut log: Vec<FlowMessage> = (0..9)
        .map(|i| {
            msg(
                &format!("n{}", i % 4),
                ["running", "failed", "succeeded"][i % 3],
            )
        })
        .collect();
    log.push(decode(br#"{"type":"delete-nodes","ids":["n1"]}"#, "f").unwrap());
    let mut origin = Sim::with(|_| {});
    let mut checkpoint = None;
    for (seq, message) in (1..).zip(&log) {
        origin
            .router
            .apply_ordered("f", epoch, seq, message.clone(), origin.now)
            .unwrap();
        if seq == 4 {
            checkpoint = origin.router.state("f");
        }
    }
    let (at, state) = checkpoint.expect("the flow is held");
    assert_eq!(at, EventId { epoch, seq: 4 });
    let stored = serde_json::to_vec(&state).unwrap();
    let state: FlowState = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        state.instance, None,
        "the synthetic instance stays synthetic"
    );
    let head = state.folded("f", log[4..].iter().cloned());
    assert_eq!(Some(head), origin.router.state("f").map(|(_, state)| state));
}

/// Admission decides what ingest decides, at the position it reports, and changes nothing.
#[test]
fn admission_checks_the_bounds_at_the_held_position_without_changing_it() {
    let mut sim = Sim::with(|config| config.max_state_items = 2);
    let now = sim.now;
    assert_eq!(sim.router.admit("f", &msg("a", "running")), Ok(None));
    assert_eq!(sim.router.position("f"), None, "admission holds nothing");
    sim.router.ingest("f", msg("a", "running"), now).unwrap();
    let at = sim
        .router
        .ingest("f", msg("b", "pending"), now)
        .unwrap()
        .id();
    assert_eq!(sim.router.admit("f", &msg("a", "failed")), Ok(Some(at)));
    let third = msg("c", "pending");
    assert_eq!(
        sim.router.admit("f", &third),
        Err(IngestError::StateFull { items: 3, limit: 2 })
    );
    assert_eq!(
        sim.router.admit("f", &third).err(),
        sim.router.ingest("f", third, now).err(),
        "the same refusal as ingest"
    );
    assert_eq!(sim.router.position("f"), Some(at));
}

/// The second half of an append through a log applies only on top of the admitted position.
#[test]
fn apply_after_applies_only_at_the_admitted_position() {
    let mut sim = Sim::with(|_| {});
    let now = sim.now;
    let at = sim
        .router
        .ingest("f", msg("a", "running"), now)
        .unwrap()
        .id();
    let next = sim
        .router
        .apply_after("f", at, msg("a", "succeeded"), now)
        .expect("held at the admitted position")
        .id();
    assert_eq!(next, EventId { seq: 2, ..at });
    assert_eq!(
        sim.router.apply_after("f", at, msg("a", "failed"), now),
        Err(IngestError::Stale { seq: 2, current: 2 }),
        "the flow moved on: nothing applied"
    );
    let other_epoch = EventId {
        epoch: Epoch(at.epoch.0 + 1),
        seq: 2,
    };
    assert!(
        sim.router
            .apply_after("f", other_epoch, msg("a", "failed"), now)
            .is_err()
    );
    assert_eq!(sim.router.position("f"), Some(next));
    let mut direct = Sim::with(|_| {});
    for status in ["running", "succeeded"] {
        direct.router.ingest("f", msg("a", status), now).unwrap();
    }
    assert_eq!(
        sim.router.snapshot("f"),
        direct.router.snapshot("f"),
        "one fold"
    );
}

#[test]
fn a_state_read_from_a_log_snapshots_like_the_flow_held() {
    let epoch = Epoch(9);
    let mut origin = Sim::with(|_| {});
    for (seq, (id, status)) in (1..=4).zip([
        ("b", "running"),
        ("a", "failed"),
        ("c", "running"),
        ("a", "succeeded"),
    ]) {
        origin
            .router
            .apply_ordered("f", epoch, seq, msg(id, status), origin.now)
            .unwrap();
    }
    let (at, state) = origin.router.state("f").expect("held");
    assert_eq!(at, EventId { epoch, seq: 4 });
    assert_eq!(
        Some(state.into_snapshot("f", at)),
        origin.router.snapshot("f"),
        "same items, same order, same synthetic flow instance"
    );
}

#[test]
fn a_checkpoint_is_due_at_half_the_ring_or_half_the_state() {
    let mut sim = Sim::with(|config| config.ring_capacity = 100);
    let share = sim.router.config().flow_share();
    let due = |sim: &Sim, entries, bytes| {
        sim.router
            .checkpoint_due("f", flow_router::LogTail { entries, bytes })
    };
    assert!(!due(&sim, 0, 0), "a flow not held");
    sim.router
        .ingest("f", msg("a", "running"), sim.now)
        .unwrap();
    assert!(!due(&sim, 0, 0));
    assert!(!due(&sim, 49, 100));
    assert!(due(&sim, 50, 100), "half the ring's entries");
    assert!(due(&sim, 1, share / 2), "half the ring's bytes");
    assert!(!due(&sim, 1, 8 * 1024 - 1), "a small state: an 8 KiB floor");
    assert!(due(&sim, 1, 8 * 1024));

    for i in 0..400 {
        sim.router
            .ingest("f", msg(&format!("n{i:04}"), "running"), sim.now)
            .unwrap();
    }
    let state = sim.router.flow("f").expect("held").state_bytes;
    assert!(state > 32 * 1024, "a state past the floor: {state} B");
    assert!(!due(&sim, 1, state / 2 - 1));
    assert!(due(&sim, 1, state.div_ceil(2)), "half a large state");
}
