//! A Server-Sent Events parser following the WHATWG event-stream rules (lines split on CRLF,
//! LF or CR; `field: value` with one optional space; comments; dispatch on a blank line; the
//! last event id persists across events), fed with whatever chunks the socket delivers.

use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// `event:` (default `message`).
    pub(crate) event: String,
    /// `data:` lines joined with `\n`.
    pub(crate) data: String,
    /// The last event id at dispatch.
    pub(crate) id: String,
}

/// The incremental parser.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    pending: Vec<u8>,
    last_was_cr: bool,
    event: String,
    data: Option<String>,
    last_id: String,
    /// The last `retry:` value.
    pub(crate) retry: Option<u64>,
}

impl Parser {
    /// Feeds bytes; returns the events they complete.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in bytes {
            if self.last_was_cr && byte == b'\n' {
                self.last_was_cr = false;
                continue;
            }
            self.last_was_cr = byte == b'\r';
            if byte == b'\n' || byte == b'\r' {
                let line =
                    String::from_utf8(std::mem::take(&mut self.pending)).expect("utf-8 stream");
                events.extend(self.line(&line));
            } else {
                self.pending.push(byte);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = self.data.take()?;
            return Some(Event {
                event: if event.is_empty() {
                    "message".to_owned()
                } else {
                    event
                },
                data,
                id: self.last_id.clone(),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = value.to_owned(),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            "retry" => {
                if let Ok(millis) = value.parse() {
                    self.retry = Some(millis);
                }
            }
            _ => {}
        }
        None
    }
}

/// An SSE response read event by event.
pub(crate) struct EventReader {
    response: reqwest::Response,
    parser: Parser,
    ready: std::collections::VecDeque<Event>,
}

/// How long any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

impl EventReader {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            parser: Parser::default(),
            ready: std::collections::VecDeque::new(),
        }
    }

    /// The next event, `None` at the end of the stream; panics after [`WAIT`].
    pub(crate) async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("no event within the wait")
                .expect("stream read failed")?;
            self.ready.extend(self.parser.feed(&chunk));
        }
    }

    /// The next event that is not a heartbeat.
    pub(crate) async fn next_data(&mut self) -> Option<Event> {
        loop {
            let event = self.next().await?;
            if event.event != "heartbeat" {
                return Some(event);
            }
        }
    }

    /// The `retry:` value seen so far.
    pub(crate) fn retry(&self) -> Option<u64> {
        self.parser.retry
    }
}

#[test]
fn parser_follows_the_rules() {
    let mut parser = Parser::default();
    let events =
        parser.feed(b"retry: 3000\n\n: comment\r\nevent: a\r\nid: 1\r\ndata: x\r\ndata:y\r\r");
    assert_eq!(parser.retry, Some(3000));
    assert_eq!(
        events,
        [Event {
            event: "a".into(),
            data: "x\ny".into(),
            id: "1".into()
        }]
    );
    // A line split across chunks, then the id carried over to the next event.
    assert_eq!(parser.feed(b"da"), []);
    assert_eq!(parser.feed(b"ta: z\n"), []);
    assert_eq!(
        parser.feed(b"\n"),
        [Event {
            event: "message".into(),
            data: "z".into(),
            id: "1".into()
        }]
    );
    // An event without data is not dispatched.
    assert_eq!(parser.feed(b"event: e\n\n"), []);
}
