//! Every route. Handlers only translate: they read the request, call the engine and map its
//! typed outcome to a response ([`crate::http_error`] owns the statuses of errors).

use std::collections::HashMap;
use std::convert::Infallible;

use bytes::{Buf, Bytes, BytesMut};
use flow_contract::validate_flow_id;
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::json;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use flow_router::EventId;

use crate::app::{App, Phase};
use crate::client::ClientAddr;
use crate::http_error::{self, ApiError};
use crate::{metrics, sse};

/// Query parameters: `lastEventId` (stream) and `access_token` (any GET).
type Query = HashMap<String, String>;

/// Every route of the server, with JSON errors, CORS and request logging, ready for
/// `warp::serve` or `warp::test`.
pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let cors = app.inner.cors.clone();
    // The ingest route first: it is the hot path under load.
    let api = ingest(&app)
        .or(preflight(&app))
        .unify()
        .or(root(&app))
        .unify()
        .or(healthz())
        .unify()
        .or(readyz(&app))
        .unify()
        .or(metrics_route(&app))
        .unify()
        .or(list(&app))
        .unify()
        .or(snapshot(&app))
        .unify()
        .or(stream(&app))
        .unify()
        .or(delete(&app))
        .unify()
        .or(ui(&app))
        .unify()
        .recover(http_error::recover)
        .unify();
    warp::header::headers_cloned()
        .and(api)
        .map(move |headers: HeaderMap, response| cors.decorate(&headers, response))
        .with(warp::log::custom(|info| {
            tracing::debug!(
                method = %info.method(),
                path = info.path(),
                status = info.status().as_u16(),
                elapsed_us = u64::try_from(info.elapsed().as_micros()).unwrap_or(u64::MAX),
                "request"
            );
        }))
}

fn with_app(app: &App) -> impl Filter<Extract = (App,), Error = Infallible> + Clone + use<> {
    let app = app.clone();
    warp::any().map(move || app.clone())
}

/// The request's [`ClientAddr`] ([`ClientAddr::UNKNOWN`] without a socket).
fn client_addr() -> impl Filter<Extract = (ClientAddr,), Error = Infallible> + Clone {
    warp::ext::optional::<ClientAddr>()
        .map(|client: Option<ClientAddr>| client.unwrap_or(ClientAddr::UNKNOWN))
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(Reply::into_response)
}

/// `OPTIONS` with an `Origin`: a CORS preflight on any path. Other requests fall through as
/// "not found" (not "method not allowed", which would hide a 404 behind a 405).
fn preflight(app: &App) -> BoxedFilter<(Response,)> {
    warp::method()
        .and(warp::header::headers_cloned())
        .and_then(|method: Method, headers: HeaderMap| async move {
            if method == Method::OPTIONS && headers.contains_key(header::ORIGIN) {
                Ok(headers)
            } else {
                Err(warp::reject::not_found())
            }
        })
        .and(with_app(app))
        .map(|headers: HeaderMap, app: App| respond(app.inner.cors.preflight(&headers)))
        .boxed()
}

fn root(app: &App) -> BoxedFilter<(Response,)> {
    warp::path::end()
        .and(warp::get())
        .and(with_app(app))
        .map(|app: App| {
            warp::reply::json(&json!({
                "name": "openova-flow-server",
                "version": env!("CARGO_PKG_VERSION"),
                "auth": {
                    "ingest": if app.ingest_is_open() { "open" } else { "bearer" },
                    "read": if app.reads_are_open() { "open" } else { "bearer or access_token" },
                },
                "endpoints": [
                    {"method": "GET", "path": "/", "description": "this descriptor"},
                    {"method": "GET", "path": "/healthz", "description": "liveness"},
                    {"method": "GET", "path": "/readyz", "description": "readiness: 503 while starting or draining"},
                    {"method": "GET", "path": "/metrics", "description": "Prometheus metrics"},
                    {"method": "GET", "path": "/v1/flows", "description": "flows held: id, epoch, seq, nodes by status, subscribers, last event time"},
                    {"method": "POST", "path": "/v1/flows/{flowId}/events", "description": "ingest one FlowMessage (application/json); 200 {seq, epoch}"},
                    {"method": "GET", "path": "/v1/flows/{flowId}/snapshot", "description": "the folded state as a snapshot FlowMessage; Flow-Seq and Flow-Epoch headers"},
                    {"method": "HEAD", "path": "/v1/flows/{flowId}/snapshot", "description": "the snapshot's status, Flow-Seq and Flow-Epoch without the body (cheap: the state is not built)"},
                    {"method": "GET", "path": "/v1/flows/{flowId}/stream", "description": "Server-Sent Events: snapshot or Last-Event-ID replay, then live frames and heartbeats"},
                    {"method": "DELETE", "path": "/v1/flows/{flowId}", "description": "purge a flow (idempotent); its streams end"},
                ],
                "flowId": "1 to 128 bytes of ASCII letters, digits, '.', '_', ':' and '-'",
            }))
            .into_response()
        })
        .boxed()
}

