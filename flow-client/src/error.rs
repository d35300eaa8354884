//! Everything a call can fail with, and how a refusal (a non-2xx answer) is read: its status,
//! its JSON body `{"error": "<code>", "message": "...", ...}` and its `Retry-After`.

use std::time::Duration;

use flow_router::EventId;
use serde::Deserialize;

/// Longest `Retry-After` honoured; a larger value is read as this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Why a call failed.
///
/// The server's refusals each have their own variant: a 400 carries the server's error code
/// and, for a message the contract rejects, the field path; 429 and 503 carry the
/// server's `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The base URL is not an absolute `http://` or `https://` URL.
    #[error("URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The flow id breaks the server's flow-id rule, or (`.`, `..`) cannot be a path segment.
    #[error("flow id {flow:?}: {reason}")]
    InvalidFlowId {
        /// The flow id given.
        flow: String,
        /// What is wrong with it.
        reason: String,
    },
    /// 400: the server refused the request as malformed (the message broke the contract, the
    /// flow id broke the rule, the query was malformed).
    #[error("{what}: the server refused the request (400 {}): {}", .refusal.code, .refusal.message)]
    BadRequest {
        /// The request, as `POST <url>`.
        what: String,
        /// The server's explanation.
        refusal: Box<Refusal>,
    },
    /// 401 (or 403): the token is missing or wrong for this call.
    #[error("{what}: the server refused the token ({status}): {message}")]
    Unauthorized {
        /// The request, as `GET <url>`.
        what: String,
        /// 401 or 403.
        status: u16,
        /// The server's explanation.
        message: String,
    },
    /// 404: the flow has no state (never ingested, deleted or evicted), or the path is not
    /// served (a wrong base URL).
    #[error("{what}: not found: {message}")]
    NotFound {
        /// The request, as `GET <url>`.
        what: String,
        /// The server's explanation.
        message: String,
    },
    /// 413: the message is larger than the server accepts.
    #[error("{what}: the message is too large: {message}")]
    PayloadTooLarge {
        /// The request, as `POST <url>`.
        what: String,
        /// The server's explanation.
        message: String,
    },
    /// 429: the flow's rate limit is spent, or its state is full.
    #[error("{what}: rate limited{}: {message}", retry_in(*.retry_after))]
    RateLimited {
        /// The request, as `POST <url>`.
        what: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// The server's explanation.
        message: String,
    },
    /// 503: the server is at a bound (flows, subscribers), shutting down, or its backend is
    /// unavailable. Nothing was done.
    #[error("{what}: the server is unavailable{}: {message}", retry_in(*.retry_after))]
    Unavailable {
        /// The request, as `GET <url>`.
        what: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// The server's explanation.
        message: String,
    },
    /// Any other error status.
    #[error("{what}: the server answered {status}: {}", .refusal.message)]
    Status {
        /// The request, as `GET <url>`.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The server's explanation.
        refusal: Box<Refusal>,
    },
    /// No HTTP exchange (connection refused, DNS, TLS, timeout, reset).
    #[error("{what}: cannot reach the server")]
    Transport {
        /// The request, as `GET <url>`.
        what: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The server sent no response headers in time (a stream's answer; other calls report
    /// their timeout as [`Error::Transport`]).
    #[error("{what}: no answer within {} ms", .after.as_millis())]
    Timeout {
        /// The request, as `GET <url>`.
        what: String,
        /// The time allowed.
        after: Duration,
    },
    /// The server answered something the API does not promise (a body that is not the
    /// documented JSON, an event that is not a FlowMessage).
    #[error("{what}: unexpected response: {detail}")]
    Protocol {
        /// The request, as `GET <url>`.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

fn retry_in(after: Option<Duration>) -> String {
    after.map_or_else(String::new, |after| {
        format!("; retry after {} ms", after.as_millis())
    })
}

/// Displays an error followed by each of its causes ([`std::error::Error::source`]), joined
/// by `: `; what a log line or a command's last word shows.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// The JSON body of a refusal, as far as the server sent one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Refusal {
    /// The stable machine-readable code (`invalid_message`, `invalid_flow_id`, ...); empty when
    /// the body was not the server's JSON.
    pub code: String,
    /// The explanation (the body's text when it was not JSON).
    pub message: String,
    /// For a message the contract rejected: the variant (`upsert-nodes`), when known.
    pub variant: Option<String>,
    /// For a message the contract rejected: the field path (`$.nodes[0].flowId`).
    pub path: Option<String>,
    /// For a message the contract rejected: the contract's rule code.
    pub rule: Option<String>,
}

/// The wire shape of an error body.
#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default, rename = "retryAfterMs")]
    retry_after_ms: Option<u64>,
}

/// How much of a body that is not JSON goes into a message.
const MAX_TEXT: usize = 500;

impl Refusal {
    /// Reads a refusal body: the server's JSON, else its text (shortened).
    #[must_use]
    pub fn parse(body: &[u8]) -> Self {
        Self::with_retry(body).0
    }

    fn with_retry(body: &[u8]) -> (Self, Option<Duration>) {
        if let Ok(json) = serde_json::from_slice::<Body>(body) {
            let refusal = Self {
                code: json.error,
                message: json.message,
                variant: json.variant,
                path: json.path,
                rule: json.code,
            };
            return (refusal, json.retry_after_ms.map(Duration::from_millis));
        }
        let text = String::from_utf8_lossy(body);
        let refusal = Self {
            message: text.trim().chars().take(MAX_TEXT).collect(),
            ..Self::default()
        };
        (refusal, None)
    }
}

impl Error {
    /// The error for a non-2xx answer to `what`, from its status, its `Retry-After` header
    /// (seconds; HTTP dates are not sent by the server and are ignored) and its body.
    #[must_use]
    pub fn from_refusal(what: String, status: u16, retry_after: Option<&str>, body: &[u8]) -> Self {
        let (refusal, retry_after_ms) = Refusal::with_retry(body);
        let header = retry_after
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The header is whole seconds rounded up; the body's milliseconds are finer. The
        // longer of the two is the one the server will honour.
        let retry_after = match (header, retry_after_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
        .map(|after| after.min(MAX_RETRY_AFTER));
        let message = if refusal.message.is_empty() {
            http_reason(status).to_owned()
        } else {
            refusal.message.clone()
        };
        match status {
            400 => Self::BadRequest {
                what,
                refusal: Box::new(refusal),
            },
            401 | 403 => Self::Unauthorized {
                what,
                status,
                message,
            },
            404 => Self::NotFound { what, message },
            413 => Self::PayloadTooLarge { what, message },
            429 => Self::RateLimited {
                what,
                retry_after,
                message,
            },
            503 => Self::Unavailable {
                what,
                retry_after,
                message,
            },
            _ => Self::Status {
                what,
                status,
                refusal: Box::new(Refusal { message, ..refusal }),
            },
        }
    }

    /// Whether the server certainly did not act on the request, so sending it again cannot
    /// apply it twice: a refused connection, 429, 503.
    #[must_use]
    pub fn not_acted_on(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Unavailable { .. } => true,
            Self::Transport { source, .. } => source.is_connect(),
            _ => false,
        }
    }

    /// Whether a later attempt may succeed: transport failures, 429, 503 and other 5xx, 408.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. }
            | Self::Timeout { .. }
            | Self::RateLimited { .. }
            | Self::Unavailable { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 408,
            _ => false,
        }
    }

    /// The server's `Retry-After`, for 429 and 503.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The HTTP status of a refusal; `None` when the server gave no answer or an
    /// unexpected one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::BadRequest { .. } => Some(400),
            Self::Unauthorized { status, .. } | Self::Status { status, .. } => Some(*status),
            Self::NotFound { .. } => Some(404),
            Self::PayloadTooLarge { .. } => Some(413),
            Self::RateLimited { .. } => Some(429),
            Self::Unavailable { .. } => Some(503),
            _ => None,
        }
    }
}

