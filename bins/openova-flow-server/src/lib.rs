//! `openova-flow-server`: the HTTP + Server-Sent Events service around
//! [`flow_router`], built on warp.
//!
//! The binary's `main` is a table of contents: [`Config::try_from_env`], [`App::new`],
//! [`serve_with_stream_runtime`] (requests on one runtime, event streams on another; [`serve`]
//! keeps both on the caller's). This library exposes the same pieces so tests and embedders
//! reach every route through [`routes`] without binding a port ([`serve`] additionally sends
//! canonical ingest POSTs straight to the same handler, skipping the filter tree; the answers
//! are identical):
//!
//! ```
//! use openova_flow_server::{App, Config, routes};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = App::new(&Config::default(), 1).expect("the defaults are valid");
//! let routes = routes(app);
//! let response = warp::test::request()
//!     .method("POST")
//!     .path("/v1/flows/demo/events")
//!     .header("content-type", "application/json")
//!     .body(r#"{"type":"delete-nodes","ids":["a"]}"#)
//!     .reply(&routes)
//!     .await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.body(), r#"{"epoch":"1","id":"1-1","seq":1}"#);
//! # }
//! ```
//!
//! # What this crate does not do
//!
//! It holds no flow logic: decoding, validation, folding, event ids and frame encoding are
//! the engine's. Handlers translate requests into engine calls and typed outcomes into
//! responses; every error status is decided in one module. It keeps nothing on disk: with the
//! default in-memory backend a restart starts every flow anew (with a new epoch, so clients
//! resynchronise by snapshot); with `FLOW_SERVER_BACKEND=redis` flows live in Redis Streams,
//! shared by every replica and kept across restarts (see `docs/OPERATIONS.md`).

mod app;
mod auth;
mod backend;
pub mod client;
pub mod config;
mod cors;
mod dispatch;
mod http_error;
mod metrics;
mod rate_limit;
mod replica;
mod routes;
mod server;
mod shared_log;
mod sse;
mod ui;

pub use app::{App, BuildError, Phase};
pub use config::{Config, ConfigError};
pub use routes::routes;
pub use server::{Drained, serve, serve_with_stream_runtime};
