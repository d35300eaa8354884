//! Events of an SSE response for the tests, parsed by `flow-client`'s parser (the one SSE
//! parser of the workspace besides `flow-load`'s scanner).

use std::time::Duration;

use flow_client::sse::{SseItem, SseParser};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// `event:` (default `message`).
    pub(crate) event: String,
    /// `data:` lines joined with `\n`.
    pub(crate) data: String,
    /// The last event id at dispatch (empty when none was sent yet).
    pub(crate) id: String,
}

/// The incremental parser, fed with whatever chunks the socket delivers.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    sse: SseParser,
    items: Vec<SseItem>,
    /// The last `retry:` value.
    pub(crate) retry: Option<u64>,
}

impl Parser {
    /// Feeds bytes; returns the events they complete.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.sse
            .feed(bytes, &mut self.items)
            .expect("no line longer than the parser's limit");
        let mut events = Vec::new();
        for item in self.items.drain(..) {
            match item {
                SseItem::Retry(millis) => self.retry = Some(millis),
                SseItem::Event(event) => events.push(Event {
                    event: event.event,
                    data: event.data,
                    id: event.id.unwrap_or_default(),
                }),
            }
        }
        events
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
