//! An incremental Server-Sent Events parser, as the WHATWG HTML standard defines the format.
//!
//! Bytes go in as they arrive (any chunking); complete events and `retry:` hints come out. No
//! I/O: the [`Follow`](crate::Follow) stream drives it with the chunks of a response body.
//!
//! Lines end in LF, CRLF or a lone CR (a CR at the end of one chunk followed by LF at the start
//! of the next is one line break). Comment lines (`:` first) are skipped, a single space after
//! the colon is removed, `data` lines are joined with LF, and an event with no data is not
//! dispatched. The last event id persists across events, as in a browser.
//!
//! ```
//! use flow_client::sse::{SseItem, SseParser};
//!
//! let mut parser = SseParser::default();
//! let mut items = Vec::new();
//! // A frame split anywhere, as a socket may deliver it.
//! parser.feed(b"retry: 3000\n\nevent: upsert-nodes\nid: 1f-", &mut items)?;
//! parser.feed(b"7\ndata: {}\n\n", &mut items)?;
//! assert_eq!(items[0], SseItem::Retry(3000));
//! let SseItem::Event(event) = &items[1] else { panic!("an event") };
//! assert_eq!((event.event.as_str(), event.id.as_deref()), ("upsert-nodes", Some("1f-7")));
//! # Ok::<(), flow_client::sse::LineTooLong>(())
//! ```

use std::fmt;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, `message` when none was given.
    pub event: String,
    /// The `data:` lines joined with LF.
    pub data: String,
    /// The last event id seen on the stream so far (persisting across events).
    pub id: Option<String>,
}

/// What the parser yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A complete event.
    Event(SseEvent),
    /// The server's reconnection delay in milliseconds (`retry:`).
    Retry(u64),
}

/// A line longer than [`SseParser::MAX_LINE`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an event stream line is longer than {} bytes",
            SseParser::MAX_LINE
        )
    }
}

impl std::error::Error for LineTooLong {}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    after_cr: bool,
    started: bool,
}

impl SseParser {
    /// Longest line accepted (a snapshot of 10,000 nodes stays far below this).
    pub const MAX_LINE: usize = 64 * 1024 * 1024;

    /// A parser whose last event id starts as `last_id` (the id resumed from).
    #[must_use]
    pub fn resuming(last_id: Option<String>) -> Self {
        Self {
            last_id,
            ..Self::default()
        }
    }

    /// Feeds the next chunk of the stream, appending whatever completes to `out`.
    ///
    /// # Errors
    /// [`LineTooLong`] when a line grows past [`Self::MAX_LINE`]; the stream cannot be read on.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseItem>) -> Result<(), LineTooLong> {
        let mut chunk = chunk;
        if !self.started && !chunk.is_empty() {
            self.started = true;
            chunk = chunk.strip_prefix("\u{feff}".as_bytes()).unwrap_or(chunk);
        }
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.end_line(out);
                    self.after_cr = true;
                }
                _ if self.line.len() >= Self::MAX_LINE => return Err(LineTooLong),
                _ => self.line.push(byte),
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(millis) = value.parse() {
                    out.push(SseItem::Retry(millis));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push(SseItem::Event(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            id: self.last_id.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).unwrap();
        }
        out
    }

    fn event(event: &str, data: &str, id: Option<&str>) -> SseItem {
        SseItem::Event(SseEvent {
            event: event.to_owned(),
            data: data.to_owned(),
            id: id.map(str::to_owned),
        })
    }

    #[test]
    fn server_frames_parse_into_events() {
        let stream = b"retry: 2000\n\nevent: snapshot\nid: 1f-3\ndata: {\"a\":1}\n\nevent: heartbeat\ndata: {}\n\n";
        assert_eq!(
            parse_chunks(&[stream]),
            vec![
                SseItem::Retry(2000),
                event("snapshot", "{\"a\":1}", Some("1f-3")),
                event("heartbeat", "{}", Some("1f-3")),
            ]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let stream: &[u8] =
            b"event: upsert-nodes\r\nid: a-1\r\ndata: x\r\n\r\n: comment\revent: e\rdata: y\rdata:z\r\r";
        let whole = parse_chunks(&[stream]);
        assert_eq!(
            whole,
            vec![
                event("upsert-nodes", "x", Some("a-1")),
                event("e", "y\nz", Some("a-1")),
            ]
        );
        for at in 0..=stream.len() {
            let (a, b) = stream.split_at(at);
            assert_eq!(parse_chunks(&[a, b]), whole, "split at {at}");
        }
    }

    #[test]
    fn events_without_data_are_not_dispatched_but_ids_stick() {
        assert_eq!(
            parse_chunks(&[b"id: 5-1\nevent: x\n\ndata\n\n"]),
            vec![event("message", "", Some("5-1"))]
        );
    }

    #[test]
    fn resuming_parser_reports_the_resumed_id_until_a_new_one() {
        let mut parser = SseParser::resuming(Some("1-9".to_owned()));
        let mut out = Vec::new();
        parser.feed(b"data: a\n\n", &mut out).unwrap();
        assert_eq!(out, vec![event("message", "a", Some("1-9"))]);
    }

    #[test]
    fn byte_order_mark_and_bad_retry_are_ignored() {
        assert_eq!(
            parse_chunks(&[b"\xEF\xBB\xBFretry: 1s\nid: a\0b\ndata: d\n\n"]),
            vec![event("message", "d", None)]
        );
    }
}
