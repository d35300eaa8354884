//! Seconds-long smoke runs of the real tool against the real server: the fanout preset scaled
//! down to 20 subscribers for 2 s, and a 1 s pipelined ingest. Asserts no loss, no failed POST
//! and a parseable report; never timings.
//!
//! The server binary comes from `OPENOVA_FLOW_SERVER_BIN`, else from the same target directory
//! as this test's `flow-load` (build it first: `cargo build -p openova-flow-server`).

use std::path::PathBuf;
use std::process::Command;

fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("OPENOVA_FLOW_SERVER_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "OPENOVA_FLOW_SERVER_BIN={} is not a file",
            path.display()
        );
        return path;
    }
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_flow-load"));
    let sibling = tool.with_file_name(format!(
        "openova-flow-server{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        sibling.is_file(),
        "no server binary at {}: run `cargo build -p openova-flow-server` first (same \
         profile and target directory), or set OPENOVA_FLOW_SERVER_BIN",
        sibling.display()
    );
    sibling
}

/// Runs flow-load with the arguments `args` adds; asserts exit 0 and returns its stdout.
fn run_tool(args: impl FnOnce(&mut Command)) -> String {
    let mut tool = Command::new(env!("CARGO_BIN_EXE_flow-load"));
    args(&mut tool);
    let output = tool.output().expect("flow-load runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "flow-load failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

#[test]
fn fanout_smoke_has_no_loss_and_a_json_report() {
    let server = server_binary();
    let dir = std::env::temp_dir().join(format!("flow-load-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let report_path = dir.join("report.json");
    let stdout = run_tool(|tool| {
        tool.args(["run", "--preset", "fanout", "-S", "20", "--duration", "2s"])
            .args(["--drain", "20s", "--connect-timeout", "20s"])
            .args(["--sample-every", "5", "--quiet", "--baseline"])
            .arg("--spawn-server")
            .arg(&server)
            .arg("--json")
            .arg(&report_path);
    });
    assert!(stdout.contains("delivered"), "table printed:\n{stdout}");

    let text = std::fs::read_to_string(&report_path).expect("the report was written");
    let report: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    let delivery = &report["delivery"];
    assert_eq!(report["scenario"], "fanout");
    assert_eq!(delivery["subscribers"], 20);
    assert_eq!(delivery["connected"], 20);
    assert_eq!(delivery["streams_opened"], 20);
    assert_eq!(delivery["lost"], 0, "{text}");
    assert_eq!(delivery["duplicates"], 0, "{text}");
    assert_eq!(delivery["drained"], true, "{text}");
    let accepted = report["publish"]["accepted"]
        .as_u64()
        .expect("accepted is a count");
    assert!(accepted > 0, "{text}");
    assert_eq!(report["publish"]["failed"], 0, "{text}");
    // Every subscriber saw every event published after it connected (20 each).
    assert_eq!(delivery["frames"], delivery["expected"], "{text}");
    assert_eq!(delivery["frames"].as_u64(), Some(accepted * 20), "{text}");
    assert!(report["latency_us"]["samples"].as_u64() > Some(0), "{text}");
    assert!(
        report["server_rss"]["before_kib"].as_u64() > Some(0),
        "{text}"
    );
    // The server worked flat out for two seconds: its CPU time was measured.
    assert!(
        report["cpu"]["server_us_per_event"].as_f64() > Some(0.0),
        "{text}"
    );
    assert_eq!(report["baseline"]["lost"], 0, "{text}");
    assert_eq!(report["errors"], serde_json::json!({}), "{text}");
    std::fs::remove_dir_all(&dir).expect("temp dir is removable");
}

#[test]
fn pipelined_ingest_smoke_fails_nothing() {
    let server = server_binary();
    let stdout = run_tool(|tool| {
        tool.args(["run", "--preset", "ingest", "-F", "2", "-P", "2"])
            .args(["--pipeline", "8", "--duration", "1s"])
            .args(["--quiet", "--json", "-", "--spawn-server"])
            .arg(&server);
    });
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("the report is JSON");
    assert_eq!(report["plan"]["pipeline"], 8, "{stdout}");
    assert!(report["publish"]["accepted"].as_u64() > Some(0), "{stdout}");
    assert_eq!(report["publish"]["failed"], 0, "{stdout}");
    assert_eq!(report["errors"], serde_json::json!({}), "{stdout}");
}

/// `--baseline-process`: the batched writer runs as a child `flow-load baseline-writer`, and
/// every subscriber still gets every frame it produced.
#[test]
fn a_baseline_in_a_child_process_delivers_every_frame() {
    let stdout = run_tool(|tool| {
        tool.args([
            "baseline",
            "--preset",
            "fanout",
            "-S",
            "20",
            "--duration",
            "1s",
        ])
        .args(["--drain", "20s", "--connect-timeout", "20s"])
        .args(["--baseline-process", "--quiet", "--json", "-"]);
    });
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("the report is JSON");
    let delivery = &report["delivery"];
    assert_eq!(report["target"], "baseline (child process)", "{stdout}");
    assert_eq!(delivery["connected"], 20, "{stdout}");
    let frames = delivery["frames"].as_u64().expect("frames is a count");
    assert!(frames > 0, "{stdout}");
    assert_eq!(delivery["frames"], delivery["expected"], "{stdout}");
    assert_eq!(
        frames % 20,
        0,
        "every subscriber got the same frames: {stdout}"
    );
    assert_eq!(delivery["lost"], 0, "{stdout}");
    assert_eq!(report["errors"], serde_json::json!({}), "{stdout}");
}

/// The child writer takes only the batched shape: a plan without subscribers is refused with
/// a message, not run in-process behind the flag's back.
#[test]
fn a_baseline_process_without_subscribers_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_flow-load"))
        .args(["baseline", "--preset", "ingest", "--duration", "1s"])
        .arg("--baseline-process")
        .output()
        .expect("flow-load runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--baseline-process runs the batched baseline only"),
        "{stderr}"
    );
}
