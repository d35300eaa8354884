//! `flowctl`: a terminal client for `openova-flow-server`.
//!
//! - `flowctl tail URL FLOW [--json]` follows a flow and prints one line per status change
//!   (time, node, old -> new status, reason), resuming with `Last-Event-ID` after
//!   disconnections and saying when the server resynchronised it with a snapshot.
//! - `flowctl snapshot URL FLOW --format table|json|dot` prints the current state.
//! - `flowctl critical-path URL FLOW --format table|json` prints what made the flow slow.
//! - `flowctl post URL FLOW FILE|-` validates one message, a JSON array of messages or JSON
//!   lines with `flow-contract` and posts them; invalid input is reported with message number,
//!   line and field path, and nothing is sent.
//!
//! `--token` (or `FLOW_TOKEN`) is sent as a bearer token. Exit codes: 0 success, 1 server or
//! transport error, 2 usage, 3 invalid input, 4 token refused, 5 flow not found.

mod change;
mod cli;
mod critical_path;
mod dot;
mod error;
mod input;
mod notice;
mod state;
mod status;
mod table;
mod tail;
mod timestamp;

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::Parser;
use flow_client::{Client, ErrorChain};
use flow_router::{Fold, Timeline};

use crate::cli::{Cli, ColorChoice, Command, Format, PathFormat};
use crate::error::CtlError;
use crate::input::{InputError, read_messages};
use crate::notice::Style;
use crate::state::FlowState;
use crate::tail::{TailOptions, tail};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.exit_code();
            if code != error::exit::OK {
                report(&err);
            }
            ExitCode::from(code)
        }
    }
}

fn report(err: &CtlError) {
    if let CtlError::Input(InputError::Invalid(rejected)) = err {
        for rejected in rejected {
            eprintln!("flowctl: invalid {rejected}");
        }
        eprintln!(
            "flowctl: {} invalid message(s); nothing was sent",
            rejected.len()
        );
    } else {
        eprintln!("flowctl: {}", ErrorChain(err));
    }
}

/// A client of the server at `url`; `token` is sent on every call (a read token for tail and
/// snapshot, an ingest token for post).
fn client(url: &str, token: Option<&str>) -> Result<Client, CtlError> {
    let mut builder = Client::builder(url)
        .user_agent(concat!("flowctl/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIMEOUT);
    if let Some(token) = token {
        builder = builder.token(token);
    }
    Ok(builder.build()?)
}

/// Time allowed for a whole snapshot or post exchange.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn run(cli: Cli) -> Result<(), CtlError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CtlError::Usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        match cli.command {
            Command::Tail {
                url,
                flow,
                json,
                color,
                idle_timeout,
            } => {
                let client = client(&url, cli.token.as_deref())?;
                client.flow_url(&flow, "")?;
                let stdout = std::io::stdout();
                let style = if json {
                    Style::Json
                } else if use_color(color, stdout.is_terminal()) {
                    Style::Color
                } else {
                    Style::Plain
                };
                let options = TailOptions {
                    style,
                    idle_timeout,
                };
                tail(&client, &flow, options, stdout.lock()).await
            }
            Command::Snapshot { url, flow, format } => {
                let client = client(&url, cli.token.as_deref())?;
                let snapshot = client.snapshot(&flow).await?;
                let message = snapshot.message;
                let text = match format {
                    Format::Json => {
                        let mut text = serde_json::to_string_pretty(&message)
                            .map_err(|e| CtlError::Output(e.into()))?;
                        text.push('\n');
                        text
                    }
                    Format::Table | Format::Dot => {
                        let mut state = FlowState::default();
                        state.apply(&flow, message);
                        if format == Format::Dot {
                            dot::render(&flow, &state)
                        } else {
                            table::render(&flow, &state, &snapshot.head, timestamp::now_ms())
                        }
                    }
                };
                write_stdout(&text)
            }
            Command::CriticalPath { url, flow, format } => {
                let client = client(&url, cli.token.as_deref())?;
                let snapshot = client.snapshot(&flow).await?;
                let mut fold = Fold::default();
                fold.apply(&flow, snapshot.message);
                let timeline = Timeline::analyse(
                    fold.node_map().values(),
                    fold.relationship_map().values(),
                    timestamp::now_ms(),
                )?;
                let text = match format {
                    PathFormat::Json => {
                        critical_path::json(&timeline).map_err(|e| CtlError::Output(e.into()))?
                    }
                    PathFormat::Table => critical_path::table(&flow, &timeline),
                };
                write_stdout(&text)
            }
            Command::Head { url, flow } => {
                let client = client(&url, cli.token.as_deref())?;
                let head = client.head(&flow).await?;
                write_stdout(&format!("{flow} epoch {} seq {}\n", head.epoch, head.seq))
            }
            Command::Post { url, flow, file } => {
                let client = client(&url, cli.token.as_deref())?;
                client.flow_url(&flow, "")?;
                let bytes = read_input(&file)?;
                let messages = read_messages(&bytes, &flow)?;
                let mut last = None;
                for message in &messages {
                    last = Some(client.post(&flow, message).await?);
                }
                if let Some(last) = last {
                    write_stdout(&format!(
                        "posted {} message(s) to {flow}; last seq {} epoch {}\n",
                        messages.len(),
                        last.seq,
                        last.epoch
                    ))?;
                }
                Ok(())
            }
        }
    })
}

fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

fn read_input(file: &str) -> Result<Vec<u8>, CtlError> {
    let mut bytes = Vec::new();
    let read = if file == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(file).map(|b| bytes = b)
    };
    read.map_err(|source| CtlError::Read {
        path: file.to_owned(),
        source,
    })?;
    Ok(bytes)
}

fn write_stdout(text: &str) -> Result<(), CtlError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(CtlError::Output)
}
