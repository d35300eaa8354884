//! The locked OpenovaFlow wire contract, schema version 1.
//!
//! A [`FlowMessage`] is one JSON object tagged by `type`: a `snapshot` of a whole flow, or an
//! upsert or delete of its instance, nodes or relationships. Producers (the Flux adapter, your
//! own tools) post them to `openova-flow-server`; consumers (the canvas, `flowctl`) read them
//! from its Server-Sent Events stream.
//!
//! ```
//! use flow_contract::{decode, FlowMessage, RelType};
//!
//! let body = br#"{"type":"upsert-rels","relationships":[
//!     {"fromId":"fsn1/bp-cilium","toId":"fsn1/bp-cert-manager","type":"finish-to-start","condition":"on-success"}
//! ]}"#;
//! let message = decode(body, "acme")?;
//! let FlowMessage::UpsertRels { relationships } = &message else { unreachable!() };
//! assert_eq!(relationships[0].rel_type, RelType::FinishToStart);
//!
//! // Errors name the variant and the field path.
//! let err = decode(br#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"acme","label":"a","status":"ok","colour":1}]}"#, "acme")
//!     .unwrap_err();
//! assert_eq!(err.path(), "$.nodes[0].colour");
//! assert_eq!(err.code(), "unknown_field");
//! # Ok::<(), flow_contract::ContractError>(())
//! ```
//!
//! # What this crate does not do
//!
//! It does no I/O, keeps no state and knows nothing about HTTP or SSE: it only defines the
//! types, decodes bytes into them strictly, and validates them. Folding messages into state is
//! `flow-router`'s job.
//!
//! # Strictness
//!
//! Unknown `type`s and unknown fields at any depth are rejected; absent optionals are omitted on
//! output, so a canonical message (fields in declaration order, `meta` keys sorted) re-encodes to
//! the same bytes. Size bounds are in [`Limits`]; the rule for flow ids in URLs is
//! [`validate_flow_id`].
//!
//! # Features
//!
//! - `schema`: derives `schemars::JsonSchema` for every wire type.

#![warn(clippy::pedantic)]
// `OpenovaFlow`, `FlowMessage` and `serde_json` in prose are names, not code.
#![allow(clippy::doc_markdown)]

mod decode;
mod error;
mod flow_id;
mod message;
mod path;
mod shape;
mod validate;

pub use decode::decode;
pub use error::{ContractError, ErrorKind};
pub use flow_id::{FlowIdError, MAX_FLOW_ID_BYTES, validate_flow_id};
pub use message::{
    Condition, FlowInstance, FlowMessage, FlowNode, MessageType, Meta, RelPair, RelType,
    Relationship, TriggerWhen, Triggerer,
};
pub use validate::Limits;

#[cfg(test)]
mod schema_drift;
