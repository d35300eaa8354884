//! Serving: bind, run the routes, and drain on a shutdown signal within a grace period.

use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::app::App;
use crate::dispatch::Dispatch;
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

/// Largest read buffer per connection, in bytes (hyper's minimum). Requests are small
/// (bodies are capped separately), and an idle SSE connection should not hold more.
const MAX_READ_BUF: usize = 8 * 1024;

/// Serves `app` on `listener` (logging `listening` with the address once ready) until
/// `signal` resolves, then drains: `/readyz` turns 503, open streams end, the listener
/// closes, and in-flight requests get up to `grace` to finish.
///
/// Connections are HTTP/1.1 only (SSE and `EventSource` need nothing else) with a small read
/// buffer, which keeps an idle subscriber's memory low (docs/BENCHMARKS.md, `idle`).
pub async fn serve(
    app: App,
    listener: TcpListener,
    signal: impl Future<Output = ()>,
    grace: Duration,
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
                Ok((stream, _)) => {
                    // Answers and SSE batches are whole writes: send them without waiting
                    // for the previous segment's ACK (Nagle).
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "TCP_NODELAY not set");
                    }
                    let connection = http1::Builder::new()
                        .max_buf_size(MAX_READ_BUF)
                        .serve_connection(TokioIo::new(stream), service.clone());
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                    });
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