fn http_reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no explanation")
}

/// What [`Client::post_batch`](crate::Client::post_batch) accepted before a message was refused.
#[derive(Debug, thiserror::Error)]
#[error("message {index} of the batch was not accepted ({} before it were)", .posted.len())]
#[non_exhaustive]
pub struct BatchError {
    /// The answers to the messages accepted before the failure, in order.
    pub posted: Vec<crate::Posted>,
    /// The position of the message that failed (0-based); nothing after it was sent.
    pub index: usize,
    /// Why it failed.
    #[source]
    pub error: Error,
}

/// Why an event id from the server is not ours (`<epoch hex>-<seq>`).
pub(crate) fn bad_event_id(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("event id {id:?} is not <epoch>-<seq>"),
        None => "a flow event carries no id".to_owned(),
    }
}

/// Parses the server's event id.
pub(crate) fn parse_event_id(id: Option<&str>) -> Result<EventId, String> {
    id.and_then(EventId::parse).ok_or_else(|| bad_event_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{what}")]
    struct Layer {
        what: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    #[test]
    fn an_error_chain_shows_every_cause_in_order() {
        let root = Layer {
            what: "connection reset",
            cause: None,
        };
        let middle = Layer {
            what: "reading the body",
            cause: Some(Box::new(root)),
        };
        let top = Layer {
            what: "GET /flows/demo",
            cause: Some(Box::new(middle)),
        };
        assert_eq!(
            ErrorChain(&top).to_string(),
            "GET /flows/demo: reading the body: connection reset"
        );
        let alone = Layer {
            what: "timed out",
            cause: None,
        };
        assert_eq!(ErrorChain(&alone).to_string(), "timed out");
    }

    fn refuse(status: u16, retry_after: Option<&str>, body: &str) -> Error {
        Error::from_refusal("POST x".to_owned(), status, retry_after, body.as_bytes())
    }

    #[test]
    fn a_contract_refusal_carries_code_variant_and_path() {
        let error = refuse(
            400,
            None,
            r#"{"error":"invalid_message","message":"upsert-nodes: $.nodes: must not be empty","variant":"upsert-nodes","path":"$.nodes","code":"empty"}"#,
        );
        let Error::BadRequest { refusal, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(refusal.code, "invalid_message");
        assert_eq!(refusal.path.as_deref(), Some("$.nodes"));
        assert_eq!(refusal.variant.as_deref(), Some("upsert-nodes"));
        assert_eq!(refusal.rule.as_deref(), Some("empty"));
        assert_eq!(
            error.to_string(),
            "POST x: the server refused the request (400 invalid_message): upsert-nodes: $.nodes: must not be empty"
        );
        assert!(!error.is_transient() && !error.not_acted_on());
    }

    #[test]
    fn statuses_map_to_their_variants() {
        assert!(
            matches!(refuse(401, None, ""), Error::Unauthorized { status: 401, ref message, .. } if message == "Unauthorized")
        );
        assert!(matches!(
            refuse(403, None, "{}"),
            Error::Unauthorized { status: 403, .. }
        ));
        assert!(
            matches!(refuse(404, None, "gone"), Error::NotFound { ref message, .. } if message == "gone")
        );
        assert!(matches!(
            refuse(413, None, ""),
            Error::PayloadTooLarge { .. }
        ));
        assert!(matches!(
            refuse(409, None, ""),
            Error::Status { status: 409, .. }
        ));
        for status in [400, 401, 404, 409, 413, 429, 503] {
            assert_eq!(refuse(status, None, "").status(), Some(status));
        }
    }

    #[test]
    fn retry_after_takes_the_longer_of_header_and_body_and_is_capped() {
        let limited = refuse(
            429,
            Some("1"),
            r#"{"error":"rate_limited","message":"m","retryAfterMs":400}"#,
        );
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)));
        assert!(limited.is_transient() && limited.not_acted_on());
        let body_only = refuse(429, None, r#"{"retryAfterMs":1500}"#);
        assert_eq!(body_only.retry_after(), Some(Duration::from_millis(1500)));
        let huge = refuse(503, Some("99999"), "");
        assert_eq!(huge.retry_after(), Some(MAX_RETRY_AFTER));
        assert_eq!(
            refuse(503, Some("Wed, 21 Oct 2015"), "").retry_after(),
            None
        );
        assert!(refuse(502, None, "").is_transient());
        assert!(!refuse(502, None, "").not_acted_on());
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_as_shortened_text() {
        let long = "x".repeat(2000);
        let Error::Status { refusal, .. } = refuse(500, None, &format!("  {long} ")) else {
            panic!("a status error")
        };
        assert_eq!(refusal.message.len(), MAX_TEXT);
        assert!(refusal.code.is_empty());
    }
}
