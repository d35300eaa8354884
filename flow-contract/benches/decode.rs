//! Decoding cost of a 1 KiB `upsert-nodes` message: `decode` (single-pass envelope +
//! validation) against serde's derived internally tagged decoder alone.
//!
//! `cargo bench -p flow-contract --bench decode`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flow_contract::FlowMessage;

fn body() -> Vec<u8> {
    let nodes: Vec<String> = (0..4)
        .map(|i| {
            format!(
                r#"{{"id":"fsn1/bp-release-{i}","flowId":"bench","label":"bp-release-{i}","status":"running","family":"release","region":"fsn1","startedAt":1767225600000,"meta":{{"chart":"release","message":"Helm upgrade in progress for release {i}","namespace":"flux-system","reason":"Progressing","version":"1.2.{i}"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"type":"upsert-nodes","nodes":[{}]}}"#, nodes.join(",")).into_bytes()
}

fn decode(c: &mut Criterion) {
    let body = body();
    assert!(body.len() > 1000, "a 1 KiB message");
    let mut group = c.benchmark_group("decode_1kib_upsert_nodes");
    group.bench_function("flow_contract_decode", |b| {
        b.iter(|| flow_contract::decode(black_box(&body), "bench").expect("valid"));
    });
    group.bench_function("serde_derived_enum_only", |b| {
        b.iter(|| serde_json::from_slice::<FlowMessage>(black_box(&body)).expect("valid"));
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
