//! The emitter's two tasks and what they share: the watch task (watchers -> reconciler ->
//! outbox, healing) and the delivery task (outbox -> server).
//!
//! The pipeline runs while this process is the emitter. Dropping it (lost Lease) aborts both
//! tasks; a shutdown drains the outbox within the grace period first.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context;
use flow_contract::FlowMessage;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::Config;
use crate::emit::{Emitter, deliver};
use crate::health::Telemetry;
use crate::outbox::Outbox;
use crate::watch::Watch;

/// State shared by the watch and delivery tasks. Locks are never held across an `.await`.
#[derive(Debug)]
pub(crate) struct Shared {
    outbox: Mutex<Outbox>,
    /// Woken when the outbox gets something.
    pub(crate) wake: Notify,
    epoch: Mutex<Option<String>>,
    /// Health and metrics.
    pub(crate) telemetry: Arc<Telemetry>,
}

impl Shared {
    /// Empty outbox, unknown epoch.
    pub(crate) fn new(telemetry: Arc<Telemetry>) -> Self {
        Self {
            outbox: Mutex::new(Outbox::default()),
            wake: Notify::new(),
            epoch: Mutex::new(None),
            telemetry,
        }
    }

    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the reconciler's messages and wakes the delivery task.
    pub(crate) fn push(&self, messages: Vec<FlowMessage>) {
        if messages.is_empty() {
            return;
        }
        {
            let mut outbox = self.outbox();
            for message in messages {
                outbox.push(message);
            }
        }
        self.update_queue_depth();
        self.wake.notify_one();
    }

    /// Puts back an undelivered message (newer changes win).
    pub(crate) fn requeue(&self, message: FlowMessage) {
        self.outbox().requeue(message);
    }

    /// Takes everything waiting, as messages in apply order.
    pub(crate) fn take_batch(&self) -> Vec<FlowMessage> {
        self.outbox().take_batch()
    }

    /// Whether nothing waits for delivery.
    pub(crate) fn outbox_is_empty(&self) -> bool {
        self.outbox().is_empty()
    }

    /// Publishes the outbox size as the queue-depth gauge.
    pub(crate) fn update_queue_depth(&self) {
        let depth = i64::try_from(self.outbox().len()).unwrap_or(i64::MAX);
        self.telemetry.metrics.queue_depth.set(depth);
    }

    /// Records the server's epoch; `true` when it differs from a previously known one (the
    /// server restarted or the flow was deleted: its state is gone).
    pub(crate) fn observe_epoch(&self, epoch: Option<String>) -> bool {
        let Some(epoch) = epoch else {
            return false;
        };
        let mut known = self.epoch.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = known.as_ref().is_some_and(|k| *k != epoch);
        *known = Some(epoch);
        changed
    }

    /// Sets the epoch without judging it (after a heal read the server's snapshot).
    pub(crate) fn set_epoch(&self, epoch: Option<String>) {
        *self.epoch.lock().unwrap_or_else(PoisonError::into_inner) = epoch;
    }

    /// The last epoch seen.
    pub(crate) fn epoch(&self) -> Option<String> {
        self.epoch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
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
    let shared = Arc::new(Shared::new(telemetry));
    let emitter = Emitter::new(&config).context("building the HTTP client")?;
    let (heal_tx, heal_rx) = mpsc::channel(1);
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let watch = Watch::new(
        client,
        Arc::clone(&config),
        Arc::clone(&shared),
        emitter.clone(),
    );
    tasks.spawn(watch.run(heal_rx, drain_rx.clone()));
    tasks.spawn(deliver(Arc::clone(&shared), emitter, heal_tx, drain_rx));

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
        Err(_) => {
            let left = shared.outbox().len();
            warn!(
                undelivered = left,
                "shutdown grace period over; exiting with undelivered changes"
            );
        }
    }
    Ok(())
}
