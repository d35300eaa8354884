//! Where the adapter delivers in the Flux scenarios: the real `openova-flow-server` binary
//! (`OPENOVA_FLOW_SERVER_BIN`, else next to the adapter binary). A missing binary fails the
//! test rather than quietly testing against something else.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::{free_port, scratch};

/// The real server binary: `OPENOVA_FLOW_SERVER_BIN`, else the one cargo built next to the
/// adapter (`cargo test --workspace` builds every binary before running tests).
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("OPENOVA_FLOW_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let adapter = PathBuf::from(env!("CARGO_BIN_EXE_openova-flow-adapter-flux"));
    let sibling = adapter.with_file_name("openova-flow-server");
    assert!(
        sibling.is_file(),
        "{} not found: run the workspace's tests (`cargo test --workspace`) or set \
         OPENOVA_FLOW_SERVER_BIN to an openova-flow-server binary",
        sibling.display()
    );
    sibling
}

/// A real `openova-flow-server` process for the adapter to feed, on a fixed port so a restart
/// keeps the URL.
pub(crate) struct Sink {
    child: Child,
    port: u16,
    binary: PathBuf,
    env: Vec<(String, String)>,
}

impl Sink {
    /// Starts the server with its defaults and waits until it answers.
    pub(crate) async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the server with extra environment variables and waits until it answers.
    pub(crate) async fn start_with(env: &[(&str, &str)]) -> Self {
        let binary = server_binary();
        let port = free_port();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let child = spawn_server(&binary, port, &env).await;
        Self {
            child,
            port,
            binary,
            env,
        }
    }

    /// Base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Loses all state: kills the server (SIGKILL) and starts a new one on the same port;
    /// returns once the new one answers.
    pub(crate) async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_server(&self.binary, self.port, &self.env).await;
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_server(binary: &PathBuf, port: u16, env: &[(String, String)]) -> Child {
    let log = std::fs::File::create(scratch("server.log")).expect("log file");
    let child = Command::new(binary)
        .env_clear()
        .env("FLOW_SERVER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .envs(env.iter().map(|(k, v)| (k, v)))
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
