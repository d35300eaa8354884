//! `flowctl tail`: follow a flow's stream and report every status change, reconnecting with
//! `Last-Event-ID` after a disconnection.
//!
//! The follow is [`flow_client::Follow`]: the first connection must succeed (a wrong URL fails
//! fast); after that, every failure other than a refused token is retried, forever, with the
//! server's `retry:` delay doubled after each consecutive failure up to [`MAX_BACKOFF`]. A
//! connection that delivers nothing, not even a heartbeat, for the idle timeout is treated as
//! dead. This module only prints what the follow reports.

use std::io::Write;
use std::time::Duration;

use flow_client::{Client, ErrorChain, FlowEvent, FlowMessage, FollowOptions};
use flow_router::EventId;
use futures::StreamExt;

use crate::change::diff;
use crate::error::CtlError;
use crate::notice::{Notice, Style};
use crate::state::FlowState;
use crate::timestamp::now_ms;

/// Longest wait between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How `tail` runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TailOptions {
    /// How lines are written.
    pub(crate) style: Style,
    /// Longest silence tolerated on an open stream.
    pub(crate) idle_timeout: Duration,
}

/// What `tail` prints and the state it diffs against.
struct Printer<'a, W> {
    flow: &'a str,
    style: Style,
    out: W,
    state: FlowState,
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
    let follow_options = FollowOptions::default()
        .idle_timeout(options.idle_timeout)
        .max_delay(MAX_BACKOFF);
    let mut follow = client.follow_with(flow, None, follow_options);
    let mut printer = Printer {
        flow,
        style: options.style,
        out,
        state: FlowState::default(),
    };
    while let Some(event) = follow.next().await {
        match event? {
            FlowEvent::Connected { .. } => printer.emit(&Notice::Connected { flow })?,
            FlowEvent::Reconnected { resuming_after } => {
                let last_event_id = resuming_after.map(|id| id.to_string());
                printer.emit(&Notice::Reconnected {
                    last_event_id: last_event_id.as_deref(),
                })?;
            }
            FlowEvent::Disconnected { reason, retry_in } => {
                printer.emit(&Notice::Disconnected {
                    error: &ErrorChain(&reason).to_string(),
                    retry_in,
                })?
            }
            FlowEvent::Snapshot { id, message } | FlowEvent::Message { id, message } => {
                printer.apply(id, message, false)?;
            }
            FlowEvent::Resync { id, message, .. } => printer.apply(id, message, true)?,
            // Kinds of event a newer flow-client may add carry nothing to print.
            _ => {}
        }
    }
    Ok(())
}

impl<W: Write> Printer<'_, W> {
    fn emit(&mut self, notice: &Notice<'_>) -> Result<(), CtlError> {
        let line = notice.render(now_ms(), self.style);
        writeln!(self.out, "{line}")
            .and_then(|()| self.out.flush())
            .map_err(CtlError::Output)
    }

    /// Folds `message` in and prints what changed; a resync is announced first.
    fn apply(&mut self, id: EventId, message: FlowMessage, resync: bool) -> Result<(), CtlError> {
        let before = self.state.statuses();
        self.state.apply(self.flow, message);
        let event_id = id.to_string();
        if resync {
            self.emit(&Notice::Resynced {
                event_id: Some(&event_id),
                nodes: self.state.nodes().len(),
            })?;
        }
        for change in diff(&before, &self.state) {
            self.emit(&Notice::Change {
                change: &change,
                event_id: Some(&event_id),
            })?;
        }
        Ok(())
    }
}
