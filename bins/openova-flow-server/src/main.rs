//! `openova-flow-server`: read the configuration, build the state, serve until SIGTERM or
//! SIGINT, drain. Exit 64 on bad configuration, 1 on a runtime failure, 0 after a drain.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use openova_flow_server::{App, Config, Drained, serve_with_stream_runtime};
use tracing_subscriber::EnvFilter;

/// Every build allocates with jemalloc. With musl's allocator the images' static binary spent
/// about a third more CPU per ingested event (docs/BENCHMARKS.md, "Issue 18: sixth session"); with
/// glibc's, a connection task that migrates between worker threads frees its request buffers
/// into another thread's arena and waits on that arena's lock: a third of the server's `futex`
/// calls under ingest, and 14 to 20% more CPU per event than jemalloc ("eighth session").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let config = match Config::try_from_env() {
        Ok(config) => config,
        Err(err) if err.exit_code() == 0 => {
            // --help or --version.
            print!("{err}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("openova-flow-server: {err}");
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(64));
        }
    };
    init_tracing(config.log.as_deref());
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

/// JSON logs filtered by `FLOW_SERVER_LOG`, else `RUST_LOG`, else `info` without warp's
/// per-connection errors (a client closing a stream is normal for SSE).
fn init_tracing(filter: Option<&str>) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,warp::server=off"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .init();
}

/// Requests run on one runtime, event streams on another (`flow-streams` threads): a wide
/// fan-out's writes never queue ahead of a publisher's request. `FLOW_SERVER_REQUEST_THREADS`
/// and `FLOW_SERVER_STREAM_THREADS` size them.
fn run(config: &Config) -> anyhow::Result<()> {
    let streams = tokio::runtime::Builder::new_multi_thread()
        .thread_name("flow-streams")
        .worker_threads(config.threads.streams.get())
        .enable_all()
        .build()
        .context("starting the stream runtime")?;
    let requests = tokio::runtime::Builder::new_multi_thread()
        .thread_name("flow-requests")
        .worker_threads(config.threads.requests.get())
        .enable_all()
        .build()
        .context("starting the request runtime")?;
    let served = requests.block_on(serve_until_signal(config, streams.handle().clone()));
    // Streams still open after the grace period are dropped with their runtime.
    streams.shutdown_background();
    served
}

async fn serve_until_signal(
    config: &Config,
    streams: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let app = App::new(config, epoch_seed()).context("engine configuration")?;
    warn_if_open(&app);
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("binding FLOW_SERVER_LISTEN_ADDR={}", config.listen_addr))?;
    let signal = shutdown_signal().context("installing signal handlers")?;
    match serve_with_stream_runtime(app, listener, signal, config.shutdown_grace, streams).await {
        Drained::Clean => tracing::info!("drained, exiting"),
        Drained::GraceExpired => {
            tracing::warn!("FLOW_SERVER_SHUTDOWN_GRACE expired with connections open; exiting");
        }
        _ => {}
    }
    Ok(())
}

/// Microseconds since the Unix epoch plus the process id: differs between starts, so ids
/// from an earlier process never resume in this one.
fn epoch_seed() -> u64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |age| u64::try_from(age.as_micros()).unwrap_or(u64::MAX));
    micros.wrapping_add(u64::from(std::process::id()))
}

fn warn_if_open(app: &App) {
    if app.ingest_is_open() {
        tracing::warn!(
            "FLOW_SERVER_INGEST_TOKENS is unset: anyone who reaches the server may post and delete"
        );
    }
    if app.reads_are_open() {
        tracing::warn!(
            "FLOW_SERVER_READ_TOKENS is unset: anyone who reaches the server may read flows"
        );
    }
}

/// Resolves on the first SIGTERM or SIGINT.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
            _ = interrupt.recv() => tracing::info!(signal = "SIGINT", "signal received"),
        }
    })
}
