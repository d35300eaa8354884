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

/// What one flow holding one node costs (a flow id as long as [`Clocked::apart`]'s).
fn one_flow() -> usize {
    let clocked = Clocked::new(|_| {});
    clocked.ingest("f00", "a");
    clocked.shared.flows()[0].bytes
}

#[test]
fn flow_ids_spread_over_every_shard_by_a_key_of_each_router() {
    let clocked = Clocked::new(|_| {});
    // A hundred ids reach all eight shards (`apart` asserts it).
    let ids = clocked.apart(SHARDS);
    let clone = clocked.shared.clone();
    for id in &ids {
        assert_eq!(clone.shard_of(id), clocked.shared.shard_of(id));
    }
    // Another router keys its hash anew, so nobody can pick ids that share one lock
    // everywhere: the same hundred ids land the same way once in 8^100.
    let other = Clocked::new(|_| {});
    let all: Vec<String> = (0..100).map(|i| format!("f{i:02}")).collect();
    let placed = |router: &SharedRouter| -> Vec<usize> {
        all.iter().map(|id| router.shard_of(id)).collect()
    };
    assert_ne!(placed(&clocked.shared), placed(&other.shared));

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
    let one = one_flow();
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

/// The seqs of the frames in `text` that carry an id, in order.
fn seqs(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(|id| id.rsplit('-').next().unwrap().parse().unwrap())
        .collect()
}

/// Polls `stream` until it has nothing ready; its bytes, and whether it ended.
fn drain(stream: &mut flow_router::FrameStream) -> (String, bool) {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::Stream;

    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut bytes = Vec::new();
    loop {
        match Pin::new(&mut *stream).poll_next(&mut cx) {
            Poll::Ready(Some(batch)) => bytes.extend_from_slice(&batch),
            ended => {
                return (String::from_utf8(bytes).unwrap(), ended.is_ready());
            }
        }
    }
}

#[test]
fn concurrent_writers_and_readers_on_every_shard_keep_the_ledger_exact() {
    let one = one_flow();
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
        for reader in 0..2 {
            scope.spawn(move || {
                let mut open = std::collections::VecDeque::new();
                for round in 0..200 {
                    let flow = format!("w{}-{}", (round + reader) % 4, round % 8);
                    open.push_back((shared.subscribe(&flow, None).unwrap(), None));
                    if open.len() > 4 {
                        open.pop_front();
                    }
                    // Within one stream (one incarnation of its flow) seqs only go up; a
                    // snapshot may skip ahead, never back.
                    for (stream, last) in &mut open {
                        let (text, _) = drain(stream);
                        for seq in seqs(&text) {
                            assert!(last.is_none_or(|last| seq > last), "{seq} after {last:?}");
                            *last = Some(seq);
                        }
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
    assert_eq!(
        (stats.subscribers, stats.waiters),
        (0, 0),
        "every stream gave its seat back"
    );
}

/// One random sequence run by a `SharedRouter` over one lock and by one over eight shards,
/// on the same clock: every answer, every byte a subscriber reads, the flows held and the
/// totals are the same. Sharding is invisible, memory evictions included (the bound here is
/// about two flows' worth, so writes keep evicting idle flows of other shards).
mod one_lock_and_sharded {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use flow_router::FrameStream;
    use futures::Stream;
    use proptest::prelude::*;

    use super::*;
    use crate::props::{FLOWS, IDLE, Op, Resume, config, flow_id, op};

    struct Pair {
        seconds: Arc<AtomicU64>,
        one_lock: SharedRouter,
        sharded: SharedRouter,
        /// Each subscription twice.
        streams: Vec<(FrameStream, FrameStream)>,
    }

    /// Everything `stream` has ready, and whether it ended.
    fn drain(stream: &mut FrameStream) -> (String, bool) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut bytes = Vec::new();
        loop {
            match Pin::new(&mut *stream).poll_next(&mut cx) {
                Poll::Ready(Some(batch)) => bytes.extend_from_slice(&batch),
                Poll::Ready(None) => return (String::from_utf8(bytes).unwrap(), true),
                Poll::Pending => return (String::from_utf8(bytes).unwrap(), false),
            }
        }
    }

    /// The first poll of a new stream: its initial bytes, and only them.
    fn initial(stream: &mut FrameStream) -> String {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(Some(initial)) = Pin::new(stream).poll_next(&mut cx) else {
            panic!("a stream opens with its initial bytes");
        };
        String::from_utf8(initial.to_vec()).unwrap()
    }

    impl Pair {
        fn new() -> Self {
            let mut config = config();
            config.max_memory_bytes = 8000;
            // Empty wait groups are pruned when a router holds its share of `max_waiters`
            // groups: a shard's share is smaller, so it prunes at other times (either way a
            // later waiter gets a reserved epoch). With a share of every flow, none prunes.
            config.max_waiters = SHARDS * FLOWS;
            let seconds = Arc::new(AtomicU64::new(0));
            let origin = origin();
            let build = |shards| {
                let clock = Arc::clone(&seconds);
                SharedRouter::with_shards(config.clone(), SEED, shards, move || {
                    origin + Duration::from_secs(clock.load(Ordering::SeqCst))
                })
                .unwrap()
            };
            Self {
                one_lock: build(1),
                sharded: build(SHARDS),
                seconds,
                streams: Vec::new(),
            }
        }

        fn step(&mut self, op: &Op) {
            self.seconds.fetch_add(1, Ordering::SeqCst);
            let (one_lock, sharded) = (&self.one_lock, &self.sharded);
            match op {
                Op::Ingest(flow, message) => {
                    let id = flow_id(*flow);
                    assert_eq!(
                        one_lock.ingest(&id, message.clone()),
                        sharded.ingest(&id, message.clone())
                    );
                }
                Op::Subscribe(flow, resume) => {
                    let resume = match resume {
                        Resume::Fresh => None,
                        Resume::From(index) => self
                            .streams
                            .get(*index)
                            .map(|(stream, _)| stream.position().to_string()),
                        Resume::Raw(raw) => Some(raw.clone()),
                    };
                    let id = flow_id(*flow);
                    match (
                        one_lock.subscribe(&id, resume.as_deref()),
                        sharded.subscribe(&id, resume.as_deref()),
                    ) {
                        (Ok(mut one), Ok(mut other)) => {
                            assert_eq!(one.start(), other.start());
                            assert_eq!(initial(&mut one), initial(&mut other));
                            self.streams.push((one, other));
                        }
                        (one, other) => {
                            assert_eq!(one.map(|_| ()), other.map(|_| ()));
                        }
                    }
                }
                Op::Poll(index) => {
                    if let Some((one, other)) = self.streams.get_mut(*index) {
                        assert_eq!(drain(one), drain(other));
                        assert_eq!(one.position(), other.position());
                    }
                }
                Op::Drop(index) => {
                    if *index < self.streams.len() {
                        self.streams.swap_remove(*index);
                    }
                }
                Op::Delete(flow) => {
                    let id = flow_id(*flow);
                    assert_eq!(one_lock.delete(&id), sharded.delete(&id));
                }
                Op::Idle => {
                    self.seconds.fetch_add(IDLE.as_secs(), Ordering::SeqCst);
                    assert_eq!(one_lock.handle_timeout(), sharded.handle_timeout());
                }
            }
            assert_eq!(one_lock.flows(), sharded.flows());
            assert_eq!(one_lock.stats(), sharded.stats());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_sharded_router_answers_as_one_lock(ops in prop::collection::vec(op(), 1..80)) {
            let mut pair = Pair::new();
            for op in &ops {
                pair.step(op);
            }
        }
    }
}
