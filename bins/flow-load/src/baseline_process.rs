//! The batched baseline writer in a child process of its own (`run --baseline-process`).
//!
//! In-process, the baseline holds both ends of every subscriber's connection, so 10,000
//! subscribers need 20,000 descriptors in one process: more than a usual hard open-file limit.
//! As a child, each process holds one end, as with a real server.
//!
//! The parent runs `flow-load baseline-writer` (hidden) and talks to it in lines:
//!
//! - child: `listening <addr>` once its listener is bound;
//! - parent: `produce <size> <rate> <window_ms>`; child, when the window is over:
//!   `produced <seq>`, the seq of its last frame;
//! - parent closes the child's stdin once its subscribers are done; child: one
//!   `error <count> <kind>` line per kind of error its connections met, then it exits.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::Instant;

use crate::baseline::{Baseline, Shape};
use crate::board::Board;

/// The hidden subcommand the child runs.
pub(crate) const SUBCOMMAND: &str = "baseline-writer";

/// The parent's handle on a running child writer.
#[derive(Debug)]
pub(crate) struct BaselineProcess {
    /// Where the child listens.
    pub(crate) addr: SocketAddr,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl BaselineProcess {
    /// Starts this executable as a child writer and waits for its address.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating flow-load's own executable")?;
        let mut child = Command::new(&exe)
            .arg(SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} {SUBCOMMAND}", exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("the baseline writer's stdin and stdout were not piped");
        };
        let mut process = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
        };
        let line = process.line().await?;
        process.addr = line
            .strip_prefix("listening ")
            .and_then(|addr| addr.parse().ok())
            .with_context(|| format!("the baseline writer said {line:?}, not `listening ADDR`"))?;
        Ok(process)
    }

    /// Has the child produce frames until `deadline` (as [`Baseline::produce`]) and records
    /// its last seq on `board`.
    pub(crate) async fn produce(
        &mut self,
        board: &Board,
        size: usize,
        rate: u64,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        let window = deadline.saturating_duration_since(Instant::now());
        let order = format!("produce {size} {rate} {}\n", window.as_millis());
        let stdin = self
            .stdin
            .as_mut()
            .context("the baseline writer was finished")?;
        stdin
            .write_all(order.as_bytes())
            .await
            .context("asking the baseline writer to produce")?;
        let line = self.line().await?;
        let seq = line
            .strip_prefix("produced ")
            .and_then(|seq| seq.parse().ok())
            .with_context(|| format!("the baseline writer said {line:?}, not `produced SEQ`"))?;
        board.saw_seq(0, seq);
        Ok(())
    }

    /// Ends the child (its subscribers are done) and adds the errors it saw to `board`.
    pub(crate) async fn finish(mut self, board: &Board) -> anyhow::Result<()> {
        drop(self.stdin.take());
        while let Some(line) = self.lines.next_line().await? {
            let (count, kind) = line
                .strip_prefix("error ")
                .and_then(|rest| rest.split_once(' '))
                .and_then(|(count, kind)| Some((count.parse::<u64>().ok()?, kind)))
                .with_context(|| format!("the baseline writer said {line:?}, not an error"))?;
            for _ in 0..count {
                board.error(kind);
            }
        }
        let status = self.child.wait().await?;
        if !status.success() {
            bail!("the baseline writer exited with {status}");
        }
        Ok(())
    }

    async fn line(&mut self) -> anyhow::Result<String> {
        self.lines
            .next_line()
            .await
            .context("reading the baseline writer")?
            .context("the baseline writer exited early")
    }
}

/// The child's side: a batched [`Baseline`] driven by the parent's lines on stdin.
pub(crate) async fn serve_for_parent() -> anyhow::Result<()> {
    let board = Arc::new(Board::new(1));
    let baseline = Baseline::start(Arc::clone(&board), Shape::Batched)
        .await
        .context("binding the baseline listener")?;
    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("listening {}\n", baseline.addr).as_bytes())
        .await?;
    stdout.flush().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let order = lines.next_line().await?.unwrap_or_default();
    let (size, rate, window_ms) = parse_order(&order)?;
    let deadline = Instant::now() + Duration::from_millis(window_ms);
    baseline.produce(&board, size, rate, deadline).await;
    stdout
        .write_all(format!("produced {}\n", board.max_seq(0)).as_bytes())
        .await?;
    stdout.flush().await?;
    // Connections flush what they hold until the parent's subscribers are done.
    while lines.next_line().await?.is_some() {}
    for (kind, count) in board.errors() {
        stdout
            .write_all(format!("error {count} {kind}\n").as_bytes())
            .await?;
    }
    stdout.flush().await?;
    Ok(())
}

/// `produce <size> <rate> <window_ms>`.
fn parse_order(line: &str) -> anyhow::Result<(usize, u64, u64)> {
    let mut words = line.split(' ');
    let parsed = (words.next() == Some("produce"))
        .then(|| {
            let size = words.next()?.parse().ok()?;
            let rate = words.next()?.parse().ok()?;
            let window = words.next()?.parse().ok()?;
            words.next().is_none().then_some((size, rate, window))
        })
        .flatten();
    parsed.with_context(|| format!("expected `produce SIZE RATE WINDOW_MS`, got {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::parse_order;

    #[test]
    fn orders_are_three_numbers_after_produce() {
        assert_eq!(parse_order("produce 256 0 5000").unwrap(), (256, 0, 5000));
        for bad in [
            "",
            "produce 256 0",
            "produce 256 0 5000 1",
            "make 1 2 3",
            "produce a 0 1",
        ] {
            assert!(parse_order(bad).is_err(), "{bad:?}");
        }
    }
}
