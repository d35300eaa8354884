//! Test support: a real `redis-server` per test, on a free loopback port, killed when dropped.
//! The Redis-backend tests of `openova-flow-server` and of `openova-flow-adapter-flux` use it
//! as a dev-dependency; it is never published, and no library crate depends on it.
//!
//! Needs the `redis-server` binary on `PATH` (Debian: `apt-get install -y redis-server`;
//! `scripts/test` installs it).
//!
//! # Panics
//! Every function panics when `redis-server` cannot be started, does not become ready within
//! 20 seconds, or does not answer: a test cannot go on without it, and the panic is its
//! failure report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long `redis-server` may take to say it accepts connections, and to answer a command.
const WAIT: Duration = Duration::from_secs(20);

/// One `redis-server` process (no persistence unless made [durable](Self::durable)).
#[derive(Debug)]
pub struct RedisProcess {
    child: Option<Child>,
    port: u16,
    /// With append-only persistence: the data directory (removed on drop).
    dir: Option<PathBuf>,
}

impl RedisProcess {
    /// Redis without persistence, ready to accept connections.
    #[must_use]
    pub fn start() -> Self {
        Self::launch(free_port(), None)
    }

    /// Redis with an fsync-always append-only file, so a [`stop`](Self::stop) and
    /// [`restart`](Self::restart) keeps every acknowledged write.
    #[must_use]
    pub fn durable() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("openova-flow-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the data directory");
        Self::launch(port, Some(dir))
    }

    fn launch(port: u16, dir: Option<PathBuf>) -> Self {
        let mut command = Command::new("redis-server");
        command.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]);
        match &dir {
            Some(dir) => command
                .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                .arg(dir),
            None => command.args(["--appendonly", "no"]),
        };
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install -y redis-server)");
        let stdout = child.stdout.take().expect("piped stdout");
        // Ready once it logs so; later lines are drained so it never blocks on the pipe. The
        // thread ends when the process does (its stdout closes).
        let (ready, is_ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready.send(());
                }
            }
        });
        is_ready
            .recv_timeout(WAIT)
            .expect("redis-server becomes ready");
        Self {
            child: Some(child),
            port,
            dir,
        }
    }

    /// `redis://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `FLUSHALL`: every key is gone.
    pub fn flush_all(&self) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(WAIT))
            .expect("set a read timeout");
        stream
            .write_all(b"*1\r\n$8\r\nFLUSHALL\r\n")
            .expect("send FLUSHALL");
        let mut reply = [0_u8; 5];
        stream.read_exact(&mut reply).expect("FLUSHALL reply");
        assert_eq!(&reply, b"+OK\r\n", "FLUSHALL answered {reply:?}");
    }

    /// Kills the process (SIGKILL): with [`durable`](Self::durable), every acknowledged write
    /// is on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (and data directory).
    pub fn restart(&mut self) {
        self.stop();
        let again = Self::launch(self.port, self.dir.take());
        *self = again;
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A free loopback port (bound then released; the OS does not hand it out again at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
