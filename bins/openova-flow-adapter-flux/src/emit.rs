//! Delivery to `openova-flow-server`: one POST at a time, exponential backoff with jitter.
//!
//! Retried: connection errors and timeouts, 5xx, 408 and 429 (waiting at least `Retry-After`).
//! Every other non-2xx answer is a rejection: logged with the server's message, counted, never
//! retried (retrying cannot fix it). A change counts as delivered only after a 2xx; until then it
//! stays in the [`Outbox`](crate::outbox::Outbox), where newer changes replace it.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use flow_contract::FlowMessage;
use reqwest::{StatusCode, Url, header};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::metrics::{StatusLabels, TypeLabels};
use crate::pipeline::Shared;

/// First retry delay.
const MIN_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Longest `Retry-After` honoured (a larger value is clamped).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// How much of an error body goes into the log.
const MAX_LOGGED_BODY: usize = 1024;

/// The server's answer to one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Posted {
    /// 2xx; the epoch of the server's state, when it said.
    Accepted {
        /// `epoch` of the response body.
        epoch: Option<String>,
    },
    /// Refused; retrying cannot help.
    Rejected {
        /// HTTP status.
        status: StatusCode,
        /// The server's explanation.
        message: String,
    },
    /// Failed in a way a retry can fix.
    Retry {
        /// What went wrong.
        reason: String,
        /// The server's `Retry-After`.
        after: Option<Duration>,
    },
}

/// What the server holds for the flow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ServerState {
    /// 404: the server never ingested this flow (or lost it).
    Missing,
    /// The server's snapshot and the epoch it belongs to.
    Held {
        /// A `snapshot` message.
        snapshot: Box<FlowMessage>,
        /// `Flow-Epoch` header.
        epoch: Option<String>,
    },
}

/// Reading the server's snapshot failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SnapshotError {
    /// No answer.
    #[error("snapshot request failed: {0}")]
    Http(#[source] reqwest::Error),
    /// An answer other than 200 or 404.
    #[error("snapshot request answered {0}")]
    Status(StatusCode),
    /// A body that is not a FlowMessage.
    #[error("snapshot body is not a FlowMessage: {0}")]
    Body(#[source] serde_json::Error),
}

/// The HTTP side of delivery.
#[derive(Debug, Clone)]
pub(crate) struct Emitter {
    http: reqwest::Client,
    events: Url,
    snapshot: Url,
    token: Option<String>,
    backoff: ExponentialBuilder,
    max_delay: Duration,
}

impl Emitter {
    /// A client for `config.flow_server_url` and the configured flow.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS provider).
    pub(crate) fn new(config: &Config) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.post_timeout)
            .connect_timeout(config.post_timeout)
            .user_agent(concat!(
                "openova-flow-adapter-flux/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        let flow = config.mapper.flow_id();
        Ok(Self {
            http,
            events: endpoint(&config.flow_server_url, flow, "events"),
            snapshot: endpoint(&config.flow_server_url, flow, "snapshot"),
            token: config.token.clone(),
            backoff: ExponentialBuilder::new()
                .with_min_delay(MIN_RETRY_DELAY)
                .with_max_delay(config.retry_max_delay)
                .with_jitter()
                .without_max_times(),
            max_delay: config.retry_max_delay,
        })
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// POSTs one message.
    pub(crate) async fn post(&self, message: &FlowMessage) -> Posted {
        let request = self
            .http
            .post(self.events.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(message.to_json());
        let response = match self.authorize(request).send().await {
            Ok(response) => response,
            Err(e) => {
                return Posted::Retry {
                    reason: error_chain(&e),
                    after: None,
                };
            }
        };
        let status = response.status();
        let after = retry_after(response.headers());
        // A body that cannot be read is treated like an empty one.
        let body = response.text().await.unwrap_or_default();
        classify(status, &body, after)
    }

    /// GETs the server's snapshot of the flow.
    pub(crate) async fn snapshot(&self) -> Result<ServerState, SnapshotError> {
        let request = self.http.get(self.snapshot.clone());
        let response = self
            .authorize(request)
            .send()
            .await
            .map_err(SnapshotError::Http)?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(ServerState::Missing),
            StatusCode::OK => {
                let epoch = response
                    .headers()
                    .get("flow-epoch")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = response.bytes().await.map_err(SnapshotError::Http)?;
                let snapshot = serde_json::from_slice(&body).map_err(SnapshotError::Body)?;
                Ok(ServerState::Held {
                    snapshot: Box::new(snapshot),
                    epoch,
                })
            }
            other => Err(SnapshotError::Status(other)),
        }
    }
}

/// `{base}/v1/flows/{flow}/{leaf}`, keeping any path prefix of `base`.
fn endpoint(base: &Url, flow: &str, leaf: &str) -> Url {
    let mut url = base.clone();
    // `Config` only accepts http(s) URLs with a host, which can always have path segments.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["v1", "flows", flow, leaf]);
    }
    url
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        source = inner.source();
    }
    out
}

fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Sorts an answer into accepted, rejected or retry.
fn classify(status: StatusCode, body: &str, after: Option<Duration>) -> Posted {
    if status.is_success() {
        let epoch = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("epoch")?.as_str().map(str::to_owned));
        return Posted::Accepted { epoch };
    }
    let message: String = body.chars().take(MAX_LOGGED_BODY).collect();
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Posted::Retry {
            reason: format!("server answered {status}: {message}"),
            after,
        };
    }
    Posted::Rejected { status, message }
}

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

/// The delivery loop: takes batches from the outbox and posts them in order, one at a time.
///
/// Returns when `draining` is set and nothing is left to deliver. Asks the watch task to heal
/// (through `heal`) when a response shows a new server epoch.
pub(crate) async fn deliver(
    shared: Arc<Shared>,
    emitter: Emitter,
    heal: mpsc::Sender<()>,
    mut draining: watch::Receiver<bool>,
) {
    let metrics = &shared.telemetry.metrics;
    let mut backoff = emitter.backoff.build();
    loop {
        while shared.outbox_is_empty() {
            if *draining.borrow_and_update() {
                return;
            }
            tokio::select! {
                () = shared.wake.notified() => {}
                changed = draining.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
        let mut batch = shared.take_batch().into_iter();
        while let Some(message) = batch.next() {
            match emitter.post(&message).await {
                Posted::Accepted { epoch } => {
                    debug!(message = %subject(&message), "delivered");
                    metrics
                        .messages_sent
                        .get_or_create(&TypeLabels {
                            r#type: message.message_type().as_str().to_owned(),
                        })
                        .inc();
                    shared.telemetry.delivery_succeeded();
                    backoff = emitter.backoff.build();
                    if shared.observe_epoch(epoch) {
                        info!("server epoch changed: it lost its state; re-sending the region");
                        // A full channel already holds a heal request.
                        let _ = heal.try_send(());
                    }
                }
                Posted::Rejected {
                    status,
                    message: text,
                } => {
                    warn!(
                        status = status.as_u16(),
                        server_message = %text,
                        message = %subject(&message),
                        "server rejected a message; not retrying"
                    );
                    metrics
                        .messages_rejected
                        .get_or_create(&StatusLabels {
                            status: status.as_u16(),
                        })
                        .inc();
                }
                Posted::Retry { reason, after } => {
                    metrics.retries.inc();
                    shared.telemetry.delivery_failed(Instant::now());
                    shared.requeue(message);
                    for rest in batch.by_ref() {
                        shared.requeue(rest);
                    }
                    let delay = backoff
                        .next()
                        .unwrap_or(emitter.max_delay)
                        .min(emitter.max_delay)
                        .max(after.unwrap_or_default());
                    warn!(%reason, delay_ms = delay.as_millis(), "delivery failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
            shared.update_queue_depth();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify(StatusCode::OK, r#"{"seq":3,"epoch":"e1"}"#, None),
            Posted::Accepted {
                epoch: Some("e1".to_owned())
            }
        );
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
        ] {
            assert!(
                matches!(classify(status, "", None), Posted::Retry { .. }),
                "{status}"
            );
        }
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ] {
            assert!(
                matches!(classify(status, "", None), Posted::Rejected { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_are_read_and_clamped() {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static("99999"),
        );
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn endpoints_keep_a_path_prefix() {
        let base = Url::parse("http://server:8080/flow/").expect("url");
        assert_eq!(
            endpoint(&base, "acme:1", "events").as_str(),
            "http://server:8080/flow/v1/flows/acme:1/events"
        );
        let base = Url::parse("https://server").expect("url");
        assert_eq!(
            endpoint(&base, "acme", "snapshot").as_str(),
            "https://server/v1/flows/acme/snapshot"
        );
    }
}
