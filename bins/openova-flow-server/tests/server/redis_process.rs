//! A real `redis-server` per test, on a free loopback port, killed when dropped. Needs the
//! `redis-server` binary on `PATH` (Debian: `apt-get install -y redis-server`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::event_stream::WAIT;

/// One `redis-server` process (no persistence unless made durable).
pub(crate) struct RedisProcess {
    child: Option<Child>,
    port: u16,
    /// With append-only persistence: the data directory (removed on drop).
    dir: Option<PathBuf>,
}

impl RedisProcess {
    /// Redis without persistence.
    pub(crate) fn start() -> Self {
        Self::launch(free_port(), None)
    }

    /// Redis with an fsync-always append-only file, so a stop and start keeps every write.
    pub(crate) fn durable() -> Self {
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
        // Ready once it logs so; later lines are drained so it never blocks on the pipe.
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

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the process (SIGKILL): with `durable`, every acknowledged write is on disk.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (and data directory).
    pub(crate) fn restart(&mut self) {
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
