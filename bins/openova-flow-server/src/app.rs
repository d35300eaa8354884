//! The server's shared state: the engine, limits, tokens, metrics, readiness and the shutdown
//! signal, and the one housekeeping task that drives the engine's timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use flow_router::SharedRouter;
use tokio::sync::watch;

use crate::auth::Tokens;
use crate::backend::Backend;
use crate::client::{Connections, PerClient, TrustedProxies};
use crate::config::{Config, ConnectionLimits};
use crate::cors::Cors;
use crate::metrics::Metrics;
use crate::rate_limit::{IngestLimiter, NewFlowLimiter};
use crate::replica::Replica;

/// How often idle rate-limit buckets are dropped.
const RETAIN_INTERVAL: Duration = Duration::from_secs(60);

/// Where the server is in its life, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Built, not yet serving: not ready.
    Starting,
    /// Serving: ready.
    Ready,
    /// A shutdown signal arrived: not ready, streams are ending.
    Draining,
}

impl Phase {
    /// The lower-case name used in `/readyz`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Draining => "draining",
        }
    }
}

/// Why [`App::new`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The engine refused its bounds.
    #[error("engine configuration")]
    Engine(#[from] flow_router::ConfigError),
    /// The Redis client could not be built from `FLOW_SERVER_REDIS_URL`.
    #[error("redis client")]
    Redis(#[from] redis::RedisError),
}

/// A cloneable handle to everything the request handlers share.
#[derive(Debug, Clone)]
pub struct App {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) router: SharedRouter,
    pub(crate) metrics: Metrics,
    pub(crate) ingest_tokens: Tokens,
    pub(crate) read_tokens: Tokens,
    pub(crate) limiter: Option<IngestLimiter>,
    /// New flows per client address (memory backend); `None` = off.
    pub(crate) new_flows: Option<NewFlowLimiter>,
    /// Streams per client address on flows without state.
    pub(crate) waiters_per_ip: PerClient,
    pub(crate) trusted_proxies: TrustedProxies,
    /// Open connections, bounded.
    pub(crate) connections: Connections,
    /// Head deadline and size for each connection.
    pub(crate) connection_limits: ConnectionLimits,
    pub(crate) cors: Cors,
    pub(crate) heartbeat: Duration,
    pub(crate) sse_flush: Duration,
    pub(crate) ui: bool,
    pub(crate) max_body_bytes: usize,
    /// Where flows live.
    pub(crate) backend: Backend,
    phase: AtomicU8,
    shutdown: watch::Sender<bool>,
}

impl App {
    /// Builds the state from `config`. `epoch_seed` must differ between process starts (the
    /// binary takes it from the wall clock), so SSE ids from a previous process never resume.
    ///
    /// With the `redis` backend it must be called inside a Tokio runtime; Redis is dialled
    /// lazily, so it need not be up yet.
    ///
    /// # Errors
    /// When the engine refuses its bounds or the Redis client cannot be built.
    pub fn new(config: &Config, epoch_seed: u64) -> Result<Self, BuildError> {
        let router = SharedRouter::new(config.router.clone(), epoch_seed, Instant::now)?;
        let backend = match &config.redis {
            None => Backend::Memory(router.clone()),
            Some(redis) => Backend::Redis(Box::new(Replica::new(redis, router.clone())?)),
        };
        let (shutdown, _) = watch::channel(false);
        let connections = Connections::new(
            config.connections.max,
            config.connections.max_per_ip,
            config.connections.trusted_proxies.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                metrics: Metrics::new(router.clone(), connections.clone()),
                router,
                ingest_tokens: Tokens::new(config.ingest_tokens.as_deref()),
                read_tokens: Tokens::new(config.read_tokens.as_deref()),
                limiter: config.ingest_limit.map(IngestLimiter::new),
                new_flows: config.new_flows_per_minute.map(NewFlowLimiter::new),
                waiters_per_ip: PerClient::new(config.max_waiters_per_ip),
                trusted_proxies: config.connections.trusted_proxies.clone(),
                connections: connections.clone(),
                connection_limits: config.connections.clone(),
                cors: Cors::new(&config.cors_origins),
                heartbeat: config.heartbeat_interval,
                sse_flush: config.sse_flush_interval,
                ui: config.ui,
                max_body_bytes: config.max_body_bytes,
                backend,
                phase: AtomicU8::new(Phase::Starting as u8),
                shutdown,
            }),
        })
    }

    /// The engine (for embedding and tests).
    #[must_use]
    pub fn router(&self) -> &SharedRouter {
        &self.inner.router
    }

    /// Whether ingest (POST, DELETE) requires a token.
    #[must_use]
    pub fn ingest_is_open(&self) -> bool {
        self.inner.ingest_tokens.is_open()
    }

    /// Whether reads require a token.
    #[must_use]
    pub fn reads_are_open(&self) -> bool {
        self.inner.read_tokens.is_open()
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        match self.inner.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Marks the server ready (it is listening). Has no effect once draining.
    pub fn mark_ready(&self) {
        // Starting -> Ready only: a drain that already began wins.
        let _ = self.inner.phase.compare_exchange(
            Phase::Starting as u8,
            Phase::Ready as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Starts draining: `/readyz` answers 503, new streams are refused and open streams end.
    pub fn begin_shutdown(&self) {
        self.inner
            .phase
            .store(Phase::Draining as u8, Ordering::Release);
        self.inner.shutdown.send_replace(true);
        self.router().close_streams();
    }

    /// Resolves once [`begin_shutdown`](Self::begin_shutdown) was called.
    pub(crate) fn shutdown_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.inner.shutdown.subscribe();
        async move {
            // An error means the sender is gone: the app is gone, so end as well.
            let _ = receiver.wait_for(|draining| *draining).await;
        }
    }

    /// Drives the engine's idle-eviction timer and drops idle rate-limit buckets, until
    /// shutdown.
    /// With the `redis` backend it also runs the replica's task (pub/sub, catch-up, pings).
    pub async fn housekeeping(self) {
        tokio::join!(
            self.timers(),
            self.inner.backend.run(self.shutdown_signal())
        );
    }

    /// Whether the backend can serve: always for memory; for redis, whether Redis answered
    /// the last ping.
    pub fn backend_available(&self) -> bool {
        self.inner.backend.is_available()
    }

    async fn timers(&self) {
        let shutdown = self.shutdown_signal();
        tokio::pin!(shutdown);
        let mut next_retain = tokio::time::Instant::now() + RETAIN_INTERVAL;
        loop {
            let next_eviction = self
                .inner
                .router
                .handle_timeout()
                .map(tokio::time::Instant::from_std);
            let wake = next_eviction.map_or(next_retain, |at| at.min(next_retain));
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep_until(wake) => {}
            }
            if tokio::time::Instant::now() >= next_retain {
                if let Some(limiter) = &self.inner.limiter {
                    limiter.retain_recent();
                }
                if let Some(limiter) = &self.inner.new_flows {
                    limiter.retain_recent();
                }
                next_retain = tokio::time::Instant::now() + RETAIN_INTERVAL;
            }
        }
    }
}
