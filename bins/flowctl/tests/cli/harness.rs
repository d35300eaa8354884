//! A real server on a loopback port, `flowctl` runs, and a followed `flowctl tail`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The server binary under test.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("OPENOVA_FLOW_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let flowctl = PathBuf::from(env!("CARGO_BIN_EXE_flowctl"));
    flowctl.with_file_name(format!(
        "openova-flow-server{}",
        std::env::consts::EXE_SUFFIX
    ))
}

/// A running server, killed on drop.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    port: u16,
}

impl Server {
    /// Starts a server with extra environment variables and waits until it is ready.
    pub(crate) fn start(env: &[(&str, &str)]) -> Self {
        let binary = server_binary();
        assert!(
            binary.is_file(),
            "openova-flow-server not found at {}: build it first (cargo build -p openova-flow-server) \
             or set OPENOVA_FLOW_SERVER_BIN",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(&binary)
            .env("FLOW_SERVER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("FLOW_SERVER_LOG", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("the server starts");
        let server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while server.request("GET", "/readyz") != Some(200) {
            assert!(Instant::now() < deadline, "the server did not get ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Sends a bodyless HTTP/1.1 request; the response status, `None` without a connection.
    pub(crate) fn request(&self, method: &str, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.split(' ').nth(1)?.parse().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `flowctl` to completion, with `stdin` as its standard input.
pub(crate) fn flowctl(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowctl"))
        .args(args)
        .env_remove("FLOW_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flowctl starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .expect("stdin is writable");
    drop(input);
    child.wait_with_output().expect("flowctl finishes")
}

/// Posts JSON lines with `flowctl post` and asserts success.
pub(crate) fn post(server: &Server, flow: &str, lines: &str) {
    let out = flowctl(&["post", &server.url, flow, "-"], lines);
    assert!(
        out.status.success(),
        "post failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `flowctl tail` whose output lines arrive on a channel; killed on drop.
pub(crate) struct Tail {
    child: Child,
    lines: Receiver<String>,
}

impl Tail {
    /// Starts `flowctl tail URL FLOW` with extra arguments.
    pub(crate) fn start(server: &Server, flow: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowctl"))
            .args(["tail", &server.url, flow, "--color", "never"])
            .args(extra)
            .env_remove("FLOW_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("flowctl tail starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next `n` lines, failing after `timeout` in total.
    pub(crate) fn take(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => got.push(line),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    panic!("expected {n} lines within {timeout:?}, got {got:#?}")
                }
            }
        }
        got
    }

    /// Lines up to and including the first one containing `needle`.
    pub(crate) fn until(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(needle);
                    got.push(line);
                    if done {
                        return got;
                    }
                }
                Err(_) => panic!("no line with {needle:?} within {timeout:?}; got {got:#?}"),
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Replaces the time column with `<time>` and each epoch of an event id with `<epochN>`,
/// numbered in order of appearance.
pub(crate) fn normalise(lines: &[String]) -> String {
    let mut epochs: Vec<String> = Vec::new();
    let mut out = String::new();
    for line in lines {
        let (time, rest) = line.split_at(line.find("  ").unwrap_or(0));
        assert!(
            time.len() == 13 && time.ends_with('Z'),
            "line starts with a time: {line:?}"
        );
        out.push_str("<time>");
        let mut first = true;
        for token in rest.split(' ') {
            if !first {
                out.push(' ');
            }
            first = false;
            match token.split_once('-') {
                Some((epoch, seq))
                    if !epoch.is_empty()
                        && epoch.bytes().all(|b| b.is_ascii_hexdigit())
                        && !seq.is_empty()
                        && seq.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    let n = match epochs.iter().position(|e| e == epoch) {
                        Some(n) => n,
                        None => {
                            epochs.push(epoch.to_owned());
                            epochs.len() - 1
                        }
                    };
                    out.push_str(&format!("<epoch{}>-{seq}", n + 1));
                }
                _ => out.push_str(token),
            }
        }
        out.push('\n');
    }
    out
}

/// Compares `actual` with the golden file `tests/cli/golden/<name>`; `UPDATE_GOLDEN=1` rewrites it.
pub(crate) fn check_golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("the golden file is writable");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    assert_eq!(
        actual, expected,
        "golden {name} differs (UPDATE_GOLDEN=1 refreshes it)"
    );
}
