//! `openova-flow-adapter-flux`: watches Flux HelmReleases, HelmCharts and Kustomizations in one
//! cluster, maps them with `flow-flux-mapper` and delivers the FlowMessages to `openova-flow-server`.
//!
//! This file reads like a table of contents: configuration (exit 64 when malformed), JSON logs,
//! health and metrics, the Kubernetes client, leader election, the emitter pipeline, SIGTERM
//! and the drain. Settings are listed in `docs/OPERATIONS.md` and by `--help`.

mod config;
mod deliver;
mod health;
mod leader;
mod metrics;
mod outbox;
mod pipeline;
mod server;
mod watch;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch as signal_channel;
use tracing::{error, info, warn};

use crate::config::{Args, Config};
use crate::health::Telemetry;
use crate::leader::Elector;

/// Exit status for a configuration error (`EX_CONFIG`).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let config = match Args::try_parse() {
        Ok(args) => Config::try_from(args),
        Err(e) if !e.use_stderr() => {
            // --help and --version print to stdout and succeed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let config = match config {
        Ok(config) => Arc::new(config),
        Err(e) => {
            eprintln!("openova-flow-adapter-flux: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logs();
    // One TLS provider for both kube and reqwest; an error means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

/// JSON lines on stdout; `RUST_LOG` filters (default `info`).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_env_filter(filter)
        .init();
}

async fn run(config: Arc<Config>) -> anyhow::Result<()> {
    let telemetry = Arc::new(Telemetry::new(config.unready_after));
    serve_health(&config, Arc::clone(&telemetry)).await?;
    let shutdown = shutdown_signal();
    let client = kube::Client::try_default()
        .await
        .context("building the Kubernetes client (kubeconfig or in-cluster)")?;
    info!(
        flow = config.mapper.flow_id(),
        region = config.mapper.region(),
        namespace = config.namespace.as_deref().unwrap_or("<all>"),
        server = %config.flow_server_url,
        leader_election = config.leader.is_some(),
        "starting"
    );
    let Some(leader_config) = &config.leader else {
        telemetry.set_leader(true);
        return pipeline::run(client, Arc::clone(&config), telemetry, shutdown).await;
    };

    let (leading_tx, mut leading) = signal_channel::channel(false);
    let (release_tx, release_rx) = signal_channel::channel(false);
    let elector =
        tokio::spawn(Elector::new(client.clone(), leader_config).run(leading_tx, release_rx));
    let mut stop = shutdown.clone();
    let result = loop {
        tokio::select! {
            _ = async { stop.wait_for(|s| *s).await.is_ok() } => break Ok(()),
            became = async { leading.wait_for(|l| *l).await.is_ok() } => {
                if !became {
                    break Err(anyhow::anyhow!("leader election stopped unexpectedly"));
                }
            }
        }
        telemetry.set_leader(true);
        let emitter = pipeline::run(
            client.clone(),
            Arc::clone(&config),
            Arc::clone(&telemetry),
            shutdown.clone(),
        );
        tokio::select! {
            ended = emitter => break ended,
            _ = async { leading.wait_for(|l| !*l).await.is_ok() } => {
                warn!("no longer the leader; stopped emitting");
                telemetry.set_leader(false);
            }
        }
    };
    // Drained (or never leading): now hand the lease over.
    let _ = release_tx.send(true);
    if let Err(e) = elector.await {
        warn!(error = %e, "leader election task failed");
    }
    telemetry.set_leader(false);
    info!("stopped");
    result
}

/// Binds `HEALTH_LISTEN_ADDR` and serves `/healthz`, `/readyz`, `/metrics` in the background.
async fn serve_health(config: &Config, telemetry: Arc<Telemetry>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.health_listen_addr)
        .await
        .with_context(|| format!("binding HEALTH_LISTEN_ADDR {}", config.health_listen_addr))?;
    info!(addr = %listener.local_addr().unwrap_or(config.health_listen_addr), "health endpoints listening");
    let app = health::routes(telemetry);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            error!(error = %e, "health server stopped");
        }
    });
    Ok(())
}

/// A channel that turns true on SIGTERM or SIGINT.
fn shutdown_signal() -> signal_channel::Receiver<bool> {
    let (tx, rx) = signal_channel::channel(false);
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    warn!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = terminate => info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        }
        let _ = tx.send(true);
    });
    rx
}