fn healthz() -> BoxedFilter<(Response,)> {
    warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&json!({"status": "ok"})).into_response())
        .boxed()
}

fn readyz(app: &App) -> BoxedFilter<(Response,)> {
    warp::path!("readyz")
        .and(warp::get())
        .and(with_app(app))
        .map(|app: App| {
            let phase = app.phase();
            // Ready only while serving and the backend (Redis) answers.
            let (status, text) = match phase {
                Phase::Ready if !app.backend_available() => {
                    (StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable")
                }
                Phase::Ready => (StatusCode::OK, phase.as_str()),
                _ => (StatusCode::SERVICE_UNAVAILABLE, phase.as_str()),
            };
            warp::reply::with_status(warp::reply::json(&json!({"status": text})), status)
                .into_response()
        })
        .boxed()
}

fn metrics_route(app: &App) -> BoxedFilter<(Response,)> {
    warp::path!("metrics")
        .and(warp::get())
        .and(with_app(app))
        .map(|app: App| {
            warp::reply::with_header(
                app.inner.metrics.encode(),
                header::CONTENT_TYPE,
                metrics::CONTENT_TYPE,
            )
            .into_response()
        })
        .boxed()
}

fn list(app: &App) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "flows")
        .and(warp::get())
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .and(warp::query::<Query>())
        .then(|app: App, headers: HeaderMap, query: Query| async move {
            respond(list_flows(&app, &headers, &query).await)
        })
        .boxed()
}

async fn list_flows(app: &App, headers: &HeaderMap, query: &Query) -> Result<Response, ApiError> {
    authorize_read(app, headers, query)?;
    let flows: Vec<_> = app
        .inner
        .backend
        .flows()
        .await?
        .into_iter()
        .map(|flow| {
            json!({
                "id": flow.id,
                "epoch": flow.at.epoch.to_string(),
                "seq": flow.at.seq,
                "nodes": flow.nodes_by_status.values().sum::<usize>(),
                "nodesByStatus": flow.nodes_by_status,
                "relationships": flow.relationships,
                "subscribers": flow.subscribers,
                "lastEventAt": flow.last_event_ms,
            })
        })
        .collect();
    Ok(warp::reply::json(&json!({ "flows": flows })).into_response())
}

fn ingest(app: &App) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "flows" / String / "events")
        .and(warp::post())
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .and(client_addr())
        .and(warp::body::stream())
        .then(
            |flow_id: String, app: App, headers: HeaderMap, client: ClientAddr, body| async move {
                let result = ingest_with(&app, &flow_id, &headers, client, |limit| {
                    read_body(body, limit)
                });
                answer_ingest(&app, result.await)
            },
        )
        .boxed()
}

/// `POST /v1/flows/{flow_id}/events` straight from hyper, without the filter tree: the hot
/// path ([`crate::dispatch`]). Same checks, same answers as the [`ingest`] route.
pub(crate) async fn ingest_request<B>(app: &App, flow_id: &str, request: Request<B>) -> Response
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let client = parts
        .extensions
        .get::<ClientAddr>()
        .copied()
        .unwrap_or(ClientAddr::UNKNOWN);
    let result = ingest_with(app, flow_id, &parts.headers, client, |limit| async move {
        match Limited::new(body, limit).collect().await {
            Ok(body) => Ok(body.to_bytes()),
            Err(err) if err.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge { limit }),
            Err(err) => Err(ApiError::BodyRead(err.to_string())),
        }
    });
    let response = answer_ingest(app, result.await);
    app.inner.cors.decorate(&parts.headers, response)
}

/// Both ingest entry points: [`admit`], then `read` the body within the limit, then [`accept`].
async fn ingest_with<F>(
    app: &App,
    flow_id: &str,
    headers: &HeaderMap,
    client: ClientAddr,
    read: impl FnOnce(usize) -> F,
) -> Result<Response, ApiError>
where
    F: Future<Output = Result<Bytes, ApiError>>,
{
    let limit = admit(app, flow_id, headers, client)?;
    let body = read(limit).await?;
    accept(app, flow_id, &body, client).await
}

