//! SSE frame encoding: each message is encoded once into shared [`Bytes`].
//!
//! A frame is `event: <type>\nid: <epoch>-<seq>\ndata: <compact json>\n\n`. The event name is
//! one of the contract's tags, the id is hex digits, a dash and decimal digits, and compact JSON
//! escapes every control character inside strings, so no CR, LF or NUL can reach a field.

use std::io::Write as _;

use bytes::Bytes;
use flow_contract::FlowMessage;

use crate::event_id::EventId;

/// The heartbeat frame the shell sends when its timer says one is due.
pub const HEARTBEAT: &[u8] = b"event: heartbeat\ndata: {}\n\n";

/// The heartbeat frame as [`Bytes`] (no allocation).
#[must_use]
pub fn heartbeat() -> Bytes {
    Bytes::from_static(HEARTBEAT)
}

/// The longest event name a frame carries (`upsert-nodes`, `delete-nodes`).
const LONGEST_EVENT: usize = 12;

/// The most bytes a frame adds around its message's compact JSON: the longest event name and
/// the longest id. A shared log that bounds its entries as frames counts each entry's JSON
/// plus this.
pub const MAX_FRAME_OVERHEAD: usize =
    "event: ".len() + LONGEST_EVENT + "\nid: ".len() + EventId::MAX_LEN + "\ndata: ".len() + 2;

/// The `retry:` block sent first on every subscription.
pub(crate) fn retry(millis: u128) -> Vec<u8> {
    format!("retry: {millis}\n\n").into_bytes()
}

/// Encodes one message as its frame.
pub(crate) fn encode(message: &FlowMessage, id: EventId) -> Bytes {
    let event = message.message_type().as_str();
    encode_with(event, id, 256, |out| message.write_json(out))
}

/// Encodes a frame of `event` whose data, the message's compact JSON, was written already.
pub(crate) fn encode_data(event: &str, id: EventId, json: &[u8]) -> Bytes {
    encode_with(event, id, json.len(), |out| out.extend_from_slice(json))
}

/// Encodes a frame whose data, about `data_len` bytes, is written by `data`. The buffer is
/// sized for the frame up front: growing it on the way copies it. A frame whose data outgrew
/// the estimate is shrunk to its length, so that a ring frame or a cached snapshot holds about
/// the bytes the ledger charges for it, not up to twice as many.
pub(crate) fn encode_with(
    event: &str,
    id: EventId,
    data_len: usize,
    data: impl FnOnce(&mut Vec<u8>),
) -> Bytes {
    let mut out = Vec::with_capacity(MAX_FRAME_OVERHEAD + data_len);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\nid: ");
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{id}");
    out.extend_from_slice(b"\ndata: ");
    let data_at = out.len();
    data(&mut out);
    debug_assert!(
        !out[data_at..]
            .iter()
            .any(|b| matches!(b, b'\r' | b'\n' | 0)),
        "compact JSON holds no CR, LF or NUL"
    );
    out.extend_from_slice(b"\n\n");
    if out.capacity() - out.len() > MAX_FRAME_OVERHEAD {
        out.shrink_to_fit();
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use flow_contract::decode;

    use super::*;
    use crate::event_id::Epoch;

    #[test]
    fn no_frame_adds_more_than_the_max_overhead_and_the_longest_event_reaches_it() {
        use flow_contract::MessageType;
        assert!(
            MessageType::ALL
                .iter()
                .all(|kind| kind.as_str().len() <= LONGEST_EVENT)
        );
        let message = decode(br#"{"type":"delete-nodes","ids":["a"]}"#, "f").unwrap();
        let longest = EventId {
            epoch: Epoch(u64::MAX),
            seq: u64::MAX,
        };
        assert_eq!(
            encode(&message, longest).len(),
            message.to_json().len() + MAX_FRAME_OVERHEAD
        );
    }

    /// The allocation behind a frame `Bytes` that nothing else shares.
    fn capacity(frame: Bytes) -> usize {
        frame
            .try_into_mut()
            .expect("a fresh frame is not shared")
            .capacity()
    }

    #[test]
    fn a_frame_holds_about_its_own_bytes() {
        let id = EventId {
            epoch: Epoch(1),
            seq: 7,
        };
        let pad = "x".repeat(3000);
        let body = format!(
            r#"{{"type":"upsert-nodes","nodes":[{{"id":"n","flowId":"f","label":"n","status":"running","meta":{{"pad":"{pad}"}}}}]}}"#
        );
        let message = decode(body.as_bytes(), "f").unwrap();
        let json = message.to_json();
        // Known JSON: allocated once at the frame's size. Unknown (256 guessed): grown, then
        // shrunk back.
        for frame in [
            encode_data(message.message_type().as_str(), id, &json),
            encode(&message, id),
        ] {
            let len = frame.len();
            assert!(len > json.len());
            assert!(capacity(frame) <= len + MAX_FRAME_OVERHEAD);
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        let message = decode(br#"{"type":"delete-nodes","ids":["a\nb\r\u0000c"]}"#, "f").unwrap();
        let frame = encode(
            &message,
            EventId {
                epoch: Epoch(10),
                seq: 3,
            },
        );
        assert_eq!(
            &frame[..],
            &b"event: delete-nodes\nid: a-3\ndata: {\"type\":\"delete-nodes\",\"ids\":[\"a\\nb\\r\\u0000c\"]}\n\n"[..]
        );
    }
}
