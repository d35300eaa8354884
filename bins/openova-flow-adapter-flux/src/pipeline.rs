//! The emitter while this process leads: the healer's loop and the delivery task.
//!
//! The loop feeds the mapper's [`Healer`] with watcher events, probe and snapshot answers,
//! delivery reports and its one timer, and performs the actions it returns: queue messages in
//! the outbox, probe `HEAD .../snapshot`, read `GET .../snapshot`, cut a delivery backoff
//! short, log and count. It decides nothing itself. The delivery task empties the outbox.
//!
//! Dropping the pipeline (lost Lease) aborts both; a shutdown drains the outbox within the
//! grace period first.

use std::pin::pin;
use std::sync::Arc;

use anyhow::Context;
use flow_flux_mapper::heal::{Action, Delivery, Head, Notice, Snapshot, Timing};
use flow_flux_mapper::{Healer, Kind, Reconciler};
use futures::StreamExt;
use kube::api::DynamicObject;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::deliver::deliver;
use crate::health::Telemetry;
use crate::metrics::{EventLabel, EventLabels, StatusLabels};
use crate::outbox::Shared;
use crate::server::Server;
use crate::watch::{is_unserved, kind_label, to_event, watch_all};

/// An answer to a probe or a read, for the healer.
enum Answer {
    Head(Head),
    Snapshot(Snapshot),
}

/// Runs the emitter until `shutdown` turns true, then drains within `config.shutdown_grace`.
///
/// # Errors
/// When the HTTP client cannot be built, or a task panicked.
pub(crate) async fn run(
    client: kube::Client,
    config: Arc<Config>,
    telemetry: Arc<Telemetry>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let outbox = Arc::new(Shared::new(telemetry.metrics.queue_depth.clone()));
    let server = Server::new(&config).context("building the HTTP client")?;
    let (reports_tx, reports) = mpsc::unbounded_channel();
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let healer = Healer::new(
        Reconciler::new(config.mapper.clone()),
        config.watch_kinds.iter().copied(),
        Timing {
            emit_interval: config.emit_interval,
            probe_interval: config.resync_interval,
        },
    );
    let driver = Driver {
        healer,
        client,
        config: Arc::clone(&config),
        telemetry: Arc::clone(&telemetry),
        outbox: Arc::clone(&outbox),
        server: server.clone(),
        reading: false,
    };
    tasks.spawn(driver.run(reports, drain_rx.clone()));
    tasks.spawn(deliver(
        Arc::clone(&outbox),
        server,
        telemetry,
        reports_tx,
        drain_rx,
    ));

    // Both tasks run until told to drain; one ending early is a bug worth surfacing.
    tokio::select! {
        _ = async { shutdown.wait_for(|stop| *stop).await.is_ok() } => {}
        ended = tasks.join_next() => {
            if let Some(Err(e)) = ended {
                return Err(e).context("emitter task failed");
            }
        }
    }
    info!("draining pending deliveries");
    // The receivers live in the tasks; a send error means they already ended.
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while let Some(joined) = tasks.join_next().await {
            joined.context("emitter task failed")?;
        }
        anyhow::Ok(())
    })
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => warn!(
            undelivered = outbox.len(),
            "shutdown grace period over; exiting with undelivered changes"
        ),
    }
    Ok(())
}

/// The healer's loop: inputs to the healer, its actions to the world.
struct Driver {
    healer: Healer,
    client: kube::Client,
    config: Arc<Config>,
    telemetry: Arc<Telemetry>,
    outbox: Arc<Shared>,
    server: Server,
    /// Whether the request in flight is a read (else a probe).
    reading: bool,
}

impl Driver {
    /// Runs until `draining` turns true; then flushes what it knows one last time.
    async fn run(
        mut self,
        mut reports: mpsc::UnboundedReceiver<Delivery>,
        mut draining: watch::Receiver<bool>,
    ) {
        let mut events = pin!(watch_all(
            &self.client,
            self.config.namespace.as_deref(),
            &self.config.watch_kinds
        ));
        // At most one probe or read in flight (the healer asks for one at a time).
        let mut checks: JoinSet<Answer> = JoinSet::new();
        self.perform(&mut checks);
        loop {
            let timeout = self.healer.poll_timeout();
            tokio::select! {
                biased;
                drained = async { draining.wait_for(|d| *d).await.is_ok() } => {
                    if drained {
                        // What changed within the last emit interval goes out with the drain.
                        self.healer.drain();
                        self.perform(&mut checks);
                    }
                    return;
                }
                Some((kind, event)) = events.next() => {
                    if is_unserved(&event) {
                        self.unserved(kind);
                    } else {
                        self.watched(kind, event);
                    }
                }
                Some(report) = reports.recv() => {
                    self.healer.handle_delivery(report, Instant::now().into_std());
                }
                Some(joined) = checks.join_next() => {
                    let now = Instant::now().into_std();
                    match joined {
                        Ok(Answer::Head(head)) => self.healer.handle_head(head, now),
                        Ok(Answer::Snapshot(snapshot)) => self.healer.handle_snapshot(snapshot, now),
                        // The request tasks do not panic; one that did counts as failed.
                        Err(e) => {
                            warn!(error = %e, "server check task failed");
                            if self.reading {
                                self.healer.handle_snapshot(Snapshot::Failed, now);
                            } else {
                                self.healer.handle_head(Head::Failed, now);
                            }
                        }
                    }
                }
                () = sleep_until(timeout.map_or_else(Instant::now, Instant::from_std)), if timeout.is_some() => {
                    self.healer.handle_timeout(Instant::now().into_std());
                }
            }
            self.perform(&mut checks);
        }
    }

