//! `flowctl critical-path`: the golden timeline graphs posted to a real server, read back.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{Server, flowctl, post};

/// A golden graph of `testdata/timeline/<case>` as the JSON lines that post it to `flow`,
/// and its expected analysis.
fn golden(case: &str, flow: &str) -> (String, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/timeline")
        .join(case);
    let read = |file: &str| -> Value {
        let text = std::fs::read_to_string(dir.join(file)).expect("golden file readable");
        serde_json::from_str(&text).expect("golden file is JSON")
    };
    let input = read("input.json");
    let mut nodes = input["nodes"].clone();
    for node in nodes.as_array_mut().expect("nodes is a list") {
        node["flowId"] = json!(flow);
    }
    let lines = format!(
        "{}\n{}\n",
        json!({"type": "upsert-nodes", "nodes": nodes}),
        json!({"type": "upsert-rels", "relationships": input["relationships"]})
    );
    (lines, read("expected.json"))
}

#[test]
fn json_matches_the_golden_analysis() {
    let server = Server::start(&[]);
    for case in ["chain", "diamond", "parallel", "missing_times"] {
        let (lines, expected) = golden(case, case);
        post(&server, case, &lines);
        let out = flowctl(
            &["critical-path", &server.url, case, "--format", "json"],
            "",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let actual: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let by_id = |id: &Value| {
            let node = expected["nodes"]
                .as_array()
                .expect("nodes is a list")
                .iter()
                .find(|n| n["id"] == *id)
                .expect("path ids are nodes");
            json!({"id": id, "startedAt": node["startedAt"], "endedAt": node["endedAt"],
                   "waitMs": node["waitMs"]})
        };
        let path: Vec<Value> = expected["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(by_id)
            .collect();
        assert_eq!(
            actual,
            json!({"durationMs": expected["durationMs"], "path": path}),
            "{case}"
        );
    }
}

#[test]
fn table_lists_the_path_under_the_total() {
    let server = Server::start(&[]);
    let (lines, _) = golden("diamond", "d");
    post(&server, "d", &lines);
    let out = flowctl(&["critical-path", &server.url, "d"], "");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let first: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(first, ["flow", "NODE", "a", "c", "d"], "{text}");
    assert!(
        text.starts_with("flow d took 0s; critical path of 3 node(s)\n"),
        "{text}"
    );
}

#[test]
fn a_cycle_is_refused_with_exit_1() {
    let server = Server::start(&[]);
    let (lines, _) = golden("cycle", "loop");
    post(&server, "loop", &lines);
    let out = flowctl(
        &["critical-path", &server.url, "loop", "--format", "json"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cycle: a -> b -> c"), "{stderr}");
    let missing = flowctl(&["critical-path", &server.url, "never-posted"], "");
    assert_eq!(missing.status.code(), Some(5));
}
