//! A real `redis-server` per test (as the server's own tests run it), on a free loopback port,
//! without persistence, killed when dropped. Needs `redis-server` on `PATH`
//! (Debian: `apt-get install -y redis-server`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::process::free_port;

/// One `redis-server` process.
pub(crate) struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts it and waits until it says it accepts connections.
    pub(crate) fn start() -> Self {
        let port = free_port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
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
            .recv_timeout(Duration::from_secs(15))
            .expect("redis-server becomes ready");
        Self { child, port }
    }

    /// `redis://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `FLUSHALL`: every key of every flow is gone.
    pub(crate) fn flush_all(&self) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream
            .write_all(b"*1\r\n$8\r\nFLUSHALL\r\n")
            .expect("send FLUSHALL");
        let mut reply = [0_u8; 5];
        stream.read_exact(&mut reply).expect("FLUSHALL reply");
        assert_eq!(&reply, b"+OK\r\n", "FLUSHALL answered {reply:?}");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