/// Counts a refusal and turns the outcome into the response.
fn answer_ingest(app: &App, result: Result<Response, ApiError>) -> Response {
    if let Err(err) = &result {
        app.inner.metrics.rejected(err.code());
    }
    respond(result)
}

/// Everything decided before the body is read: auth, flow id, media type, declared size, rate
/// limit, new flows per client. The body limit to read with.
fn admit(
    app: &App,
    flow_id: &str,
    headers: &HeaderMap,
    client: ClientAddr,
) -> Result<usize, ApiError> {
    if !app
        .inner
        .ingest_tokens
        .allows(header_str(headers, header::AUTHORIZATION), None)
    {
        return Err(ApiError::Unauthorized {
            query_allowed: false,
        });
    }
    validate_flow_id(flow_id).map_err(ApiError::FlowId)?;
    check_json(headers)?;
    let limit = app.inner.max_body_bytes;
    let declared =
        header_str(headers, header::CONTENT_LENGTH).and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if let Some(limiter) = &app.inner.limiter {
        limiter.check(flow_id).map_err(|retry_after| {
            app.inner.metrics.rate_limited();
            ApiError::RateLimited { retry_after }
        })?;
    }
    if app.inner.backend.creates_flow(flow_id) {
        admit_new_flow(app, client)?;
    }
    Ok(limit)
}

/// The new-flows-per-client bound, for a request that creates a flow.
fn admit_new_flow(app: &App, client: ClientAddr) -> Result<(), ApiError> {
    let Some(limiter) = &app.inner.new_flows else {
        return Ok(());
    };
    limiter
        .check(client.0)
        .map_err(|retry_after| ApiError::TooManyNewFlows {
            per_minute: limiter.per_minute().get(),
            retry_after,
        })
}

/// Appends the read body to the flow: `200 {"epoch","id","seq"}`.
async fn accept(
    app: &App,
    flow_id: &str,
    body: &[u8],
    client: ClientAddr,
) -> Result<Response, ApiError> {
    let id = app
        .inner
        .backend
        .accept(flow_id, body, || admit_new_flow(app, client))
        .await?;
    app.inner.metrics.accepted();
    // Written by hand (the hot path): the same bytes `json!` would give, keys sorted.
    let mut response =
        Response::new(format!(r#"{{"epoch":"{}","id":"{id}","seq":{}}}"#, id.epoch, id.seq).into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Reads at most `limit` bytes; more is [`ApiError::PayloadTooLarge`] (also for bodies sent
/// without a `content-length`).
async fn read_body<B: Buf>(
    mut body: impl Stream<Item = Result<B, warp::Error>> + Unpin,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|err| ApiError::BodyRead(err.to_string()))?;
        if out.len() + chunk.remaining() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let len = part.len();
            chunk.advance(len);
        }
    }
    Ok(out.freeze())
}

/// `application/json`, optionally with `charset=utf-8` (any case, quoted or not).
fn check_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let found = headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let ok = found.as_deref().is_some_and(|text| {
        let mut parts = text.split(';');
        let essence = parts.next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/json")
            && parts.all(|param| match param.split_once('=') {
                Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                    value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
                }
                _ => true,
            })
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType { found })
    }
}

fn snapshot(app: &App) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "flows" / String / "snapshot")
        .and(warp::get().or(warp::head()).unify())
        .and(warp::method())
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .and(warp::query::<Query>())
        .then(
            |flow_id: String, method: Method, app: App, headers: HeaderMap, query: Query| async move {
                let result = if method == Method::HEAD {
                    head_of(&app, &flow_id, &headers, &query).await
                } else {
                    snapshot_of(&app, &flow_id, &headers, &query).await
                };
                respond(result)
            },
        )
        .boxed()
}

async fn snapshot_of(
    app: &App,
    flow_id: &str,
    headers: &HeaderMap,
    query: &Query,
) -> Result<Response, ApiError> {
    authorize_read(app, headers, query)?;
    validate_flow_id(flow_id).map_err(ApiError::FlowId)?;
    let snapshot = app.inner.backend.snapshot(flow_id).await?;
    let snapshot = snapshot.ok_or_else(|| ApiError::FlowNotFound {
        flow_id: flow_id.to_owned(),
    })?;
    let mut response = Response::new(snapshot.message.to_json().into());
    position_headers(
        &mut response,
        EventId {
            epoch: snapshot.epoch,
            seq: snapshot.seq,
        },
    );
    Ok(response)
}

