//! The one place where errors become HTTP statuses and JSON bodies
//! `{"error": "<code>", "message": "...", ...}`.

use std::convert::Infallible;
use std::time::Duration;

use flow_contract::{ContractError, FlowIdError};
use flow_router::{IngestError, SubscribeError};
use serde_json::{Value, json};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Rejection, Reply};

use crate::client::Refused;
use crate::replica::ReplicaError;
use crate::shared_log::LogError;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ApiError {
    /// The flow id in the path breaks the flow-id rule.
    #[error(transparent)]
    FlowId(FlowIdError),
    /// The engine refused the message.
    #[error(transparent)]
    Ingest(IngestError),
    /// The engine refused the subscription.
    #[error(transparent)]
    Subscribe(SubscribeError),
    /// No or a wrong bearer token.
    #[error("a valid bearer token is required (Authorization: Bearer <token>{})", if *query_allowed { " or ?access_token=<token>" } else { "" })]
    Unauthorized {
        /// Whether `access_token` is accepted on this route.
        query_allowed: bool,
    },
    /// The flow's ingest rate limit is spent.
    #[error("too many messages for this flow; retry after {} ms", retry_after.as_millis())]
    RateLimited {
        /// When a message will be accepted again.
        retry_after: Duration,
    },
    /// The client address created its quota of new flows this minute.
    #[error("this client created {per_minute} new flows in the last minute (FLOW_SERVER_NEW_FLOWS_PER_MINUTE); retry after {} ms", retry_after.as_millis())]
    TooManyNewFlows {
        /// The configured bound.
        per_minute: u32,
        /// When a new flow will be accepted again.
        retry_after: Duration,
    },
    /// The client address holds its quota of streams on flows without state.
    #[error(
        "this client holds {limit} streams on flows nothing was posted to (FLOW_SERVER_MAX_WAITERS_PER_IP)"
    )]
    ClientWaiters {
        /// The configured bound.
        limit: usize,
    },
    /// The body is not JSON.
    #[error("content-type must be application/json, found {}", found.as_deref().unwrap_or("none"))]
    UnsupportedMediaType {
        /// The content type sent.
        found: Option<String>,
    },
    /// The body is larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read.
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    /// No state for this flow was ever ingested.
    #[error("flow {flow_id:?} has no state (never ingested, deleted or evicted)")]
    FlowNotFound {
        /// The flow id.
        flow_id: String,
    },
    /// A malformed query string.
    #[error("invalid query string: {0}")]
    BadQuery(String),
    /// No route for this path.
    #[error("no such path")]
    NotFound,
    /// The path exists, the method does not.
    #[error("method not allowed for this path")]
    MethodNotAllowed,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The Redis backend refused or failed; for ingest, the event was not stored.
    #[error("{}", backend_message(.0))]
    Backend(#[source] LogError),
    /// A CORS preflight from an origin (or for a method) not on the allow-list.
    #[error("origin or method not allowed by FLOW_SERVER_CORS_ORIGINS")]
    OriginNotAllowed,
}

impl ApiError {
    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::FlowId(_) | Self::BodyRead(_) | Self::BadQuery(_) => StatusCode::BAD_REQUEST,
            Self::Ingest(err) => match err {
                IngestError::FlowId(_) | IngestError::Contract(_) => StatusCode::BAD_REQUEST,
                IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                IngestError::StateFull { .. } => StatusCode::TOO_MANY_REQUESTS,
                IngestError::FlowMemoryFull { .. } | IngestError::MemoryFull { .. } => {
                    StatusCode::INSUFFICIENT_STORAGE
                }
                IngestError::Stale { .. } => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            Self::Subscribe(err) => match err {
                SubscribeError::FlowId(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            },
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } | Self::TooManyNewFlows { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::ClientWaiters { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::FlowNotFound { .. } | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable code in the body's `error` field (and the `reason` label of
    /// the rejection metric).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::FlowId(_) => "invalid_flow_id",
            Self::Ingest(err) => match err {
                IngestError::FlowId(_) => "invalid_flow_id",
                IngestError::Contract(_) => "invalid_message",
                IngestError::TooLarge { .. } => "message_too_large",
                IngestError::StateFull { .. } => "flow_state_full",
                IngestError::FlowMemoryFull { .. } => "flow_memory_full",
                IngestError::MemoryFull { .. } => "memory_full",
                IngestError::TooManyFlows { .. } => "too_many_flows",
                IngestError::Stale { .. } => "stale_seq",
                _ => "engine_refused",
            },
            Self::Subscribe(err) => match err {
                SubscribeError::FlowId(_) => "invalid_flow_id",
                SubscribeError::TooManySubscribers { .. } => "too_many_subscribers",
                SubscribeError::TooManyWaiters { .. } => "too_many_waiters",
                _ => "engine_refused",
            },
            Self::Unauthorized { .. } => "unauthorized",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyNewFlows { .. } => "too_many_new_flows",
            Self::ClientWaiters { .. } => "too_many_waiters",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::BodyRead(_) => "body_read",
            Self::FlowNotFound { .. } => "flow_not_found",
            Self::BadQuery(_) => "invalid_query",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::ShuttingDown => "shutting_down",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::Backend(err) => match err {
                LogError::Unavailable(_) => "backend_unavailable",
                LogError::TimedOut { .. } => "backend_timeout",
                LogError::Contended { .. } => "backend_contended",
                _ => "backend_error",
            },
        }
    }

    fn body(&self) -> Value {
        let mut body = json!({ "error": self.code(), "message": self.message() });
        if let Some(err) = self.contract() {
            body["variant"] = err
                .variant()
                .map_or(Value::Null, |v| Value::from(v.as_str()));
            body["path"] = Value::from(err.path());
            body["code"] = Value::from(err.code());
        }
        if let Some((variable, limit)) = self.byte_limit() {
            body["variable"] = Value::from(variable);
            body["limit"] = Value::from(limit);
        }
        if let Self::RateLimited { retry_after } | Self::TooManyNewFlows { retry_after, .. } = self
        {
            body["retryAfterMs"] =
                Value::from(u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX));
        }
        body
    }

