//! The rule for flow ids, shared by every shell that takes one from a URL path.

/// Longest flow id accepted, in bytes.
pub const MAX_FLOW_ID_BYTES: usize = 128;

/// Why a flow id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowIdError {
    /// The id is empty.
    #[error("flow id must not be empty")]
    Empty,
    /// The id is longer than [`MAX_FLOW_ID_BYTES`].
    #[error("flow id is {len} bytes long; the limit is {MAX_FLOW_ID_BYTES}")]
    TooLong {
        /// Length found, in bytes.
        len: usize,
    },
    /// The id is `.` or `..`, which URL normalisation would remove from a path.
    #[error("flow id must not be `.` or `..`")]
    DotSegment,
    /// The id holds a character outside `A-Z a-z 0-9 . _ : -`.
    #[error(
        "flow id contains {found:?} at byte {at}; allowed are ASCII letters, digits and `.`, `_`, `:`, `-`"
    )]
    BadChar {
        /// The offending character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
}

/// Checks a flow id: 1 to [`MAX_FLOW_ID_BYTES`] bytes of ASCII letters, digits, `.`, `_`, `:`
/// and `-` (a DNS name, a UUID or a `deployment:region` pair all fit; nothing that needs
/// escaping in a URL path, a header or a Redis key does), except the path segments `.` and `..`.
///
/// ```
/// use flow_contract::{validate_flow_id, FlowIdError};
/// assert!(validate_flow_id("acme.openova.io").is_ok());
/// assert_eq!(validate_flow_id(""), Err(FlowIdError::Empty));
/// assert_eq!(validate_flow_id(".."), Err(FlowIdError::DotSegment));
/// assert!(matches!(validate_flow_id("a/b"), Err(FlowIdError::BadChar { found: '/', at: 1 })));
/// ```
///
/// # Errors
/// The first rule the id breaks.
pub fn validate_flow_id(id: &str) -> Result<(), FlowIdError> {
    if id.is_empty() {
        return Err(FlowIdError::Empty);
    }
    if id == "." || id == ".." {
        return Err(FlowIdError::DotSegment);
    }
    if id.len() > MAX_FLOW_ID_BYTES {
        return Err(FlowIdError::TooLong { len: id.len() });
    }
    match id
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        Some((at, found)) => Err(FlowIdError::BadChar { found, at }),
        None => Ok(()),
    }
}
