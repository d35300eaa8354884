//! The delivery task: takes batches from the outbox and POSTs them in order, one at a time,
//! with exponential backoff and jitter, and reports every answer to the healer.
//!
//! A change counts as delivered only after a 2xx; until then it stays in the
//! [`Outbox`](crate::outbox::Outbox), where newer changes replace it. A rejection is logged
//! with the server's message, counted, and not retried. A backoff ends early when the healer
//! sees the server answer again ([`Shared::retry_now`]).

use std::sync::Arc;

use backon::BackoffBuilder;
use flow_contract::FlowMessage;
use flow_flux_mapper::heal::Delivery;
use futures::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::health::Telemetry;
use crate::metrics::{StatusLabels, TypeLabels};
use crate::outbox::Shared;
use crate::server::{Posted, Server};

/// A short description of what a message is about, for logs.
fn subject(message: &FlowMessage) -> String {
    let ids: Vec<&str> = match message {
        FlowMessage::UpsertNodes { nodes } => nodes.iter().map(|n| n.id.as_str()).collect(),
        FlowMessage::DeleteNodes { ids } => ids.iter().map(String::as_str).collect(),
        FlowMessage::UpsertRels { relationships } => {
            relationships.iter().map(|r| r.from_id.as_str()).collect()
        }
        FlowMessage::DeleteRels { pairs } => pairs.iter().map(|p| p.from_id.as_str()).collect(),
        FlowMessage::Snapshot { .. } | FlowMessage::UpsertFlow { .. } => Vec::new(),
    };
    let shown = ids.iter().take(5).copied().collect::<Vec<_>>().join(",");
    if ids.len() > 5 {
        format!(
            "{} [{shown},... {} items]",
            message.message_type(),
            ids.len()
        )
    } else {
        format!("{} [{shown}]", message.message_type())
    }
}

/// The delivery loop. Returns when `draining` is set and nothing is left to deliver.
pub(crate) async fn deliver(
    outbox: Arc<Shared>,
    server: Server,
    telemetry: Arc<Telemetry>,
    reports: mpsc::UnboundedSender<Delivery>,
    mut draining: watch::Receiver<bool>,
) {
    let metrics = &telemetry.metrics;
    let mut backoff = server.backoff.build();
    loop {
        while outbox.is_empty() {
            if *draining.borrow_and_update() {
                return;
            }
            tokio::select! {
                () = outbox.filled.notified() => {}
                changed = draining.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
        let mut batch = outbox.take_batch().into_iter();
        while let Some(message) = batch.next() {
            let posted = server.post(&message).await;
            match posted {
                Posted::Accepted { epoch } => {
                    debug!(message = %subject(&message), "delivered");
                    metrics
                        .messages_sent
                        .get_or_create(&TypeLabels {
                            r#type: message.message_type().as_str().to_owned(),
                        })
                        .inc();
                    telemetry.delivery_succeeded();
                    backoff = server.backoff.build();
                    // A wake-up meant for a backoff that is over already is void.
                    let _ = outbox.retry_now.notified().now_or_never();
                    // The healer's loop outlives this task; a send error means it is stopping.
                    let _ = reports.send(Delivery::Accepted { epoch });
                }
                Posted::Rejected {
                    status,
                    message: text,
                } => {
                    warn!(
                        status,
                        server_message = %text,
                        message = %subject(&message),
                        "server rejected a message; not retrying"
                    );
                    metrics
                        .messages_rejected
                        .get_or_create(&StatusLabels { status })
                        .inc();
                }
                Posted::Retry { reason, after } => {
                    metrics.retries.inc();
                    telemetry.delivery_failed(Instant::now());
                    let _ = reports.send(Delivery::Failed);
                    outbox.requeue(message);
                    for rest in batch.by_ref() {
                        outbox.requeue(rest);
                    }
                    let delay = backoff
                        .next()
                        .unwrap_or(server.max_delay)
                        .min(server.max_delay)
                        .max(after.unwrap_or_default());
                    warn!(%reason, delay_ms = delay.as_millis(), "delivery failed; retrying");
                    // A Retry-After is the server's own word: it is waited out in full.
                    let may_cut = after.is_none();
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = outbox.retry_now.notified(), if may_cut => {
                            debug!("the server answers again; retrying now");
                            backoff = server.backoff.build();
                        }
                    }
                }
            }
        }
    }
}
