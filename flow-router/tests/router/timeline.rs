//! Golden graphs for the timeline analysis: `testdata/timeline/<case>/input.json` (`now`,
//! `nodes`, `relationships`, a `note`) against `expected.json` (the [`Timeline`] as JSON, or
//! `{"error": {"cycle": [...]}}`). The live page's `timeline.mjs` runs the same cases.
//! `UPDATE_GOLDEN=1` rewrites the `expected.json` files.

use std::path::Path;

use flow_contract::{FlowNode, Relationship};
use flow_router::{Timeline, TimelineError};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Input {
    now: u64,
    nodes: Vec<FlowNode>,
    relationships: Vec<Relationship>,
}

fn run(input: &Input) -> Value {
    match Timeline::analyse(&input.nodes, &input.relationships, input.now) {
        Ok(timeline) => serde_json::to_value(timeline).unwrap(),
        Err(TimelineError::Cycle { nodes }) => json!({ "error": { "cycle": nodes } }),
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn check(input: &Path, expected: &Path) {
    let text = std::fs::read_to_string(input).unwrap();
    let parsed: Input =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", input.display()));
    let actual = serde_json::to_string_pretty(&run(&parsed)).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected, &actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(expected)
        .unwrap_or_else(|err| panic!("{}: {err} (run with UPDATE_GOLDEN=1)", expected.display()));
    assert_eq!(actual, want, "{}", expected.display());
}

#[test]
fn golden_timeline_graphs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/timeline");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("input.json").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 6,
        "golden graphs missing under {}",
        root.display()
    );
    for case in cases {
        check(&case.join("input.json"), &case.join("expected.json"));
    }
}

#[test]
fn a_long_chain_is_analysed_without_recursion() {
    let nodes: Vec<FlowNode> = (0..20_000u64)
        .map(|i| {
            serde_json::from_value(
                json!({"id": format!("n{i:06}"), "flowId": "f", "label": "n",
                "status": "succeeded", "startedAt": i * 10, "endedAt": i * 10 + 10}),
            )
            .unwrap()
        })
        .collect();
    let rels: Vec<Relationship> = (1..20_000u64)
        .map(|i| {
            serde_json::from_value(json!({"fromId": format!("n{:06}", i - 1),
                "toId": format!("n{i:06}"), "type": "finish-to-start"}))
            .unwrap()
        })
        .collect();
    let timeline = Timeline::analyse(&nodes, &rels, 0).unwrap();
    assert_eq!(timeline.path.len(), 20_000);
    assert_eq!(timeline.duration_ms, 200_000);
}

mod props {
    //! The analysis on random graphs (edges only from a lower to a higher index, so acyclic):
    //! what the module docs promise holds for every graph, and closing a cycle is refused.

    use flow_contract::{FlowNode, RelType, Relationship};
    use flow_router::{Timeline, TimelineError};
    use proptest::prelude::*;

    fn node(i: usize, times: (Option<u64>, Option<u64>)) -> FlowNode {
        FlowNode {
            id: format!("n{i}"),
            flow_id: "f".into(),
            label: format!("n{i}"),
            status: "succeeded".into(),
            family: None,
            region: None,
            started_at: times.0,
            ended_at: times.1,
            meta: None,
        }
    }

    fn edge(from: usize, to: usize) -> Relationship {
        Relationship {
            from_id: format!("n{from}"),
            to_id: format!("n{to}"),
            from_flow_id: None,
            to_flow_id: None,
            rel_type: RelType::FinishToStart,
            condition: None,
            lag: None,
        }
    }

    fn graph() -> impl Strategy<Value = (Vec<FlowNode>, Vec<Relationship>)> {
        (1usize..12).prop_flat_map(|n| {
            let times = proptest::collection::vec(
                (
                    proptest::option::weighted(0.9, 0u64..100),
                    proptest::option::weighted(0.8, 0u64..100),
                ),
                n,
            );
            let edges = proptest::collection::vec((0..n, 0..n), 0..n * 2);
            (times, edges).prop_map(|(times, edges)| {
                let nodes = times
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| node(i, t))
                    .collect();
                let rels = edges
                    .into_iter()
                    .filter(|(a, b)| a < b)
                    .map(|(a, b)| edge(a, b))
                    .collect();
                (nodes, rels)
            })
        })
    }

    proptest! {
        #[test]
        fn the_documented_rules_hold((nodes, rels) in graph(), now in 0u64..200) {
            let timeline = Timeline::analyse(&nodes, &rels, now).unwrap();
            let timing = |id: &str| timeline.nodes.iter().find(|t| t.id == id).unwrap();
            let end = |id: &str| {
                let t = timing(id);
                t.started_at.unwrap() + t.duration_ms.unwrap()
            };
            let starts: Vec<u64> = timeline.nodes.iter().filter_map(|t| t.started_at).collect();
            let flow_start = starts.iter().copied().min().unwrap_or(0);
            for t in &timeline.nodes {
                prop_assert_eq!(t.started_at.is_some(), t.duration_ms.is_some());
                if let (Some(start), Some(wait)) = (t.started_at, t.wait_ms) {
                    prop_assert!(wait <= start - flow_start, "wait within the time before the start");
                }
            }
            prop_assert_eq!(timeline.path.is_empty(), starts.is_empty());
            for step in timeline.path.windows(2) {
                prop_assert!(
                    rels.iter().any(|r| r.from_id == step[0] && r.to_id == step[1]),
                    "consecutive path nodes are joined by a finish-to-start edge"
                );
                let latest = rels
                    .iter()
                    .filter(|r| r.to_id == step[1] && timing(&r.from_id).started_at.is_some())
                    .map(|r| end(&r.from_id))
                    .max();
                prop_assert_eq!(Some(end(&step[0])), latest, "the dependency that ended last");
            }
            if let Some(last) = timeline.path.last() {
                if timeline.running {
                    prop_assert!(timing(last).ended_at.is_none(), "a running flow's path ends running");
                } else {
                    prop_assert_eq!(end(last) - flow_start, timeline.duration_ms, "it set the flow's end");
                }
            }
        }

        #[test]
        fn closing_a_cycle_is_refused((nodes, mut rels) in graph()) {
            prop_assume!(!rels.is_empty());
            let back = edge(
                rels[0].to_id[1..].parse().unwrap(),
                rels[0].from_id[1..].parse().unwrap(),
            );
            rels.push(back);
            let Err(TimelineError::Cycle { nodes: cycle }) = Timeline::analyse(&nodes, &rels, 0) else {
                panic!("a cycle was not refused");
            };
            for (i, from) in cycle.iter().enumerate() {
                let to = &cycle[(i + 1) % cycle.len()];
                prop_assert!(rels.iter().any(|r| &r.from_id == from && &r.to_id == to), "{cycle:?}");
            }
        }
    }
}
