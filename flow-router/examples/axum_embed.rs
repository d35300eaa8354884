//! Embeds the engine in axum: a few lines per route, no framework SSE types.
//!
//! ```text
//! cargo run -p flow-router --example axum_embed
//! curl -N localhost:3000/v1/flows/demo/stream &
//! curl -d '{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"demo","label":"a","status":"running"}]}' \
//!      localhost:3000/v1/flows/demo/events
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flow_router::{RouterConfig, SharedRouter, SubscribeError};
use futures::StreamExt;

/// How often an idle stream gets a heartbeat frame.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);

/// The routes, apart from `main` so tests reach them on any listener.
pub(crate) fn app(shared: SharedRouter) -> axum::Router {
    axum::Router::new()
        .route("/v1/flows/{flow}/events", post(ingest))
        .route("/v1/flows/{flow}/stream", get(stream))
        .with_state(shared)
}

async fn ingest(
    State(shared): State<SharedRouter>,
    Path(flow): Path<String>,
    body: Bytes,
) -> Response {
    match shared.ingest_bytes(&flow, &body) {
        Ok(ingested) => format!("{{\"seq\":{}}}", ingested.seq).into_response(),
        Err(err) if err.is_overload() => StatusCode::TOO_MANY_REQUESTS.into_response(),
        Err(err) => (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    }
}

async fn stream(
    State(shared): State<SharedRouter>,
    Path(flow): Path<String>,
    headers: HeaderMap,
) -> Response {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    let frames = match shared.subscribe(&flow, last_event_id) {
        Ok(frames) => frames,
        Err(err @ SubscribeError::FlowId(_)) => {
            return (StatusCode::BAD_REQUEST, err.to_string()).into_response();
        }
        Err(err) => return (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    };
    // The shell owns the heartbeat timer; the stream interleaves its ticks when idle.
    let start = tokio::time::Instant::now() + HEARTBEAT_EVERY;
    let ticks = futures::stream::unfold(
        tokio::time::interval_at(start, HEARTBEAT_EVERY),
        |mut interval| async move {
            interval.tick().await;
            Some(((), interval))
        },
    );
    let body = frames.with_heartbeat(ticks).map(Ok::<_, Infallible>);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

// The shell owns the clock and the epoch seed.
#[allow(clippy::disallowed_methods)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let shared = SharedRouter::new(RouterConfig::default(), seed, Instant::now)?;
    // One timer drives idle-flow eviction.
    let evictor = shared.clone();
    tokio::spawn(async move {
        loop {
            let next = evictor
                .handle_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
            tokio::time::sleep_until(next.into()).await;
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(shared)).await?;
    Ok(())
}
