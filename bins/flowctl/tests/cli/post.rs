//! `flowctl post`: local validation with field paths, nothing sent on error, tokens.

use crate::harness::{Server, flowctl};

#[test]
fn a_bad_file_is_rejected_with_its_path_and_nothing_is_sent() {
    let server = Server::start(&[]);
    let dir = std::env::temp_dir().join(format!("flowctl-post-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"p","label":"a","status":"pending"}]}"#,
            "\n",
            r#"{"type":"upsert-nodes","nodes":[{"id":"b","flowId":"p","label":"b","status":"pending","colour":"red"}]}"#,
            "\n",
        ),
    )
    .expect("write the file");
    let out = flowctl(
        &["post", &server.url, "p", file.to_str().expect("UTF-8 path")],
        "",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "invalid message #2 (line 2): upsert-nodes: $.nodes[0].colour: unknown field \"colour\""
        ),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(
        server.request("GET", "/v1/flows/p/snapshot"),
        Some(404),
        "the valid first message was not sent either"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_array_is_posted_in_order() {
    let server = Server::start(&[]);
    let out = flowctl(
        &["post", &server.url, "p", "-"],
        r#"[{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"p","label":"a","status":"pending"}]},
            {"type":"delete-nodes","ids":["a"]}]"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("posted 2 message(s) to p; last seq 2 epoch ")
    );
}

#[test]
fn tokens_are_sent_and_refusals_exit_4() {
    let server = Server::start(&[("FLOW_SERVER_INGEST_TOKENS", "secret")]);
    let message = r#"{"type":"delete-nodes","ids":["a"]}"#;
    let refused = flowctl(&["post", &server.url, "p", "-"], message);
    assert_eq!(
        refused.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let accepted = flowctl(
        &["post", &server.url, "p", "-", "--token", "secret"],
        message,
    );
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        flowctl(&["post", "not a url", "p", "-"], "").status.code(),
        Some(2)
    );
    assert_eq!(
        flowctl(&["snapshot", "http://127.0.0.1:1", "bad/id"], "")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(flowctl(&["tail"], "").status.code(), Some(2));
}
