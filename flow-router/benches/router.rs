//! Criterion micro-benchmarks of the engine: ingest, subscribe, poll fan-out.
//!
//! `cargo bench -p flow-router -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flow_router::{
    Cursor, DEFAULT_SHARDS, FrameStream, Polled, Router, RouterConfig, SharedRouter,
};

/// An upsert-nodes body of about 1.3 KB (a little over 1 KiB): five nodes with meta.
fn body_1kib(round: usize) -> String {
    // Four nodes with meta: 1,0xx bytes, the 1 KiB of the target.
    let nodes: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"id":"fsn1/bp-component-{i}","flowId":"bench","label":"bp-component-{i}","status":"running","family":"component","region":"fsn1","startedAt":{round},"meta":{{"chart":"bp-component-{i}","version":"1.2.{round}","reason":"Progressing","message":"Helm upgrade in progress"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"type":"upsert-nodes","nodes":[{}]}}"#, nodes.join(","))
}

// The bench harness is the shell here: it owns the clock.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn router() -> Router {
    Router::new(RouterConfig::default(), 1).expect("default config is valid")
}

fn ingest(c: &mut Criterion) {
    let bodies: Vec<String> = (0..64).map(body_1kib).collect();
    assert!(
        (1000..1100).contains(&bodies[0].len()),
        "{} bytes",
        bodies[0].len()
    );
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(bodies[0].len() as u64));
    let mut router = router();
    let at = now();
    let mut i = 0;
    group.bench_function("upsert_nodes_1kib_decode_fold_encode", |b| {
        b.iter(|| {
            i = (i + 1) % bodies.len();
            black_box(router.ingest_bytes("bench", bodies[i].as_bytes(), at)).expect("valid body")
        });
    });
    group.bench_function("contract_decode_only", |b| {
        b.iter(|| {
            i = (i + 1) % bodies.len();
            black_box(flow_contract::decode(bodies[i].as_bytes(), "bench")).expect("valid body")
        });
    });
    group.finish();
}

fn subscribe(c: &mut Criterion) {
    let mut router = router();
    let at = now();
    for chunk in 0..5 {
        let nodes: Vec<String> = (0..100)
            .map(|i| {
                let n = chunk * 100 + i;
                format!(
                    r#"{{"id":"fsn1/bp-{n}","flowId":"bench","label":"bp-{n}","status":"running","region":"fsn1","startedAt":{n}}}"#
                )
            })
            .collect();
        let body = format!(r#"{{"type":"upsert-nodes","nodes":[{}]}}"#, nodes.join(","));
        router
            .ingest_bytes("bench", body.as_bytes(), at)
            .expect("valid body");
    }
    let touch = r#"{"type":"upsert-flow","flow":{"id":"bench","status":"running","startedAt":1}}"#;
    let mut group = c.benchmark_group("subscribe_500_nodes");
    group.bench_function("snapshot_rebuilt", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A change invalidates the cached snapshot frame (not timed).
                router
                    .ingest_bytes("bench", touch.as_bytes(), at)
                    .expect("valid body");
                let start = now();
                black_box(router.subscribe("bench", None, at).expect("within bounds"));
                total += start.elapsed();
            }
            total
        });
    });
    group.bench_function("snapshot_cached", |b| {
        b.iter(|| black_box(router.subscribe("bench", None, at).expect("within bounds")));
    });
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    const CURSORS: usize = 1000;
    let mut config = RouterConfig::default();
    config.max_subscribers = CURSORS;
    let mut router = Router::new(config, 1).expect("valid config");
    let at = now();
    let body = body_1kib(0);
    router
        .ingest_bytes("bench", body.as_bytes(), at)
        .expect("valid body");
    let mut cursors: Vec<Cursor> = (0..CURSORS)
        .map(|_| {
            router
                .subscribe("bench", None, at)
                .expect("within bounds")
                .cursor
        })
        .collect();
    let mut group = c.benchmark_group("fan_out");
    group.throughput(Throughput::Elements(CURSORS as u64));
    group.bench_function("one_frame_to_1000_cursors", |b| {
        b.iter(|| {
            router
                .ingest_bytes("bench", body.as_bytes(), at)
                .expect("valid body");
            for cursor in &mut cursors {
                let Polled::Frame(frame) = router.poll(cursor, at) else {
                    unreachable!("one frame is ready")
                };
                black_box(frame);
                assert_eq!(router.poll(cursor, at), Polled::Pending);
            }
        });
    });
    group.finish();
    eprintln!(
        "memory per idle subscriber: Cursor {} bytes (no heap of its own); FrameStream {} bytes \
         + one event listener while waiting",
        size_of::<Cursor>(),
        size_of::<FrameStream>()
    );
}

/// Whether flows on different threads contend: `iters` ingests of 1 KiB into one flow on one
/// thread, against `iters` ingests into each of two flows on two threads at once, through the
/// [`SharedRouter`] the server uses: the two flows on shards of their own (the default), and
/// on one shard (one lock for every flow, as before issue 18). The time is the wall time of
/// the whole round, so without contention (and two free cores) the figures are equal; a lock
/// shared by both flows shows as the time rising towards twice the first.
fn flows_on_threads(c: &mut Criterion) {
    let bodies = |flow: &str| -> Vec<String> {
        (0..64)
            .map(|round| {
                body_1kib(round).replace(r#""flowId":"bench""#, &format!(r#""flowId":"{flow}""#))
            })
            .collect()
    };
    let flows: Vec<(String, Vec<String>)> = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .map(|flow| (flow.to_string(), bodies(flow)))
        .collect();
    let run = |writers: usize, shards: usize, iters: u64| {
        let shared = SharedRouter::with_shards(RouterConfig::default(), 1, shards, now)
            .expect("default config is valid");
        // Flows on distinct shards where there are several (the hash is keyed per router).
        let mut taken = Vec::new();
        let chosen: Vec<&(String, Vec<String>)> = flows
            .iter()
            .filter(|(flow, _)| {
                let shard = shared.shard_of(flow);
                let apart = shards == 1 || !taken.contains(&shard);
                taken.push(shard);
                apart
            })
            .take(writers)
            .collect();
        assert_eq!(chosen.len(), writers, "eight ids cover two shards");
        let started = now();
        std::thread::scope(|scope| {
            for (flow, bodies) in chosen {
                let shared = shared.clone();
                scope.spawn(move || {
                    for i in 0..iters {
                        let body = &bodies[i as usize % bodies.len()];
                        black_box(shared.ingest_bytes(flow, body.as_bytes())).expect("valid body");
                    }
                });
            }
        });
        started.elapsed()
    };
    let mut group = c.benchmark_group("flows_on_threads");
    group.bench_function("one_flow_one_thread", |b| {
        b.iter_custom(|iters| run(1, DEFAULT_SHARDS, iters));
    });
    group.bench_function("two_flows_two_threads", |b| {
        b.iter_custom(|iters| run(2, DEFAULT_SHARDS, iters));
    });
    group.bench_function("two_flows_two_threads_one_lock", |b| {
        b.iter_custom(|iters| run(2, 1, iters));
    });
    group.finish();
}

criterion_group!(benches, ingest, subscribe, fan_out, flows_on_threads);
criterion_main!(benches);
