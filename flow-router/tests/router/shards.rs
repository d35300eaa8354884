//! Issue 18: a `SharedRouter` splits its flows over locks of their own, and every bound of
//! `RouterConfig` still holds for all flows together: flows, subscribers, waiters and bytes,
//! with idle flows evicted across shards, oldest activity first.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flow_router::{IngestError, RouterConfig, SharedRouter, SubscribeError};

use crate::sim::{SEED, node, origin};

const SHARDS: usize = 8;

/// A sharded router on a clock the test moves.
struct Clocked {
    shared: SharedRouter,
    seconds: Arc<AtomicU64>,
}

impl Clocked {
    fn new(configure: impl FnOnce(&mut RouterConfig)) -> Self {
        let mut config = RouterConfig::default();
        configure(&mut config);
        let seconds = Arc::new(AtomicU64::new(0));
        let clock = Arc::clone(&seconds);
        let origin = origin();
        let shared = SharedRouter::with_shards(config, SEED, SHARDS, move || {
            origin + Duration::from_secs(clock.load(Ordering::SeqCst))
        })
        .unwrap();
        Self { shared, seconds }
    }

    fn advance(&self) {
        self.seconds.fetch_add(1, Ordering::SeqCst);
    }

    fn ingest(&self, flow: &str, node_id: &str) {
        self.shared
            .ingest_bytes(flow, node(flow, node_id, "running").as_bytes())
            .unwrap();
    }

    fn held(&self) -> Vec<String> {
        self.shared
            .flows()
            .iter()
            .map(|flow| flow.id.to_string())
            .collect()
    }

    /// `n` flow ids of the same length, each on a shard of its own.
    fn apart(&self, n: usize) -> Vec<String> {
        let mut shards = BTreeSet::new();
        let ids: Vec<String> = (0..100)
            .map(|i| format!("f{i:02}"))
            .filter(|id| shards.insert(self.shared.shard_of(id)))
            .take(n)
            .collect();
        assert_eq!(ids.len(), n, "{SHARDS} shards hold {n} flows apart");
        ids
    }
}

#[test]
fn a_flow_id_keeps_its_shard_and_flows_spread_over_all_of_them() {
    let clocked = Clocked::new(|_| {});
    let shared = &clocked.shared;
    let ids = clocked.apart(SHARDS);
    for id in &ids {
        assert_eq!(shared.shard_of(id), shared.shard_of(&id.clone()));
        assert!(shared.shard_of(id) < SHARDS);
    }
    let err = SharedRouter::with_shards(RouterConfig::default(), SEED, 0, origin).unwrap_err();
    assert_eq!(err.to_string(), "shards must be greater than zero");
}

#[test]
fn flows_subscribers_and_waiters_are_bounded_across_shards() {
    let clocked = Clocked::new(|c| {
        c.max_flows = 2;
        c.max_subscribers = 4;
        c.max_waiters = 1;
    });
    let shared = &clocked.shared;
    let ids = clocked.apart(4);
    clocked.ingest(&ids[0], "a");
    clocked.ingest(&ids[1], "a");
    let err = shared
        .ingest_bytes(&ids[2], node(&ids[2], "a", "running").as_bytes())
        .unwrap_err();
    assert!(
        matches!(err, IngestError::TooManyFlows { limit: 2 }),
        "{err:?}"
    );
    assert!(shared.delete(&ids[0]));
    clocked.ingest(&ids[2], "a");
    assert_eq!(clocked.held(), [ids[1].clone(), ids[2].clone()]);

    let _one = shared.subscribe(&ids[1], None).unwrap();
    let _two = shared.subscribe(&ids[2], None).unwrap();
    let waiting = shared.subscribe(&ids[3], None).unwrap();
    assert!(waiting.is_waiting());
    let err = shared.subscribe(&ids[0], None).unwrap_err();
    assert!(
        matches!(err, SubscribeError::TooManyWaiters { limit: 1 }),
        "{err:?}"
    );
    drop(waiting);
    let _three = shared.subscribe(&ids[0], None).unwrap();
    let _four = shared.subscribe(&ids[1], None).unwrap();
    let err = shared.subscribe(&ids[2], None).unwrap_err();
    assert!(
        matches!(err, SubscribeError::TooManySubscribers { limit: 4 }),
        "{err:?}"
    );
    let stats = shared.stats();
    assert_eq!(
        (stats.flows, stats.subscribers, stats.waiters),
        (2, 4, 1),
        "{stats:?}"
    );
}

#[test]
fn at_the_memory_bound_idle_flows_of_every_shard_go_oldest_first() {
    let one = {
        let clocked = Clocked::new(|_| {});
        clocked.ingest("f00", "a");
        clocked.shared.flows()[0].bytes
    };
    let limit = 3 * one + one / 2;
    let clocked = Clocked::new(|c| c.max_memory_bytes = limit);
    let shared = &clocked.shared;
    let ids = clocked.apart(5);
    let [a, b, c, d, e] = [&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]];
    for flow in [a, b, c] {
        clocked.ingest(flow, "a");
        clocked.advance();
    }
    // `a` is the oldest but followed: never evicted. `b`, on another shard than `d`, is
    // the oldest idle flow.
    let follower = shared.subscribe(a, None).unwrap();
    clocked.ingest(d, "a");
    let mut held = vec![a.clone(), c.clone(), d.clone()];
    held.sort();
    assert_eq!(clocked.held(), held);
    let stats = shared.stats();
    assert_eq!(stats.memory_evictions, 1);
    assert!(stats.memory_bytes <= limit, "{stats:?}");

    // With every flow followed there is nothing to evict: the write is refused and nothing
    // was evicted for it.
    let _readers = [c, d].map(|flow| shared.subscribe(flow, None).unwrap());
    let err = shared
        .ingest_bytes(e, node(e, "a", "running").as_bytes())
        .unwrap_err();
    assert!(matches!(err, IngestError::MemoryFull { .. }), "{err:?}");
    assert_eq!(clocked.held(), held);
    assert_eq!(shared.stats().memory_evictions, 1);
    drop(follower);
}

#[test]
fn concurrent_writers_on_every_shard_keep_the_ledger_exact() {
    let one = {
        let clocked = Clocked::new(|_| {});
        clocked.ingest("f00", "a");
        clocked.shared.flows()[0].bytes
    };
    let limit = 12 * one;
    let clocked = Clocked::new(|c| c.max_memory_bytes = limit);
    let shared = &clocked.shared;
    std::thread::scope(|scope| {
        for writer in 0..4 {
            scope.spawn(move || {
                for round in 0..200 {
                    let flow = format!("w{writer}-{}", round % 8);
                    let body = node(&flow, &format!("n{round}"), "running");
                    match shared.ingest_bytes(&flow, body.as_bytes()) {
                        Ok(_) | Err(IngestError::MemoryFull { .. }) => {}
                        Err(err) => panic!("{err:?}"),
                    }
                    if round % 50 == 49 {
                        shared.delete(&flow);
                    }
                }
            });
        }
    });
    let flows = shared.flows();
    let stats = shared.stats();
    assert_eq!(stats.flows, flows.len());
    assert_eq!(
        stats.memory_bytes,
        flows.iter().map(|flow| flow.bytes).sum::<usize>(),
        "the ledger is the sum of every flow's charge"
    );
    assert!(stats.memory_bytes <= limit, "{stats:?}");
    assert!(stats.memory_evictions > 0, "32 flows do not fit in 12");
}
