//! `testdata/{helmrelease,kustomization}/<case>/input.json` -> `expected.json`, through one
//! `check()`.
//!
//! `input.json` is one object or a `v1` `List` of HelmReleases, HelmCharts and Kustomizations;
//! the runner feeds it to a [`Reconciler`] as an initial list of every kind and records the
//! first flush. A case with a `relist.json` then relists every kind with those objects and
//! records that flush in `expected-relist.json`. Run with `UPDATE_GOLDEN=1` to rewrite the
//! expectations.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use flow_contract::FlowMessage;
use flow_flux_mapper::{Event, Kind, Reconciler};
use serde_json::Value;

use super::{assert_valid, config, testdata};

/// The directories holding golden cases.
const SUITES: [&str; 2] = ["helmrelease", "kustomization"];

/// The cases of one suite, sorted.
pub(crate) fn suite(name: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(testdata().join(name))
        .unwrap_or_else(|e| panic!("testdata/{name}: {e}"))
        .map(|entry| entry.expect("readable dir entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Every case of every suite.
pub(crate) fn cases() -> Vec<PathBuf> {
    SUITES.iter().flat_map(|name| suite(name)).collect()
}

/// The object lists of a case: `input.json`, then `relist.json` when there is one.
pub(crate) fn inputs(dir: &Path) -> Vec<Value> {
    let mut inputs = vec![read_json(&dir.join("input.json"))];
    let relist = dir.join("relist.json");
    if relist.exists() {
        inputs.push(read_json(&relist));
    }
    inputs
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

/// One flush per input list: the initial list, then each relist.
fn run(inputs: &[Value]) -> Vec<Vec<FlowMessage>> {
    let mut reconciler = Reconciler::new(config());
    inputs
        .iter()
        .map(|input| {
            for kind in Kind::ALL {
                reconciler.handle(Event::InitStarted(kind)).unwrap();
            }
            for item in items(input) {
                reconciler.handle(Event::InitObject(item)).unwrap();
            }
            for kind in Kind::ALL {
                reconciler.handle(Event::InitDone(kind)).unwrap();
            }
            reconciler.flush()
        })
        .collect()
}

/// Maps the case's inputs and compares each flush with its expectation; returns the
/// failure texts.
fn check(dir: &Path) -> Vec<String> {
    let flushes = run(&inputs(dir));
    ["expected.json", "expected-relist.json"]
        .into_iter()
        .zip(flushes)
        .filter_map(|(file, messages)| {
            messages.iter().for_each(assert_valid);
            let actual =
                serde_json::to_string_pretty(&messages).expect("messages serialise") + "\n";
            let expected_path = dir.join(file);
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                fs::write(&expected_path, &actual).expect("write the expectation");
                return None;
            }
            let expected = fs::read_to_string(&expected_path).unwrap_or_default();
            (expected != actual).then(|| {
                format!(
                    "{}: output differs from {file} (UPDATE_GOLDEN=1 refreshes)\n--- actual\n{actual}",
                    dir.display()
                )
            })
        })
        .collect()
}

#[test]
fn golden_cases() {
    assert!(
        suite("helmrelease").len() >= 25,
        "HelmRelease golden cases missing"
    );
    assert!(
        suite("kustomization").len() >= 15,
        "Kustomization golden cases missing"
    );
    let failures: Vec<String> = cases().iter().flat_map(|dir| check(dir)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The rules of the nodes of `kind` in the first flush of every case of `suite`.
fn rules_of(suite_name: &str, kind: &str) -> BTreeSet<String> {
    let mut rules = BTreeSet::new();
    for dir in suite(suite_name) {
        for message in run(&inputs(&dir)).swap_remove(0) {
            if let FlowMessage::UpsertNodes { nodes } = message {
                for node in nodes {
                    let Some(meta) = node.meta.as_ref() else {
                        continue;
                    };
                    if meta.get("kind").and_then(|k| k.as_str()) == Some(kind)
                        && let Some(rule) = meta.get("rule")
                    {
                        rules.insert(rule.as_str().unwrap().to_owned());
                    }
                }
            }
        }
    }
    rules
}

#[test]
fn golden_cases_cover_every_rule_of_the_table() {
    let all = every_rule();
    assert_eq!(rules_of("helmrelease", "HelmRelease"), all);
    assert_eq!(rules_of("kustomization", "Kustomization"), all);
}

fn every_rule() -> BTreeSet<String> {
    [
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
    .collect()
}
