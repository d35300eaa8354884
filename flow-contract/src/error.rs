//! The error of [`decode`](crate::decode) and [`FlowMessage::validate`](crate::FlowMessage::validate).

use std::fmt;

use crate::MessageType;

/// Why a message was rejected, with the variant and the field path it was rejected at.
///
/// The `Display` form is meant for people: `upsert-nodes: $.nodes[2].flowId: must equal the
/// flow the message is posted to ("demo"), found "other"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractError {
    variant: Option<MessageType>,
    path: String,
    kind: ErrorKind,
}

/// What exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not JSON.
    #[error("not valid JSON at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// The message has no `type` field, or it is not a string.
    #[error(
        "missing string field `type`; expected one of {}",
        OneOf(MESSAGE_TYPES)
    )]
    MissingType,
    /// `type` names no variant of the contract.
    #[error(
        "unknown message type {found:?}; expected one of {}",
        OneOf(MESSAGE_TYPES)
    )]
    UnknownType {
        /// The tag found.
        found: String,
    },
    /// A field the contract does not define.
    #[error("unknown field {field:?}; expected one of {}", OneOf(expected))]
    UnknownField {
        /// The field name found.
        field: String,
        /// The fields allowed at this place.
        expected: Vec<&'static str>,
    },
    /// A required field is absent.
    #[error("missing required field `{field}`")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// A value of the wrong JSON type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the contract wants here.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A string outside a closed vocabulary.
    #[error("unknown value {found:?}; expected one of {}", OneOf(expected))]
    UnknownValue {
        /// The value found.
        found: String,
        /// The values allowed.
        expected: &'static [&'static str],
    },
    /// A list that must not be empty, or an id that must not be empty, is empty.
    #[error("must not be empty")]
    Empty,
    /// A string longer than the limit, in bytes.
    #[error("is {len} bytes long; the limit is {limit} bytes")]
    TooLong {
        /// Length found, in bytes.
        len: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// A list with more items than the limit, or a `meta` object larger than the limit.
    #[error("has size {len}; the limit is {limit}")]
    TooLarge {
        /// Items (or bytes, for `meta`) found.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A flow id that differs from the flow the message is posted to.
    #[error("must equal the flow the message is posted to ({expected:?}), found {found:?}")]
    FlowMismatch {
        /// The flow the message is posted to.
        expected: String,
        /// The flow id found.
        found: String,
    },
    /// A negative `lag`.
    #[error("must not be negative, found {value}")]
    Negative {
        /// The value found.
        value: i64,
    },
    /// Any other rejection by the JSON decoder (for example a duplicate field).
    #[error("{message}")]
    Other {
        /// The decoder's description.
        message: String,
    },
}

impl ContractError {
    pub(crate) fn new(variant: Option<MessageType>, path: String, kind: ErrorKind) -> Self {
        Self {
            variant,
            path,
            kind,
        }
    }

    /// The variant being decoded, when the `type` tag was readable.
    #[must_use]
    pub fn variant(&self) -> Option<MessageType> {
        self.variant
    }

    /// The JSON path of the offending value, such as `$.nodes[2].flowId` (`$` is the message).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What was wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// A short, stable, machine-readable reason (`unknown_field`, `flow_mismatch`, ...), for
    /// metrics labels and JSON error bodies.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self.kind {
            ErrorKind::Syntax { .. } => "syntax",
            ErrorKind::MissingType => "missing_type",
            ErrorKind::UnknownType { .. } => "unknown_type",
            ErrorKind::UnknownField { .. } => "unknown_field",
            ErrorKind::MissingField { .. } => "missing_field",
            ErrorKind::WrongType { .. } => "wrong_type",
            ErrorKind::UnknownValue { .. } => "unknown_value",
            ErrorKind::Empty => "empty",
            ErrorKind::TooLong { .. } => "too_long",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::FlowMismatch { .. } => "flow_mismatch",
            ErrorKind::Negative { .. } => "negative",
            ErrorKind::Other { .. } => "invalid",
        }
    }
}

const MESSAGE_TYPES: &[&str] = &[
    "snapshot",
    "upsert-flow",
    "upsert-nodes",
    "upsert-rels",
    "delete-nodes",
    "delete-rels",
];

/// Renders a list of names as `` `a`, `b` ``.
struct OneOf<'a>(&'a [&'static str]);

impl fmt::Display for OneOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        Ok(())
    }
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.variant {
            Some(variant) => write!(f, "{variant}: {}: {}", self.path, self.kind),
            None => write!(f, "{}: {}", self.path, self.kind),
        }
    }
}

impl std::error::Error for ContractError {}
