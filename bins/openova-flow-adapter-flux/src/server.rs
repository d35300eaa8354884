//! The flow server's HTTP API as the adapter uses it: `POST .../events` with the ingest token,
//! `HEAD` and `GET .../snapshot` with the read token.
//!
//! Retried: connection errors and timeouts, 5xx, 408 and 429 (waiting at least `Retry-After`).
//! Every other non-2xx answer to a POST is a rejection: retrying cannot fix it. A read answered
//! 401 or 403 is reported as refused (the read token is wrong), 404 as missing.

use std::time::Duration;

use backon::ExponentialBuilder;
use flow_contract::FlowMessage;
use flow_flux_mapper::heal::{Head, Snapshot};
use reqwest::{StatusCode, Url, header};
use tracing::debug;

use crate::config::Config;

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

/// A client of one flow on the server.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    http: reqwest::Client,
    events: Url,
    snapshot: Url,
    token: Option<String>,
    read_token: Option<String>,
    /// Delivery retry delays (exponential with jitter, capped).
    pub(crate) backoff: ExponentialBuilder,
    /// The cap of a retry delay.
    pub(crate) max_delay: Duration,
}

impl Server {
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
            read_token: config.read_token.clone(),
            backoff: ExponentialBuilder::new()
                .with_min_delay(MIN_RETRY_DELAY)
                .with_max_delay(config.retry_max_delay)
                .with_jitter()
                .without_max_times(),
            max_delay: config.retry_max_delay,
        })
    }

    fn authorize(
        request: reqwest::RequestBuilder,
        token: Option<&String>,
    ) -> reqwest::RequestBuilder {
        match token {
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
        let response = match Self::authorize(request, self.token.as_ref()).send().await {
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

    /// `HEAD .../snapshot`: the flow's epoch, without its state.
    pub(crate) async fn head(&self) -> Head {
        let request = Self::authorize(
            self.http.head(self.snapshot.clone()),
            self.read_token.as_ref(),
        );
        match request.send().await {
            Ok(response) => match read_status(response.status()) {
                ReadStatus::Ok => Head::Held {
                    epoch: epoch_of(response.headers()),
                },
                ReadStatus::Missing => Head::Missing,
                ReadStatus::Refused(status) => Head::Refused { status },
                ReadStatus::Failed(status) => {
                    debug!(status, "probe of the server's head failed");
                    Head::Failed
                }
            },
            Err(e) => {
                debug!(error = %error_chain(&e), "probe of the server's head failed");
                Head::Failed
            }
        }
    }

    /// `GET .../snapshot`: the server's state of the flow and its epoch.
    pub(crate) async fn snapshot(&self) -> Snapshot {
        let request = Self::authorize(
            self.http.get(self.snapshot.clone()),
            self.read_token.as_ref(),
        );
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                debug!(error = %error_chain(&e), "reading the server's snapshot failed");
                return Snapshot::Failed;
            }
        };
        match read_status(response.status()) {
            ReadStatus::Ok => {}
            ReadStatus::Missing => return Snapshot::Missing,
            ReadStatus::Refused(status) => return Snapshot::Refused { status },
            ReadStatus::Failed(status) => {
                debug!(status, "reading the server's snapshot failed");
                return Snapshot::Failed;
            }
        }
        let epoch = epoch_of(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => {
                debug!(error = %error_chain(&e), "reading the server's snapshot failed");
                return Snapshot::Failed;
            }
        };
        match serde_json::from_slice(&body) {
            Ok(snapshot) => Snapshot::Held {
                snapshot: Box::new(snapshot),
                epoch,
            },
            Err(e) => {
                tracing::warn!(error = %e, "the server's snapshot is not a FlowMessage");
                Snapshot::Failed
            }
        }
    }
}

/// How a read was answered.
enum ReadStatus {
    Ok,
    Missing,
    Refused(u16),
    Failed(u16),
}

fn read_status(status: StatusCode) -> ReadStatus {
    match status {
        StatusCode::OK => ReadStatus::Ok,
        StatusCode::NOT_FOUND => ReadStatus::Missing,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ReadStatus::Refused(status.as_u16()),
        other => ReadStatus::Failed(other.as_u16()),
    }
}

/// The `Flow-Epoch` header.
fn epoch_of(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get("flow-epoch")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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