/// `HEAD .../snapshot`: the status and position headers of `GET`, without building the state
/// (memory: the engine's head; Redis: the flow's meta hash, never the stream).
async fn head_of(
    app: &App,
    flow_id: &str,
    headers: &HeaderMap,
    query: &Query,
) -> Result<Response, ApiError> {
    authorize_read(app, headers, query)?;
    validate_flow_id(flow_id).map_err(ApiError::FlowId)?;
    let head = app.inner.backend.head(flow_id).await?;
    let head = head.ok_or_else(|| ApiError::FlowNotFound {
        flow_id: flow_id.to_owned(),
    })?;
    let mut response = Response::new(Bytes::new().into());
    position_headers(&mut response, head);
    Ok(response)
}

/// `Content-Type`, `Flow-Seq` and `Flow-Epoch` of a snapshot answer.
fn position_headers(response: &mut Response, at: EventId) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("flow-seq", HeaderValue::from(at.seq));
    headers.insert(
        "flow-epoch",
        HeaderValue::from_str(&at.epoch.to_string()).expect("hex digits are a valid header value"),
    );
}

fn stream(app: &App) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "flows" / String / "stream")
        .and(warp::get())
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .and(warp::query::<Query>())
        .and(client_addr())
        .then(
            |flow_id: String, app: App, headers: HeaderMap, query: Query, client| async move {
                respond(subscribe(&app, &flow_id, &headers, &query, client).await)
            },
        )
        .boxed()
}

async fn subscribe(
    app: &App,
    flow_id: &str,
    headers: &HeaderMap,
    query: &Query,
    client: ClientAddr,
) -> Result<Response, ApiError> {
    authorize_read(app, headers, query)?;
    validate_flow_id(flow_id).map_err(ApiError::FlowId)?;
    if app.phase() == Phase::Draining {
        return Err(ApiError::ShuttingDown);
    }
    // A stream on a flow this process holds no state of may wait: bounded per client too.
    let waiter = if app
        .router()
        .with_flow(flow_id, |router| router.contains(flow_id))
    {
        None
    } else {
        let per_client = &app.inner.waiters_per_ip;
        Some(
            per_client
                .acquire(client.0)
                .ok_or(ApiError::ClientWaiters {
                    limit: per_client.limit(),
                })?,
        )
    };
    // The header wins: a browser reconnecting sends its newest id there, while the URL keeps
    // the query parameter it was opened with.
    let last_event_id = header_str(headers, "last-event-id")
        .or_else(|| query.get("lastEventId").map(String::as_str));
    let frames = app.inner.backend.subscribe(flow_id, last_event_id).await?;
    tracing::debug!(flow_id, start = ?frames.start(), "stream opened");
    Ok(sse::response(
        frames,
        app.inner.heartbeat,
        app.inner.sse_flush,
        waiter,
    ))
}

fn delete(app: &App) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "flows" / String)
        .and(warp::delete())
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .then(|flow_id: String, app: App, headers: HeaderMap| async move {
            respond(delete_flow(&app, &flow_id, &headers).await)
        })
        .boxed()
}

async fn delete_flow(app: &App, flow_id: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    if !app
        .inner
        .ingest_tokens
        .allows(header_str(headers, header::AUTHORIZATION), None)
    {
        return Err(ApiError::Unauthorized {
            query_allowed: false,
        });
    }
    validate_flow_id(flow_id).map_err(ApiError::FlowId)?;
    let existed = app.inner.backend.delete(flow_id).await?;
    tracing::debug!(flow_id, existed, "flow deleted");
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response())
}

fn authorize_read(app: &App, headers: &HeaderMap, query: &Query) -> Result<(), ApiError> {
    let query_token = query.get("access_token").map(String::as_str);
    if app
        .inner
        .read_tokens
        .allows(header_str(headers, header::AUTHORIZATION), query_token)
    {
        Ok(())
    } else {
        Err(ApiError::Unauthorized {
            query_allowed: true,
        })
    }
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `GET /ui/...`: the embedded live page, unless `FLOW_SERVER_UI=false` (then 404).
fn ui(app: &App) -> BoxedFilter<(Response,)> {
    let enabled = app.inner.ui;
    warp::any()
        .and_then(move || async move {
            if enabled {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .and(crate::ui::routes())
        .boxed()
}
