//! Building apps and servers under test, and the messages they are fed.

use std::net::SocketAddr;

use openova_flow_server::{App, Config, Drained, serve_with_stream_runtime};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::event_stream::{EventReader, WAIT};
use redis_process::RedisProcess;

/// A configuration from flags (the environment is not read for flags given here).
pub(crate) fn config(flags: &[&str]) -> Config {
    let args = std::iter::once("openova-flow-server").chain(flags.iter().copied());
    Config::try_from_args(args).expect("test flags are valid")
}

/// An app with `flags`, ready (as after binding).
pub(crate) fn app(flags: &[&str]) -> App {
    let app = App::new(&config(flags), 0xe0).expect("valid engine bounds");
    app.mark_ready();
    app
}

/// An `upsert-nodes` body for `flow` with `(id, status)` nodes.
pub(crate) fn upsert_nodes(flow: &str, nodes: &[(&str, &str)]) -> String {
    let nodes: Vec<_> = nodes
        .iter()
        .map(|(id, status)| serde_json::json!({"id": id, "flowId": flow, "label": id, "status": status}))
        .collect();
    serde_json::json!({"type": "upsert-nodes", "nodes": nodes}).to_string()
}

/// A server on 127.0.0.1 with an ephemeral port, served as the binary serves: requests on
/// the test's runtime, event streams on a runtime of their own.
pub(crate) struct Server {
    pub(crate) app: App,
    pub(crate) addr: SocketAddr,
    pub(crate) client: reqwest::Client,
    pub(crate) streams: StreamRuntime,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Drained>,
}

/// The stream runtime of a [`Server`]; shut down in the background when dropped (a runtime
/// may not be dropped, blocking, inside the test's own).
pub(crate) struct StreamRuntime(Option<tokio::runtime::Runtime>);

impl StreamRuntime {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-streams")
            .enable_all()
            .build()
            .expect("a stream runtime starts");
        Self(Some(runtime))
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("present until dropped")
            .handle()
            .clone()
    }

    /// Tasks alive on the stream runtime: one per connection that moved there.
    pub(crate) fn tasks(&self) -> usize {
        self.0
            .as_ref()
            .expect("present until dropped")
            .metrics()
            .num_alive_tasks()
    }
}

impl Drop for StreamRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The backend a test runs against: one behaviour, two backends.
pub(crate) enum Backend {
    Memory,
    /// A `redis-server` of the test's own, stopped when the test ends.
    Redis(RedisProcess),
}

impl Backend {
    pub(crate) fn redis() -> Self {
        Self::Redis(RedisProcess::start())
    }

    /// `flags` plus the backend's own.
    pub(crate) fn flags<'a>(&'a self, flags: &[&'a str], url: &'a str) -> Vec<&'a str> {
        let mut all = flags.to_vec();
        if let Self::Redis(_) = self {
            all.extend(["--backend", "redis", "--redis-url", url]);
        }
        all
    }

    pub(crate) fn url(&self) -> String {
        match self {
            Self::Memory => String::new(),
            Self::Redis(redis) => redis.url(),
        }
    }
}

impl Backend {
    /// An app on this backend with `flags`, ready; with redis its replica task runs (until
    /// the test's runtime ends) and Redis has answered.
    pub(crate) async fn app(&self, flags: &[&str]) -> App {
        let url = self.url();
        let app = App::new(&config(&self.flags(flags, &url)), 0xe0).expect("valid engine bounds");
        app.mark_ready();
        if let Self::Redis(_) = self {
            tokio::spawn(app.clone().housekeeping());
            let deadline = tokio::time::Instant::now() + WAIT;
            while !app.backend_available() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "redis answers the replica's ping"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        app
    }
}

/// Runs each named test (an `async fn(Backend)` of the calling module) once per backend
/// (`memory::name`, `redis::name`), on two worker threads; each Redis run has a
/// `redis-server` of its own.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::fixture::Backend::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::fixture::Backend::redis()).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

impl Server {
    pub(crate) async fn start_with(backend: &Backend, flags: &[&str]) -> Self {
        let url = backend.url();
        let config = config(&backend.flags(flags, &url));
        let app = App::new(&config, 0xabc).expect("valid engine bounds");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let streams = StreamRuntime::start();
        let task = tokio::spawn(serve_with_stream_runtime(
            app.clone(),
            listener,
            async {
                let _ = stopped.await;
            },
            config.shutdown_grace,
            streams.handle(),
        ));
        Self {
            app,
            addr,
            client: client(),
            streams,
            stop,
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to `flow` and returns the response.
    pub(crate) async fn post(&self, flow: &str, body: String) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/v1/flows/{flow}/events")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST reaches the server")
    }

    /// POSTs and asserts 200; returns the assigned SSE id.
    pub(crate) async fn post_ok(&self, flow: &str, body: String) -> String {
        let response = self.post(flow, body).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json_value().await;
        body["id"]
            .as_str()
            .expect("id in the ingest response")
            .to_owned()
    }

    /// Opens a stream of `flow` with an optional `Last-Event-ID`.
    pub(crate) async fn stream(&self, flow: &str, last_event_id: Option<&str>) -> EventReader {
        let mut request = self
            .client
            .get(self.url(&format!("/v1/flows/{flow}/stream")));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request
            .send()
            .await
            .expect("stream request reaches the server");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventReader::new(response)
    }

    /// Signals shutdown and waits for the drain.
    pub(crate) async fn stop(self) -> Drained {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("drains in time")
            .expect("serve does not panic")
    }
}

/// JSON bodies without the `json` feature of reqwest.
pub(crate) trait JsonValue {
    async fn json_value(self) -> serde_json::Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> serde_json::Value {
        let bytes = self.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }
}

/// An HTTP client for the tests. Feature unification across the workspace may build reqwest
/// with `rustls-no-provider`, which needs a process-wide crypto provider even for plain HTTP;
/// installing one twice is harmless (the second call reports the first and changes nothing).
pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
