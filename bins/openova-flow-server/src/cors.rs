//! CORS: an allow-list of browser origins. Requests are never refused for their origin (only
//! preflights are); allowed origins get the headers a browser needs to read the response.

use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use crate::http_error::ApiError;

/// Headers a browser may send cross-origin.
const ALLOW_HEADERS: &str = "authorization, content-type, last-event-id";
/// Methods a browser may use cross-origin.
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Response headers a script may read.
const EXPOSE_HEADERS: &str = "flow-seq, flow-epoch, retry-after, www-authenticate";

/// The configured allow-list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cors {
    any: bool,
    origins: Vec<String>,
}

impl Cors {
    /// `*` in the list allows any origin; an empty list allows none (same origin only).
    pub(crate) fn new(origins: &[String]) -> Self {
        Self {
            any: origins.iter().any(|origin| origin == "*"),
            origins: origins
                .iter()
                .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    fn enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    /// The request's `Origin` when it is allowed.
    fn allowed<'h>(&self, headers: &'h HeaderMap) -> Option<&'h HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?.to_ascii_lowercase();
        (self.any || self.origins.contains(&text)).then_some(origin)
    }

    /// Adds the CORS response headers for an allowed origin.
    pub(crate) fn decorate(&self, request: &HeaderMap, mut response: Response) -> Response {
        if !self.enabled() {
            return response;
        }
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed(request) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
        response
    }

    /// Answers a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`).
    pub(crate) fn preflight(&self, request: &HeaderMap) -> Result<Response, ApiError> {
        let requested = request
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<Method>().ok());
        let method_ok = requested.is_some_and(|method| {
            [Method::GET, Method::POST, Method::DELETE, Method::OPTIONS].contains(&method)
        });
        if self.allowed(request).is_none() || !method_ok {
            return Err(ApiError::OriginNotAllowed);
        }
        let mut response = Response::default();
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(600));
        Ok(response)
    }
}
