//! `flowctl tail`: follow a flow's stream and report every status change, reconnecting with
//! `Last-Event-ID` after a disconnection.
//!
//! The first connection must succeed (a wrong URL fails fast); after that, every failure other
//! than a refused token is retried, forever, with the server's `retry:` delay doubled after each
//! consecutive failure up to [`MAX_BACKOFF`]. A connection that delivers nothing, not even a
//! heartbeat, for the idle timeout is treated as dead.

use std::io::Write;
use std::time::Duration;

use flow_contract::{FlowMessage, MessageType, decode};

use crate::change::diff;
use crate::client::Client;
use crate::error::CtlError;
use crate::notice::{Notice, Style};
use crate::sse::{SseEvent, SseItem, SseParser};
use crate::state::FlowState;
use crate::timestamp::now_ms;

/// Longest wait between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Wait before reconnecting until the server says otherwise with `retry:`.
const DEFAULT_RETRY: Duration = Duration::from_secs(1);

/// How `tail` runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TailOptions {
    /// How lines are written.
    pub(crate) style: Style,
    /// Longest silence tolerated on an open stream.
    pub(crate) idle_timeout: Duration,
}

/// The follower's state across connections.
struct Follower<'a, W> {
    flow: &'a str,
    options: TailOptions,
    out: W,
    state: FlowState,
    last_id: Option<String>,
    retry: Duration,
    snapshots_seen: u64,
}

/// How one connection ended.
enum Ended {
    /// The server closed the stream (a DELETE, a shutdown).
    Closed,
    /// The connection failed after it was established.
    Failed(String),
}

/// Follows `flow` until the process is stopped or a fatal error happens.
///
/// # Errors
/// A failed first connection, a refused token, an invalid message from the server, or a
/// failure to write the output.
pub(crate) async fn tail<W: Write>(
    client: &Client,
    flow: &str,
    options: TailOptions,
    out: W,
) -> Result<(), CtlError> {
    let mut follower = Follower {
        flow,
        options,
        out,
        state: FlowState::default(),
        last_id: None,
        retry: DEFAULT_RETRY,
        snapshots_seen: 0,
    };
    let mut failures: u32 = 0;
    let mut connected_once = false;
    loop {
        let reason = match client.stream(flow, follower.last_id.as_deref()).await {
            Ok(response) => {
                failures = 0;
                if connected_once {
                    let last_event_id = follower.last_id.clone();
                    follower.emit(&Notice::Reconnected {
                        last_event_id: last_event_id.as_deref(),
                    })?;
                } else {
                    follower.emit(&Notice::Connected { flow })?;
                }
                connected_once = true;
                match follower.follow(response).await? {
                    Ended::Closed => "stream ended by the server".to_owned(),
                    Ended::Failed(why) => {
                        failures = 1;
                        why
                    }
                }
            }
            Err(err) if err.is_fatal() || !connected_once => return Err(err),
            Err(err) => {
                failures = failures.saturating_add(1);
                error_chain(&err)
            }
        };
        let delay = backoff(follower.retry, failures);
        follower.emit(&Notice::Disconnected {
            error: &reason,
            retry_in: delay,
        })?;
        tokio::time::sleep(delay).await;
    }
}

/// `retry` doubled for each consecutive failure after the first, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(retry: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    retry.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// An error with its causes, joined by `: `.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl<W: Write> Follower<'_, W> {
    fn emit(&mut self, notice: &Notice<'_>) -> Result<(), CtlError> {
        let line = notice.render(now_ms(), self.options.style);
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(CtlError::Output)
    }

    /// Reads one connection's events until it ends.
    async fn follow(&mut self, mut response: reqwest::Response) -> Result<Ended, CtlError> {
        let mut parser = SseParser::resuming(self.last_id.clone());
        let mut items = Vec::new();
        loop {
            let chunk =
                match tokio::time::timeout(self.options.idle_timeout, response.chunk()).await {
                    Err(_) => {
                        return Ok(Ended::Failed(format!(
                            "nothing received for {}s",
                            self.options.idle_timeout.as_secs()
                        )));
                    }
                    Ok(Err(err)) => return Ok(Ended::Failed(error_chain(&err))),
                    Ok(Ok(None)) => return Ok(Ended::Closed),
                    Ok(Ok(Some(chunk))) => chunk,
                };
            if let Err(err) = parser.feed(&chunk, &mut items) {
                return Ok(Ended::Failed(err.to_string()));
            }
            for item in items.drain(..) {
                match item {
                    SseItem::Retry(millis) => self.retry = Duration::from_millis(millis),
                    SseItem::Event(event) => self.handle(event)?,
                }
            }
        }
    }

    fn handle(&mut self, event: SseEvent) -> Result<(), CtlError> {
        if MessageType::from_wire(&event.event).is_none() {
            // Heartbeats and event types this version does not know carry no state.
            return Ok(());
        }
        let message = decode(event.data.as_bytes(), self.flow).map_err(|e| CtlError::Protocol {
            what: format!("stream of flow {}", self.flow),
            detail: format!("event {:?} is not a valid FlowMessage: {e}", event.id),
        })?;
        let before = self.state.statuses();
        let is_snapshot = matches!(message, FlowMessage::Snapshot { .. });
        self.state.apply(self.flow, message);
        self.last_id.clone_from(&event.id);
        if is_snapshot {
            self.snapshots_seen += 1;
            if self.snapshots_seen > 1 {
                self.emit(&Notice::Resynced {
                    event_id: event.id.as_deref(),
                    nodes: self.state.nodes().len(),
                })?;
            }
        }
        for change in diff(&before, &self.state) {
            self.emit(&Notice::Change {
                change: &change,
                event_id: event.id.as_deref(),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_server_retry_and_is_capped() {
        let retry = Duration::from_millis(500);
        assert_eq!(backoff(retry, 0), retry);
        assert_eq!(backoff(retry, 1), retry);
        assert_eq!(backoff(retry, 3), Duration::from_secs(2));
        assert_eq!(backoff(retry, 40), MAX_BACKOFF);
    }
}
