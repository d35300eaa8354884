//! SSE responses: the engine's pre-encoded bytes as the body, never rebuilt per subscriber.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Sleep;

use bytes::Bytes;
use flow_router::FrameStream;
use futures::{Stream, StreamExt};
use tokio::time::MissedTickBehavior;
use warp::Reply;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

use crate::client::Slot;

/// The response for one subscription: `text/event-stream`, no caching, no proxy buffering.
/// Heartbeats come every `heartbeat` while nothing else is sent; writes are at least `flush`
/// apart ([`Paced`]); the body ends when the flow is deleted or evicted, or when `ended`
/// resolves (server shutdown, not delayed by the pacing). `held` (a per-client waiter slot)
/// is released when the stream joins its flow at the flow's first message, or ends.
pub(crate) fn response(
    frames: FrameStream,
    heartbeat: Duration,
    flush: Duration,
    ended: impl Future<Output = ()> + Send + 'static,
    held: Option<Slot>,
) -> Response {
    let frames = WaiterSlot {
        frames: frames.with_heartbeat(ticks(heartbeat)),
        held,
    };
    let body = Paced::new(frames, flush)
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

/// Holds a per-client waiter slot while the stream waits for its flow's first message, and
/// gives it back as soon as the stream has joined the flow: waiter slots count only streams
/// that wait.
struct WaiterSlot {
    frames: FrameStream,
    held: Option<Slot>,
}

impl Stream for WaiterSlot {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.frames).poll_next(cx);
        if this.held.is_some() && !this.frames.is_waiting() {
            this.held = None;
        }
        polled
    }
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

/// Spaces the items of a stream of batches at least `interval` apart.
///
/// After an item is yielded the inner stream is not polled again until `interval` has passed,
/// so whatever the engine queued meanwhile leaves as one batch: under a burst of events, one
/// write and one wake-up per stream per interval instead of one per event. The first item
/// after a quiet period is not delayed. A zero interval passes items through.
struct Paced<S> {
    inner: S,
    interval: Duration,
    gate: Option<Pin<Box<Sleep>>>,
}

impl<S> Paced<S> {
    fn new(inner: S, interval: Duration) -> Self {
        Self {
            inner,
            interval,
            gate: None,
        }
    }
}

impl<S: Stream + Unpin> Stream for Paced<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if let Some(gate) = self.gate.as_mut() {
            if gate.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.gate = None;
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if matches!(polled, Poll::Ready(Some(_))) && !self.interval.is_zero() {
            self.gate = Some(Box::pin(tokio::time::sleep(self.interval)));
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use futures::channel::mpsc;

    use super::Paced;

    /// Items queued while the gate is closed come out in the next poll, not before the interval.
    #[tokio::test(start_paused = true)]
    async fn items_are_spaced_by_the_interval_and_the_first_is_immediate() {
        let (tx, rx) = mpsc::unbounded::<u32>();
        let mut paced = Paced::new(rx, Duration::from_millis(10));
        let start = tokio::time::Instant::now();
        tx.unbounded_send(1).unwrap();
        assert_eq!(paced.next().await, Some(1));
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the first item is not delayed"
        );
        tx.unbounded_send(2).unwrap();
        assert_eq!(paced.next().await, Some(2));
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        drop(tx);
        assert_eq!(paced.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_interval_passes_items_through() {
        let mut paced = Paced::new(futures::stream::iter([1, 2, 3]), Duration::ZERO);
        let start = tokio::time::Instant::now();
        assert_eq!(paced.by_ref().collect::<Vec<_>>().await, vec![1, 2, 3]);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
