//! Serving: bind, run the routes, and drain on a shutdown signal within a grace period.

use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::App;
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

/// Serves `app` on `listener` (logging `listening` with the address once ready) until
/// `signal` resolves, then drains: `/readyz` turns 503, the
/// listener closes, open streams end, and in-flight requests get up to `grace` to finish.
pub async fn serve(
    app: App,
    listener: TcpListener,
    signal: impl Future<Output = ()>,
    grace: Duration,
) -> Drained {
    let addr = listener.local_addr().ok();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = warp::serve(routes(app.clone()))
        .incoming(listener)
        .graceful(async {
            // A dropped sender also means stop.
            let _ = stopped.await;
        })
        .run();
    let server = tokio::spawn(server);
    let housekeeping = tokio::spawn(app.clone().housekeeping());
    app.mark_ready();
    if let Some(addr) = addr {
        tracing::info!(%addr, "listening");
    }

    signal.await;
    tracing::info!(
        grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        "shutting down"
    );
    app.begin_shutdown();
    // The server task ends only after the listener closed, so it is still alive here.
    let _ = stop.send(());
    let drained = match tokio::time::timeout(grace, server).await {
        Ok(_) => Drained::Clean,
        Err(_) => Drained::GraceExpired,
    };
    housekeeping.abort();
    drained
}
