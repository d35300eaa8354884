//! `flow-client`: the client of `openova-flow-server`'s HTTP and Server-Sent Events API.
//!
//! A [`Client`] posts [`FlowMessage`]s (one, or a batch in order) and reads a flow's head,
//! snapshot and the list of flows, with typed answers ([`Posted`], [`Head`], [`Snapshot`],
//! [`FlowSummary`]) and typed refusals ([`Error`]: a 400 carries the server's code and field
//! path; 401, 404, 413, 429 and 503 each have a variant, with `Retry-After` where the server
//! sends one). [`Client::follow`] is a [`Stream`](futures_core::Stream) of a flow's
//! [`FlowEvent`]s that reconnects by itself, resumes exactly with `Last-Event-ID`, and says so
//! when the server had to resynchronise it with a snapshot ([`FlowEvent::Resync`]).
//!
//! Post, then follow (this needs a server, so it is compiled, not run, here):
//!
//! ```no_run
//! use flow_client::{Client, FlowEvent};
//! use flow_contract::FlowMessage;
//! use futures::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("http://127.0.0.1:8080").token("secret").build()?;
//! let message: FlowMessage = serde_json::from_str(
//!     r#"{"type":"upsert-nodes","nodes":[{"id":"eu/cilium","flowId":"demo","label":"cilium","status":"running"}]}"#,
//! )?;
//! let posted = client.post("demo", &message).await?;
//! println!("accepted as {}", posted.id());
//!
//! // Everything from the message just posted on, across reconnections.
//! let mut follow = client.follow("demo", Some(posted.id()));
//! while let Some(event) = follow.next().await {
//!     match event? {
//!         FlowEvent::Message { id, message } => println!("{id}: {}", message.message_type()),
//!         FlowEvent::Resync { reason, .. } => println!("state replaced by a snapshot: {reason:?}"),
//!         FlowEvent::Disconnected { reason, retry_in } => println!("{reason}; again in {retry_in:?}"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The follow's decisions are in [`Resume`], a state machine without I/O, and its SSE parsing
//! in [`sse::SseParser`]; both run anywhere, as here on bytes in memory:
//!
//! ```
//! use flow_client::{Disconnect, FlowEvent, FollowOptions, Next, ResyncReason, Resume};
//! use flow_router::{Epoch, EventId};
//!
//! let from = EventId { epoch: Epoch(0xa), seq: 7 };
//! let mut resume = Resume::new("demo", Some(from), &FollowOptions::default());
//! resume.handle_connected();
//! // The server restarted: its epoch is new, so it answers the resume with a snapshot.
//! let frame = b"event: snapshot\nid: b-0\ndata: {\"type\":\"snapshot\",\"flow\":\
//!     {\"id\":\"demo\",\"status\":\"pending\",\"startedAt\":0},\"nodes\":[],\"relationships\":[]}\n\n";
//! assert_eq!(resume.handle_bytes(frame)?, Next::Read);
//! assert!(matches!(resume.poll_event(), Some(FlowEvent::Connected { resuming_after: Some(_) })));
//! let Some(FlowEvent::Resync { id, reason, .. }) = resume.poll_event() else { panic!() };
//! assert_eq!(id.to_string(), "b-0");
//! assert_eq!(reason, ResyncReason::NewEpoch { previous: Epoch(0xa) });
//! # Ok::<(), flow_client::Error>(())
//! ```
//!
//! # What this crate does not do
//!
//! It does not fold changes into a state (use [`flow_router::Fold`], the server's own fold),
//! validate messages before posting them (the server does; [`flow_contract::decode`] does it
//! locally), or persist the position of a follow across processes (keep the last
//! [`EventId`] and pass it as `from`).
//!
//! TLS is rustls; when no process-wide crypto provider is installed, building a client
//! installs `ring`'s.

#![warn(clippy::pedantic)]
// Names such as FlowMessage and EventId read better without backticks in prose.
#![allow(clippy::doc_markdown)]

mod answer;
mod client;
mod error;
mod follow;
mod resume;
pub mod sse;

pub use answer::{FlowSummary, Head, Posted, Snapshot};
pub use client::{Client, ClientBuilder, RetryPolicy};
pub use error::{BatchError, Error, ErrorChain, MAX_RETRY_AFTER, Refusal};
pub use flow_contract::FlowMessage;
pub use flow_router::{Epoch, EventId};
pub use follow::Follow;
pub use resume::{Disconnect, FlowEvent, FollowOptions, Next, Resume, ResyncReason};