    /// One watcher event, to the healer.
    fn watched(
        &mut self,
        kind: Kind,
        event: Result<kube::runtime::watcher::Event<DynamicObject>, kube::runtime::watcher::Error>,
    ) {
        let (label, event) = to_event(kind, event);
        self.count(kind, label);
        match event {
            Ok(event) => {
                if let Err(e) = self.healer.handle_watch(event, Instant::now().into_std()) {
                    warn!(kind = ?kind, error = %e, "object ignored: the mapper cannot read it");
                    self.count(kind, EventLabel::Unmappable);
                }
            }
            Err(e) => warn!(kind = ?kind, error = %e, "watcher error; it retries with backoff"),
        }
    }

    /// `kind` is not served by the cluster: its watcher has ended; logged once, and the
    /// healer stops waiting for its list.
    fn unserved(&mut self, kind: Kind) {
        self.count(kind, EventLabel::Unserved);
        warn!(
            kind = %kind,
            resource = format!("{}.{}/{}", kind.plural(), kind.group(), kind.version()),
            "kind not served by this cluster (its CRD is not installed): not watching it until restart"
        );
        self.healer.handle_unserved(kind, Instant::now().into_std());
    }

    /// Performs every action the healer has queued.
    fn perform(&mut self, checks: &mut JoinSet<Answer>) {
        let metrics = &self.telemetry.metrics;
        while let Some(action) = self.healer.poll_action() {
            match action {
                Action::Send(messages) => {
                    debug!(messages = messages.len(), "queueing changes");
                    self.outbox.push(messages);
                }
                Action::Probe => {
                    self.reading = false;
                    metrics.probes.inc();
                    let server = self.server.clone();
                    checks.spawn(async move { Answer::Head(server.head().await) });
                }
                Action::ReadSnapshot => {
                    self.reading = true;
                    metrics.snapshot_reads.inc();
                    let server = self.server.clone();
                    checks.spawn(async move { Answer::Snapshot(server.snapshot().await) });
                }
                Action::RetryNow => self.outbox.retry_now.notify_one(),
                Action::Notice(notice) => self.notice(notice),
            }
        }
        if self.healer.is_synced() {
            self.telemetry.set_synced();
        }
        self.telemetry
            .set_read_refused(self.healer.read_refused().is_some());
    }

    fn notice(&self, notice: Notice) {
        let metrics = &self.telemetry.metrics;
        match notice {
            Notice::EpochChanged { from, to } => {
                info!(%from, %to, "server epoch changed: it lost or replaced its state; reading its snapshot");
            }
            Notice::FlowMissing => {
                info!("the server holds nothing for this flow; sending the whole region");
            }
            Notice::Healed {
                messages,
                whole_region,
            } => {
                if messages > 0 {
                    metrics.heals.inc();
                    info!(
                        messages,
                        whole_region, "healing the server's copy of this region"
                    );
                }
            }
            Notice::EpochFlapping { read_gap } => warn!(
                read_gap_ms = read_gap.as_millis(),
                "the server's epoch keeps changing (several in-memory servers behind one URL?); \
                 snapshot reads are spaced out"
            ),
            Notice::ReadRefused {
                status,
                log,
                suppressed,
            } => {
                metrics
                    .read_refusals
                    .get_or_create(&StatusLabels { status })
                    .inc();
                if log {
                    warn!(
                        status,
                        suppressed,
                        "the server refused the read token: set FLOW_SERVER_READ_TOKEN (or \
                         FLOW_SERVER_TOKEN) to one of the server's FLOW_SERVER_READ_TOKENS; \
                         restarts of the server cannot be healed until then"
                    );
                }
            }
            other => debug!(?other, "healer notice"),
        }
    }

    fn count(&self, kind: Kind, event: EventLabel) {
        self.telemetry
            .metrics
            .watch_events
            .get_or_create(&EventLabels {
                kind: kind_label(kind),
                event,
            })
            .inc();
    }
}
