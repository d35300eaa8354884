//! The request entry point of every connection. A `POST /v1/flows/{flowId}/events` in its
//! canonical form goes straight to the ingest handler, without warp's filter tree (the hot
//! path: see docs/BENCHMARKS.md, `ingest`); every other request goes through [`routes`].
//! Both answer alike: the same handler code, CORS headers and request log. Every request
//! first gets its [`ClientAddr`](crate::client::ClientAddr) (the peer, or `X-Forwarded-For` from a trusted proxy).

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use hyper::body::Body;
use hyper::service::Service;
use warp::http::{Method, Request, StatusCode, header};
use warp::reply::Response;

use crate::app::App;
use crate::routes;

/// The per-connection service [`crate::serve`] runs: the ingest fast path in front of `W`,
/// the warp filter tree.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch<W> {
    app: App,
    routes: W,
    peer: Option<IpAddr>,
    streaming: Streaming,
}

/// Set once a connection answered a request with an event stream: from then on it mostly
/// writes frames, and [`crate::serve_with_stream_runtime`] moves it to the stream runtime.
#[derive(Debug, Clone, Default)]
pub(crate) struct Streaming(Arc<AtomicBool>);

impl Streaming {
    /// Whether the connection answered with an event stream.
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Notes `response` if it is an event stream.
    fn note(&self, response: &Response) {
        let stream = response.status() == StatusCode::OK
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|value| value == "text/event-stream");
        if stream {
            self.0.store(true, Ordering::Release);
        }
    }
}

impl<W: Clone> Dispatch<W> {
    /// Puts the fast path in front of `routes` (the [`crate::routes`] filter tree as a hyper
    /// service).
    pub(crate) fn new(app: App, routes: W) -> Self {
        Self {
            app,
            routes,
            peer: None,
            streaming: Streaming::default(),
        }
    }

    /// The service for one connection from `peer`; `streaming` is set when it answers with an
    /// event stream.
    pub(crate) fn for_connection(&self, peer: IpAddr, streaming: Streaming) -> Self {
        Self {
            app: self.app.clone(),
            routes: self.routes.clone(),
            peer: Some(peer),
            streaming,
        }
    }
}

impl<B, W> Service<Request<B>> for Dispatch<W>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    W: Service<Request<B>, Response = Response, Error = Infallible>,
    W::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<B>) -> Self::Future {
        if let Some(peer) = self.peer {
            let forwarded = request
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok());
            let client = self.app.inner.trusted_proxies.client(peer, forwarded);
            request.extensions_mut().insert(client);
        }
        let Some(flow_id) = ingest_flow_id(request.method(), request.uri().path()) else {
            let routed = self.routes.call(request);
            let streaming = self.streaming.clone();
            return Box::pin(async move {
                let response = routed.await?;
                streaming.note(&response);
                Ok(response)
            });
        };
        let flow_id = flow_id.to_owned();
        let app = self.app.clone();
        Box::pin(async move {
            let started = Instant::now();
            let response = routes::ingest_request(&app, &flow_id, request).await;
            tracing::debug!(
                method = "POST",
                path = %format_args!("/v1/flows/{flow_id}/events"),
                status = response.status().as_u16(),
                elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "request"
            );
            Ok(response)
        })
    }
}

/// The flow id of a canonical ingest request: `POST`, path `/v1/flows/{id}/events` with one
/// non-empty segment for the id and no percent-escapes (anything else takes the general route,
/// which answers with the same handler or a 404/405).
fn ingest_flow_id<'p>(method: &Method, path: &'p str) -> Option<&'p str> {
    if method != Method::POST {
        return None;
    }
    let id = path.strip_prefix("/v1/flows/")?.strip_suffix("/events")?;
    (!id.is_empty() && !id.contains(['/', '%'])).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_ingest_paths_take_the_fast_path() {
        let post = Method::POST;
        assert_eq!(ingest_flow_id(&post, "/v1/flows/f/events"), Some("f"));
        assert_eq!(
            ingest_flow_id(&post, "/v1/flows/eu-west:prod/events"),
            Some("eu-west:prod")
        );
        for path in [
            "/v1/flows//events",
            "/v1/flows/a/b/events",
            "/v1/flows/a%2Fb/events",
            "/v1/flows/f/events/",
            "/v1/flows/f",
            "/v2/flows/f/events",
        ] {
            assert_eq!(ingest_flow_id(&post, path), None, "{path}");
        }
        assert_eq!(ingest_flow_id(&Method::GET, "/v1/flows/f/events"), None);
        assert_eq!(ingest_flow_id(&Method::PUT, "/v1/flows/f/events"), None);
    }
}
