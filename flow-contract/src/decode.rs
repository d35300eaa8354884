//! Bytes to a validated [`FlowMessage`].

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::MessageType;
use crate::error::{ContractError, ErrorKind};
use crate::message::{FlowInstance, FlowMessage, FlowNode, RelPair, Relationship};
use crate::path::Path;
use crate::shape;
use crate::validate::Limits;

/// Decodes `bytes` into a [`FlowMessage`] posted to `flow_id`, and validates it with the
/// default [`Limits`].
///
/// # Errors
/// A [`ContractError`] naming the variant, the field path and what was wrong: bytes that are
/// not JSON, an unknown `type`, an unknown field at any depth, a wrong type, a missing field,
/// or a broken [validation rule](FlowMessage::validate).
///
/// ```
/// let err = flow_contract::decode(br#"{"type":"delete-nodes","ids":[""]}"#, "demo").unwrap_err();
/// assert_eq!(err.to_string(), "delete-nodes: $.ids[0]: must not be empty");
/// ```
pub fn decode(bytes: &[u8], flow_id: &str) -> Result<FlowMessage, ContractError> {
    Limits::DEFAULT.decode(bytes, flow_id)
}

impl Limits {
    /// [`decode`] with these limits.
    ///
    /// # Errors
    /// As [`decode`].
    pub fn decode(&self, bytes: &[u8], flow_id: &str) -> Result<FlowMessage, ContractError> {
        let message = match serde_json::from_slice::<Envelope>(bytes) {
            Ok(envelope) => envelope.into_message(),
            Err(_) => None,
        };
        match message {
            Some(message) => {
                message.validate(flow_id, self)?;
                Ok(message)
            }
            None => Err(diagnose(bytes)),
        }
    }
}

/// Every field of every variant, read in one pass without the buffering serde needs for an
/// internally tagged enum (about twice as fast on a 1 KiB message).
///
/// It accepts exactly what the derived `FlowMessage` decoder accepts: the nested types are the
/// same, unknown and duplicate fields are refused, a present field must hold a value (never
/// `null`), and [`Envelope::into_message`] refuses fields that do not belong to the variant.
/// Anything it refuses goes to [`diagnose`], which names the variant and path. The golden
/// vectors, property tests and the `contract_decode` fuzz target check the agreement.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(rename = "type")]
    tag: Tag,
    #[serde(default, deserialize_with = "present")]
    flow: Option<FlowInstance>,
    #[serde(default, deserialize_with = "present")]
    nodes: Option<Vec<FlowNode>>,
    #[serde(default, deserialize_with = "present")]
    relationships: Option<Vec<Relationship>>,
    #[serde(default, deserialize_with = "present")]
    ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pairs: Option<Vec<RelPair>>,
}

/// The `type` tag, as [`crate::MessageType`] but decodable.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Tag {
    Snapshot,
    UpsertFlow,
    UpsertNodes,
    UpsertRels,
    DeleteNodes,
    DeleteRels,
}

/// A field that, when present, must hold a `T` (so `null` is refused, as the enum refuses it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl Envelope {
    /// The message, when exactly the variant's fields are present.
    fn into_message(self) -> Option<FlowMessage> {
        let Self {
            tag,
            flow,
            nodes,
            relationships,
            ids,
            pairs,
        } = self;
        Some(match (tag, flow, nodes, relationships, ids, pairs) {
            (Tag::Snapshot, Some(flow), Some(nodes), Some(relationships), None, None) => {
                FlowMessage::Snapshot {
                    flow,
                    nodes,
                    relationships,
                }
            }
            (Tag::UpsertFlow, Some(flow), None, None, None, None) => {
                FlowMessage::UpsertFlow { flow }
            }
            (Tag::UpsertNodes, None, Some(nodes), None, None, None) => {
                FlowMessage::UpsertNodes { nodes }
            }
            (Tag::UpsertRels, None, None, Some(relationships), None, None) => {
                FlowMessage::UpsertRels { relationships }
            }
            (Tag::DeleteNodes, None, None, None, Some(ids), None) => {
                FlowMessage::DeleteNodes { ids }
            }
            (Tag::DeleteRels, None, None, None, None, Some(pairs)) => {
                FlowMessage::DeleteRels { pairs }
            }
            _ => return None,
        })
    }
}

/// Finds why `bytes` are not a message, with a variant and a path: serde's own errors inside
/// an internally tagged enum carry neither.
fn diagnose(bytes: &[u8]) -> ContractError {
    let value = match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => value,
        Err(syntax) => {
            return ContractError::new(
                None,
                Path::Root.to_string(),
                ErrorKind::Syntax {
                    line: syntax.line(),
                    column: syntax.column(),
                    message: without_position(&syntax),
                },
            );
        }
    };
    shape::locate(&value).unwrap_or_else(|| {
        // The shape is right, so serde refused something structure cannot see, such as a
        // duplicate field; its own message says what.
        let message = match serde_json::from_slice::<FlowMessage>(bytes) {
            Err(err) => without_position(&err),
            Ok(_) => "not a message of the contract".to_owned(),
        };
        let variant = value
            .get("type")
            .and_then(Value::as_str)
            .and_then(MessageType::from_wire);
        ContractError::new(
            variant,
            Path::Root.to_string(),
            ErrorKind::Other { message },
        )
    })
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
