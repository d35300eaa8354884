//! [`Client`]: one server's HTTP API, typed. Paths, tokens, timeouts and retries live here
//! and nowhere else.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use flow_contract::{FlowMessage, validate_flow_id};
use flow_router::EventId;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, Url};

use crate::answer::{FlowList, FlowSummary, Head, Posted, Snapshot};
use crate::error::{BatchError, Error};
use crate::follow::Follow;
use crate::resume::{FollowOptions, RECEIVED};

/// How calls are retried.
///
/// Reads (`head`, `snapshot`, `flows`) and `delete` are idempotent: they are retried on
/// transport failures, 408, 429 and 5xx. A post is retried only when the server certainly did
/// not act on it (a refused connection, 429, 503), so a message is never applied twice by a
/// retry. Waits grow exponentially with jitter and are at least the server's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: none).
    pub max_retries: usize,
    /// The first wait.
    pub min_delay: Duration,
    /// The longest wait computed by the backoff (a longer `Retry-After` is still honoured).
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// No retries: every failure is returned at once.
    pub const NONE: Self = Self {
        max_retries: 0,
        min_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// Three retries from 100 ms, waits up to 5 s.
    pub const DEFAULT: Self = Self {
        max_retries: 3,
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(5),
    };

    fn backoff(self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Builds a [`Client`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    url: String,
    ingest_token: Option<String>,
    read_token: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    user_agent: String,
}

impl ClientBuilder {
    /// The bearer token for posts and deletes (the server's `FLOW_SERVER_INGEST_TOKENS`).
    pub fn ingest_token(mut self, token: impl Into<String>) -> Self {
        self.ingest_token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// The bearer token for reads: head, snapshot, list, stream (`FLOW_SERVER_READ_TOKENS`).
    pub fn read_token(mut self, token: impl Into<String>) -> Self {
        self.read_token = Some(token.into()).filter(|t| !t.is_empty());
        self
    }

    /// One token for every call.
    pub fn token(self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.ingest_token(token.clone()).read_token(token)
    }

    /// Time allowed to establish a connection. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one whole exchange (each attempt), and for a stream's response
    /// headers. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How failed calls are retried. Default [`RetryPolicy::DEFAULT`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `User-Agent` sent. Default `flow-client/<version>`.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// The client.
    ///
    /// Installs rustls' `ring` provider as the process default when none is installed yet
    /// (HTTPS needs one; an application that installs its own first keeps it).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a URL that is not an absolute http(s) URL; a transport error
    /// when the HTTP client cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: self.url.clone(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(&self.url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("must be an http:// or https:// URL"));
        }
        base.set_query(None);
        base.set_fragment(None);
        // Installing fails only when a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|source| Error::Transport {
                what: "building the HTTP client".to_owned(),
                source,
            })?;
        Ok(Client {
            http,
            base,
            ingest_token: self.ingest_token,
            read_token: self.read_token,
            request_timeout: self.request_timeout,
            retry: self.retry,
        })
    }
}

/// A client of one `openova-flow-server`.
///
/// Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    ingest_token: Option<String>,
    read_token: Option<String>,
    request_timeout: Duration,
    retry: RetryPolicy,
}

/// Which token a call carries.
#[derive(Debug, Clone, Copy)]
enum Token {
    Ingest,
    Read,
}

impl Client {
    /// A builder for the server at `url` (`http://` or `https://`; a path prefix is kept, so
    /// a server behind `https://example.com/flow/` works).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            ingest_token: None,
            read_token: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::DEFAULT,
            user_agent: concat!("flow-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// A client for `url` with the defaults: no tokens, [`RetryPolicy::DEFAULT`].
    ///
    /// # Errors
    /// As [`ClientBuilder::build`].
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
        Self::builder(url).build()
    }

