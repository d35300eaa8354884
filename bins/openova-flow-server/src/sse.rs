//! SSE responses: the engine's pre-encoded bytes as the body, never rebuilt per subscriber.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use flow_router::FrameStream;
use futures::{Stream, StreamExt};
use tokio::time::MissedTickBehavior;
use warp::Reply;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

/// The response for one subscription: `text/event-stream`, no caching, no proxy buffering.
/// Heartbeats come every `heartbeat` while nothing else is sent; the body ends when the flow
/// is deleted or evicted, or when `ended` resolves (server shutdown).
pub(crate) fn response(
    frames: FrameStream,
    heartbeat: Duration,
    ended: impl Future<Output = ()> + Send + 'static,
) -> Response {
    let body = frames
        .with_heartbeat(ticks(heartbeat))
        .take_until(ended)
        .map(Ok::<Bytes, Infallible>);
    let mut response = warp::reply::stream(SyncStream(Mutex::new(Box::pin(body)))).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A tick every `period`, the first one `period` from now; late ticks are not bunched up.
fn ticks(period: Duration) -> impl Stream<Item = ()> + Send + 'static {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    futures::stream::unfold(interval, |mut interval| async move {
        interval.tick().await;
        Some(((), interval))
    })
}

/// Makes a `Send` stream `Sync` as warp's body requires. The mutex is never contended: the
/// stream is only reached through `&mut self` (`Mutex::get_mut` takes no lock).
struct SyncStream<S>(Mutex<S>);

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        Pin::new(inner).poll_next(cx)
    }
}
