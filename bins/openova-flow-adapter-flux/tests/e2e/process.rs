//! Starting the real adapter binary against the stand-ins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A free loopback port (bound then released; the OS does not hand it out again at once).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A unique scratch file path for this test process.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!(
        "openova-adapter-e2e-{}-{n}-{name}",
        std::process::id()
    ))
}

fn kubeconfig(api: SocketAddr) -> PathBuf {
    let path = scratch("kubeconfig.yaml");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: http://{api}\n\
         contexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin\n    namespace: flux-system\n\
         current-context: standin\nusers:\n- name: standin\n  user: {{}}\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// A running adapter process; killed on drop.
pub(crate) struct Adapter {
    child: Child,
    pub(crate) health: String,
    pub(crate) log: PathBuf,
}

impl Adapter {
    /// Starts the binary with fast test timings; `env` overrides them.
    pub(crate) fn start(api: SocketAddr, server: &str, env: &[(&str, &str)]) -> Self {
        let fast = [
            ("EMIT_INTERVAL", "50ms"),
            ("POST_TIMEOUT", "2s"),
            ("RESYNC_INTERVAL", "300ms"),
            ("RETRY_MAX_DELAY", "500ms"),
            ("LEADER_ELECTION", "false"),
        ];
        let mut all: Vec<(&str, &str)> = fast.to_vec();
        all.extend_from_slice(env);
        Self::start_with_defaults(api, server, &all)
    }

    /// Starts the binary with the adapter's own defaults for every setting but the required
    /// ones, the health address and `env`.
    pub(crate) fn start_with_defaults(api: SocketAddr, server: &str, env: &[(&str, &str)]) -> Self {
        let health_port = free_port();
        let log = scratch("adapter.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_openova-flow-adapter-flux"));
        command
            .env_clear()
            .env("KUBECONFIG", kubeconfig(api))
            .env("RUST_LOG", "info,openova_flow_adapter_flux=debug")
            .env("FLOW_SERVER_URL", server)
            .env("FLOW_ID", "rollout")
            .env("REGION_KEY", "fsn1")
            .env("POD_NAME", "adapter-under-test")
            .env("HEALTH_LISTEN_ADDR", format!("127.0.0.1:{health_port}"));
        for (key, value) in env {
            command.env(key, value);
        }
        let out = std::fs::File::create(&log).expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone"))
            .stderr(out)
            .spawn()
            .expect("start the adapter binary");
        Self {
            child,
            health: format!("http://127.0.0.1:{health_port}"),
            log,
        }
    }

    /// The value of one metric line (`name{labels} value`) on /metrics, if present.
    pub(crate) async fn metric(&self, line_prefix: &str) -> Option<f64> {
        let text = crate::http()
            .get(format!("{}/metrics", self.health))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// GET /readyz status code.
    pub(crate) async fn ready(&self) -> Option<u16> {
        Some(
            crate::http()
                .get(format!("{}/readyz", self.health))
                .send()
                .await
                .ok()?
                .status()
                .as_u16(),
        )
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub(crate) fn terminate(&mut self, within: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "adapter did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process's log (for assertion messages).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.kill();
    }
}
