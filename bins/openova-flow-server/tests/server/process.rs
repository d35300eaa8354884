//! The real binary: configuration errors, `--help`, and a graceful drain on SIGTERM with
//! streams open.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::event_stream::{EventReader, WAIT};

const BINARY: &str = env!("CARGO_BIN_EXE_openova-flow-server");

/// The binary with a clean `FLOW_SERVER_*` environment plus `env`.
fn command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars() {
        if name.starts_with("FLOW_SERVER_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command
}

#[test]
fn malformed_values_exit_64_naming_the_variable() {
    for (name, value) in [
        ("FLOW_SERVER_RING_CAPACITY", "lots"),
        ("FLOW_SERVER_HEARTBEAT_INTERVAL", "15"),
        ("FLOW_SERVER_LISTEN_ADDR", "localhost:80"),
        ("FLOW_SERVER_MAX_FLOWS", "0"),
        ("FLOW_SERVER_MAX_CONNECTIONS_PER_IP", "none"),
        ("FLOW_SERVER_TRUSTED_PROXIES", "proxy.local"),
    ] {
        let output = command(&[(name, value)]).output().expect("the binary runs");
        assert_eq!(output.status.code(), Some(64), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}

#[test]
fn an_unknown_variable_exits_64_naming_the_closest_known_one() {
    let output = command(&[("FLOW_SERVER_MAX_CONECTIONS", "10")])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FLOW_SERVER_MAX_CONECTIONS")
            && stderr.contains("did you mean FLOW_SERVER_MAX_CONNECTIONS?"),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let output = command(&[])
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "FLOW_SERVER_LISTEN_ADDR",
        "[default: :8080]",
        "FLOW_SERVER_RING_CAPACITY",
        "[default: 4096]",
        "FLOW_SERVER_HEARTBEAT_INTERVAL",
        "[default: 15s]",
        "FLOW_SERVER_SHUTDOWN_GRACE",
        "FLOW_SERVER_INGEST_TOKENS",
        "FLOW_SERVER_READ_TOKENS",
        "FLOW_SERVER_CORS_ORIGINS",
    ] {
        assert!(
            help.contains(expected),
            "{expected} missing from --help:\n{help}"
        );
    }
}

/// Kills the child if a test fails before it exits.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on a free loopback port with `env`; returns it and its address.
pub(crate) async fn spawn(env: &[(&str, &str)]) -> (Running, String) {
    let mut child = command(&[("FLOW_SERVER_LISTEN_ADDR", "127.0.0.1:0")])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let child = Running(child);

    // The JSON log line `listening` carries the bound address; later lines are drained so the
    // child never blocks on a full pipe.
    let (lines, log) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || {
        loop {
            let line = log.recv_timeout(WAIT).expect("the server logs its address");
            let entry: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
            if entry["fields"]["message"] == "listening" {
                let addr = entry["fields"]["addr"]
                    .as_str()
                    .expect("addr field")
                    .to_owned();
                // Keep draining the pipe in the background.
                std::thread::spawn(move || while log.recv().is_ok() {});
                return addr;
            }
        }
    })
    .await
    .expect("log reader");
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_open_streams_and_exits_zero() {
    let (mut child, addr) = spawn(&[("FLOW_SERVER_SHUTDOWN_GRACE", "5s")]).await;
    let client = crate::fixture::client();
    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let response = client
        .get(format!("http://{addr}/v1/flows/f/stream"))
        .send()
        .await
        .expect("stream");
    let mut reader = EventReader::new(response);
    assert_eq!(
        reader.next_data().await.expect("snapshot").event,
        "snapshot"
    );
    let posted = client
        .post(format!("http://{addr}/v1/flows/f/events"))
        .header("content-type", "application/json")
        .body(crate::fixture::upsert_nodes("f", &[("a", "running")]))
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), 200);
    assert_eq!(
        reader.next_data().await.expect("live frame").event,
        "upsert-nodes"
    );

    let pid = child.0.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    assert_eq!(reader.next_data().await, None, "the open stream ends");

    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = child.0.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .expect("waiter");
    assert_eq!(status.code(), Some(0));
}
