//! `flowctl tail`: golden output for a scripted sequence, resync after a DELETE, exact resume.

use std::time::Duration;

use crate::harness::{Server, Tail, check_golden, normalise, post};

const WAIT: Duration = Duration::from_secs(15);

fn node(id: &str, status: &str, meta: &str) -> String {
    format!(
        r#"{{"type":"upsert-nodes","nodes":[{{"id":"{id}","flowId":"golden","label":"{id}","status":"{status}"{meta}}}]}}"#
    )
}

#[test]
fn scripted_sequence_matches_golden_output_across_a_server_side_disconnect() {
    let server = Server::start(&[]);
    post(
        &server,
        "golden",
        &[
            node("r1", "running", ""),
            node("r1/a", "pending", ""),
            node("r1/b", "pending", ""),
            r#"{"type":"upsert-rels","relationships":[{"fromId":"r1/a","toId":"r1","type":"contains"},{"fromId":"r1/a","toId":"r1/b","type":"finish-to-start"}]}"#.to_owned(),
        ]
        .join("\n"),
    );
    let tail = Tail::start(&server, "golden", &[]);
    let mut lines = tail.take(4, WAIT);

    post(
        &server,
        "golden",
        &[
            node("r1/a", "running", r#","meta":{"message":"Running 'install' action","reason":"Progressing"}"#),
            format!(
                r#"{{"type":"upsert-nodes","nodes":[{},{}]}}"#,
                r#"{"id":"r1/a","flowId":"golden","label":"a","status":"succeeded","meta":{"reason":"InstallSucceeded"}}"#,
                r#"{"id":"r1/b","flowId":"golden","label":"b","status":"running"}"#
            ),
            node("r1/b", "running", r#","meta":{"reason":"StillRunning"}"#),
            node("r1/b", "failed", r#","meta":{"message":"timed out\nwaiting","reason":"InstallFailed"}"#),
            node("r1/c", "waiting", ""),
            r#"{"type":"delete-nodes","ids":["r1/c"]}"#.to_owned(),
        ]
        .join("\n"),
    );
    lines.extend(tail.take(6, WAIT));

    // A DELETE ends the stream; the reconnection's Last-Event-ID belongs to the old epoch, so
    // the server resynchronises with a snapshot of the new, empty flow.
    assert_eq!(server.request("DELETE", "/v1/flows/golden"), Some(204));
    lines.extend(tail.until("r1/b  failed -> (gone)", WAIT));
    post(&server, "golden", &node("r1", "pending", ""));
    lines.extend(tail.take(1, WAIT));

    check_golden("tail.txt", &normalise(&lines));
}

#[test]
fn a_dropped_connection_resumes_exactly_from_the_last_event_id() {
    // No heartbeats for a minute, so `--idle-timeout 300ms` drops the connection while the
    // flow's ring still holds every event.
    let server = Server::start(&[("FLOW_SERVER_HEARTBEAT_INTERVAL", "60s")]);
    post(
        &server,
        "resume",
        &node("a", "pending", "").replace("golden", "resume"),
    );
    let tail = Tail::start(&server, "resume", &["--idle-timeout", "300ms"]);
    let first = tail.take(2, WAIT);
    assert!(first[1].ends_with("a  (new) -> pending"), "{first:?}");

    let dropped = tail.until("disconnected: nothing received for", WAIT);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    // Posted while the client is away: it must arrive by replay, without a snapshot.
    post(
        &server,
        "resume",
        &node("a", "running", "").replace("golden", "resume"),
    );
    let back = tail.until("a  pending -> running", WAIT);
    let text = normalise(&back);
    assert!(
        text.starts_with("<time>  reconnected, resuming after <epoch1>-1\n"),
        "{text}"
    );
    assert!(!text.contains("resynced"), "{text}");
}

#[test]
fn json_lines_carry_the_same_changes() {
    let server = Server::start(&[]);
    post(
        &server,
        "json",
        &node("a", "failed", r#","meta":{"reason":"InstallFailed"}"#).replace("golden", "json"),
    );
    let tail = Tail::start(&server, "json", &["--json"]);
    let lines = tail.take(2, WAIT);
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(parsed[0]["kind"], "connected");
    assert_eq!(parsed[1]["kind"], "change");
    assert_eq!(parsed[1]["node"], "a");
    assert_eq!(parsed[1]["old"], serde_json::Value::Null);
    assert_eq!(parsed[1]["new"], "failed");
    assert_eq!(parsed[1]["reason"], "InstallFailed");
    assert!(
        parsed[1]["eventId"]
            .as_str()
            .is_some_and(|id| id.ends_with("-1"))
    );
}
