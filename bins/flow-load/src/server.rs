//! The server process: spawned for a run (`--spawn-server`) or only observed (`--server-pid`),
//! and its resident memory from `/proc/<pid>/status`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

use crate::target::{Target, get_status};

/// Environment a spawned server gets unless `--server-env` overrides it: no ingest rate limit,
/// room for the largest runs (all of whose clients share one address), quiet logs.
const LOAD_ENV: [(&str, &str); 11] = [
    ("FLOW_SERVER_INGEST_RATE", "0"),
    ("FLOW_SERVER_INGEST_BURST", "1000000"),
    ("FLOW_SERVER_MAX_SUBSCRIBERS", "100000"),
    ("FLOW_SERVER_MAX_FLOWS", "100000"),
    ("FLOW_SERVER_MAX_WAITERS", "100000"),
    ("FLOW_SERVER_MAX_WAITERS_PER_IP", "100000"),
    ("FLOW_SERVER_NEW_FLOWS_PER_MINUTE", "0"),
    ("FLOW_SERVER_MAX_CONNECTIONS", "200000"),
    ("FLOW_SERVER_MAX_CONNECTIONS_PER_IP", "200000"),
    ("FLOW_SERVER_REQUEST_HEAD_TIMEOUT", "1h"),
    ("FLOW_SERVER_LOG", "warn,warp::server=off"),
];

/// A server started by the tool; killed when dropped.
#[derive(Debug)]
pub(crate) struct SpawnedServer {
    child: Child,
    /// Where it listens.
    pub(crate) target: Target,
}

/// Why a server could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SpawnError {
    /// No free port or the binary did not start.
    #[error("starting {path}: {source}")]
    Start {
        /// The binary.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It exited before answering.
    #[error("server exited early with {0}")]
    Exited(std::process::ExitStatus),
    /// It did not answer `/readyz` with 200 in time.
    #[error("server not ready after {0:?}")]
    NotReady(Duration),
}

impl SpawnedServer {
    /// Starts `path` on a free loopback port and waits until `/readyz` answers 200.
    pub(crate) async fn start(
        path: &Path,
        extra_env: &[(String, String)],
    ) -> Result<Self, SpawnError> {
        let start_error = |source| SpawnError::Start {
            path: path.display().to_string(),
            source,
        };
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(start_error)?;
        let mut command = Command::new(path);
        command
            .env("FLOW_SERVER_LISTEN_ADDR", addr.to_string())
            .envs(LOAD_ENV)
            .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(start_error)?;
        let target = Target::local(addr);
        let limit = Duration::from_secs(15);
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(SpawnError::Exited(status));
            }
            if matches!(get_status(&target, "/readyz").await, Ok(200)) {
                return Ok(Self { child, target });
            }
            sleep(Duration::from_millis(20)).await;
        }
        Err(SpawnError::NotReady(limit))
    }

    /// The process id (none once it exited).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server and waits for it.
    pub(crate) async fn stop(mut self) {
        // Already exited is fine: the run is over either way.
        let _ = self.child.kill().await;
    }
}

/// `/proc/<pid>/stat` counts CPU time in `USER_HZ` ticks, 100 per second on every architecture
/// Linux supports today.
const USER_HZ: u64 = 100;

/// CPU time a process has used, all threads together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuTime {
    /// In user space, milliseconds.
    pub(crate) user_ms: u64,
    /// In the kernel on its behalf, milliseconds.
    pub(crate) system_ms: u64,
}

/// The CPU time `pid` has used so far.
pub(crate) fn cpu_time(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_cpu(&stat)
}

/// Reads `utime` and `stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn stat_cpu(stat: &str) -> Option<CpuTime> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(CpuTime {
        user_ms: user * 1000 / USER_HZ,
        system_ms: system * 1000 / USER_HZ,
    })
}

/// `VmRSS` of `pid` in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_rss(&status)
}

/// Reads the `VmRSS:` line of a `/proc/<pid>/status` text.
fn vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_line() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmRSS:\t   5120 kB\nThreads: 2\n";
        assert_eq!(vm_rss(status), Some(5120));
        assert_eq!(vm_rss("Name: x\n"), None);
    }

    #[test]
    fn stat_cpu_fields() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 250 37 0 0 20 0 3 0 1 2 3";
        assert_eq!(
            stat_cpu(stat),
            Some(CpuTime {
                user_ms: 2500,
                system_ms: 370
            })
        );
        assert_eq!(stat_cpu("42 (x) S 1"), None);
        assert_eq!(stat_cpu("no name"), None);
    }

    #[test]
    fn own_cpu_time_grows() {
        let before = cpu_time(std::process::id()).expect("own stat");
        let mut x = 0_u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = cpu_time(std::process::id()).expect("own stat");
        assert!(
            after.user_ms + after.system_ms >= before.user_ms + before.system_ms + 20,
            "{before:?} -> {after:?}"
        );
    }

    #[test]
    fn own_rss_is_readable() {
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
    }
}