    /// The URL of `rest` (such as `stream`; empty for the flow itself) under
    /// `/v1/flows/{flow}`.
    ///
    /// # Errors
    /// [`Error::InvalidFlowId`] for a flow id the server would reject, or one (`.`, `..`) that
    /// a URL path cannot carry.
    pub fn flow_url(&self, flow: &str, rest: &str) -> Result<Url, Error> {
        let invalid = |reason: String| Error::InvalidFlowId {
            flow: flow.to_owned(),
            reason,
        };
        validate_flow_id(flow).map_err(|e| invalid(e.to_string()))?;
        if flow == "." || flow == ".." {
            return Err(invalid("cannot be addressed in a URL path".to_owned()));
        }
        let mut segments = vec!["v1", "flows", flow];
        if !rest.is_empty() {
            segments.push(rest);
        }
        Ok(self.url(&segments))
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `build` accepted only URLs that can be a base, which always have path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// `POST /v1/flows/{flow}/events`: appends one message to the flow.
    ///
    /// # Errors
    /// [`Error::BadRequest`] with the contract's code and path when the server rejects the
    /// message; the other refusals and transport errors after the retries allowed.
    pub async fn post(&self, flow: &str, message: &FlowMessage) -> Result<Posted, Error> {
        let url = self.flow_url(flow, "events")?;
        let body = message.to_json();
        self.call(Method::POST, url, Token::Ingest, |request| {
            request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await
        .and_then(|(what, _, body)| {
            Posted::parse(&body).map_err(|detail| Error::Protocol { what, detail })
        })
    }

    /// Posts `messages` in order, one request each (the server takes one message per
    /// request), stopping at the first that is not accepted.
    ///
    /// # Errors
    /// [`BatchError`]: the answers so far, the failed message's index and its error.
    pub async fn post_batch(
        &self,
        flow: &str,
        messages: &[FlowMessage],
    ) -> Result<Vec<Posted>, BatchError> {
        let mut posted = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            match self.post(flow, message).await {
                Ok(answer) => posted.push(answer),
                Err(error) => {
                    return Err(BatchError {
                        posted,
                        index,
                        error,
                    });
                }
            }
        }
        Ok(posted)
    }

    /// `HEAD /v1/flows/{flow}/snapshot`: the flow's epoch and seq, without its state.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the flow has no state; other refusals and transport errors.
    pub async fn head(&self, flow: &str) -> Result<Head, Error> {
        let url = self.flow_url(flow, "snapshot")?;
        let (what, headers, _) = self.call(Method::HEAD, url, Token::Read, |r| r).await?;
        head_of(&headers).map_err(|detail| Error::Protocol { what, detail })
    }

    /// `GET /v1/flows/{flow}/snapshot`: the flow's folded state and its position.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the flow has no state; other refusals, transport errors, and
    /// a body that is not a `snapshot` FlowMessage.
    pub async fn snapshot(&self, flow: &str) -> Result<Snapshot, Error> {
        let url = self.flow_url(flow, "snapshot")?;
        let (what, headers, body) = self.call(Method::GET, url, Token::Read, |r| r).await?;
        let protocol = |detail| Error::Protocol {
            what: what.clone(),
            detail,
        };
        let head = head_of(&headers).map_err(protocol)?;
        let message = RECEIVED
            .decode(&body, flow)
            .map_err(|e| protocol(format!("the body is not a valid FlowMessage: {e}")))?;
        if !matches!(message, FlowMessage::Snapshot { .. }) {
            return Err(protocol(format!(
                "expected a snapshot, got {}",
                message.message_type()
            )));
        }
        Ok(Snapshot { head, message })
    }

    /// `DELETE /v1/flows/{flow}`: purges the flow; its open streams end. Idempotent.
    ///
    /// # Errors
    /// Refusals and transport errors.
    pub async fn delete(&self, flow: &str) -> Result<(), Error> {
        let url = self.flow_url(flow, "")?;
        self.call(Method::DELETE, url, Token::Ingest, |r| r)
            .await
            .map(drop)
    }

    /// `GET /v1/flows`: the flows the server holds.
    ///
    /// # Errors
    /// Refusals, transport errors, and a body that is not the documented list.
    pub async fn flows(&self) -> Result<Vec<FlowSummary>, Error> {
        let url = self.url(&["v1", "flows"]);
        let (what, _, body) = self.call(Method::GET, url, Token::Read, |r| r).await?;
        serde_json::from_slice::<FlowList>(&body)
            .map(|list| list.flows)
            .map_err(|e| Error::Protocol {
                what,
                detail: format!("expected {{\"flows\":[...]}}: {e}"),
            })
    }

    /// Follows `flow`: its state, then every change, across reconnections, resuming after
    /// `from` when given (else starting from a snapshot). See [`Follow`].
    #[must_use]
    pub fn follow(&self, flow: &str, from: Option<EventId>) -> Follow {
        self.follow_with(flow, from, FollowOptions::default())
    }

    /// [`Client::follow`] with options.
    #[must_use]
    pub fn follow_with(&self, flow: &str, from: Option<EventId>, options: FollowOptions) -> Follow {
        Follow::new(self.clone(), flow, from, options)
    }

    /// Opens `GET /v1/flows/{flow}/stream` once, resuming after `last_event_id`. The answer is
    /// a 200 event stream; its body is read by the caller.
    pub(crate) async fn open_stream(
        &self,
        flow: &str,
        last_event_id: Option<EventId>,
    ) -> Result<(String, Response), Error> {
        let url = self.flow_url(flow, "stream")?;
        let what = format!("GET {url}");
        let mut request = self
            .authorize(self.http.get(url), Token::Read)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = tokio::time::timeout(self.request_timeout, request.send())
            .await
            .map_err(|_| Error::Timeout {
                what: what.clone(),
                after: self.request_timeout,
            })?
            .map_err(|source| Error::Transport {
                what: what.clone(),
                source,
            })?;
        let response = refuse_unless_success(&what, response).await?;
        let is_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_stream {
            return Err(Error::Protocol {
                what,
                detail: "the answer is not text/event-stream".to_owned(),
            });
        }
        Ok((what, response))
    }

    fn authorize(&self, request: RequestBuilder, token: Token) -> RequestBuilder {
        let token = match token {
            Token::Ingest => &self.ingest_token,
            Token::Read => &self.read_token,
        };
        match token {
            Some(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            None => request,
        }
    }

    /// One call with the retry policy: the request's description, headers and body of the
    /// 2xx answer.
    async fn call(
        &self,
        method: Method,
        url: Url,
        token: Token,
        prepare: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<(String, HeaderMap, Vec<u8>), Error> {
        let what = format!("{method} {url}");
        let idempotent = method != Method::POST;
        let attempt = || async {
            let request = self
                .authorize(self.http.request(method.clone(), url.clone()), token)
                .timeout(self.request_timeout);
            let transport = |source| Error::Transport {
                what: what.clone(),
                source,
            };
            let response = prepare(request).send().await.map_err(transport)?;
            let response = refuse_unless_success(&what, response).await?;
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(transport)?;
            Ok((what.clone(), headers, body.to_vec()))
        };
        attempt
            .retry(self.retry.backoff())
            .when(|error: &Error| {
                if idempotent {
                    error.is_transient()
                } else {
                    error.not_acted_on()
                }
            })
            .adjust(|error, wait| {
                wait.map(|wait| error.retry_after().map_or(wait, |after| after.max(wait)))
            })
            .await
    }
}

/// The response itself when its status is 2xx, else the typed refusal.
async fn refuse_unless_success(what: &str, response: Response) -> Result<Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A body that cannot be read is treated like an empty one: the status says enough.
    let body = response.bytes().await.unwrap_or_default();
    Err(Error::from_refusal(
        what.to_owned(),
        status.as_u16(),
        retry_after.as_deref(),
        &body,
    ))
}

fn head_of(headers: &HeaderMap) -> Result<Head, String> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    Head::from_headers(text("flow-epoch"), text("flow-seq"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_urls_keep_a_path_prefix_and_reject_dot_segments() {
        let client = Client::new("https://example.test/flow/?x=1").unwrap();
        assert_eq!(
            client.flow_url("demo:1", "stream").unwrap().as_str(),
            "https://example.test/flow/v1/flows/demo:1/stream"
        );
        let bare = Client::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            bare.flow_url("a", "").unwrap().as_str(),
            "http://127.0.0.1:8080/v1/flows/a"
        );
        assert_eq!(
            bare.url(&["v1", "flows"]).as_str(),
            "http://127.0.0.1:8080/v1/flows"
        );
        for bad in ["..", ".", "a/b", ""] {
            assert!(matches!(
                bare.flow_url(bad, "stream"),
                Err(Error::InvalidFlowId { .. })
            ));
        }
        for bad in ["ftp://x", "not a url", "mailto:a@b"] {
            assert!(matches!(Client::new(bad), Err(Error::InvalidUrl { .. })));
        }
    }
}
