//! SSE responses: the engine's pre-encoded bytes as the body, never rebuilt per subscriber.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use bytes::Bytes;
use flow_router::FrameStream;
use futures::{Stream, StreamExt};
use tokio::time::MissedTickBehavior;
use warp::Reply;
use warp::http::{HeaderValue, header};
use warp::reply::Response;

use crate::client::Slot;

/// The response for one subscription: `text/event-stream`, no caching, no proxy buffering.
/// Heartbeats come every `heartbeat` while nothing else is sent; writes of a busy stream are
/// at least `flush` apart ([`Paced`]); the body ends when the flow is deleted or evicted, or
/// when the server drains: the engine's
/// [`close_streams`](flow_router::SharedRouter::close_streams) ends it at its next poll, at most
/// one `flush` later for a busy stream (whose held frames go out first). `held` (a per-client
/// waiter slot) is released when the stream joins its flow at the flow's first message, or
/// ends.
pub(crate) fn response(
    frames: FrameStream,
    heartbeat: Duration,
    flush: Duration,
    held: Option<Slot>,
) -> Response {
    let frames = WaiterSlot {
        frames: frames.with_heartbeat(ticks(heartbeat)),
        held,
    };
    let body = Paced::new(frames, flush).map(Ok::<Bytes, Infallible>);
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
    let mut interval = tokio::time::interval_at(Instant::now() + period, period);
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

/// Spaces the writes of a busy stream at least `interval` apart, with no timer for a quiet one.
///
/// Quiet, an item that comes more than `interval` after the previous write goes out at once: a
/// stream whose frames arrive one at a time (a sparse flow) costs one wake-up per frame and
/// never arms a timer. An item that comes sooner is held and the stream turns busy: the gate
/// opens `interval` after the previous write, the held item goes out with everything ready by
/// then, and the gate closes again for `interval` without the inner stream being polled (no
/// wake-up per event, one per interval). A gate that opens on nothing leaves the stream quiet.
/// A zero interval passes items through.
struct Paced<S: Stream> {
    inner: S,
    interval: Duration,
    /// When the last item was passed on.
    last: Option<Instant>,
    /// The item waiting for the gate.
    held: Option<S::Item>,
    /// The gate; kept across rounds (reset, not reallocated).
    gate: Option<Pin<Box<Sleep>>>,
    mode: Mode,
}

/// Where a [`Paced`] stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Items pass on at once unless they come within the interval of the last write.
    Quiet,
    /// Waiting for the gate; the inner stream is not polled.
    Gated,
    /// The gate opened: one more drain of the inner stream, then gated again, or quiet.
    Draining,
}

impl<S: Stream> Paced<S> {
    fn new(inner: S, interval: Duration) -> Self {
        Self {
            inner,
            interval,
            last: None,
            held: None,
            gate: None,
            mode: Mode::Quiet,
        }
    }

    /// Closes the gate until `due`.
    fn close_until(&mut self, due: Instant) {
        match self.gate.as_mut() {
            Some(gate) => gate.as_mut().reset(due),
            None => self.gate = Some(Box::pin(tokio::time::sleep_until(due))),
        }
        self.mode = Mode::Gated;
    }
}

impl<S: Stream + Unpin> Stream for Paced<S>
where
    S::Item: Unpin,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        loop {
            match this.mode {
                Mode::Gated => {
                    if let Some(gate) = this.gate.as_mut()
                        && gate.as_mut().poll(cx).is_pending()
                    {
                        return Poll::Pending;
                    }
                    this.mode = Mode::Draining;
                    if let Some(item) = this.held.take() {
                        this.last = Some(Instant::now());
                        return Poll::Ready(Some(item));
                    }
                }
                Mode::Draining => {
                    return match Pin::new(&mut this.inner).poll_next(cx) {
                        Poll::Ready(Some(item)) => {
                            let now = Instant::now();
                            this.last = Some(now);
                            this.close_until(now + this.interval);
                            Poll::Ready(Some(item))
                        }
                        Poll::Ready(None) => Poll::Ready(None),
                        Poll::Pending => {
                            this.mode = Mode::Quiet;
                            Poll::Pending
                        }
                    };
                }
                Mode::Quiet => {
                    let item = match Pin::new(&mut this.inner).poll_next(cx) {
                        Poll::Ready(Some(item)) => item,
                        other => return other,
                    };
                    let now = Instant::now();
                    match this.last {
                        Some(last) if !this.interval.is_zero() && now < last + this.interval => {
                            this.held = Some(item);
                            this.close_until(last + this.interval);
                        }
                        _ => {
                            this.last = Some(now);
                            return Poll::Ready(Some(item));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use futures::channel::mpsc;
    use tokio::time::Instant;

    use super::Paced;

    /// Items queued while the gate is closed come out together when it opens, not before.
    #[tokio::test(start_paused = true)]
    async fn items_are_spaced_by_the_interval_and_the_first_is_immediate() {
        let (tx, rx) = mpsc::unbounded::<u32>();
        let mut paced = Paced::new(rx, Duration::from_millis(10));
        let start = Instant::now();
        tx.unbounded_send(1).unwrap();
        assert_eq!(paced.next().await, Some(1));
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the first item is not delayed"
        );
        tx.unbounded_send(2).unwrap();
        tx.unbounded_send(3).unwrap();
        assert_eq!(paced.next().await, Some(2));
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        assert_eq!(paced.next().await, Some(3));
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(10),
            "what was ready when the gate opened leaves with the held item"
        );
        assert!(
            futures::poll!(paced.next()).is_pending(),
            "busy: the gate is closed again"
        );
        tx.unbounded_send(4).unwrap();
        assert_eq!(paced.next().await, Some(4));
        assert_eq!(start.elapsed(), Duration::from_millis(20));
        tokio::time::advance(Duration::from_millis(25)).await;
        assert!(
            futures::poll!(paced.next()).is_pending(),
            "the gate opened on nothing: quiet"
        );
        tx.unbounded_send(5).unwrap();
        let asked = Instant::now();
        assert_eq!(paced.next().await, Some(5));
        assert_eq!(
            asked.elapsed(),
            Duration::ZERO,
            "a quiet stream writes at once"
        );
        drop(tx);
        assert_eq!(paced.next().await, None);
    }

    /// A stream whose items come further apart than the interval never waits (sparse flows).
    #[tokio::test(start_paused = true)]
    async fn items_further_apart_than_the_interval_are_never_delayed() {
        let (tx, rx) = mpsc::unbounded::<u32>();
        let mut paced = Paced::new(rx, Duration::from_millis(10));
        for n in 0..5 {
            tokio::time::advance(Duration::from_millis(11)).await;
            tx.unbounded_send(n).unwrap();
            let asked = Instant::now();
            assert_eq!(paced.next().await, Some(n));
            assert_eq!(asked.elapsed(), Duration::ZERO, "item {n} was delayed");
        }
        assert!(paced.gate.is_none(), "no timer was armed");
        assert_eq!(paced.mode, super::Mode::Quiet);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_interval_passes_items_through() {
        let mut paced = Paced::new(futures::stream::iter([1, 2, 3]), Duration::ZERO);
        let start = Instant::now();
        assert_eq!(paced.by_ref().collect::<Vec<_>>().await, vec![1, 2, 3]);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
