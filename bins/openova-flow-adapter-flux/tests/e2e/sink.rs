//! Where the adapter delivers: the real `openova-flow-server` binary when it can be found
//! (`OPENOVA_FLOW_SERVER_BIN`, else next to the adapter binary), else the loopback receiver.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, scratch};
use crate::receiver::Receiver;

fn server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OPENOVA_FLOW_SERVER_BIN") {
        return Some(PathBuf::from(path));
    }
    let adapter = PathBuf::from(env!("CARGO_BIN_EXE_openova-flow-adapter-flux"));
    let sibling = adapter.with_file_name("openova-flow-server");
    sibling.is_file().then_some(sibling)
}

/// A flow server for the adapter to feed.
pub(crate) enum Sink {
    /// The real binary on a fixed port (so a restart keeps the URL).
    Server {
        child: Child,
        port: u16,
        binary: PathBuf,
    },
    /// The loopback receiver.
    Receiver { receiver: Receiver, url: String },
}

impl Sink {
    /// The real server if available, else the receiver.
    pub(crate) async fn start() -> Self {
        match server_binary() {
            Some(binary) => {
                let port = free_port();
                let child = spawn_server(&binary, port).await;
                Self::Server {
                    child,
                    port,
                    binary,
                }
            }
            None => {
                eprintln!("openova-flow-server binary not found: using the loopback receiver");
                let receiver = Receiver::default();
                let url = format!("http://{}", receiver.serve().await);
                Self::Receiver { receiver, url }
            }
        }
    }

    /// Base URL.
    pub(crate) fn url(&self) -> String {
        match self {
            Self::Server { port, .. } => format!("http://127.0.0.1:{port}"),
            Self::Receiver { url, .. } => url.clone(),
        }
    }

    /// Loses all state: kills and restarts the server, or resets the receiver's epoch.
    pub(crate) async fn restart(&mut self) {
        match self {
            Self::Server {
                child,
                port,
                binary,
            } => {
                let _ = child.kill();
                let _ = child.wait();
                *child = spawn_server(binary, *port).await;
            }
            Self::Receiver { receiver, .. } => receiver.restart(),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Self::Server { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn spawn_server(binary: &PathBuf, port: u16) -> Child {
    let log = std::fs::File::create(scratch("server.log")).expect("log file");
    let child = Command::new(binary)
        .env_clear()
        .env("FLOW_SERVER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone"))
        .stderr(log)
        .spawn()
        .expect("start openova-flow-server");
    let url = format!("http://127.0.0.1:{port}/healthz");
    crate::eventually(
        "openova-flow-server to listen",
        Duration::from_secs(10),
        || {
            let url = url.clone();
            async move {
                crate::http()
                    .get(url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        },
    )
    .await;
    child
}