    /// The variable and the limit in bytes of a refusal by a byte bound (the limit as the
    /// engine applies it: for the per-flow budget, the half that was exceeded).
    fn byte_limit(&self) -> Option<(&'static str, usize)> {
        match self {
            Self::Ingest(
                IngestError::TooLarge { budget: limit, .. }
                | IngestError::FlowMemoryFull { limit, .. },
            ) => Some(("FLOW_SERVER_FLOW_BYTE_BUDGET", *limit)),
            Self::Ingest(IngestError::MemoryFull { limit, .. }) => {
                Some(("FLOW_SERVER_MAX_MEMORY_BYTES", *limit))
            }
            _ => None,
        }
    }

    /// The message with its causes (the router's errors keep their inner error as a source),
    /// naming the variable of a byte bound.
    fn message(&self) -> String {
        let mut message = self.to_string();
        if let Some((variable, _)) = self.byte_limit() {
            message.push_str(&format!(" ({variable})"));
        }
        let mut source = std::error::Error::source(self);
        while let Some(err) = source {
            message.push_str(": ");
            message.push_str(&err.to_string());
            source = err.source();
        }
        message
    }

    fn contract(&self) -> Option<&ContractError> {
        match self {
            Self::Ingest(IngestError::Contract(err)) => Some(err),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            // Whole seconds, rounded up: a client waiting that long is accepted.
            Self::RateLimited { retry_after } | Self::TooManyNewFlows { retry_after, .. } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
            }
            Self::Ingest(IngestError::TooManyFlows { .. } | IngestError::MemoryFull { .. })
            | Self::Subscribe(SubscribeError::TooManyWaiters { .. })
            | Self::Subscribe(SubscribeError::TooManySubscribers { .. })
            | Self::ClientWaiters { .. } => Some(5),
            Self::Backend(
                LogError::Unavailable(_)
                | LogError::TimedOut { .. }
                | LogError::Contended { .. }
                | LogError::Reply(_),
            ) => Some(1),
            _ => None,
        }
    }
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = self.code(), detail = %self.message(), "request failed");
        } else {
            tracing::warn!(status = status.as_u16(), error = self.code(), detail = %self.message(), "request refused");
        }
        let mut response =
            warp::reply::with_status(warp::reply::json(&self.body()), status).into_response();
        let headers = response.headers_mut();
        if let Self::Unauthorized { .. } = self {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="openova-flow""#),
            );
        }
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The whole HTTP/1.1 answer to a connection refused by a connection bound: 503, the limit
/// named in the body, `connection: close`. Written raw: the request is never read.
pub(crate) fn connection_refused(refused: Refused) -> Vec<u8> {
    let (variable, limit) = match refused {
        Refused::Total(limit) => ("FLOW_SERVER_MAX_CONNECTIONS", limit),
        Refused::PerIp(limit) => ("FLOW_SERVER_MAX_CONNECTIONS_PER_IP", limit),
    };
    let body = json!({
        "error": "too_many_connections",
        "message": format!("too many open connections ({variable}={limit}); retry later"),
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The message of a backend error: unavailability says plainly that nothing was done, a
/// timeout that it is unknown.
fn backend_message(err: &LogError) -> String {
    match err {
        LogError::Unavailable(_) => {
            "the redis backend is unavailable; the request was not carried out (an event was not stored), retry later".to_owned()
        }
        LogError::TimedOut { .. } => format!(
            "{err}; the request may or may not have been carried out (an event may be stored: \
             posting it again is safe, upserts are idempotent), retry later"
        ),
        other => other.to_string(),
    }
}

impl From<ReplicaError> for ApiError {
    fn from(err: ReplicaError) -> Self {
        match err {
            ReplicaError::Log(err) => Self::Backend(err),
            ReplicaError::Subscribe(err) => Self::Subscribe(err),
            ReplicaError::Restore(err) | ReplicaError::Refused(err) => Self::Ingest(err),
        }
    }
}

/// Turns warp's own rejections (no route, wrong method, bad query) into JSON errors.
pub(crate) async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::NotFound
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else if let Some(err) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::BadQuery(err.to_string())
    } else {
        // Every route maps its own errors; anything else is a path we do not serve.
        tracing::debug!(?rejection, "unmapped rejection");
        ApiError::NotFound
    };
    Ok(error.into_response())
}
