//! Serving: bind, run the routes, and drain on a shutdown signal within a grace period.

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

use crate::app::App;
use crate::client::{Connection, Refused};
use crate::dispatch::{Dispatch, Streaming};
use crate::routes::routes;

/// How a [`serve`] call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drained {
    /// Every connection closed within the grace period.
    Clean,
    /// The grace period ran out with connections still open (they are dropped).
    GraceExpired,
}

/// How long a refused connection may take to receive its 503 before it is closed anyway.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` (logging `listening` with the address once ready) until
/// `signal` resolves, then drains: `/readyz` turns 503, open streams end, the listener
/// closes, and in-flight requests get up to `grace` to finish.
///
/// Connections are HTTP/1.1 only (SSE and `EventSource` need nothing else). Each is admitted
/// against `FLOW_SERVER_MAX_CONNECTIONS` and `FLOW_SERVER_MAX_CONNECTIONS_PER_IP` (a refused one
/// gets a 503 naming the limit and is closed); its read buffer is the largest request head
/// (`FLOW_SERVER_MAX_REQUEST_HEAD_BYTES`, 8 KiB by default, which also keeps an idle
/// subscriber's memory low: docs/BENCHMARKS.md, `idle`; a larger head gets 431), and a client
/// that does not send a whole head within `FLOW_SERVER_REQUEST_HEAD_TIMEOUT` of the server
/// waiting for one (new or kept-alive connection) is closed.
///
/// Every connection runs on the current runtime; [`serve_with_stream_runtime`] moves event
/// streams to a runtime of their own.
pub async fn serve(
    app: App,
    listener: TcpListener,
    signal: impl Future<Output = ()>,
    grace: Duration,
) -> Drained {
    serve_on(app, listener, signal, grace, None).await
}

/// [`serve`], with every connection that answered a request with an event stream moved to
/// `streams`, a runtime of its own: requests (ingest above all) are never queued behind the
/// writes of a wide fan-out, so a publisher keeps its pace while thousands of streams are
/// written, and each stream's write carries every frame published meanwhile (batches grow
/// with the load; see docs/BENCHMARKS.md, issue 18).
pub async fn serve_with_stream_runtime(
    app: App,
    listener: TcpListener,
    signal: impl Future<Output = ()>,
    grace: Duration,
    streams: Handle,
) -> Drained {
    serve_on(app, listener, signal, grace, Some(streams)).await
}

async fn serve_on(
    app: App,
    listener: TcpListener,
    signal: impl Future<Output = ()>,
    grace: Duration,
    streams: Option<Handle>,
) -> Drained {
    let addr = listener.local_addr().ok();
    let service = Dispatch::new(
        app.clone(),
        TowerToHyperService::new(warp::service(routes(app.clone()))),
    );
    let graceful = GracefulShutdown::new();
    let housekeeping = tokio::spawn(app.clone().housekeeping());
    app.mark_ready();
    if let Some(addr) = addr {
        tracing::info!(%addr, "listening");
    }

    let mut signal = std::pin::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connection = match app.inner.connections.admit(peer.ip()) {
                        Ok(connection) => connection,
                        Err(refused) => {
                            app.inner.metrics.connection_refused(refused);
                            tokio::spawn(refuse(stream, refused));
                            continue;
                        }
                    };
                    // Answers and SSE batches are whole writes: send them without waiting
                    // for the previous segment's ACK (Nagle).
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "TCP_NODELAY not set");
                    }
                    let limits = &app.inner.connection_limits;
                    let streaming = Streaming::default();
                    let served = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.head_timeout)
                        .max_buf_size(limits.max_head_bytes)
                        .serve_connection(
                            TokioIo::new(stream),
                            service.for_connection(peer.ip(), streaming.clone()),
                        );
                    let served = Box::pin(graceful.watch(served));
                    tokio::spawn(run_connection(served, connection, streaming, streams.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: say so and give the process a
                    // moment instead of spinning on the same error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }

    tracing::info!(
        grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        "shutting down"
    );
    app.begin_shutdown();
    drop(listener);
    let drained = match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => Drained::Clean,
        Err(_) => Drained::GraceExpired,
    };
    housekeeping.abort();
    drained
}

/// Serves one connection to its end, first on the current runtime; once it answered with an
/// event stream, on `streams` (when given). The connection future is boxed, so it moves
/// between tasks as it is; its first poll on the new task registers that task's wake-ups
/// (readiness and notifications that came in between are kept, not lost).
async fn run_connection<F>(
    mut served: Pin<Box<F>>,
    held: Connection,
    streaming: Streaming,
    streams: Option<Handle>,
) where
    F: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    let Some(streams) = streams else {
        ended(served.await);
        drop(held);
        return;
    };
    let finished = std::future::poll_fn(|cx| match served.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(Some(result)),
        Poll::Pending if streaming.is_set() => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await;
    match finished {
        Some(result) => {
            ended(result);
            drop(held);
        }
        None => {
            streams.spawn(async move {
                ended(served.await);
                drop(held);
            });
        }
    }
}

fn ended(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Answers a refused connection with its 503 without reading the request, then closes it.
async fn refuse(mut stream: TcpStream, refused: Refused) {
    let answer = crate::http_error::connection_refused(refused);
    let written = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::debug!("refused connection closed before its answer was written");
    }
}
