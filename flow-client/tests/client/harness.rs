//! A real server on 127.0.0.1 that can be restarted on the same port, a TCP proxy whose
//! connections a test can cut, messages, and bounded waits.

use std::net::SocketAddr;
use std::time::Duration;

use flow_client::{Client, Error, FlowEvent, FlowMessage, Follow, FollowOptions, RetryPolicy};
use futures::StreamExt;
use openova_flow_server::{App, Config, Drained, serve};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// An `openova-flow-server` serving in this process.
pub(crate) struct Server {
    addr: SocketAddr,
    flags: Vec<String>,
    seed: u64,
    running: Option<(oneshot::Sender<()>, JoinHandle<Drained>)>,
}

impl Server {
    /// A server with `flags` (as on the command line) on an ephemeral port.
    pub(crate) async fn start(flags: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let mut server = Self {
            addr: listener.local_addr().expect("bound address"),
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            seed: 0xe0,
            running: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: TcpListener) {
        let args =
            std::iter::once("openova-flow-server").chain(self.flags.iter().map(String::as_str));
        let config = Config::try_from_args(args).expect("test flags are valid");
        let app = App::new(&config, self.seed).expect("valid engine bounds");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            app,
            listener,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        self.running = Some((stop, task));
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address clients connect to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (open streams end, the listener closes), then serves a new app, with a
    /// new epoch seed and no state, on the same port.
    pub(crate) async fn restart(&mut self) {
        let (stop, task) = self.running.take().expect("the server is running");
        let _ = stop.send(());
        let drained = tokio::time::timeout(WAIT, task)
            .await
            .expect("drains in time")
            .expect("serve does not panic");
        assert_eq!(drained, Drained::Clean);
        self.seed += 1;
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the port is free again");
        self.serve(listener);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((_, task)) = self.running.take() {
            task.abort();
        }
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target`; [`Proxy::cut`] drops every open
/// connection, as a network failure would.
pub(crate) struct Proxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    connections: tokio::sync::mpsc::UnboundedReceiver<JoinHandle<()>>,
    open: Vec<JoinHandle<()>>,
}

impl Proxy {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("bound address");
        let (sender, connections) = tokio::sync::mpsc::unbounded_channel();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let pump = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                if sender.send(pump).is_err() {
                    break;
                }
            }
        });
        Self {
            addr,
            accept,
            connections,
            open: Vec::new(),
        }
    }

    /// `http://127.0.0.1:<proxy port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every connection opened so far; returns how many were still open.
    pub(crate) fn cut(&mut self) -> usize {
        while let Ok(pump) = self.connections.try_recv() {
            self.open.push(pump);
        }
        let open = self.open.iter().filter(|pump| !pump.is_finished()).count();
        for pump in self.open.drain(..) {
            pump.abort();
        }
        open
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A client of `url` with quick retries.
pub(crate) fn client(url: &str) -> Client {
    Client::builder(url)
        .retry(RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        })
        .build()
        .expect("a valid URL")
}

/// Follow options for tests: quick reconnections, retried first connection.
pub(crate) fn quick() -> FollowOptions {
    FollowOptions::default()
        .reconnect_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(200))
}

/// An `upsert-nodes` message for `flow` with `(id, status)` nodes.
pub(crate) fn upsert(flow: &str, nodes: &[(&str, &str)]) -> FlowMessage {
    let nodes: Vec<_> = nodes
        .iter()
        .map(|(id, status)| serde_json::json!({"id": id, "flowId": flow, "label": id, "status": status}))
        .collect();
    serde_json::from_value(serde_json::json!({"type": "upsert-nodes", "nodes": nodes}))
        .expect("a valid message")
}

/// The next item of `follow`, within [`WAIT`].
pub(crate) async fn next(follow: &mut Follow) -> Result<FlowEvent, Error> {
    tokio::time::timeout(WAIT, follow.next())
        .await
        .expect("an event within the wait")
        .expect("the follow does not end")
}

/// Events of `follow` up to and including the first that `done` accepts.
pub(crate) async fn until(
    follow: &mut Follow,
    done: impl Fn(&FlowEvent) -> bool,
) -> Vec<FlowEvent> {
    let mut events = Vec::new();
    loop {
        let event = next(follow).await.expect("no error on the follow");
        let stop = done(&event);
        events.push(event);
        if stop {
            return events;
        }
    }
}

/// The node ids of a snapshot message.
pub(crate) fn node_ids(message: &FlowMessage) -> Vec<String> {
    match message {
        FlowMessage::Snapshot { nodes, .. } => nodes.iter().map(|n| n.id.clone()).collect(),
        other => panic!("not a snapshot: {other:?}"),
    }
}
