//! Where flows live: the one seam between the handlers and the two backends. Each handler
//! makes one call here, whatever the backend; the memory backend is the local engine, the
//! `redis` backend is the shared log plus this process's replica of the flows it serves.

use std::collections::BTreeMap;
use std::time::Instant;

use flow_router::{EventId, FlowInfo, FlowSnapshot, FrameStream, IngestError, SharedRouter};

use crate::http_error::ApiError;
use crate::replica::{Append, Replica};
use crate::shared_log::LogError;

/// The backend of one server process.
#[derive(Debug)]
pub(crate) enum Backend {
    /// Flows live in this process's engine only.
    Memory(SharedRouter),
    /// Flows live in Redis; the engine holds the flows this process serves streams of.
    Redis(Box<Replica>),
}

/// One flow as `GET /v1/flows` lists it, from either backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) id: String,
    pub(crate) at: EventId,
    pub(crate) nodes_by_status: BTreeMap<String, usize>,
    pub(crate) relationships: usize,
    /// Streams open on this process.
    pub(crate) subscribers: usize,
    /// Milliseconds since the Unix epoch of the last accepted message.
    pub(crate) last_event_ms: Option<u64>,
}

impl From<FlowInfo> for Listed {
    fn from(flow: FlowInfo) -> Self {
        Self {
            id: flow.id.to_string(),
            at: EventId {
                epoch: flow.epoch,
                seq: flow.seq,
            },
            nodes_by_status: flow.nodes_by_status,
            relationships: flow.relationships,
            subscribers: flow.subscribers,
            last_event_ms: flow.last_event.map(unix_millis),
        }
    }
}

impl Backend {
    /// Appends a request body (not yet decoded) to the flow; the id it was given.
    /// `admit_new` is asked when the backend learns only here that the append creates the
    /// flow (redis: another replica may have created it; the memory backend knew before the
    /// body was read, see [`Self::creates_flow`]); its error refuses the request.
    pub(crate) async fn accept(
        &self,
        flow_id: &str,
        body: &[u8],
        admit_new: impl FnOnce() -> Result<(), ApiError>,
    ) -> Result<EventId, ApiError> {
        match self {
            Self::Memory(router) => Ok(router
                .ingest_bytes(flow_id, body)
                .map_err(ApiError::Ingest)?
                .id()),
            Self::Redis(replica) => {
                let message = replica
                    .limits()
                    .decode(body, flow_id)
                    .map_err(|err| ApiError::Ingest(IngestError::Contract(err)))?;
                let message = match replica.append(flow_id, message, false).await? {
                    Append::Appended(at) => return Ok(at),
                    Append::NoFlow(message) => *message,
                };
                admit_new()?;
                replica
                    .append(flow_id, message, true)
                    .await?
                    .at()
                    .ok_or_else(|| {
                        ApiError::Backend(LogError::Reply(
                            "append with create found no flow to create".to_owned(),
                        ))
                    })
            }
        }
    }

    /// Whether a POST to `flow_id` creates a flow, as known before its body is read: with
    /// memory, when the engine does not hold it. (Replicas hold only the flows they serve
    /// streams of: the redis backend learns it at the append, see [`Self::accept`].)
    pub(crate) fn creates_flow(&self, flow_id: &str) -> bool {
        match self {
            Self::Memory(router) => !router.with_flow(flow_id, |router| router.contains(flow_id)),
            Self::Redis(_) => false,
        }
    }

    /// The folded state as a snapshot; `None` when nothing was ever appended.
    pub(crate) async fn snapshot(&self, flow_id: &str) -> Result<Option<FlowSnapshot>, ApiError> {
        match self {
            Self::Memory(router) => Ok(router.snapshot(flow_id)),
            // From Redis: what any replica answers, including writes made through another one.
            Self::Redis(replica) => Ok(replica.snapshot(flow_id).await?),
        }
    }

    /// The flow's position without building its state; `None` when nothing was appended.
    pub(crate) async fn head(&self, flow_id: &str) -> Result<Option<EventId>, ApiError> {
        match self {
            Self::Memory(router) => Ok(router.head(flow_id)),
            Self::Redis(replica) => Ok(replica.head(flow_id).await?),
        }
    }

    /// A stream of the flow's frames from `last_event_id` (or a snapshot).
    pub(crate) async fn subscribe(
        &self,
        flow_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<FrameStream, ApiError> {
        match self {
            Self::Memory(router) => router
                .subscribe(flow_id, last_event_id)
                .map_err(ApiError::Subscribe),
            Self::Redis(replica) => Ok(replica.subscribe(flow_id, last_event_id).await?),
        }
    }

    /// Purges the flow; its streams end (on every replica). Whether it existed.
    pub(crate) async fn delete(&self, flow_id: &str) -> Result<bool, ApiError> {
        match self {
            Self::Memory(router) => Ok(router.delete(flow_id)),
            // Every replica, this one included, ends its streams on the published delete.
            Self::Redis(replica) => replica.delete(flow_id).await.map_err(ApiError::Backend),
        }
    }

    /// Every flow, sorted by id.
    pub(crate) async fn flows(&self) -> Result<Vec<Listed>, ApiError> {
        match self {
            Self::Memory(router) => Ok(router.flows().into_iter().map(Listed::from).collect()),
            Self::Redis(replica) => replica.flows().await.map_err(ApiError::Backend),
        }
    }

    /// Whether the backend can serve: always for memory; for redis, whether Redis answered
    /// the last ping.
    pub(crate) fn is_available(&self) -> bool {
        match self {
            Self::Memory(_) => true,
            Self::Redis(replica) => replica.is_healthy(),
        }
    }

    /// The backend's own work until `shutdown` (redis: pub/sub, catch-up, pings).
    pub(crate) async fn run(&self, shutdown: impl Future<Output = ()>) {
        if let Self::Redis(replica) = self {
            replica.run(shutdown).await;
        }
    }
}

/// Milliseconds since the Unix epoch of an engine `Instant` (for listings).
pub(crate) fn unix_millis(at: Instant) -> u64 {
    let age = Instant::now().saturating_duration_since(at);
    let wall = std::time::SystemTime::now()
        .checked_sub(age)
        .unwrap_or(std::time::UNIX_EPOCH)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(wall.as_millis()).unwrap_or(u64::MAX)
}
