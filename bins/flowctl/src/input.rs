//! What `flowctl post` reads: one message, a JSON array of messages, or a sequence of messages
//! (JSON lines, or any whitespace between them). Every message is validated with
//! `flow_contract::decode` before anything is sent.

use std::fmt;

use flow_contract::{ContractError, FlowMessage, decode};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// One rejected message: its 1-based number and line in the input, and the contract error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// 1-based position of the message in the input.
    pub(crate) number: usize,
    /// 1-based line where the message starts.
    pub(crate) line: usize,
    /// Why it was rejected (variant, field path, what was wrong).
    pub(crate) error: ContractError,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message #{} (line {}): {}",
            self.number, self.line, self.error
        )
    }
}

/// Why the input as a whole could not be read as messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InputError {
    /// Not JSON (or not a sequence of JSON values).
    #[error("not valid JSON at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// No message at all.
    #[error("the input holds no message")]
    Empty,
    /// Some messages break the contract (all of them are listed).
    #[error("{} invalid message(s); first: {}", .0.len(), .0[0])]
    Invalid(Vec<Rejected>),
}

/// Splits `bytes` into messages and validates every one of them for `flow_id`.
///
/// # Errors
/// [`InputError::Syntax`] when the input is not JSON, [`InputError::Empty`] when it holds no
/// value, and [`InputError::Invalid`] listing every message that breaks the contract.
pub(crate) fn read_messages(bytes: &[u8], flow_id: &str) -> Result<Vec<FlowMessage>, InputError> {
    let spans = split(bytes)?;
    if spans.is_empty() {
        return Err(InputError::Empty);
    }
    let mut messages = Vec::with_capacity(spans.len());
    let mut rejected = Vec::new();
    for (index, (start, end)) in spans.into_iter().enumerate() {
        match decode(&bytes[start..end], flow_id) {
            Ok(message) => messages.push(message),
            Err(error) => rejected.push(Rejected {
                number: index + 1,
                line: line_at(bytes, start),
                error,
            }),
        }
    }
    if rejected.is_empty() {
        Ok(messages)
    } else {
        Err(InputError::Invalid(rejected))
    }
}

/// Byte ranges of the messages: the elements of a top-level array, or each top-level value.
fn split(bytes: &[u8]) -> Result<Vec<(usize, usize)>, InputError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(syntax)?;
        let base = bytes.as_ptr() as usize;
        return Ok(items
            .iter()
            .map(|raw| {
                // The raw values borrow from `bytes`, so the difference is their offset.
                let start = raw.get().as_ptr() as usize - base;
                (start, start + raw.get().len())
            })
            .collect());
    }
    let mut spans = Vec::new();
    let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<IgnoredAny>();
    let mut start = 0;
    while let Some(value) = values.next() {
        value.map_err(syntax)?;
        let end = values.byte_offset();
        let leading = bytes[start..end]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        spans.push((start + leading, end));
        start = end;
    }
    Ok(spans)
}

fn syntax(err: serde_json::Error) -> InputError {
    let text = err.to_string();
    let message = text
        .rfind(" at line ")
        .map_or(text.as_str(), |at| &text[..at])
        .to_owned();
    InputError::Syntax {
        line: err.line(),
        column: err.column(),
        message,
    }
}

fn line_at(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"type":"delete-nodes","ids":["a"]}"#;
    const B: &str =
        r#"{"type":"delete-rels","pairs":[{"fromId":"a","toId":"b","type":"contains"}]}"#;
    const BAD: &str =
        r#"{"type":"upsert-nodes","nodes":[{"id":"n","flowId":"other","label":"n","status":"s"}]}"#;

    fn types(input: &str) -> Vec<&'static str> {
        read_messages(input.as_bytes(), "f")
            .unwrap()
            .iter()
            .map(|m| m.message_type().as_str())
            .collect()
    }

    #[test]
    fn one_message_an_array_or_json_lines() {
        assert_eq!(types(A), ["delete-nodes"]);
        assert_eq!(
            types(&format!(" [ {A},\n{B} ] ")),
            ["delete-nodes", "delete-rels"]
        );
        assert_eq!(
            types(&format!("{A}\n{B}\n")),
            ["delete-nodes", "delete-rels"]
        );
    }

    #[test]
    fn every_invalid_message_is_reported_with_number_line_and_path() {
        let input = format!("{A}\n\n{BAD}\n{B}\n{BAD}");
        let Err(InputError::Invalid(rejected)) = read_messages(input.as_bytes(), "f") else {
            panic!("expected invalid messages");
        };
        let shown: Vec<String> = rejected.iter().map(ToString::to_string).collect();
        let why = r#"upsert-nodes: $.nodes[0].flowId: must equal the flow the message is posted to ("f"), found "other""#;
        assert_eq!(
            shown,
            [
                format!("message #2 (line 3): {why}"),
                format!("message #4 (line 5): {why}")
            ]
        );
        assert_eq!(rejected[0].error.path(), "$.nodes[0].flowId");
    }

    #[test]
    fn arrays_report_element_lines() {
        let input = format!("[\n{A},\n  {BAD}\n]");
        let Err(InputError::Invalid(rejected)) = read_messages(input.as_bytes(), "f") else {
            panic!("expected invalid messages");
        };
        assert_eq!((rejected[0].number, rejected[0].line), (2, 3));
    }

    #[test]
    fn syntax_errors_and_empty_input() {
        assert!(matches!(
            read_messages(b"{\"type\":\n", "f"),
            Err(InputError::Syntax { line: 2, .. })
        ));
        assert!(matches!(
            read_messages(b"  \n", "f"),
            Err(InputError::Empty)
        ));
        assert!(matches!(read_messages(b"[]", "f"), Err(InputError::Empty)));
    }
}
