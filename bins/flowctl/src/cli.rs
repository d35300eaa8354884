//! The command line: subcommands, flags and their validation.

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit codes, shown at the end of `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  server or transport error (unreachable, 5xx, rejected request, unexpected answer), or a
     flow critical-path cannot analyse (its finish-to-start relationships form a cycle)
  2  usage error (bad arguments, URL or flow id)
  3  invalid input: a message breaks the FlowMessage contract (nothing was sent)
  4  the server refused the token (401 or 403)
  5  the flow does not exist on the server (404)";

/// Watch and feed OpenovaFlow flows from a terminal.
#[derive(Debug, Parser)]
#[command(name = "flowctl", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// Bearer token sent to the server (a read token for tail, snapshot,
    /// critical-path and head, an ingest
    /// token for post).
    #[arg(long, env = "FLOW_TOKEN", global = true, hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Follow a flow and print one line per status change: time (UTC), node, old -> new
    /// status, reason. Reconnects by itself, resuming with Last-Event-ID, and says when the
    /// server resynchronised it with a fresh snapshot. Runs until interrupted.
    Tail {
        /// Server base URL, such as http://127.0.0.1:8080.
        url: String,
        /// Flow id.
        flow: String,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// When to colour text output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Reconnect when nothing, not even a heartbeat, arrives for this long (200ms, 15s, 5m).
        #[arg(long, default_value = "45s", value_parser = parse_duration)]
        idle_timeout: Duration,
    },
    /// Print the flow's current state.
    Snapshot {
        /// Server base URL.
        url: String,
        /// Flow id.
        flow: String,
        /// A table grouped by region with counts, the snapshot message as JSON, or Graphviz DOT.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print what made the flow slow: its total duration and the critical path, the chain of
    /// finish-to-start dependencies that set its end (for a running flow, the chain to the
    /// node running longest), with each node's start, end and wait on its dependencies.
    CriticalPath {
        /// Server base URL.
        url: String,
        /// Flow id.
        flow: String,
        /// A table, or JSON: `{"durationMs": N, "path": [{"id", "startedAt", "endedAt",
        /// "waitMs"}, ...]}` in path order (unix milliseconds; `endedAt` null while running).
        #[arg(long, value_enum, default_value_t = PathFormat::Table)]
        format: PathFormat,
    },
    /// Print the flow's position (epoch and seq) without its state: a cheap check of whether
    /// the server holds the flow and whether it changed (`HEAD .../snapshot`). Prints
    /// `<flow> epoch <epoch> seq <seq>`; exits 5 when the server holds no state for the flow.
    Head {
        /// Server base URL.
        url: String,
        /// Flow id.
        flow: String,
    },
    /// Validate messages locally, then post them in order, one request each.
    ///
    /// FILE (or - for standard input) holds one FlowMessage, a JSON array of them, or a
    /// sequence of them (JSON lines). Every message is checked against the contract first;
    /// if any is invalid, each problem is reported with its message number, line and field
    /// path, and nothing is sent. Posting stops at the first message the server rejects.
    Post {
        /// Server base URL.
        url: String,
        /// Flow id.
        flow: String,
        /// Input file, or - for standard input.
        file: String,
    },
}

/// Output formats of `snapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Text grouped by region.
    Table,
    /// The snapshot FlowMessage, pretty-printed.
    Json,
    /// Graphviz DOT.
    Dot,
}

/// Output formats of `critical-path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PathFormat {
    /// One row per node on the path.
    Table,
    /// The total duration and the path as JSON.
    Json,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// When standard output is a terminal and NO_COLOR is unset.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Parses `200ms`, `15s`, `5m` or `1h`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m or h)"))?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let millis = match unit {
        "ms" => Some(value),
        "s" => value.checked_mul(1000),
        "m" => value.checked_mul(60_000),
        "h" => value.checked_mul(3_600_000),
        _ => return Err(format!("{text:?} has an unknown unit; use ms, s, m or h")),
    };
    match millis {
        Some(0) => Err(format!("{text:?} must be more than zero")),
        Some(ms) => Ok(Duration::from_millis(ms)),
        None => Err(format!("{text:?} is too long")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "15", "s", "1.5s", "0s", "-1s", "3d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
