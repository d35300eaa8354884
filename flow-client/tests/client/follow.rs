//! `Client::follow` across a restart, an evicted id, and cut connections.

use flow_client::{Disconnect, EventId, FlowEvent, ResyncReason};

use crate::harness::{Proxy, Server, client, next, node_ids, quick, until, upsert};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_is_reported_as_a_resync_to_the_new_epoch() {
    let mut server = Server::start(&[]).await;
    let client = client(&server.url());
    let before = client
        .post("f", &upsert("f", &[("a", "running")]))
        .await
        .unwrap();
    let mut follow = client.follow_with("f", Some(before.id()), quick());
    assert!(matches!(
        next(&mut follow).await.unwrap(),
        FlowEvent::Connected { resuming_after: Some(id) } if id == before.id()
    ));
    let live = client
        .post("f", &upsert("f", &[("b", "running")]))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut follow).await.unwrap(),
        FlowEvent::Message { id, .. } if id == live.id()
    ));

    server.restart().await;
    let events = until(&mut follow, |e| matches!(e, FlowEvent::Resync { .. })).await;
    assert!(
        matches!(
            &events[0],
            FlowEvent::Disconnected {
                reason: Disconnect::Ended,
                ..
            }
        ),
        "{events:?}"
    );
    let Some(FlowEvent::Resync {
        id,
        message,
        reason,
    }) = events.last()
    else {
        unreachable!("until stops at a resync")
    };
    assert_eq!(
        *reason,
        ResyncReason::NewEpoch {
            previous: live.epoch
        }
    );
    assert_ne!(id.epoch, live.epoch);
    assert!(node_ids(message).is_empty(), "the new server holds nothing");
    // The reconnection resumed after the last event delivered.
    assert!(events.iter().any(|e| matches!(
        e,
        FlowEvent::Reconnected { resuming_after: Some(after) } if *after == live.id()
    )));

    // The follow continues on the new epoch.
    let after = client
        .post("f", &upsert("f", &[("c", "pending")]))
        .await
        .unwrap();
    assert_eq!(after.epoch, id.epoch);
    assert!(matches!(
        next(&mut follow).await.unwrap(),
        FlowEvent::Message { id, .. } if id == after.id()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_an_evicted_id_resyncs_with_the_whole_state() {
    let server = Server::start(&["--ring-capacity", "4"]).await;
    let client = client(&server.url());
    let mut posted = Vec::new();
    for i in 0..10 {
        let node = format!("n{i}");
        posted.push(
            client
                .post("f", &upsert("f", &[(&node, "running")]))
                .await
                .unwrap(),
        );
    }
    let evicted = posted[1].id();
    let mut follow = client.follow_with("f", Some(evicted), quick());
    assert!(matches!(
        next(&mut follow).await.unwrap(),
        FlowEvent::Connected { resuming_after: Some(id) } if id == evicted
    ));
    let FlowEvent::Resync {
        id,
        message,
        reason,
    } = next(&mut follow).await.unwrap()
    else {
        panic!("a resync")
    };
    assert_eq!(
        reason,
        ResyncReason::FellBehind {
            previous: evicted.seq
        }
    );
    assert_eq!(id, posted[9].id());
    let mut nodes = node_ids(&message);
    nodes.sort();
    assert_eq!(nodes, (0..10).map(|i| format!("n{i}")).collect::<Vec<_>>());

    // An id still in the ring resumes exactly, without a snapshot.
    let mut exact = client.follow_with("f", Some(posted[7].id()), quick());
    next(&mut exact).await.unwrap();
    for expected in &posted[8..] {
        assert!(matches!(
            next(&mut exact).await.unwrap(),
            FlowEvent::Message { id, .. } if id == expected.id()
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_outlives_three_cut_connections_and_loses_nothing() {
    let server = Server::start(&[]).await;
    let mut proxy = Proxy::start(server.addr()).await;
    let direct = client(&server.url());
    let through_proxy = client(&proxy.url());
    let mut follow = through_proxy.follow_with("f", None, quick());
    assert!(matches!(
        next(&mut follow).await.unwrap(),
        FlowEvent::Connected {
            resuming_after: None
        }
    ));
    assert!(matches!(
        next(&mut follow).await.unwrap(),
        FlowEvent::Snapshot { .. }
    ));

    let mut posted: Vec<EventId> = Vec::new();
    let mut delivered: Vec<EventId> = Vec::new();
    let mut reconnections = 0;
    for round in 0..3 {
        // Some changes arrive live...
        for i in 0..3 {
            let node = format!("live{round}-{i}");
            posted.push(
                direct
                    .post("f", &upsert("f", &[(&node, "running")]))
                    .await
                    .unwrap()
                    .id(),
            );
        }
        let last = *posted.last().unwrap();
        for event in until(
            &mut follow,
            |e| matches!(e, FlowEvent::Message { id, .. } if *id == last),
        )
        .await
        {
            if let FlowEvent::Message { id, .. } = event {
                delivered.push(id);
            }
        }
        // ...then the connection is cut and more are posted while the follower is away.
        assert_eq!(proxy.cut(), 1, "the follow's one connection was open");
        for i in 0..3 {
            let node = format!("away{round}-{i}");
            posted.push(
                direct
                    .post("f", &upsert("f", &[(&node, "failed")]))
                    .await
                    .unwrap()
                    .id(),
            );
        }
        let last = *posted.last().unwrap();
        for event in until(
            &mut follow,
            |e| matches!(e, FlowEvent::Message { id, .. } if *id == last),
        )
        .await
        {
            match event {
                FlowEvent::Message { id, .. } => delivered.push(id),
                FlowEvent::Reconnected { resuming_after } => {
                    assert_eq!(resuming_after, delivered.last().copied());
                    reconnections += 1;
                }
                FlowEvent::Disconnected { .. } => {}
                other => panic!("only reconnections and changes expected: {other:?}"),
            }
        }
    }
    assert_eq!(reconnections, 3);
    assert_eq!(delivered, posted, "every change once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_dropped_after_the_idle_timeout_and_resumed() {
    // No heartbeats for a minute: only the idle timeout ends the first connection.
    let server = Server::start(&["--heartbeat-interval", "60s"]).await;
    let client = client(&server.url());
    let first = client
        .post("f", &upsert("f", &[("a", "running")]))
        .await
        .unwrap();
    let mut follow = client.follow_with(
        "f",
        Some(first.id()),
        quick().idle_timeout(std::time::Duration::from_millis(200)),
    );
    let events = until(&mut follow, |e| matches!(e, FlowEvent::Reconnected { .. })).await;
    assert!(events.iter().any(|e| matches!(
        e,
        FlowEvent::Disconnected {
            reason: Disconnect::Idle { .. },
            ..
        }
    )));
    let later = client
        .post("f", &upsert("f", &[("a", "failed")]))
        .await
        .unwrap();
    // Live or replayed after another idle reconnection: either way exactly this change.
    let events = until(&mut follow, |e| matches!(e, FlowEvent::Message { .. })).await;
    assert!(matches!(
        events.last(),
        Some(FlowEvent::Message { id, .. }) if *id == later.id()
    ));
    assert!(!events.iter().any(|e| matches!(e, FlowEvent::Resync { .. })));
}
