//! The lines `flowctl tail` prints: status changes and connection events, as coloured or plain
//! text for people, or as JSON lines for machines.
//!
//! Text from the server is made printable (control characters become `\u{..}` escapes), so a
//! node's message cannot move the cursor or recolour the terminal.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::change::StatusChange;
use crate::status::StatusClass;
use crate::timestamp::{rfc3339, time_of_day};

/// One thing `tail` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice<'a> {
    /// The first connection succeeded.
    Connected {
        /// The flow.
        flow: &'a str,
    },
    /// A node appeared, disappeared or changed status.
    Change {
        /// What changed.
        change: &'a StatusChange,
        /// The id of the event that carried it.
        event_id: Option<&'a str>,
    },
    /// The stream ended or failed; a reconnection follows.
    Disconnected {
        /// Why.
        error: &'a str,
        /// When the next attempt is made.
        retry_in: Duration,
    },
    /// A later connection succeeded.
    Reconnected {
        /// The Last-Event-ID it resumes after.
        last_event_id: Option<&'a str>,
    },
    /// The server sent a snapshot after the first one (after a reconnection whose id it could not
    /// replay, or because this client fell behind): the state was rebuilt from it.
    Resynced {
        /// The snapshot's event id.
        event_id: Option<&'a str>,
        /// Nodes in the snapshot.
        nodes: usize,
    },
}

/// How notices are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Text without colour.
    Plain,
    /// Text with ANSI colours.
    Color,
    /// One JSON object per line.
    Json,
}

impl Notice<'_> {
    /// The notice as one line (without the line break), stamped with `at` (unix ms).
    pub(crate) fn render(&self, at: u64, style: Style) -> String {
        if style == Style::Json {
            return self.json(at).to_string();
        }
        let paint = |sgr: &str, text: &str| {
            if style == Style::Color {
                format!("\x1b[{sgr}m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        let mut line = paint("2", &time_of_day(at));
        line.push_str("  ");
        match self {
            Self::Connected { flow } => {
                let _ = write!(line, "connected to flow {}", printable(flow));
            }
            Self::Change { change, .. } => {
                let status = |s: &Option<String>, none: &str| match s {
                    Some(s) => paint(StatusClass::of(s).ansi(), &printable(s)),
                    None => paint("2", none),
                };
                let _ = write!(
                    line,
                    "{}  {} -> {}",
                    paint("1", &printable(&change.node)),
                    status(&change.old, "(new)"),
                    status(&change.new, "(gone)")
                );
                match (&change.reason, &change.message) {
                    (Some(reason), Some(message)) => {
                        let _ = write!(line, "  {}: {}", printable(reason), printable(message));
                    }
                    (Some(text), None) | (None, Some(text)) => {
                        let _ = write!(line, "  {}", printable(text));
                    }
                    (None, None) => {}
                }
            }
            Self::Disconnected { error, retry_in } => {
                let text = format!(
                    "disconnected: {}; reconnecting in {:.1}s",
                    printable(error),
                    retry_in.as_secs_f64()
                );
                line.push_str(&paint("33", &text));
            }
            Self::Reconnected { last_event_id } => {
                let text = match last_event_id {
                    Some(id) => format!("reconnected, resuming after {}", printable(id)),
                    None => "reconnected".to_owned(),
                };
                line.push_str(&paint("33", &text));
            }
            Self::Resynced { event_id, nodes } => {
                let text = format!(
                    "resynced from a snapshot at {} ({nodes} nodes)",
                    printable(event_id.unwrap_or("-"))
                );
                line.push_str(&paint("1;35", &text));
            }
        }
        line
    }

    fn json(&self, at: u64) -> Value {
        let at = rfc3339(at);
        match self {
            Self::Connected { flow } => json!({"at": at, "kind": "connected", "flow": flow}),
            Self::Change { change, event_id } => json!({
                "at": at,
                "kind": "change",
                "node": change.node,
                "old": change.old,
                "new": change.new,
                "reason": change.reason,
                "message": change.message,
                "eventId": event_id,
            }),
            Self::Disconnected { error, retry_in } => json!({
                "at": at,
                "kind": "disconnected",
                "error": error,
                "retryMs": u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            }),
            Self::Reconnected { last_event_id } => {
                json!({"at": at, "kind": "reconnected", "lastEventId": last_event_id})
            }
            Self::Resynced { event_id, nodes } => {
                json!({"at": at, "kind": "resynced", "eventId": event_id, "nodes": nodes})
            }
        }
    }
}

/// `text` with control characters escaped.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old: Option<&str>, new: Option<&str>, reason: Option<&str>) -> StatusChange {
        StatusChange {
            node: "fsn1/bp-cilium".into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
            reason: reason.map(Into::into),
            message: None,
        }
    }

    #[test]
    fn plain_lines() {
        let at = 1_767_225_601_234;
        let c = change(Some("pending"), Some("running"), Some("Progressing"));
        let cases = [
            (
                Notice::Change {
                    change: &c,
                    event_id: Some("1f-2"),
                },
                "00:00:01.234Z  fsn1/bp-cilium  pending -> running  Progressing",
            ),
            (
                Notice::Disconnected {
                    error: "stream ended",
                    retry_in: Duration::from_millis(1500),
                },
                "00:00:01.234Z  disconnected: stream ended; reconnecting in 1.5s",
            ),
            (
                Notice::Resynced {
                    event_id: Some("20-0"),
                    nodes: 3,
                },
                "00:00:01.234Z  resynced from a snapshot at 20-0 (3 nodes)",
            ),
        ];
        for (notice, expected) in cases {
            assert_eq!(notice.render(at, Style::Plain), expected);
        }
    }

    #[test]
    fn colour_and_escapes() {
        let mut c = change(None, Some("failed"), Some("Install\x1b[2Jfailed"));
        c.message = Some("line\nbreak".into());
        let line = Notice::Change {
            change: &c,
            event_id: None,
        }
        .render(0, Style::Color);
        assert_eq!(
            line,
            "\x1b[2m00:00:00.000Z\x1b[0m  \x1b[1mfsn1/bp-cilium\x1b[0m  \x1b[2m(new)\x1b[0m -> \x1b[1;31mfailed\x1b[0m  Install\\u{1b}[2Jfailed: line\\u{a}break"
        );
    }

    #[test]
    fn json_lines() {
        let c = change(Some("running"), None, None);
        let line = Notice::Change {
            change: &c,
            event_id: Some("a-9"),
        }
        .render(0, Style::Json);
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({"at":"1970-01-01T00:00:00.000Z","eventId":"a-9","kind":"change","message":null,"new":null,"node":"fsn1/bp-cilium","old":"running","reason":null})
        );
    }
}
