//! `testdata/helmrelease/<case>/input.json` -> `expected.json`, through one `check()`.
//!
//! `input.json` is one object or a `v1` `List` of HelmReleases and HelmCharts; the runner feeds
//! it to a [`Reconciler`] as an initial list and records the first flush. Run with
//! `UPDATE_GOLDEN=1` to rewrite the expectations.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use flow_contract::FlowMessage;
use flow_flux_mapper::{Event, Kind, Reconciler};
use serde_json::Value;

use super::{assert_valid, config, testdata};

pub(crate) fn cases() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(testdata().join("helmrelease"))
        .expect("testdata/helmrelease exists")
        .map(|entry| entry.expect("readable dir entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

pub(crate) fn items(input: &Value) -> Vec<Value> {
    match input.get("kind").and_then(Value::as_str) {
        Some("List") => input["items"].as_array().expect("List has items").clone(),
        _ => vec![input.clone()],
    }
}

pub(crate) fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(input: &Value) -> Vec<FlowMessage> {
    let mut reconciler = Reconciler::new(config());
    for kind in [Kind::HelmRelease, Kind::HelmChart] {
        reconciler.handle(Event::InitStarted(kind)).unwrap();
    }
    for item in items(input) {
        reconciler.handle(Event::InitObject(item)).unwrap();
    }
    for kind in [Kind::HelmRelease, Kind::HelmChart] {
        reconciler.handle(Event::InitDone(kind)).unwrap();
    }
    reconciler.flush()
}

/// Maps `dir/input.json` and compares with `dir/expected.json`; returns a failure text.
fn check(dir: &Path) -> Option<String> {
    let messages = run(&read_json(&dir.join("input.json")));
    messages.iter().for_each(assert_valid);
    let actual = serde_json::to_string_pretty(&messages).expect("messages serialise") + "\n";
    let expected_path = dir.join("expected.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&expected_path, &actual).expect("write expected.json");
        return None;
    }
    let expected = fs::read_to_string(&expected_path).unwrap_or_default();
    (expected != actual).then(|| {
        format!(
            "{}: output differs from expected.json (UPDATE_GOLDEN=1 refreshes)\n--- actual\n{actual}",
            dir.display()
        )
    })
}

#[test]
fn golden_cases() {
    let cases = cases();
    assert!(cases.len() >= 25, "golden cases missing: {}", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|dir| check(dir)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn golden_cases_cover_every_rule_of_the_table() {
    let mut rules = BTreeSet::new();
    for dir in cases() {
        for message in run(&read_json(&dir.join("input.json"))) {
            if let FlowMessage::UpsertNodes { nodes } = message {
                for node in nodes {
                    if let Some(rule) = node.meta.as_ref().and_then(|m| m.get("rule")) {
                        rules.insert(rule.as_str().unwrap().to_owned());
                    }
                }
            }
        }
    }
    let all: BTreeSet<String> = [
        "deleting",
        "not-reconciled",
        "stalled",
        "ready",
        "stale-generation",
        "dependency-not-ready",
        "source-not-ready",
        "failed",
        "progressing",
        "unknown-reason",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(rules, all);
}
