//! The server's HTTP API as `flowctl` uses it.

use std::time::Duration;

use flow_contract::{FlowMessage, decode, validate_flow_id};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use crate::error::CtlError;
use crate::table::Position;

/// Time allowed to establish a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole snapshot or post exchange.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for one server.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

/// The server's answer to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Posted {
    /// The seq the message was given.
    pub(crate) seq: u64,
    /// The flow's epoch.
    #[serde(default)]
    pub(crate) epoch: Option<String>,
}

impl Client {
    /// A client for the server at `url` (`http://` or `https://`, any path prefix kept).
    ///
    /// # Errors
    /// [`CtlError::Usage`] for a URL that is not an absolute http(s) URL.
    pub(crate) fn new(url: &str, token: Option<String>) -> Result<Self, CtlError> {
        let mut base = Url::parse(url).map_err(|e| CtlError::Usage(format!("URL {url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(CtlError::Usage(format!(
                "URL {url:?}: must be an http:// or https:// URL"
            )));
        }
        base.set_query(None);
        base.set_fragment(None);
        // Installing fails only when a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("flowctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| CtlError::Transport {
                what: "building the HTTP client".to_owned(),
                source,
            })?;
        Ok(Self {
            http,
            base,
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// The URL of `rest` (such as `stream`) under `/v1/flows/{flow}`.
    ///
    /// # Errors
    /// [`CtlError::Usage`] for a flow id the server would reject, or one (`.` or `..`) that a
    /// URL path cannot carry.
    pub(crate) fn flow_url(&self, flow: &str, rest: &str) -> Result<Url, CtlError> {
        validate_flow_id(flow).map_err(|e| CtlError::Usage(format!("flow id {flow:?}: {e}")))?;
        if flow == "." || flow == ".." {
            return Err(CtlError::Usage(format!(
                "flow id {flow:?}: cannot be addressed in a URL path"
            )));
        }
        let mut url = self.base.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| CtlError::Usage(format!("URL {}: cannot hold a path", self.base)))?;
            segments.pop_if_empty().extend(["v1", "flows", flow]);
            if !rest.is_empty() {
                segments.push(rest);
            }
        }
        Ok(url)
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            headers.insert(AUTHORIZATION, value);
        }
        headers
    }

    /// `GET snapshot`: the flow's state and its position.
    ///
    /// # Errors
    /// Transport and status errors, and a body that is not a valid `snapshot` message.
    pub(crate) async fn snapshot(&self, flow: &str) -> Result<(FlowMessage, Position), CtlError> {
        let url = self.flow_url(flow, "snapshot")?;
        let what = format!("GET {url}");
        let response = self
            .send(&what, self.http.get(url.clone()).timeout(REQUEST_TIMEOUT))
            .await?;
        let position = position(&response);
        let body = response
            .bytes()
            .await
            .map_err(|source| CtlError::Transport {
                what: what.clone(),
                source,
            })?;
        let message = decode(&body, flow).map_err(|e| CtlError::Protocol {
            what: what.clone(),
            detail: format!("the body is not a valid FlowMessage: {e}"),
        })?;
        if !matches!(message, FlowMessage::Snapshot { .. }) {
            return Err(CtlError::Protocol {
                what,
                detail: format!("expected a snapshot, got {}", message.message_type()),
            });
        }
        Ok((message, position))
    }

    /// `HEAD snapshot`: the flow's position without its state.
    ///
    /// # Errors
    /// Transport and status errors, and an answer without `Flow-Seq` or `Flow-Epoch`.
    pub(crate) async fn head(&self, flow: &str) -> Result<Position, CtlError> {
        let url = self.flow_url(flow, "snapshot")?;
        let what = format!("HEAD {url}");
        let response = self
            .send(&what, self.http.head(url.clone()).timeout(REQUEST_TIMEOUT))
            .await?;
        let position = position(&response);
        if position.seq.is_none() || position.epoch.is_none() {
            return Err(CtlError::Protocol {
                what,
                detail: "the answer has no Flow-Seq or Flow-Epoch header".to_owned(),
            });
        }
        Ok(position)
    }

    /// `POST events` with one message.
    ///
    /// # Errors
    /// Transport and status errors, and an answer without a `seq`.
    pub(crate) async fn post(&self, flow: &str, message: &FlowMessage) -> Result<Posted, CtlError> {
        let url = self.flow_url(flow, "events")?;
        let what = format!("POST {url}");
        let request = self
            .http
            .post(url)
            .timeout(REQUEST_TIMEOUT)
            .header(CONTENT_TYPE, "application/json")
            .body(message.to_json());
        let response = self.send(&what, request).await?;
        let body = response
            .bytes()
            .await
            .map_err(|source| CtlError::Transport {
                what: what.clone(),
                source,
            })?;
        serde_json::from_slice(&body).map_err(|e| CtlError::Protocol {
            what,
            detail: format!("expected {{\"seq\":N,\"epoch\":\"...\"}}: {e}"),
        })
    }

    /// `GET stream`, resuming after `last_event_id` when given. The response has a success
    /// status; its body is the event stream.
    ///
    /// # Errors
    /// Transport and status errors.
    pub(crate) async fn stream(
        &self,
        flow: &str,
        last_event_id: Option<&str>,
    ) -> Result<Response, CtlError> {
        let url = self.flow_url(flow, "stream")?;
        let what = format!("GET {url}");
        let mut request = self.http.get(url).header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        self.send(&what, request).await
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, CtlError> {
        let response = request
            .headers(self.headers())
            .send()
            .await
            .map_err(|source| CtlError::Transport {
                what: what.to_owned(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(CtlError::Status {
            what: what.to_owned(),
            status,
            detail: detail(status, &body),
        })
    }
}

/// The `Flow-Seq` and `Flow-Epoch` headers of a snapshot answer.
fn position(response: &Response) -> Position {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Position {
        seq: header("flow-seq"),
        epoch: header("flow-epoch"),
    }
}

/// The `message` (else `error`) of a JSON error body, else the body's text, shortened.
fn detail(status: StatusCode, body: &[u8]) -> String {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let text = field("message")
        .or_else(|| field("error"))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_owned()
    } else {
        text.chars().take(500).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_urls_keep_a_path_prefix_and_reject_dot_segments() {
        let client = Client::new("https://example.test/flow/?x=1", None).unwrap();
        assert_eq!(
            client.flow_url("demo:1", "stream").unwrap().as_str(),
            "https://example.test/flow/v1/flows/demo:1/stream"
        );
        let bare = Client::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(
            bare.flow_url("a", "").unwrap().as_str(),
            "http://127.0.0.1:8080/v1/flows/a"
        );
        for bad in ["..", ".", "a/b", ""] {
            assert!(matches!(
                bare.flow_url(bad, "stream"),
                Err(CtlError::Usage(_))
            ));
        }
        assert!(matches!(
            Client::new("ftp://x", None),
            Err(CtlError::Usage(_))
        ));
    }

    #[test]
    fn error_details_prefer_the_json_message() {
        let status = StatusCode::BAD_REQUEST;
        assert_eq!(
            detail(status, br#"{"error":"invalid_message","message":"upsert-nodes: $.nodes: must not be empty"}"#),
            "upsert-nodes: $.nodes: must not be empty"
        );
        assert_eq!(detail(status, b" plain "), "plain");
        assert_eq!(detail(status, b""), "Bad Request");
    }
}
