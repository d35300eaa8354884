//! Ring overflow never loses state: the fold is kept apart from the ring.

use flow_contract::{FlowMessage, FlowNode};
use flow_router::{Router, RouterConfig};

use crate::sim::origin;

#[test]
fn a_million_upserts_keep_exactly_the_ten_latest_nodes() {
    const UPSERTS: u64 = 1_000_000;
    let mut config = RouterConfig::default();
    config.ring_capacity = 4096;
    let mut router = Router::new(config, 1).unwrap();
    let now = origin();
    let ids: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    for i in 0..UPSERTS {
        // Built directly (no JSON parsing) to keep the loop fast in debug builds.
        let id = &ids[usize::try_from(i % 10).unwrap()];
        let node = FlowNode {
            id: id.clone(),
            flow_id: "big".to_owned(),
            label: id.clone(),
            status: "running".to_owned(),
            family: None,
            region: None,
            started_at: Some(i),
            ended_at: None,
            meta: None,
        };
        let message = FlowMessage::UpsertNodes { nodes: vec![node] };
        router.ingest("big", message, now).unwrap();
    }
    let info = router.flow("big").unwrap();
    assert_eq!((info.seq, info.ring_frames), (UPSERTS, 4096));
    let FlowMessage::Snapshot { nodes, .. } = router.snapshot("big").unwrap().message else {
        unreachable!()
    };
    let latest: Vec<(String, Option<u64>)> =
        nodes.into_iter().map(|n| (n.id, n.started_at)).collect();
    let expected: Vec<(String, Option<u64>)> = (0..10)
        .map(|i| (format!("n{i}"), Some(UPSERTS - 10 + i)))
        .collect();
    assert_eq!(latest, expected);
}
