//! Bytes to a validated [`FlowMessage`].

use serde_json::Value;

use crate::MessageType;
use crate::error::{ContractError, ErrorKind};
use crate::message::FlowMessage;
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
        match serde_json::from_slice::<FlowMessage>(bytes) {
            Ok(message) => {
                message.validate(flow_id, self)?;
                Ok(message)
            }
            Err(err) => Err(diagnose(bytes, &err)),
        }
    }
}

/// Turns the derived decoder's positionless error into one with a variant and a path.
fn diagnose(bytes: &[u8], err: &serde_json::Error) -> ContractError {
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
        let variant = value
            .get("type")
            .and_then(Value::as_str)
            .and_then(MessageType::from_wire);
        ContractError::new(
            variant,
            Path::Root.to_string(),
            ErrorKind::Other {
                message: without_position(err),
            },
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
