//! `Sim`: a router on a simulated clock, driven without sockets or sleeps.

use std::time::{Duration, Instant};

use flow_router::{Cursor, Ingested, Polled, Router, RouterConfig, Subscription};

/// The epoch seed every simulation uses: epochs read `e0`, `e1`, ...
pub(crate) const SEED: u64 = 0xe0;

pub(crate) struct Sim {
    pub(crate) router: Router,
    pub(crate) now: Instant,
}

/// What draining a cursor produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Drained {
    pub(crate) bytes: Vec<u8>,
    pub(crate) resyncs: usize,
    pub(crate) closed: bool,
}

impl Drained {
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap()
    }
}

impl Sim {
    pub(crate) fn new(config: RouterConfig) -> Self {
        Self {
            router: Router::new(config, SEED).unwrap(),
            now: origin(),
        }
    }

    pub(crate) fn with(configure: impl FnOnce(&mut RouterConfig)) -> Self {
        let mut config = RouterConfig::default();
        configure(&mut config);
        Self::new(config)
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    pub(crate) fn ingest(&mut self, flow: &str, json: &str) -> Ingested {
        self.router
            .ingest_bytes(flow, json.as_bytes(), self.now)
            .unwrap_or_else(|err| panic!("ingest {json}: {err:?}"))
    }

    pub(crate) fn subscribe(&mut self, flow: &str, last_event_id: Option<&str>) -> Subscription {
        self.router
            .subscribe(flow, last_event_id, self.now)
            .unwrap()
    }

    /// Polls until `Pending` or `Closed`, concatenating what came out.
    pub(crate) fn drain(&mut self, cursor: &mut Cursor) -> Drained {
        let mut out = Drained::default();
        loop {
            match self.router.poll(cursor, self.now) {
                Polled::Frame(frame) => out.bytes.extend_from_slice(&frame),
                Polled::Resync(frame) => {
                    out.resyncs += 1;
                    out.bytes.extend_from_slice(&frame);
                }
                Polled::Pending => return out,
                Polled::Closed => {
                    out.closed = true;
                    return out;
                }
            }
        }
    }
}

/// The simulated clock's origin; every later instant is derived from it.
#[allow(clippy::disallowed_methods)]
pub(crate) fn origin() -> Instant {
    Instant::now()
}

/// An upsert-nodes message for one node.
pub(crate) fn node(flow: &str, id: &str, status: &str) -> String {
    format!(
        r#"{{"type":"upsert-nodes","nodes":[{{"id":"{id}","flowId":"{flow}","label":"{id}","status":"{status}"}}]}}"#
    )
}

/// The `id:` values of every frame in `sse`, in order.
pub(crate) fn ids(sse: &str) -> Vec<String> {
    sse.lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .map(str::to_owned)
        .collect()
}

/// The `event:` names of every frame in `sse`, in order.
pub(crate) fn events(sse: &str) -> Vec<String> {
    sse.lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .map(str::to_owned)
        .collect()
}
