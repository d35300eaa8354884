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
