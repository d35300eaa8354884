//! Fuzzes random ingest / subscribe / poll / drop / delete / idle sequences on a small router.
//!
//! Invariants: every cursor sees strictly increasing ids within its epoch; a frame that is
//! not the direct successor of the last one seen is always a snapshot (a loss is announced);
//! ring, flow and subscriber bounds hold after every step; nothing panics.

#![no_main]

use std::time::{Duration, Instant};

use flow_router::{Cursor, EventId, Polled, Router, RouterConfig};
use libfuzzer_sys::fuzz_target;

const STATUSES: [&str; 4] = ["pending", "running", "succeeded", "failed"];

/// The id and event name of a frame.
fn header(frame: &[u8]) -> (String, EventId) {
    let text = std::str::from_utf8(frame).expect("frames are UTF-8");
    let event = text
        .lines()
        .find_map(|l| l.strip_prefix("event: "))
        .expect("an event line")
        .to_owned();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .and_then(EventId::parse)
        .expect("a canonical id");
    (event, id)
}

fn message(flow: &str, a: u8, b: u8) -> String {
    let (node, other, status) = (a % 6, b % 6, STATUSES[usize::from(b % 4)]);
    match a % 5 {
        0 | 1 => format!(
            r#"{{"type":"upsert-nodes","nodes":[{{"id":"n{node}","flowId":"{flow}","label":"n","status":"{status}"}}]}}"#
        ),
        2 => format!(
            r#"{{"type":"upsert-rels","relationships":[{{"fromId":"n{node}","toId":"n{other}","type":"contains"}}]}}"#
        ),
        3 => format!(r#"{{"type":"delete-nodes","ids":["n{node}"]}}"#),
        _ => format!(
            r#"{{"type":"snapshot","flow":{{"id":"{flow}","status":"{status}","startedAt":0}},"nodes":[],"relationships":[]}}"#
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut config = RouterConfig::default();
    config.ring_capacity = 3;
    // Half for the ring (a few frames), half for the state (a few nodes).
    config.flow_byte_budget = 6000;
    // About three small flows: the memory bound evicts and refuses too.
    config.max_memory_bytes = 4000;
    config.max_flows = 2;
    config.max_subscribers = 4;
    config.max_state_items = 8;
    config.idle_timeout = Duration::from_secs(5);
    let (capacity, share) = (config.ring_capacity, config.flow_share());
    let mut router = Router::new(config, 0xe0).expect("valid config");
    let mut now = Instant::now();
    let mut cursors: Vec<(Cursor, EventId)> = Vec::new();

    for chunk in data.chunks(3) {
        let [op, a, b] = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let flow = ["f0", "f1", "f2"][usize::from(a % 3)];
        match op % 7 {
            0 | 1 => {
                let _ = router.ingest_bytes(flow, message(flow, a, b).as_bytes(), now);
            }
            2 => {
                let resume = cursors
                    .get(usize::from(b) % 4)
                    .map(|(_, id)| id.to_string());
                if let Ok(sub) = router.subscribe(flow, resume.as_deref(), now) {
                    let position = sub.cursor.position();
                    cursors.push((sub.cursor, position));
                }
            }
            3 | 4 => {
                let Some((cursor, last)) = cursors.get_mut(usize::from(a) % 4) else {
                    continue;
                };
                loop {
                    match router.poll(cursor, now) {
                        Polled::Frame(frame) => {
                            let (_, id) = header(&frame);
                            assert_eq!(id.epoch, last.epoch);
                            assert!(id.seq > last.seq, "ids strictly increase");
                            *last = id;
                        }
                        Polled::Resync(frame) => {
                            let (event, id) = header(&frame);
                            assert_eq!(event, "snapshot", "a loss is announced by a snapshot");
                            assert_eq!(id.epoch, last.epoch);
                            assert!(id.seq > last.seq);
                            *last = id;
                        }
                        Polled::Pending | Polled::Closed => break,
                    }
                }
            }
            5 => {
                if !cursors.is_empty() {
                    cursors.swap_remove(usize::from(a) % cursors.len());
                }
            }
            _ if b % 2 == 0 => {
                router.delete(flow);
            }
            _ => {
                now += Duration::from_secs(u64::from(b % 8));
                let _ = router.handle_timeout(now);
            }
        }
        let stats = router.stats();
        assert!(stats.flows <= 2 && stats.subscribers == cursors.len());
        assert!(stats.memory_bytes <= stats.memory_limit);
        let mut total = 0;
        for info in router.flows() {
            assert!(info.ring_frames <= capacity && info.ring_bytes <= share);
            assert!(info.state_bytes <= share);
            total += info.bytes;
        }
        assert_eq!(total, stats.memory_bytes);
    }
});
