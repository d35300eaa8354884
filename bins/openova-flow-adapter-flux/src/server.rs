//! The flow server's HTTP API as the adapter uses it, through `flow-client`: `POST .../events`
//! with the ingest token, `HEAD` and `GET .../snapshot` with the read token.
//!
//! Retried: connection errors and timeouts, 5xx, 408 and 429 (waiting at least `Retry-After`).
//! Every other non-2xx answer to a POST is a rejection: retrying cannot fix it. A read answered
//! 401 or 403 is reported as refused (the read token is wrong), 404 as missing.

use std::time::Duration;

use backon::ExponentialBuilder;
use flow_client::{Client, Error, ErrorChain, FlowMessage, RetryPolicy};
use flow_flux_mapper::heal::{Head, Snapshot};
use tracing::{debug, warn};

use crate::config::Config;

/// First retry delay.
const MIN_RETRY_DELAY: Duration = Duration::from_millis(100);

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
        status: u16,
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

/// A client of one flow on the server: [`flow_client::Client`] without retries of its own
/// (delivery retries through the outbox, so newer changes replace pending ones).
#[derive(Debug, Clone)]
pub(crate) struct Server {
    client: Client,
    flow: String,
    /// Delivery retry delays (exponential with jitter, capped).
    pub(crate) backoff: ExponentialBuilder,
    /// The cap of a retry delay.
    pub(crate) max_delay: Duration,
}

impl Server {
    /// A client for `config.flow_server_url` and the configured flow.
    ///
    /// # Errors
    /// When the HTTP client cannot be built, or the flow id cannot be addressed.
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        let mut builder = Client::builder(config.flow_server_url.as_str())
            .timeout(config.post_timeout)
            .connect_timeout(config.post_timeout)
            .retry(RetryPolicy::NONE)
            .user_agent(concat!(
                "openova-flow-adapter-flux/",
                env!("CARGO_PKG_VERSION")
            ));
        if let Some(token) = &config.token {
            builder = builder.ingest_token(token);
        }
        if let Some(token) = &config.read_token {
            builder = builder.read_token(token);
        }
        let client = builder.build()?;
        let flow = config.mapper.flow_id().to_owned();
        // Refused here, once, rather than as a rejection of every post.
        client.flow_url(&flow, "")?;
        Ok(Self {
            client,
            flow,
            backoff: ExponentialBuilder::new()
                .with_min_delay(MIN_RETRY_DELAY)
                .with_max_delay(config.retry_max_delay)
                .with_jitter()
                .without_max_times(),
            max_delay: config.retry_max_delay,
        })
    }

    /// POSTs one message.
    pub(crate) async fn post(&self, message: &FlowMessage) -> Posted {
        classify(
            self.client
                .post(&self.flow, message)
                .await
                .map(|p| p.epoch.to_string()),
        )
    }

    /// `HEAD .../snapshot`: the flow's epoch, without its state.
    pub(crate) async fn head(&self) -> Head {
        match self.client.head(&self.flow).await {
            Ok(head) => Head::Held {
                epoch: Some(head.epoch.to_string()),
            },
            Err(error) => match read_refusal(&error) {
                Read::Missing => Head::Missing,
                Read::Refused(status) => Head::Refused { status },
                Read::Failed => {
                    debug!(error = %ErrorChain(&error), "probe of the server's head failed");
                    Head::Failed
                }
            },
        }
    }

    /// `GET .../snapshot`: the server's state of the flow and its epoch.
    pub(crate) async fn snapshot(&self) -> Snapshot {
        match self.client.snapshot(&self.flow).await {
            Ok(snapshot) => Snapshot::Held {
                snapshot: Box::new(snapshot.message),
                epoch: Some(snapshot.head.epoch.to_string()),
            },
            Err(error) => match read_refusal(&error) {
                Read::Missing => Snapshot::Missing,
                Read::Refused(status) => Snapshot::Refused { status },
                Read::Failed => {
                    debug!(error = %ErrorChain(&error), "reading the server's snapshot failed");
                    Snapshot::Failed
                }
            },
        }
    }
}

/// How a read failed.
enum Read {
    Missing,
    Refused(u16),
    Failed,
}

fn read_refusal(error: &Error) -> Read {
    match error {
        Error::NotFound { .. } => Read::Missing,
        Error::Unauthorized { status, .. } => Read::Refused(*status),
        _ => Read::Failed,
    }
}

/// Sorts the outcome of a POST (the epoch of an accepted one) into accepted, rejected or
/// retry.
fn classify(outcome: Result<String, Error>) -> Posted {
    match outcome {
        Ok(epoch) => Posted::Accepted { epoch: Some(epoch) },
        // A 2xx whose body is not `{seq, epoch}`: stored all the same, so never re-sent.
        Err(Error::Protocol { detail, .. }) => {
            warn!(%detail, "the server accepted a message with an unexpected answer");
            Posted::Accepted { epoch: None }
        }
        Err(error) if error.is_transient() => Posted::Retry {
            reason: ErrorChain(&error).to_string(),
            after: error.retry_after(),
        },
        Err(error) => match error.status() {
            Some(status) => Posted::Rejected {
                status,
                message: ErrorChain(&error).to_string(),
            },
            None => Posted::Retry {
                reason: ErrorChain(&error).to_string(),
                after: None,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, retry_after: Option<&str>) -> Result<String, Error> {
        Err(Error::from_refusal(
            "POST x".to_owned(),
            status,
            retry_after,
            br#"{"error":"e","message":"why"}"#,
        ))
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(Ok("e1".to_owned())),
            Posted::Accepted {
                epoch: Some("e1".to_owned())
            }
        );
        assert_eq!(
            classify(Err(Error::Protocol {
                what: "POST x".to_owned(),
                detail: "not JSON".to_owned()
            })),
            Posted::Accepted { epoch: None }
        );
        for status in [500, 503, 408, 429] {
            assert!(
                matches!(classify(refused(status, None)), Posted::Retry { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            classify(refused(429, Some("2"))),
            Posted::Retry { after: Some(after), .. } if after == Duration::from_secs(2)
        ));
        for status in [400, 401, 413, 415] {
            assert!(
                matches!(classify(refused(status, None)), Posted::Rejected { status: s, ref message } if s == status && message.ends_with("why")),
                "{status}"
            );
        }
    }
}
