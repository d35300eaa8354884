//! A loopback stand-in of `openova-flow-server`'s ingest API: `POST /v1/flows/{flow}/events`
//! (answers scripted faults first: 500, 429 + Retry-After, a stall, 400), `GET .../snapshot`
//! (404 until something was ingested; headers Flow-Seq and Flow-Epoch). It folds what it
//! accepts like the server does and records every attempt.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flow_contract::{FlowInstance, FlowMessage, FlowNode, RelPair, Relationship};
use serde_json::json;
use tokio::time::Instant;

/// A scripted answer to the next POST.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// Answer this status without applying.
    Status(u16),
    /// 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// Wait this long, then 503 without applying (the adapter times out first).
    Stall(Duration),
}

/// One POST as received.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) at: Instant,
    pub(crate) status: u16,
    pub(crate) token: Option<String>,
    pub(crate) message: FlowMessage,
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<Fault>,
    attempts: Vec<Attempt>,
    nodes: BTreeMap<String, FlowNode>,
    rels: BTreeMap<RelPair, Relationship>,
    seq: u64,
    epoch: u64,
    ingested: bool,
}

/// The receiver; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues faults for the next POSTs.
    pub(crate) fn script(&self, faults: &[Fault]) {
        self.lock().faults.extend(faults.iter().copied());
    }

    /// Every POST so far.
    pub(crate) fn attempts(&self) -> Vec<Attempt> {
        self.lock().attempts.clone()
    }

    /// Serves on 127.0.0.1; returns the address.
    pub(crate) async fn serve(&self) -> SocketAddr {
        let app = Router::new()
            .route("/v1/flows/{flow}/events", post(ingest))
            .route("/v1/flows/{flow}/snapshot", get(snapshot))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

fn apply(inner: &mut Inner, message: FlowMessage) {
    match message {
        FlowMessage::UpsertNodes { nodes } => {
            for node in nodes {
                inner.nodes.insert(node.id.clone(), node);
            }
        }
        FlowMessage::UpsertRels { relationships } => {
            for rel in relationships {
                inner.rels.insert(rel.key(), rel);
            }
        }
        FlowMessage::DeleteRels { pairs } => {
            for pair in pairs {
                inner.rels.remove(&pair);
            }
        }
        FlowMessage::DeleteNodes { ids } => {
            for id in ids {
                inner.nodes.remove(&id);
                inner.rels.retain(|k, _| k.from_id != id && k.to_id != id);
            }
        }
        FlowMessage::Snapshot { .. } => panic!("an adapter must never post a snapshot"),
        FlowMessage::UpsertFlow { .. } => {}
    }
}

async fn ingest(
    State(receiver): State<Receiver>,
    Path(flow): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let message = match flow_contract::decode(&body, &flow) {
        Ok(message) => message,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string()}).to_string(),
            )
                .into_response();
        }
    };
    let fault = receiver.lock().faults.pop_front();
    let record = |status: u16| {
        receiver.lock().attempts.push(Attempt {
            at: Instant::now(),
            status,
            token: token.clone(),
            message: message.clone(),
        });
    };
    match fault {
        Some(Fault::Status(code)) => {
            record(code);
            let status = StatusCode::from_u16(code).expect("status");
            return (status, json!({"error": "scripted"}).to_string()).into_response();
        }
        Some(Fault::RateLimited(secs)) => {
            record(429);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                "{}",
            )
                .into_response();
        }
        Some(Fault::Stall(wait)) => {
            record(503);
            tokio::time::sleep(wait).await;
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        None => {}
    }
    record(200);
    let mut inner = receiver.lock();
    apply(&mut inner, message);
    inner.ingested = true;
    inner.seq += 1;
    let body = json!({"seq": inner.seq, "epoch": format!("e{}", inner.epoch)});
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn snapshot(State(receiver): State<Receiver>, Path(flow): Path<String>) -> Response {
    let inner = receiver.lock();
    if !inner.ingested {
        return (StatusCode::NOT_FOUND, "{}").into_response();
    }
    let message = FlowMessage::Snapshot {
        flow: FlowInstance::new(flow, "running", 0),
        nodes: inner.nodes.values().cloned().collect(),
        relationships: inner.rels.values().cloned().collect(),
    };
    (
        [
            ("content-type", "application/json".to_owned()),
            ("flow-seq", inner.seq.to_string()),
            ("flow-epoch", format!("e{}", inner.epoch)),
        ],
        String::from_utf8(message.to_json()).expect("JSON is UTF-8"),
    )
        .into_response()
}
