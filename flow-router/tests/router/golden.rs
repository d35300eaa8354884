//! Golden SSE vectors: `testdata/sse/<case>/script.txt` and, per subscriber, the exact bytes
//! it receives in `<name>.sse`. `UPDATE_GOLDEN=1` rewrites the `.sse` files.
//!
//! Script lines (`#` starts a comment):
//! `config <ring_capacity|flow_byte_budget|retry_ms> <n>`, `ingest <flow> <json>`,
//! `subscribe <name> <flow> [<last-event-id>]`, `poll <name>` (until pending or closed),
//! `heartbeat <name>`, `delete <flow>`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use flow_router::{Cursor, HEARTBEAT, RouterConfig};

use crate::sim::Sim;

fn run(script: &str) -> BTreeMap<String, Vec<u8>> {
    let mut config = RouterConfig::default();
    let mut sim: Option<Sim> = None;
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut cursors: BTreeMap<String, Cursor> = BTreeMap::new();
    for line in script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        if command == "config" {
            let (key, value) = rest.split_once(' ').unwrap();
            let value: usize = value.parse().unwrap();
            match key {
                "ring_capacity" => config.ring_capacity = value,
                "flow_byte_budget" => config.flow_byte_budget = value,
                "retry_ms" => config.retry = Duration::from_millis(value as u64),
                other => panic!("unknown config {other}"),
            }
            continue;
        }
        let sim = sim.get_or_insert_with(|| Sim::new(config.clone()));
        match command {
            "ingest" => {
                let (flow, json) = rest.split_once(' ').unwrap();
                sim.ingest(flow, json);
            }
            "subscribe" => {
                let mut words = rest.splitn(3, ' ');
                let (name, flow) = (words.next().unwrap(), words.next().unwrap());
                let sub = sim.subscribe(flow, words.next());
                out.entry(name.to_owned())
                    .or_default()
                    .extend_from_slice(&sub.initial);
                cursors.insert(name.to_owned(), sub.cursor);
            }
            "poll" => {
                let drained = sim.drain(cursors.get_mut(rest).unwrap());
                out.get_mut(rest).unwrap().extend_from_slice(&drained.bytes);
            }
            "heartbeat" => out.get_mut(rest).unwrap().extend_from_slice(HEARTBEAT),
            "delete" => {
                sim.router.delete(rest);
            }
            other => panic!("unknown command {other}"),
        }
    }
    out
}

fn check(case: &Path) {
    let script = std::fs::read_to_string(case.join("script.txt")).unwrap();
    let actual = run(&script);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, bytes) in &actual {
        let path = case.join(format!("{name}.sse"));
        if update {
            std::fs::write(&path, bytes).unwrap();
            continue;
        }
        let expected = std::fs::read(&path)
            .unwrap_or_else(|err| panic!("{}: {err} (run with UPDATE_GOLDEN=1)", path.display()));
        assert_eq!(
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&expected),
            "{}",
            path.display()
        );
    }
    for entry in std::fs::read_dir(case).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sse") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                actual.contains_key(&name),
                "{} has no subscriber",
                path.display()
            );
        }
    }
}

#[test]
fn golden_sse_vectors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sse");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("script.txt").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 6,
        "golden cases missing under {}",
        root.display()
    );
    for case in cases {
        check(&case);
    }
}
